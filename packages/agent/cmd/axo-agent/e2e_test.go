package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

func argv(a ...string) []string { return a }

func TestExecStreamsAndExitCode(t *testing.T) {
	a := shared(t)
	st, r := a.exec(t, wire.Start{Argv: argv("sh", "-c", "echo out; echo err >&2; exit 3")})
	if st.PID <= 0 || st.ID == "" {
		t.Fatalf("started %+v", st)
	}
	if r.stdout.String() != "out\n" || r.stderr.String() != "err\n" || code(r.exit) != "3" {
		t.Fatalf("out %q err %q exit %s", r.stdout.String(), r.stderr.String(), code(r.exit))
	}
	if r.exit.ID != st.ID || r.exit.Stdout != 4 || r.exit.Stderr != 4 || r.exit.Killed || r.exit.TimedOut || r.exit.Signal != nil {
		t.Fatalf("exit %+v", r.exit)
	}
}

func TestExecCombinedEnvCwd(t *testing.T) {
	a := shared(t)
	dir := t.TempDir()
	_, r := a.exec(t, wire.Start{Argv: argv("sh", "-c", `echo "$A|$AXO_TEST_MARK|$HOME|$(pwd)"; echo e >&2`),
		Env: map[string]string{"A": "b c"}, Cwd: dir, Combined: true})
	want := fmt.Sprintf("b c|from-agent-env|%s|%s\ne\n", homeOf(t), dir)
	if r.stdout.String() != want || r.stderr.Len() != 0 || code(r.exit) != "0" {
		t.Fatalf("out %q (want %q) err %q exit %s", r.stdout.String(), want, r.stderr.String(), code(r.exit))
	}
}

func homeOf(t *testing.T) string {
	b, _ := os.ReadFile("/etc/passwd")
	uid := fmt.Sprint(os.Getuid())
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 6 && f[2] == uid {
			return f[5]
		}
	}
	return "/"
}

func TestExecSignalExit(t *testing.T) {
	a := shared(t)
	_, r := a.exec(t, wire.Start{Argv: argv("sh", "-c", "kill -TERM $$")})
	if code(r.exit) != "SIGTERM" || r.exit.ExitCode != nil {
		t.Fatalf("exit %+v", r.exit)
	}
}

func TestStdinRoundTrip(t *testing.T) {
	a := shared(t)
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("cat"), Stdin: true})
	defer cl.close()
	cl.expect(wire.TypeStarted, nil)
	cl.sendIn("hello ")
	cl.sendIn(strings.Repeat("x", 200_000)) // more than a pipe holds: backpressure
	cl.sendIn("\n")
	cl.sendIn("") // EOF
	r := cl.collect()
	if r.stdout.Len() != 6+200_000+1 || !strings.HasPrefix(r.stdout.String(), "hello xx") || code(r.exit) != "0" {
		t.Fatalf("got %d bytes, exit %s", r.stdout.Len(), code(r.exit))
	}
}

func TestStdinClosed(t *testing.T) {
	a := shared(t)
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "exec <&-; sleep 0.3"), Stdin: true})
	defer cl.close()
	cl.expect(wire.TypeStarted, nil)
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 5; i++ {
		cl.sendIn("data\n")
	}
	r := cl.collect()
	n := 0
	for _, m := range r.msgs {
		if m == wire.TypeStdinClosed {
			n++
		}
	}
	if n != 1 || code(r.exit) != "0" {
		t.Fatalf("stdinClosed %d times, msgs %v, exit %s", n, r.msgs, code(r.exit))
	}
}

// Input that keeps coming after the command ended (`yes | axo exec … head -c 10`) must
// not make the agent close under the host before it has read the exit: a host whose
// write fails (EPIPE) may drop what it had not read yet.
func TestInputAfterExitLeavesTheReplyReadable(t *testing.T) {
	a := shared(t)
	for i := 0; i < 20; i++ {
		cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "head -c 10 >/dev/null; exit 4"), Stdin: true})
		cl.expect(wire.TypeStarted, nil)
		writeErr := make(chan error, 1)
		stop := make(chan struct{})
		go func() {
			chunk := wire.AppendFrame(nil, wire.KindIn, bytes.Repeat([]byte("y\n"), 4096))
			for {
				select {
				case <-stop:
					writeErr <- nil
					return
				default:
				}
				if _, err := cl.c.Write(chunk); err != nil {
					writeErr <- err
					return
				}
			}
		}()
		r := cl.collect()
		// The agent lingers for the host to close; the host's writes go on meanwhile.
		time.Sleep(100 * time.Millisecond)
		close(stop)
		err := <-writeErr
		cl.close()
		if code(r.exit) != "4" || err != nil {
			t.Fatalf("run %d: exit %s, host write error %v", i, code(r.exit), err)
		}
	}
}

func TestCommandNotFound(t *testing.T) {
	a := shared(t)
	st, r := a.exec(t, wire.Start{Argv: argv("axo-no-such-command", "x")})
	if st == nil || r.stderr.String() != "axo-agent: axo-no-such-command: command not found\n" || code(r.exit) != "127" {
		t.Fatalf("err %q exit %s", r.stderr.String(), code(r.exit))
	}
	// Found but not executable: 126.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\n"), 0o644)
	_, r = a.exec(t, wire.Start{Argv: argv("noexec"), Env: map[string]string{"PATH": dir}})
	if code(r.exit) != "126" || !strings.Contains(r.stderr.String(), "noexec: Permission denied") {
		t.Fatalf("err %q exit %s", r.stderr.String(), code(r.exit))
	}
	// A path that does not exist: 127 from exec.
	_, r = a.exec(t, wire.Start{Argv: argv("/nonexistent/bin")})
	if code(r.exit) != "127" || !strings.Contains(r.stderr.String(), "No such file or directory") {
		t.Fatalf("err %q exit %s", r.stderr.String(), code(r.exit))
	}
	// A directory: 126.
	_, r = a.exec(t, wire.Start{Argv: argv(dir)})
	if code(r.exit) != "126" {
		t.Fatalf("err %q exit %s", r.stderr.String(), code(r.exit))
	}
}

func TestBadRequests(t *testing.T) {
	a := shared(t)
	for _, tc := range []struct {
		name string
		req  wire.Start
		code string
	}{
		{"no argv", wire.Start{}, wire.CodeInvalid},
		{"relative cwd", wire.Start{Argv: argv("true"), Cwd: "tmp"}, wire.CodeInvalid},
		{"missing cwd", wire.Start{Argv: argv("true"), Cwd: "/nonexistent/dir"}, wire.CodeInvalid},
		{"unknown user", wire.Start{Argv: argv("true"), User: "axo-no-such-user"}, wire.CodeInvalid},
		{"bad id", wire.Start{Argv: argv("true"), ID: "a b"}, wire.CodeInvalid},
		{"small ring", wire.Start{Argv: argv("true"), RingBytes: 100}, wire.CodeInvalid},
		{"NUL in argv", wire.Start{Argv: argv("true", "a\x00b")}, wire.CodeInvalid},
		{"bad env", wire.Start{Argv: argv("true"), Env: map[string]string{"A=B": "c"}}, wire.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, r := a.exec(t, tc.req)
			if st != nil || r.err == nil || r.err.Code != tc.code {
				t.Fatalf("started %+v, result %+v", st, r.err)
			}
		})
	}
	// A duplicate id is a conflict while the first is known.
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sleep", "5"), ID: "dup-1"})
	defer cl.close()
	cl.expect(wire.TypeStarted, nil)
	if _, r := a.exec(t, wire.Start{Argv: argv("true"), ID: "dup-1"}); r.err == nil || r.err.Code != wire.CodeConflict {
		t.Fatalf("duplicate: %+v", r.err)
	}
	// Unknown and misplaced request types.
	c2 := a.dial(t, wire.Simple{Type: "frobnicate"})
	c2.expect(wire.TypeError, &wire.Error{})
	c2.close()
	var e wire.Error
	c3 := a.dial(t, wire.Simple{Type: wire.TypeExit})
	c3.expect(wire.TypeError, &e)
	c3.close()
	if e.Code != wire.CodeProtocol {
		t.Fatalf("misplaced: %+v", e)
	}
	c4 := a.dial(t, wire.IDRequest{Type: wire.TypeKill, ID: "axo-nope"})
	c4.expect(wire.TypeError, &e)
	c4.close()
	if e.Code != wire.CodeNotFound {
		t.Fatalf("kill unknown: %+v", e)
	}
}

func TestTimeoutKillsTree(t *testing.T) {
	a := shared(t)
	for _, tc := range []struct {
		name  string
		shell string
		left  []string
	}{
		{"setsid", "setsid sleep 3001 & sleep 30", argv("sleep", "3001")},
		{"env -i", `env -i sh -c "sleep 3002 &"; sleep 30`, argv("sleep", "3002")},
		{"double fork", `(sh -c "sleep 3003 &" &); sleep 30`, argv("sleep", "3003")},
		{"nohup", `nohup sleep 3004 >/dev/null 2>&1 & sleep 30`, argv("sleep", "3004")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Now()
			_, r := a.exec(t, wire.Start{Argv: argv("sh", "-c", tc.shell), TimeoutMs: 400})
			if !r.exit.TimedOut || r.exit.Killed || code(r.exit) != "SIGKILL" {
				t.Fatalf("exit %+v (%s)", r.exit, code(r.exit))
			}
			if d := time.Since(t0); d > 3*time.Second {
				t.Fatalf("took %v", d)
			}
			waitGone(t, 500*time.Millisecond, tc.left...)
		})
	}
}

func TestNormalExitLeavesDetached(t *testing.T) {
	a := shared(t)
	defer killAll("sleep", "3010")
	defer killAll("sleep", "3011")
	// Detached with its output elsewhere: the stream ends at EOF at once.
	t0 := time.Now()
	_, r := a.exec(t, wire.Start{Argv: argv("sh", "-c", "nohup sleep 3010 >/dev/null 2>&1 & echo started")})
	if code(r.exit) != "0" || r.stdout.String() != "started\n" {
		t.Fatalf("exit %s out %q", code(r.exit), r.stdout.String())
	}
	// Background child holding the pipe: the stream ends after a short silence.
	_, r = a.exec(t, wire.Start{Argv: argv("sh", "-c", "sleep 3011 & echo bg")})
	if code(r.exit) != "0" || r.stdout.String() != "bg\n" {
		t.Fatalf("exit %s out %q", code(r.exit), r.stdout.String())
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	for _, n := range []string{"3010", "3011"} {
		if len(procsWithArgs("sleep", n)) != 1 {
			t.Fatalf("sleep %s was not left running", n)
		}
	}
}

func TestDataBeforeExitNotLost(t *testing.T) {
	a := shared(t)
	// A burst far bigger than a pipe, written right before exit.
	_, r := a.exec(t, wire.Start{Argv: argv("sh", "-c", "head -c 3000000 /dev/zero; echo; echo done >&2"), RingBytes: 64 << 10})
	if r.stdout.Len() != 3000001 || r.stderr.String() != "done\n" || code(r.exit) != "0" {
		t.Fatalf("got %d bytes, err %q, exit %s", r.stdout.Len(), r.stderr.String(), code(r.exit))
	}
}

func TestConnectionCloseKillsTree(t *testing.T) {
	a := shared(t)
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "setsid sleep 3020 & sleep 3021")})
	cl.expect(wire.TypeStarted, nil)
	deadline := time.Now().Add(2 * time.Second)
	for len(procsWithArgs("sleep", "3020")) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cl.close()
	waitGone(t, 2*time.Second, "sleep", "3020")
	waitGone(t, 500*time.Millisecond, "sleep", "3021")
}

func TestInStreamKillAndSignal(t *testing.T) {
	a := shared(t)
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "trap 'echo got-int' INT; while :; do sleep 0.01; done")})
	defer cl.close()
	cl.expect(wire.TypeStarted, nil)
	time.Sleep(100 * time.Millisecond)
	cl.send(wire.Signal{Type: wire.TypeSignal, Signal: "INT"})
	// Wait for the trap's output, then kill.
	var out bytes.Buffer
	for !strings.Contains(out.String(), "got-int") {
		f := cl.next()
		if f.Kind == wire.KindOut {
			out.Write(f.Payload)
		}
	}
	cl.send(wire.Simple{Type: wire.TypeKill})
	r := cl.collect()
	if !r.exit.Killed || r.exit.TimedOut || code(r.exit) != "SIGKILL" {
		t.Fatalf("exit %+v", r.exit)
	}
}

func TestKeepTaskReattach(t *testing.T) {
	a := shared(t)
	id := fmt.Sprintf("task-%d", time.Now().UnixNano())
	// 2000 numbered lines, slowly, then a pause and a tail.
	script := `i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); [ $((i % 200)) -eq 0 ] && sleep 0.02; done; echo tail >&2`
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", script), Keep: true, ID: id, RingBytes: 1 << 20})
	cl.expect(wire.TypeStarted, nil)
	var got bytes.Buffer
	for got.Len() < 100 {
		f := cl.next()
		if f.Kind == wire.KindOut {
			got.Write(f.Payload)
		}
	}
	cl.close() // the task must survive this

	var stderr bytes.Buffer
	var exit *wire.Exit
	for exit == nil {
		c := a.dial(t, wire.Attach{Type: wire.TypeAttach, ID: id, Stdout: int64(got.Len()), Stderr: int64(stderr.Len()), Follow: true})
		var at wire.Attached
		c.expect(wire.TypeAttached, &at)
		if at.Stdout != int64(got.Len()) {
			t.Fatalf("attached at %d, asked %d", at.Stdout, got.Len())
		}
		// Read a few frames, then drop the connection again.
		for i := 0; i < 3 && exit == nil; i++ {
			f := c.next()
			switch {
			case f.Kind == wire.KindOut:
				got.Write(f.Payload)
			case f.Kind == wire.KindErr:
				stderr.Write(f.Payload)
			case f.Type == wire.TypeExit:
				exit = &wire.Exit{}
				f.Decode(exit)
			case f.Type == wire.TypeLost:
				t.Fatalf("lost: %s", f.Payload)
			}
		}
		c.close()
	}
	var want bytes.Buffer
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if got.String() != want.String() || stderr.String() != "tail\n" || code(exit) != "0" {
		t.Fatalf("got %d bytes (want %d), stderr %q, exit %s", got.Len(), want.Len(), stderr.String(), code(exit))
	}
	if exit.Stdout != int64(want.Len()) {
		t.Fatalf("exit totals %+v", exit)
	}
	// Listed until forgotten.
	c := a.dial(t, wire.Simple{Type: wire.TypeList})
	var list wire.List
	c.expect(wire.TypeList, &list)
	c.close()
	found := false
	for _, p := range list.Procs {
		if p.ID == id {
			found = true
			if p.Running || p.EndedAt == nil || p.ExitCode == nil || !p.Keep || p.Stdout.Total != int64(want.Len()) {
				t.Fatalf("list entry %+v", p)
			}
		}
	}
	if !found {
		t.Fatal("finished keep task not listed")
	}
	c = a.dial(t, wire.IDRequest{Type: wire.TypeForget, ID: id})
	c.expect(wire.TypeOK, nil)
	c.close()
	c = a.dial(t, wire.Attach{Type: wire.TypeAttach, ID: id})
	var e wire.Error
	c.expect(wire.TypeError, &e)
	c.close()
	if e.Code != wire.CodeNotFound {
		t.Fatalf("after forget: %+v", e)
	}
}

func TestKeepTaskOverflowLost(t *testing.T) {
	a := shared(t)
	id := fmt.Sprintf("flood-%d", time.Now().UnixNano())
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "head -c 20000 /dev/zero | tr '\\0' a; sleep 0.3; printf 'z'"),
		Keep: true, ID: id, RingBytes: 4096})
	cl.expect(wire.TypeStarted, nil)
	cl.close()
	time.Sleep(150 * time.Millisecond) // the flood is written with nobody attached
	// Non-following read: what is held now, then end.
	c := a.dial(t, wire.Attach{Type: wire.TypeAttach, ID: id})
	var at wire.Attached
	c.expect(wire.TypeAttached, &at)
	r := c.collect()
	c.close()
	if len(r.lost) != 1 || r.lost[0].From != 0 || r.lost[0].To != 20000-4096 || r.lost[0].Stream != "stdout" {
		t.Fatalf("lost %+v", r.lost)
	}
	if at.Stdout != 20000-4096 || r.stdout.Len() != 4096 || r.end == nil || r.end.Stdout != 20000 {
		t.Fatalf("attached %+v, %d bytes, end %+v", at, r.stdout.Len(), r.end)
	}
	// Continue from the end offset with follow: just the tail, exactly once.
	c = a.dial(t, wire.Attach{Type: wire.TypeAttach, ID: id, Stdout: r.end.Stdout, Stderr: r.end.Stderr, Follow: true})
	c.expect(wire.TypeAttached, nil)
	r = c.collect()
	c.close()
	if r.stdout.String() != "z" || len(r.lost) != 0 || code(r.exit) != "0" || r.exit.Stdout != 20001 {
		t.Fatalf("tail %q lost %v exit %+v", r.stdout.String(), r.lost, r.exit)
	}
	c = a.dial(t, wire.Simple{Type: wire.TypeList})
	var list wire.List
	c.expect(wire.TypeList, &list)
	c.close()
	for _, p := range list.Procs {
		if p.ID == id && (p.Stdout.Dropped != 20001-4096 || p.Stdout.Total != 20001) {
			t.Fatalf("stats %+v", p.Stdout)
		}
	}
	c = a.dial(t, wire.IDRequest{Type: wire.TypeForget, ID: id})
	c.expect(wire.TypeOK, nil)
	c.close()
}

func TestKillRequestAndSignalRequest(t *testing.T) {
	a := shared(t)
	id := fmt.Sprintf("k-%d", time.Now().UnixNano())
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "setsid sleep 3030 & sleep 3031"), Keep: true, ID: id})
	cl.expect(wire.TypeStarted, nil)
	cl.close()
	c := a.dial(t, wire.Signal{Type: wire.TypeSignal, ID: id, Signal: "BOGUS"})
	var e wire.Error
	c.expect(wire.TypeError, &e)
	c.close()
	c = a.dial(t, wire.Signal{Type: wire.TypeSignal, ID: id, Signal: "CONT"})
	c.expect(wire.TypeOK, nil)
	c.close()
	c = a.dial(t, wire.IDRequest{Type: wire.TypeForget, ID: id})
	c.expect(wire.TypeError, &e)
	c.close()
	if e.Code != wire.CodeConflict {
		t.Fatalf("forget running: %+v", e)
	}
	c = a.dial(t, wire.IDRequest{Type: wire.TypeKill, ID: id})
	var exit wire.Exit
	c.expect(wire.TypeExit, &exit)
	c.close()
	if !exit.Killed || code(&exit) != "SIGKILL" {
		t.Fatalf("exit %+v", exit)
	}
	waitGone(t, 500*time.Millisecond, "sleep", "3030")
	c = a.dial(t, wire.IDRequest{Type: wire.TypeForget, ID: id})
	c.expect(wire.TypeOK, nil)
	c.close()
}

func TestAuthFailure(t *testing.T) {
	a := shared(t)
	cl := dialRaw(t, a.sock)
	defer cl.close()
	bad := wire.ComputeMAC([]byte(strings.Repeat("0", 64)), cl.hello.Nonce)
	b, _ := wire.EncodeMessage(wire.Auth{Type: wire.TypeAuth, Protocol: 1, MAC: bad})
	cl.c.Write(b)
	var e wire.Error
	cl.expect(wire.TypeError, &e)
	if e.Code != wire.CodeAuthFailed {
		t.Fatalf("%+v", e)
	}
	if _, err := cl.fr.Next(); err == nil {
		t.Fatal("connection not closed after AUTH_FAILED")
	}
	if len(cl.hello.Nonce) != 64 || cl.hello.Protocol.Min != 1 || cl.hello.Protocol.Max != 1 {
		t.Fatalf("hello %+v", cl.hello)
	}
	// A replayed MAC from another connection fails too (fresh nonce each time).
	c1 := dialRaw(t, a.sock)
	c2 := dialRaw(t, a.sock)
	defer c1.close()
	defer c2.close()
	b, _ = wire.EncodeMessage(wire.Auth{Type: wire.TypeAuth, Protocol: 1, MAC: wire.ComputeMAC(a.token, c1.hello.Nonce)})
	c2.c.Write(b)
	c2.expect(wire.TypeError, &e)
	if e.Code != wire.CodeAuthFailed {
		t.Fatalf("replay: %+v", e)
	}
}

func TestGarbageAndOversized(t *testing.T) {
	a := shared(t)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"unknown kind", []byte{9, 0, 0, 0, 0}},
		{"oversized before auth", []byte{1, 0, 0x20, 0, 0}},
		{"not json", wire.AppendFrame(nil, wire.KindMsg, []byte("hello"))},
		{"data before auth", wire.AppendFrame(nil, wire.KindIn, []byte("x"))},
		{"ascii garbage", []byte("GET / HTTP/1.1\r\n\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := dialRaw(t, a.sock)
			defer cl.close()
			cl.c.Write(tc.data)
			for {
				f, err := cl.fr.Next()
				if err != nil {
					break // closed: good
				}
				if f.Type != wire.TypeError {
					t.Fatalf("got %s", f.Payload)
				}
			}
		})
	}
	// Oversized after auth.
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("cat"), Stdin: true})
	cl.expect(wire.TypeStarted, nil)
	cl.c.Write([]byte{2, 0, 0x20, 0, 0})
	r := cl.collect()
	cl.close()
	if r.err == nil || r.err.Code != wire.CodeProtocol {
		t.Fatalf("oversized IN: %+v", r)
	}
	// The agent keeps serving.
	_, r = a.exec(t, wire.Start{Argv: argv("echo", "still here")})
	if r.stdout.String() != "still here\n" {
		t.Fatalf("%q", r.stdout.String())
	}
}

func TestPTY(t *testing.T) {
	a := shared(t)
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx")
	}
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", `tty; echo "term=$TERM"; stty size; read x; stty size`),
		PTY: &wire.PTYSize{Cols: 80, Rows: 24}, Stdin: true})
	defer cl.close()
	cl.expect(wire.TypeStarted, nil)
	var out bytes.Buffer
	for !strings.Contains(out.String(), "24 80") {
		f := cl.next()
		if f.Kind == wire.KindErr {
			t.Fatal("stderr frame on a pty")
		}
		if f.Kind == wire.KindOut {
			out.Write(f.Payload)
		}
	}
	if !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "term=xterm") {
		t.Fatalf("output %q", out.String())
	}
	cl.send(wire.Resize{Type: wire.TypeResize, Cols: 120, Rows: 40})
	cl.sendIn("\n")
	r := cl.collect()
	if !strings.Contains(r.stdout.String(), "40 120") || code(r.exit) != "0" || r.stderr.Len() != 0 {
		t.Fatalf("after resize %q exit %s", r.stdout.String(), code(r.exit))
	}
}

func TestUserSwitch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching users needs root")
	}
	a := shared(t)
	_, r := a.exec(t, wire.Start{Argv: argv("sh", "-c", "id -u; id -g; echo $HOME $USER"), User: "nobody", Cwd: "/"})
	lines := strings.Split(r.stdout.String(), "\n")
	if len(lines) < 3 || lines[0] != "65534" || code(r.exit) != "0" || !strings.HasSuffix(lines[2], "nobody") {
		t.Fatalf("out %q err %q exit %s", r.stdout.String(), r.stderr.String(), code(r.exit))
	}
	_, r = a.exec(t, wire.Start{Argv: argv("id", "-u"), User: "4242:4243", Cwd: "/"})
	if r.stdout.String() != "4242\n" {
		t.Fatalf("unknown uid: %q %q", r.stdout.String(), r.stderr.String())
	}
}

func TestConcurrentExecs(t *testing.T) {
	a := shared(t)
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, r := a.exec(t, wire.Start{Argv: argv("sh", "-c", fmt.Sprintf("echo %d", i))})
			if r.stdout.String() != fmt.Sprintf("%d\n", i) || code(r.exit) != "0" {
				errs <- fmt.Sprintf("%d: out %q exit %s err %+v", i, r.stdout.String(), code(r.exit), r.err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestPingList(t *testing.T) {
	a := shared(t)
	c := a.dial(t, wire.Simple{Type: wire.TypePing})
	var p wire.Pong
	c.expect(wire.TypePong, &p)
	c.close()
	if p.Protocol != 1 || p.Agent == "" || p.UptimeMs < 0 {
		t.Fatalf("%+v", p)
	}
}

func TestNonFollowHoldsIncompleteUTF8(t *testing.T) {
	a := shared(t)
	id := fmt.Sprintf("u-%d", time.Now().UnixNano())
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", `printf 'ab\342\202'; sleep 0.3; printf '\254cd'`), Keep: true, ID: id})
	cl.expect(wire.TypeStarted, nil)
	time.Sleep(100 * time.Millisecond)
	cl.close()
	c := a.dial(t, wire.Attach{Type: wire.TypeAttach, ID: id})
	c.expect(wire.TypeAttached, nil)
	r := c.collect()
	c.close()
	if r.stdout.String() != "ab" || r.end == nil || r.end.Stdout != 2 {
		t.Fatalf("first read %q end %+v", r.stdout.String(), r.end)
	}
	c = a.dial(t, wire.Attach{Type: wire.TypeAttach, ID: id, Stdout: 2, Follow: true})
	c.expect(wire.TypeAttached, nil)
	r = c.collect()
	c.close()
	if r.stdout.String() != "€cd" {
		t.Fatalf("second read %q", r.stdout.String())
	}
	c = a.dial(t, wire.IDRequest{Type: wire.TypeForget, ID: id})
	c.expect(wire.TypeOK, nil)
	c.close()
}

func TestStdinRequest(t *testing.T) {
	a := shared(t)
	id := fmt.Sprintf("s-%d", time.Now().UnixNano())
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("cat"), Keep: true, ID: id, Stdin: true})
	cl.expect(wire.TypeStarted, nil)
	cl.close()
	c := a.dial(t, wire.IDRequest{Type: wire.TypeStdin, ID: id})
	c.sendIn("via stdin request\n")
	c.sendIn("")
	c.c.CloseWrite()
	c.expect(wire.TypeOK, nil)
	c.close()
	c = a.dial(t, wire.Attach{Type: wire.TypeAttach, ID: id, Follow: true})
	c.expect(wire.TypeAttached, nil)
	r := c.collect()
	c.close()
	if r.stdout.String() != "via stdin request\n" || code(r.exit) != "0" {
		t.Fatalf("%q %s", r.stdout.String(), code(r.exit))
	}
	c = a.dial(t, wire.IDRequest{Type: wire.TypeForget, ID: id})
	c.expect(wire.TypeOK, nil)
	c.close()
}

func TestStaleSocketAndShutdown(t *testing.T) {
	a := newAgent(t)
	_, r := a.exec(t, wire.Start{Argv: argv("true")})
	if code(r.exit) != "0" {
		t.Fatal(code(r.exit))
	}
	// SIGTERM stops it fast and its running commands die with it.
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sleep", "3040"), Keep: true})
	cl.expect(wire.TypeStarted, nil)
	t0 := time.Now()
	a.cmd.Process.Signal(os.Interrupt) // ignored
	a.cmd.Process.Signal(syscallTERM)
	<-a.exited
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("stop took %v", d)
	}
	waitGone(t, time.Second, "sleep", "3040")
	// A non-socket at the socket path is refused; a stale socket is replaced.
	os.WriteFile(a.sock, []byte("x"), 0o600)
	if _, err := startAgent(a.dir); err == nil {
		t.Fatal("agent replaced a regular file at its socket path")
	}
	os.Remove(a.sock)
}

func TestCommandsInheritNothing(t *testing.T) {
	a := shared(t)
	// Busy the agent with other connections and processes so there is something to leak.
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sleep", "5"), Stdin: true})
	defer cl.close()
	cl.expect(wire.TypeStarted, nil)
	_, r := a.exec(t, wire.Start{Argv: argv("ls", "/proc/self/fd"), Stdin: true})
	if r.stdout.String() != "0\n1\n2\n3\n" { // 3 is ls's own directory handle
		t.Fatalf("descriptors of a command: %q", r.stdout.String())
	}
	_, r = a.exec(t, wire.Start{Argv: argv("ls", "-1", "/proc/self/fd"), PTY: &wire.PTYSize{Cols: 80, Rows: 24}})
	if strings.TrimSpace(strings.ReplaceAll(r.stdout.String(), "\r\n", " ")) != "0 1 2 3" {
		t.Fatalf("descriptors of a terminal command: %q", r.stdout.String())
	}
	// Default signal dispositions and an empty signal mask, whatever the agent catches.
	_, r = a.exec(t, wire.Start{Argv: argv("grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status")})
	if r.stdout.String() != "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n" {
		t.Fatalf("signals of a command: %q", r.stdout.String())
	}
}

func TestKeepalive(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 5 s")
	}
	t.Parallel()
	a := shared(t)
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sleep", "6.5")})
	defer cl.close()
	cl.expect(wire.TypeStarted, nil)
	r := cl.collect()
	if len(r.msgs) != 2 || r.msgs[0] != wire.TypeKeepalive || code(r.exit) != "0" {
		t.Fatalf("messages %v", r.msgs)
	}
}

// startInShim starts `sh -c script` (which must print "ready" first), waits for that line,
// and returns the connection and the pid of the command's shim.
func startInShim(t *testing.T, a *agent, script string, stdin bool) (*client, int) {
	t.Helper()
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", script), Stdin: stdin})
	var st wire.Started
	cl.expect(wire.TypeStarted, &st)
	if f := cl.next(); string(f.Payload) != "ready\n" {
		t.Fatalf("got %q", f.Payload)
	}
	shimPID := parentOf(t, st.PID)
	if shimPID == 0 || shimPID == a.cmd.Process.Pid {
		t.Fatalf("command's parent is %d (agent %d): not a shim", shimPID, a.cmd.Process.Pid)
	}
	return cl, shimPID
}

func TestShimDeathEndsProcessAsKilled(t *testing.T) {
	a := newAgent(t)
	cl, ppid := startInShim(t, a, "echo ready; sleep 3050", false)
	defer cl.close()
	if err := syscall.Kill(ppid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := cl.collect()
	if code(r.exit) != "SIGKILL" {
		t.Fatalf("exit %+v out %q", r.exit, r.stdout.String())
	}
	waitGone(t, time.Second, "sleep", "3050")
	// The pool is refilled and the agent goes on.
	for i := 0; i < 5; i++ {
		if _, r := a.exec(t, wire.Start{Argv: argv("true")}); code(r.exit) != "0" {
			t.Fatal(code(r.exit))
		}
	}
}

func parentOf(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndexByte(b, ')')
	var state string
	var ppid int
	fmt.Sscan(string(b[i+1:]), &state, &ppid)
	return ppid
}

func TestPreAuthFrameLimit(t *testing.T) {
	a := shared(t)
	cl := dialRaw(t, a.sock)
	defer cl.close()
	big := wire.Auth{Type: wire.TypeAuth, Protocol: 1, MAC: strings.Repeat("a", 5000)}
	b, _ := wire.EncodeMessage(big)
	cl.c.Write(b)
	var e wire.Error
	cl.expect(wire.TypeError, &e)
	if e.Code != wire.CodeProtocol {
		t.Fatalf("%+v", e)
	}
}

func TestOutputLimitSendsAtMostTheCapAndNeverHoldsTheCommand(t *testing.T) {
	a := shared(t)
	// 8 MiB per stream against a 64 KiB ring: were the dropped bytes not read, the command
	// would block on its full ring and never exit.
	_, r := a.exec(t, wire.Start{Argv: argv("sh", "-c", "head -c 8388608 /dev/zero; head -c 8388608 /dev/zero >&2"), OutputLimit: 1001})
	if r.stdout.Len() != 1001 || r.stderr.Len() != 1001 || code(r.exit) != "0" {
		t.Fatalf("stdout %d stderr %d exit %s", r.stdout.Len(), r.stderr.Len(), code(r.exit))
	}
	if r.exit.Stdout != 8388608 || r.exit.Stderr != 8388608 {
		t.Fatalf("exit totals %+v", r.exit)
	}
}

func TestAttachWaitSendsOnlyTheExit(t *testing.T) {
	a := shared(t)
	id := fmt.Sprintf("wait-%d", time.Now().UnixNano())
	cl := a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "sleep 0.3; head -c 4000000 /dev/zero; exit 5"), Keep: true, ID: id})
	cl.expect(wire.TypeStarted, nil)
	cl.close()
	c := a.dial(t, wire.Attach{Type: wire.TypeAttach, ID: id, Follow: true, Wait: true})
	c.expect(wire.TypeAttached, nil)
	f := c.next()
	if f.Type != wire.TypeExit {
		t.Fatalf("wait answered kind %d type %q before the exit", f.Kind, f.Type)
	}
	var exit wire.Exit
	f.Decode(&exit)
	if code(&exit) != "5" || exit.Stdout != 4000000 {
		t.Fatalf("exit %+v", exit)
	}
}

// A stray signal from inside (say root's `kill -TERM -1`) does not take a command's shim,
// and so the command's supervision, down.
func TestShimShrugsOffStraySignals(t *testing.T) {
	a := newAgent(t)
	// The command waits for its input, so it outlives the signals whatever the timing.
	cl, shimPID := startInShim(t, a, "echo ready; read x; echo done", true)
	defer cl.close()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM} {
		if err := syscall.Kill(shimPID, sig); err != nil {
			t.Fatal(err)
		}
	}
	// A signal's default action (death) runs as soon as the shim is scheduled: give it the
	// chance, then see the shim still there before the command ends.
	time.Sleep(100 * time.Millisecond)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", shimPID)); err != nil || bytes.Contains(b, []byte(") Z ")) {
		t.Fatalf("the shim died (%v)", err)
	}
	cl.sendIn("go\n")
	cl.sendIn("")
	r := cl.collect()
	if code(r.exit) != "0" || r.stdout.String() != "done\n" {
		t.Fatalf("exit %s, out %q", code(r.exit), r.stdout.String())
	}
}

// idleShims counts the agent's children that are shims (its only children when no
// command runs).
func idleShims(t *testing.T, a *agent) int {
	t.Helper()
	n := 0
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", a.cmd.Process.Pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", a.cmd.Process.Pid, task.Name()))
		n += len(strings.Fields(string(b)))
	}
	return n
}

// A burst of concurrent commands leaves its shims warm for the next burst, within the
// --burst-shims cap, and the pool shrinks back to --max-shims once no burst needs them.
func TestBurstGrowsThePoolAndItShrinks(t *testing.T) {
	a := newAgentWith(t, "--max-shims", "2", "--burst-shims", "12", "--shim-trim", "1s")
	// Twenty commands that all run at once, whatever the machine's pace: each waits for
	// its input until every one has started.
	burst := func() {
		conns := make([]*client, 20)
		for i := range conns {
			conns[i] = a.dial(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "read x"), Stdin: true})
			conns[i].expect(wire.TypeStarted, nil)
		}
		for _, cl := range conns {
			cl.sendIn("go\n")
			cl.sendIn("")
		}
		for _, cl := range conns {
			if r := cl.collect(); code(r.exit) != "0" {
				t.Errorf("exit %s", code(r.exit))
			}
			cl.close()
		}
	}
	// waitFor polls until the pool holds want shims.
	waitFor := func(want int, within time.Duration, what string) {
		deadline := time.Now().Add(within)
		for idleShims(t, a) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s the pool holds %d shims, want %d", what, idleShims(t, a), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	burst()
	waitFor(12, 800*time.Millisecond, "after a burst of 20") // the cap, until the second trim
	waitFor(2, 5*time.Second, "long after the burst")
	burst() // and it grows again
	waitFor(12, 800*time.Millisecond, "after a second burst")
}
