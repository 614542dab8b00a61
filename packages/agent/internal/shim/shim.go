package shim

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"axo.dev/agent/internal/fdutil"
	"axo.dev/agent/internal/reaper"
	"axo.dev/agent/internal/sigs"
)

// ControlFD is the shim's end of its control socket.
const ControlFD = 3

const prSetChildSubreaper = 36

// killLimit bounds one KillTree call.
const killLimit = 10 * time.Second

// Main runs the shim program and returns its exit code.
func Main() int {
	// Deaf to stray signals first (a root `kill -TERM -1` inside), without os/signal's
	// threads; commands still get the default dispositions back at exec (sigs.IgnoreAsync).
	if err := sigs.IgnoreAsync(); err != nil {
		fmt.Fprintf(os.Stderr, "axo-agent shim: signals: %v\n", err)
		return 1
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "axo-agent shim: PR_SET_CHILD_SUBREAPER: %v\n", errno)
		return 1
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(ControlFD, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		fmt.Fprintln(os.Stderr, "axo-agent shim: internal command, started by the agent only")
		return 2
	}
	// Neither the command nor anything else exec'd later may inherit the control socket
	// (or anything else this process was given beyond stdio).
	fdutil.CloexecFrom(ControlFD)
	ctl, err := pollConn(ControlFD)
	if err != nil {
		fmt.Fprintf(os.Stderr, "axo-agent shim: control: %v\n", err)
		return 1
	}
	s := &server{ctl: unixConn{ctl}, rp: reaper.StartBlocking(), msgs: make(chan *Msg)}
	go s.readLoop()
	return s.run()
}

type server struct {
	ctl  unixConn
	rp   *reaper.Reaper
	msgs chan *Msg // closed when the agent's end is gone
}

func (s *server) readLoop() {
	defer close(s.msgs)
	r := newReceiver(s.ctl)
	for {
		m, err := r.recv()
		if err != nil {
			if err != io.EOF {
				fmt.Fprintf(os.Stderr, "axo-agent shim: control: %v\n", err)
			}
			return
		}
		s.msgs <- m
	}
}

func (s *server) reply(m *Msg) {
	if err := send(s.ctl, m, nil); err != nil {
		fmt.Fprintf(os.Stderr, "axo-agent shim: reply %s: %v\n", m.Op, err)
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// run serves commands until told to quit, the agent goes away, or a command leaves
// something behind.
func (s *server) run() int {
	for m := range s.msgs {
		switch m.Op {
		case OpStart:
			if !s.command(m) {
				return 0
			}
		case OpQuit:
			closeFDs(m.fds)
			return 0
		default:
			closeFDs(m.fds)
		}
	}
	return 0
}

// command runs one command; it returns whether the shim is clean and can be reused.
func (s *server) command(m *Msg) bool {
	if len(m.fds) != 3 {
		closeFDs(m.fds)
		s.reply(&Msg{Op: OpFailed, Errno: int(syscall.EBADF), Error: "expected 3 descriptors"})
		return true
	}
	sys := &syscall.SysProcAttr{}
	if m.PTY {
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
	} else {
		sys.Setpgid = true
	}
	if m.Creds != nil {
		sys.Credential = &syscall.Credential{Uid: m.Creds.UID, Gid: m.Creds.GID, Groups: m.Creds.Groups}
		if sys.Credential.Groups == nil {
			sys.Credential.Groups = []uint32{}
		}
	}
	attr := &syscall.ProcAttr{
		Dir:   m.Dir,
		Env:   m.Env,
		Files: []uintptr{uintptr(m.fds[0]), uintptr(m.fds[1]), uintptr(m.fds[2])},
		Sys:   sys,
	}
	exited := make(chan syscall.WaitStatus, 1)
	pid, err := s.rp.Spawn(func() (int, error) {
		return syscall.ForkExec(m.Path, m.Argv, attr)
	}, func(ws syscall.WaitStatus) { exited <- ws })
	closeFDs(m.fds)
	if err != nil {
		errno, _ := err.(syscall.Errno)
		s.reply(&Msg{Op: OpFailed, Errno: int(errno), Error: err.Error()})
		return true
	}
	s.reply(&Msg{Op: OpStarted, PID: pid})

	done := false
	self := os.Getpid()
	for {
		select {
		case ws := <-exited:
			done = true
			status := uint32(ws)
			// The command's orphans were re-parented to us before its exit status could
			// be reaped, so no children now means nothing of it is left: say so with the
			// status, and be idle again without waiting for the agent's release.
			if !s.rp.HasChildren() {
				s.reply(&Msg{Op: OpExit, Status: &status, Reuse: true})
				return true
			}
			s.reply(&Msg{Op: OpExit, Status: &status})
		case c, ok := <-s.msgs:
			if !ok { // the agent is gone: take the tree down with us
				KillTree(self, killLimit)
				return false
			}
			closeFDs(c.fds)
			switch c.Op {
			case OpSignal:
				if !done && c.Signal > 0 {
					syscall.Kill(pid, syscall.Signal(c.Signal))
				}
			case OpKill:
				KillTree(self, killLimit)
			case OpRelease:
				if !done {
					continue
				}
				reuse := !s.rp.HasChildren()
				s.reply(&Msg{Op: OpReleased, Reuse: reuse})
				return reuse
			}
		}
	}
}
