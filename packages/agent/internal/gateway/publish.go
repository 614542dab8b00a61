package gateway

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"axo.dev/agent/internal/relay"
)

// PublishResult is one published port in ready.json.
type PublishResult struct {
	Host  string `json:"host"`
	Port  uint16 `json:"port"`
	Error string `json:"error,omitempty"`
}

// publish listens on each published host address and port; a connection there is
// forwarded to the session agent's ingress socket, which connects it to the port on the
// session's own loopback (as `kubectl port-forward` does).
func (g *Gateway) publish() (published, failed []PublishResult) {
	published, failed = []PublishResult{}, []PublishResult{}
	for _, p := range g.cfg.Publish {
		r := PublishResult{Host: p.Host.String(), Port: p.Port}
		if g.cfg.Ingress == "" {
			r.Error = "no ingress socket"
			failed = append(failed, r)
			continue
		}
		ln, err := net.Listen("tcp", netip.AddrPortFrom(p.Host, p.Port).String())
		if err != nil {
			r.Error = err.Error()
			failed = append(failed, r)
			continue
		}
		g.pubs = append(g.pubs, ln)
		published = append(published, r)
		go g.acceptPublished(ln, p.Port)
	}
	return published, failed
}

func (g *Gateway) acceptPublished(ln net.Listener, port uint16) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		select {
		case g.sem <- struct{}{}:
		default:
			c.Close()
			continue
		}
		go func() {
			defer func() { <-g.sem }()
			in, err := DialIngress(g.cfg.Ingress, port)
			if err != nil {
				g.cfg.Log("published port %d: %v", port, err)
				c.Close()
				return
			}
			relay.Both(c, in)
		}()
	}
}

// IngressHeader is the one line the gateway sends before the bytes of a forwarded
// connection: the port to connect to on the session's loopback.
func IngressHeader(port uint16) string { return "AXO-FORWARD " + strconv.Itoa(int(port)) + "\n" }

// DialIngress connects to the session agent's ingress socket without following a link
// at its path (the session controls that directory), and asks for port.
func DialIngress(path string, port uint16) (net.Conn, error) {
	fd, err := syscall.Open(path, oPath|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ingress socket %s: %w", path, err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return nil, fmt.Errorf("ingress %s is not a socket", path)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.Dial("unix", "/proc/self/fd/"+strconv.Itoa(fd))
	if err != nil {
		return nil, fmt.Errorf("ingress socket %s: %w", path, err)
	}
	if _, err := c.Write([]byte(IngressHeader(port))); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// ReadIngressHeader reads the header line (bounded) and returns the port.
func ReadIngressHeader(br *bufio.Reader) (uint16, error) {
	line := make([]byte, 0, 24)
	for len(line) < 24 {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b == '\n' {
			var port int
			if _, err := fmt.Sscanf(string(line), "AXO-FORWARD %d", &port); err != nil || port < 1 || port > 65535 ||
				string(line) != "AXO-FORWARD "+strconv.Itoa(port) {
				return 0, fmt.Errorf("bad forward header %q", line)
			}
			return uint16(port), nil
		}
		line = append(line, b)
	}
	return 0, os.ErrInvalid
}

// oPath is O_PATH (the same value on amd64 and arm64; the syscall package lacks it).
const oPath = 0x200000
