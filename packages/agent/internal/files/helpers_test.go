package files

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"axo.dev/agent/internal/users"
	"axo.dev/agent/internal/wire"
)

// fakeConn is the host side of one request, in memory.
type fakeConn struct {
	t      testing.TB
	mu     sync.Mutex
	cond   *sync.Cond
	sent   []wire.Frame
	in     chan wire.Frame
	closed chan struct{}
	once   sync.Once
	gate   chan struct{} // when set, Send blocks until it is closed
}

func newFakeConn(t testing.TB) *fakeConn {
	c := &fakeConn{t: t, in: make(chan wire.Frame, 64), closed: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	return c
}

var errClosed = errors.New("closed")

func (c *fakeConn) Send(msg any) error {
	b, err := wire.EncodeMessage(msg)
	if err != nil {
		return err
	}
	return c.SendFrame(wire.KindMsg, b[wire.HeaderLen:])
}

func (c *fakeConn) SendFrame(kind byte, p []byte) error {
	if g := c.gate; g != nil {
		select {
		case <-g:
		case <-c.closed:
		}
	}
	select {
	case <-c.closed:
		return errClosed
	default:
	}
	if len(p) > wire.MaxPayload {
		c.t.Errorf("frame of %d bytes", len(p))
	}
	f := wire.Frame{Kind: kind, Payload: append([]byte(nil), p...)}
	if kind == wire.KindMsg {
		typ, err := wire.ValidateMessage(f.Payload)
		if err != nil {
			c.t.Errorf("invalid message %s: %v", p, err)
		}
		f.Type = typ
	}
	c.mu.Lock()
	c.sent = append(c.sent, f)
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) Next() (wire.Frame, error) {
	select {
	case f, ok := <-c.in:
		if !ok {
			return wire.Frame{}, io.EOF
		}
		return f, nil
	case <-c.closed:
		return wire.Frame{}, errClosed
	}
}

func (c *fakeConn) ReadError(error) {}
func (c *fakeConn) Close()          { c.once.Do(func() { close(c.closed) }) }

func (c *fakeConn) frames() []wire.Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.Frame(nil), c.sent...)
}

// waitFor waits until a sent message satisfies ok and returns its index.
func (c *fakeConn) waitFor(d time.Duration, ok func(wire.Frame) bool) (wire.Frame, bool) {
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := 0
	for {
		for ; seen < len(c.sent); seen++ {
			if ok(c.sent[seen]) {
				return c.sent[seen], true
			}
		}
		if time.Now().After(deadline) {
			return wire.Frame{}, false
		}
		c.cond.Wait()
	}
}

// result is what a finished request said.
type result struct {
	frames []wire.Frame
	err    *wire.Error
	entry  *wire.Entry
	data   []byte
}

func (r *result) types() []string {
	var out []string
	for _, f := range r.frames {
		if f.Kind == wire.KindMsg {
			out = append(out, f.Type)
		}
	}
	return out
}

func (r *result) code() string {
	if r.err == nil {
		return ""
	}
	return r.err.Code
}

func summarize(t testing.TB, frames []wire.Frame) *result {
	t.Helper()
	r := &result{frames: frames}
	for _, f := range frames {
		switch {
		case f.Kind == wire.KindOut:
			r.data = append(r.data, f.Payload...)
		case f.Type == wire.TypeError:
			r.err = &wire.Error{}
			f.Decode(r.err)
		case f.Type == wire.TypeEntry:
			var m wire.EntryMsg
			if err := f.Decode(&m); err != nil {
				t.Fatal(err)
			}
			r.entry = &m.Entry
		}
	}
	return r
}

// testService is a service over the real /etc files, acting as root by default.
func testService(t testing.TB, workdir string) *Service {
	return New(Config{Workdir: workdir, Users: users.New("/"), SetCreds: os.Geteuid() == 0,
		Log: func(format string, args ...any) { t.Logf(format, args...) }})
}

// do runs one request (with IN frames for a write) and returns what it said.
func do(t testing.TB, s *Service, msg any, in ...[]byte) *result {
	t.Helper()
	c := newFakeConn(t)
	c.in = make(chan wire.Frame, len(in))
	for _, p := range in {
		c.in <- wire.Frame{Kind: wire.KindIn, Payload: p}
	}
	close(c.in) // then the host's side ends
	b, err := wire.EncodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := wire.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(c, f)
	c.Close()
	return summarize(t, c.frames())
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (switching users, root-owned files)")
	}
}

// openDir makes dir and its parents traversable by everyone (t.TempDir is 0700).
func openDir(t testing.TB, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o011 != 0o011 {
			if err := os.Chmod(d, st.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
		if d == os.TempDir() {
			break
		}
	}
}

func ptr[T any](v T) *T { return &v }

// fastTempDir is a temporary directory on a tmpfs when there is one (/dev/shm): creating
// many files there is far faster than on a disk.
func fastTempDir(t testing.TB) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "axo-files-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// WatchCounts returns the watch connections and watched directories in use.
func (s *Service) WatchCounts() (watches, dirs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watches, s.watchedDirs
}
