package gateway

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Record is one connection in the audit trail: allowed or denied, with what it moved.
type Record struct {
	Time    time.Time `json:"time"` // when the session asked for it
	Session string    `json:"session"`
	// Kind is "connect" (a CONNECT tunnel) or "http" (plain HTTP requests to one host).
	Kind   string `json:"kind"`
	Method string `json:"method,omitempty"` // the first request's method (http)
	// Host and Port are the destination as asked for (normalised: lower-case name, or the address).
	Host string `json:"host"`
	Port uint16 `json:"port"`
	// Address is what was connected to (or the address a denial was about); empty when the
	// name was never resolved.
	Address string `json:"address,omitempty"`
	// Decision: allow, deny, or error (allowed, but resolving or connecting failed).
	Decision string `json:"decision"`
	// Rule is the entry that allowed it, or the denial's rule (default-deny, loopback, …).
	Rule   string `json:"rule"`
	Reason string `json:"reason,omitempty"`
	// BytesIn came from the destination; BytesOut went to it.
	BytesIn    int64   `json:"bytesIn"`
	BytesOut   int64   `json:"bytesOut"`
	DurationMs float64 `json:"durationMs"`
	Requests   int     `json:"requests,omitempty"`
	// Closed says why the gateway cut an open connection (policy-changed, gateway-stopped).
	Closed string `json:"closed,omitempty"`
}

// Stats are the cumulative counters (stats.json).
type Stats struct {
	Connections map[string]int64 `json:"connections"` // by decision
	BytesIn     int64            `json:"bytesIn"`
	BytesOut    int64            `json:"bytesOut"`
	Active      int64            `json:"active"`
	UpdatedAt   time.Time        `json:"updatedAt"`
}

// audit appends records to audit.jsonl, rotating it to audit.1.jsonl past maxBytes, and
// keeps the counters.
type audit struct {
	dir      string
	maxBytes int64
	log      func(string, ...any)

	mu   sync.Mutex
	f    *os.File
	size int64

	allow, deny, fail, in, out, active atomic.Int64
	dirty                              atomic.Bool
}

func openAudit(dir string, maxBytes int64, log func(string, ...any)) (*audit, error) {
	a := &audit{dir: dir, maxBytes: maxBytes, log: log}
	if err := a.open(); err != nil {
		return nil, err
	}
	a.loadStats()
	return a, nil
}

func (a *audit) open() error {
	path := filepath.Join(a.dir, AuditFile)
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_APPEND|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	a.f = os.NewFile(uintptr(fd), path)
	st, err := a.f.Stat()
	if err != nil {
		return err
	}
	a.size = st.Size()
	return nil
}

// loadStats continues the counters of an earlier gateway of this session (a restart).
func (a *audit) loadStats() {
	data, err := readSmall(filepath.Join(a.dir, StatsFile), 1<<16)
	if err != nil {
		return
	}
	var s Stats
	if json.Unmarshal(data, &s) != nil {
		return
	}
	a.allow.Store(s.Connections["allow"])
	a.deny.Store(s.Connections["deny"])
	a.fail.Store(s.Connections["error"])
	a.in.Store(s.BytesIn)
	a.out.Store(s.BytesOut)
}

func (a *audit) write(r *Record) {
	switch r.Decision {
	case "allow":
		a.allow.Add(1)
	case "deny":
		a.deny.Add(1)
	default:
		a.fail.Add(1)
	}
	a.in.Add(r.BytesIn)
	a.out.Add(r.BytesOut)
	a.dirty.Store(true)
	line, err := json.Marshal(r)
	if err != nil {
		return
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return
	}
	if a.size+int64(len(line)) > a.maxBytes && a.size > 0 {
		a.f.Close()
		a.f = nil
		if err := os.Rename(filepath.Join(a.dir, AuditFile), filepath.Join(a.dir, AuditOld)); err != nil {
			a.log("audit: rotate: %v", err)
		}
		if err := a.open(); err != nil {
			a.log("audit: reopen: %v", err)
			return
		}
	}
	n, err := a.f.Write(line)
	a.size += int64(n)
	if err != nil {
		a.log("audit: write: %v", err)
	}
}

func (a *audit) stats() Stats {
	return Stats{
		Connections: map[string]int64{"allow": a.allow.Load(), "deny": a.deny.Load(), "error": a.fail.Load()},
		BytesIn:     a.in.Load(),
		BytesOut:    a.out.Load(),
		Active:      a.active.Load(),
		UpdatedAt:   time.Now().UTC(),
	}
}

// flushStats writes stats.json when something changed since the last write.
func (a *audit) flushStats(force bool) {
	if !a.dirty.Swap(false) && !force {
		return
	}
	if err := writeJSON(a.dir, StatsFile, a.stats()); err != nil {
		a.log("stats: %v", err)
	}
}

func (a *audit) close() {
	a.flushStats(true)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f != nil {
		a.f.Close()
		a.f = nil
	}
}
