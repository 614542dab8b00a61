package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"axo.dev/agent/internal/bufpool"
	"axo.dev/agent/internal/files"
	"axo.dev/agent/internal/proc"
	"axo.dev/agent/internal/ring"
	"axo.dev/agent/internal/wire"
)

// conn is one connection. Writes are serialised by wmu; a failed write marks the
// connection broken (the host is gone) and closes it, which ends every loop on it.
type conn struct {
	s        *Server
	c        *net.UnixConn
	fr       *wire.Reader
	wmu      sync.Mutex
	hdr      [wire.HeaderLen]byte // sendData's header (guarded by wmu)
	vec      [2][]byte            // header and payload, written as one (guarded by wmu)
	bufs     net.Buffers          // over vec; a field so that writing it does not allocate
	broken   atomic.Bool
	done     bool // our side is shut for writing (guarded by wmu)
	lastSent atomic.Int64
	reuse    bool        // the host asked to send more requests after each answer
	pending  *wire.Frame // the next request, read while the last one's stream ended
}

func newConn(s *Server, c *net.UnixConn) *conn {
	return &conn{s: s, c: c, fr: wire.NewReader(c)}
}

var errBroken = errors.New("connection broken")

// errDone is what a send returns once the reply is complete (closeWrite).
var errDone = errors.New("connection closed for writing")

// write sends one frame: head, followed by payload when that is not empty (one writev, so
// a payload is never copied to sit behind its header). The caller holds wmu.
func (c *conn) write(head, payload []byte) error {
	if c.broken.Load() {
		return errBroken
	}
	if c.done {
		// A late message (stdinClosed for input that arrived after the exit) must not
		// close the connection: the host may not have read our last reply yet.
		return errDone
	}
	var err error
	if len(payload) == 0 {
		_, err = c.c.Write(head)
	} else {
		c.vec = [2][]byte{head, payload}
		c.bufs = c.vec[:]
		_, err = c.bufs.WriteTo(c.c) // writev; consumes bufs
	}
	if err != nil {
		c.broken.Store(true)
		c.c.Close()
		return fmt.Errorf("%w: %v", errBroken, err)
	}
	c.lastSent.Store(time.Now().UnixNano())
	return nil
}

func (c *conn) send(msg any) error {
	frame, err := wire.EncodeMessage(msg)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.write(frame, nil)
}

func (c *conn) sendData(kind byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.write(wire.AppendHeader(c.hdr[:0], kind, len(p)), p)
}

func (c *conn) sendError(code, msg string) error {
	return c.send(wire.Error{Type: wire.TypeError, Code: code, Message: msg})
}

func (c *conn) sendErr(err error) error {
	var pe *proc.Error
	if errors.As(err, &pe) {
		return c.sendError(pe.Code, pe.Message)
	}
	return c.sendError(wire.CodeInternal, err.Error())
}

// readError answers a failed read: a protocol error is reported before closing.
func (c *conn) readError(err error) {
	var pe *wire.ProtocolError
	if errors.As(err, &pe) {
		c.sendError(wire.CodeProtocol, pe.Error())
	}
}

// requests are the types a host may send after auth; other known types are misplaced.
var requests = map[string]bool{
	wire.TypeStart: true, wire.TypeAttach: true, wire.TypeList: true, wire.TypeSignal: true,
	wire.TypeKill: true, wire.TypeResize: true, wire.TypeStdin: true, wire.TypeForget: true,
	wire.TypePing: true,
}

var known = map[string]bool{
	wire.TypeHello: true, wire.TypeAuth: true, wire.TypeStarted: true, wire.TypeAttached: true,
	wire.TypeLost: true, wire.TypeEnd: true, wire.TypeExit: true, wire.TypePong: true,
	wire.TypeOK: true, wire.TypeError: true, wire.TypeKeepalive: true, wire.TypeStdinClosed: true,
}

func (c *conn) serve() {
	nonce, err := wire.NewNonce()
	if err != nil {
		c.s.Log("%v", err)
		return
	}
	c.c.SetDeadline(time.Now().Add(AuthTimeout))
	if c.send(wire.Hello{Type: wire.TypeHello, Protocol: wire.VersionRange{Min: wire.ProtocolVersion, Max: wire.ProtocolVersion},
		Agent: c.s.Version, Nonce: nonce, Features: wire.Features}) != nil {
		return
	}
	c.fr.Limit = PreAuthLimit
	f, err := c.fr.Next()
	if err != nil {
		c.readError(err)
		return
	}
	if f.Kind != wire.KindMsg || f.Type != wire.TypeAuth {
		c.sendError(wire.CodeProtocol, "expected auth")
		return
	}
	var auth wire.Auth
	if err := f.Decode(&auth); err != nil {
		c.sendError(wire.CodeProtocol, "bad auth message")
		return
	}
	if auth.Protocol != wire.ProtocolVersion {
		c.sendError(wire.CodeProtocol, fmt.Sprintf("protocol %d is not supported: this agent speaks %d to %d",
			auth.Protocol, wire.ProtocolVersion, wire.ProtocolVersion))
		return
	}
	if !wire.CheckMAC(c.s.Token, nonce, auth.MAC) {
		c.sendError(wire.CodeAuthFailed, "authentication failed")
		return
	}
	c.reuse = auth.Reuse
	c.fr.Limit = wire.MaxPayload
	f, err = c.fr.Next()
	if err != nil {
		c.readError(err)
		return
	}
	c.c.SetDeadline(time.Time{})
	for c.request(f) && c.reuse {
		if f, err = c.nextRequest(); err != nil {
			return
		}
	}
}

// ReuseIdle is how long a connection the host asked to reuse waits for its next request.
const ReuseIdle = 30 * time.Second

// nextRequest returns the host's next request on a reused connection: the one read while
// the last stream ended, or the next frame within ReuseIdle. End of input, the deadline
// and a broken connection end the connection quietly; a malformed frame is reported.
func (c *conn) nextRequest() (wire.Frame, error) {
	if f := c.pending; f != nil {
		c.pending = nil
		return *f, nil
	}
	c.c.SetReadDeadline(time.Now().Add(ReuseIdle))
	f, err := c.fr.Next()
	if err != nil {
		c.readError(err)
		return f, err
	}
	c.c.SetReadDeadline(time.Time{})
	return f, nil
}

// request serves one request and reports whether its answer is complete with nothing
// else pending, so that a host that asked for reuse may send another.
func (c *conn) request(f wire.Frame) bool {
	if f.Kind != wire.KindMsg {
		c.sendError(wire.CodeProtocol, "expected a request message")
		return false
	}
	if f.Type != wire.TypePing {
		c.s.lastActivity.Store(time.Now().UnixNano())
	}
	if files.IsRequest(f.Type) {
		if c.s.Files == nil {
			c.sendError(wire.CodeUnsupported, fmt.Sprintf("this agent does not serve %q", f.Type))
			return false
		}
		c.s.Files.Serve(fileConn{c}, f)
		c.linger()
		return false
	}
	if !requests[f.Type] {
		if known[f.Type] || files.IsAnswer(f.Type) {
			c.sendError(wire.CodeProtocol, fmt.Sprintf("%q is not a request", f.Type))
		} else {
			c.sendError(wire.CodeUnsupported, fmt.Sprintf("unknown request %q", f.Type))
		}
		return false
	}
	return c.dispatch(f) && !c.broken.Load()
}

// fileConn is the connection as the files package uses it.
type fileConn struct{ c *conn }

func (f fileConn) Send(msg any) error                        { return f.c.send(msg) }
func (f fileConn) SendFrame(kind byte, payload []byte) error { return f.c.sendData(kind, payload) }
func (f fileConn) Next() (wire.Frame, error)                 { return f.c.fr.NextReuse() }
func (f fileConn) Close()                                    { f.c.c.Close() }
func (f fileConn) ReadError(err error) {
	if err != io.EOF && !f.c.broken.Load() {
		f.c.readError(err)
	}
}

// decode unmarshals a request's payload, answering INVALID when it does not parse.
func decode[T any](c *conn, f wire.Frame) (T, bool) {
	var req T
	if err := f.Decode(&req); err != nil {
		c.sendError(wire.CodeInvalid, err.Error())
		return req, false
	}
	return req, true
}

// proc looks a process up, answering the error when there is none.
func (c *conn) proc(id string) (*proc.Proc, bool) {
	p, err := c.s.Procs.Get(id)
	if err != nil {
		c.sendErr(err)
		return nil, false
	}
	return p, true
}

// stdinOK reports whether p takes stdin, answering INVALID when it does not.
func (c *conn) stdinOK(p *proc.Proc) bool {
	if !p.HasStdin {
		c.sendError(wire.CodeInvalid, fmt.Sprintf("process %q was started without stdin", p.ID))
		return false
	}
	return true
}

// dispatch answers one request; see request for what it returns.
func (c *conn) dispatch(f wire.Frame) bool {
	switch f.Type {
	case wire.TypePing:
		c.send(c.s.pong())
	case wire.TypeList:
		c.send(wire.List{Type: wire.TypeList, Procs: c.s.Procs.List()})
	case wire.TypeStart:
		req, ok := decode[wire.Start](c, f)
		if !ok {
			return true
		}
		p, cursors, err := c.s.Procs.Start(&req, true)
		if err != nil {
			c.sendErr(err)
			return true
		}
		if c.send(wire.Started{Type: wire.TypeStarted, ID: p.ID, PID: p.PID}) != nil {
			ring.ClosePair(cursors)
			if !p.Keep {
				p.Kill()
			}
			return false
		}
		return c.stream(p, cursors, true, req.Stdin, !req.Keep, req.OutputLimit)
	case wire.TypeAttach:
		req, ok := decode[wire.Attach](c, f)
		if !ok {
			return true
		}
		p, ok := c.proc(req.ID)
		if !ok || req.Stdin && !c.stdinOK(p) {
			return true
		}
		var cursors [2]*ring.Cursor
		running := p.Running()
		if req.Wait {
			// No cursors: nothing is read or pinned, the task writes on into its rings.
			if c.send(wire.Attached{Type: wire.TypeAttached, ID: p.ID, PID: p.PID, Running: running,
				Stdout: req.Stdout, Stderr: req.Stderr}) == nil {
				return c.stream(p, cursors, true, false, false, 0)
			}
			return false
		}
		if req.Follow {
			cursors = [2]*ring.Cursor{p.Stdout.Follow(req.Stdout), p.Stderr.Follow(req.Stderr)}
		} else {
			cursors = [2]*ring.Cursor{p.Stdout.Snapshot(req.Stdout, running), p.Stderr.Snapshot(req.Stderr, running)}
		}
		err := c.send(wire.Attached{Type: wire.TypeAttached, ID: p.ID, PID: p.PID, Running: running,
			Stdout: cursors[0].Start, Stderr: cursors[1].Start})
		for i, cur := range cursors {
			if err == nil && !cur.Lost.Empty() {
				err = c.send(wire.Lost{Type: wire.TypeLost, Stream: streamName(i), From: cur.Lost.From, To: cur.Lost.To})
			}
		}
		if err != nil {
			ring.ClosePair(cursors)
			return false
		}
		return c.stream(p, cursors, req.Follow, req.Stdin, false, 0)
	case wire.TypeSignal:
		req, ok := decode[wire.Signal](c, f)
		if !ok {
			return true
		}
		sig, ok := proc.Signals[req.Signal]
		if !ok {
			c.sendError(wire.CodeInvalid, fmt.Sprintf("unknown signal %q", req.Signal))
			return true
		}
		if p, ok := c.proc(req.ID); ok {
			c.reply(p.Signal(sig))
		}
	case wire.TypeResize:
		req, ok := decode[wire.Resize](c, f)
		if !ok {
			return true
		}
		if p, ok := c.proc(req.ID); ok {
			c.reply(p.Resize(req.Cols, req.Rows))
		}
	case wire.TypeForget:
		req, ok := decode[wire.IDRequest](c, f)
		if !ok {
			return true
		}
		c.reply(c.s.Procs.Forget(req.ID))
	case wire.TypeKill:
		req, ok := decode[wire.IDRequest](c, f)
		if !ok {
			return true
		}
		p, ok := c.proc(req.ID)
		if !ok {
			return true
		}
		p.Kill()
		<-p.Done()
		c.send(p.ExitMessage())
	case wire.TypeStdin:
		req, ok := decode[wire.IDRequest](c, f)
		if !ok {
			return true
		}
		p, ok := c.proc(req.ID)
		if !ok || !c.stdinOK(p) {
			return true
		}
		in := &input{c: c, p: p, stdin: true}
		if err := in.loop(nil); err == errHostDone {
			c.send(wire.Simple{Type: wire.TypeOK})
		}
		return false // ended by the host's end of input
	}
	return true
}

func (c *conn) reply(err error) {
	if err != nil {
		c.sendErr(err)
		return
	}
	c.send(wire.Simple{Type: wire.TypeOK})
}

func streamName(i int) string {
	if i == 0 {
		return "stdout"
	}
	return "stderr"
}

var errHostDone = errors.New("host closed its side")

// input handles what the host sends while attached: stdin bytes and in-stream messages.
type input struct {
	c           *conn
	p           *proc.Proc
	stdin       bool // IN frames are allowed
	closedSent  bool
	stdinClosed bool
	// On a reused connection: once over is set (the stream's last message is going out),
	// a frame is the host's next request and goes to next; used says whether the host
	// sent anything while attached (then nothing more is read as a request).
	over atomic.Bool
	used atomic.Bool
	next chan wire.Frame
}

func (in *input) gone() {
	in.stdinClosed = true
	if !in.closedSent {
		in.closedSent = true
		in.c.send(wire.Simple{Type: wire.TypeStdinClosed})
	}
}

// loop reads frames until the host closes (errHostDone), the connection fails, or a
// protocol error (reported to the host). msgs handles in-stream messages; nil allows none.
func (in *input) loop(msgs func(wire.Frame) bool) error {
	for {
		f, err := in.c.fr.Next()
		if err != nil {
			if err == io.EOF {
				return errHostDone
			}
			if !in.c.broken.Load() {
				in.c.readError(err)
			}
			return err
		}
		if in.next != nil {
			// A host that spoke on the stream closes the connection after it: what it sends
			// then is still the stream's (a late kill, say) until it does, never a request.
			if in.over.Load() && !in.used.Load() {
				in.next <- f
				return errHostDone
			}
			in.used.Store(true)
		}
		switch f.Kind {
		case wire.KindIn:
			if !in.stdin {
				in.c.sendError(wire.CodeProtocol, "stdin was not requested")
				return errors.New("protocol: unexpected IN")
			}
			if in.stdinClosed {
				continue
			}
			if len(f.Payload) == 0 {
				if in.p.CloseStdin() != nil {
					in.gone()
				} else if !in.p.PTY {
					in.stdinClosed = true
				}
				continue
			}
			if in.p.WriteStdin(f.Payload) != nil {
				in.gone()
			}
		case wire.KindMsg:
			if msgs == nil || !msgs(f) {
				in.c.sendError(wire.CodeProtocol, fmt.Sprintf("message %q is out of place", f.Type))
				return errors.New("protocol: misplaced message")
			}
		default:
			in.c.sendError(wire.CodeProtocol, "unexpected frame kind")
			return errors.New("protocol: unexpected frame")
		}
	}
}

// inStream handles the messages a host may send while attached.
func (in *input) inStream(f wire.Frame) bool {
	p := in.p
	switch f.Type {
	case wire.TypeSignal:
		var m wire.Signal
		if f.Decode(&m) == nil {
			if sig, ok := proc.Signals[m.Signal]; ok {
				p.Signal(sig)
			}
		}
	case wire.TypeResize:
		var m wire.Resize
		if f.Decode(&m) == nil {
			p.Resize(m.Cols, m.Rows)
		}
	case wire.TypeKill:
		p.Kill()
	default:
		return false
	}
	return true
}

// stream sends a process's output from cursors (stdout, stderr), then exit (follow) or
// end, while handling the host's input. When owner is set (a start without keep), the
// process's tree is killed if the host goes away first.
// A nil cursor is a stream not sent; limit (0: none) caps the bytes sent of each stream.
// It returns whether the connection may carry the host's next request (see request).
func (c *conn) stream(p *proc.Proc, cursors [2]*ring.Cursor, follow, stdin, owner bool, limit int64) bool {
	c.s.attached.Add(1)
	attached := true
	defer func() {
		if attached {
			c.s.attached.Add(-1)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer ring.ClosePair(cursors)

	hostGone := make(chan struct{})
	// A stream with input ends the connection as before: input the host sent before it
	// saw the last message must not be taken for a request.
	reuse := c.reuse && !stdin
	in := &input{c: c, p: p, stdin: stdin}
	if reuse {
		in.next = make(chan wire.Frame, 1)
	}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				c.s.Log("input panic: %v\n%s", v, debug.Stack())
			}
			close(hostGone)
		}()
		in.loop(in.inStream)
	}()
	keepalive := c.keepalive()
	defer keepalive.Stop()

	outErr := make(chan error, 2)
	pumps := 0
	for i, cur := range cursors {
		if cur == nil {
			continue
		}
		pumps++
		kind := wire.KindOut
		if i == 1 {
			kind = wire.KindErr
		}
		go func() {
			defer func() {
				if v := recover(); v != nil {
					c.s.Log("output panic: %v\n%s", v, debug.Stack())
					outErr <- fmt.Errorf("panic: %v", v)
				}
			}()
			outErr <- c.pumpOut(ctx, cur, kind, streamName(i), limit)
		}()
	}
	var failed error
	for i := 0; i < pumps && failed == nil; i++ {
		select {
		case err := <-outErr:
			failed = err
		case <-hostGone:
			failed = errHostDone
		}
	}
	if failed == nil && follow {
		select {
		case <-p.Done():
		case <-hostGone:
			failed = errHostDone
		}
	}
	if failed != nil {
		cancel()
		if owner {
			p.Kill()
		}
		c.c.Close()
		return false
	}
	keepalive.Stop() // nothing after the last message: the host may send its next request
	in.over.Store(reuse)
	if follow {
		c.send(p.ExitMessage())
	} else {
		c.send(wire.End{Type: wire.TypeEnd, Stdout: cursors[0].Pos(), Stderr: cursors[1].Pos()})
	}
	if reuse && !in.used.Load() {
		c.s.attached.Add(-1)
		attached = false
		return c.awaitRequest(in.next, hostGone)
	}
	// Lingering close: input the host sent before it saw the reply is still unread here,
	// and closing over unread data makes the host's socket fail (ECONNRESET) before it has
	// read our last message. So say we are done writing, keep reading (and discarding)
	// until the host closes, and give up after a moment.
	c.closeWrite()
	select {
	case <-hostGone:
	case <-time.After(lingerTimeout):
	}
	return false
}

// awaitRequest waits, after a stream on a reused connection, for the host's next request
// (read by the stream's input loop), its end of input, or ReuseIdle.
func (c *conn) awaitRequest(next <-chan wire.Frame, hostGone <-chan struct{}) bool {
	idle := time.NewTimer(ReuseIdle)
	defer idle.Stop()
	select {
	case f := <-next:
		c.pending = &f
		return true
	case <-hostGone: // the input loop ends after handing a request over, too
		select {
		case f := <-next:
			c.pending = &f
			return true
		default:
			return false
		}
	case <-idle.C:
		return false
	}
}

// closeWrite says we are done writing; later sends are dropped, never failing the host.
func (c *conn) closeWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.done = true
	return c.c.CloseWrite()
}

// lingerTimeout bounds how long a finished stream waits for the host to close.
const lingerTimeout = 2 * time.Second

// linger closes a connection whose reply is complete without failing the host: a write
// refused mid-upload (TOO_LARGE, NO_SPACE) leaves the host's data unread, and closing over
// it would make the host's socket fail before it read the error. So say we are done
// writing, discard what still arrives until the host closes, and give up after a moment.
func (c *conn) linger() {
	if c.broken.Load() {
		return
	}
	if c.closeWrite() != nil {
		return
	}
	c.c.SetReadDeadline(time.Now().Add(lingerTimeout))
	b := bufpool.Get()
	defer bufpool.Put(b)
	for {
		if _, err := c.c.Read(b[:]); err != nil {
			return
		}
	}
}

func (c *conn) pumpOut(ctx context.Context, cur *ring.Cursor, kind byte, name string, limit int64) error {
	b := bufpool.Get()
	defer bufpool.Put(b)
	buf := b[:]
	var sent int64
	for {
		n, lost, err := cur.Next(ctx, buf)
		if !lost.Empty() {
			if err := c.send(wire.Lost{Type: wire.TypeLost, Stream: name, From: lost.From, To: lost.To}); err != nil {
				return err
			}
		}
		if limit > 0 {
			n = int(min(int64(n), max(limit-sent, 0)))
		}
		if n > 0 {
			if err := c.sendData(kind, buf[:n]); err != nil {
				return err
			}
			sent += int64(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// keepaliveFrame is what every keepalive sends.
var keepaliveFrame, _ = wire.EncodeMessage(wire.Simple{Type: wire.TypeKeepalive})

// keepalive sends a keepalive whenever nothing was sent for KeepaliveIdle, checking once a
// second until stopped (a timer, not a goroutine: every command has a stream).
func (c *conn) keepalive() *keepaliveTimer {
	k := &keepaliveTimer{c: c}
	// The write lock guards the timer and its flag: the callback never sees k.t unset, and
	// once Stop has returned no keepalive follows the stream's last message (the host's
	// next request would get it).
	c.wmu.Lock()
	defer c.wmu.Unlock()
	k.t = time.AfterFunc(time.Second, func() {
		defer func() { recover() }()
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if k.stopped {
			return
		}
		if time.Since(time.Unix(0, c.lastSent.Load())) >= KeepaliveIdle && c.write(keepaliveFrame, nil) != nil {
			return
		}
		k.t.Reset(time.Second)
	})
	return k
}

type keepaliveTimer struct {
	c       *conn
	t       *time.Timer
	stopped bool // guarded by c.wmu
}

// Stop ends the keepalives: none follows a message sent after it returns.
func (k *keepaliveTimer) Stop() {
	k.c.wmu.Lock()
	k.stopped = true
	k.t.Stop()
	k.c.wmu.Unlock()
}
