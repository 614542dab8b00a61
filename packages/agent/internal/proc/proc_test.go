package proc

import (
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"axo.dev/agent/internal/users"
)

func TestDeadline(t *testing.T) {
	var fired atomic.Int32
	start := time.Now()
	at := make(chan time.Duration, 1)
	NewDeadline(100*time.Millisecond, func() { fired.Add(1); at <- time.Since(start) })
	stopped := NewDeadline(10*time.Millisecond, func() { fired.Add(1) })
	stopped.Stop()
	NewDeadline(0, func() { fired.Add(1) }) // none
	select {
	case after := <-at:
		if after < 100*time.Millisecond {
			t.Fatalf("fired after %v, before its time", after)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never fired")
	}
	time.Sleep(50 * time.Millisecond)
	if fired.Load() != 1 {
		t.Fatalf("fired %d times: a stopped or empty deadline fired, or one fired twice", fired.Load())
	}
}

func TestBuildEnv(t *testing.T) {
	base := []string{"A=1", "HOME=/root", "USER=root", "LOGNAME=root", "B=x=y", "junk", "=bad"}
	u := &users.User{Name: "dev", Home: "/home/dev"}
	got := buildEnv(base, u, true, map[string]string{"B": "2", "C": "3"})
	want := []string{"A=1", "B=2", "HOME=/home/dev", "USER=dev", "LOGNAME=dev", "PATH=" + DefaultPath, "TERM=xterm", "C=3"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// PATH and TERM from the base or request win; an unknown uid has no USER.
	got = buildEnv([]string{"PATH=/bin"}, &users.User{Home: "/"}, true, map[string]string{"TERM": "dumb"})
	want = []string{"PATH=/bin", "HOME=/", "TERM=dumb"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	if v, ok := envValue(got, "TERM"); !ok || v != "dumb" {
		t.Fatal(v)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "rel"), nil, 0o755)
	for _, tc := range []struct {
		argv0, path string
		want        string
		code        int
	}{
		{"tool", "/nonexistent:" + dir, exe, 0},
		{"data", dir, "", 126},
		{"nothing", dir, "", 127},
		{"sub", dir, "", 127}, // a directory is not a command
		{"rel", "sub", filepath.Join(dir, "sub", "rel"), 0},
		{"./anything", "", "./anything", 0},
	} {
		got, code, _ := lookPath(tc.argv0, tc.path, dir)
		if got != tc.want || code != tc.code {
			t.Errorf("%s in %q: %q %d, want %q %d", tc.argv0, tc.path, got, code, tc.want, tc.code)
		}
	}
}

func TestExecFailureAndSignalNames(t *testing.T) {
	if c, m := execFailure(syscall.ENOENT, ""); c != 127 || m != "No such file or directory" {
		t.Fatal(c, m)
	}
	if c, m := execFailure(syscall.EACCES, ""); c != 126 || m != "Permission denied" {
		t.Fatal(c, m)
	}
	for name, sig := range Signals {
		if SignalName(sig) != name {
			t.Errorf("%s: %s", name, SignalName(sig))
		}
	}
	if SignalName(syscall.SIGSEGV) != "SEGV" || SignalName(syscall.SIGPIPE) != "PIPE" {
		t.Fatal("names")
	}
	for _, id := range []string{"a", "task-1", "A.b_c-9"} {
		if !ValidID(id) {
			t.Error(id)
		}
	}
	for _, id := range []string{"", "a b", "a/b", string(make([]byte, 101))} {
		if ValidID(id) {
			t.Errorf("%q", id)
		}
	}
}
