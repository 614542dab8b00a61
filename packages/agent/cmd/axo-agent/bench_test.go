package main

import (
	"os"
	"sort"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

// TestExecLatency measures the round trip of `true` (connect, hello, auth+start, started,
// exit). It runs only with AXO_AGENT_BENCH=1, against AXO_AGENT_SOCKET and
// AXO_AGENT_TOKEN_FILE when set (an agent in a container), else against its own agent.
func TestExecLatency(t *testing.T) {
	if os.Getenv("AXO_AGENT_BENCH") != "1" {
		t.Skip("set AXO_AGENT_BENCH=1 to measure exec latency")
	}
	var a *agent
	if sock := os.Getenv("AXO_AGENT_SOCKET"); sock != "" {
		tok, err := os.ReadFile(os.Getenv("AXO_AGENT_TOKEN_FILE"))
		if err != nil {
			t.Fatal(err)
		}
		token, err := wire.ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		a = &agent{sock: sock, token: token}
	} else {
		a = newAgent(t)
	}
	cmd := []string{"true"}
	if c := os.Getenv("AXO_AGENT_BENCH_CMD"); c != "" {
		cmd = []string{"sh", "-c", c}
	}
	for i := 0; i < 20; i++ { // warm up
		a.exec(t, wire.Start{Argv: cmd})
	}
	n := 200
	d := make([]time.Duration, n)
	for i := range d {
		t0 := time.Now()
		_, r := a.exec(t, wire.Start{Argv: cmd})
		d[i] = time.Since(t0)
		if code(r.exit) != "0" {
			t.Fatalf("exit %s: %q", code(r.exit), r.stderr.String())
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	t.Logf("exec %v x%d: p50 %v p95 %v p99 %v min %v max %v", cmd, n, d[n/2], d[n*95/100], d[n*99/100], d[0], d[n-1])
}
