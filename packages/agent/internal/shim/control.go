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
	"encoding/json"
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
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups"`
}

// Msg is one control message.
type Msg struct {
	Op string `json:"op"`
	// start
	Path  string   `json:"path,omitempty"`
	Argv  []string `json:"argv,omitempty"`
	Env   []string `json:"env,omitempty"`
	Dir   string   `json:"dir,omitempty"`
	Creds *Creds   `json:"creds,omitempty"`
	PTY   bool     `json:"pty,omitempty"`
	// replies and signal
	PID    int     `json:"pid,omitempty"`
	Errno  int     `json:"errno,omitempty"`
	Error  string  `json:"error,omitempty"`
	Status *uint32 `json:"status,omitempty"`
	Signal int     `json:"signal,omitempty"`
	Reuse  bool    `json:"reuse,omitempty"`

	fds []int
}

// A message travels as a 4-byte big-endian length and its JSON, split into packets of at
// most packetSize (a start spec can exceed one packet's limit); the fds ride on the first.
const (
	packetSize = 32 << 10
	maxMsg     = 8 << 20
)

func encode(m *Msg) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(body) > maxMsg {
		return nil, fmt.Errorf("shim message of %d bytes is too large", len(body))
	}
	out := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(out, uint32(len(body)))
	return append(out, body...), nil
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
	m := &Msg{}
	if err := json.Unmarshal(body, m); err != nil {
		return fail(fmt.Errorf("%w: %v", errBadMsg, err))
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
