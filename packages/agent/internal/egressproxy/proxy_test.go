package egressproxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"axo.dev/agent/internal/gateway"
)

// fakeGateway answers CONNECT a.example:1 with 200 and echoes; anything else gets 403.
func fakeGateway(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "gw.sock")
	ln, err := net.Listen("unix", sock)
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
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				line, _ := br.ReadString('\n')
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				if !strings.HasPrefix(line, "CONNECT a.example:1 ") {
					body := "axo egress: denied (rule: default-deny): no\n"
					io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
					return
				}
				io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				io.Copy(c, br)
			}()
		}
	}()
	return sock
}

func itoa(n int) string { return strconv.Itoa(n) }

func startProxy(t *testing.T, sock string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go ServeProxy(ln, sock, t.Logf)
	return ln.Addr().String()
}

func TestConnectHelper(t *testing.T) {
	proxy := startProxy(t, fakeGateway(t))
	var out, errOut bytes.Buffer
	if code := Connect(proxy, "a.example", "1", strings.NewReader("hello"), &out, &errOut); code != 0 || out.String() != "hello" {
		t.Fatalf("exit %d, out %q, err %q", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := Connect(proxy, "b.example", "22", strings.NewReader(""), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "403") || !strings.Contains(errOut.String(), "default-deny") {
		t.Fatalf("denied: exit %d, err %q", code, errOut.String())
	}
	if code := Connect(proxy, "a.example", "x", nil, &out, &errOut); code != 2 {
		t.Fatalf("bad port: %d", code)
	}
}

func TestProxyWithoutGateway(t *testing.T) {
	proxy := startProxy(t, filepath.Join(t.TempDir(), "missing.sock"))
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.Contains(line, "503") {
		t.Fatalf("%q", line)
	}
}

func TestIngress(t *testing.T) {
	// A service on this "session's" loopback, reached through the ingress socket.
	svc, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	go func() {
		c, err := svc.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	path := filepath.Join(t.TempDir(), "fwd.sock")
	ln, err := ListenIngress(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go ServeIngress(ln, t.Logf)
	c, err := gateway.DialIngress(path, uint16(svc.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("%q %v", buf, err)
	}
	// A link planted at the path is not followed.
	link := filepath.Join(t.TempDir(), "link.sock")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if c, err := gateway.DialIngress(link, 1); err == nil {
		c.Close()
		t.Fatal("followed a link")
	}
}
