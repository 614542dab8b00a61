package files

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"axo.dev/agent/internal/wire"
)

type watchSession struct {
	t    *testing.T
	c    *fakeConn
	done chan struct{}
	seen int
}

func startWatch(t *testing.T, s *Service, req wire.FsWatch) (*watchSession, *wire.Error) {
	t.Helper()
	req.Type = wire.TypeFsWatch
	c := newFakeConn(t)
	b, _ := wire.EncodeMessage(req)
	f, _, _ := wire.Parse(b)
	w := &watchSession{t: t, c: c, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		s.Serve(c, f)
	}()
	first, ok := c.waitFor(5*time.Second, func(wire.Frame) bool { return true })
	if !ok {
		t.Fatal("no answer to watch")
	}
	w.seen = 1
	if first.Type == wire.TypeError {
		var e wire.Error
		first.Decode(&e)
		c.Close()
		<-w.done
		return nil, &e
	}
	if first.Type != wire.TypeWatching {
		t.Fatalf("first answer %s", first.Payload)
	}
	t.Cleanup(w.close)
	return w, nil
}

func (w *watchSession) close() {
	w.c.Close()
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		w.t.Fatal("watch did not stop when the host went away")
	}
}

// expect waits for the events in want ("op path dir?"), in order, skipping others.
func (w *watchSession) expect(want ...string) {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var got []string
	for len(want) > 0 {
		frames := w.c.frames()
		for ; w.seen < len(frames) && len(want) > 0; w.seen++ {
			var ev wire.Event
			if frames[w.seen].Type != wire.TypeEvent || frames[w.seen].Decode(&ev) != nil {
				w.t.Fatalf("not an event: %s", frames[w.seen].Payload)
			}
			s := ev.Op + " " + ev.Path
			if ev.Dir {
				s += "/"
			}
			got = append(got, s)
			if s == want[0] {
				want = want[1:]
			}
		}
		if len(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("still waiting for %v; got %v", want, got)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// events returns every event seen so far as "op path[/]".
func (w *watchSession) events() []string {
	var out []string
	for _, f := range w.c.frames()[1:] {
		var ev wire.Event
		f.Decode(&ev)
		s := ev.Op + " " + ev.Path
		if ev.Dir {
			s += "/"
		}
		out = append(out, s)
	}
	return out
}

func TestWatchDirectory(t *testing.T) {
	dir := t.TempDir()
	s := testService(t, dir)
	w, e := startWatch(t, s, wire.FsWatch{Path: dir})
	if e != nil {
		t.Fatal(e)
	}
	f := filepath.Join(dir, "f")
	os.WriteFile(f, []byte("1"), 0o644)
	w.expect("create "+f, "write "+f)
	os.WriteFile(f, []byte("22"), 0o644)
	w.expect("write " + f)
	os.Chmod(f, 0o600)
	w.expect("chmod " + f)
	os.Rename(f, f+"2")
	w.expect("rename "+f, "create "+f+"2")
	os.Remove(f + "2")
	w.expect("remove " + f + "2")
	os.MkdirAll(filepath.Join(dir, "sub/deeper"), 0o755)
	w.expect("create " + dir + "/sub/")
	os.WriteFile(filepath.Join(dir, "sub/x"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "marker"), nil, 0o644)
	w.expect("create " + dir + "/marker")
	for _, ev := range w.events() {
		if strings.Contains(ev, "sub/") && ev != "create "+dir+"/sub/" {
			t.Fatalf("non-recursive watch saw %q", ev)
		}
	}
	// An atomic write through the agent is a rename onto the name.
	do(t, s, wire.FsWrite{Type: wire.TypeFsWrite, Path: "marker"}, []byte("m"), nil)
	w.expect("create " + dir + "/marker")
	if n, d := s.WatchCounts(); n != 1 || d != 1 {
		t.Fatalf("counts %d %d", n, d)
	}
	w.close()
	if n, d := s.WatchCounts(); n != 0 || d != 0 {
		t.Fatalf("counts after close %d %d", n, d)
	}
}

func TestWatchRecursive(t *testing.T) {
	dir := fastTempDir(t)
	os.MkdirAll(filepath.Join(dir, "old/a"), 0o755)
	os.Symlink("/", filepath.Join(dir, "old/rootlink"))
	s := testService(t, dir)
	w, e := startWatch(t, s, wire.FsWatch{Path: dir, Recursive: true})
	if e != nil {
		t.Fatal(e)
	}
	if _, d := s.WatchCounts(); d != 3 {
		t.Fatalf("watched dirs %d, want 3 (links not followed)", d)
	}
	os.WriteFile(filepath.Join(dir, "old/a/f"), nil, 0o644)
	w.expect("create " + dir + "/old/a/f")
	// A tree created at once: every entry is reported, even those made before the
	// watch on their directory was in place.
	os.MkdirAll(filepath.Join(dir, "new/b/c"), 0o755)
	os.WriteFile(filepath.Join(dir, "new/b/c/f"), []byte("x"), 0o644)
	w.expect("create "+dir+"/new/", "create "+dir+"/new/b/c/f")
	os.WriteFile(filepath.Join(dir, "new/b/c/g"), nil, 0o644)
	w.expect("create " + dir + "/new/b/c/g")
	// A directory moved within the tree keeps reporting under its new name.
	os.Rename(filepath.Join(dir, "new"), filepath.Join(dir, "moved"))
	w.expect("rename "+dir+"/new/", "create "+dir+"/moved/")
	os.WriteFile(filepath.Join(dir, "moved/b/h"), nil, 0o644)
	w.expect("create " + dir + "/moved/b/h")
	// Moved out of the tree: no longer watched.
	out := fastTempDir(t)
	os.Rename(filepath.Join(dir, "moved"), filepath.Join(out, "gone"))
	w.expect("rename " + dir + "/moved/")
	os.RemoveAll(filepath.Join(dir, "old"))
	w.expect("remove " + dir + "/old/")
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, d := s.WatchCounts(); d == 1 {
			break
		}
		if time.Now().After(deadline) {
			_, d := s.WatchCounts()
			t.Fatalf("watched dirs %d after removals, want 1", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, nil, 0o644)
	s := testService(t, dir)
	w, e := startWatch(t, s, wire.FsWatch{Path: "f"})
	if e != nil {
		t.Fatal(e)
	}
	os.WriteFile(filepath.Join(dir, "other"), nil, 0o644)
	os.WriteFile(f, []byte("x"), 0o644)
	w.expect("write " + f)
	do(t, s, wire.FsWrite{Type: wire.TypeFsWrite, Path: "f"}, []byte("y"), nil)
	w.expect("create " + f)
	os.WriteFile(f, []byte("z"), 0o644) // still seen after the replacement
	w.expect("write " + f)
	os.Remove(f)
	w.expect("remove " + f)
	for _, ev := range w.events() {
		if strings.Contains(ev, "other") || strings.Contains(ev, tempPrefix) {
			t.Fatalf("file watch saw %q", ev)
		}
	}
}

func TestWatchLimits(t *testing.T) {
	dir := fastTempDir(t)
	for i := 0; i < 10; i++ {
		os.MkdirAll(filepath.Join(dir, "big", fmt.Sprint(i)), 0o755)
	}
	s := testService(t, dir)
	s.cfg.MaxWatches, s.cfg.MaxWatchedDirs = 2, 6
	if _, e := startWatch(t, s, wire.FsWatch{Path: "big", Recursive: true}); e == nil || e.Code != wire.CodeLimit {
		t.Fatalf("11 dirs with a cap of 6: %+v", e)
	}
	if n, d := s.WatchCounts(); n != 0 || d != 0 {
		t.Fatalf("counts after LIMIT %d %d", n, d)
	}
	w1, e := startWatch(t, s, wire.FsWatch{Path: dir})
	if e != nil {
		t.Fatal(e)
	}
	w2, e := startWatch(t, s, wire.FsWatch{Path: "big/1"})
	if e != nil {
		t.Fatal(e)
	}
	if _, e := startWatch(t, s, wire.FsWatch{Path: "big/2"}); e == nil || e.Code != wire.CodeLimit {
		t.Fatalf("third watch: %+v", e)
	}
	w2.close()
	// A new directory past the cap is reported as an overflow of that directory.
	w3, e := startWatch(t, s, wire.FsWatch{Path: "big/3", Recursive: true})
	if e != nil {
		t.Fatal(e)
	}
	for i := 0; i < 5; i++ {
		os.Mkdir(filepath.Join(dir, "big/3", fmt.Sprint(i)), 0o755)
	}
	w3.expect("overflow " + dir + "/big/3/4/")
	w1.close()
	w3.close()
	if n, d := s.WatchCounts(); n != 0 || d != 0 {
		t.Fatalf("counts after close %d %d", n, d)
	}
	if _, e := startWatch(t, s, wire.FsWatch{Path: "nope"}); e == nil || e.Code != wire.CodeNotFound {
		t.Fatalf("missing: %+v", e)
	}
}

func TestWatchOverflow(t *testing.T) {
	data, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	var max int
	if err != nil || func() error { _, err := fmt.Sscan(string(data), &max); return err }() != nil || max > 100000 {
		t.Skip("cannot read a small max_queued_events")
	}
	dir := fastTempDir(t)
	s := testService(t, dir)
	w, e := startWatch(t, s, wire.FsWatch{Path: dir})
	if e != nil {
		t.Fatal(e)
	}
	// The host stops reading: events pile up in the kernel until its queue overflows.
	w.c.gate = make(chan struct{})
	f := filepath.Join(dir, "f")
	os.WriteFile(f, nil, 0o644)
	time.Sleep(20 * time.Millisecond) // the watcher is now blocked sending this event
	g := filepath.Join(dir, "g")
	os.WriteFile(g, nil, 0o644)
	for i := 0; i < max+100; i++ { // alternating, so the kernel cannot merge them
		os.Chmod(f, 0o600)
		os.Chmod(g, 0o600)
	}
	close(w.c.gate)
	w.expect("overflow " + dir + "/")
	os.WriteFile(filepath.Join(dir, "after"), nil, 0o644)
	w.expect("create " + dir + "/after")
}

func TestWatchAsNobody(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	openDir(t, dir)
	os.Mkdir(filepath.Join(dir, "closed"), 0o700)
	os.Mkdir(filepath.Join(dir, "open"), 0o755)
	os.Mkdir(filepath.Join(dir, "open/closed"), 0o700)
	s := testService(t, dir)
	if _, e := startWatch(t, s, wire.FsWatch{Path: "closed", User: "nobody"}); e == nil || e.Code != wire.CodePermission {
		t.Fatalf("closed dir: %+v", e)
	}
	// Recursive: a subdirectory nobody cannot read is not watched.
	if _, e := startWatch(t, s, wire.FsWatch{Path: "open", Recursive: true, User: "nobody"}); e != nil {
		t.Fatal(e)
	}
	if _, d := s.WatchCounts(); d != 1 {
		t.Fatalf("watched %d dirs", d)
	}
}
