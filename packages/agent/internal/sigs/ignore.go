//go:build linux && (amd64 || arm64)

package sigs

import (
	"syscall"
	"unsafe"
)

// sigaction is the kernel's struct sigaction on linux/amd64 and linux/arm64 (both have
// sa_restorer; the agent is built for those two only).
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	sigDfl = 0
	sigIgn = 1
)

// Async is Deaf without the signals a fault raises (a Go runtime fault must stay a
// panic) and without SIGCONT (ignoring it changes nothing: it resumes a process anyway).
var Async = []syscall.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGUSR1,
	syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGSTKFLT, syscall.SIGTSTP,
	syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGVTALRM,
	syscall.SIGWINCH, syscall.SIGIO, syscall.SIGPWR,
}

// IgnoreAsync sets the signals of Async to SIG_IGN behind the Go runtime's back. Unlike
// Swallow it starts no threads (os/signal keeps three per process, and every thread of a
// shim counts against the container's pids limit). It only touches a signal the runtime
// installed its own handler for: the runtime still believes it handles those, so a child
// it forks gets them back at SIG_DFL before exec. One it left at SIG_DFL (the job-control
// stops) would stay ignored in children, so it stays as it is. Safe only in a process
// that never uses os/signal for these signals.
func IgnoreAsync() error {
	ign := sigaction{handler: sigIgn}
	for _, s := range Async {
		var old sigaction
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(s), 0,
			uintptr(unsafe.Pointer(&old)), 8, 0, 0); errno != 0 {
			return errno
		}
		if old.handler == sigDfl || old.handler == sigIgn {
			continue
		}
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(s),
			uintptr(unsafe.Pointer(&ign)), 0, 8, 0, 0); errno != 0 {
			return errno
		}
	}
	return nil
}
