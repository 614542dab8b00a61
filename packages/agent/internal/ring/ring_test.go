package ring

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"testing"
	"time"
)

var bg = context.Background()

func write(t *testing.T, r *Ring, s string) {
	t.Helper()
	if n, err := r.Write(bg, []byte(s)); err != nil || n != len(s) {
		t.Fatalf("write: %d %v", n, err)
	}
}

// readAll drains a cursor, returning the bytes and every lost range.
func readAll(t *testing.T, c *Cursor) ([]byte, []Range) {
	t.Helper()
	var out []byte
	var lost []Range
	if !c.Lost.Empty() {
		lost = append(lost, c.Lost)
	}
	buf := make([]byte, 1000)
	for {
		ctx, cancel := context.WithTimeout(bg, 2*time.Second)
		n, l, err := c.Next(ctx, buf)
		cancel()
		if !l.Empty() {
			lost = append(lost, l)
		}
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, lost
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
	}
}

func TestDropOldestWithoutReader(t *testing.T) {
	r := New(MinCapacity)
	data := make([]byte, 10_000)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	for i := 0; i < len(data); i += 700 { // never blocks: nobody follows
		write(t, r, string(data[i:min(i+700, len(data))]))
	}
	start, end := r.Stats()
	if end != 10_000 || start != 10_000-MinCapacity {
		t.Fatalf("stats %d %d", start, end)
	}
	r.CloseWrite()
	got, lost := readAll(t, r.Snapshot(0, false))
	if !bytes.Equal(got, data[start:]) {
		t.Fatal("held bytes are not the newest")
	}
	if len(lost) != 1 || lost[0] != (Range{0, start}) {
		t.Fatalf("lost %v", lost)
	}
}

func TestHugeWriteKeepsNewest(t *testing.T) {
	r := New(MinCapacity)
	write(t, r, "xyz")
	big := bytes.Repeat([]byte("0123456789"), 1000)
	write(t, r, string(big))
	start, end := r.Stats()
	if end != int64(3+len(big)) || end-start != MinCapacity {
		t.Fatalf("stats %d %d", start, end)
	}
	r.CloseWrite()
	got, _ := readAll(t, r.Snapshot(start, false))
	if !bytes.Equal(got, big[len(big)-MinCapacity:]) {
		t.Fatal("wrong bytes after an oversized write")
	}
}

func TestBackpressure(t *testing.T) {
	r := New(MinCapacity)
	c := r.Follow(0)
	defer c.Close()
	chunk := bytes.Repeat([]byte{'x'}, MinCapacity)
	write(t, r, string(chunk)) // fills the ring exactly

	done := make(chan error, 1)
	go func() {
		_, err := r.Write(bg, []byte("more"))
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("write did not block while the follower is behind")
	case <-time.After(50 * time.Millisecond):
	}
	if start, _ := r.Stats(); start != 0 {
		t.Fatalf("dropped %d bytes under backpressure", start)
	}
	buf := make([]byte, 10)
	if n, _, err := c.Next(bg, buf); n != 10 || err != nil {
		t.Fatalf("next %d %v", n, err)
	}
	// Room for 10: "more" (4) fits now.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("write did not resume after the follower read")
	}
	r.CloseWrite()
	rest, lost := readAll(t, c)
	if len(lost) != 0 || len(rest) != MinCapacity-10+4 || string(rest[len(rest)-4:]) != "more" {
		t.Fatalf("rest %d bytes, lost %v", len(rest), lost)
	}
}

func TestBackpressureReleasedByClose(t *testing.T) {
	r := New(MinCapacity)
	c := r.Follow(0)
	write(t, r, string(make([]byte, MinCapacity)))
	done := make(chan error, 1)
	go func() { _, err := r.Write(bg, []byte("x")); done <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Close() // the reader went away: back to dropping
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("write still blocked after the follower closed")
	}
	if start, end := r.Stats(); start != 1 || end != MinCapacity+1 {
		t.Fatalf("stats %d %d", start, end)
	}
}

func TestWriteCancel(t *testing.T) {
	r := New(MinCapacity)
	c := r.Follow(0)
	defer c.Close()
	ctx, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	defer cancel()
	n, err := r.Write(ctx, make([]byte, MinCapacity+5))
	if n != MinCapacity || err != context.DeadlineExceeded {
		t.Fatalf("n=%d err=%v", n, err)
	}
	r.Abort()
	if _, err := r.Write(bg, []byte("x")); err != ErrClosed {
		t.Fatalf("after abort: %v", err)
	}
}

func TestLateAttachLost(t *testing.T) {
	r := New(MinCapacity)
	for i := 0; i < 3; i++ {
		write(t, r, string(bytes.Repeat([]byte{byte('a' + i)}, MinCapacity)))
	}
	c := r.Follow(0)
	if c.Lost != (Range{0, 2 * MinCapacity}) || c.Start != 2*MinCapacity {
		t.Fatalf("lost %v start %d", c.Lost, c.Start)
	}
	// From inside the held window: nothing lost.
	c2 := r.Follow(2*MinCapacity + 100)
	if !c2.Lost.Empty() || c2.Start != 2*MinCapacity+100 {
		t.Fatalf("lost %v start %d", c2.Lost, c2.Start)
	}
	// Past the end: starts at the end.
	c3 := r.Snapshot(1<<40, false)
	if c3.Start != 3*MinCapacity {
		t.Fatalf("start %d", c3.Start)
	}
	c.Close()
	c2.Close()
}

func TestExactlyOnceAcrossReattach(t *testing.T) {
	r := New(MinCapacity)
	var want []byte
	rng := rand.New(rand.NewSource(1))
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; i < 400; i++ {
			p := make([]byte, 1+rng.Intn(3000))
			for j := range p {
				p[j] = byte(rng.Intn(256))
			}
			want = append(want, p...)
			if _, err := r.Write(bg, p); err != nil {
				panic(err)
			}
		}
		r.CloseWrite()
	}()
	// Attach, read a little, detach, reattach at the offset reached: the follower pins
	// the ring only while attached, so the writer may drop while nobody follows — except
	// we reattach before the writer can pass us by holding a second pin during the gap.
	var got []byte
	var off int64
	buf := make([]byte, 777)
	for {
		bridge := r.Follow(off) // pins the offset while we "reconnect"
		c := r.Follow(off)
		bridge.Close()
		if !c.Lost.Empty() {
			t.Fatalf("lost %v", c.Lost)
		}
		eof := false
		for k := 0; k < 5; k++ {
			n, _, err := c.Next(bg, buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		off = c.Pos()
		c.Close()
		if eof {
			break
		}
	}
	<-writerDone
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d (or content differs)", len(got), len(want))
	}
}

func TestReattachAfterOverflowReportsLost(t *testing.T) {
	r := New(MinCapacity)
	write(t, r, "hello ")
	c := r.Follow(0)
	b := make([]byte, 100)
	n, _, _ := c.Next(bg, b)
	off := c.Pos()
	c.Close()
	if string(b[:n]) != "hello " || off != 6 {
		t.Fatalf("%q %d", b[:n], off)
	}
	write(t, r, string(bytes.Repeat([]byte("z"), 3*MinCapacity)))
	r.CloseWrite()
	c = r.Follow(off)
	got, lost := readAll(t, c)
	start, end := r.Stats()
	if len(lost) != 1 || lost[0] != (Range{6, start}) || int64(len(got)) != end-start {
		t.Fatalf("lost %v got %d (window %d..%d)", lost, len(got), start, end)
	}
}

func TestSnapshotOverwrittenWhileReading(t *testing.T) {
	r := New(MinCapacity)
	write(t, r, string(bytes.Repeat([]byte("a"), MinCapacity)))
	c := r.Snapshot(0, false)
	buf := make([]byte, 100)
	if n, _, _ := c.Next(bg, buf); n != 100 {
		t.Fatal(n)
	}
	write(t, r, string(bytes.Repeat([]byte("b"), 1000))) // drops 1000 oldest
	n, lost, err := c.Next(bg, buf)
	if n != 0 || lost != (Range{100, 1000}) || err != nil {
		t.Fatalf("n=%d lost=%v err=%v", n, lost, err)
	}
	got, _ := readAll(t, c)
	if len(got) != MinCapacity-1000 || c.Limit() != MinCapacity {
		t.Fatalf("got %d limit %d", len(got), c.Limit())
	}
}

func TestUTF8LeadSkip(t *testing.T) {
	r3 := New(MinCapacity)
	write(t, r3, "ab€"+string(bytes.Repeat([]byte("k"), MinCapacity-5))+"zzz") // drops 3: window starts at 82 ac
	s3, _ := r3.Stats()
	c := r3.Follow(0)
	defer c.Close()
	if s3 != 3 || c.Start != 5 || c.Lost != (Range{0, 5}) {
		t.Fatalf("start %d cursor %d lost %v", s3, c.Start, c.Lost)
	}
	b := make([]byte, 1)
	if n, _, _ := c.Next(bg, b); n != 1 || b[0] != 'k' {
		t.Fatalf("first byte %q", b[:n])
	}
	// Binary data that happens to be continuation bytes: at most three are skipped.
	r4 := New(MinCapacity)
	write(t, r4, string(bytes.Repeat([]byte{0x80}, 2*MinCapacity)))
	c4 := r4.Snapshot(0, false)
	if c4.Start != MinCapacity+3 {
		t.Fatalf("skipped to %d", c4.Start)
	}
}

func TestUTF8TailHoldBack(t *testing.T) {
	for _, tc := range []struct {
		data string
		hold int
	}{
		{"abc", 0},
		{"ab\xc3", 1},         // é missing its second byte
		{"ab\xc3\xa9", 0},     // complete
		{"ab\xe2\x82", 2},     // € missing one
		{"ab\xe2", 1},         // € missing two
		{"ab\xf0\x9f\x98", 3}, // 😀 missing one
		{"ab\xf0\x9f\x98\x80", 0},
		{"ab\xff", 0},         // invalid, not held
		{"ab\x80\x80\x80", 0}, // stray continuations, not held
		{"\xe2\x82", 2},
	} {
		r := New(MinCapacity)
		write(t, r, tc.data)
		c := r.Snapshot(0, true)
		got, _ := readAll(t, c)
		if len(got) != len(tc.data)-tc.hold || c.Limit() != int64(len(got)) {
			t.Errorf("%q: read %d, limit %d, want %d", tc.data, len(got), c.Limit(), len(tc.data)-tc.hold)
		}
		// Without hold-back (or once the stream ended) everything is read.
		r.CloseWrite()
		if got, _ := readAll(t, r.Snapshot(0, true)); len(got) != len(tc.data) {
			t.Errorf("%q after EOF: %d", tc.data, len(got))
		}
	}
}

func TestFollowWaitsAndEnds(t *testing.T) {
	r := New(MinCapacity)
	c := r.Follow(0)
	defer c.Close()
	got := make(chan []byte, 1)
	go func() {
		b, _ := readAll(t, c)
		got <- b
	}()
	time.Sleep(10 * time.Millisecond)
	write(t, r, "abc")
	write(t, r, "def")
	r.CloseWrite()
	select {
	case b := <-got:
		if string(b) != "abcdef" {
			t.Fatalf("%q", b)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("follower did not end")
	}
	// ctx cancels a wait.
	r2 := New(MinCapacity)
	c2 := r2.Follow(0)
	ctx, cancel := context.WithTimeout(bg, 10*time.Millisecond)
	defer cancel()
	if _, _, err := c2.Next(ctx, make([]byte, 10)); err != context.DeadlineExceeded {
		t.Fatal(err)
	}
}

// TestModel compares random operations against a trivial model of the stream.
func TestModel(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for round := 0; round < 50; round++ {
		capacity := MinCapacity + rng.Intn(3*MinCapacity)
		r := New(capacity)
		var all []byte
		for op := 0; op < 200; op++ {
			p := make([]byte, rng.Intn(capacity/2+capacity*(op%7/6)))
			rng.Read(p)
			write(t, r, string(p))
			all = append(all, p...)
			start, end := r.Stats()
			if end != int64(len(all)) || end-start > int64(capacity) || (end > int64(capacity) && end-start != int64(capacity)) {
				t.Fatalf("stats %d %d (len %d cap %d)", start, end, len(all), capacity)
			}
			off := rng.Int63n(end + 1)
			c := r.Snapshot(off, false)
			got, lost := readAll(t, c)
			if c.Start < start || !bytes.Equal(got, all[c.Start:]) {
				t.Fatalf("snapshot from %d: start %d, %d bytes", off, c.Start, len(got))
			}
			if off < start && (len(lost) != 1 || lost[0].From != off || lost[0].To != c.Start) {
				t.Fatalf("lost %v", lost)
			}
		}
	}
}
