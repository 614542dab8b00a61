package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

// The test binary doubles as the agent: started as `<test binary> init …` (and, by the
// agent, as `… shim`) it runs main's code. AXO_AGENT_BIN runs a built binary instead.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "init" || os.Args[1] == "shim") {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	if sharedAgent != nil {
		sharedAgent.stop()
	}
	os.Exit(code)
}

type agent struct {
	dir, sock string
	token     []byte
	cmd       *exec.Cmd
	exited    chan struct{}
	logPath   string
}

var (
	sharedOnce  sync.Once
	sharedAgent *agent
	sharedErr   error
)

// shared returns the agent most tests use (started once per test binary).
func shared(t *testing.T) *agent {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "axo-agent-test-")
		if err != nil {
			sharedErr = err
			return
		}
		sharedAgent, sharedErr = startAgent(dir)
	})
	if sharedErr != nil {
		t.Fatalf("start agent: %v", sharedErr)
	}
	return sharedAgent
}

// newAgent starts a private agent, stopped when the test ends.
func newAgent(t *testing.T) *agent {
	t.Helper()
	return newAgentWith(t)
}

// newAgentWith starts a private agent with extra init flags, stopped when the test ends.
func newAgentWith(t *testing.T, flags ...string) *agent {
	t.Helper()
	dir, err := os.MkdirTemp("", "axo-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	a, err := startAgent(dir, flags...)
	if err != nil {
		t.Fatalf("start agent: %v", err)
	}
	t.Cleanup(func() { a.stop() })
	return a
}

func startAgent(dir string, flags ...string) (*agent, error) {
	tok := make([]byte, 32)
	if _, err := (&randReader{}).Read(tok); err != nil {
		return nil, err
	}
	token := []byte(hex.EncodeToString(tok))
	a := &agent{dir: dir, sock: filepath.Join(dir, "agent.sock"), token: token, logPath: filepath.Join(dir, "agent.log")}
	if err := os.WriteFile(filepath.Join(dir, "token"), append(token, '\n'), 0o600); err != nil {
		return nil, err
	}
	bin := os.Getenv("AXO_AGENT_BIN")
	if bin == "" {
		bin = os.Args[0]
	}
	args := append([]string{"init", "--socket", a.sock, "--token-file", filepath.Join(dir, "token"),
		"--session", "test", "--owner", "go-test", "--workdir", dir}, flags...)
	a.cmd = exec.Command(bin, args...)
	// A file, not a pipe: Wait then returns when the agent exits, not when the last
	// holder of its stderr (a shim) does.
	logf, err := os.Create(a.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	a.cmd.Stderr = logf
	// (GORACE: under -race, exit would otherwise sleep 1 s.)
	a.cmd.Env = append(os.Environ(), "AXO_TEST_MARK=from-agent-env", "GORACE=atexit_sleep_ms=0")
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	a.exited = exited
	go func() { a.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, fmt.Errorf("agent exited: %s", a.log())
		default:
		}
		// The socket file appears at bind, a moment before listen: wait until it accepts.
		if st, err := os.Lstat(a.sock); err == nil && st.Mode()&os.ModeSocket != 0 {
			if c, err := net.Dial("unix", a.sock); err == nil {
				c.Close()
				return a, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.stop()
	return nil, fmt.Errorf("agent did not listen: %s", a.log())
}

func (a *agent) stop() {
	if a.cmd.Process != nil {
		a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(5 * time.Second):
			a.cmd.Process.Kill()
			<-a.exited
		}
	}
	os.RemoveAll(a.dir)
}

func (a *agent) log() string {
	b, _ := os.ReadFile(a.logPath)
	return string(b)
}

type randReader struct{}

func (randReader) Read(p []byte) (int, error) {
	f, err := os.Open("/dev/urandom")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Read(p)
}

// client is a minimal host side of the protocol.
type client struct {
	t     testing.TB
	c     *net.UnixConn
	fr    *wire.Reader
	hello wire.Hello
	// reading: an fs.read answer (entry, data, end) rather than a lone entry.
	reading bool
}

func dialRaw(t testing.TB, sock string) *client {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	cl := &client{t: t, c: c, fr: wire.NewReader(c)}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	f := cl.next()
	if f.Type != wire.TypeHello {
		t.Fatalf("first message %q", f.Type)
	}
	if err := f.Decode(&cl.hello); err != nil {
		t.Fatal(err)
	}
	return cl
}

// dial connects and sends auth followed by req in one write, as the host does.
func (a *agent) dial(t testing.TB, req any) *client {
	t.Helper()
	return a.dialAuth(t, req, false)
}

// dialAuth is dial, asking to reuse the connection when reuse is set.
func (a *agent) dialAuth(t testing.TB, req any, reuse bool) *client {
	t.Helper()
	cl := dialRaw(t, a.sock)
	auth, _ := wire.EncodeMessage(wire.Auth{Type: wire.TypeAuth, Protocol: 1, MAC: wire.ComputeMAC(a.token, cl.hello.Nonce), Reuse: reuse})
	r, err := wire.EncodeMessage(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.c.Write(append(auth, r...)); err != nil {
		t.Fatal(err)
	}
	return cl
}

func (cl *client) next() wire.Frame {
	cl.t.Helper()
	f, err := cl.fr.Next()
	if err != nil {
		cl.t.Fatalf("read frame: %v", err)
	}
	return f
}

func (cl *client) send(msg any) {
	cl.t.Helper()
	b, err := wire.EncodeMessage(msg)
	if err != nil {
		cl.t.Fatal(err)
	}
	if _, err := cl.c.Write(b); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

func (cl *client) sendIn(data string) {
	cl.t.Helper()
	if _, err := cl.c.Write(wire.AppendFrame(nil, wire.KindIn, []byte(data))); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

func (cl *client) close() { cl.c.Close() }

// result is everything one stream said.
type result struct {
	stdout, stderr bytes.Buffer
	exit           *wire.Exit
	end            *wire.End
	err            *wire.Error
	lost           []wire.Lost
	msgs           []string
}

// collect reads until exit, end or error (or EOF).
func (cl *client) collect() *result {
	cl.t.Helper()
	r := &result{}
	for {
		f, err := cl.fr.Next()
		if err != nil {
			cl.t.Fatalf("read: %v (so far: out %q err %q msgs %v)", err, r.stdout.String(), r.stderr.String(), r.msgs)
		}
		switch f.Kind {
		case wire.KindOut:
			r.stdout.Write(f.Payload)
			continue
		case wire.KindErr:
			r.stderr.Write(f.Payload)
			continue
		}
		r.msgs = append(r.msgs, f.Type)
		switch f.Type {
		case wire.TypeExit:
			r.exit = &wire.Exit{}
			f.Decode(r.exit)
			return r
		case wire.TypeEnd:
			r.end = &wire.End{}
			f.Decode(r.end)
			return r
		case wire.TypeError:
			r.err = &wire.Error{}
			f.Decode(r.err)
			return r
		case wire.TypeLost:
			var l wire.Lost
			f.Decode(&l)
			r.lost = append(r.lost, l)
		}
	}
}

func (cl *client) expect(typ string, v any) {
	cl.t.Helper()
	for {
		f := cl.next()
		if f.Kind != wire.KindMsg || f.Type == wire.TypeKeepalive {
			continue
		}
		if f.Type != typ {
			cl.t.Fatalf("got %q (%s), want %q", f.Type, f.Payload, typ)
		}
		if v != nil {
			if err := f.Decode(v); err != nil {
				cl.t.Fatal(err)
			}
		}
		return
	}
}

// exec runs argv to the end and returns what it said.
func (a *agent) exec(t testing.TB, req wire.Start) (*wire.Started, *result) {
	t.Helper()
	req.Type = wire.TypeStart
	cl := a.dial(t, req)
	defer cl.close()
	f := cl.next()
	if f.Type == wire.TypeError {
		var e wire.Error
		f.Decode(&e)
		return nil, &result{err: &e}
	}
	var st wire.Started
	if f.Type != wire.TypeStarted || f.Decode(&st) != nil {
		t.Fatalf("got %s", f.Payload)
	}
	return &st, cl.collect()
}

func code(e *wire.Exit) string {
	if e == nil {
		return "<no exit>"
	}
	if e.ExitCode != nil {
		return fmt.Sprint(*e.ExitCode)
	}
	if e.Signal != nil {
		return "SIG" + *e.Signal
	}
	return "<nil>"
}

// procsWithArgs lists pids whose command line is exactly argv.
func procsWithArgs(argv ...string) []int {
	want := strings.Join(argv, "\x00") + "\x00"
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && string(b) == want {
			if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
				if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
					continue // a zombie is dead
				}
			}
			out = append(out, pid)
		}
	}
	return out
}

// waitGone waits until no process runs argv.
func waitGone(t *testing.T, within time.Duration, argv ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pids := procsWithArgs(argv...)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
			t.Fatalf("%v still running: %v", argv, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func killAll(argv ...string) {
	for _, p := range procsWithArgs(argv...) {
		syscall.Kill(p, syscall.SIGKILL)
	}
}

var syscallTERM = syscall.SIGTERM
