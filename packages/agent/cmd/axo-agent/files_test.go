package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

// fileResult is everything a file request answered.
type fileResult struct {
	msgs    []wire.Frame
	data    []byte
	entry   *wire.Entry
	entries []wire.Entry
	batches []int
	listEnd *wire.ListEnd
	readEnd *wire.ReadEnd
	err     *wire.Error
}

func (r *fileResult) code() string {
	if r.err == nil {
		return ""
	}
	return r.err.Code
}

// collectFile reads a file request's answer until its last message (entry, ok, end or
// error). For a read it hashes the bytes instead of keeping them when h is set.
func (cl *client) collectFile(h io.Writer) *fileResult {
	cl.t.Helper()
	r := &fileResult{}
	for {
		f, err := cl.fr.Next()
		if err != nil {
			cl.t.Fatalf("read: %v (so far %d messages)", err, len(r.msgs))
		}
		if f.Kind == wire.KindOut {
			if h != nil {
				h.Write(f.Payload)
			} else {
				r.data = append(r.data, f.Payload...)
			}
			continue
		}
		if f.Kind != wire.KindMsg {
			cl.t.Fatalf("frame kind %d", f.Kind)
		}
		r.msgs = append(r.msgs, f)
		switch f.Type {
		case wire.TypeError:
			r.err = &wire.Error{}
			f.Decode(r.err)
			return r
		case wire.TypeOK:
			return r
		case wire.TypeEntry:
			var m wire.EntryMsg
			f.Decode(&m)
			r.entry = &m.Entry
		case wire.TypeEntries:
			var m wire.Entries
			if err := f.Decode(&m); err != nil {
				cl.t.Fatal(err)
			}
			r.entries = append(r.entries, m.Entries...)
			r.batches = append(r.batches, len(m.Entries))
		case wire.TypeEnd:
			if bytes.Contains(f.Payload, []byte(`"truncated"`)) {
				r.listEnd = &wire.ListEnd{}
				f.Decode(r.listEnd)
			} else {
				r.readEnd = &wire.ReadEnd{}
				f.Decode(r.readEnd)
			}
			return r
		}
		if f.Type == wire.TypeEntry && r.entry != nil && len(r.msgs) == 1 && !cl.reading {
			return r
		}
	}
}

// fileReq sends a request that is not a read or a write and returns its answer.
func (a *agent) fileReq(t testing.TB, req any) *fileResult {
	t.Helper()
	cl := a.dial(t, req)
	defer cl.close()
	return cl.collectFile(nil)
}

// readFile reads path through the agent (hashing into h when set).
func (a *agent) readFile(t testing.TB, req wire.FsRead, h io.Writer) *fileResult {
	t.Helper()
	req.Type = wire.TypeFsRead
	cl := a.dial(t, req)
	defer cl.close()
	cl.reading = true
	return cl.collectFile(h)
}

// writeFile uploads data (in frames of at most chunk bytes) through the agent.
func (a *agent) writeFile(t testing.TB, req wire.FsWrite, data io.Reader, chunk int) *fileResult {
	t.Helper()
	req.Type = wire.TypeFsWrite
	cl := a.dial(t, req)
	defer cl.close()
	f := cl.next()
	if f.Type == wire.TypeError {
		var e wire.Error
		f.Decode(&e)
		return &fileResult{err: &e, msgs: []wire.Frame{f}}
	}
	if f.Type != wire.TypeReady {
		t.Fatalf("got %s, want ready", f.Payload)
	}
	buf := make([]byte, chunk)
	var hdr []byte
	for {
		n, err := io.ReadFull(data, buf)
		if n > 0 {
			hdr = wire.AppendHeader(hdr[:0], wire.KindIn, n)
			bufs := net.Buffers{hdr, buf[:n]} // one writev, no copy
			if _, werr := bufs.WriteTo(cl.c); werr != nil {
				break // the agent refused: its answer says why
			}
		}
		if err != nil {
			break
		}
	}
	cl.c.Write(wire.AppendFrame(nil, wire.KindIn, nil))
	return cl.collectFile(nil)
}

func tempFilesIn(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, ".axo-write-*"))
	return m
}

// waitNoTemp waits until the agent removed its temporary files from dir.
func waitNoTemp(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for len(tempFilesIn(dir)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("temporary files left: %v", tempFilesIn(dir))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// worldDir is a temporary directory everyone can traverse (t.TempDir's parent is 0700).
func worldDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, st.Mode().Perm()|0o011)
	}
	return dir
}

// shmDir is a temporary directory on a tmpfs when there is one (many files are made
// fast there); fast reports whether it is.
func shmDir(t *testing.T) (dir string, fast bool) {
	t.Helper()
	if d, err := os.MkdirTemp("/dev/shm", "axo-agent-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(d) })
		return d, true
	}
	return t.TempDir(), false
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: acting as another user, root-owned files, mounts")
	}
}

func TestFilesFeatures(t *testing.T) {
	a := shared(t)
	cl := dialRaw(t, a.sock)
	defer cl.close()
	has := strings.Join(cl.hello.Features, ",")
	if !strings.Contains(has, "files") || !strings.Contains(has, "watch") {
		t.Fatalf("features %v", cl.hello.Features)
	}
}

func TestFileWriteReadLarge(t *testing.T) {
	a := shared(t)
	dir := t.TempDir()
	const size = 50 << 20
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i*7 + i>>13)
	}
	want := sha256.Sum256(src)
	t0 := time.Now()
	r := a.writeFile(t, wire.FsWrite{Path: filepath.Join(dir, "big")}, bytes.NewReader(src), 1<<20)
	tw := time.Since(t0)
	if r.err != nil || r.entry == nil || r.entry.Size != size || r.entry.Type != "file" || r.entry.Mode != 0o644 {
		t.Fatalf("write: %+v %+v", r.err, r.entry)
	}
	h := sha256.New()
	t0 = time.Now()
	r = a.readFile(t, wire.FsRead{Path: filepath.Join(dir, "big")}, h)
	tr := time.Since(t0)
	if r.err != nil || r.readEnd == nil || r.readEnd.Bytes != size || r.entry == nil || r.entry.Size != size {
		t.Fatalf("read: %+v %+v %+v", r.err, r.readEnd, r.entry)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
		t.Fatalf("sha256 %x, want %x", got, want)
	}
	t.Logf("50 MB: write %v (%.0f MB/s), read %v (%.0f MB/s)", tw, size/tw.Seconds()/1e6, tr, size/tr.Seconds()/1e6)
	// A range.
	r = a.readFile(t, wire.FsRead{Path: filepath.Join(dir, "big"), Offset: 1000, Length: ptr[int64](5)}, nil)
	if !bytes.Equal(r.data, src[1000:1005]) || r.readEnd.Bytes != 5 {
		t.Fatalf("range %x", r.data)
	}
}

func ptr[T any](v T) *T { return &v }

func TestFileReadFIFOAtOnce(t *testing.T) {
	a := shared(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero", "/dev/null"} {
		t0 := time.Now()
		r := a.readFile(t, wire.FsRead{Path: p}, nil)
		if d := time.Since(t0); r.code() != wire.CodeNotRegular || d > 100*time.Millisecond {
			t.Fatalf("%s: %+v after %v", p, r.err, d)
		}
	}
	// Swapped in after the first look: the open must still not block (O_NONBLOCK).
	r := a.readFile(t, wire.FsRead{Path: dir}, nil)
	if r.code() != wire.CodeIsDir {
		t.Fatalf("dir: %+v", r.err)
	}
}

func TestFileWriteInterrupted(t *testing.T) {
	a := shared(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("the old content"), 0o644)
	for _, halfClose := range []bool{false, true} {
		cl := a.dial(t, wire.FsWrite{Type: wire.TypeFsWrite, Path: p})
		cl.expect(wire.TypeReady, nil)
		cl.sendIn(strings.Repeat("new", 100000))
		time.Sleep(20 * time.Millisecond)
		if halfClose {
			cl.c.CloseWrite() // the input ends without its final frame
			var e wire.Error
			cl.expect(wire.TypeError, &e)
		}
		cl.close()
		waitNoTemp(t, dir)
		if b, _ := os.ReadFile(p); string(b) != "the old content" {
			t.Fatalf("target changed: %q", b[:min(len(b), 20)])
		}
	}
	// A message in the middle of an upload is a protocol error; nothing changes.
	cl := a.dial(t, wire.FsWrite{Type: wire.TypeFsWrite, Path: p})
	cl.expect(wire.TypeReady, nil)
	cl.sendIn("x")
	cl.send(wire.Simple{Type: wire.TypePing})
	var e wire.Error
	cl.expect(wire.TypeError, &e)
	cl.close()
	if e.Code != wire.CodeProtocol {
		t.Fatalf("%+v", e)
	}
	waitNoTemp(t, dir)
}

func TestFileReadAsNobody(t *testing.T) {
	needRoot(t)
	a := shared(t)
	dir := worldDir(t)
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("root only"), 0o600)
	os.Symlink(secret, filepath.Join(dir, "link"))
	os.Symlink("/etc/shadow", filepath.Join(dir, "shadow"))
	paths := []string{secret, filepath.Join(dir, "link")}
	if st, err := os.Stat("/etc/shadow"); err == nil && st.Mode().Perm()&0o004 == 0 {
		paths = append(paths, filepath.Join(dir, "shadow"))
	}
	if r := a.readFile(t, wire.FsRead{Path: filepath.Join(dir, "link"), User: "nobody", Length: ptr[int64](0)}, nil); r.code() != wire.CodePermission {
		t.Fatalf("empty read through a link: %+v", r.err)
	}
	for _, p := range paths {
		r := a.readFile(t, wire.FsRead{Path: p, User: "nobody"}, nil)
		if r.code() != wire.CodePermission || len(r.data) != 0 || !strings.Contains(r.err.Message, p) {
			t.Fatalf("%s as nobody: %+v", p, r.err)
		}
	}
	if r := a.readFile(t, wire.FsRead{Path: secret}, nil); string(r.data) != "root only" {
		t.Fatalf("as root: %+v %q", r.err, r.data)
	}
	// The agent's --user is the default for file requests, as for commands.
	b := newAgentWith(t, "--user", "nobody")
	if r := b.readFile(t, wire.FsRead{Path: secret}, nil); r.code() != wire.CodePermission {
		t.Fatalf("default user nobody: %+v", r.err)
	}
	r := b.writeFile(t, wire.FsWrite{Path: filepath.Join(dir, "x")}, strings.NewReader("x"), 10)
	if r.code() != wire.CodePermission {
		t.Fatalf("default user nobody writes into a root dir: %+v", r.err)
	}
	if r := b.readFile(t, wire.FsRead{Path: secret, User: "root"}, nil); string(r.data) != "root only" {
		t.Fatalf("as root explicitly: %+v", r.err)
	}
}

// TestFileWriteSwapRace: a user who swaps the target directory for a link to a root-only
// directory while writing never gets a file in there.
func TestFileWriteSwapRace(t *testing.T) {
	needRoot(t)
	a := shared(t)
	base := worldDir(t)
	rootOnly := filepath.Join(base, "root-only")
	os.Mkdir(rootOnly, 0o700)
	user := filepath.Join(base, "user")
	os.Mkdir(user, 0o755)
	os.Chown(user, 65534, 65534)
	d := filepath.Join(user, "d")
	os.Mkdir(d, 0o755)
	os.Chown(d, 65534, 65534)
	stop := make(chan struct{})
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		link, real := filepath.Join(user, "link"), filepath.Join(user, "real")
		os.Symlink(rootOnly, link)
		for {
			select {
			case <-stop:
				return
			default:
			}
			os.Rename(d, real) // d is now missing…
			os.Rename(link, d) // …then a link to the root-only directory…
			os.Rename(d, link)
			os.Rename(real, d) // …then the directory again
			swaps.Add(1)
		}
	}()
	var ok, failed int
	for i := 0; i < 300; i++ {
		r := a.writeFile(t, wire.FsWrite{Path: filepath.Join(d, fmt.Sprintf("f%d", i)), User: "nobody"}, strings.NewReader("data"), 64)
		if r.err == nil {
			ok++
		} else {
			failed++
		}
	}
	close(stop)
	wg.Wait()
	if entries, _ := os.ReadDir(rootOnly); len(entries) != 0 {
		t.Fatalf("files landed in the root-only directory: %v", entries)
	}
	t.Logf("%d writes landed, %d refused, %d swaps", ok, failed, swaps.Load())
	if swaps.Load() == 0 {
		t.Fatal("no swaps happened")
	}
	// Root writes through the link do land there: the difference is the user's identity.
	r := a.writeFile(t, wire.FsWrite{Path: filepath.Join(user, "link/x")}, strings.NewReader("x"), 64)
	if r.err != nil {
		t.Fatalf("as root: %+v", r.err)
	}
}

func TestFileRemoveTreeWithOutsideLink(t *testing.T) {
	a := shared(t)
	dir := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "precious"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(outside, "sub/deeper"), 0o755)
	os.MkdirAll(filepath.Join(dir, "tree/a/b"), 0o755)
	os.WriteFile(filepath.Join(dir, "tree/a/b/f"), nil, 0o644)
	os.Symlink(outside, filepath.Join(dir, "tree/a/out"))
	os.Symlink(outside+"/sub", filepath.Join(dir, "tree/sublink"))
	if r := a.fileReq(t, wire.FsRemove{Type: wire.TypeFsRemove, Path: filepath.Join(dir, "tree")}); r.code() != wire.CodeNotEmpty {
		t.Fatalf("without recursive: %+v", r.err)
	}
	if r := a.fileReq(t, wire.FsRemove{Type: wire.TypeFsRemove, Path: filepath.Join(dir, "tree"), Recursive: true}); r.err != nil || len(r.msgs) != 1 || r.msgs[0].Type != wire.TypeOK {
		t.Fatalf("recursive: %+v", r.err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "tree")); !os.IsNotExist(err) {
		t.Fatal("tree still there")
	}
	for _, p := range []string{"precious", "sub/deeper"} {
		if _, err := os.Stat(filepath.Join(outside, p)); err != nil {
			t.Fatalf("the link's target lost %s: %v", p, err)
		}
	}
}

// watchConn is an open fs.watch connection.
type watchConn struct {
	cl     *client
	events chan wire.Event
	got    []string
}

func (a *agent) watch(t *testing.T, req wire.FsWatch) (*watchConn, *wire.Error) {
	t.Helper()
	req.Type = wire.TypeFsWatch
	cl := a.dial(t, req)
	f := cl.next()
	if f.Type == wire.TypeError {
		var e wire.Error
		f.Decode(&e)
		cl.close()
		return nil, &e
	}
	if f.Type != wire.TypeWatching {
		t.Fatalf("got %s", f.Payload)
	}
	w := &watchConn{cl: cl, events: make(chan wire.Event, 1024)}
	go func() {
		defer close(w.events)
		for {
			f, err := cl.fr.Next()
			if err != nil {
				return
			}
			var ev wire.Event
			if f.Type == wire.TypeEvent && f.Decode(&ev) == nil {
				w.events <- ev
			}
		}
	}()
	t.Cleanup(cl.close)
	return w, nil
}

// expect waits for "op path[/]" events in order (others are skipped).
func (w *watchConn) expect(t *testing.T, want ...string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case ev, ok := <-w.events:
			if !ok {
				t.Fatalf("watch ended; waiting for %v, got %v", want, w.got)
			}
			s := ev.Op + " " + ev.Path
			if ev.Dir {
				s += "/"
			}
			w.got = append(w.got, s)
			if s == want[0] {
				want = want[1:]
			}
		case <-timeout:
			t.Fatalf("waiting for %v, got %v", want, w.got)
		}
	}
}

func TestFileWatch(t *testing.T) {
	a := shared(t)
	dir := t.TempDir()
	w, e := a.watch(t, wire.FsWatch{Path: dir})
	if e != nil {
		t.Fatal(e)
	}
	f := filepath.Join(dir, "f")
	os.WriteFile(f, []byte("1"), 0o644)
	w.expect(t, "create "+f, "write "+f)
	os.Remove(f)
	w.expect(t, "remove "+f)
	// Recursive: a file created in a directory that is itself new.
	rw, e := a.watch(t, wire.FsWatch{Path: dir, Recursive: true})
	if e != nil {
		t.Fatal(e)
	}
	os.MkdirAll(filepath.Join(dir, "new/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "new/sub/file"), []byte("x"), 0o644)
	rw.expect(t, "create "+dir+"/new/", "create "+dir+"/new/sub/file")
	os.WriteFile(filepath.Join(dir, "new/sub/file"), []byte("y"), 0o644)
	rw.expect(t, "write "+dir+"/new/sub/file")
	os.RemoveAll(filepath.Join(dir, "new"))
	rw.expect(t, "remove "+dir+"/new/sub/file", "remove "+dir+"/new/")
	w.cl.close()
	rw.cl.close()
}

func TestFileWatchLimits(t *testing.T) {
	a := newAgent(t)
	base, _ := shmDir(t)
	var open []*watchConn
	for i := 0; i < 16; i++ {
		w, e := a.watch(t, wire.FsWatch{Path: base})
		if e != nil {
			t.Fatalf("watch %d: %+v", i, e)
		}
		open = append(open, w)
	}
	if _, e := a.watch(t, wire.FsWatch{Path: base}); e == nil || e.Code != wire.CodeLimit {
		t.Fatalf("17th watch: %+v", e)
	}
	open[0].cl.close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		w, e := a.watch(t, wire.FsWatch{Path: base})
		if e == nil {
			open[0] = w
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed: %+v", e)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, w := range open {
		w.cl.close()
	}
	// 8192 directories in all: a tree of 8200 is refused, one of 8000 is fine.
	tree := filepath.Join(base, "tree")
	for i := 0; i < 82; i++ {
		for j := 0; j < 99; j++ {
			os.MkdirAll(filepath.Join(tree, fmt.Sprint(i), fmt.Sprint(j)), 0o755)
		}
	}
	deadline = time.Now().Add(3 * time.Second)
	for {
		_, e := a.watch(t, wire.FsWatch{Path: tree, Recursive: true})
		if e != nil && e.Code == wire.CodeLimit && strings.Contains(e.Message, "8192") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("8201 directories: %+v", e)
		}
		time.Sleep(10 * time.Millisecond) // the closed watches may still hold theirs
	}
	os.RemoveAll(filepath.Join(tree, "81"))
	os.RemoveAll(filepath.Join(tree, "80"))
	w, e := a.watch(t, wire.FsWatch{Path: tree, Recursive: true})
	if e != nil {
		t.Fatalf("8003 directories: %+v", e)
	}
	os.WriteFile(filepath.Join(tree, "79/98/f"), nil, 0o644)
	w.expect(t, "create "+tree+"/79/98/f")
}

func TestFileListDepthAndTruncation(t *testing.T) {
	a := shared(t)
	dir, fast := shmDir(t)
	os.MkdirAll(filepath.Join(dir, "a/b/c/d"), 0o755)
	os.Symlink("/", filepath.Join(dir, "a/root"))
	for depth, want := range map[int]int{1: 1, 2: 3, 3: 4, 4: 5, 32: 5} {
		r := a.fileReq(t, wire.FsList{Type: wire.TypeFsList, Path: dir, Depth: depth})
		if r.err != nil || len(r.entries) != want || r.listEnd == nil || r.listEnd.Truncated {
			t.Fatalf("depth %d: %d entries (want %d) %+v", depth, len(r.entries), want, r.err)
		}
	}
	if !fast {
		t.Skip("no tmpfs at /dev/shm: making 100 001 files would take too long")
	}
	big := filepath.Join(dir, "big")
	os.Mkdir(big, 0o755)
	for i := 0; i <= 100_000; i++ {
		fd, err := syscall.Open(filepath.Join(big, fmt.Sprint(i)), syscall.O_CREAT|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Close(fd)
	}
	t0 := time.Now()
	r := a.fileReq(t, wire.FsList{Type: wire.TypeFsList, Path: big})
	if r.err != nil || len(r.entries) != 100_000 || !r.listEnd.Truncated {
		t.Fatalf("%d entries, end %+v, %+v", len(r.entries), r.listEnd, r.err)
	}
	for _, n := range r.batches {
		if n > 1000 {
			t.Fatalf("batch of %d", n)
		}
	}
	t.Logf("listed 100000 entries in %d batches in %v", len(r.batches), time.Since(t0))
}

func TestFileNoSpace(t *testing.T) {
	needRoot(t)
	a := shared(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	p := filepath.Join(dir, "earlier")
	if r := a.writeFile(t, wire.FsWrite{Path: p}, strings.NewReader("earlier content"), 1024); r.err != nil {
		t.Fatal(r.err)
	}
	r := a.writeFile(t, wire.FsWrite{Path: filepath.Join(dir, "big")}, bytes.NewReader(make([]byte, 1<<20)), 64<<10)
	if r.code() != wire.CodeNoSpace {
		t.Fatalf("1 MiB into 64 KiB: %+v", r.err)
	}
	r = a.writeFile(t, wire.FsWrite{Path: p}, bytes.NewReader(make([]byte, 1<<20)), 64<<10)
	if r.code() != wire.CodeNoSpace {
		t.Fatalf("replacing with 1 MiB: %+v", r.err)
	}
	waitNoTemp(t, dir)
	if b, _ := os.ReadFile(p); string(b) != "earlier content" {
		t.Fatalf("earlier file: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "big")); !os.IsNotExist(err) {
		t.Fatal("big exists")
	}
}

func TestFileRequestsMisc(t *testing.T) {
	a := shared(t)
	dir := t.TempDir()
	// Relative paths are relative to --workdir (the agent's temp dir here).
	name := fmt.Sprintf("rel-%d", time.Now().UnixNano())
	r := a.fileReq(t, wire.FsMkdir{Type: wire.TypeFsMkdir, Path: name})
	if r.err != nil || r.entry.Path != filepath.Join(a.dir, name) || r.entry.Mode != 0o755 {
		t.Fatalf("mkdir: %+v %+v", r.err, r.entry)
	}
	for _, tc := range []struct {
		req  any
		code string
	}{
		{wire.FsMkdir{Type: wire.TypeFsMkdir, Path: name}, wire.CodeExists},
		{wire.FsStat{Type: wire.TypeFsStat, Path: "nope-" + name}, wire.CodeNotFound},
		{wire.FsStat{Type: wire.TypeFsStat, Path: name, User: "axo-no-such-user"}, wire.CodeInvalid},
		{wire.FsList{Type: wire.TypeFsList, Path: name, Depth: 40}, wire.CodeInvalid},
		{wire.FsSymlink{Type: wire.TypeFsSymlink, Path: name, Target: "x"}, wire.CodeExists},
	} {
		if r := a.fileReq(t, tc.req); r.code() != tc.code {
			t.Errorf("%+v: %+v, want %s", tc.req, r.err, tc.code)
		}
	}
	var st1, st2 syscall.Stat_t
	if syscall.Stat("/dev/shm", &st1) == nil && syscall.Stat(a.dir, &st2) == nil && st1.Dev != st2.Dev {
		r := a.fileReq(t, wire.FsMove{Type: wire.TypeFsMove, From: name, To: "/dev/shm/" + name})
		if r.code() != wire.CodeCrossDevice {
			t.Errorf("move across file systems: %+v", r.err)
		}
	}
	r = a.fileReq(t, wire.FsSymlink{Type: wire.TypeFsSymlink, Path: filepath.Join(dir, "l"), Target: "../t"})
	if r.err != nil || r.entry.SymlinkTarget == nil || *r.entry.SymlinkTarget != "../t" {
		t.Fatalf("symlink %+v", r.entry)
	}
	r = a.fileReq(t, wire.FsMove{Type: wire.TypeFsMove, From: filepath.Join(dir, "l"), To: filepath.Join(dir, "m")})
	if r.err != nil || r.entry.Name != "m" || r.entry.Type != "symlink" {
		t.Fatalf("move %+v %+v", r.err, r.entry)
	}
	r = a.fileReq(t, wire.FsStat{Type: wire.TypeFsStat, Path: "/", Follow: true})
	if r.err != nil || r.entry.Type != "dir" || r.entry.Name != "/" {
		t.Fatalf("stat / %+v %+v", r.err, r.entry)
	}
	// The agent keeps serving after all of the above.
	if _, r := a.exec(t, wire.Start{Argv: argv("true")}); code(r.exit) != "0" {
		t.Fatal(code(r.exit))
	}
}

// TestFileWriteRefusedMidUpload: a host still uploading when the agent refuses the write
// (TOO_LARGE) can go on writing until it reads the error: the agent drains, never resets.
func TestFileWriteRefusedMidUpload(t *testing.T) {
	a := shared(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o644)
	cl := a.dial(t, wire.FsWrite{Type: wire.TypeFsWrite, Path: p, MaxBytes: ptr[int64](1000)})
	defer cl.close()
	cl.expect(wire.TypeReady, nil)
	chunk := wire.AppendFrame(nil, wire.KindIn, make([]byte, 256<<10))
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < 20; i++ { // 5 MiB past the limit, written regardless
			if _, err := cl.c.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		_, err := cl.c.Write(wire.AppendFrame(nil, wire.KindIn, nil))
		errc <- err
	}()
	var e wire.Error
	cl.expect(wire.TypeError, &e)
	if e.Code != wire.CodeTooLarge {
		t.Fatalf("%+v", e)
	}
	if err := <-errc; err != nil {
		t.Fatalf("the host's upload failed after the refusal: %v", err)
	}
	if _, err := cl.fr.Next(); err != io.EOF {
		t.Fatalf("after the error: %v, want a clean end", err)
	}
	waitNoTemp(t, dir)
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("target changed: %q", b)
	}
}

// childrenOf lists the pids whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var p int
		if _, err := fmt.Sscan(e.Name(), &p); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok && strings.TrimSpace(v) == fmt.Sprint(pid) {
				out = append(out, p)
			}
		}
	}
	return out
}

// TestFileProcFdAsNobody (F4): while a root write holds a descriptor on a directory below
// one nobody may not search, a request acting as nobody gets nothing through the agent's
// /proc/self/fd, /proc/<agent pid>/fd or its shims' /proc entries: no listing of the
// descriptors, no read of the data, no file planted. The root write completes.
func TestFileProcFdAsNobody(t *testing.T) {
	needRoot(t)
	a := newAgent(t)
	dir := worldDir(t)
	private := filepath.Join(dir, "private")
	os.Mkdir(private, 0o700)
	pub := filepath.Join(private, "pub")
	os.Mkdir(pub, 0o777)
	os.Chmod(pub, 0o777)
	os.WriteFile(filepath.Join(pub, "data"), []byte("secret data"), 0o644)
	if r := a.readFile(t, wire.FsRead{Path: filepath.Join(pub, "data"), User: "nobody"}, nil); r.code() != wire.CodePermission {
		t.Fatalf("direct read as nobody: %+v", r.err)
	}
	// A root write in progress: the agent holds a descriptor on pub until it ends.
	w := a.dial(t, wire.FsWrite{Type: wire.TypeFsWrite, Path: filepath.Join(pub, "big")})
	defer w.close()
	w.expect(wire.TypeReady, nil)
	w.sendIn("x")
	pid := a.cmd.Process.Pid
	n := ""
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range fds {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); target == pub {
			n = e.Name()
		}
	}
	if n == "" {
		t.Fatalf("the agent holds no descriptor on %s", pub)
	}
	refused := func(what string, r *fileResult) {
		t.Helper()
		if c := r.code(); c != wire.CodePermission && c != wire.CodeInvalid {
			t.Fatalf("%s: %+v (%d bytes, %d entries)", what, r.err, len(r.data), len(r.entries))
		}
		if len(r.data) != 0 || len(r.entries) != 0 || r.entry != nil || strings.Contains(r.err.Message, "secret") {
			t.Fatalf("%s: said too much: %+v %q", what, r.err, r.data)
		}
	}
	for _, via := range []string{"/proc/self/fd/" + n, fmt.Sprintf("/proc/%d/fd/%s", pid, n), "/proc/thread-self/fd/" + n} {
		refused("read "+via, a.readFile(t, wire.FsRead{Path: via + "/data", User: "nobody"}, nil))
		refused("stat "+via, a.fileReq(t, wire.FsStat{Type: wire.TypeFsStat, Path: via + "/data", User: "nobody"}))
		refused("list "+via, a.fileReq(t, wire.FsList{Type: wire.TypeFsList, Path: via, User: "nobody"}))
		refused("write "+via, a.writeFile(t, wire.FsWrite{Path: via + "/planted", User: "nobody"}, strings.NewReader("planted"), 64))
		refused("mkdir "+via, a.fileReq(t, wire.FsMkdir{Type: wire.TypeFsMkdir, Path: via + "/d", User: "nobody"}))
		refused("remove "+via, a.fileReq(t, wire.FsRemove{Type: wire.TypeFsRemove, Path: via + "/data", User: "nobody"}))
		// Root gains nothing from a magic link, but follows none either.
		refused("read as root "+via, a.readFile(t, wire.FsRead{Path: via + "/data"}, nil))
	}
	for _, p := range []string{"/proc/self/fd", fmt.Sprintf("/proc/%d/fd", pid), "/proc/thread-self/fd"} {
		refused("list "+p, a.fileReq(t, wire.FsList{Type: wire.TypeFsList, Path: p, User: "nobody"}))
	}
	refused("stat the link", a.fileReq(t, wire.FsStat{Type: wire.TypeFsStat, Path: "/proc/self/fd/" + n, User: "nobody"}))
	// The shims run as root too: their /proc entries are closed to nobody as well.
	// The pool keeps at least one idle shim; give a refill a moment, but test one for sure.
	shims := childrenOf(pid)
	for end := time.Now().Add(3 * time.Second); len(shims) == 0 && time.Now().Before(end); shims = childrenOf(pid) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(shims) == 0 {
		t.Fatal("no shim running to test")
	}
	for _, s := range shims {
		refused("list shim fds", a.fileReq(t, wire.FsList{Type: wire.TypeFsList, Path: fmt.Sprintf("/proc/%d/fd", s), User: "nobody"}))
		refused("read through a shim's root", a.readFile(t, wire.FsRead{Path: fmt.Sprintf("/proc/%d/root%s/data", s, pub), User: "nobody"}, nil))
		refused("list a shim's cwd", a.fileReq(t, wire.FsList{Type: wire.TypeFsList, Path: fmt.Sprintf("/proc/%d/cwd", s), User: "nobody"}))
	}
	if entries, _ := os.ReadDir(pub); len(entries) != 2 { // data and the write's temporary file
		t.Fatalf("pub: %v", entries)
	}
	// The root write goes on and lands.
	w.sendIn("y")
	w.c.Write(wire.AppendFrame(nil, wire.KindIn, nil))
	if r := w.collectFile(nil); r.err != nil || r.entry == nil || r.entry.Size != 2 {
		t.Fatalf("root write: %+v %+v", r.err, r.entry)
	}
	if b, _ := os.ReadFile(filepath.Join(pub, "big")); string(b) != "xy" {
		t.Fatalf("big: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(pub, "planted")); err == nil {
		t.Fatal("nobody planted a file")
	}
}
