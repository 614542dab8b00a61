// Package server accepts connections on the agent's unix socket and speaks the wire
// protocol: hello with a fresh nonce, the HMAC check, one request, its answer.
package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"axo.dev/agent/internal/files"
	"axo.dev/agent/internal/proc"
	"axo.dev/agent/internal/wire"
)

// Limits.
const (
	MaxConns      = 1024
	AuthTimeout   = 10 * time.Second
	PreAuthLimit  = 4 << 10 // largest frame accepted before authentication
	KeepaliveIdle = 5 * time.Second
)

// Server serves the protocol.
type Server struct {
	Token   []byte
	Version string
	Procs   *proc.Manager
	// Files serves the file requests (nil: they are UNSUPPORTED).
	Files *files.Service
	Log   func(format string, args ...any)

	started      time.Time
	lastActivity atomic.Int64 // unix nanoseconds
	attached     atomic.Int64
	sem          chan struct{}

	mu     sync.Mutex
	ln     *net.UnixListener
	conns  map[*conn]struct{}
	closed bool
}

// New returns a server.
func New(token []byte, version string, procs *proc.Manager) *Server {
	s := &Server{Token: token, Version: version, Procs: procs, started: time.Now(),
		sem: make(chan struct{}, MaxConns), conns: map[*conn]struct{}{}}
	s.lastActivity.Store(s.started.UnixNano())
	s.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "axo-agent: "+format+"\n", args...) }
	return s
}

// Listen creates the socket at path: a stale socket there is removed first (never
// following a link); anything else there is refused. The socket is mode 0600.
func Listen(path string) (*net.UnixListener, error) {
	var st syscall.Stat_t
	switch err := syscall.Lstat(path, &st); {
	case err == nil:
		if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
			return nil, fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
		}
		if err := syscall.Unlink(path); err != nil && err != syscall.ENOENT {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	case err != syscall.ENOENT:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := syscall.Lstat(path, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		ln.Close()
		return nil, fmt.Errorf("%s was replaced while listening", path)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}

// Serve accepts connections until Close.
func (s *Server) Serve(ln *net.UnixListener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	var delay time.Duration
	for {
		s.sem <- struct{}{}
		c, err := ln.AcceptUnix()
		if err != nil {
			<-s.sem
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE and friends: back off and go on.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.Log("accept: %v", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go s.handle(c)
	}
}

// Close stops accepting and closes every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	ln := s.ln
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.c.Close()
	}
}

func (s *Server) handle(nc *net.UnixConn) {
	c := newConn(s, nc)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		if v := recover(); v != nil {
			s.Log("connection handler panic: %v\n%s", v, debug.Stack())
			c.sendError(wire.CodeInternal, "internal error")
		}
		nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		<-s.sem
	}()
	c.serve()
}

func (s *Server) pong() wire.Pong {
	now := time.Now()
	idle := now.Sub(time.Unix(0, s.lastActivity.Load()))
	attached := s.attached.Load()
	// Reported apart: the host knows which attachments are its own (a server's terminals)
	// and which are activity.
	if idle < 0 {
		idle = 0
	}
	return wire.Pong{
		Type: wire.TypePong, Agent: s.Version, Protocol: wire.ProtocolVersion, Procs: s.Procs.Count(),
		Attached: int(attached), UptimeMs: now.Sub(s.started).Milliseconds(), IdleMs: idle.Milliseconds(),
	}
}
