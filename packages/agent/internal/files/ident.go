package files

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"syscall"
	"unsafe"
)

// identity is the user a request acts as.
type identity struct {
	label  string
	uid    uint32
	gid    uint32
	groups []uint32
	// switched: the work runs on a thread of its own whose fsuid, fsgid and groups are
	// the user's. False for root (nothing to drop) and for an agent that is not root
	// acting as itself.
	switched bool
}

// panicError is a recovered panic.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// runAs runs fn as id. A switched identity runs fn on a new goroutine locked to its OS
// thread for good: the thread's filesystem identity is changed with raw per-thread
// system calls (setgroups, setfsgid, setfsuid: the kernel applies them to the calling
// thread only; Go's syscall.Setuid and friends would change every thread), and because
// the goroutine never unlocks, the runtime discards the thread when fn returns, so no
// other goroutine ever runs with that identity. A fsuid other than 0 also clears
// CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_CHOWN, CAP_FSETID and the other
// file capabilities from the thread's effective set, so the kernel checks exactly the
// user's permissions. Threads the runtime creates while a locked thread runs are cloned
// from its template thread, never from a locked one, so the identity is not inherited.
//
// A panic in fn is returned as a *panicError (the caller answers INTERNAL).
func runAs(id *identity, fn func()) (err error) {
	if !id.switched {
		defer func() {
			if v := recover(); v != nil {
				err = &panicError{value: v, stack: debug.Stack()}
			}
		}()
		fn()
		return nil
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		defer func() {
			if v := recover(); v != nil {
				done <- &panicError{value: v, stack: debug.Stack()}
			}
		}()
		if err := switchThread(id.uid, id.gid, id.groups); err != nil {
			done <- fmt.Errorf("cannot act as user %s: %w", id.label, err)
			return
		}
		fn()
		done <- nil
	}()
	return <-done
}

// switchThread gives the calling thread (which must be locked and never reused) the
// filesystem identity uid/gid/groups and checks that each change took: setfsuid and
// setfsgid report no error, only the previous value, so each is called twice and the
// second call reads the new value back.
func switchThread(uid, gid uint32, groups []uint32) error {
	if len(groups) > 65536 {
		return fmt.Errorf("too many supplementary groups (%d)", len(groups))
	}
	gs := append([]uint32(nil), groups...)
	var p unsafe.Pointer
	if len(gs) > 0 {
		p = unsafe.Pointer(&gs[0])
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(gs)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("setgroups: %w (the agent needs CAP_SETGID)", e)
	}
	runtime.KeepAlive(gs)
	syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(gid), 0, 0)
	if cur, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(gid), 0, 0); uint32(cur) != gid {
		return fmt.Errorf("setfsgid(%d) did not take, fsgid is %d (the agent needs CAP_SETGID)", gid, uint32(cur))
	}
	syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(uid), 0, 0)
	if cur, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(uid), 0, 0); uint32(cur) != uid {
		return fmt.Errorf("setfsuid(%d) did not take, fsuid is %d (the agent needs CAP_SETUID)", uid, uint32(cur))
	}
	got, err := threadGroups()
	if err != nil {
		return err
	}
	if len(got) != len(gs) {
		return fmt.Errorf("setgroups did not take: %v, want %v", got, gs)
	}
	want := map[uint32]bool{}
	for _, g := range gs {
		want[g] = true
	}
	for _, g := range got {
		if !want[g] {
			return fmt.Errorf("setgroups did not take: %v, want %v", got, gs)
		}
	}
	return nil
}

// threadGroups returns the calling thread's supplementary groups.
func threadGroups() ([]uint32, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_GETGROUPS, 0, 0, 0)
	if e != 0 {
		return nil, fmt.Errorf("getgroups: %w", e)
	}
	if n == 0 {
		return nil, nil
	}
	buf := make([]uint32, n)
	m, _, e := syscall.RawSyscall(syscall.SYS_GETGROUPS, n, uintptr(unsafe.Pointer(&buf[0])), 0)
	if e != 0 {
		return nil, fmt.Errorf("getgroups: %w", e)
	}
	return buf[:m], nil
}

// threadFSIDs reads the calling thread's fsuid and fsgid (setfs*id(-1) fails and
// returns the current value).
func threadFSIDs() (uid, gid uint32) {
	u, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, ^uintptr(0), 0, 0)
	g, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, ^uintptr(0), 0, 0)
	return uint32(u), uint32(g)
}
