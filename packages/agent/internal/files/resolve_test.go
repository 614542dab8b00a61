package files

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

// modes runs fn with openat2 (when this kernel has it) and with the fallback walk.
func modes(t *testing.T, fn func(t *testing.T)) {
	res.init()
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		} else if !res.openat2 {
			t.Log("this kernel (or seccomp profile) has no openat2: only the walk is tested")
			continue
		}
		t.Run(name, func(t *testing.T) {
			forceWalk.Store(walk)
			defer forceWalk.Store(false)
			fn(t)
		})
	}
}

// TestWalkMode runs the file tests again with the resolution openat2's absence falls
// back to.
func TestWalkMode(t *testing.T) {
	forceWalk.Store(true)
	defer forceWalk.Store(false)
	for name, fn := range map[string]func(*testing.T){
		"Stat":                               TestStat,
		"List":                               TestList,
		"ListTruncated":                      TestListTruncated,
		"Mkdir":                              TestMkdir,
		"Remove":                             TestRemove,
		"MoveAndSymlink":                     TestMoveAndSymlink,
		"Read":                               TestRead,
		"Write":                              TestWrite,
		"AsNobody":                           TestAsNobody,
		"WatchDirectory":                     TestWatchDirectory,
		"WatchRecursive":                     TestWatchRecursive,
		"WatchFile":                          TestWatchFile,
		"WatchLimits":                        TestWatchLimits,
		"WatchAsNobody":                      TestWatchAsNobody,
		"RemoveNeverFollowsSwappedDirectory": TestRemoveNeverFollowsSwappedDirectory,
	} {
		t.Run(name, fn)
	}
}

// procLeakSetup makes <dir>/private (0700, root) holding pub (0777) holding data, and
// opens pub in this process (the agent here): a descriptor a concurrent root request
// would hold. It returns the descriptor's number.
func procLeakSetup(t *testing.T) (dir, pub string, fd int) {
	t.Helper()
	dir = t.TempDir()
	openDir(t, dir)
	private := filepath.Join(dir, "private")
	os.Mkdir(private, 0o700)
	pub = filepath.Join(private, "pub")
	os.Mkdir(pub, 0o777)
	os.Chmod(pub, 0o777)
	if err := os.WriteFile(filepath.Join(pub, "data"), []byte("secret data"), 0o644); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "shared")
	os.Mkdir(shared, 0o777)
	syscall.Chmod(shared, 0o1777)
	fd, err := syscall.Open(pub, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return dir, pub, fd
}

// TestProcMagicLinksAsUser (F4): a request acting as nobody must not get through the
// agent's own /proc/self/fd (nor /proc/<pid>/fd, /proc/thread-self, task/<tid>, cwd, root)
// to a directory the agent holds open below a directory nobody may not search.
func TestProcMagicLinksAsUser(t *testing.T) {
	needRoot(t)
	modes(t, func(t *testing.T) {
		dir, pub, fd := procLeakSetup(t)
		s := testService(t, dir)
		n, pid := strconv.Itoa(fd), strconv.Itoa(os.Getpid())
		shared := filepath.Join(dir, "shared")
		// The direct way is refused, as for any nobody process.
		if r := do(t, s, wire.FsRead{Type: wire.TypeFsRead, Path: filepath.Join(pub, "data"), User: "nobody"}); r.code() != wire.CodePermission {
			t.Fatalf("direct read: %+v %q", r.err, r.data)
		}
		// A link nobody plants that leads through the magic link.
		planted := filepath.Join(shared, "via")
		os.Symlink("/proc/self/fd/"+n, planted)
		os.Lchown(planted, 65534, 65534)
		vias := []string{
			"/proc/self/fd/" + n, "/proc/thread-self/fd/" + n, "/proc/" + pid + "/fd/" + n,
			"/proc/" + pid + "/task/" + pid + "/fd/" + n, "/proc/self/root" + pub,
			"/dev/fd/" + n, planted,
		}
		refused := func(t *testing.T, what string, r *result) {
			t.Helper()
			if c := r.code(); c != wire.CodePermission && c != wire.CodeInvalid && c != wire.CodeNotFound {
				t.Fatalf("%s: %v %+v %q", what, r.types(), r.err, r.data)
			}
			if len(r.data) != 0 || r.entry != nil || len(r.types()) != 1 {
				t.Fatalf("%s: said more than the error: %v %q", what, r.types(), r.data)
			}
		}
		for _, via := range vias {
			if _, err := os.Lstat(via); err != nil {
				continue // (/dev/fd is missing on some hosts)
			}
			data := via + "/data"
			for what, req := range map[string]any{
				"read":          wire.FsRead{Type: wire.TypeFsRead, Path: data, User: "nobody"},
				"stat":          wire.FsStat{Type: wire.TypeFsStat, Path: data, User: "nobody"},
				"stat follow":   wire.FsStat{Type: wire.TypeFsStat, Path: data, Follow: true, User: "nobody"},
				"list":          wire.FsList{Type: wire.TypeFsList, Path: via, User: "nobody"},
				"mkdir":         wire.FsMkdir{Type: wire.TypeFsMkdir, Path: via + "/d", User: "nobody"},
				"mkdir -p":      wire.FsMkdir{Type: wire.TypeFsMkdir, Path: via + "/e/f", Parents: true, User: "nobody"},
				"symlink":       wire.FsSymlink{Type: wire.TypeFsSymlink, Path: via + "/l", Target: "x", User: "nobody"},
				"remove":        wire.FsRemove{Type: wire.TypeFsRemove, Path: data, User: "nobody"},
				"move out":      wire.FsMove{Type: wire.TypeFsMove, From: data, To: filepath.Join(shared, "stolen"), User: "nobody"},
				"move in":       wire.FsMove{Type: wire.TypeFsMove, From: filepath.Join(shared, "nothing"), To: via + "/moved", User: "nobody"},
				"write":         wire.FsWrite{Type: wire.TypeFsWrite, Path: via + "/planted", User: "nobody"},
				"write parents": wire.FsWrite{Type: wire.TypeFsWrite, Path: via + "/p/q", Parents: true, User: "nobody"},
				"write over it": wire.FsWrite{Type: wire.TypeFsWrite, Path: data, User: "nobody"},
				"stat the link": wire.FsStat{Type: wire.TypeFsStat, Path: via, Follow: true, User: "nobody"},
				"read, group 0": wire.FsRead{Type: wire.TypeFsRead, Path: data, User: "65534:0"},
			} {
				r := do(t, s, req, []byte("planted by nobody"), nil)
				refused(t, what+" via "+via, r)
			}
			if w, e := startWatch(t, s, wire.FsWatch{Path: via, User: "nobody"}); e == nil {
				w.close()
				t.Fatalf("watch %s: allowed", via)
			}
		}
		entries, _ := os.ReadDir(pub)
		if len(entries) != 1 || entries[0].Name() != "data" {
			t.Fatalf("pub changed: %v", entries)
		}
		if b, _ := os.ReadFile(filepath.Join(pub, "data")); string(b) != "secret data" {
			t.Fatalf("data changed: %q", b)
		}
		// The agent's descriptors and their link texts are not listed either, nor is any
		// of its own /proc entries (maps, fdinfo) read.
		for what, req := range map[string]any{
			"list fd":       wire.FsList{Type: wire.TypeFsList, Path: "/proc/self/fd", User: "nobody"},
			"list fd pid":   wire.FsList{Type: wire.TypeFsList, Path: "/proc/" + pid + "/fd", User: "nobody"},
			"stat fd link":  wire.FsStat{Type: wire.TypeFsStat, Path: "/proc/self/fd/" + n, User: "nobody"},
			"list self":     wire.FsList{Type: wire.TypeFsList, Path: "/proc/self", Depth: 3, User: "nobody"},
			"read maps":     wire.FsRead{Type: wire.TypeFsRead, Path: "/proc/self/maps", User: "nobody"},
			"read fdinfo":   wire.FsRead{Type: wire.TypeFsRead, Path: "/proc/self/fdinfo/" + n, User: "nobody"},
			"read status":   wire.FsRead{Type: wire.TypeFsRead, Path: "/proc/self/status", User: "nobody"},
			"read mem":      wire.FsRead{Type: wire.TypeFsRead, Path: "/proc/self/mem", Offset: 4096, User: "nobody"},
			"read mounts":   wire.FsRead{Type: wire.TypeFsRead, Path: "/proc/mounts", User: "nobody"},
			"list /proc":    wire.FsList{Type: wire.TypeFsList, Path: "/proc", User: "nobody"},
			"list map_file": wire.FsList{Type: wire.TypeFsList, Path: "/proc/self/map_files", User: "nobody"},
			"stat ns link":  wire.FsStat{Type: wire.TypeFsStat, Path: "/proc/self/ns/mnt", User: "nobody"},
		} {
			r := do(t, s, req)
			if r.code() != wire.CodePermission || len(r.types()) != 1 || len(r.data) != 0 {
				t.Fatalf("%s: %v %+v", what, r.types(), r.err)
			}
			if strings.Contains(r.err.Message, pub) {
				t.Fatalf("%s: the error names the held directory: %s", what, r.err.Message)
			}
		}
		// A recursive listing that reaches a procfs mount lists the mount point, not
		// what is inside.
		es, _, _, lerr := listAll(t, s, wire.FsList{Path: "/", Depth: 3, User: "nobody"})
		if lerr != nil {
			t.Fatal(lerr)
		}
		for _, e := range es {
			if strings.HasPrefix(e.Path, "/proc/") {
				t.Fatalf("listed inside /proc: %s", e.Path)
			}
		}
		// Ordinary links still resolve as before, as the user.
		os.WriteFile(filepath.Join(shared, "file"), []byte("public"), 0o644)
		os.Symlink(filepath.Join(shared, "file"), filepath.Join(shared, "abs"))
		os.Symlink("file", filepath.Join(shared, "rel"))
		os.Symlink(shared, filepath.Join(dir, "shared-link"))
		for _, p := range []string{"shared/abs", "shared/rel", "shared-link/rel", "shared-link/../shared/abs"} {
			r := do(t, s, wire.FsRead{Type: wire.TypeFsRead, Path: p, User: "nobody"})
			if r.err != nil || string(r.data) != "public" {
				t.Fatalf("%s: %+v %q", p, r.err, r.data)
			}
		}
	})
}

// TestProcMagicLinksAsRoot: root requests never follow a magic link either (it gains
// nothing from one, but the resolution is the same for everyone); procfs itself stays
// readable for root.
func TestProcMagicLinksAsRoot(t *testing.T) {
	needRoot(t)
	modes(t, func(t *testing.T) {
		dir, pub, fd := procLeakSetup(t)
		s := testService(t, dir)
		n := strconv.Itoa(fd)
		for _, p := range []string{"/proc/self/fd/" + n + "/data", "/proc/thread-self/fd/" + n + "/data", "/proc/self/root" + pub + "/data"} {
			r := do(t, s, wire.FsRead{Type: wire.TypeFsRead, Path: p})
			if r.code() != wire.CodeInvalid || len(r.data) != 0 || !strings.Contains(r.err.Message, p) {
				t.Fatalf("%s: %+v %q", p, r.err, r.data)
			}
		}
		if r := do(t, s, wire.FsRead{Type: wire.TypeFsRead, Path: filepath.Join(pub, "data")}); string(r.data) != "secret data" {
			t.Fatalf("direct read as root: %+v", r.err)
		}
		// The link itself is described (its text is root's to see).
		r := do(t, s, wire.FsStat{Type: wire.TypeFsStat, Path: "/proc/self/fd/" + n})
		if r.err != nil || r.entry.Type != "symlink" || r.entry.SymlinkTarget == nil || *r.entry.SymlinkTarget != pub {
			t.Fatalf("stat the link: %+v %+v", r.err, r.entry)
		}
		r = do(t, s, wire.FsRead{Type: wire.TypeFsRead, Path: "/proc/self/status"})
		if r.err != nil || !strings.Contains(string(r.data), "Name:") {
			t.Fatalf("read /proc/self/status: %+v", r.err)
		}
		r = do(t, s, wire.FsRead{Type: wire.TypeFsRead, Path: "/proc/mounts"})
		if r.err != nil || len(r.data) == 0 {
			t.Fatalf("read /proc/mounts: %+v", r.err)
		}
	})
}

// TestWalkLikeKernel: the fallback resolves what openat2 resolves, to the same object or
// the same error.
func TestWalkLikeKernel(t *testing.T) {
	res.init()
	if !res.openat2 {
		t.Skip("no openat2 to compare with")
	}
	dir := t.TempDir()
	for _, d := range []string{"a/b/c", "x"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "a/b/c/f"), []byte("f"), 0o644)
	links := map[string]string{
		"rel": "a/b", "abs": filepath.Join(dir, "a/b/c"), "dot": ".", "dotdot": "..", "up": "a/b/../../x",
		"chain": "rel", "loop1": "loop2", "loop2": "loop1", "dangling": "missing", "root": "/",
		"a/b/back": "../../a/b/c/f", "tofile": "a/b/c/f", "slash": "a/b/c/", "self": "/proc/self",
	}
	for l, target := range links {
		os.Symlink(target, filepath.Join(dir, l))
	}
	paths := []string{
		"/", dir, "a/b/c/f", "rel/c/f", "abs/f", "dot/a/b", "dotdot", "up", "chain/c", "loop1", "loop1/x",
		"dangling", "root/etc", "a/b/back", "tofile", "tofile/x", "slash/f", "rel/c/f/g", "missing/x",
		"self/status", "self/fd", "/proc/self/fd/0", "/proc/self/root", "/proc/mounts", "/dev/shm", "rel/../x",
	}
	r := &req{id: &identity{uid: 0}}
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		for _, flags := range []int{oPath, oPath | syscall.O_NOFOLLOW, syscall.O_RDONLY | syscall.O_DIRECTORY, oPath | syscall.O_DIRECTORY} {
			kfd, kerr := openat2(atFDCWD, p, flags)
			wfd, werr := r.walk(p, flags)
			if (kerr == nil) != (werr == nil) || kerr != nil && !errors.Is(werr, kerr) {
				t.Errorf("%s %#x: openat2 %v, walk %v", p, flags, kerr, werr)
			}
			if kerr == nil && werr == nil {
				var ks, ws syscall.Stat_t
				syscall.Fstat(kfd, &ks)
				syscall.Fstat(wfd, &ws)
				if ks.Dev != ws.Dev || ks.Ino != ws.Ino || ks.Mode != ws.Mode {
					t.Errorf("%s %#x: openat2 %d:%d, walk %d:%d", p, flags, ks.Dev, ks.Ino, ws.Dev, ws.Ino)
				}
			}
			if kerr == nil {
				closeFD(kfd)
			}
			if werr == nil {
				closeFD(wfd)
			}
		}
	}
}

// TestWalkProtectedSymlinks: with fs.protected_symlinks on, the walk refuses to follow a
// link in a sticky world-writable directory owned by neither the follower nor the
// directory's owner, as the kernel does.
func TestWalkProtectedSymlinks(t *testing.T) {
	needRoot(t)
	res.init()
	saved := res.protectedSymlinks
	res.protectedSymlinks = true
	forceWalk.Store(true)
	defer func() { res.protectedSymlinks = saved; forceWalk.Store(false) }()
	dir := t.TempDir()
	openDir(t, dir)
	s := testService(t, dir)
	os.WriteFile(filepath.Join(dir, "f"), []byte("f"), 0o644)
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o777)
	syscall.Chmod(tmp, 0o1777)
	for name, uid := range map[string]int{"by-4242": 4242, "by-nobody": 65534, "by-root": 0} {
		os.Symlink(filepath.Join(dir, "f"), filepath.Join(tmp, name))
		os.Lchown(filepath.Join(tmp, name), uid, uid)
	}
	for _, tc := range []struct {
		link, user, code string
	}{
		{"by-4242", "nobody", wire.CodePermission},
		{"by-4242", "root", wire.CodePermission},
		{"by-nobody", "nobody", ""},
		{"by-nobody", "root", wire.CodePermission},
		{"by-root", "nobody", ""},
	} {
		r := do(t, s, wire.FsRead{Type: wire.TypeFsRead, Path: "tmp/" + tc.link, User: tc.user})
		if r.code() != tc.code {
			t.Errorf("%s as %s: %+v", tc.link, tc.user, r.err)
		}
	}
}

// TestWatchRecursiveThroughLink: the root of a recursive watch may be a link to a
// directory (it is followed, as for a plain watch); its subdirectories are watched too,
// and new ones; a link below the root is not followed; the session's cap holds.
func TestWatchRecursiveThroughLink(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := fastTempDir(t)
		os.MkdirAll(filepath.Join(dir, "real/sub"), 0o755)
		os.MkdirAll(filepath.Join(dir, "other/deep"), 0o755)
		os.Symlink("real", filepath.Join(dir, "link"))
		os.Symlink("../other", filepath.Join(dir, "real/to-other"))
		s := testService(t, dir)
		w, e := startWatch(t, s, wire.FsWatch{Path: "link", Recursive: true})
		if e != nil {
			t.Fatal(e)
		}
		if _, d := s.WatchCounts(); d != 2 { // real and real/sub, not other
			t.Fatalf("watched dirs %d, want 2", d)
		}
		os.WriteFile(filepath.Join(dir, "real/sub/f"), nil, 0o644)
		w.expect("create " + dir + "/link/sub/f")
		os.Mkdir(filepath.Join(dir, "real/new"), 0o755)
		w.expect("create " + dir + "/link/new/")
		os.WriteFile(filepath.Join(dir, "real/new/g"), nil, 0o644)
		w.expect("create " + dir + "/link/new/g")
		os.WriteFile(filepath.Join(dir, "other/deep/h"), nil, 0o644)
		os.WriteFile(filepath.Join(dir, "real/sub/last"), nil, 0o644)
		w.expect("create " + dir + "/link/sub/last")
		for _, ev := range w.events() {
			if strings.Contains(ev, "/h") {
				t.Fatalf("an event from below a link in the tree: %v", w.events())
			}
		}
		w.close()
		// The cap counts the directories a link leads to like any others.
		for i := 0; i < 10; i++ {
			os.MkdirAll(filepath.Join(dir, "big", strconv.Itoa(i)), 0o755)
		}
		os.Symlink("big", filepath.Join(dir, "big-link"))
		s.cfg.MaxWatchedDirs = 6
		if _, e := startWatch(t, s, wire.FsWatch{Path: "big-link", Recursive: true}); e == nil || e.Code != wire.CodeLimit {
			t.Fatalf("11 dirs through a link with a cap of 6: %+v", e)
		}
		if n, d := s.WatchCounts(); n != 0 || d != 0 {
			t.Fatalf("counts after LIMIT %d %d", n, d)
		}
	})
}

// asUser runs fn with a request acting as user (switched as a real request is).
func asUser(t *testing.T, s *Service, user string, fn func(r *req)) {
	t.Helper()
	id, err := s.identity(user)
	if err != nil {
		t.Fatal(err)
	}
	r := &req{s: s, id: id}
	if err := runAs(id, func() { fn(r) }); err != nil {
		t.Fatal(err)
	}
}

// outcome is what one resolution gave: the object, or the error (and whether the agent
// chose it, and why).
func outcome(fd int, err error) string {
	if err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			return "refused " + ref.reason
		}
		return "error " + err.Error()
	}
	defer closeFD(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return "fstat " + err.Error()
	}
	return "object " + strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10) +
		" mode " + strconv.FormatUint(uint64(st.Mode), 8)
}

// TestResolveModesAgree: openat2 (with open's checks after it) and the fallback walk give
// the same answers, as root and as a user: ordinary links, ".." escapes, magic links
// (refused), procfs as a user (refused, existing or not), directories the user may not
// search.
func TestResolveModesAgree(t *testing.T) {
	needRoot(t)
	res.init()
	if !res.openat2 {
		t.Skip("no openat2 to compare with")
	}
	dir, pub, fd := procLeakSetup(t)
	s := testService(t, dir)
	n := strconv.Itoa(fd)
	os.MkdirAll(filepath.Join(dir, "a/b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a/b/f"), []byte("f"), 0o644)
	links := map[string]string{
		"rel": "a/b", "abs": filepath.Join(dir, "a"), "chain": "rel", "dangling": "missing",
		"loop1": "loop2", "loop2": "loop1", "tofile": "a/b/f", "tofile-slash": "a/b/f/",
		"dir-slash": "a/b/", "esc": strings.Repeat("../", 30), "esc-rel": "a/../../../../../../../../../..",
		"magic": "/proc/self/fd/" + n, "magic-rel": "../../../../../../../../../proc/self/fd/" + n,
		"proc-out": "/proc/self/../../etc", "proc-missing": "/proc/self/fd/999999/x",
		"to-private": "private/pub", "cpuinfo": "/proc/cpuinfo", "dev-fd": "/dev/fd/" + n,
	}
	for l, target := range links {
		os.Symlink(target, filepath.Join(dir, l))
	}
	paths := []string{
		dir, "a/b/f", "rel/f", "abs/b/f", "chain/f", "dangling", "loop1", "loop1/x", "tofile",
		"tofile/x", "tofile-slash", "dir-slash", "dir-slash/f", "esc", "esc/etc/passwd",
		"esc-rel/etc", "magic", "magic/data", "magic-rel/data", "proc-out/passwd",
		"proc-missing", "to-private/data", filepath.Join(pub, "data"), "cpuinfo", "dev-fd/data",
		"/", "/proc", "/proc/cpuinfo", "/proc/self", "/proc/self/fd", "/proc/self/fd/" + n,
		"/proc/self/fd/" + n + "/data", "/proc/self/fd/999999", "/proc/self/fd/999999/data",
		"/proc/nothing", "/proc/self/root/etc", "/proc/self/cwd", "/proc/self/exe",
		"/proc/thread-self/fd/" + n + "/data", "/proc/self/ns/mnt", "/proc/self/status/x",
	}
	flagSets := []int{oPath, oPath | syscall.O_NOFOLLOW, syscall.O_RDONLY | syscall.O_NONBLOCK,
		syscall.O_RDONLY | syscall.O_DIRECTORY, oPath | syscall.O_DIRECTORY}
	for _, user := range []string{"root", "nobody"} {
		asUser(t, s, user, func(r *req) {
			for _, p := range paths {
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				for _, flags := range flagSets {
					forceWalk.Store(false)
					k := outcome(r.open(p, flags))
					forceWalk.Store(true)
					w := outcome(r.open(p, flags))
					forceWalk.Store(false)
					if k != w {
						t.Errorf("%s %s %#x: openat2 %s, walk %s", user, p, flags, k, w)
					}
					// A user never gets an object on procfs, nor learns what exists there.
					if user == "nobody" && strings.HasPrefix(p, "/proc/") && k != "refused "+errProc.reason {
						t.Errorf("nobody %s %#x: %s", p, flags, k)
					}
				}
			}
		})
	}
}

// TestResolveSwapRace: while a directory in the path is swapped again and again for a
// link (to the agent's magic link, to a directory the user may not search, to /proc),
// reads and writes as nobody through it get the public data or an error: never the data
// below the private directory, and nothing lands there. Root's reads never follow a
// magic link either (the ordinary link to pub is root's to follow).
func TestResolveSwapRace(t *testing.T) {
	needRoot(t)
	modes(t, func(t *testing.T) {
		dir, pub, fd := procLeakSetup(t)
		s := testService(t, dir)
		shared := filepath.Join(dir, "shared")
		x := filepath.Join(shared, "x")
		for i, target := range []string{"/proc/self/fd/" + strconv.Itoa(fd), pub, "/proc/self/root" + pub} {
			// Root may follow the ordinary link to pub; nothing else may reach it.
			magic := target != pub
			real, link := filepath.Join(shared, "x.dir"), filepath.Join(shared, "x.link")
			os.RemoveAll(x)
			os.Remove(link)
			os.Mkdir(x, 0o777)
			os.Chmod(x, 0o777)
			os.WriteFile(filepath.Join(x, "data"), []byte("public"), 0o666)
			os.Symlink(target, link)
			stop := make(chan struct{})
			swapped := make(chan int)
			go func() {
				n := 0
				defer func() { swapped <- n }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					os.Rename(x, real)
					os.Rename(link, x)
					os.Rename(x, link)
					os.Rename(real, x)
					n++
				}
			}()
			got := map[string]int{}
			for _, user := range []string{"nobody", "root"} {
				asUser(t, s, user, func(r *req) {
					buf := make([]byte, 64)
					// At least 1500 rounds, and on (a while) until the public data was read
					// once: the swapper may have been descheduled for a whole round.
					deadline := time.Now().Add(5 * time.Second)
					for j := 0; j < 1500 || got[user+" read public"] == 0 && time.Now().Before(deadline); j++ {
						fd, err := r.open(filepath.Join(x, "data"), syscall.O_RDONLY|syscall.O_NONBLOCK)
						if err != nil {
							got[user+" "+outcome(-1, err)]++
							continue
						}
						n, _ := syscall.Pread(fd, buf, 0)
						closeFD(fd)
						got[user+" read "+string(buf[:max(n, 0)])]++
						// A write's first step: the directory the new file would go in.
						pfd, base, err := r.openParent(filepath.Join(x, "planted"))
						if err == nil {
							if user == "nobody" {
								if nfd, err := openat(pfd, base, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, 0o644); err == nil {
									closeFD(nfd)
									unlinkat(pfd, base, 0)
									got["nobody created"]++
								}
							}
							var st syscall.Stat_t
							syscall.Fstat(pfd, &st)
							var pst syscall.Stat_t
							syscall.Stat(pub, &pst)
							if st.Ino == pst.Ino && st.Dev == pst.Dev && (user == "nobody" || magic) {
								t.Errorf("%s: %s resolved to %s (via %s)", user, x, pub, target)
							}
							closeFD(pfd)
						}
					}
				})
			}
			close(stop)
			switch rounds := <-swapped; {
			case rounds == 0:
				t.Fatal("the swapper never ran: nothing was raced")
			case rounds < 10:
				t.Logf("only %d swaps", rounds)
			}
			for k, v := range got {
				if strings.Contains(k, "secret") && (strings.HasPrefix(k, "nobody") || magic) {
					t.Errorf("via %s: %s (%d times)", target, k, v)
				}
			}
			if got["nobody read public"] == 0 || got["root read public"] == 0 {
				t.Errorf("via %s: the public data was never read: %v", target, got)
			}
			t.Logf("via %s (%d): %v", target, i, got)
			entries, _ := os.ReadDir(pub)
			if len(entries) != 1 {
				t.Fatalf("pub changed: %v", entries)
			}
		}
	})
}
