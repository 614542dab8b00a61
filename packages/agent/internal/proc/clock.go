package proc

import (
	"sync"
	"time"
)

// A paused session is frozen by the cgroup freezer: the agent does not run, but the
// monotonic clock goes on. When it thaws, every timer is overdue at once, and a timeout
// would kill a command for time the session spent paused. The agent notices a freeze on
// its own — a ticker that should tick every tickEvery finds a gap far longer — so no notice
// from the host (which could arrive after the timers fired) is needed.
const (
	tickEvery = 100 * time.Millisecond
	// A gap longer than this between ticks counts as frozen time. A heavily loaded machine
	// can delay a tick too; that only lengthens a timeout, never shortens it.
	freezeGap = time.Second
)

var clock = struct {
	mu     sync.Mutex
	last   time.Time
	frozen time.Duration
	once   sync.Once
}{}

func startClock() {
	clock.once.Do(func() {
		clock.last = time.Now()
		go func() {
			t := time.NewTicker(tickEvery)
			for now := range t.C {
				clock.mu.Lock()
				if gap := now.Sub(clock.last); gap > freezeGap {
					clock.frozen += gap - tickEvery
				}
				clock.last = now
				clock.mu.Unlock()
			}
		}()
	})
}

// Frozen returns how long this process has spent frozen since it started, including a
// freeze that has just ended and that the ticker has not seen yet.
func Frozen() time.Duration {
	startClock()
	clock.mu.Lock()
	defer clock.mu.Unlock()
	f := clock.frozen
	if gap := time.Since(clock.last); gap > freezeGap {
		f += gap - tickEvery
	}
	return f
}
