package shim

import (
	"context"
	"testing"
	"time"
)

func TestAdmitLetsWidthThroughAndEscapesSlowStarts(t *testing.T) {
	// The width part must not race the escape: a long one first.
	p := &Pool{starting: make(chan struct{}, 2), slowAt: time.Minute}
	ctx := context.Background()
	r1, _ := p.admit(ctx)
	r2, _ := p.admit(ctx)

	// Others wait while both slots are held; each release lets exactly one through.
	// (Arrival order is the channel's: waiting senders are served first in, first out.)
	admitted := make(chan func(), 2)
	for i := 0; i < 2; i++ {
		go func() {
			release, err := p.admit(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			admitted <- release
		}()
	}
	select {
	case <-admitted:
		t.Fatal("admitted while both slots were held")
	case <-time.After(50 * time.Millisecond):
	}
	r1()
	r1() // a second release changes nothing
	w1 := <-admitted
	select {
	case <-admitted:
		t.Fatal("two admitted for one release")
	case <-time.After(50 * time.Millisecond):
	}
	w1()
	(<-admitted)()

	// A start that holds its slot past admitSlow stops holding the queue.
	r2()
	p.slowAt = 0
	r3, _ := p.admit(ctx)
	r5, _ := p.admit(ctx) // both slots freshly taken
	started := time.Now()
	r4, err := p.admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(started); waited < admitSlow/2 || waited > 5*time.Second {
		t.Fatalf("admitted after %v, want about %v", waited, admitSlow)
	}
	r3()
	r4()
	r5()

	// A caller whose context ends stops waiting.
	full := &Pool{starting: make(chan struct{}, 1)}
	hold, _ := full.admit(ctx)
	defer hold()
	c, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := full.admit(c); err == nil {
		t.Fatal("admitted with a full pool and an ended context")
	}
}
