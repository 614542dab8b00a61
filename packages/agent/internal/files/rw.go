package files

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"syscall"

	"axo.dev/agent/internal/wire"
)

// --- read ---

func (r *req) read(path string, offset, length int64) error {
	// A cheap look first, so a device is normally never even opened.
	var st syscall.Stat_t
	fd, err := r.open(path, oPath)
	if err != nil {
		return fsErr("open", path, err)
	}
	err = syscall.Fstat(fd, &st)
	closeFD(fd)
	if err != nil {
		return fsErr("open", path, err)
	}
	if err := regular(path, &st); err != nil {
		return err
	}
	// Non-blocking, so a FIFO swapped in meanwhile cannot block the open; without a
	// controlling terminal, so a terminal swapped in cannot become ours.
	fd, err = r.open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY)
	if err != nil {
		return fsErr("open", path, err)
	}
	defer closeFD(fd)
	if err := syscall.Fstat(fd, &st); err != nil {
		return fsErr("stat", path, err)
	}
	if err := regular(path, &st); err != nil {
		return err
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		return fsErr("open", path, err)
	}
	if err := r.send(wire.EntryMsg{Type: wire.TypeEntry, Entry: makeEntry(path, &st, r.names)}); err != nil {
		return err
	}
	buf := make([]byte, ReadChunk)
	var sent int64
	for length < 0 || sent < length {
		want := int64(len(buf))
		if length >= 0 && length-sent < want {
			want = length - sent
		}
		var n int
		err := retry(func() error {
			var err error
			n, err = syscall.Pread(fd, buf[:want], offset+sent)
			return err
		})
		if err != nil {
			return fsErr("read", path, err)
		}
		if n <= 0 {
			break
		}
		// Blocks while the host is slow: backpressure, nothing grows here.
		if r.c.SendFrame(wire.KindOut, buf[:n]) != nil {
			return errSent
		}
		sent += int64(n)
	}
	return r.send(wire.ReadEnd{Type: wire.TypeEnd, Bytes: sent})
}

func regular(path string, st *syscall.Stat_t) error {
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return nil
	case syscall.S_IFDIR:
		return errorf(wire.CodeIsDir, "read %s: is a directory", path)
	}
	return errorf(wire.CodeNotRegular, "read %s: not a regular file (%s)", path, permissions(st.Mode)[:1])
}

// --- write ---

const tempPrefix = ".axo-write-"

// writer is one atomic write: a temporary file in the target's directory, renamed over
// the target once complete. Everything is relative to the directory's descriptor, so the
// file ends up where the directory was when the write began, whatever is swapped later.
type writer struct {
	dirfd  int
	dir    string
	base   string
	path   string
	tmp    string
	tmpfd  int
	wrote  int64
	closed bool
}

func (w *writer) cleanup() {
	if !w.closed {
		closeFD(w.tmpfd)
		w.closed = true
	}
	if w.tmp != "" {
		unlinkat(w.dirfd, w.tmp, 0)
		w.tmp = ""
	}
}

func (r *req) write(path string, mode *uint32, parents bool, maxBytes *int64) error {
	if path == "/" {
		return errorf(wire.CodeIsDir, "write /: is a directory")
	}
	dir, _ := split(path)
	dirfd, base, err := r.openParent(path)
	if err == syscall.ENOENT && parents {
		if err = r.makeDir(dir, 0o755, true, false); err != nil {
			return fsErr("mkdir", dir, err)
		}
		dirfd, base, err = r.openParent(path)
	}
	if err != nil {
		return fsErr("open", dir, err)
	}
	defer closeFD(dirfd)
	w := &writer{dirfd: dirfd, dir: dir, base: base, path: path, tmpfd: -1, closed: true}
	defer w.cleanup()
	// Writing over a directory is refused before any data is accepted.
	var st syscall.Stat_t
	if err := fstatat(dirfd, base, &st, atSymlinkNoFollow); err == nil {
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			return errorf(wire.CodeIsDir, "write %s: is a directory", path)
		}
	} else if err != syscall.ENOENT {
		return fsErr("write", path, err)
	}
	// The temporary file is created now, so a directory the user may not write to is
	// refused before the host sends anything.
	for i := 0; ; i++ {
		var rnd [8]byte
		rand.Read(rnd[:])
		name := tempPrefix + hex.EncodeToString(rnd[:])
		fd, err := openat(dirfd, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err == syscall.EEXIST && i < 5 {
			continue
		}
		if err != nil {
			return fsErr("write", path, err)
		}
		w.tmp, w.tmpfd, w.closed = name, fd, false
		break
	}
	if err := r.send(wire.Simple{Type: wire.TypeReady}); err != nil {
		return err
	}
	for {
		f, err := r.c.Next()
		if err != nil {
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				return errorf(wire.CodeInvalid, "write %s: the input ended before its last (empty) frame; nothing was written", path)
			}
			r.c.ReadError(err)
			return errSent
		}
		if f.Kind != wire.KindIn {
			return errorf(wire.CodeProtocol, "write %s: only IN frames may follow a write", path)
		}
		if len(f.Payload) == 0 {
			break
		}
		if maxBytes != nil && w.wrote+int64(len(f.Payload)) > *maxBytes {
			return errorf(wire.CodeTooLarge, "write %s: more than maxBytes (%d) bytes", path, *maxBytes)
		}
		if err := writeAll(w.tmpfd, f.Payload); err != nil {
			return fsErr("write", path, err)
		}
		w.wrote += int64(len(f.Payload))
	}
	// The final mode: as asked, else the replaced file's, else 0644 less the umask.
	final := 0o644 &^ r.s.umask
	if mode != nil {
		final = *mode
	} else if err := fstatat(dirfd, base, &st, atSymlinkNoFollow); err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG {
		final = st.Mode & 0o7777
	}
	if err := syscall.Fchmod(w.tmpfd, final); err != nil {
		return fsErr("chmod", path, err)
	}
	w.closed = true
	if err := syscall.Close(w.tmpfd); err != nil {
		return fsErr("write", path, err)
	}
	if err := renameat(dirfd, w.tmp, dirfd, base); err != nil {
		return fsErr("write", path, err)
	}
	w.tmp = ""
	e, err := r.describe(dirfd, base, path)
	if err != nil {
		return err
	}
	return r.send(wire.EntryMsg{Type: wire.TypeEntry, Entry: e})
}

func writeAll(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := syscall.Write(fd, p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return syscall.EIO
		}
		p = p[n:]
	}
	return nil
}
