// Package sigs makes a process deaf to the signals it does not handle. Swallow catches them
// (os/signal) rather than ignoring them, because an ignored disposition survives exec and
// would reach every command, while caught ones are reset in children; IgnoreAsync (for the
// shims, which cannot spare os/signal's threads) ignores only signals the Go runtime still
// believes it handles, which it resets in the children it forks.
package sigs

import (
	"os"
	"os/signal"
	"syscall"
)

// Deaf is every asynchronous signal an agent process swallows (SIGKILL and SIGSTOP cannot
// be caught; SIGCHLD belongs to the reaper; SIGURG and SIGPROF to the Go runtime).
var Deaf = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGILL, syscall.SIGTRAP,
	syscall.SIGABRT, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGUSR1, syscall.SIGSEGV,
	syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGSTKFLT, syscall.SIGTSTP,
	syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGVTALRM,
	syscall.SIGWINCH, syscall.SIGIO, syscall.SIGPWR, syscall.SIGSYS, syscall.SIGCONT,
}

// Swallow catches Deaf and also delivers the handled signals on the returned channel
// (the rest are dropped).
func Swallow(handled ...os.Signal) <-chan os.Signal {
	want := map[os.Signal]bool{}
	for _, s := range handled {
		want[s] = true
	}
	in := make(chan os.Signal, 16)
	out := make(chan os.Signal, 4)
	signal.Notify(in, append(append([]os.Signal{}, Deaf...), handled...)...)
	go func() {
		for s := range in {
			if want[s] {
				select {
				case out <- s:
				default:
				}
			}
		}
	}()
	return out
}
