package files

import (
	"syscall"
	"unsafe"
)

// Thin wrappers over the *at system calls the syscall package lacks or restricts (it
// has no exported fstatat on amd64, and Unlinkat takes no flags). Every call retries on
// EINTR. They run on whatever thread calls them: the request's switched thread.

const (
	atFDCWD           = -0x64
	atRemoveDir       = 0x200
	atSymlinkNoFollow = 0x100    // AT_SYMLINK_NOFOLLOW
	oPath             = 0x200000 // O_PATH (same on amd64 and arm64)
)

func retry(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func fstatat(dirfd int, name string, st *syscall.Stat_t, flags int) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return syscall.EINVAL
	}
	return retry(func() error {
		_, _, e := syscall.Syscall6(sysFstatat, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(st)), uintptr(flags), 0, 0)
		return errnoErr(e)
	})
}

func unlinkat(dirfd int, name string, flags int) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return syscall.EINVAL
	}
	return retry(func() error {
		_, _, e := syscall.Syscall(syscall.SYS_UNLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags))
		return errnoErr(e)
	})
}

func readlinkat(dirfd int, name string) (string, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return "", syscall.EINVAL
	}
	buf := make([]byte, 4096)
	var n uintptr
	err = retry(func() error {
		var e syscall.Errno
		n, _, e = syscall.Syscall6(syscall.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
		return errnoErr(e)
	})
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func symlinkat(target string, dirfd int, name string) error {
	t, err := syscall.BytePtrFromString(target)
	if err != nil {
		return syscall.EINVAL
	}
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return syscall.EINVAL
	}
	return retry(func() error {
		_, _, e := syscall.Syscall(syscall.SYS_SYMLINKAT, uintptr(unsafe.Pointer(t)), uintptr(dirfd), uintptr(unsafe.Pointer(p)))
		return errnoErr(e)
	})
}

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	var fd int
	err := retry(func() error {
		var err error
		fd, err = syscall.Openat(dirfd, name, flags|syscall.O_CLOEXEC, mode)
		return err
	})
	return fd, err
}

func mkdirat(dirfd int, name string, mode uint32) error {
	return retry(func() error { return syscall.Mkdirat(dirfd, name, mode) })
}

func renameat(olddirfd int, oldname string, newdirfd int, newname string) error {
	return retry(func() error { return syscall.Renameat(olddirfd, oldname, newdirfd, newname) })
}

func closeFD(fd int) {
	syscall.Close(fd)
}
