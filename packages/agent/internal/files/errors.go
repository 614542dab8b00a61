package files

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"axo.dev/agent/internal/wire"
)

// Error is a request error with its wire code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// codeOf maps an errno to a file error code.
func codeOf(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return wire.CodeInternal
	}
	switch errno {
	case syscall.ENOENT:
		return wire.CodeNotFound
	case syscall.EEXIST:
		return wire.CodeExists
	case syscall.EISDIR:
		return wire.CodeIsDir
	case syscall.ENOTDIR:
		return wire.CodeNotDir
	case syscall.ENOTEMPTY:
		return wire.CodeNotEmpty
	case syscall.EACCES, syscall.EPERM, syscall.EROFS, syscall.EBUSY, syscall.ETXTBSY:
		return wire.CodePermission
	case syscall.ENOSPC, syscall.EDQUOT:
		return wire.CodeNoSpace
	case syscall.EFBIG:
		return wire.CodeTooLarge
	case syscall.EXDEV:
		return wire.CodeCrossDevice
	case syscall.ENXIO:
		return wire.CodeNotRegular
	case syscall.ELOOP, syscall.ENAMETOOLONG, syscall.EINVAL:
		return wire.CodeInvalid
	}
	return wire.CodeInternal
}

// fsErr turns a failed system call on path into a request error that names the path.
func fsErr(op, path string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		op, path, err = pe.Op, pe.Path, pe.Err
	}
	msg := err.Error()
	var errno syscall.Errno
	var ref *refusal
	if errors.As(err, &ref) {
		msg = ref.Error()
	} else if errors.As(err, &errno) {
		msg = errno.Error()
	}
	return &Error{Code: codeOf(err), Message: fmt.Sprintf("%s %s: %s", op, path, msg)}
}
