package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"axo.dev/agent/internal/egress"
	"axo.dev/agent/internal/relay"
)

func jsonDecoder(data []byte) *json.Decoder { return json.NewDecoder(bytes.NewReader(data)) }

var errHeadTooLarge = errors.New("request head too large")

// headLimit bounds what a request head may read (http.ReadRequest itself has no bound).
type headLimit struct {
	r  io.Reader
	n  int64
	on bool
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.on {
		if l.n <= 0 {
			return 0, errHeadTooLarge
		}
		if int64(len(p)) > l.n {
			p = p[:l.n]
		}
	}
	n, err := l.r.Read(p)
	if l.on {
		l.n -= int64(n)
	}
	return n, err
}

// serveConn serves one connection from the session: CONNECT tunnels, or plain HTTP
// requests with absolute URIs (kept alive while the client and the origin allow).
func (g *Gateway) serveConn(c *net.UnixConn) {
	defer c.Close()
	lim := &headLimit{r: c}
	br := bufio.NewReaderSize(lim, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	var up *upstream
	defer func() {
		if up != nil {
			up.finish()
		}
	}()
	for n := 0; ; n++ {
		lim.n, lim.on = maxHead, true
		timeout := HeadTimeout
		if n > 0 {
			timeout = IdleTimeout
		}
		c.SetReadDeadline(time.Now().Add(timeout))
		req, err := http.ReadRequest(br)
		if err != nil {
			if n == 0 && !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
				rec := g.record("http", "", "", 0)
				g.refuse(c, rec, 400, egress.RuleInvalid, fmt.Sprintf("malformed proxy request: %v", err))
			}
			return
		}
		c.SetReadDeadline(time.Time{})
		lim.on = false
		if req.Method == http.MethodConnect {
			if up != nil {
				up.finish()
				up = nil
			}
			g.connect(c, br, req)
			return
		}
		if !g.plain(c, br, bw, req, &up) {
			return
		}
	}
}

func (g *Gateway) record(kind, method, host string, port uint16) *Record {
	return &Record{Time: time.Now().UTC(), Session: g.cfg.Session, Kind: kind, Method: method, Host: host, Port: port}
}

func hostText(h egress.Host) string {
	if h.IsIP() {
		return h.Addr.String()
	}
	return h.Name
}

// refuse answers a request the gateway will not carry, records it, and the connection ends.
func (g *Gateway) refuse(c net.Conn, rec *Record, code int, rule, reason string) {
	decision := "deny"
	if code >= 500 {
		decision = "error"
	}
	rec.Decision, rec.Rule, rec.Reason = decision, rule, reason
	rec.DurationMs = msSince(rec.Time)
	g.audit.write(rec)
	what := rec.Method + " " + rec.Host
	if rec.Kind == "connect" {
		what = "CONNECT " + rec.Host
	}
	if rec.Port != 0 {
		what = fmt.Sprintf("%s:%d", strings.TrimSpace(what), rec.Port)
	}
	verb := "denied"
	if decision == "error" {
		verb = "could not connect"
	}
	writeSimple(c, code, http.StatusText(code), rule,
		fmt.Sprintf("axo egress: %s %s (rule: %s): %s", verb, strings.TrimSpace(what), rule, reason))
}

func writeSimple(c net.Conn, code int, status, rule, body string) {
	body += "\n"
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n",
		code, status, len(body))
	if rule != "" {
		fmt.Fprintf(&b, "X-Axo-Egress-Rule: %s\r\n", headerSafe(rule))
	}
	b.WriteString("Proxy-Agent: axo-gateway\r\n\r\n")
	b.WriteString(body)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, b.String())
	c.SetWriteDeadline(time.Time{})
}

func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// open decides on a destination and connects to it: a name is checked before it is
// resolved (a denied name is never looked up), then every address it resolves to is
// checked, and the gateway connects only to an address that passed.
func (g *Gateway) open(ctx context.Context, h egress.Host, port uint16, rec *Record) (net.Conn, egress.Decision, error) {
	pol := g.policy.Load()
	var addrs []netip.Addr
	var allowed egress.Decision
	if h.IsIP() {
		rec.Address = h.Addr.String()
		d := pol.Decide(h, port, h.Addr, g.own.contains)
		if !d.Allowed {
			return nil, d, nil
		}
		allowed, addrs = d, []netip.Addr{h.Addr}
	} else {
		d := pol.DecideName(h.Name, port)
		if !d.Allowed {
			return nil, d, nil
		}
		allowed = d
		// Rooted (a trailing dot): the resolver's search domains never turn the allowed name
		// into another one.
		found := g.hosts.lookup(h.Name)
		if len(found) == 0 {
			rctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
			var err error
			found, err = g.cfg.Resolver.LookupNetIP(rctx, "ip", h.Name+".")
			cancel()
			if err != nil {
				return nil, d, fmt.Errorf("cannot resolve %s: %w", h.Name, err)
			}
		}
		var denied *egress.Decision
		for _, a := range found {
			a = a.Unmap()
			ad := pol.Decide(h, port, a, g.own.contains)
			if ad.Allowed {
				addrs = append(addrs, a)
			} else if denied == nil {
				denied, rec.Address = &ad, a.String()
			}
		}
		if len(addrs) == 0 {
			if denied != nil {
				return nil, *denied, nil
			}
			return nil, d, fmt.Errorf("%s has no addresses", h.Name)
		}
	}
	var lastErr error
	for _, a := range addrs {
		conn, err := g.cfg.Dial(ctx, "tcp", netip.AddrPortFrom(a, port).String())
		if err != nil {
			lastErr = err
			continue
		}
		// What was connected is what was checked.
		if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok && ta.AddrPort().Addr().Unmap() != a {
			conn.Close()
			lastErr = fmt.Errorf("connected to %s, not %s", ta, a)
			continue
		}
		rec.Address = a.String()
		return conn, pol.Decide(h, port, a, g.own.contains), nil
	}
	return nil, allowed, lastErr
}

func dialFailure(err error) (int, string) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout, err.Error()
	}
	return http.StatusBadGateway, err.Error()
}

// connect serves a CONNECT tunnel: decided on the CONNECT target alone.
func (g *Gateway) connect(c *net.UnixConn, br *bufio.Reader, req *http.Request) {
	rec := g.record("connect", "", headerSafe(truncate(req.RequestURI, 300)), 0)
	h, port, err := egress.ParseAuthority(req.RequestURI, 0)
	if err != nil {
		g.refuse(c, rec, http.StatusBadRequest, egress.RuleInvalid, err.Error())
		return
	}
	rec.Host, rec.Port = hostText(h), port
	ctx, cancel := context.WithTimeout(context.Background(), ResolveTimeout+DialTimeout)
	up, d, err := g.open(ctx, h, port, rec)
	cancel()
	if !d.Allowed {
		g.refuse(c, rec, http.StatusForbidden, d.Rule, d.Reason)
		return
	}
	if err != nil {
		code, reason := dialFailure(err)
		g.refuse(c, rec, code, d.Rule, reason)
		return
	}
	rec.Decision, rec.Rule = "allow", d.Rule
	t := &tunnel{host: h, port: port, addr: netip.MustParseAddr(rec.Address)}
	t.kill = func(reason string) {
		t.killed.CompareAndSwap(nil, &reason)
		c.Close()
		up.Close()
	}
	if !g.track(t) {
		up.Close()
		g.refuse(c, rec, http.StatusServiceUnavailable, d.Rule, "the gateway is stopping")
		return
	}
	defer g.untrack(t)
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		g.finishRecord(rec, t)
		return
	}
	// What the client sent after its request head, before our answer.
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		w, _ := up.Write(b)
		rec.BytesOut += int64(w)
	}
	out, in := relay.Both(c, up)
	rec.BytesOut += out
	rec.BytesIn += in
	g.finishRecord(rec, t)
}

func (g *Gateway) finishRecord(rec *Record, t *tunnel) {
	if r := t.killed.Load(); r != nil {
		rec.Closed = *r
	}
	rec.DurationMs = msSince(rec.Time)
	g.audit.write(rec)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
