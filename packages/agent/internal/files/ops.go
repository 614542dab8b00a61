package files

import (
	"encoding/json"
	"errors"
	"os"
	"syscall"

	"axo.dev/agent/internal/wire"
)

// describe lstats name in the directory dirfd (a link is described, not followed) and
// builds its entry. display is the path to report.
func (r *req) describe(dirfd int, name, display string) (wire.Entry, error) {
	var st syscall.Stat_t
	if err := fstatat(dirfd, name, &st, atSymlinkNoFollow); err != nil {
		return wire.Entry{}, fsErr("stat", display, err)
	}
	e := makeEntry(display, &st, r.names)
	if st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
		if target, err := readlinkat(dirfd, name); err == nil {
			e.SymlinkTarget = &target
		}
	}
	return e, nil
}

// describePath resolves path and describes it: with follow, what a link at its end
// points to; else the link itself.
func (r *req) describePath(path string, follow bool) (wire.Entry, error) {
	if follow || path == "/" {
		fd, err := r.open(path, oPath)
		if err != nil {
			return wire.Entry{}, fsErr("stat", path, err)
		}
		defer closeFD(fd)
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return wire.Entry{}, fsErr("stat", path, err)
		}
		return makeEntry(path, &st, r.names), nil
	}
	pfd, base, err := r.openParent(path)
	if err != nil {
		return wire.Entry{}, fsErr("stat", path, err)
	}
	defer closeFD(pfd)
	return r.describe(pfd, base, path)
}

func (r *req) stat(path string, follow bool) error {
	e, err := r.describePath(path, follow)
	if err != nil {
		return err
	}
	return r.send(wire.EntryMsg{Type: wire.TypeEntry, Entry: e})
}

// --- list ---

type lister struct {
	r         *req
	buf       []byte // getdents buffer, shared by every level (names are parsed out first)
	batch     []byte // the entries message being built
	inBatch   int
	total     int
	truncated bool
}

// maxListEntries is MaxListEntries (a variable for tests).
var maxListEntries = MaxListEntries

var entriesPrefix = []byte(`{"type":"entries","entries":[`)

func (l *lister) add(e *wire.Entry) error {
	enc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if l.inBatch > 0 && len(l.batch)+len(enc) > ListBatchBytes {
		if err := l.flush(); err != nil {
			return err
		}
	}
	if l.inBatch == 0 {
		l.batch = append(l.batch[:0], entriesPrefix...)
	} else {
		l.batch = append(l.batch, ',')
	}
	l.batch = append(l.batch, enc...)
	l.inBatch++
	l.total++
	if l.inBatch >= ListBatch {
		return l.flush()
	}
	return nil
}

func (l *lister) flush() error {
	if l.inBatch == 0 {
		return nil
	}
	l.batch = append(l.batch, ']', '}')
	l.inBatch = 0
	if l.r.c.SendFrame(wire.KindMsg, l.batch) != nil {
		return errSent
	}
	return nil
}

func (r *req) list(path string, depth int) error {
	fd, err := r.open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK)
	if err != nil {
		return fsErr("open", path, err)
	}
	l := &lister{r: r, buf: make([]byte, 32<<10)}
	if err := l.walk(fd, path, depth); err != nil {
		return err
	}
	if err := l.flush(); err != nil {
		return err
	}
	return r.send(wire.ListEnd{Type: wire.TypeEnd, Truncated: l.truncated})
}

// readNames reads the next batch of names from a directory descriptor (nil at the end).
func readNames(fd int, buf []byte) ([]string, error) {
	for {
		var n int
		err := retry(func() error {
			var err error
			n, err = syscall.ReadDirent(fd, buf)
			return err
		})
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, nil
		}
		_, _, names := syscall.ParseDirent(buf[:n], -1, nil)
		if len(names) > 0 {
			return names, nil
		}
	}
}

// walk lists the directory open as fd (and closes it): entries are lstat'ed relative to
// fd, and subdirectories are opened relative to fd with O_NOFOLLOW, so a link is listed
// but never descended into, and a directory swapped for a link mid-walk is not entered.
// A directory that cannot be read is listed without its contents, and so is a procfs
// mount below it for a switched user (see resolve.go).
func (l *lister) walk(fd int, dir string, depth int) error {
	defer closeFD(fd)
	for {
		names, err := readNames(fd, l.buf)
		if err != nil || names == nil {
			return nil
		}
		for _, name := range names {
			if l.total >= maxListEntries {
				l.truncated = true
				return nil
			}
			p := join(dir, name)
			var st syscall.Stat_t
			if fstatat(fd, name, &st, atSymlinkNoFollow) != nil {
				continue // gone meanwhile
			}
			e := makeEntry(p, &st, l.r.names)
			isDir := st.Mode&syscall.S_IFMT == syscall.S_IFDIR
			if st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
				if target, err := readlinkat(fd, name); err == nil {
					e.SymlinkTarget = &target
				}
			}
			if err := l.add(&e); err != nil {
				return err
			}
			if isDir && depth > 1 {
				sub, err := openat(fd, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
				if err != nil {
					continue
				}
				if l.r.notProc(sub) != nil {
					closeFD(sub)
					continue
				}
				if err := l.walk(sub, p, depth-1); err != nil {
					return err
				}
				if l.truncated {
					return nil
				}
			}
		}
	}
}

// --- mkdir ---

func (r *req) mkdir(path string, parents bool, mode uint32) error {
	if err := r.makeDir(path, mode, parents, true); err != nil {
		return fsErr("mkdir", path, err)
	}
	e, err := r.describePath(path, false)
	if err != nil {
		return err
	}
	return r.send(wire.EntryMsg{Type: wire.TypeEntry, Entry: e})
}

// makeDir creates the directory path, in the directory its parent resolves to. With
// parents, missing parents are created too (0755, less the umask), and an existing
// directory (or a link to one) is fine. final: path is the directory asked for, which
// gets exactly mode (else mode less the umask); when it exists as something else than a
// directory that is EEXIST, for a parent ENOTDIR.
func (r *req) makeDir(path string, mode uint32, parents, final bool) error {
	if path == "/" {
		if parents {
			return nil
		}
		return syscall.EEXIST
	}
	pfd, base, err := r.openParent(path)
	if err == syscall.ENOENT && parents {
		dir, _ := split(path)
		if err := r.makeDir(dir, 0o755, true, false); err != nil {
			return err
		}
		pfd, base, err = r.openParent(path)
	}
	if err != nil {
		return err
	}
	defer closeFD(pfd)
	err = mkdirat(pfd, base, mode)
	if err == nil {
		if final {
			return exactMode(pfd, base, mode)
		}
		return nil
	}
	if err == syscall.EEXIST && parents {
		if fd, err := r.open(path, oPath|syscall.O_DIRECTORY); err == nil {
			closeFD(fd)
			return nil
		}
		if !final {
			return syscall.ENOTDIR
		}
	}
	return err
}

// exactMode gives the directory name in dirfd, just created, the requested mode (mkdir
// applied the umask): it is opened without following a link and changed through the
// descriptor.
func exactMode(dirfd int, name string, mode uint32) error {
	fd, err := openat(dirfd, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer closeFD(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&0o7777 == mode&0o7777 {
		return nil
	}
	// Keep a set-group-ID bit inherited from the parent unless asked otherwise.
	want := mode&0o7777 | st.Mode&syscall.S_ISGID
	if st.Mode&0o7777 == want {
		return nil
	}
	return syscall.Fchmod(fd, want)
}

// --- remove ---

// maxRemoveDepth bounds a recursive removal (one descriptor per level).
const maxRemoveDepth = 4096

type remover struct {
	r         *req
	buf       []byte
	recursive bool
}

func (r *req) remove(path string, recursive bool) error {
	if path == "/" {
		return errorf(wire.CodeInvalid, "refusing to remove /")
	}
	pfd, base, err := r.openParent(path)
	if err != nil {
		return fsErr("remove", path, err)
	}
	defer closeFD(pfd)
	rm := &remover{r: r, buf: make([]byte, 32<<10), recursive: recursive}
	if err := rm.remove(pfd, base, path, 0); err != nil {
		return fsErr("remove", path, err)
	}
	return r.send(wire.Simple{Type: wire.TypeOK})
}

// remove removes name in the directory pfd. Everything is relative to directory
// descriptors opened with O_NOFOLLOW, so a link is removed itself, never followed, and a
// directory swapped for a link between two steps is never entered. Errors are
// *os.PathError naming the path that failed.
func (rm *remover) remove(pfd int, name, path string, depth int) error {
	fail := func(err error) error { return &os.PathError{Op: "remove", Path: path, Err: err} }
	err := unlinkat(pfd, name, 0)
	if err == nil {
		return nil
	}
	if err != syscall.EISDIR {
		return fail(err)
	}
	if !rm.recursive {
		err := unlinkat(pfd, name, atRemoveDir)
		if err == syscall.EEXIST {
			err = syscall.ENOTEMPTY
		}
		if err != nil {
			return fail(err)
		}
		return nil
	}
	if depth >= maxRemoveDepth {
		return errorf(wire.CodeInvalid, "remove %s: more than %d levels of directories", path, maxRemoveDepth)
	}
	fd, err := openat(pfd, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err == syscall.ELOOP || err == syscall.ENOTDIR {
		// Swapped for a link or a file since: remove that instead.
		err = unlinkat(pfd, name, 0)
	}
	if err != nil {
		return fail(err)
	}
	defer closeFD(fd)
	if err := rm.r.notProc(fd); err != nil {
		return fail(err)
	}
	for round := 0; ; round++ {
		for {
			names, err := readNames(fd, rm.buf)
			if err != nil {
				return fail(err)
			}
			if names == nil {
				break
			}
			for _, n := range names {
				if err := rm.remove(fd, n, join(path, n), depth+1); err != nil && !errors.Is(err, syscall.ENOENT) {
					return err
				}
			}
		}
		err := unlinkat(pfd, name, atRemoveDir)
		if err == syscall.EEXIST {
			err = syscall.ENOTEMPTY
		}
		if err == nil {
			return nil
		}
		if err != syscall.ENOTEMPTY || round >= 3 {
			return fail(err)
		}
		// Something was added meanwhile: read the directory again.
		if _, err := syscall.Seek(fd, 0, 0); err != nil {
			return fail(err)
		}
	}
}

// --- move, symlink ---

func (r *req) move(from, to string) error {
	if from == "/" || to == "/" {
		return errorf(wire.CodeInvalid, "cannot move /")
	}
	what := from + " to " + to
	ffd, fbase, err := r.openParent(from)
	if err != nil {
		return fsErr("move", what, err)
	}
	defer closeFD(ffd)
	tfd, tbase, err := r.openParent(to)
	if err != nil {
		return fsErr("move", what, err)
	}
	defer closeFD(tfd)
	if err := renameat(ffd, fbase, tfd, tbase); err != nil {
		return fsErr("move", what, err)
	}
	e, err := r.describe(tfd, tbase, to)
	if err != nil {
		return err
	}
	return r.send(wire.EntryMsg{Type: wire.TypeEntry, Entry: e})
}

func (r *req) symlink(path, target string) error {
	if path == "/" {
		return fsErr("symlink", path, syscall.EEXIST)
	}
	pfd, base, err := r.openParent(path)
	if err != nil {
		return fsErr("symlink", path, err)
	}
	defer closeFD(pfd)
	if err := symlinkat(target, pfd, base); err != nil {
		return fsErr("symlink", path, err)
	}
	e, err := r.describe(pfd, base, path)
	if err != nil {
		return err
	}
	return r.send(wire.EntryMsg{Type: wire.TypeEntry, Entry: e})
}
