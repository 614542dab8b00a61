package files

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Path resolution for file requests.
//
// Every path a request names is resolved here, on the request's (switched) thread, with
// two rules on top of the kernel's ordinary lookup (which follows symlinks, crosses mounts
// and starts absolute paths and links at the agent's root, the container's /):
//
//   - No magic link is ever followed: /proc/<pid>/fd/*, cwd, root, exe, map_files/* and
//     ns/* (and the same under /proc/self, /proc/thread-self and /proc/<pid>/task/<tid>).
//     The kernel lets a process into its own /proc/<pid> entries whatever its threads'
//     fsuid, so through /proc/self/fd/N a request acting as another user would reach a
//     directory a concurrent root request holds open without the search permission on its
//     parents. openat2(2) with RESOLVE_NO_MAGICLINKS refuses them (ELOOP); where openat2 is
//     missing, walk resolves one component at a time and refuses them itself.
//   - A request acting as a user other than the agent's own (switched) never reaches an
//     object on procfs at all: there the kernel checks the agent process (its own entries
//     are always open to it: maps, fdinfo, the fd directory and its link texts), not the
//     user the thread acts as. Such paths fail with EACCES, which is what that user gets
//     from a process of its own for the agent's entries; so does any failure met inside
//     procfs (ENOENT would tell which descriptors the agent holds). A path may still pass
//     through procfs and out of it again (/proc/..): it is the object reached that counts,
//     in both resolutions alike.
//
// Everything after resolution is relative to the descriptor it returned (or to the
// descriptor of the directory holding the last element), so no later step resolves the
// path again through anything the user controls.

const (
	sysOpenat2          = 437 // the same on amd64 and arm64
	resolveNoMagicLinks = 0x02
	procSuperMagic      = 0x9fa0
	maxSymlinks         = 40 // the kernel's limit per lookup
)

// openHow is struct open_how.
type openHow struct {
	Flags   uint64
	Mode    uint64
	Resolve uint64
}

// refusal is an errno the agent chose, with the reason (which fsErr reports).
type refusal struct {
	errno  syscall.Errno
	reason string
}

func (e *refusal) Error() string { return e.errno.Error() + " (" + e.reason + ")" }
func (e *refusal) Unwrap() error { return e.errno }

var (
	errProc  = &refusal{syscall.EACCES, "file requests acting as a user other than the agent's own do not reach /proc"}
	errMagic = &refusal{syscall.ELOOP, "a /proc magic link, which file requests never follow"}
)

func openat2(dirfd int, path string, flags int) (int, error) {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return -1, syscall.EINVAL
	}
	how := openHow{Flags: uint64(flags | syscall.O_CLOEXEC), Resolve: resolveNoMagicLinks}
	var fd uintptr
	err = retry(func() error {
		var e syscall.Errno
		fd, _, e = syscall.Syscall6(sysOpenat2, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
			uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
		return errnoErr(e)
	})
	if err != nil {
		return -1, err
	}
	return int(fd), nil
}

// resolver is how this process resolves paths, decided once.
type resolver struct {
	once sync.Once
	// openat2: the kernel has openat2 and the seccomp profile lets it through.
	openat2 bool
	// probeErr: why not.
	probeErr error
	// protectedSymlinks: fs.protected_symlinks is on (walk applies it as the kernel does).
	protectedSymlinks bool
}

var res resolver

// forceWalk makes every resolution use walk (tests of the fallback).
var forceWalk atomic.Bool

func (rs *resolver) init() {
	rs.once.Do(func() {
		// ENOSYS: a kernel before 5.6, or a seccomp profile that does not know openat2
		// (older profiles answer EPERM): either way, not available. Any other failure
		// of this open of "/" says nothing about openat2 itself.
		fd, err := openat2(atFDCWD, "/", oPath|syscall.O_DIRECTORY)
		if err == nil {
			closeFD(fd)
		}
		rs.openat2 = err != syscall.ENOSYS && err != syscall.EPERM
		rs.probeErr = err
		rs.protectedSymlinks = true
		if b, err := os.ReadFile("/proc/sys/fs/protected_symlinks"); err == nil && strings.TrimSpace(string(b)) == "0" {
			rs.protectedSymlinks = false
		}
	})
}

// withOpenat2 reports whether paths are resolved with openat2 (else with walk).
func withOpenat2() bool {
	res.init()
	return res.openat2 && !forceWalk.Load()
}

// open resolves path (absolute and clean) as the request's user and opens what it names
// with flags (O_CLOEXEC added; with O_NOFOLLOW a link at the end is not followed).
func (r *req) open(path string, flags int) (int, error) {
	var fd int
	var err error
	if withOpenat2() {
		fd, err = openat2(atFDCWD, path, flags)
		if err == syscall.ENOSYS {
			fd, err = r.walk(path, flags)
		} else if err != nil && (err == syscall.ELOOP || r.id.switched) {
			// walk says why, with the rules openat2 does not know: ELOOP is a loop of
			// links or a magic link (INVALID); and for a user, any failure met inside
			// procfs is EACCES, as a process of that user gets for the agent's entries:
			// which of them exist (its descriptors' numbers) is not the user's to learn.
			// Only failures pay for the second resolution. Its answer is the one given:
			// it applies the same rules (if it now succeeds, a concurrent change won).
			fd, err = r.walk(path, flags)
		}
	} else {
		fd, err = r.walk(path, flags)
	}
	if err != nil {
		return -1, err
	}
	if err := r.notProc(fd); err != nil {
		closeFD(fd)
		return -1, err
	}
	return fd, nil
}

// openParent resolves the directory holding path's last element (path is not "/") and
// returns its O_PATH descriptor and the element's name.
func (r *req) openParent(path string) (int, string, error) {
	dir, base := split(path)
	fd, err := r.open(dir, oPath|syscall.O_DIRECTORY)
	if err != nil {
		return -1, "", err
	}
	return fd, base, nil
}

// notProc refuses fd when it is on procfs and the request acts as a switched user.
func (r *req) notProc(fd int) error {
	if !r.id.switched {
		return nil
	}
	proc, err := onProc(fd)
	if err != nil {
		return err
	}
	if proc {
		return errProc
	}
	return nil
}

func onProc(fd int) (bool, error) {
	var st syscall.Statfs_t
	if err := retry(func() error { return syscall.Fstatfs(fd, &st) }); err != nil {
		return false, err
	}
	return st.Type == procSuperMagic, nil
}

// reopen opens the object fd refers to again, with flags, through /proc/self/fd: how an
// O_PATH descriptor becomes one that can be read, and how inotify (which takes a path)
// watches exactly the directory a descriptor holds. The link followed is the agent's own,
// to an object the request already resolved.
func reopen(fd int, flags int) (int, error) {
	return openat(atFDCWD, fdPath(fd), flags, 0)
}

func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// walk resolves path as open does, one component at a time, where openat2 is missing:
// each component is opened with O_PATH|O_NOFOLLOW relative to its directory (so the
// kernel checks the user's search permission on every directory and follows nothing);
// a symlink is read and its text spliced into what is left of the path, as the kernel
// would, except that a link on procfs whose text is not a plain relative path (a magic
// link: "/…", "pipe:[…]", "net:[…]") is refused. ".." is resolved by the kernel (openat
// of ".."), so it stops at the root and crosses mounts as the kernel does.
// fs.protected_symlinks is applied as the kernel applies it.
//
// For a switched user it gives the answers openat2 (and open's checks after it) give:
// the walk may pass through procfs (and out again through ".."), as openat2 does, but
// it never opens an object there with flags other than O_PATH, and every failure met
// inside procfs, a magic link included, is errProc.
func (r *req) walk(path string, flags int) (int, error) {
	follow := flags&syscall.O_NOFOLLOW == 0
	flags &^= syscall.O_NOFOLLOW
	cur := -1
	var curSt syscall.Stat_t
	curProc := false
	defer func() {
		if cur >= 0 {
			closeFD(cur)
		}
	}()
	// fail: err was met in the current directory.
	fail := func(err error) (int, error) {
		if curProc && r.id.switched {
			return -1, errProc
		}
		return -1, err
	}
	// enter makes fd (described by st) the current directory; checkFS: it may be on
	// another file system (a mount was crossed), look which.
	enter := func(fd int, st *syscall.Stat_t, checkFS bool) error {
		if cur >= 0 {
			closeFD(cur)
		}
		cur, curSt = fd, *st
		if checkFS {
			proc, err := onProc(fd)
			if err != nil {
				return err
			}
			curProc = proc
		}
		return nil
	}
	root := func() error {
		fd, err := openat(atFDCWD, "/", oPath|syscall.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			closeFD(fd)
			return err
		}
		return enter(fd, &st, true)
	}
	if err := root(); err != nil {
		return -1, err
	}
	queue := components(path, nil)
	links := 0
	for {
		if len(queue) == 0 {
			// The path was "/", or its last link led to a directory ("/", ".", "..").
			if curProc && r.id.switched {
				return -1, errProc
			}
			return openat(cur, ".", flags, 0)
		}
		name := queue[0]
		queue = queue[1:]
		last := len(queue) == 0
		fd, err := openat(cur, name, oPath|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return fail(err)
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			closeFD(fd)
			return fail(err)
		}
		isLink := st.Mode&syscall.S_IFMT == syscall.S_IFLNK
		if isLink && (!last || follow) {
			target, err := r.readLink(fd, &st, &curSt, curProc)
			closeFD(fd)
			if err != nil {
				return fail(err)
			}
			if links++; links > maxSymlinks {
				return fail(syscall.ELOOP)
			}
			if strings.HasPrefix(target, "/") {
				if err := root(); err != nil {
					return -1, err
				}
			}
			queue = components(target, queue)
			continue
		}
		if last {
			// What the user may not have is not even opened (an open can have effects).
			if r.id.switched && (curProc || st.Dev != curSt.Dev) {
				proc, err := onProc(fd)
				if err == nil && proc {
					err = errProc
				}
				if err != nil {
					closeFD(fd)
					return fail(err)
				}
			}
			closeFD(fd)
			nfd, err := openat(cur, name, flags|syscall.O_NOFOLLOW, 0)
			if follow && swappedForLink(nfd, err) {
				// A link took the name since it was looked at: follow it, as the kernel
				// would have (a bounded number of times).
				if err == nil {
					closeFD(nfd)
				}
				if links++; links > maxSymlinks {
					return fail(syscall.ELOOP)
				}
				queue = []string{name}
				continue
			}
			if err != nil {
				return fail(err)
			}
			return nfd, nil
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			closeFD(fd)
			return fail(syscall.ENOTDIR)
		}
		// A mount was crossed (down, or up through ".."): look at the file system.
		if err := enter(fd, &st, st.Dev != curSt.Dev); err != nil {
			return fail(err)
		}
	}
}

// swappedForLink: the last element, no link when looked at, was opened (fd, err) with
// O_NOFOLLOW and is a link now: ELOOP, or (with O_PATH) the link itself.
func swappedForLink(fd int, err error) bool {
	if err != nil {
		return err == syscall.ELOOP
	}
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFLNK
}

// readLink reads the link fd (described by st) in the directory described by dirSt, for
// walk to follow it.
func (r *req) readLink(fd int, st, dirSt *syscall.Stat_t, inProc bool) (string, error) {
	if res.protectedSymlinks && st.Uid != r.id.uid &&
		dirSt.Mode&(syscall.S_ISVTX|0o002) == syscall.S_ISVTX|0o002 && st.Uid != dirSt.Uid {
		return "", syscall.EACCES
	}
	target, err := readlinkat(fd, "")
	if err != nil {
		return "", err
	}
	if target == "" {
		return "", syscall.ENOENT
	}
	if inProc && !plainRelative(target) {
		return "", errMagic
	}
	return target, nil
}

// plainRelative: the text of procfs's ordinary links (self → "1", thread-self →
// "1/task/1", mounts → "self/mounts", net → "self/net"); a magic link reads as an
// absolute path or as "type:[…]".
func plainRelative(s string) bool {
	return s != "" && s[0] != '/' && !strings.ContainsAny(s, ":[]")
}

// components splits p into its elements ("" and "." dropped) followed by rest. A
// trailing "/" (or "/.") of a link's text asks for a directory, as in the kernel: a "."
// element is kept for it, so the walk checks the element before it is one.
func components(p string, rest []string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	if len(out) > 0 && (strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.")) {
		out = append(out, ".")
	}
	return append(out, rest...)
}
