package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"

	"axo.dev/agent/internal/egress"
	"axo.dev/agent/internal/relay"
)

// countConn counts what crosses an upstream connection.
type countConn struct {
	net.Conn
	in, out int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in += int64(n)
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out += int64(n)
	return n, err
}

// upstream is the origin connection plain HTTP requests go to while they name it.
type upstream struct {
	g    *Gateway
	host egress.Host
	port uint16
	raw  net.Conn
	conn *countConn
	br   *bufio.Reader
	bw   *bufio.Writer
	t    *tunnel
	rec  *Record
	done bool
}

func (u *upstream) finish() {
	if u.done {
		return
	}
	u.done = true
	u.raw.Close()
	u.g.untrack(u.t)
	u.rec.BytesIn += u.conn.in
	u.rec.BytesOut += u.conn.out
	u.g.finishRecord(u.rec, u.t)
}

// plain forwards one request with an absolute URI. The destination is the URI's
// authority, whatever the Host header says (it is replaced). It reports whether the
// client connection may carry another request.
func (g *Gateway) plain(c *net.UnixConn, br *bufio.Reader, bw *bufio.Writer, req *http.Request, upp **upstream) bool {
	h, port, origin, err := parseAbsolute(req.RequestURI)
	if err != nil {
		rec := g.record("http", req.Method, headerSafe(truncate(req.RequestURI, 300)), 0)
		g.refuse(c, rec, http.StatusBadRequest, egress.RuleInvalid, err.Error())
		return false
	}
	up := *upp
	if up != nil && (up.done || up.host != h || up.port != port) {
		up.finish()
		up, *upp = nil, nil
	}
	if up == nil {
		rec := g.record("http", req.Method, hostText(h), port)
		ctx, cancel := context.WithTimeout(context.Background(), ResolveTimeout+DialTimeout)
		conn, d, err := g.open(ctx, h, port, rec)
		cancel()
		if !d.Allowed {
			g.refuse(c, rec, http.StatusForbidden, d.Rule, d.Reason)
			return false
		}
		if err != nil {
			code, reason := dialFailure(err)
			g.refuse(c, rec, code, d.Rule, reason)
			return false
		}
		rec.Decision, rec.Rule = "allow", d.Rule
		cc := &countConn{Conn: conn}
		up = &upstream{g: g, host: h, port: port, raw: conn, conn: cc, rec: rec,
			br: bufio.NewReaderSize(cc, 64<<10), bw: bufio.NewWriterSize(cc, 64<<10)}
		t := &tunnel{host: h, port: port, addr: netip.MustParseAddr(rec.Address)}
		t.kill = func(reason string) {
			t.killed.CompareAndSwap(nil, &reason)
			c.Close()
			conn.Close()
		}
		up.t = t
		if !g.track(t) {
			conn.Close()
			g.refuse(c, rec, http.StatusServiceUnavailable, d.Rule, "the gateway is stopping")
			return false
		}
		*upp = up
	}
	up.rec.Requests++
	hostHeader := h.String()
	if port != 80 {
		hostHeader = fmt.Sprintf("%s:%d", h, port)
	}
	upgrade := isUpgrade(req.Header)
	if hasToken(req.Header["Expect"], "100-continue") {
		// Answered here, so the client sends its body at once; the origin is not asked.
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
	}
	if err := writeRequest(up.bw, req, hostHeader, origin, upgrade); err != nil {
		up.finish()
		return false
	}
	for {
		resp, err := http.ReadResponse(up.br, req)
		if err != nil {
			up.finish()
			return false
		}
		if resp.StatusCode == http.StatusSwitchingProtocols && upgrade {
			if resp.Write(bw) != nil || bw.Flush() != nil {
				up.finish()
				return false
			}
			// Raw from here on: what each side buffered first, then both directions.
			if n := br.Buffered(); n > 0 {
				b, _ := br.Peek(n)
				up.conn.Write(b)
			}
			if n := up.br.Buffered(); n > 0 {
				b, _ := up.br.Peek(n)
				c.Write(b)
			}
			out, in := relay.Both(c, up.raw)
			up.rec.BytesOut += out
			up.rec.BytesIn += in
			up.finish()
			return false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			if resp.Write(bw) != nil || bw.Flush() != nil {
				up.finish()
				return false
			}
			continue
		}
		if req.Close {
			resp.Close = true
		}
		err = resp.Write(bw)
		if err == nil {
			err = bw.Flush()
		}
		resp.Body.Close()
		if err != nil || resp.Close {
			up.finish()
			return false
		}
		return !req.Close
	}
}

// parseAbsolute splits an absolute http:// URI into its destination and origin-form.
func parseAbsolute(uri string) (egress.Host, uint16, string, error) {
	i := strings.Index(uri, "://")
	if i < 0 {
		return egress.Host{}, 0, "", errors.New("a proxy request must name an absolute URI (http://host/path)")
	}
	if scheme := strings.ToLower(uri[:i]); scheme != "http" {
		return egress.Host{}, 0, "", fmt.Errorf("only http:// URIs are proxied as plain requests (not %s://); use CONNECT", scheme)
	}
	rest := uri[i+3:]
	authority, origin := rest, "/"
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		authority, origin = rest[:end], rest[end:]
	}
	if j := strings.IndexByte(origin, '#'); j >= 0 {
		origin = origin[:j]
	}
	if origin == "" || origin[0] != '/' {
		origin = "/" + origin
	}
	h, port, err := egress.ParseAuthority(authority, 80)
	if err != nil {
		return egress.Host{}, 0, "", err
	}
	return h, port, origin, nil
}

// hop-by-hop headers, never forwarded (Connection lists more).
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Expect": true, "Host": true,
}

func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func isUpgrade(h http.Header) bool {
	return h.Get("Upgrade") != "" && hasToken(h["Connection"], "upgrade")
}

func validValue(v string) bool { return !strings.ContainsAny(v, "\r\n\x00") }

// writeRequest writes the request to the origin in origin-form with our Host header.
func writeRequest(w *bufio.Writer, req *http.Request, host, origin string, upgrade bool) error {
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, origin, host)
	connTokens := map[string]bool{}
	for _, v := range req.Header["Connection"] {
		for _, t := range strings.Split(v, ",") {
			connTokens[http.CanonicalHeaderKey(strings.TrimSpace(t))] = true
		}
	}
	for k, vs := range req.Header {
		if hopHeaders[k] || connTokens[k] {
			continue
		}
		for _, v := range vs {
			if validValue(v) {
				fmt.Fprintf(w, "%s: %s\r\n", k, v)
			}
		}
	}
	if upgrade && validValue(req.Header.Get("Upgrade")) {
		fmt.Fprintf(w, "Connection: Upgrade\r\nUpgrade: %s\r\n", req.Header.Get("Upgrade"))
	}
	chunked := len(req.TransferEncoding) > 0 && req.TransferEncoding[0] == "chunked"
	switch {
	case chunked:
		io.WriteString(w, "Transfer-Encoding: chunked\r\n")
	case req.ContentLength > 0 || req.Header.Get("Content-Length") != "":
		fmt.Fprintf(w, "Content-Length: %s\r\n", strconv.FormatInt(max(req.ContentLength, 0), 10))
	}
	io.WriteString(w, "\r\n")
	if req.Body != nil && (chunked || req.ContentLength > 0) {
		var dst io.Writer = w
		var cw io.WriteCloser
		if chunked {
			cw = httputil.NewChunkedWriter(w)
			dst = cw
		}
		if _, err := io.Copy(dst, req.Body); err != nil {
			return err
		}
		if cw != nil {
			cw.Close()
			io.WriteString(w, "\r\n")
		}
	}
	return w.Flush()
}
