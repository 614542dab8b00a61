// Package egressproxy is the inside half of a session's egress allowlist, run by the
// session's agent: a listener on the container's loopback (127.0.0.1:3128, what
// HTTP_PROXY names) that relays every connection, byte for byte, to the gateway's unix
// socket; the ingress socket that connects published ports to the session's loopback;
// and the CONNECT helper for tools that take a ProxyCommand (ssh).
//
// Nothing here decides anything: the session has no route out (--network none), and
// container root can replace this code, so every decision is the gateway's.
package egressproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"axo.dev/agent/internal/gateway"
	"axo.dev/agent/internal/relay"
)

// DefaultListen is where the session's tools find the proxy.
const DefaultListen = "127.0.0.1:3128"

// MaxConns bounds the connections relayed at once.
const MaxConns = 1024

// ServeProxy relays each connection accepted on ln to the gateway socket. It returns
// when ln is closed.
func ServeProxy(ln net.Listener, gatewaySocket string, logf func(string, ...any)) error {
	sem := make(chan struct{}, MaxConns)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close()
			continue
		}
		go func() {
			defer func() { <-sem }()
			gw, err := net.DialTimeout("unix", gatewaySocket, 5*time.Second)
			if err != nil {
				logf("egress proxy: gateway %s: %v", gatewaySocket, err)
				writeUnavailable(c, err)
				c.Close()
				return
			}
			relay.Both(c, gw)
		}()
	}
}

// writeUnavailable answers a client whose gateway cannot be reached (an HTTP client sees
// why; anything else just sees the connection close).
func writeUnavailable(c net.Conn, err error) {
	body := fmt.Sprintf("axo egress: the session's gateway is not reachable (%v)\n", err)
	c.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

// ListenIngress creates the ingress socket (mode 0666 in a directory only the session's
// root and the gateway can reach), first removing a stale socket; anything else at the
// path is refused.
func ListenIngress(path string) (*net.UnixListener, error) {
	var st syscall.Stat_t
	switch err := syscall.Lstat(path, &st); {
	case err == nil:
		if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
			return nil, fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
		}
		syscall.Unlink(path)
	case err != syscall.ENOENT:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	old := syscall.Umask(0)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

// ServeIngress connects each forwarded connection (a published port, from the gateway)
// to the port it names on the session's loopback.
func ServeIngress(ln *net.UnixListener, logf func(string, ...any)) error {
	sem := make(chan struct{}, MaxConns)
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close()
			continue
		}
		go func() {
			defer func() { <-sem }()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReaderSize(c, 64)
			port, err := gateway.ReadIngressHeader(br)
			if err != nil {
				c.Close()
				return
			}
			c.SetReadDeadline(time.Time{})
			var local net.Conn
			for _, host := range []string{"127.0.0.1", "::1"} {
				if local, err = net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))), 5*time.Second); err == nil {
					break
				}
			}
			if err != nil {
				c.Close()
				return
			}
			if n := br.Buffered(); n > 0 {
				b, _ := br.Peek(n)
				local.Write(b)
			}
			relay.Both(c, local)
		}()
	}
}

// Connect is `axo-agent connect HOST PORT`: it asks the proxy for a CONNECT tunnel and
// then carries stdin/stdout through it, for ssh's ProxyCommand
// (`ProxyCommand /.axo/agent connect %h %p`). A refusal prints the proxy's reason.
func Connect(proxy, host, port string, stdin io.Reader, stdout, stderr io.Writer) int {
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || host == "" || strings.ContainsAny(host, " \r\n") {
		fmt.Fprintf(stderr, "axo-agent connect: usage: connect HOST PORT (got %q %q)\n", host, port)
		return 2
	}
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "axo-agent connect: the egress proxy %s is not reachable: %v\n", proxy, err)
		return 1
	}
	defer c.Close()
	target := net.JoinHostPort(strings.Trim(host, "[]"), port)
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target); err != nil {
		fmt.Fprintf(stderr, "axo-agent connect: %v\n", err)
		return 1
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	status, err := br.ReadString('\n')
	if err != nil {
		fmt.Fprintf(stderr, "axo-agent connect: no answer from the egress proxy: %v\n", err)
		return 1
	}
	// Headers up to the blank line.
	length := -1
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			fmt.Fprintf(stderr, "axo-agent connect: %v\n", err)
			return 1
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	c.SetReadDeadline(time.Time{})
	fields := strings.Fields(status)
	if len(fields) < 2 || fields[1] != "200" {
		body := make([]byte, 0)
		if length > 0 && length < 1<<16 {
			body = make([]byte, length)
			n, _ := io.ReadFull(br, body)
			body = body[:n]
		}
		fmt.Fprintf(stderr, "axo-agent connect: %s: %s\n", strings.TrimSpace(status), strings.TrimSpace(string(body)))
		return 1
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		stdout.Write(b)
	}
	if err := relay.Streams(c, stdin, stdout); err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(stderr, "axo-agent connect: %v\n", err)
		return 1
	}
	return 0
}
