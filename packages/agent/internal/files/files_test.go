package files

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

func TestPermissions(t *testing.T) {
	for _, tc := range []struct {
		mode uint32
		want string
	}{
		{syscall.S_IFREG | 0o644, "-rw-r--r--"},
		{syscall.S_IFDIR | 0o755, "drwxr-xr-x"},
		{syscall.S_IFDIR | 0o1777, "drwxrwxrwt"},
		{syscall.S_IFDIR | 0o1776, "drwxrwxrwT"},
		{syscall.S_IFLNK | 0o777, "lrwxrwxrwx"},
		{syscall.S_IFREG | 0o4755, "-rwsr-xr-x"},
		{syscall.S_IFREG | 0o2644, "-rw-r-Sr--"},
		{syscall.S_IFIFO | 0o600, "prw-------"},
		{syscall.S_IFSOCK | 0o777, "srwxrwxrwx"},
		{syscall.S_IFCHR | 0o666, "crw-rw-rw-"},
		{syscall.S_IFBLK | 0o660, "brw-rw----"},
	} {
		if got := permissions(tc.mode); got != tc.want {
			t.Errorf("%#o: %q, want %q", tc.mode, got, tc.want)
		}
	}
}

func TestErrnoCodes(t *testing.T) {
	for errno, code := range map[syscall.Errno]string{
		syscall.ENOENT: wire.CodeNotFound, syscall.EEXIST: wire.CodeExists, syscall.EISDIR: wire.CodeIsDir,
		syscall.ENOTDIR: wire.CodeNotDir, syscall.ENOTEMPTY: wire.CodeNotEmpty, syscall.EACCES: wire.CodePermission,
		syscall.EPERM: wire.CodePermission, syscall.ENOSPC: wire.CodeNoSpace, syscall.EDQUOT: wire.CodeNoSpace,
		syscall.EXDEV: wire.CodeCrossDevice, syscall.ELOOP: wire.CodeInvalid, syscall.ENAMETOOLONG: wire.CodeInvalid,
		syscall.EINVAL: wire.CodeInvalid, syscall.EIO: wire.CodeInternal,
	} {
		e := fsErr("open", "/x/y", errno)
		if e.Code != code || !strings.Contains(e.Message, "/x/y") {
			t.Errorf("%v: %+v", errno, e)
		}
	}
}

func TestStat(t *testing.T) {
	dir := t.TempDir()
	s := testService(t, dir)
	os.WriteFile(filepath.Join(dir, "f"), []byte("hello"), 0o640)
	os.Mkdir(filepath.Join(dir, "d"), 0o1750)
	syscall.Chmod(filepath.Join(dir, "d"), 0o1750)
	os.Symlink("f", filepath.Join(dir, "l"))
	os.Symlink("missing", filepath.Join(dir, "dangling"))
	syscall.Mkfifo(filepath.Join(dir, "p"), 0o600)
	mt := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	os.Chtimes(filepath.Join(dir, "f"), mt, mt)
	me, group := "", ""
	if os.Geteuid() == 0 {
		me, group = "root", "root"
	}
	for _, tc := range []struct {
		name   string
		req    wire.FsStat
		code   string
		typ    string
		mode   uint32
		perms  string
		size   int64
		target string
	}{
		{"file", wire.FsStat{Path: "f"}, "", "file", 0o640, "-rw-r-----", 5, ""},
		{"absolute", wire.FsStat{Path: filepath.Join(dir, "f")}, "", "file", 0o640, "-rw-r-----", 5, ""},
		{"dir", wire.FsStat{Path: "d"}, "", "dir", 0o1750, "drwxr-x--T", -1, ""},
		{"link", wire.FsStat{Path: "l"}, "", "symlink", 0o777, "lrwxrwxrwx", 1, "f"},
		{"link followed", wire.FsStat{Path: "l", Follow: true}, "", "file", 0o640, "-rw-r-----", 5, ""},
		{"dangling", wire.FsStat{Path: "dangling"}, "", "symlink", 0o777, "lrwxrwxrwx", 7, "missing"},
		{"dangling followed", wire.FsStat{Path: "dangling", Follow: true}, wire.CodeNotFound, "", 0, "", 0, ""},
		{"fifo", wire.FsStat{Path: "p"}, "", "other", 0o600, "prw-------", 0, ""},
		{"missing", wire.FsStat{Path: "nope"}, wire.CodeNotFound, "", 0, "", 0, ""},
		{"through a file", wire.FsStat{Path: "f/x"}, wire.CodeNotDir, "", 0, "", 0, ""},
		{"empty path", wire.FsStat{Path: ""}, wire.CodeInvalid, "", 0, "", 0, ""},
		{"NUL", wire.FsStat{Path: "a\x00b"}, wire.CodeInvalid, "", 0, "", 0, ""},
		{"too long", wire.FsStat{Path: strings.Repeat("a", 4097)}, wire.CodeInvalid, "", 0, "", 0, ""},
		{"name too long", wire.FsStat{Path: strings.Repeat("a", 300)}, wire.CodeInvalid, "", 0, "", 0, ""},
		{"unknown user", wire.FsStat{Path: "f", User: "axo-no-such-user"}, wire.CodeInvalid, "", 0, "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Type = wire.TypeFsStat
			r := do(t, s, tc.req)
			if r.code() != tc.code {
				t.Fatalf("code %q (%+v), want %q", r.code(), r.err, tc.code)
			}
			if tc.code != "" {
				if r.err.Message == "" {
					t.Fatal("no message")
				}
				return
			}
			e := r.entry
			if e == nil || e.Type != tc.typ || e.Mode != tc.mode || e.Permissions != tc.perms {
				t.Fatalf("entry %+v", e)
			}
			if tc.size >= 0 && e.Size != tc.size {
				t.Fatalf("size %d", e.Size)
			}
			p := tc.req.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			if e.Path != p || e.Name != filepath.Base(p) {
				t.Fatalf("path %q name %q", e.Path, e.Name)
			}
			if (tc.target == "") != (e.SymlinkTarget == nil) || (e.SymlinkTarget != nil && *e.SymlinkTarget != tc.target) {
				t.Fatalf("symlinkTarget %v", e.SymlinkTarget)
			}
			if e.UID != uint32(os.Geteuid()) || (me != "" && (e.Owner != me || e.Group != group)) {
				t.Fatalf("owner %d %q %q", e.UID, e.Owner, e.Group)
			}
			if _, err := time.Parse(time.RFC3339Nano, e.MTime); err != nil || len(e.MTime) != len("2006-01-02T15:04:05.000000000Z") {
				t.Fatalf("mtime %q", e.MTime)
			}
		})
	}
	r := do(t, s, wire.FsStat{Type: wire.TypeFsStat, Path: "f"})
	if r.entry.MTime != "2024-05-06T07:08:09.123456789Z" {
		t.Fatalf("mtime %q", r.entry.MTime)
	}
	// The JSON carries exactly the README's fields (symlinkTarget only for links).
	var raw map[string]any
	json.Unmarshal(r.frames[0].Payload, &raw)
	entry := raw["entry"].(map[string]any)
	for _, k := range []string{"name", "path", "type", "size", "mode", "permissions", "uid", "gid", "owner", "group", "mtime"} {
		if _, ok := entry[k]; !ok {
			t.Errorf("entry lacks %q", k)
		}
	}
	if _, ok := entry["symlinkTarget"]; ok || len(entry) != 11 {
		t.Errorf("entry fields %v", entry)
	}
}

// listAll runs a list and returns its entries, batch sizes and end.
func listAll(t *testing.T, s *Service, req wire.FsList) ([]wire.Entry, []int, *wire.ListEnd, *wire.Error) {
	t.Helper()
	req.Type = wire.TypeFsList
	r := do(t, s, req)
	if r.err != nil {
		return nil, nil, nil, r.err
	}
	var out []wire.Entry
	var batches []int
	var end *wire.ListEnd
	for i, f := range r.frames {
		switch f.Type {
		case wire.TypeEntries:
			if end != nil {
				t.Fatal("entries after end")
			}
			var m wire.Entries
			if err := f.Decode(&m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m.Entries...)
			batches = append(batches, len(m.Entries))
		case wire.TypeEnd:
			end = &wire.ListEnd{}
			f.Decode(end)
			if i != len(r.frames)-1 {
				t.Fatal("end is not last")
			}
		default:
			t.Fatalf("unexpected %s", f.Payload)
		}
	}
	if end == nil {
		t.Fatal("no end")
	}
	return out, batches, end, nil
}

func paths(es []wire.Entry, base string) map[string]string {
	m := map[string]string{}
	for _, e := range es {
		m[strings.TrimPrefix(e.Path, base+"/")] = e.Type
	}
	return m
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), nil, 0o644)
	os.MkdirAll(filepath.Join(dir, "a/b/c"), 0o755)
	os.WriteFile(filepath.Join(dir, "a/b/c/deep"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "top"), nil, 0o644)
	os.Symlink(outside, filepath.Join(dir, "a/out"))
	s := testService(t, dir)

	es, _, end, _ := listAll(t, s, wire.FsList{Path: dir})
	if got := paths(es, dir); len(got) != 2 || got["a"] != "dir" || got["top"] != "file" || end.Truncated {
		t.Fatalf("depth 1: %v %+v", got, end)
	}
	es, _, _, _ = listAll(t, s, wire.FsList{Path: ".", Depth: 2})
	if got := paths(es, dir); len(got) != 4 || got["a/b"] != "dir" || got["a/out"] != "symlink" {
		t.Fatalf("depth 2: %v", got)
	}
	es, _, _, _ = listAll(t, s, wire.FsList{Path: dir, Depth: 32})
	got := paths(es, dir)
	if len(got) != 6 || got["a/b/c/deep"] != "file" {
		t.Fatalf("depth 32: %v", got)
	}
	for p := range got {
		if strings.Contains(p, "secret") {
			t.Fatal("descended into a link")
		}
	}
	for _, e := range es {
		if e.Path == filepath.Join(dir, "a/out") && (e.SymlinkTarget == nil || *e.SymlinkTarget != outside) {
			t.Fatalf("link entry %+v", e)
		}
	}
	// A link to a directory as the root is followed (like ls).
	es, _, _, _ = listAll(t, s, wire.FsList{Path: filepath.Join(dir, "a/out")})
	if len(es) != 1 || es[0].Name != "secret" {
		t.Fatalf("list through a link: %+v", es)
	}
	for _, tc := range []struct {
		req  wire.FsList
		code string
	}{
		{wire.FsList{Path: "top"}, wire.CodeNotDir},
		{wire.FsList{Path: "nope"}, wire.CodeNotFound},
		{wire.FsList{Path: dir, Depth: 33}, wire.CodeInvalid},
		{wire.FsList{Path: dir, Depth: -1}, wire.CodeInvalid},
	} {
		if _, _, _, err := listAll(t, s, tc.req); err == nil || err.Code != tc.code {
			t.Errorf("%+v: %+v, want %s", tc.req, err, tc.code)
		}
	}
}

func TestListBatches(t *testing.T) {
	dir := fastTempDir(t)
	// Long names (and long link targets) make each entry big: batches are cut by size too.
	long := strings.Repeat("n", 240)
	target := strings.Repeat("t/", 2000)
	for i := 0; i < 800; i++ {
		name := filepath.Join(dir, long+strings.Repeat("x", i%10)+"-"+itoa(i))
		if i%2 == 0 {
			os.WriteFile(name, nil, 0o644)
		} else {
			os.Symlink(target, name)
		}
	}
	s := testService(t, dir)
	es, batches, end, _ := listAll(t, s, wire.FsList{Path: dir})
	if len(es) != 800 || end.Truncated {
		t.Fatalf("%d entries, end %+v", len(es), end)
	}
	for _, b := range batches {
		if b > ListBatch {
			t.Fatalf("batch of %d", b)
		}
	}
	if len(batches) < 2 {
		t.Fatalf("batches %v: not cut by size", batches)
	}
	// Plain small entries: batches of exactly 1000.
	dir2 := fastTempDir(t)
	for i := 0; i < 2001; i++ {
		os.WriteFile(filepath.Join(dir2, itoa(i)), nil, 0o644)
	}
	_, batches, _, _ = listAll(t, s, wire.FsList{Path: dir2})
	if len(batches) != 3 || batches[0] != 1000 || batches[1] != 1000 || batches[2] != 1 {
		t.Fatalf("batches %v", batches)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestMkdir(t *testing.T) {
	dir := t.TempDir()
	s := testService(t, dir)
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	for _, tc := range []struct {
		name string
		req  wire.FsMkdir
		code string
		mode uint32
	}{
		{"simple", wire.FsMkdir{Path: "a"}, "", 0o755},
		{"exists", wire.FsMkdir{Path: "a"}, wire.CodeExists, 0},
		{"exists with parents", wire.FsMkdir{Path: "a", Parents: true}, "", 0o755},
		{"file with parents", wire.FsMkdir{Path: "file", Parents: true}, wire.CodeExists, 0},
		{"missing parent", wire.FsMkdir{Path: "x/y"}, wire.CodeNotFound, 0},
		{"parents", wire.FsMkdir{Path: "x/y/z", Parents: true, Mode: ptr[uint32](0o700)}, "", 0o700},
		{"mode exactly, umask or not", wire.FsMkdir{Path: "open", Mode: ptr[uint32](0o777)}, "", 0o777},
		{"under a file", wire.FsMkdir{Path: "file/x", Parents: true}, wire.CodeNotDir, 0},
		{"bad mode", wire.FsMkdir{Path: "m", Mode: ptr[uint32](0o10000)}, wire.CodeInvalid, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Type = wire.TypeFsMkdir
			r := do(t, s, tc.req)
			if r.code() != tc.code {
				t.Fatalf("code %q (%+v), want %q", r.code(), r.err, tc.code)
			}
			if tc.code == "" && (r.entry == nil || r.entry.Type != "dir" || r.entry.Mode != tc.mode) {
				t.Fatalf("entry %+v", r.entry)
			}
		})
	}
	if st, err := os.Stat(filepath.Join(dir, "x/y")); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("intermediate: %v %v", st.Mode(), err)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(outside, "sub"), 0o755)
	s := testService(t, dir)
	mk := func() {
		os.MkdirAll(filepath.Join(dir, "tree/a/b"), 0o755)
		os.WriteFile(filepath.Join(dir, "tree/a/b/f"), nil, 0o644)
		os.WriteFile(filepath.Join(dir, "tree/f"), nil, 0o644)
		os.Symlink(outside, filepath.Join(dir, "tree/a/link"))
		os.Symlink(outside, filepath.Join(dir, "dirlink"))
		os.Mkdir(filepath.Join(dir, "empty"), 0o755)
		os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	}
	mk()
	for _, tc := range []struct {
		name string
		req  wire.FsRemove
		code string
	}{
		{"file", wire.FsRemove{Path: "file"}, ""},
		{"missing", wire.FsRemove{Path: "file"}, wire.CodeNotFound},
		{"empty dir", wire.FsRemove{Path: "empty"}, ""},
		{"non-empty dir", wire.FsRemove{Path: "tree"}, wire.CodeNotEmpty},
		{"link to a dir, recursive", wire.FsRemove{Path: "dirlink", Recursive: true}, ""},
		{"tree", wire.FsRemove{Path: "tree", Recursive: true}, ""},
		{"root", wire.FsRemove{Path: "/", Recursive: true}, wire.CodeInvalid},
		{"dot-dot of root", wire.FsRemove{Path: "/.."}, wire.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Type = wire.TypeFsRemove
			r := do(t, s, tc.req)
			if r.code() != tc.code {
				t.Fatalf("code %q (%+v), want %q", r.code(), r.err, tc.code)
			}
			if tc.code == "" {
				if len(r.frames) != 1 || r.frames[0].Type != wire.TypeOK {
					t.Fatalf("answer %v", r.types())
				}
				if _, err := os.Lstat(filepath.Join(dir, tc.req.Path)); !os.IsNotExist(err) {
					t.Fatalf("still there: %v", err)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Fatalf("the link's target lost its contents: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "sub")); err != nil {
		t.Fatalf("the link's target lost its contents: %v", err)
	}
}

func TestMoveAndSymlink(t *testing.T) {
	dir := t.TempDir()
	s := testService(t, dir)
	os.WriteFile(filepath.Join(dir, "a"), []byte("A"), 0o644)
	os.MkdirAll(filepath.Join(dir, "full/x"), 0o755)
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	r := do(t, s, wire.FsMove{Type: wire.TypeFsMove, From: "a", To: "b"})
	if r.err != nil || r.entry.Path != filepath.Join(dir, "b") || r.entry.Size != 1 {
		t.Fatalf("move: %+v %+v", r.err, r.entry)
	}
	for _, tc := range []struct {
		from, to, code string
	}{
		{"a", "c", wire.CodeNotFound},
		{"d", "full", wire.CodeNotEmpty},
		{"b", "full", wire.CodeIsDir},
		{"d", "b", wire.CodeNotDir},
		{"/", "x", wire.CodeInvalid},
	} {
		if r := do(t, s, wire.FsMove{Type: wire.TypeFsMove, From: tc.from, To: tc.to}); r.code() != tc.code {
			t.Errorf("move %s %s: %+v, want %s", tc.from, tc.to, r.err, tc.code)
		}
	}
	if shm, err := os.MkdirTemp("/dev/shm", "axo-files-test-"); err == nil {
		defer os.RemoveAll(shm)
		var a, b syscall.Stat_t
		syscall.Stat(shm, &a)
		syscall.Stat(dir, &b)
		if a.Dev != b.Dev {
			if r := do(t, s, wire.FsMove{Type: wire.TypeFsMove, From: "b", To: shm + "/b"}); r.code() != wire.CodeCrossDevice {
				t.Errorf("across devices: %+v", r.err)
			}
		}
	}
	r = do(t, s, wire.FsSymlink{Type: wire.TypeFsSymlink, Path: "ln", Target: "../somewhere"})
	if r.err != nil || r.entry.Type != "symlink" || r.entry.SymlinkTarget == nil || *r.entry.SymlinkTarget != "../somewhere" {
		t.Fatalf("symlink: %+v %+v", r.err, r.entry)
	}
	if r := do(t, s, wire.FsSymlink{Type: wire.TypeFsSymlink, Path: "ln", Target: "x"}); r.code() != wire.CodeExists {
		t.Fatalf("symlink over a link: %+v", r.err)
	}
	if r := do(t, s, wire.FsSymlink{Type: wire.TypeFsSymlink, Path: "ln2", Target: ""}); r.code() != wire.CodeInvalid {
		t.Fatalf("empty target: %+v", r.err)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	s := testService(t, dir)
	data := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640000 bytes: 3 frames
	os.WriteFile(filepath.Join(dir, "f"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644)
	syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644)
	os.Symlink("f", filepath.Join(dir, "l"))
	for _, tc := range []struct {
		name   string
		req    wire.FsRead
		code   string
		want   []byte
		frames int
	}{
		{"whole", wire.FsRead{Path: "f"}, "", data, 3},
		{"length -1", wire.FsRead{Path: "f", Length: ptr[int64](-1)}, "", data, 3},
		{"offset", wire.FsRead{Path: "f", Offset: 600000}, "", data[600000:], 1},
		{"range", wire.FsRead{Path: "f", Offset: 10, Length: ptr[int64](300000)}, "", data[10:300010], 2},
		{"length 0", wire.FsRead{Path: "f", Length: ptr[int64](0)}, "", nil, 0},
		{"past the end", wire.FsRead{Path: "f", Offset: 1 << 30}, "", nil, 0},
		{"empty", wire.FsRead{Path: "empty"}, "", nil, 0},
		{"through a link", wire.FsRead{Path: "l", Length: ptr[int64](5)}, "", data[:5], 1},
		{"fifo", wire.FsRead{Path: "fifo"}, wire.CodeNotRegular, nil, 0},
		{"device", wire.FsRead{Path: "/dev/null"}, wire.CodeNotRegular, nil, 0},
		{"dir", wire.FsRead{Path: dir}, wire.CodeIsDir, nil, 0},
		{"missing", wire.FsRead{Path: "nope"}, wire.CodeNotFound, nil, 0},
		{"negative offset", wire.FsRead{Path: "f", Offset: -1}, wire.CodeInvalid, nil, 0},
		{"bad length", wire.FsRead{Path: "f", Length: ptr[int64](-2)}, wire.CodeInvalid, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Type = wire.TypeFsRead
			t0 := time.Now()
			r := do(t, s, tc.req)
			if r.code() != tc.code {
				t.Fatalf("code %q (%+v), want %q", r.code(), r.err, tc.code)
			}
			if tc.code != "" {
				if d := time.Since(t0); d > 100*time.Millisecond {
					t.Fatalf("took %v", d)
				}
				return
			}
			if !bytes.Equal(r.data, tc.want) {
				t.Fatalf("got %d bytes, want %d", len(r.data), len(tc.want))
			}
			n := 0
			for _, f := range r.frames {
				if f.Kind == wire.KindOut {
					n++
					if len(f.Payload) > ReadChunk {
						t.Fatalf("frame of %d", len(f.Payload))
					}
				}
			}
			types := r.types()
			if n != tc.frames || len(types) != 2 || types[0] != wire.TypeEntry || types[1] != wire.TypeEnd {
				t.Fatalf("%d frames, messages %v", n, types)
			}
			var end wire.ReadEnd
			r.frames[len(r.frames)-1].Decode(&end)
			if end.Bytes != int64(len(tc.want)) || r.entry.Type != "file" {
				t.Fatalf("end %+v entry %+v", end, r.entry)
			}
		})
	}
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
	return m
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	s := testService(t, dir)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "old"), []byte("old content"), 0o600)
	os.WriteFile(filepath.Join(dir, "exec"), []byte("#!/bin/sh"), 0o755)
	os.Chmod(filepath.Join(dir, "exec"), 0o755)
	os.Symlink("old", filepath.Join(dir, "link"))
	big := bytes.Repeat([]byte{0xab}, 3<<20)
	chunks := func(b []byte) [][]byte {
		var out [][]byte
		for len(b) > 0 {
			n := min(len(b), 1<<20)
			out = append(out, b[:n])
			b = b[n:]
		}
		return append(out, nil)
	}
	for _, tc := range []struct {
		name    string
		req     wire.FsWrite
		in      [][]byte
		code    string
		content string // of req.Path afterwards
		mode    os.FileMode
	}{
		{"new file", wire.FsWrite{Path: "new"}, [][]byte{[]byte("hello "), []byte("world"), nil}, "", "hello world", 0o644},
		{"empty file", wire.FsWrite{Path: "empty"}, [][]byte{nil}, "", "", 0o644},
		{"replace keeps mode", wire.FsWrite{Path: "old"}, [][]byte{[]byte("new"), nil}, "", "new", 0o600},
		{"replace keeps exec", wire.FsWrite{Path: "exec"}, [][]byte{[]byte("#!/bin/true"), nil}, "", "#!/bin/true", 0o755},
		{"explicit mode", wire.FsWrite{Path: "m", Mode: ptr[uint32](0o640)}, [][]byte{[]byte("m"), nil}, "", "m", 0o640},
		{"parents", wire.FsWrite{Path: "p/q/r", Parents: true}, [][]byte{[]byte("r"), nil}, "", "r", 0o644},
		{"big", wire.FsWrite{Path: "big"}, chunks(big), "", string(big), 0o644},
		{"missing parent", wire.FsWrite{Path: "x/y"}, [][]byte{[]byte("r"), nil}, wire.CodeNotFound, "", 0},
		{"over a dir", wire.FsWrite{Path: "sub"}, [][]byte{[]byte("r"), nil}, wire.CodeIsDir, "", 0},
		{"too large", wire.FsWrite{Path: "new", MaxBytes: ptr[int64](10)}, [][]byte{[]byte("12345"), []byte("678901"), nil}, wire.CodeTooLarge, "hello world", 0o644},
		{"exactly maxBytes", wire.FsWrite{Path: "max", MaxBytes: ptr[int64](10)}, [][]byte{[]byte("12345"), []byte("67890"), nil}, "", "1234567890", 0o644},
		{"input ends early", wire.FsWrite{Path: "new"}, [][]byte{[]byte("partial")}, wire.CodeInvalid, "hello world", 0o644},
		{"bad mode", wire.FsWrite{Path: "z", Mode: ptr[uint32](0o20000)}, nil, wire.CodeInvalid, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Type = wire.TypeFsWrite
			r := do(t, s, tc.req, tc.in...)
			if r.code() != tc.code {
				t.Fatalf("code %q (%+v), want %q", r.code(), r.err, tc.code)
			}
			if tm := tempFiles(t, dir); len(tm) != 0 {
				t.Fatalf("temporary files left: %v", tm)
			}
			if tc.content == "" && tc.code != "" {
				return
			}
			p := filepath.Join(dir, tc.req.Path)
			got, err := os.ReadFile(p)
			if err != nil || string(got) != tc.content {
				t.Fatalf("content %q %v", got, err)
			}
			st, _ := os.Stat(p)
			if st.Mode().Perm() != tc.mode {
				t.Fatalf("mode %v", st.Mode())
			}
			if tc.code == "" {
				types := r.types()
				if len(types) != 2 || types[0] != wire.TypeReady || types[1] != wire.TypeEntry {
					t.Fatalf("messages %v", types)
				}
				if r.entry.Size != int64(len(tc.content)) || r.entry.Path != p || r.entry.Mode != uint32(tc.mode) {
					t.Fatalf("entry %+v", r.entry)
				}
			}
		})
	}
	// Writing to a link replaces the link itself (the write never goes through a link).
	r := do(t, s, wire.FsWrite{Type: wire.TypeFsWrite, Path: "link"}, []byte("L"), nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if st, _ := os.Lstat(filepath.Join(dir, "link")); !st.Mode().IsRegular() {
		t.Fatalf("link not replaced: %v", st.Mode())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "old")); string(b) != "new" {
		t.Fatalf("written through the link: %q", b)
	}
	// A message in the middle of the upload is a protocol error; nothing is written.
	c := newFakeConn(t)
	defer c.Close()
	c.in <- wire.Frame{Kind: wire.KindIn, Payload: []byte("x")}
	c.in <- wire.Frame{Kind: wire.KindMsg, Type: wire.TypePing, Payload: []byte(`{"type":"ping"}`)}
	b, _ := wire.EncodeMessage(wire.FsWrite{Type: wire.TypeFsWrite, Path: "proto"})
	f, _, _ := wire.Parse(b)
	s.Serve(c, f)
	if res := summarize(t, c.frames()); res.code() != wire.CodeProtocol {
		t.Fatalf("message during write: %+v", res.err)
	}
	if _, err := os.Stat(filepath.Join(dir, "proto")); !os.IsNotExist(err) || len(tempFiles(t, dir)) != 0 {
		t.Fatal("protocol error left a file")
	}
}

// TestWriteConcurrentReader checks atomicity: a reader sees the old or the new file.
func TestWriteConcurrentReader(t *testing.T) {
	dir := t.TempDir()
	s := testService(t, dir)
	a := bytes.Repeat([]byte("a"), 300000)
	b := bytes.Repeat([]byte("b"), 300000)
	p := filepath.Join(dir, "f")
	os.WriteFile(p, a, 0o644)
	stop := make(chan struct{})
	bad := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(bad)
				return
			default:
			}
			got, _ := os.ReadFile(p)
			if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				bad <- string(got[:min(len(got), 20)])
				close(bad)
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		next := b
		if i%2 == 1 {
			next = a
		}
		if r := do(t, s, wire.FsWrite{Type: wire.TypeFsWrite, Path: "f"}, next[:100000], next[100000:], nil); r.err != nil {
			t.Fatal(r.err)
		}
	}
	close(stop)
	if v, ok := <-bad; ok {
		t.Fatalf("a reader saw a partial file: %q…", v)
	}
}

func TestListTruncated(t *testing.T) {
	defer func(n int) { maxListEntries = n }(maxListEntries)
	maxListEntries = 50
	dir := fastTempDir(t)
	for i := 0; i < 30; i++ {
		os.MkdirAll(filepath.Join(dir, itoa(i), "sub"), 0o755)
	}
	s := testService(t, dir)
	es, _, end, _ := listAll(t, s, wire.FsList{Path: dir, Depth: 2})
	if len(es) != 50 || !end.Truncated {
		t.Fatalf("%d entries, end %+v", len(es), end)
	}
	// Exactly the cap is not truncated.
	es, _, end, _ = listAll(t, s, wire.FsList{Path: dir, Depth: 1})
	if len(es) != 30 || end.Truncated {
		t.Fatalf("%d entries, end %+v", len(es), end)
	}
	maxListEntries = 30
	if es, _, end, _ = listAll(t, s, wire.FsList{Path: dir}); len(es) != 30 || end.Truncated {
		t.Fatalf("at the cap: %d entries, end %+v", len(es), end)
	}
}

// TestAsNobody checks that requests act with exactly the user's permissions.
func TestAsNobody(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	openDir(t, dir)
	s := testService(t, dir)
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("root only"), 0o600)
	os.WriteFile(filepath.Join(dir, "public"), []byte("public"), 0o644)
	shared := filepath.Join(dir, "shared")
	os.Mkdir(shared, 0o777)
	os.Chmod(shared, 0o1777)
	syscall.Chmod(shared, 0o1777)
	os.Symlink("/etc/shadow", filepath.Join(shared, "shadow"))
	os.Symlink(secret, filepath.Join(shared, "secret"))
	closed := filepath.Join(dir, "closed")
	os.MkdirAll(filepath.Join(closed, "inner"), 0o700)
	for _, tc := range []struct {
		name string
		req  any
		in   [][]byte
		code string
	}{
		{"read a 0600 root file", wire.FsRead{Type: wire.TypeFsRead, Path: secret, User: "nobody"}, nil, wire.CodePermission},
		{"read through a link to /etc/shadow", wire.FsRead{Type: wire.TypeFsRead, Path: "shared/shadow", User: "nobody"}, nil, wire.CodePermission},
		{"read through a link to a root file", wire.FsRead{Type: wire.TypeFsRead, Path: "shared/secret", User: "nobody"}, nil, wire.CodePermission},
		{"read a public file", wire.FsRead{Type: wire.TypeFsRead, Path: "public", User: "nobody"}, nil, ""},
		{"write into a root directory", wire.FsWrite{Type: wire.TypeFsWrite, Path: "new", User: "nobody"}, [][]byte{[]byte("x"), nil}, wire.CodePermission},
		{"replace a root file", wire.FsWrite{Type: wire.TypeFsWrite, Path: "public", User: "nobody"}, [][]byte{[]byte("x"), nil}, wire.CodePermission},
		{"write through a link", wire.FsWrite{Type: wire.TypeFsWrite, Path: "shared/secret/x", User: "nobody"}, [][]byte{[]byte("x"), nil}, wire.CodeNotDir},
		{"remove a root file", wire.FsRemove{Type: wire.TypeFsRemove, Path: "public", User: "nobody"}, nil, wire.CodePermission},
		{"remove root's link in a sticky dir", wire.FsRemove{Type: wire.TypeFsRemove, Path: "shared/shadow", User: "nobody"}, nil, wire.CodePermission},
		{"mkdir in a root directory", wire.FsMkdir{Type: wire.TypeFsMkdir, Path: "d", User: "nobody"}, nil, wire.CodePermission},
		{"list a closed directory", wire.FsList{Type: wire.TypeFsList, Path: closed, User: "nobody"}, nil, wire.CodePermission},
		{"stat inside a closed directory", wire.FsStat{Type: wire.TypeFsStat, Path: "closed/inner", User: "nobody"}, nil, wire.CodePermission},
		{"move a root file", wire.FsMove{Type: wire.TypeFsMove, From: "public", To: "shared/p", User: "nobody"}, nil, wire.CodePermission},
		{"write own file", wire.FsWrite{Type: wire.TypeFsWrite, Path: "shared/mine", User: "nobody"}, [][]byte{[]byte("mine"), nil}, ""},
		{"mkdir -p own dirs", wire.FsMkdir{Type: wire.TypeFsMkdir, Path: "shared/a/b", Parents: true, User: "nobody"}, nil, ""},
		{"write with parents", wire.FsWrite{Type: wire.TypeFsWrite, Path: "shared/c/d/f", Parents: true, User: "65534"}, [][]byte{[]byte("f"), nil}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, tc.req, tc.in...)
			if r.code() != tc.code {
				t.Fatalf("code %q (%+v), want %q", r.code(), r.err, tc.code)
			}
			if tc.code != "" {
				if len(r.data) != 0 || (len(r.types()) != 1) {
					t.Fatalf("said more than the error: %v", r.types())
				}
				return
			}
			if e := r.entry; e == nil || e.UID != 65534 && e.Path != filepath.Join(dir, "public") {
				t.Fatalf("entry %+v", r.entry)
			}
		})
	}
	for _, p := range []string{"shared/mine", "shared/a", "shared/a/b", "shared/c", "shared/c/d", "shared/c/d/f"} {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(dir, p), &st); err != nil || st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s: uid %d gid %d %v", p, st.Uid, st.Gid, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "public")); string(b) != "public" {
		t.Fatalf("public changed: %q", b)
	}
	if len(tempFiles(t, dir)) != 0 || len(tempFiles(t, shared)) != 0 {
		t.Fatal("temporary files left")
	}
	// A list as nobody lists a directory it cannot read without its contents.
	os.Mkdir(filepath.Join(shared, "private"), 0o700)
	os.WriteFile(filepath.Join(shared, "private/x"), nil, 0o644)
	es, _, _, err := listAll(t, s, wire.FsList{Path: shared, Depth: 3, User: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	got := paths(es, shared)
	if _, ok := got["private"]; !ok {
		t.Fatalf("private not listed: %v", got)
	}
	if _, ok := got["private/x"]; ok {
		t.Fatal("listed inside a directory nobody cannot read")
	}
	if e := es[0]; e.Owner == "" && e.UID == 65534 {
		t.Fatalf("owner name missing: %+v", e)
	}
}

// TestRemoveNeverFollowsSwappedDirectory swaps a directory for a link while a
// recursive remove runs; the link's target must keep its contents.
func TestRemoveNeverFollowsSwappedDirectory(t *testing.T) {
	dir := fastTempDir(t)
	target := t.TempDir()
	for i := 0; i < 20; i++ {
		os.WriteFile(filepath.Join(target, itoa(i)), nil, 0o644)
	}
	s := testService(t, dir)
	for round := 0; round < 30; round++ {
		tree := filepath.Join(dir, "tree")
		for i := 0; i < 30; i++ {
			os.MkdirAll(filepath.Join(tree, itoa(i), "x"), 0o755)
			os.WriteFile(filepath.Join(tree, itoa(i), "x", "f"), nil, 0o644)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 30; i++ {
				p := filepath.Join(tree, itoa(i), "x")
				tmp := p + ".tmp"
				os.Symlink(target, tmp)
				os.Rename(p, p+".old") // the directory goes away…
				os.Rename(tmp, p)      // …and a link takes its name
			}
		}()
		do(t, s, wire.FsRemove{Type: wire.TypeFsRemove, Path: tree, Recursive: true})
		<-done
		os.RemoveAll(tree)
		if n, _ := os.ReadDir(target); len(n) != 20 {
			t.Fatalf("round %d: the link's target lost files: %d left", round, len(n))
		}
	}
}

func TestIdentityWithoutRoot(t *testing.T) {
	dir := t.TempDir()
	s := New(Config{Workdir: dir, SetCreds: false})
	me := strconv.Itoa(os.Geteuid())
	other := "65534"
	if me == other {
		other = "0"
	}
	// An agent that is not root acts as itself only, without switching.
	id, err := s.identity("")
	if err != nil || id.switched || int(id.uid) != os.Geteuid() {
		t.Fatalf("default: %+v %v", id, err)
	}
	if _, err := s.identity(other); err == nil || err.(*Error).Code != wire.CodeInvalid {
		t.Fatalf("as %s: %v", other, err)
	}
	// A root agent switches for every user but root.
	s = New(Config{Workdir: dir, SetCreds: true, DefaultUser: "65534"})
	if id, err := s.identity(""); err != nil || !id.switched || id.uid != 65534 {
		t.Fatalf("default user: %+v %v", id, err)
	}
	if id, err := s.identity("0"); err != nil || id.switched {
		t.Fatalf("root: %+v %v", id, err)
	}
	if id, err := s.identity("4242:4243"); err != nil || !id.switched || id.uid != 4242 || id.gid != 4243 {
		t.Fatalf("numeric: %+v %v", id, err)
	}
}
