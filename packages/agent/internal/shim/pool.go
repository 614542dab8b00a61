package shim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"axo.dev/agent/internal/reaper"
)

// ErrShimDied is reported when a shim died before answering.
var ErrShimDied = errors.New("shim died")

// Result is how a command ended: its wait status, or ShimDied when its shim died without
// reporting (the whole tree is then presumed killed).
type Result struct {
	Status   syscall.WaitStatus
	ShimDied bool
}

// Shim is the agent's handle on one shim process.
type Shim struct {
	pool *Pool
	pid  int
	conn *net.UnixConn

	deadOnce sync.Once
	dead     chan struct{}
	leaving  bool // told to quit (guarded by pool.mu)

	mu  sync.Mutex // guards cur and serialises writes, so a message for a finished
	cur *Command   // command can never reach the shim's next command
}

// Command is a command running in a shim.
type Command struct {
	shim  *Shim
	PID   int
	reply chan *Msg // started / failed
	once  sync.Once
	gone  bool // released (guarded by shim.mu)
	done  chan Result
}

// DefaultTrimEvery is how often a pool grown by a burst checks whether to shrink: it
// keeps as many idle shims as were busy at once during the last period, so they go
// within two periods of the burst. An agent's bursts come a model's turn (seconds to
// tens of seconds) apart; a pool that shrank in between started its shims again.
const DefaultTrimEvery = 30 * time.Second

// Pool keeps idle shims ready so a command costs one fork+exec. It refills in the
// background whenever fewer than minIdle are ready and keeps maxIdle when quiet. A burst
// of concurrent commands grows it: the shims they used go back to the pool (up to
// burstIdle), so the next burst finds them warm, and it shrinks to maxIdle once no
// burst needed them for a period. Starting a shim costs more than the command it runs
// (a Go runtime against a fork+exec).
type Pool struct {
	exe       string
	rp        *reaper.Reaper
	minIdle   int
	maxIdle   int
	burstIdle int
	trimEvery time.Duration
	stderr    int
	devnul    int

	// starting admits one command per CPU at a time into its start (a shim, fork+exec),
	// in arrival order (a channel's waiters queue first come, first served). Fifty
	// commands sent at once then start, and short ones end, one after another, instead
	// of all advancing together and all ending last: the median waits much less, the
	// last no longer. Short commands also hand their shims on, so a burst of them needs
	// few new ones.
	starting chan struct{}
	slowAt   time.Duration // admitSlow, unless a test sets it

	mu        sync.Mutex
	idle      []*Shim // most recently used last
	all       map[*Shim]struct{}
	peak      int // most shims busy at once since the last trim
	leaving   int // shims told to quit that have not died yet
	trimming  bool
	refilling bool
	closed    bool
	failures  int
}

// PoolSize bounds a pool: it refills below MinIdle, keeps MaxIdle when quiet, and up to
// BurstIdle for a while after a burst, checking every TrimEvery (DefaultTrimEvery if 0).
type PoolSize struct {
	MinIdle, MaxIdle, BurstIdle int
	TrimEvery                   time.Duration
}

// NewPool returns a pool of idle shims started from exe (normally /proc/self/exe), and
// starts filling it to MaxIdle. devnull is an open /dev/null.
func NewPool(exe string, rp *reaper.Reaper, size PoolSize, devnull int) *Pool {
	stderr := 2
	var st syscall.Stat_t
	if syscall.Fstat(2, &st) != nil {
		stderr = devnull
	}
	minIdle := max(size.MinIdle, 1)
	maxIdle := max(size.MaxIdle, minIdle)
	burstIdle := max(size.BurstIdle, maxIdle)
	trimEvery := size.TrimEvery
	if trimEvery <= 0 {
		trimEvery = DefaultTrimEvery
	}
	p := &Pool{exe: exe, rp: rp, minIdle: minIdle, maxIdle: maxIdle, burstIdle: burstIdle, trimEvery: trimEvery, stderr: stderr,
		devnul: devnull, all: map[*Shim]struct{}{}, starting: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	p.fill(maxIdle)
	return p
}

// admitSlow is how long one start may hold its admission: an exec stuck on a hung file
// system must not hold up the commands behind it.
const admitSlow = 50 * time.Millisecond

// admit waits for a start slot (or ctx) and returns its release, which also runs by
// itself after admitSlow.
func (p *Pool) admit(ctx context.Context) (func(), error) {
	select {
	case p.starting <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	release := func() { once.Do(func() { <-p.starting }) }
	slow := p.slowAt
	if slow == 0 {
		slow = admitSlow
	}
	t := time.AfterFunc(slow, release)
	return func() {
		t.Stop()
		release()
	}, nil
}

// busyLocked is how many shims run a command (or are being started for one).
func (p *Pool) busyLocked() int { return len(p.all) - len(p.idle) - p.leaving }

// letGoLocked marks s as told to quit; the caller sends the quit after unlocking.
func (p *Pool) letGoLocked(s *Shim) {
	if _, ok := p.all[s]; ok && !s.leaving {
		s.leaving = true
		p.leaving++
	}
}

// keepLocked is how many idle shims the pool keeps now.
func (p *Pool) keepLocked() int { return max(p.maxIdle, min(p.peak, p.burstIdle)) }

// trim lets idle shims beyond what the last period needed go, least recently used first,
// and rearms itself while the pool is above its quiet size.
func (p *Pool) trim() {
	p.mu.Lock()
	var extra []*Shim
	if keep := p.keepLocked(); !p.closed && len(p.idle) > keep {
		n := len(p.idle) - keep
		extra = append(extra, p.idle[:n]...)
		p.idle = append(p.idle[:0], p.idle[n:]...)
		for _, s := range extra {
			p.letGoLocked(s)
		}
	}
	p.peak = p.busyLocked()
	p.trimming = false
	p.armTrimLocked()
	p.mu.Unlock()
	for _, s := range extra {
		s.quit()
	}
}

// armTrimLocked schedules a trim while the pool holds more than its quiet size.
func (p *Pool) armTrimLocked() {
	if !p.trimming && !p.closed && len(p.idle) > p.maxIdle {
		p.trimming = true
		time.AfterFunc(p.trimEvery, p.trim)
	}
}

// PIDs returns the pids of every live shim.
func (p *Pool) PIDs() map[int]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int]bool, len(p.all))
	for s := range p.all {
		out[s.pid] = true
	}
	return out
}

func (p *Pool) spawn() (*Shim, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shim socketpair: %w", err)
	}
	s := &Shim{pool: p, dead: make(chan struct{})}
	attr := &syscall.ProcAttr{
		Dir: "/",
		// One P keeps the shim to 4-5 threads: every thread counts against the
		// container's pids limit, and a shim mostly waits.
		Env:   []string{"GOMAXPROCS=1"},
		Files: []uintptr{uintptr(p.devnul), uintptr(p.devnul), uintptr(p.stderr), uintptr(fds[1])},
	}
	pid, err := p.rp.Spawn(func() (int, error) {
		return syscall.ForkExec(p.exe, []string{"axo-agent", "shim"}, attr)
	}, func(ws syscall.WaitStatus) {
		if ws.Signaled() || ws.ExitStatus() != 0 {
			fmt.Fprintf(os.Stderr, "axo-agent: shim %d ended: %s\n", s.pid, describe(ws))
		}
		s.markDead()
	})
	syscall.Close(fds[1])
	if err != nil {
		syscall.Close(fds[0])
		return nil, fmt.Errorf("start shim: %w", err)
	}
	s.pid = pid
	f := os.NewFile(uintptr(fds[0]), "shim")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		return nil, fmt.Errorf("shim socket: %w", err)
	}
	s.conn = c.(*net.UnixConn)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		s.conn.Close()
		return nil, errors.New("agent is shutting down")
	}
	p.all[s] = struct{}{}
	p.mu.Unlock()
	go s.readLoop()
	return s, nil
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

// refill tops the pool up in the background when fewer than minIdle shims are ready.
func (p *Pool) refill() { p.fill(p.minIdle) }

// fill starts shims in the background until target are idle.
func (p *Pool) fill(target int) {
	p.mu.Lock()
	if p.refilling || p.closed || len(p.idle) >= target {
		p.mu.Unlock()
		return
	}
	p.refilling = true
	p.mu.Unlock()
	go func() {
		defer func() { recover() }()
		for {
			p.mu.Lock()
			if p.closed || len(p.idle) >= target {
				p.refilling = false
				p.mu.Unlock()
				return
			}
			failures := p.failures
			p.mu.Unlock()
			if failures > 0 {
				time.Sleep(time.Duration(min(failures, 50)) * 20 * time.Millisecond)
			}
			s, err := p.spawn()
			p.mu.Lock()
			if err != nil {
				p.failures++
				if p.failures == 1 || p.failures%100 == 0 {
					fmt.Fprintf(os.Stderr, "axo-agent: %v\n", err)
				}
			} else {
				p.failures = 0
				p.idle = append(p.idle, s)
			}
			p.mu.Unlock()
		}
	}()
}

// get returns an idle live shim or starts one.
func (p *Pool) get() (*Shim, error) {
	p.mu.Lock()
	// Busy ones, this one included (a shim being started counts once it is in all).
	p.peak = max(p.peak, p.busyLocked()+1)
	for len(p.idle) > 0 {
		s := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !s.isDead() {
			p.mu.Unlock()
			p.refill()
			return s, nil
		}
	}
	p.mu.Unlock()
	p.refill()
	return p.spawn()
}

// put returns a clean shim to the pool (or lets it go when the pool is full).
func (p *Pool) put(s *Shim) {
	p.mu.Lock()
	if !p.closed && len(p.idle) < p.keepLocked() && !s.isDead() {
		p.idle = append(p.idle, s)
		p.armTrimLocked()
		p.mu.Unlock()
		return
	}
	p.letGoLocked(s)
	p.mu.Unlock()
	s.quit()
}

// quit tells an idle shim to exit; one that cannot be told is killed, so a shim the pool
// let go never lingers.
func (s *Shim) quit() {
	if s.sendFor(nil, &Msg{Op: OpQuit}, nil) != nil && !s.isDead() {
		syscall.Kill(s.pid, syscall.SIGKILL)
	}
}

// detach ends the shim's hold on its command: later messages for it are dropped.
func (s *Shim) detach() {
	s.mu.Lock()
	s.cur = nil
	s.mu.Unlock()
}

func (s *Shim) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

func (s *Shim) markDead() {
	s.deadOnce.Do(func() {
		close(s.dead)
		s.conn.Close()
		p := s.pool
		p.mu.Lock()
		if _, ok := p.all[s]; ok && s.leaving {
			p.leaving--
		}
		delete(p.all, s)
		for i, x := range p.idle {
			if x == s {
				p.idle = append(p.idle[:i], p.idle[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
		s.mu.Lock()
		cur := s.cur
		s.mu.Unlock()
		if cur != nil {
			cur.finish(Result{ShimDied: true})
		}
		p.refill()
	})
}

// sendFor sends m on behalf of c, unless c is no longer the shim's command.
func (s *Shim) sendFor(c *Command, m *Msg, fds []int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c != nil && (s.cur != c || c.gone) {
		return nil
	}
	return send(unixConn{s.conn}, m, fds)
}

func (s *Shim) readLoop() {
	defer func() {
		recover()
		s.markDead()
	}()
	r := newReceiver(unixConn{s.conn})
	for {
		m, err := r.recv()
		if err != nil {
			return
		}
		closeFDs(m.fds)
		s.mu.Lock()
		cur := s.cur
		s.mu.Unlock()
		switch m.Op {
		case OpStarted, OpFailed:
			if cur != nil {
				select {
				case cur.reply <- m:
				default:
				}
			}
		case OpExit:
			if m.Reuse { // nothing of the command is left: the shim is idle already
				s.detach()
			}
			if cur != nil && m.Status != nil {
				cur.finish(Result{Status: syscall.WaitStatus(*m.Status)})
			}
			if m.Reuse {
				s.pool.put(s)
			}
		case OpReleased:
			s.detach()
			if m.Reuse {
				s.pool.put(s)
			}
		}
	}
}

// Start runs spec in a shim with fds as the command's stdin, stdout and stderr. It
// returns once the command was started; when it could not be (exec failed), failed
// holds the shim's answer and the command is nil. The caller keeps ownership of fds.
func (p *Pool) Start(ctx context.Context, spec *Msg, fds [3]int) (cmd *Command, failed *Msg, err error) {
	spec.Op = OpStart
	admitted, err := p.admit(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer admitted()
	for attempt := 0; ; attempt++ {
		s, err := p.get()
		if err != nil {
			return nil, nil, err
		}
		cmd, failed, err, retry := p.startOn(ctx, s, spec, fds)
		if retry && attempt < 3 {
			continue
		}
		return cmd, failed, err
	}
}

// startOn hands spec to s and waits for the shim's answer; retry says another shim may
// do better (this one died or could not be reached).
func (p *Pool) startOn(ctx context.Context, s *Shim, spec *Msg, fds [3]int) (*Command, *Msg, error, bool) {
	c := &Command{shim: s, reply: make(chan *Msg, 1), done: make(chan Result, 1)}
	s.mu.Lock()
	s.cur = c
	err := send(unixConn{s.conn}, spec, fds[:])
	s.mu.Unlock()
	if err != nil {
		if !s.isDead() { // a shim we cannot talk to is useless
			syscall.Kill(s.pid, syscall.SIGKILL)
		}
		return nil, nil, fmt.Errorf("shim: %w", err), true
	}
	// The shim's answer wins over its death or the deadline when both are there: a shim
	// whose command already ended can be idle again, even quitting, before we look, and
	// starting the command on another shim would run it twice.
	var m *Msg
	select {
	case m = <-c.reply:
	case <-s.dead:
	case <-ctx.Done():
	}
	if m == nil {
		select {
		case m = <-c.reply:
		default:
		}
	}
	switch {
	case m != nil && m.Op == OpFailed:
		s.detach()
		p.put(s)
		return nil, m, nil, false
	case m != nil:
		c.PID = m.PID
		return c, nil, nil, false
	case s.isDead() && ctx.Err() == nil: // a cancelled start is never retried elsewhere
		return nil, nil, ErrShimDied, true
	}
	s.mu.Lock()
	mine := s.cur == c
	s.mu.Unlock()
	if mine { // never a shim that went on to another command
		syscall.Kill(s.pid, syscall.SIGKILL)
	}
	return nil, nil, ctx.Err(), false
}

func (c *Command) finish(r Result) {
	c.once.Do(func() { c.done <- r })
}

// Done delivers the command's result once.
func (c *Command) Done() <-chan Result { return c.done }

// Signal delivers sig to the command's main process.
func (c *Command) Signal(sig syscall.Signal) {
	c.shim.sendFor(c, &Msg{Op: OpSignal, Signal: int(sig)}, nil)
}

// Kill SIGKILLs the command's whole tree.
func (c *Command) Kill() {
	if c.shim.sendFor(c, &Msg{Op: OpKill}, nil) != nil && !c.shim.isDead() {
		// The shim is unreachable: kill it, its tree is then orphaned to init. Not
		// expected; the reaper reports the death and the command ends as killed.
		syscall.Kill(c.shim.pid, syscall.SIGKILL)
	}
}

// Release tells the shim the command is finished with; leftovers stay running.
func (c *Command) Release() {
	s := c.shim
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != c || c.gone {
		return
	}
	c.gone = true
	send(unixConn{s.conn}, &Msg{Op: OpRelease}, nil)
}

// Close shuts the pool down: every shim is told to go (a busy one kills its tree first).
// It waits at most timeout for them to die.
func (p *Pool) Close(timeout time.Duration) {
	p.mu.Lock()
	p.closed = true
	shims := make([]*Shim, 0, len(p.all))
	for s := range p.all {
		shims = append(shims, s)
	}
	p.idle = nil
	p.mu.Unlock()
	for _, s := range shims {
		s.conn.CloseWrite()
	}
	deadline := time.After(timeout)
	for _, s := range shims {
		select {
		case <-s.dead:
		case <-deadline:
			return
		}
	}
}
