package main

import (
	"errors"
	"io"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

// dialReuse connects and authenticates asking to reuse the connection, with req.
func (a *agent) dialReuse(t testing.TB, req any) *client {
	t.Helper()
	return a.dialAuth(t, req, true)
}

// expectEOF checks that the agent ends the connection (without another frame).
func (cl *client) expectEOF() {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := cl.fr.Next()
	if !errors.Is(err, io.EOF) {
		cl.t.Fatalf("want the agent to end the connection, got frame %q (%s), err %v", f.Type, f.Payload, err)
	}
}

func TestReusedConnectionCarriesRequestAfterRequest(t *testing.T) {
	a := shared(t)
	probe := dialRaw(t, a.sock)
	found := false
	for _, f := range probe.hello.Features {
		found = found || f == "reuse"
	}
	probe.close()
	if !found {
		t.Fatal(`hello does not announce "reuse"`)
	}
	cl := a.dialReuse(t, wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "echo one; echo two >&2; exit 3")})
	defer cl.close()
	for i := 0; i < 3; i++ {
		if i > 0 {
			cl.send(wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "echo one; echo two >&2; exit 3")})
		}
		cl.expect(wire.TypeStarted, nil)
		r := cl.collect()
		if code(r.exit) != "3" || r.stdout.String() != "one\n" || r.stderr.String() != "two\n" {
			t.Fatalf("run %d: exit %s out %q err %q", i, code(r.exit), r.stdout.String(), r.stderr.String())
		}
		cl.send(wire.Simple{Type: wire.TypePing})
		cl.expect(wire.TypePong, nil)
	}
	// A bad request is answered and the connection carries on.
	cl.send(wire.Start{Type: wire.TypeStart, Argv: argv("true"), Cwd: "relative"})
	cl.expect(wire.TypeError, nil)
	cl.send(wire.Simple{Type: wire.TypeList})
	cl.expect(wire.TypeList, nil)
	// The host's end of input ends it.
	cl.c.CloseWrite()
	cl.expectEOF()
}

func TestReuseEndsAfterAStreamTheHostSpokeOn(t *testing.T) {
	a := shared(t)
	// Input on the stream (stdin asked for): the agent closes after the exit as before, so
	// nothing the host sent before it saw the exit is taken for a request.
	cl := a.dialReuse(t, wire.Start{Type: wire.TypeStart, Argv: argv("cat"), Stdin: true})
	defer cl.close()
	cl.expect(wire.TypeStarted, nil)
	cl.sendIn("hi\n")
	cl.sendIn("")
	if r := cl.collect(); code(r.exit) != "0" || r.stdout.String() != "hi\n" {
		t.Fatalf("exit %s out %q", code(r.exit), r.stdout.String())
	}
	cl.expectEOF()

	// An in-stream message: likewise.
	cl2 := a.dialReuse(t, wire.Start{Type: wire.TypeStart, Argv: argv("sleep", "30")})
	defer cl2.close()
	cl2.expect(wire.TypeStarted, nil)
	cl2.send(wire.Simple{Type: wire.TypeKill})
	if r := cl2.collect(); r.exit == nil || !r.exit.Killed {
		t.Fatalf("not killed: %+v", r.exit)
	}
	cl2.expectEOF()
}

func TestReusedConnectionClosedByTheHostKillsItsCommand(t *testing.T) {
	a := shared(t)
	cl := a.dialReuse(t, wire.Simple{Type: wire.TypePing})
	cl.expect(wire.TypePong, nil)
	cl.send(wire.Start{Type: wire.TypeStart, Argv: argv("sh", "-c", "sleep 301")})
	cl.expect(wire.TypeStarted, nil)
	cl.close()
	waitGone(t, 5*time.Second, "sleep", "301")
}

func TestWithoutReuseTheAgentClosesAfterTheAnswer(t *testing.T) {
	a := shared(t)
	cl := a.dial(t, wire.Simple{Type: wire.TypePing})
	defer cl.close()
	cl.expect(wire.TypePong, nil)
	cl.expectEOF()
}
