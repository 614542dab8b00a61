// Package proc is the agent's process table: it starts commands through the shim pool,
// pumps their output into rings, and handles attach, signals, kill, resize, stdin,
// timeouts and the retention of finished background processes.
package proc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"axo.dev/agent/internal/bufpool"
	"axo.dev/agent/internal/pty"
	"axo.dev/agent/internal/ring"
	"axo.dev/agent/internal/shim"
	"axo.dev/agent/internal/users"
	"axo.dev/agent/internal/wire"
)

// Limits and timings.
const (
	// Finished keep processes are retained for attach/list until forget: at most this
	// many, and at most MaxKeptBytes of output between them, oldest dropped first.
	MaxKeptFinished = 1024
	MaxKeptBytes    = 32 << 20
	MaxTag          = 4 << 10
	MaxArgs         = 64 << 10
	// After the main process exits, its output is drained until EOF, a read waits
	// drainSilence, drainActive of time not spent waiting for a reader passes, or
	// drainBytes more were read (descendants that keep the pipe open and keep writing).
	drainSilence = 50 * time.Millisecond
	drainActive  = 2 * time.Second
	drainBytes   = 8 << 20
	startTimeout = 10 * time.Second
)

// Error is a request error with its wire code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrStdinGone is returned when the process's stdin is closed or gone.
var ErrStdinGone = errors.New("stdin is closed")

// Config wires a Manager.
type Config struct {
	Workdir     string
	DefaultUser string
	BaseEnv     []string
	Users       *users.DB
	Pool        *shim.Pool
	DevNull     int
	// SetCreds makes commands switch to the target user (the agent runs as root).
	SetCreds bool
}

// Manager is the process table.
type Manager struct {
	cfg      Config
	seq      atomic.Uint64
	mu       sync.Mutex
	procs    map[string]*Proc
	reserved map[string]bool
	kept     []*Proc // finished keep procs, oldest first
}

// NewManager returns an empty table.
func NewManager(cfg Config) *Manager {
	return &Manager{cfg: cfg, procs: map[string]*Proc{}, reserved: map[string]bool{}}
}

// Proc is one process.
type Proc struct {
	m         *Manager
	ID        string
	Tag       string
	Argv      []string
	User      string
	Cwd       string
	PTY       bool
	Keep      bool
	HasStdin  bool
	StartedAt time.Time

	PID    int
	Stdout *ring.Ring
	Stderr *ring.Ring

	cmd      *shim.Command
	master   *os.File   // PTY master (output and input)
	outFiles []*os.File // what the pumps read
	pumps    sync.WaitGroup
	deadline *Deadline

	exited atomic.Bool // the main process has exited (draining may go on)

	stdinW    sync.Mutex // serialises writers
	stdinMu   sync.Mutex // guards stdin and stdinDone
	stdin     *os.File
	stdinDone bool

	mu       sync.Mutex
	endedAt  time.Time
	exitCode *int
	signal   *string
	timedOut bool
	killed   bool
	killSent bool
	done     chan struct{}
}

func newID(seq uint64) string {
	var b [2]byte
	rand.Read(b[:])
	return "p-" + strconv.FormatUint(seq, 10) + "-" + hex.EncodeToString(b[:])
}

func validate(req *wire.Start) *Error {
	if len(req.Argv) == 0 {
		return errorf(wire.CodeInvalid, "argv is required")
	}
	for _, a := range req.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return errorf(wire.CodeInvalid, "argv contains NUL")
		}
	}
	if req.Argv[0] == "" {
		return errorf(wire.CodeInvalid, "argv[0] is empty")
	}
	if len(req.Argv) > MaxArgs {
		return errorf(wire.CodeInvalid, "too many arguments")
	}
	for k, v := range req.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
			return errorf(wire.CodeInvalid, "invalid environment variable %q", k)
		}
	}
	if len(req.Tag) > MaxTag {
		return errorf(wire.CodeInvalid, "tag is longer than %d bytes", MaxTag)
	}
	if req.ID != "" && !ValidID(req.ID) {
		return errorf(wire.CodeInvalid, "id must match [A-Za-z0-9_.-]{1,100}")
	}
	if req.RingBytes != 0 && (req.RingBytes < ring.MinCapacity || req.RingBytes > ring.MaxCapacity) {
		return errorf(wire.CodeInvalid, "ringBytes must be between %d and %d", ring.MinCapacity, ring.MaxCapacity)
	}
	if req.TimeoutMs < 0 {
		return errorf(wire.CodeInvalid, "timeoutMs must not be negative")
	}
	if req.PTY != nil && (req.PTY.Cols < 0 || req.PTY.Rows < 0 || req.PTY.Cols > 65535 || req.PTY.Rows > 65535) {
		return errorf(wire.CodeInvalid, "pty size out of range")
	}
	return nil
}

// newPipe returns a pipe whose end kept by the agent (read end when agentReads) is
// non-blocking and pollable, and whose other end, for the child, is blocking. Both are
// close-on-exec in the agent.
func newPipe(agentReads bool, name string) (*os.File, int, error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, -1, fmt.Errorf("pipe: %w", err)
	}
	ours, theirs := p[1], p[0]
	if agentReads {
		ours, theirs = p[0], p[1]
	}
	if err := syscall.SetNonblock(ours, true); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, -1, err
	}
	return os.NewFile(uintptr(ours), name), theirs, nil
}

// Start starts a process. With follow, it also returns following cursors from offset 0
// on its stdout and stderr, made before the command runs, so nothing can be dropped
// before the caller reads.
func (m *Manager) Start(req *wire.Start, follow bool) (*Proc, [2]*ring.Cursor, error) {
	var cursors [2]*ring.Cursor
	if err := validate(req); err != nil {
		return nil, cursors, err
	}
	userSpec := req.User
	if userSpec == "" {
		userSpec = m.cfg.DefaultUser
	}
	if userSpec == "" && !m.cfg.SetCreds {
		// An agent that is not root (development, tests) runs commands as itself.
		userSpec = strconv.Itoa(os.Geteuid())
	}
	u, err := m.cfg.Users.Lookup(userSpec)
	if err != nil {
		return nil, cursors, errorf(wire.CodeInvalid, "%v", err)
	}
	if !m.cfg.SetCreds && int(u.UID) != os.Geteuid() {
		return nil, cursors, errorf(wire.CodeInvalid, "the agent does not run as root and cannot run commands as %q", userSpec)
	}
	cwd := req.Cwd
	if cwd == "" {
		cwd = m.cfg.Workdir
	}
	if !filepath.IsAbs(cwd) || strings.IndexByte(cwd, 0) >= 0 {
		return nil, cursors, errorf(wire.CodeInvalid, "cwd must be an absolute path, got %q", cwd)
	}
	if st, err := os.Stat(cwd); err != nil || !st.IsDir() {
		return nil, cursors, errorf(wire.CodeInvalid, "cwd %q is not a directory", cwd)
	}
	env := buildEnv(m.cfg.BaseEnv, u, req.PTY != nil, req.Env)

	// Reserve the id.
	id := req.ID
	m.mu.Lock()
	if id == "" {
		for id == "" || m.procs[id] != nil || m.reserved[id] {
			id = newID(m.seq.Add(1))
		}
	} else if m.procs[id] != nil || m.reserved[id] {
		m.mu.Unlock()
		return nil, cursors, errorf(wire.CodeConflict, "a process with id %q exists", id)
	}
	m.reserved[id] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.reserved, id)
		m.mu.Unlock()
	}()

	ringBytes := int(req.RingBytes)
	if ringBytes == 0 {
		ringBytes = ring.DefaultCapacity
	}
	p := &Proc{
		m: m, ID: id, Tag: req.Tag, Argv: append([]string(nil), req.Argv...), User: u.Label(), Cwd: cwd,
		PTY: req.PTY != nil, Keep: req.Keep, HasStdin: req.Stdin, StartedAt: time.Now(),
		Stdout: ring.New(ringBytes), Stderr: ring.New(ringBytes), done: make(chan struct{}),
	}
	if follow {
		cursors = [2]*ring.Cursor{p.Stdout.Follow(0), p.Stderr.Follow(0)}
	}
	closeCursors := func() { ring.ClosePair(cursors) }

	pathEnv, _ := envValue(env, "PATH")
	path, code, msg := lookPath(req.Argv[0], pathEnv, cwd)
	if code != 0 {
		p.failed(code, msg, req.Combined)
		m.add(p)
		return p, cursors, nil
	}

	spec := &shim.Msg{Path: path, Argv: req.Argv, Env: env, Dir: cwd, PTY: p.PTY}
	if m.cfg.SetCreds {
		spec.Creds = &shim.Creds{UID: u.UID, GID: u.GID, Groups: u.Groups}
	}
	var fds [3]int
	var childFDs []int // closed once the shim has them
	var ours []*os.File
	cleanup := func() {
		for _, fd := range childFDs {
			syscall.Close(fd)
		}
		childFDs = nil
	}
	abort := func(err error) (*Proc, [2]*ring.Cursor, error) {
		cleanup()
		for _, f := range ours {
			f.Close()
		}
		closeCursors()
		return nil, [2]*ring.Cursor{}, errorf(wire.CodeInternal, "%v", err)
	}
	if p.PTY {
		cols, rows := req.PTY.Cols, req.PTY.Rows
		if cols == 0 {
			cols = 80
		}
		if rows == 0 {
			rows = 24
		}
		uid := -1
		if m.cfg.SetCreds {
			uid = int(u.UID)
		}
		t, err := pty.Open(cols, rows, uid)
		if err != nil {
			return abort(err)
		}
		childFDs = append(childFDs, t.Slave)
		ours = append(ours, t.Master)
		p.master = t.Master
		p.outFiles = []*os.File{t.Master}
		fds = [3]int{t.Slave, t.Slave, t.Slave}
		if req.Stdin {
			p.stdin = t.Master
		}
		p.Stderr.CloseWrite()
	} else {
		out, outFD, err := newPipe(true, "stdout")
		if err != nil {
			return abort(err)
		}
		ours, childFDs = append(ours, out), append(childFDs, outFD)
		p.outFiles = []*os.File{out}
		fds[1], fds[2] = outFD, outFD
		if req.Combined {
			p.Stderr.CloseWrite()
		} else {
			errf, errFD, err := newPipe(true, "stderr")
			if err != nil {
				return abort(err)
			}
			ours, childFDs = append(ours, errf), append(childFDs, errFD)
			p.outFiles = append(p.outFiles, errf)
			fds[2] = errFD
		}
		fds[0] = m.cfg.DevNull
		if req.Stdin {
			in, inFD, err := newPipe(false, "stdin")
			if err != nil {
				return abort(err)
			}
			ours, childFDs = append(ours, in), append(childFDs, inFD)
			p.stdin = in
			fds[0] = inFD
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	cmd, failed, err := m.cfg.Pool.Start(ctx, spec, fds)
	cancel()
	cleanup()
	if err != nil {
		return abort(err)
	}
	if failed != nil {
		for _, f := range ours {
			f.Close()
		}
		p.outFiles, p.master, p.stdin = nil, nil, nil
		code, msg := execFailure(syscall.Errno(failed.Errno), failed.Error)
		if syscall.Errno(failed.Errno) == syscall.EACCES && !searchable(cwd, u) {
			// The child changes directory after switching user: say which step failed.
			msg = fmt.Sprintf("cannot enter the working directory %s as %s: Permission denied", cwd, u.Label())
		}
		p.failed(code, msg, req.Combined)
		m.add(p)
		return p, cursors, nil
	}
	p.cmd, p.PID = cmd, cmd.PID
	for i, f := range p.outFiles {
		r := p.Stdout
		if i == 1 {
			r = p.Stderr
		}
		var src io.Reader = f
		if p.PTY {
			src = pty.Reader{File: f}
		}
		p.pumps.Add(1)
		go p.pump(src, f, r)
	}
	p.deadline = NewDeadline(time.Duration(req.TimeoutMs)*time.Millisecond, func() { p.kill(true) })
	m.add(p)
	go p.monitor()
	return p, cursors, nil
}

func (m *Manager) add(p *Proc) {
	m.mu.Lock()
	m.procs[p.ID] = p
	m.mu.Unlock()
	select {
	case <-p.done: // already finished (exec failure)
		m.finished(p)
	default:
	}
}

// failed finishes p as a command that could not be executed: one line on stderr (on
// stdout for a terminal or combined output), exit code 126 or 127.
func (p *Proc) failed(code int, msg string, combined bool) {
	line := []byte("axo-agent: " + p.Argv[0] + ": " + msg + "\n")
	if p.PTY {
		line = []byte("axo-agent: " + p.Argv[0] + ": " + msg + "\r\n")
	}
	target := p.Stderr
	if p.PTY || combined {
		target = p.Stdout
	}
	target.Write(context.Background(), line)
	p.Stdout.CloseWrite()
	p.Stderr.CloseWrite()
	p.mu.Lock()
	p.exitCode = &code
	p.endedAt = time.Now()
	p.mu.Unlock()
	p.exited.Store(true)
	close(p.done)
}

// pump copies one output stream into its ring until EOF, or, once the main process has
// exited, until the stream is quiet (see drainSilence).
func (p *Proc) pump(src io.Reader, f *os.File, r *ring.Ring) {
	defer p.pumps.Done()
	defer r.CloseWrite()
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(os.Stderr, "axo-agent: pump %s: %v\n", p.ID, v)
		}
	}()
	b := bufpool.Get()
	defer bufpool.Put(b)
	buf := b[:]
	var active time.Duration
	var after int64
	for {
		exited := p.exited.Load()
		if exited {
			if active >= drainActive || after >= drainBytes {
				return
			}
			f.SetReadDeadline(time.Now().Add(min(drainSilence, drainActive-active)))
		}
		t0 := time.Now()
		n, err := src.Read(buf)
		if exited {
			active += time.Since(t0)
			after += int64(n)
		}
		if n > 0 {
			if _, werr := r.Write(context.Background(), buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !exited {
				continue // set by the exit notice: go round and drain
			}
			return
		}
	}
}

// monitor waits for the main process, lets the pumps drain, and finishes p.
func (p *Proc) monitor() {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(os.Stderr, "axo-agent: monitor %s: %v\n", p.ID, v)
		}
	}()
	res := <-p.cmd.Done()
	p.mu.Lock()
	switch {
	case res.ShimDied:
		// The shim was killed (kill -9 -1 inside the container, say) before it could
		// report. Make sure the command's group is gone too, and report it killed.
		syscall.Kill(-p.PID, syscall.SIGKILL)
		syscall.Kill(p.PID, syscall.SIGKILL)
		s := "KILL"
		p.signal = &s
	case res.Status.Signaled():
		s := SignalName(res.Status.Signal())
		p.signal = &s
	default:
		c := res.Status.ExitStatus()
		p.exitCode = &c
	}
	p.mu.Unlock()
	p.deadline.Stop()
	p.exited.Store(true)
	now := time.Now()
	for _, f := range p.outFiles {
		f.SetReadDeadline(now.Add(drainSilence))
	}
	p.pumps.Wait()
	for _, f := range p.outFiles {
		if f != p.master {
			f.Close()
		}
	}
	p.closeStdin()
	if p.master != nil {
		p.master.Close()
	}
	p.mu.Lock()
	p.endedAt = time.Now()
	p.mu.Unlock()
	close(p.done)
	p.cmd.Release()
	p.m.finished(p)
}

// finished applies retention once p has ended: a process without keep leaves the table
// (its connection still holds it), a keep process stays until forget, at most
// MaxKeptFinished of them, oldest dropped first.
func (m *Manager) finished(p *Proc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.procs[p.ID] != p {
		return
	}
	if !p.Keep {
		delete(m.procs, p.ID)
		return
	}
	m.kept = append(m.kept, p)
	held := 0
	for _, k := range m.kept {
		held += k.allocated()
	}
	for len(m.kept) > MaxKeptFinished || (held > MaxKeptBytes && len(m.kept) > 1) {
		old := m.kept[0]
		m.kept = m.kept[1:]
		held -= old.allocated()
		if m.procs[old.ID] == old {
			delete(m.procs, old.ID)
		}
	}
}

// Get returns the process with id.
func (m *Manager) Get(id string) (*Proc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.procs[id]; p != nil {
		return p, nil
	}
	return nil, errorf(wire.CodeNotFound, "no process %q", id)
}

// Count returns how many processes the table holds.
func (m *Manager) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.procs)
}

// List describes every process, oldest first.
func (m *Manager) List() []wire.ProcInfo {
	m.mu.Lock()
	procs := make([]*Proc, 0, len(m.procs))
	for _, p := range m.procs {
		procs = append(procs, p)
	}
	m.mu.Unlock()
	sort.Slice(procs, func(i, j int) bool { return procs[i].StartedAt.Before(procs[j].StartedAt) })
	out := make([]wire.ProcInfo, 0, len(procs))
	for _, p := range procs {
		out = append(out, p.Info())
	}
	return out
}

// Forget drops a finished process.
func (m *Manager) Forget(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.procs[id]
	if p == nil {
		return errorf(wire.CodeNotFound, "no process %q", id)
	}
	if p.Running() {
		return errorf(wire.CodeConflict, "process %q is still running", id)
	}
	delete(m.procs, id)
	for i, k := range m.kept {
		if k == p {
			m.kept = append(m.kept[:i], m.kept[i+1:]...)
			break
		}
	}
	return nil
}

const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Info describes p for list.
func (p *Proc) Info() wire.ProcInfo {
	outStart, outEnd := p.Stdout.Stats()
	errStart, errEnd := p.Stderr.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	info := wire.ProcInfo{
		ID: p.ID, PID: p.PID, Tag: p.Tag, Argv: p.Argv, User: p.User, Cwd: p.Cwd, PTY: p.PTY, Keep: p.Keep,
		StartedAt: p.StartedAt.UTC().Format(timeLayout),
		Running:   !p.finishedLocked(),
		ExitCode:  p.exitCode, Signal: p.signal, TimedOut: p.timedOut, Killed: p.killed,
		Stdout: wire.StreamStats{Total: outEnd, Dropped: outStart},
		Stderr: wire.StreamStats{Total: errEnd, Dropped: errStart},
	}
	if !p.endedAt.IsZero() {
		s := p.endedAt.UTC().Format(timeLayout)
		info.EndedAt = &s
	}
	return info
}

func (p *Proc) finishedLocked() bool { return !p.endedAt.IsZero() }

// Running reports whether p has not finished (its output may still be draining).
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed once p has finished: status known, output drained.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ExitMessage is p's exit message (call after Done).
func (p *Proc) ExitMessage() wire.Exit {
	_, outEnd := p.Stdout.Stats()
	_, errEnd := p.Stderr.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	return wire.Exit{
		Type: wire.TypeExit, ID: p.ID, ExitCode: p.exitCode, Signal: p.signal,
		TimedOut: p.timedOut, Killed: p.killed, Stdout: outEnd, Stderr: errEnd,
	}
}

// Kill SIGKILLs p's whole tree (kill request, in-stream kill, connection gone).
func (p *Proc) Kill() { p.kill(false) }

func (p *Proc) kill(timeout bool) {
	if p.cmd == nil {
		return
	}
	p.mu.Lock()
	if p.finishedLocked() {
		p.mu.Unlock()
		return
	}
	if !p.exited.Load() && !p.killSent {
		if timeout {
			p.timedOut = true
		} else {
			p.killed = true
		}
	}
	p.killSent = true
	p.mu.Unlock()
	p.cmd.Kill()
}

// Signal delivers sig to the main process.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.cmd == nil || p.exited.Load() {
		return errorf(wire.CodeInvalid, "process %q has exited", p.ID)
	}
	p.cmd.Signal(sig)
	return nil
}

// Resize changes a PTY's size.
func (p *Proc) Resize(cols, rows int) error {
	if !p.PTY {
		return errorf(wire.CodeInvalid, "process %q has no terminal", p.ID)
	}
	if cols <= 0 || rows <= 0 || cols > 65535 || rows > 65535 {
		return errorf(wire.CodeInvalid, "terminal size out of range")
	}
	if p.master == nil {
		return errorf(wire.CodeInvalid, "process %q has exited", p.ID)
	}
	if err := pty.Resize(p.master, cols, rows); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return errorf(wire.CodeInvalid, "process %q has exited", p.ID)
		}
		return errorf(wire.CodeInternal, "%v", err)
	}
	return nil
}

// WriteStdin writes data to the process's stdin, blocking while its pipe is full. It
// returns ErrStdinGone once stdin is closed or the process stopped reading for good.
func (p *Proc) WriteStdin(data []byte) error {
	p.stdinW.Lock()
	defer p.stdinW.Unlock()
	p.stdinMu.Lock()
	f, gone := p.stdin, p.stdinDone
	p.stdinMu.Unlock()
	if f == nil || gone {
		return ErrStdinGone
	}
	if _, err := f.Write(data); err != nil {
		p.closeStdin()
		return ErrStdinGone
	}
	return nil
}

// CloseStdin ends the process's input: its stdin pipe is closed; on a terminal, the
// end-of-file character (^D) is typed instead.
func (p *Proc) CloseStdin() error {
	if p.PTY {
		return p.WriteStdin([]byte{4})
	}
	p.stdinMu.Lock()
	gone := p.stdin == nil || p.stdinDone
	p.stdinMu.Unlock()
	p.closeStdin()
	if gone {
		return ErrStdinGone
	}
	return nil
}

// closeStdin closes the agent's end of stdin (unblocking a pending write).
func (p *Proc) closeStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdinDone {
		return
	}
	p.stdinDone = true
	if p.stdin != nil && p.stdin != p.master {
		p.stdin.Close()
	}
}

// allocated is the memory p's output rings hold.
func (p *Proc) allocated() int {
	n := 0
	for _, r := range []*ring.Ring{p.Stdout, p.Stderr} {
		if r != nil {
			n += r.Allocated()
		}
	}
	return n
}

// searchable reports whether u may enter directory dir (its execute bit for u's class).
func searchable(dir string, u *users.User) bool {
	if u.UID == 0 {
		return true
	}
	var st syscall.Stat_t
	if syscall.Stat(dir, &st) != nil {
		return false
	}
	if st.Uid == u.UID {
		return st.Mode&0o100 != 0
	}
	if st.Gid == u.GID || slices.Contains(u.Groups, st.Gid) {
		return st.Mode&0o010 != 0
	}
	return st.Mode&0o001 != 0
}
