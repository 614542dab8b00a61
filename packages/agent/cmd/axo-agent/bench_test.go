package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

// TestExecLatency measures the round trip of `true` (connect, hello, auth+start, started,
// exit). It runs only with AXO_AGENT_BENCH=1, against AXO_AGENT_SOCKET and
// AXO_AGENT_TOKEN_FILE when set (an agent in a container), else against its own agent.
func TestExecLatency(t *testing.T) {
	a := benchAgent(t)
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

// benchAgent is the agent a benchmark talks to: AXO_AGENT_SOCKET and AXO_AGENT_TOKEN_FILE
// (an agent in a container) when set, else a private one started with
// AXO_AGENT_BENCH_FLAGS. Benchmarks run only with AXO_AGENT_BENCH=1.
func benchAgent(t *testing.T) *agent {
	if os.Getenv("AXO_AGENT_BENCH") != "1" {
		t.Skip("set AXO_AGENT_BENCH=1 to measure")
	}
	if sock := os.Getenv("AXO_AGENT_SOCKET"); sock != "" {
		tok, err := os.ReadFile(os.Getenv("AXO_AGENT_TOKEN_FILE"))
		if err != nil {
			t.Fatal(err)
		}
		token, err := wire.ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		return &agent{sock: sock, token: token}
	}
	return newAgentWith(t, strings.Fields(os.Getenv("AXO_AGENT_BENCH_FLAGS"))...)
}

func percentiles(d []time.Duration) string {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	n := len(d)
	return fmt.Sprintf("p50 %v p95 %v p99 %v min %v max %v", d[n/2], d[n*95/100], d[n*99/100], d[0], d[n-1])
}

// TestFileLatency measures file requests through the protocol: 1 KB write and read
// latency, 1 MB write and read throughput. It runs only with AXO_AGENT_BENCH=1; the
// directory is AXO_AGENT_BENCH_DIR (a path as the agent sees it; default: a temporary
// directory), the user AXO_AGENT_BENCH_USER (default: the agent's).
func TestFileLatency(t *testing.T) {
	a := benchAgent(t)
	dir := os.Getenv("AXO_AGENT_BENCH_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	user := os.Getenv("AXO_AGENT_BENCH_USER")
	if r := a.fileReq(t, wire.FsMkdir{Type: wire.TypeFsMkdir, Path: dir, Parents: true, User: user}); r.err != nil {
		t.Fatal(r.err)
	}
	small := bytes.Repeat([]byte("k"), 1024)
	big := bytes.Repeat([]byte("M"), 1<<20)
	write := func(name string, data []byte) time.Duration {
		t0 := time.Now()
		r := a.writeFile(t, wire.FsWrite{Path: dir + "/" + name, User: user}, bytes.NewReader(data), min(len(data), 1<<20))
		d := time.Since(t0)
		if r.err != nil || r.entry.Size != int64(len(data)) {
			t.Fatalf("write: %+v", r.err)
		}
		return d
	}
	read := func(name string, size int) time.Duration {
		t0 := time.Now()
		r := a.readFile(t, wire.FsRead{Path: dir + "/" + name, User: user}, io.Discard)
		d := time.Since(t0)
		if r.err != nil || r.readEnd.Bytes != int64(size) {
			t.Fatalf("read: %+v", r.err)
		}
		return d
	}
	for i := 0; i < 20; i++ { // warm up
		write(fmt.Sprintf("small-%d", i%10), small)
		read(fmt.Sprintf("small-%d", i%10), len(small))
	}
	const n = 300
	ws, rs, ss := make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n)
	for i := range ws {
		ws[i] = write(fmt.Sprintf("small-%d", i%10), small)
		rs[i] = read(fmt.Sprintf("small-%d", i%10), len(small))
		t0 := time.Now()
		if r := a.fileReq(t, wire.FsStat{Type: wire.TypeFsStat, Path: dir + "/small-0", User: user}); r.err != nil {
			t.Fatal(r.err)
		}
		ss[i] = time.Since(t0)
	}
	t.Logf("1 KB write x%d: %s", n, percentiles(ws))
	t.Logf("1 KB read  x%d: %s", n, percentiles(rs))
	t.Logf("stat       x%d: %s", n, percentiles(ss))
	const m = 50
	wb, rb := make([]time.Duration, m), make([]time.Duration, m)
	var wt, rt time.Duration
	for i := 0; i < m; i++ {
		wb[i] = write(fmt.Sprintf("big-%d", i%5), big)
		rb[i] = read(fmt.Sprintf("big-%d", i%5), len(big))
		wt += wb[i]
		rt += rb[i]
	}
	mb := float64(m*len(big)) / 1e6
	t.Logf("1 MB write x%d: %.0f MB/s, %s", m, mb/wt.Seconds(), percentiles(wb))
	t.Logf("1 MB read  x%d: %.0f MB/s, %s", m, mb/rt.Seconds(), percentiles(rb))
	a.fileReq(t, wire.FsRemove{Type: wire.TypeFsRemove, Path: dir, Recursive: true, User: user})
}

// TestExecBurst measures N (default 50) concurrent round trips of `true` on one agent,
// in rounds. It runs only with AXO_AGENT_BENCH=1 (see TestExecLatency for the target).
func TestExecBurst(t *testing.T) {
	a := benchAgent(t)
	n, rounds := envInt("AXO_AGENT_BENCH_N", 50), envInt("AXO_AGENT_BENCH_ROUNDS", 5)
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

// envInt is a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
