package main

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

// TestExecBurst measures N (default 50) concurrent round trips of `true` on one agent,
// in rounds. It runs only with AXO_AGENT_BENCH=1 (see TestExecLatency for the target).
func TestExecBurst(t *testing.T) {
	if os.Getenv("AXO_AGENT_BENCH") != "1" {
		t.Skip("set AXO_AGENT_BENCH=1 to measure concurrent execs")
	}
	a := benchAgent(t)
	n := 50
	if s := os.Getenv("AXO_AGENT_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	rounds := 5
	if s := os.Getenv("AXO_AGENT_BENCH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	for round := 0; round < rounds; round++ {
		d := make([]time.Duration, n)
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := range d {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := time.Now()
				_, r := a.exec(t, wire.Start{Argv: []string{"true"}})
				d[i] = time.Since(s)
				if code(r.exit) != "0" {
					t.Errorf("exit %s", code(r.exit))
				}
			}()
		}
		wg.Wait()
		wall := time.Since(t0)
		t.Logf("round %d, %d at once: %s, wall %v", round, n, percentiles(d), wall)
		if os.Getenv("AXO_AGENT_BENCH_ROUNDS") == "" {
			time.Sleep(300 * time.Millisecond)
		}
	}
}
