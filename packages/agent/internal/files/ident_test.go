package files

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"
)

// threadCapEff reads the calling thread's effective capabilities.
func threadCapEff(t *testing.T) uint64 {
	f, err := os.Open("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no CapEff")
	return 0
}

const (
	capChown          = 0
	capDacOverride    = 1
	capDacReadSearch  = 2
	capFowner         = 3
	capSetgid         = 6
	capSetuid         = 7
	fsCapsDroppedMask = 1<<capChown | 1<<capDacOverride | 1<<capDacReadSearch | 1<<capFowner
)

func TestRunAsSwitchesOnlyItsThread(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	openDir(t, dir)

	// Other goroutines keep reading the root-only file while switched threads come and
	// go: none of them may ever be refused (the identity must not leak to other threads).
	var stop atomic.Bool
	var refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := os.ReadFile(secret); err != nil {
					refused.Add(1)
				}
				runtime.Gosched()
			}
		}()
	}
	id := &identity{label: "nobody", uid: 65534, gid: 65534, groups: []uint32{65534, 100}, switched: true}
	for i := 0; i < 50; i++ {
		var uid, gid uint32
		var caps uint64
		var groups []uint32
		var openErr error
		err := runAs(id, func() {
			uid, gid = threadFSIDs()
			caps = threadCapEff(t)
			groups, _ = threadGroups()
			_, openErr = os.ReadFile(secret)
		})
		if err != nil {
			t.Fatal(err)
		}
		if uid != 65534 || gid != 65534 || len(groups) != 2 {
			t.Fatalf("fsuid %d fsgid %d groups %v", uid, gid, groups)
		}
		if caps&fsCapsDroppedMask != 0 {
			t.Fatalf("file capabilities still effective on the switched thread: %#x", caps)
		}
		if caps&(1<<capSetuid) == 0 {
			t.Fatalf("CAP_SETUID should stay: %#x", caps)
		}
		if !os.IsPermission(openErr) {
			t.Fatalf("read a 0600 root file as nobody: %v", openErr)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Fatalf("%d reads on other threads were refused: the identity leaked", n)
	}
	// And this goroutine's thread is still root.
	if u, _ := threadFSIDs(); u != 0 {
		t.Fatalf("caller's fsuid %d", u)
	}
}

func TestRunAsRecoversPanics(t *testing.T) {
	for _, switched := range []bool{false, true} {
		if switched && os.Geteuid() != 0 {
			continue
		}
		err := runAs(&identity{uid: 65534, gid: 65534, switched: switched}, func() { panic("boom") })
		pe, ok := err.(*panicError)
		if !ok || pe.value != "boom" {
			t.Fatalf("switched=%v: %v", switched, err)
		}
	}
}

func TestSwitchFailsWithoutCapabilities(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		drop uint32
		want string
	}{
		{1 << capSetuid, "setfsuid(65534) did not take"},
		{1 << capSetgid, "setgroups"},
	} {
		done := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			// Drop the capability from this thread's effective set only.
			hdr := capHeader{version: 0x20080522}
			var data [2]capData
			if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
				done <- e
				return
			}
			data[0].effective &^= tc.drop
			if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
				done <- e
				return
			}
			done <- switchThread(65534, 65534, nil)
		}()
		if err := <-done; err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("switch without capability %#x: %v", tc.drop, err)
		}
	}
}
