// Package reaper is the one place that waits for children. A single goroutine calls
// wait4(-1, WNOHANG) on every SIGCHLD (Start, the agent's) or waits in a blocking wait4
// while there are children (StartBlocking, a shim's), and routes each status to whoever
// registered that pid; statuses of unknown pids (orphans inherited as init or as a
// subreaper) are simply collected. Nothing else may wait: no os/exec, no Process.Wait.
package reaper

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Reaper routes child exit statuses.
type Reaper struct {
	mu      sync.Mutex
	waiters map[int]func(syscall.WaitStatus)
	sigs    chan os.Signal
	wake    chan struct{} // StartBlocking's: a child was started
	// Orphan is called (if set) for statuses of pids nobody registered.
	Orphan func(pid int, ws syscall.WaitStatus)
}

// Start returns a running reaper.
func Start() *Reaper {
	r := &Reaper{waiters: map[int]func(syscall.WaitStatus){}, sigs: make(chan os.Signal, 16)}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go func() {
		for range r.sigs {
			r.Reap()
		}
	}()
	return r
}

// Spawn calls start (which must create exactly one child and return its pid) and
// registers onExit for that pid. The reaper cannot route the child's status before it is
// registered, however fast the child exits.
func (r *Reaper) Spawn(start func() (int, error), onExit func(syscall.WaitStatus)) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, err
	}
	r.waiters[pid] = onExit
	if r.wake != nil {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return pid, nil
}

// Reap collects every exited child now. It returns false when there are no children left
// at all (ECHILD), true when some still run.
func (r *Reaper) Reap() (children bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil { // ECHILD: no children
			return false
		}
		if pid <= 0 {
			return true
		}
		if ws.Stopped() || ws.Continued() {
			continue
		}
		r.route(pid, ws)
	}
}

// route hands pid's status to its waiter (or Orphan). Spawn registers under mu while it
// forks, so a status reaped before registration waits here until it is registered.
func (r *Reaper) route(pid int, ws syscall.WaitStatus) {
	r.mu.Lock()
	fn := r.waiters[pid]
	delete(r.waiters, pid)
	orphan := r.Orphan
	r.mu.Unlock()
	if fn != nil {
		fn(ws)
	} else if orphan != nil {
		orphan(pid, ws)
	}
}

// HasChildren reaps what has exited and reports whether any child remains.
func (r *Reaper) HasChildren() bool { return r.Reap() }

// StartBlocking returns a reaper that waits in a blocking wait4 instead of on SIGCHLD:
// it needs no os/signal (whose machinery keeps three threads), and it holds a thread only
// while the process has children. Use one kind of reaper per process.
func StartBlocking() *Reaper {
	r := &Reaper{waiters: map[int]func(syscall.WaitStatus){}, wake: make(chan struct{}, 1)}
	go func() {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, 0, nil)
			switch {
			case err == syscall.EINTR:
			case err != nil: // ECHILD: nothing to wait for until Spawn starts a child
				<-r.wake
			case !ws.Stopped() && !ws.Continued():
				r.route(pid, ws)
			}
		}
	}()
	return r
}
