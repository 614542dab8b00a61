package reaper

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Each kind of reaper runs in a process of its own: a reaper left running by an earlier
// test would wait for (and steal) the statuses of a later one's children.
func TestSpawnNeverLosesAFastExit(t *testing.T) {
	switch os.Getenv("REAPER_TEST_KIND") {
	case "signal":
		spawnAndRoute(t, Start())
	case "blocking":
		spawnAndRoute(t, StartBlocking())
	default:
		for _, kind := range []string{"signal", "blocking"} {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestSpawnNeverLosesAFastExit$", "-test.count=1")
			cmd.Env = append(os.Environ(), "REAPER_TEST_KIND="+kind)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s reaper: %v\n%s", kind, err, out)
			}
		}
	}
}

func spawnAndRoute(t *testing.T, r *Reaper) {
	devnull, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(devnull)
	attr := &syscall.ProcAttr{Files: []uintptr{uintptr(devnull), uintptr(devnull), uintptr(devnull)}}
	const n = 30
	got := make(chan syscall.WaitStatus, n)
	for i := 0; i < n; i++ {
		_, err := r.Spawn(func() (int, error) {
			return syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 7"}, attr)
		}, func(ws syscall.WaitStatus) { got <- ws })
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case ws := <-got:
			if ws.ExitStatus() != 7 {
				t.Fatalf("status %v", ws)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d statuses routed", i, n)
		}
	}
	if r.HasChildren() {
		t.Fatal("children left")
	}
}
