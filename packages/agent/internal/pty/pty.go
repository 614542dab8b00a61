// Package pty opens pseudo-terminals with raw ioctls (no cgo, no x/sys).
package pty

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

const (
	tiocsptlck  = 0x40045431 // _IOW('T', 0x31, int)
	tiocgptn    = 0x80045430 // _IOR('T', 0x30, unsigned int)
	tiocgptpeer = 0x5441     // _IO('T', 0x41), Linux ≥ 4.13
)

func ioctl(fd, req, arg uintptr) error {
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, arg)
	if errno != 0 {
		return errno
	}
	return nil
}

// PTY is an open terminal pair. Master is pollable (deadlines work); Slave is a raw,
// blocking, close-on-exec descriptor for the child, closed by the caller once passed on.
type PTY struct {
	Master *os.File
	Slave  int
	Name   string
}

// Open allocates a new terminal of the given size. When uid ≥ 0 the slave is chowned to
// it (EPERM is ignored: then it stays root's, which only matters to programs that reopen
// /dev/tty by name).
func Open(cols, rows int, uid int) (*PTY, error) {
	mfd, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fail := func(err error) (*PTY, error) {
		syscall.Close(mfd)
		return nil, err
	}
	var unlock int32
	if err := ioctl(uintptr(mfd), tiocsptlck, uintptr(unsafe.Pointer(&unlock))); err != nil {
		return fail(fmt.Errorf("unlockpt: %w", err))
	}
	var n uint32
	if err := ioctl(uintptr(mfd), tiocgptn, uintptr(unsafe.Pointer(&n))); err != nil {
		return fail(fmt.Errorf("ptsname: %w", err))
	}
	name := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	// Prefer TIOCGPTPEER: it opens the peer of this very master, no path lookup.
	r1, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(mfd), tiocgptpeer,
		uintptr(syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC))
	sfd := int(r1)
	if errno != 0 {
		sfd, err = syscall.Open(name, syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fail(fmt.Errorf("open %s: %w", name, err))
		}
	}
	if uid >= 0 {
		if err := syscall.Fchown(sfd, uid, -1); err != nil && err != syscall.EPERM {
			syscall.Close(sfd)
			return fail(fmt.Errorf("chown %s: %w", name, err))
		}
	}
	if err := setSize(uintptr(sfd), cols, rows); err != nil {
		syscall.Close(sfd)
		return fail(err)
	}
	if err := syscall.SetNonblock(mfd, true); err != nil {
		syscall.Close(sfd)
		return fail(err)
	}
	return &PTY{Master: os.NewFile(uintptr(mfd), "ptmx"), Slave: sfd, Name: name}, nil
}

type winsize struct{ rows, cols, x, y uint16 }

func setSize(fd uintptr, cols, rows int) error {
	ws := winsize{rows: uint16(rows), cols: uint16(cols)}
	if err := ioctl(fd, syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); err != nil {
		return fmt.Errorf("set terminal size: %w", err)
	}
	return nil
}

// Resize sets the terminal size (the kernel sends SIGWINCH to the foreground group).
func Resize(master *os.File, cols, rows int) error {
	rc, err := master.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = setSize(fd, cols, rows) }); err != nil {
		return err
	}
	return serr
}

// Reader wraps a master so that EIO (every slave descriptor closed) reads as io.EOF.
type Reader struct{ *os.File }

func (r Reader) Read(p []byte) (int, error) {
	n, err := r.File.Read(p)
	if err != nil && errors.Is(err, syscall.EIO) {
		err = io.EOF
	}
	return n, err
}
