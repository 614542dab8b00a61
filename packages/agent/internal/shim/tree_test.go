package shim

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in     string
		pid    int
		ppid   int
		zombie bool
		ok     bool
	}{
		{"42 (sleep) S 7 42 42 0", 42, 7, false, true},
		{"43 (a) b) (c) Z 1 43", 43, 1, true, true},
		{"44 (with space) R 2", 44, 2, false, true},
		{"45 (x)", 0, 0, false, false},
		{"garbage", 0, 0, false, false},
		{"", 0, 0, false, false},
	} {
		e, ok := parseStat([]byte(tc.in))
		if ok != tc.ok || (ok && (e.pid != tc.pid || e.ppid != tc.ppid || e.zombie != tc.zombie)) {
			t.Errorf("%q: %+v %v", tc.in, e, ok)
		}
	}
}

func TestDescendants(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 10 & sleep 10 & wait")
	if err := cmd.Start(); err != nil {
		t.Skip("no sh:", err)
	}
	defer cmd.Wait()
	var alive []int
	for i := 0; i < 200 && len(alive) < 3; i++ {
		alive, _ = Descendants(os.Getpid())
	}
	if len(alive) < 3 { // sh and two sleeps
		t.Fatalf("descendants %v", alive)
	}
	others := Others(os.Getpid(), map[int]bool{cmd.Process.Pid: true})
	for _, p := range others {
		if p == os.Getpid() || p == cmd.Process.Pid {
			t.Fatalf("Others includes %d", p)
		}
	}
	if left := KillTree(os.Getpid(), 2*time.Second); left != 0 {
		t.Fatalf("%d left", left)
	}
	if alive, _ := Descendants(os.Getpid()); len(alive) != 0 {
		t.Fatalf("still alive: %v", alive)
	}
}
