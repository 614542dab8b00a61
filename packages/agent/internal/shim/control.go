// Package shim is the per-command supervisor. The agent keeps a small pool of shims (each
// a copy of the agent binary run as `axo-agent shim`) connected by a SOCK_SEQPACKET
// socketpair on the shim's fd 3. For a command the agent sends a spec and the command's
// stdio descriptors (SCM_RIGHTS); the shim, a child subreaper, forks and execs the
// command, reports its pid and exit status, signals it, and on "kill" SIGKILLs every
// descendant round after round until none is left. A shim whose command left nothing
// behind goes back to the pool; one with leftovers exits, and they go to init.
package shim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// Operations on the control socket.
const (
	OpStart    = "start"    // agent → shim: spec + 3 fds (stdin, stdout, stderr)
	OpStarted  = "started"  // shim → agent: pid
	OpFailed   = "failed"   // shim → agent: the command could not be started (errno)
	OpExit     = "exit"     // shim → agent: the command's wait status; Reuse: nothing is left, idle again
	OpSignal   = "signal"   // agent → shim: signal the command itself
	OpKill     = "kill"     // agent → shim: SIGKILL the whole tree until nothing is left
	OpRelease  = "release"  // agent → shim: done with this command (after exit)
	OpReleased = "released" // shim → agent: Reuse says whether it is idle again
	OpQuit     = "quit"     // agent → idle shim: exit
)

// Creds are the credentials a command runs with.
type Creds struct {
	UID    uint32
	GID    uint32
	Groups []uint32
}

// Msg is one control message.
type Msg struct {
	Op string
	// start
	Path  string
	Argv  []string
	Env   []string
	Dir   string
	Creds *Creds
	PTY   bool
	// replies and signal
	PID    int
	Errno  int
	Error  string
	Status *uint32
	Signal int
	Reuse  bool

	fds []int
}

// A message travels as a 4-byte big-endian length and its body, split into packets of at
// most packetSize (a start spec can exceed one packet's limit); the fds ride on the first.
// Both ends are the same binary, so the body is a fixed binary layout, not JSON: a command
// costs three messages, and encoding/json's reflection was a tenth of a shim's work.
const (
	packetSize = 32 << 10
	maxMsg     = 8 << 20
)

// ops numbers the operations on the wire (index = code).
var ops = [...]string{"", OpStart, OpStarted, OpFailed, OpExit, OpSignal, OpKill, OpRelease, OpReleased, OpQuit}

const (
	flagPTY = 1 << iota
	flagReuse
	flagStatus
	flagCreds
)

// encode lays m out as: op u8, flags u8, pid, errno, signal (i32 each), status, uid, gid
// (u32 each), groups (count + u32 each), path, dir, error (u32 length + bytes each), argv
// and env (count + strings); all big-endian, after the 4-byte body length.
func encode(m *Msg) ([]byte, error) {
	op := 0
	for i, name := range ops {
		if name == m.Op && i > 0 {
			op = i
		}
	}
	if op == 0 {
		return nil, fmt.Errorf("unknown shim operation %q", m.Op)
	}
	var flags byte
	var status, uid, gid uint32
	var groups []uint32
	if m.PTY {
		flags |= flagPTY
	}
	if m.Reuse {
		flags |= flagReuse
	}
	if m.Status != nil {
		flags |= flagStatus
		status = *m.Status
	}
	if m.Creds != nil {
		flags |= flagCreds
		uid, gid, groups = m.Creds.UID, m.Creds.GID, m.Creds.Groups
	}
	size := 4 + 2 + 6*4 + 4 + 4*len(groups) + 3*4 + len(m.Path) + len(m.Dir) + len(m.Error) + 8
	for _, list := range [2][]string{m.Argv, m.Env} {
		for _, a := range list {
			size += 4 + len(a)
		}
	}
	if size-4 > maxMsg {
		return nil, fmt.Errorf("shim message of %d bytes is too large", size-4)
	}
	b := make([]byte, 4, size)
	binary.BigEndian.PutUint32(b, uint32(size-4))
	b = append(b, byte(op), flags)
	for _, v := range [...]uint32{uint32(int32(m.PID)), uint32(int32(m.Errno)), uint32(int32(m.Signal)), status, uid, gid, uint32(len(groups))} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	for _, g := range groups {
		b = binary.BigEndian.AppendUint32(b, g)
	}
	for _, str := range [...]string{m.Path, m.Dir, m.Error} {
		b = appendString(b, str)
	}
	for _, list := range [2][]string{m.Argv, m.Env} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(list)))
		for _, a := range list {
			b = appendString(b, a)
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

// decoder reads encode's layout, refusing anything that does not fit.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		d.bad = true
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) str() string {
	n := d.u32()
	if d.bad || uint64(n) > uint64(len(d.b)) {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) list() []string {
	n := d.u32()
	// Each element takes at least its 4-byte length: a count beyond that is a lie.
	if d.bad || uint64(n)*4 > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func decode(body []byte) (*Msg, error) {
	if len(body) < 2 || body[0] == 0 || int(body[0]) >= len(ops) {
		return nil, errBadMsg
	}
	m := &Msg{Op: ops[body[0]]}
	flags := body[1]
	d := decoder{b: body[2:]}
	m.PID, m.Errno, m.Signal = int(int32(d.u32())), int(int32(d.u32())), int(int32(d.u32()))
	status, uid, gid := d.u32(), d.u32(), d.u32()
	n := d.u32()
	if d.bad || uint64(n)*4 > uint64(len(d.b)) {
		return nil, errBadMsg
	}
	var groups []uint32
	if flags&flagCreds != 0 {
		groups = make([]uint32, n)
	}
	for i := uint32(0); i < n; i++ {
		g := d.u32()
		if groups != nil {
			groups[i] = g
		}
	}
	m.Path, m.Dir, m.Error = d.str(), d.str(), d.str()
	m.Argv, m.Env = d.list(), d.list()
	if d.bad || len(d.b) != 0 {
		return nil, errBadMsg
	}
	m.PTY, m.Reuse = flags&flagPTY != 0, flags&flagReuse != 0
	if flags&flagStatus != 0 {
		m.Status = &status
	}
	if flags&flagCreds != 0 {
		m.Creds = &Creds{UID: uid, GID: gid, Groups: groups}
	}
	return m, nil
}

// packetConn is what both ends need (each end's *net.UnixConn).
type packetConn interface {
	writePacket(b, oob []byte) error
	readPacket(b, oob []byte) (n, oobn int, err error)
}

func send(c packetConn, m *Msg, fds []int) error {
	data, err := encode(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), packetSize)
		if err := c.writePacket(data[:n], oob); err != nil {
			return err
		}
		data, oob = data[n:], nil
	}
	return nil
}

var errBadMsg = errors.New("malformed shim message")

// receiver reads messages from one connection, reusing its buffers: a command costs
// three messages each way, and a fresh packet-sized buffer for each was most of the
// agent's garbage under load.
type receiver struct {
	c   packetConn
	buf []byte
	oob []byte
}

func newReceiver(c packetConn) *receiver {
	return &receiver{c: c, buf: make([]byte, packetSize), oob: make([]byte, syscall.CmsgSpace(4*4))}
}

func (r *receiver) recv() (*Msg, error) {
	buf := r.buf
	n, oobn, err := r.c.readPacket(buf, r.oob)
	if err != nil {
		return nil, err
	}
	if n == 0 && oobn == 0 {
		return nil, io.EOF
	}
	var fds []int
	if oobn > 0 {
		if cmsgs, err := syscall.ParseSocketControlMessage(r.oob[:oobn]); err == nil {
			for _, cm := range cmsgs {
				if got, err := syscall.ParseUnixRights(&cm); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	fail := func(err error) (*Msg, error) {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return nil, err
	}
	if n < 4 {
		return fail(errBadMsg)
	}
	total := int(binary.BigEndian.Uint32(buf))
	if total > maxMsg {
		return fail(errBadMsg)
	}
	body := buf[4:n]
	if len(body) < total { // a long spec: gather its packets
		body = append(make([]byte, 0, total), body...)
		for len(body) < total {
			n, _, err := r.c.readPacket(buf, nil)
			if err != nil {
				return fail(err)
			}
			if n == 0 {
				return fail(io.ErrUnexpectedEOF)
			}
			body = append(body, buf[:n]...)
		}
	}
	if len(body) != total {
		return fail(errBadMsg)
	}
	m, err := decode(body)
	if err != nil {
		return fail(err)
	}
	m.fds = fds
	return m, nil
}

// unixConn adapts either end.
type unixConn struct{ c *net.UnixConn }

func (u unixConn) writePacket(b, oob []byte) error {
	_, _, err := u.c.WriteMsgUnix(b, oob, nil)
	return err
}

func (u unixConn) readPacket(b, oob []byte) (int, int, error) {
	n, oobn, _, _, err := u.c.ReadMsgUnix(b, oob)
	return n, oobn, err
}

// pollConn turns the shim's inherited control descriptor into a connection served by
// Go's poller: an idle shim then parks no thread in a blocking recvmsg, and every thread
// counts against the container's pids limit.
func pollConn(fd int) (*net.UnixConn, error) {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "control")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	u, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("control descriptor is not a unix socket")
	}
	return u, nil
}
