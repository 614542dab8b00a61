package proc

import (
	"testing"
	"time"
)

func TestDeadlineSkipsFrozenTime(t *testing.T) {
	// Simulate a freeze: hold the clock's ticker off for longer than freezeGap by
	// pretending the last tick was long ago, as a thawed process sees it.
	startClock()
	fired := make(chan time.Time, 1)
	start := time.Now()
	d := NewDeadline(200*time.Millisecond, func() { fired <- time.Now() })
	defer d.Stop()
	clock.mu.Lock()
	clock.last = clock.last.Add(-3 * time.Second)
	clock.mu.Unlock()
	select {
	case at := <-fired:
		if at.Sub(start) < 2*time.Second {
			t.Fatalf("deadline fired after %v: the 3 s freeze was counted", at.Sub(start))
		}
	case <-time.After(6 * time.Second):
		t.Fatal("deadline never fired")
	}
}
