package files

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"axo.dev/agent/internal/wire"
)

const (
	// dirMask is what a watched directory reports (IN_ONLYDIR refuses anything that is
	// not one). Every directory is resolved (see resolve.go) and opened by the agent
	// first, then watched through its descriptor (/proc/self/fd/N).
	dirMask = syscall.IN_CREATE | syscall.IN_DELETE | syscall.IN_MODIFY | syscall.IN_ATTRIB |
		syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF |
		syscall.IN_EXCL_UNLINK | syscall.IN_ONLYDIR
	inotifyHeader = 16 // wd, mask, cookie, len
)

var errLimit = errors.New("watch limit")

func (s *Service) acquireWatch() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watches >= s.cfg.MaxWatches {
		return false
	}
	s.watches++
	return true
}

func (s *Service) releaseWatch() {
	s.mu.Lock()
	s.watches--
	s.mu.Unlock()
}

func (s *Service) reserveDir() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchedDirs >= s.cfg.MaxWatchedDirs {
		return false
	}
	s.watchedDirs++
	return true
}

func (s *Service) releaseDirs(n int) {
	s.mu.Lock()
	s.watchedDirs -= n
	s.mu.Unlock()
}

type wdir struct {
	path string
	live bool // false once removed from the tree (its IN_IGNORED is still to come)
}

type watcher struct {
	r         *req
	f         *os.File
	root      string
	rootWD    int32
	recursive bool
	// file: the root is not a directory; its parent is watched and only events about
	// base are reported (so an atomic replacement of the file is seen too).
	file  bool
	base  string
	wds   map[int32]*wdir
	count int    // directories reserved from the session's cap
	buf   []byte // inotify events
	dbuf  []byte // directory entries
}

// inotify runs fn with the inotify descriptor, which cannot be closed (and its number
// reused) meanwhile.
func (w *watcher) inotify(fn func(fd int) error) error {
	rc, err := w.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func (r *req) watch(path string, recursive bool) error {
	if !r.s.acquireWatch() {
		return errorf(wire.CodeLimit, "watch %s: this session already holds %d watches", path, r.s.cfg.MaxWatches)
	}
	defer r.s.releaseWatch()
	// The root: a link to it is followed. Held only while the watch is set up.
	rootfd, err := r.open(path, oPath)
	if err != nil {
		return fsErr("watch", path, err)
	}
	closeRoot := func() {
		if rootfd >= 0 {
			closeFD(rootfd)
			rootfd = -1
		}
	}
	defer closeRoot()
	var st syscall.Stat_t
	if err := syscall.Fstat(rootfd, &st); err != nil {
		return fsErr("watch", path, err)
	}
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		if err == syscall.EMFILE {
			return errorf(wire.CodeLimit, "watch %s: no inotify instance left (%v)", path, err)
		}
		return fsErr("watch", path, err)
	}
	// Pollable (non-blocking): a Read parks this goroutine, and Close from the goroutine
	// that sees the host go away ends it.
	w := &watcher{r: r, f: os.NewFile(uintptr(fd), "inotify"), root: path, recursive: recursive,
		wds: map[int32]*wdir{}, buf: make([]byte, 64<<10), dbuf: make([]byte, 32<<10)}
	defer func() {
		w.f.Close() // releases every watch descriptor
		r.s.releaseDirs(w.count)
	}()
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		if err := w.add(rootfd, path); err != nil {
			return w.addErr(path, err)
		}
		if recursive {
			if dfd, err := reopen(rootfd, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK); err == nil {
				if err := w.addChildren(dfd, path, false); err == errLimit {
					return w.addErr(path, err)
				}
			}
		}
	} else {
		if path == "/" {
			return errorf(wire.CodeInvalid, "watch /: not a directory")
		}
		// The directory holding the name: an atomic replacement of the file is seen too.
		dir, _ := split(path)
		pfd, base, err := r.openParent(path)
		if err != nil {
			return fsErr("watch", dir, err)
		}
		w.file, w.base = true, base
		err = w.add(pfd, dir)
		closeFD(pfd)
		if err != nil {
			return w.addErr(dir, err)
		}
	}
	closeRoot()
	if err := r.send(wire.Simple{Type: wire.TypeWatching}); err != nil {
		return err
	}
	go w.hostGone()
	for {
		n, err := w.f.Read(w.buf)
		if err != nil {
			return errSent // closed: the host went away
		}
		if err := w.events(w.buf[:n]); err != nil {
			return err
		}
	}
}

// hostGone waits for the host to close the connection (it sends nothing on a watch),
// then closes the inotify descriptor, which ends the watch loop. It touches no files.
func (w *watcher) hostGone() {
	defer func() {
		if v := recover(); v != nil {
			w.r.s.cfg.Log("watch: panic: %v\n%s", v, debug.Stack())
		}
		w.f.Close()
	}()
	f, err := w.r.c.Next()
	if err == nil {
		w.r.c.Send(wire.Error{Type: wire.TypeError, Code: wire.CodeProtocol, Message: "message \"" + f.Type + "\" is out of place on a watch"})
	} else {
		w.r.c.ReadError(err)
	}
	w.r.c.Close()
}

func (w *watcher) addErr(path string, err error) error {
	if err == errLimit || err == syscall.ENOSPC {
		return errorf(wire.CodeLimit, "watch %s: more than %d watched directories in this session", path, w.r.s.cfg.MaxWatchedDirs)
	}
	return fsErr("watch", path, err)
}

// add watches the directory open as dirfd (its path is dir) and records it. inotify
// takes a path: the agent's own /proc/self/fd/N, which leads to exactly that directory
// (the kernel still checks the user's read permission on it).
func (w *watcher) add(dirfd int, dir string) error {
	var wd int
	err := w.inotify(func(fd int) error {
		var err error
		wd, err = syscall.InotifyAddWatch(fd, fdPath(dirfd), dirMask)
		return err
	})
	if err != nil {
		return err
	}
	id := int32(wd)
	if d, ok := w.wds[id]; ok {
		// The same directory again (a rescan, or a second path to it).
		d.path, d.live = dir, true
		return nil
	}
	if !w.r.s.reserveDir() {
		w.rmWatch(id)
		return errLimit
	}
	w.count++
	if len(w.wds) == 0 {
		w.rootWD = id
	}
	w.wds[id] = &wdir{path: dir, live: true}
	return nil
}

// openSub opens a directory found below the root (resolved anew, a link at its end not
// followed).
func (w *watcher) openSub(dir string) (int, error) {
	return w.r.open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK)
}

// addChildren adds every directory below dir, open as fd (which it closes), not following
// links. With emit, every entry found is reported as created: it may have appeared before
// the watch on its directory was in place. It returns errLimit when the cap was reached.
func (w *watcher) addChildren(fd int, dir string, emit bool) error {
	var subdirs []string
	for {
		names, err := readNames(fd, w.dbuf)
		if err != nil || names == nil {
			break
		}
		for _, name := range names {
			var st syscall.Stat_t
			if fstatat(fd, name, &st, atSymlinkNoFollow) != nil {
				continue
			}
			isDir := st.Mode&syscall.S_IFMT == syscall.S_IFDIR
			p := join(dir, name)
			if emit {
				if err := w.send("create", p, isDir); err != nil {
					closeFD(fd)
					return err
				}
			}
			if isDir {
				subdirs = append(subdirs, p)
			}
		}
	}
	closeFD(fd)
	for _, p := range subdirs {
		sub, err := w.openSub(p)
		if err != nil {
			continue // gone, or not readable by the user
		}
		err = w.add(sub, p)
		if err == errLimit || err == syscall.ENOSPC {
			closeFD(sub)
			return errLimit
		}
		if err != nil {
			closeFD(sub)
			continue
		}
		if err := w.addChildren(sub, p, emit); err != nil {
			return err
		}
	}
	return nil
}

// addNew watches a directory that appeared in the tree while watching. Past the cap the
// host gets an overflow event for it: changes below it are not seen.
func (w *watcher) addNew(dir string) error {
	fd, err := w.openSub(dir)
	if err != nil {
		return nil // gone, or not readable by the user
	}
	err = w.add(fd, dir)
	if err == nil {
		err = w.addChildren(fd, dir, true)
	} else {
		closeFD(fd)
	}
	if err == errLimit || err == syscall.ENOSPC {
		return w.send("overflow", dir, true)
	}
	if err == errSent {
		return err
	}
	return nil
}

func (w *watcher) send(op, path string, dir bool) error {
	return w.r.send(wire.Event{Type: wire.TypeEvent, Op: op, Path: path, Dir: dir})
}

// events handles one read's worth of inotify events.
func (w *watcher) events(b []byte) error {
	movedFrom := map[uint32]string{} // cookie → old path of a directory moved away
	for len(b) >= inotifyHeader {
		wd := int32(binary.NativeEndian.Uint32(b[0:]))
		mask := binary.NativeEndian.Uint32(b[4:])
		cookie := binary.NativeEndian.Uint32(b[8:])
		n := int(binary.NativeEndian.Uint32(b[12:]))
		if inotifyHeader+n > len(b) {
			break
		}
		name := strings.TrimRight(string(b[inotifyHeader:inotifyHeader+n]), "\x00")
		b = b[inotifyHeader+n:]
		if err := w.event(wd, mask, cookie, name, movedFrom); err != nil {
			return err
		}
	}
	// Directories moved out of the tree: stop watching them.
	for _, old := range movedFrom {
		w.detach(old)
	}
	return nil
}

func (w *watcher) event(wd int32, mask, cookie uint32, name string, movedFrom map[uint32]string) error {
	if mask&syscall.IN_Q_OVERFLOW != 0 {
		if err := w.send("overflow", w.root, !w.file); err != nil {
			return err
		}
		if w.recursive && !w.file {
			// Directories created meanwhile may be unwatched: look again.
			if fd, err := w.r.open(w.root, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK); err == nil {
				if err := w.addChildren(fd, w.root, false); err == errSent {
					return err
				}
			}
		}
		return nil
	}
	d, ok := w.wds[wd]
	if !ok {
		return nil
	}
	if mask&syscall.IN_IGNORED != 0 {
		delete(w.wds, wd)
		w.count--
		w.r.s.releaseDirs(1)
		return nil
	}
	if !d.live {
		return nil
	}
	isDir := mask&syscall.IN_ISDIR != 0
	if name == "" {
		// An event about the watched directory itself: its parent reports it, unless it
		// is the root (a file's parent directory is not reported at all).
		if wd != w.rootWD || w.file {
			return nil
		}
		switch {
		case mask&syscall.IN_DELETE_SELF != 0:
			return w.send("remove", d.path, true)
		case mask&syscall.IN_MOVE_SELF != 0:
			return w.send("rename", d.path, true)
		case mask&syscall.IN_ATTRIB != 0:
			return w.send("chmod", d.path, true)
		}
		return nil
	}
	if w.file {
		if name != w.base {
			return nil
		}
		isDir = false
	}
	p := join(d.path, name)
	if w.file {
		p = w.root
	}
	switch {
	case mask&syscall.IN_CREATE != 0:
		if err := w.send("create", p, isDir); err != nil {
			return err
		}
		if isDir && w.recursive && !w.file {
			return w.addNew(p)
		}
	case mask&syscall.IN_MOVED_TO != 0:
		if err := w.send("create", p, isDir); err != nil {
			return err
		}
		if isDir && w.recursive && !w.file {
			if old, ok := movedFrom[cookie]; ok {
				delete(movedFrom, cookie)
				w.rename(old, p)
				return nil
			}
			return w.addNew(p)
		}
	case mask&syscall.IN_MOVED_FROM != 0:
		if isDir && w.recursive && !w.file {
			movedFrom[cookie] = p
		}
		return w.send("rename", p, isDir)
	case mask&syscall.IN_DELETE != 0:
		return w.send("remove", p, isDir)
	case mask&syscall.IN_MODIFY != 0:
		return w.send("write", p, isDir)
	case mask&syscall.IN_ATTRIB != 0:
		return w.send("chmod", p, isDir)
	}
	return nil
}

func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// rename updates the paths of the watched directories moved from old to new.
func (w *watcher) rename(old, new string) {
	for _, d := range w.wds {
		if d.live && under(d.path, old) {
			d.path = new + d.path[len(old):]
		}
	}
}

// detach stops watching the directories under old (moved out of the tree).
func (w *watcher) detach(old string) {
	for wd, d := range w.wds {
		if d.live && under(d.path, old) {
			d.live = false
			w.rmWatch(wd)
		}
	}
}

func (w *watcher) rmWatch(wd int32) {
	w.inotify(func(fd int) error {
		_, err := syscall.InotifyRmWatch(fd, uint32(wd))
		return err
	})
}
