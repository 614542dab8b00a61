package proc

import (
	"sync"
	"time"
)

// Deadline runs fn once when it expires. It is the one place a process's timer lives:
// when it fires it first pushes itself back by the time the agent spent frozen (Frozen,
// which clock.go measures itself), so a paused session's time never counts.
type Deadline struct {
	mu      sync.Mutex
	at      time.Time
	timer   *time.Timer
	fired   bool
	stopped bool
	fn      func()
	// frozen is Frozen() as already accounted for: time paused since is added to at.
	frozen time.Duration
}

// NewDeadline starts a deadline d from now; d ≤ 0 means none (a Deadline that never fires).
func NewDeadline(d time.Duration, fn func()) *Deadline {
	dl := &Deadline{fn: fn}
	if d <= 0 {
		dl.stopped = true
		return dl
	}
	dl.at = time.Now().Add(d)
	dl.frozen = Frozen()
	dl.timer = time.AfterFunc(d, dl.fire)
	return dl
}

func (d *Deadline) fire() {
	d.mu.Lock()
	if d.fired || d.stopped {
		d.mu.Unlock()
		return
	}
	// Time the session spent paused does not count: push the deadline back by it.
	if f := Frozen(); f > d.frozen {
		d.at = d.at.Add(f - d.frozen)
		d.frozen = f
	}
	if wait := time.Until(d.at); wait > 0 { // pushed back by frozen time
		d.timer.Reset(wait)
		d.mu.Unlock()
		return
	}
	d.fired = true
	d.mu.Unlock()
	d.fn()
}

// Stop cancels the deadline.
func (d *Deadline) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
	}
}
