package shim

import (
	"context"
	"testing"
	"time"
)

func TestAdmitLetsWidthThroughInOrderAndEscapesSlowStarts(t *testing.T) {
	// The order part must not race the escape: a long one first.
	p := &Pool{starting: make(chan struct{}, 2), slowAt: time.Minute}
	ctx := context.Background()
	r1, _ := p.admit(ctx)
	r2, _ := p.admit(ctx)

	// A third waits while both slots are held, in order behind an earlier waiter.
	order := make(chan int, 2)
	for i := 1; i <= 2; i++ {
		go func() {
			release, err := p.admit(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			release()
		}()
		time.Sleep(5 * time.Millisecond) // queue them in this order
	}
	select {
	case i := <-order:
		t.Fatalf("waiter %d admitted while both slots were held (and before the 50 ms escape)", i)
	case <-time.After(20 * time.Millisecond):
	}
	r1()
	r1() // a second release changes nothing
	if i := <-order; i != 1 {
		t.Fatalf("waiter %d admitted first, want 1", i)
	}
	if i := <-order; i != 2 {
		t.Fatalf("waiter %d admitted second, want 2", i)
	}

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
	if waited := time.Since(started); waited < admitSlow/2 || waited > 10*admitSlow {
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
