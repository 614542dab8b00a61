package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeResolver answers from a table and records every name it was asked about.
type fakeResolver struct {
	mu    sync.Mutex
	names map[string][]netip.Addr
	asked []string
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !strings.HasSuffix(host, ".") {
		return nil, &net.DNSError{Err: "the gateway must look up rooted names", Name: host}
	}
	host = strings.TrimSuffix(host, ".")
	r.asked = append(r.asked, host)
	if a, ok := r.names[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) wasAsked(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.asked {
		if a == host {
			return true
		}
	}
	return false
}

// remoteConn reports the address the gateway asked for (a fake public address routed to
// a local test server).
type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }
func (c remoteConn) CloseWrite() error    { return c.Conn.(*net.TCPConn).CloseWrite() }

type harness struct {
	t        *testing.T
	g        *Gateway
	dir      string
	sock     string
	resolver *fakeResolver
	cancel   context.CancelFunc
	done     chan error
	// routes maps fake public addresses to local listeners.
	routes map[string]string
	gen    int64
}

const publicAddr = "198.51.100.7"

// hostsFile names one host the way /etc/hosts does (a name the DNS does not know).
func (h *harness) hostsFile() string {
	path := filepath.Join(h.dir, "hosts")
	os.WriteFile(path, []byte("# comment\n198.51.100.9 Files-Only.example # trailing\n127.0.0.1 localhost\n"), 0o644)
	return path
}

func newHarness(t *testing.T, entries ...string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, sock: filepath.Join(dir, "gw.sock"), routes: map[string]string{},
		resolver: &fakeResolver{names: map[string][]netip.Addr{}}}
	h.setPolicy(entries...)
	g, err := New(Config{
		Session: "test", Socket: h.sock, StateDir: dir, Resolver: h.resolver, HostsFile: h.hostsFile(),
		Log:      t.Logf,
		OwnAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32")}, nil },
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			if local, ok := h.routes[address]; ok {
				c, err := (&net.Dialer{}).DialContext(ctx, network, local)
				if err != nil {
					return nil, err
				}
				ra, _ := net.ResolveTCPAddr("tcp", address)
				return remoteConn{c, ra}, nil
			}
			return (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, address)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.g = g
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- g.Serve(ctx) }()
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, ReadyFile)); return err == nil })
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	return h
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// setPolicy writes a new policy the way the host does (atomically) and waits until the
// gateway applied it.
func (h *harness) setPolicy(entries ...string) {
	h.t.Helper()
	h.gen++
	if err := writeJSON(h.dir, PolicyFile, PolicyDoc{Version: 1, Generation: h.gen, Entries: entries}); err != nil {
		h.t.Fatal(err)
	}
	if h.g == nil {
		return
	}
	waitFor(h.t, func() bool {
		data, err := os.ReadFile(filepath.Join(h.dir, AppliedFile))
		var a struct{ Generation int64 }
		return err == nil && json.Unmarshal(data, &a) == nil && a.Generation == h.gen
	})
}

func (h *harness) dial() net.Conn {
	h.t.Helper()
	c, err := net.Dial("unix", h.sock)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// do sends raw request text and reads one response.
func (h *harness) do(raw string) (*http.Response, string, net.Conn, *bufio.Reader) {
	h.t.Helper()
	c := h.dial()
	if _, err := io.WriteString(c, raw); err != nil {
		h.t.Fatal(err)
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		h.t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	if strings.HasPrefix(raw, "CONNECT") && resp.StatusCode == 200 {
		return resp, "", c, br
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body), c, br
}

func (h *harness) records() []Record {
	h.t.Helper()
	var out []Record
	for _, name := range []string{AuditOld, AuditFile} {
		data, err := os.ReadFile(filepath.Join(h.dir, name))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var r Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				h.t.Fatalf("audit line %q: %v", line, err)
			}
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) lastRecord() Record {
	h.t.Helper()
	var r []Record
	waitFor(h.t, func() bool { r = h.records(); return len(r) > 0 })
	return r[len(r)-1]
}

// echoServer echoes every connection; it returns its address.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// httpServer answers with the Host header and path it saw.
func httpServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-Proxy-Auth", r.Header.Get("Proxy-Authorization"))
		fmt.Fprintf(w, "host=%s path=%s body=%s", r.Host, r.URL.RequestURI(), body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestConnectAllowedByIPEntry(t *testing.T) {
	echo := echoServer(t)
	h := newHarness(t, echo) // 127.0.0.1:<port>: an IP entry inside loopback opens exactly that
	resp, _, c, br := h.do("CONNECT " + echo + " HTTP/1.1\r\nHost: " + echo + "\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	c.Close()
	var r Record
	waitFor(t, func() bool { rs := h.records(); return len(rs) == 1 && rs[0].BytesIn == 4 })
	r = h.lastRecord()
	if r.Decision != "allow" || r.Rule != echo || r.Kind != "connect" || r.BytesOut != 4 || r.Address != "127.0.0.1" || r.Session != "test" {
		t.Fatalf("audit record %+v", r)
	}
}

func TestDeniedNameIsNeverResolved(t *testing.T) {
	h := newHarness(t, "deb.debian.org")
	resp, body, _, _ := h.do("CONNECT registry.npmjs.org:443 HTTP/1.1\r\nHost: registry.npmjs.org:443\r\n\r\n")
	if resp.StatusCode != 403 || !strings.Contains(body, "default-deny") || !strings.Contains(body, "registry.npmjs.org:443") ||
		resp.Header.Get("X-Axo-Egress-Rule") != "default-deny" {
		t.Fatalf("status %d, body %q, headers %v", resp.StatusCode, body, resp.Header)
	}
	if h.resolver.wasAsked("registry.npmjs.org") {
		t.Fatal("a denied name was looked up")
	}
	resp, body, _, _ = h.do("GET http://registry.npmjs.org/ HTTP/1.1\r\nHost: registry.npmjs.org\r\n\r\n")
	if resp.StatusCode != 403 || !strings.Contains(body, "default-deny") {
		t.Fatalf("plain: %d %q", resp.StatusCode, body)
	}
	r := h.lastRecord()
	if r.Decision != "deny" || r.Rule != "default-deny" || r.Address != "" || r.Host != "registry.npmjs.org" || r.Port != 80 {
		t.Fatalf("audit %+v", r)
	}
}

func TestWildcardDoesNotMatchLookAlike(t *testing.T) {
	h := newHarness(t, "*.example.com")
	resp, body, _, _ := h.do("CONNECT evil-example.com:443 HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 403 || h.resolver.wasAsked("evil-example.com") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

func TestPlainHTTPDecidesOnTheURINotTheHostHeader(t *testing.T) {
	origin := httpServer(t)
	h := newHarness(t, "deb.debian.org")
	h.resolver.names["deb.debian.org"] = []netip.Addr{netip.MustParseAddr(publicAddr)}
	h.routes[publicAddr+":80"] = origin
	// Allowed: the origin sees the URI's host, never the client's Host header or its proxy credentials.
	resp, body, _, _ := h.do("GET http://deb.debian.org/debian/dists?x=1 HTTP/1.1\r\nHost: evil.example\r\nProxy-Authorization: secret\r\n\r\n")
	if resp.StatusCode != 200 || body != "host=deb.debian.org path=/debian/dists?x=1 body=" || resp.Header.Get("X-Seen-Proxy-Auth") != "" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	// The URI names the loopback server; the Host header names the archive: refused.
	_, port, _ := net.SplitHostPort(origin)
	resp, body, _, _ = h.do("GET http://127.0.0.1:" + port + "/ HTTP/1.1\r\nHost: deb.debian.org\r\n\r\n")
	if resp.StatusCode != 403 || !strings.Contains(body, "loopback") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

func TestEverySpellingOfLoopbackIsRefused(t *testing.T) {
	origin := httpServer(t)
	_, port, _ := net.SplitHostPort(origin)
	h := newHarness(t, "deb.debian.org", "localhost:*")
	h.resolver.names["localhost"] = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
	for _, host := range []string{"127.0.0.1", "2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0x7f.1",
		"[::ffff:127.0.0.1]", "[::1]", "0.0.0.0", "0", "localhost", "127.0.0.1.", "[::]", "192.0.2.2", "169.254.169.254"} {
		resp, body, _, _ := h.do("CONNECT " + host + ":" + port + " HTTP/1.1\r\n\r\n")
		if resp.StatusCode != 403 {
			t.Errorf("CONNECT %s: %d %q", host, resp.StatusCode, body)
		}
		resp, body, _, _ = h.do("GET http://" + host + ":" + port + "/ HTTP/1.1\r\nHost: deb.debian.org\r\n\r\n")
		if resp.StatusCode != 403 {
			t.Errorf("GET http://%s: %d %q", host, resp.StatusCode, body)
		}
	}
}

func TestNameResolvingToLoopbackIsRefused(t *testing.T) {
	echo := echoServer(t)
	_, port, _ := net.SplitHostPort(echo)
	h := newHarness(t, "rebind.example.com:*")
	h.resolver.names["rebind.example.com"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	resp, body, _, _ := h.do("CONNECT rebind.example.com:" + port + " HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 403 || !strings.Contains(body, "resolved to 127.0.0.1") || resp.Header.Get("X-Axo-Egress-Rule") != "loopback" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if r := h.lastRecord(); r.Rule != "loopback" || r.Address != "127.0.0.1" {
		t.Fatalf("audit %+v", r)
	}
}

func TestMalformedRequests(t *testing.T) {
	h := newHarness(t, "deb.debian.org")
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: deb.debian.org\r\n\r\n",    // origin-form: not a proxy request
		"GET https://deb.debian.org/ HTTP/1.1\r\n\r\n",      // https must be CONNECT
		"GET http://user@deb.debian.org/ HTTP/1.1\r\n\r\n",  // userinfo
		"CONNECT deb.debian.org HTTP/1.1\r\n\r\n",           // no port
		"CONNECT [::1 HTTP/1.1\r\n\r\n",                     // broken
		"GET http://deb.debian.org:99999/ HTTP/1.1\r\n\r\n", // port
		"GARBAGE\r\n\r\n", // not HTTP
		"GET http://exa mple.com/ HTTP/1.1\r\n\r\n",                // space
		"GET http://deb.debian.org\\@127.0.0.1/ HTTP/1.1\r\n\r\n",  // backslash trick
		"GET http://127.0.0.1#@deb.debian.org/ HTTP/1.1\r\n\r\n",   // fragment trick
		"GET http://deb.debian.org%2f@127.0.0.1/ HTTP/1.1\r\n\r\n", // encoded slash
		"GET http://[::1]@deb.debian.org/ HTTP/1.1\r\n\r\n",        // userinfo again
	} {
		resp, body, _, _ := h.do(raw)
		if resp.StatusCode != 400 && resp.StatusCode != 403 {
			t.Errorf("%q: %d %q", raw, resp.StatusCode, body)
		}
	}
	// A head past the limit is refused, not buffered.
	c := h.dial()
	go io.WriteString(c, "GET http://deb.debian.org/ HTTP/1.1\r\nX: "+strings.Repeat("a", 200<<10)+"\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("oversized head: %v %v", resp, err)
	}
}

func TestKeepAliveAndChunked(t *testing.T) {
	origin := httpServer(t)
	h := newHarness(t, "a.example.com", "b.example.com")
	h.resolver.names["a.example.com"] = []netip.Addr{netip.MustParseAddr(publicAddr)}
	h.resolver.names["b.example.com"] = []netip.Addr{netip.MustParseAddr("198.51.100.8")}
	h.routes[publicAddr+":80"] = origin
	h.routes["198.51.100.8:80"] = origin
	c := h.dial()
	br := bufio.NewReader(c)
	for i, raw := range []string{
		"GET http://a.example.com/1 HTTP/1.1\r\n\r\n",
		"POST http://a.example.com/2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"PUT http://b.example.com/3 HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
	} {
		io.WriteString(c, raw)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.StatusCode == 100 {
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
		}
		body, _ := io.ReadAll(resp.Body)
		want := []string{"host=a.example.com path=/1 body=", "host=a.example.com path=/2 body=abc", "host=b.example.com path=/3 body=hi"}[i]
		if string(body) != want {
			t.Fatalf("request %d: %q, want %q", i, body, want)
		}
	}
	c.Close()
	waitFor(t, func() bool { return len(h.records()) == 2 })
	rs := h.records()
	if rs[0].Host != "a.example.com" || rs[0].Requests != 2 || rs[1].Host != "b.example.com" || rs[1].Requests != 1 ||
		rs[0].BytesIn == 0 || rs[0].BytesOut == 0 {
		t.Fatalf("records %+v", rs)
	}
}

func TestLiveChangeClosesTunnels(t *testing.T) {
	echo := echoServer(t)
	echo2 := echoServer(t)
	h := newHarness(t)
	resp, _, _, _ := h.do("CONNECT " + echo + " HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 403 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	h.setPolicy(echo, echo2)
	resp, _, c, br := h.do("CONNECT " + echo + " HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("after allow: %d", resp.StatusCode)
	}
	resp2, _, c2, br2 := h.do("CONNECT " + echo2 + " HTTP/1.1\r\n\r\n")
	if resp2.StatusCode != 200 {
		t.Fatalf("second: %d", resp2.StatusCode)
	}
	io.WriteString(c, "x")
	if b, err := br.ReadByte(); err != nil || b != 'x' {
		t.Fatal("tunnel does not work")
	}
	// Remove the first entry: its tunnel is closed, the other stays.
	h.setPolicy(echo2)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the tunnel stayed open")
	}
	io.WriteString(c2, "y")
	if b, err := br2.ReadByte(); err != nil || b != 'y' {
		t.Fatal("an allowed tunnel was closed")
	}
	waitFor(t, func() bool {
		for _, r := range h.records() {
			if r.Closed == "policy-changed" && r.Rule == echo {
				return true
			}
		}
		return false
	})
	resp, _, _, _ = h.do("CONNECT " + echo + " HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 403 {
		t.Fatalf("after removal: %d", resp.StatusCode)
	}
	// A broken policy file keeps the policy in force and says so.
	os.WriteFile(filepath.Join(h.dir, PolicyFile), []byte(`{"version":1,"generation":99,"entries":["*"]}`), 0o644)
	waitFor(t, func() bool {
		data, _ := os.ReadFile(filepath.Join(h.dir, AppliedFile))
		return strings.Contains(string(data), `"rejected":99`)
	})
	resp2, _, _, _ = h.do("CONNECT " + echo2 + " HTTP/1.1\r\n\r\n")
	if resp2.StatusCode != 200 {
		t.Fatalf("policy lost after a bad file: %d", resp2.StatusCode)
	}
}

func TestAuditRotatesAndStatsCount(t *testing.T) {
	dir := t.TempDir()
	a, err := openAudit(dir, 1000, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		a.write(&Record{Session: "s", Host: "x.example", Port: 443, Decision: "deny", Rule: "default-deny", BytesIn: 1})
	}
	a.close()
	cur, _ := os.Stat(filepath.Join(dir, AuditFile))
	old, err := os.Stat(filepath.Join(dir, AuditOld))
	if err != nil || cur.Size() > 1000 || old.Size() > 1000 {
		t.Fatalf("rotation: %v %v %v", cur, old, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, StatsFile))
	var s Stats
	json.Unmarshal(data, &s)
	if s.Connections["deny"] != 50 || s.BytesIn != 50 {
		t.Fatalf("stats %s", data)
	}
	// A restarted gateway continues the counters.
	b, _ := openAudit(dir, 1000, t.Logf)
	b.write(&Record{Decision: "allow"})
	b.close()
	data, _ = os.ReadFile(filepath.Join(dir, StatsFile))
	json.Unmarshal(data, &s)
	if s.Connections["deny"] != 50 || s.Connections["allow"] != 1 {
		t.Fatalf("stats after restart %s", data)
	}
}

func TestIngressHeader(t *testing.T) {
	for in, want := range map[string]int{
		"AXO-FORWARD 3000\n": 3000, "AXO-FORWARD 1\n": 1, "AXO-FORWARD 0\n": -1, "AXO-FORWARD 65536\n": -1,
		"AXO-FORWARD 03000\n": -1, "AXO-FORWARD 3000 \n": -1, "AXO-FORWARD\n": -1, strings.Repeat("A", 100): -1,
	} {
		p, err := ReadIngressHeader(bufio.NewReader(strings.NewReader(in)))
		if (err == nil) != (want > 0) || (want > 0 && int(p) != want) {
			t.Errorf("%q: %d %v", in, p, err)
		}
	}
}

func TestHostsFileFirstThenRootedDNS(t *testing.T) {
	origin := httpServer(t)
	h := newHarness(t, "files-only.example", "localhost", "*.example.com")
	h.routes["198.51.100.9:80"] = origin
	resp, body, _, _ := h.do("GET http://files-only.example/ HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 200 || body != "host=files-only.example path=/ body=" || h.resolver.wasAsked("files-only.example") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	// localhost comes from the hosts file too, and is loopback: refused.
	resp, body, _, _ = h.do("GET http://localhost/ HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 403 || !strings.Contains(body, "loopback") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	// Names the hosts file lacks go to the DNS rooted (the fake resolver refuses others).
	resp, body, _, _ = h.do("GET http://missing.example.com/ HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 502 || !strings.Contains(body, "no such host") || !h.resolver.wasAsked("missing.example.com") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}
