package gateway

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"axo.dev/agent/internal/egress"
)

// FuzzRequestTarget: whatever request line a session sends, parsing never panics, and a
// destination that parses is one the host parser agrees on (so the gateway decides on
// exactly the host it will dial and name in the Host header).
func FuzzRequestTarget(f *testing.F) {
	for _, s := range []string{
		"GET http://deb.debian.org/x HTTP/1.1", "CONNECT 127.0.0.1:80 HTTP/1.1", "GET http://[::1]:8080/ HTTP/1.1",
		"GET http://0x7f.1/ HTTP/1.1", "GET http://a@b/ HTTP/1.1", "GET http://a:1#@b/ HTTP/1.1",
		"CONNECT [::ffff:127.0.0.1]:443 HTTP/1.1", "GET http://deb.debian.org\\@127.0.0.1/ HTTP/1.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(line + "\r\n\r\n")))
		if err != nil {
			return
		}
		if req.Method == http.MethodConnect {
			h, port, err := egress.ParseAuthority(req.RequestURI, 0)
			if err == nil && (port == 0 || strings.ContainsAny(h.String(), "@/\\#?% ")) {
				t.Fatalf("%q: %s %d", line, h, port)
			}
			return
		}
		h, port, origin, err := parseAbsolute(req.RequestURI)
		if err != nil {
			return
		}
		if port == 0 || !strings.HasPrefix(origin, "/") || strings.ContainsAny(h.String(), "@/\\#?% ") {
			t.Fatalf("%q: host %s port %d origin %q", line, h, port, origin)
		}
		again, err := egress.ParseHost(h.String())
		if err != nil || again != h {
			t.Fatalf("%q: %s does not parse back (%v)", line, h, err)
		}
	})
}
