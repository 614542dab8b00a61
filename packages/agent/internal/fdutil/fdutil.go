// Package fdutil holds descriptor hygiene helpers.
package fdutil

import (
	"os"
	"strconv"
	"syscall"
)

const (
	sysCloseRange     = 436 // same number on amd64 and arm64
	closeRangeCloexec = 1 << 2
)

// CloexecFrom marks every open descriptor ≥ from close-on-exec, so that whatever this
// process inherited (a parent's stray descriptors) is never passed on to children.
func CloexecFrom(from int) {
	if _, _, errno := syscall.RawSyscall(sysCloseRange, uintptr(from), ^uintptr(0)>>32, closeRangeCloexec); errno == 0 {
		return
	}
	// Kernels before 5.11: walk /proc/self/fd.
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd >= from {
			syscall.CloseOnExec(fd)
		}
	}
}
