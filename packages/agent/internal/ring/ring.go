// Package ring holds one output stream of a process: a byte ring with absolute offsets.
//
// While a following reader is attached the ring applies backpressure: Write blocks rather
// than overwrite a byte some follower has not read, so a slow reader slows the writer
// (and through its pipe, the command). With no follower, Write never blocks: the oldest
// bytes are dropped and counted, and a reader that comes later learns which range it
// lost. Offsets count bytes from the start of the stream, so a reader that reattaches at
// the offset it stopped at gets every byte exactly once.
package ring

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Bounds of a ring's capacity.
const (
	MinCapacity     = 1 << 10
	MaxCapacity     = 64 << 20
	DefaultCapacity = 64 << 10
	initialAlloc    = 4 << 10
)

// ErrClosed is returned by Write after Abort.
var ErrClosed = errors.New("ring: closed")

// Range is a half-open byte range [From, To) of a stream.
type Range struct{ From, To int64 }

// Empty reports whether the range holds no bytes.
func (r Range) Empty() bool { return r.To <= r.From }

// Ring is one stream's buffer. The zero value is not usable; call New.
type Ring struct {
	mu       sync.Mutex
	capacity int
	buf      []byte // grows up to capacity; circular once full-size
	start    int64  // offset of the oldest byte held
	end      int64  // offset one past the newest byte (= total written)
	eof      bool   // the writer is done
	aborted  bool
	pins     map[*Cursor]struct{} // following cursors; Write never overtakes them
	changed  chan struct{}        // closed and replaced on every change
}

// New returns an empty ring holding at most capacity bytes (clamped to the bounds).
func New(capacity int) *Ring {
	capacity = max(MinCapacity, min(capacity, MaxCapacity))
	return &Ring{capacity: capacity, pins: map[*Cursor]struct{}{}, changed: make(chan struct{})}
}

// Allocated returns the bytes of memory the ring holds now (it grows as data arrives).
func (r *Ring) Allocated() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buf)
}

// notify wakes every waiter. Call with mu held.
func (r *Ring) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Stats returns the offset of the oldest byte held (= bytes dropped) and the total written.
func (r *Ring) Stats() (start, end int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.start, r.end
}

// minPin returns the smallest follower position, or -1 when nobody follows.
func (r *Ring) minPin() int64 {
	m := int64(-1)
	for c := range r.pins {
		if m < 0 || c.pos < m {
			m = c.pos
		}
	}
	return m
}

// Write appends p. While a follower is attached it blocks until the follower has read
// enough to make room (ctx cancels the wait); otherwise it drops the oldest bytes. It
// returns how much of p was stored.
func (r *Ring) Write(ctx context.Context, p []byte) (int, error) {
	written := 0
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(p) > 0 {
		if r.aborted {
			return written, ErrClosed
		}
		room := len(p)
		if pin := r.minPin(); pin >= 0 {
			room = r.capacity - int(r.end-pin)
			if room <= 0 {
				ch := r.changed
				r.mu.Unlock()
				select {
				case <-ch:
				case <-ctx.Done():
					r.mu.Lock()
					return written, ctx.Err()
				}
				r.mu.Lock()
				continue
			}
		}
		n := min(room, len(p))
		r.put(p[:n])
		p = p[n:]
		written += n
		r.notify()
	}
	return written, nil
}

// put stores p, dropping the oldest bytes as needed. While the buffer is smaller than
// the capacity it is linear (nothing was dropped yet, so start is 0 and offset o lives at
// index o); at full size it is circular (offset o lives at index o%capacity).
// Call with mu held.
func (r *Ring) put(p []byte) {
	if len(r.buf) < r.capacity {
		need := int(r.end) + len(p)
		if need <= len(r.buf) {
			copy(r.buf[r.end:], p)
			r.end += int64(len(p))
			return
		}
		size := max(initialAlloc, 2*len(r.buf))
		for size < need {
			size *= 2
		}
		if size < r.capacity {
			nb := make([]byte, size)
			copy(nb, r.buf[:r.end])
			copy(nb[r.end:], p)
			r.buf = nb
			r.end += int64(len(p))
			return
		}
		nb := make([]byte, r.capacity)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	if len(p) > r.capacity {
		r.end += int64(len(p) - r.capacity)
		p = p[len(p)-r.capacity:]
	}
	for len(p) > 0 {
		n := copy(r.buf[int(r.end%int64(r.capacity)):], p)
		p = p[n:]
		r.end += int64(n)
	}
	if r.end-r.start > int64(r.capacity) {
		r.start = r.end - int64(r.capacity)
	}
}

// copyOut copies held bytes from offset off into dst. Call with mu held;
// start ≤ off ≤ end.
func (r *Ring) copyOut(dst []byte, off int64) int {
	n := min(len(dst), int(r.end-off))
	if n <= 0 {
		return 0
	}
	if len(r.buf) < r.capacity {
		return copy(dst[:n], r.buf[off:])
	}
	done := 0
	for done < n {
		i := int((off + int64(done)) % int64(r.capacity))
		done += copy(dst[done:n], r.buf[i:])
	}
	return done
}

// byteAt returns the held byte at offset off. Call with mu held.
func (r *Ring) byteAt(off int64) byte {
	if len(r.buf) < r.capacity {
		return r.buf[off]
	}
	return r.buf[off%int64(r.capacity)]
}

// CloseWrite marks the end of the stream: followers get io.EOF once they have read all.
func (r *Ring) CloseWrite() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eof = true
	r.notify()
}

// Abort makes pending and future Writes fail and ends the stream (the process is gone).
func (r *Ring) Abort() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.aborted = true
	r.eof = true
	r.notify()
}

// skipContinuation moves a window start that landed inside a UTF-8 character to the next
// character: it skips at most three continuation bytes (10xxxxxx) held from off.
// Call with mu held.
func (r *Ring) skipContinuation(off int64) int64 {
	for i := 0; i < 3 && off < r.end && r.byteAt(off)&0xC0 == 0x80; i++ {
		off++
	}
	return off
}

// completeEnd returns end minus a trailing incomplete UTF-8 character (its lead byte and
// the continuation bytes after it), so text is not split. Call with mu held.
func (r *Ring) completeEnd() int64 {
	for back := int64(1); back <= 3 && r.end-back >= r.start; back++ {
		b := r.byteAt(r.end - back)
		if b&0xC0 == 0x80 {
			continue // continuation byte: look further back for the lead
		}
		need := int64(0)
		switch {
		case b&0xE0 == 0xC0:
			need = 2
		case b&0xF0 == 0xE0:
			need = 3
		case b&0xF8 == 0xF0:
			need = 4
		}
		if need > back {
			return r.end - back
		}
		return r.end
	}
	return r.end
}

// Cursor reads a ring from an offset. A following cursor pins the ring (backpressure)
// and waits for new bytes; a snapshot cursor reads what was held when it was made.
type Cursor struct {
	r      *Ring
	pos    int64
	limit  int64 // snapshot end; -1 when following
	follow bool
	closed bool
	// Lost is the range asked for that was no longer held when the cursor was made.
	Lost Range
	// Start is the offset the cursor's data starts at.
	Start int64
}

// clampStart applies the rules for where reading from off begins: before the window is
// lost (and a partial character at the window start skipped), after the end is the end.
// Call with mu held.
func (r *Ring) clampStart(off int64) (pos int64, lost Range) {
	if off < 0 {
		off = 0
	}
	if off > r.end {
		off = r.end
	}
	if off < r.start {
		pos = r.skipContinuation(r.start)
		return pos, Range{off, pos}
	}
	return off, Range{}
}

// Follow returns a following cursor from offset off. Until Close, Write never overwrites
// a byte it has not read.
func (r *Ring) Follow(off int64) *Cursor {
	r.mu.Lock()
	defer r.mu.Unlock()
	pos, lost := r.clampStart(off)
	c := &Cursor{r: r, pos: pos, limit: -1, follow: true, Lost: lost, Start: pos}
	r.pins[c] = struct{}{}
	return c
}

// Snapshot returns a cursor over the bytes held now from offset off. When holdIncomplete
// is set (the writer is still running), a trailing incomplete UTF-8 character is left
// for a later read.
func (r *Ring) Snapshot(off int64, holdIncomplete bool) *Cursor {
	r.mu.Lock()
	defer r.mu.Unlock()
	pos, lost := r.clampStart(off)
	limit := r.end
	if holdIncomplete && !r.eof {
		limit = r.completeEnd()
	}
	if limit < pos {
		limit = pos
	}
	return &Cursor{r: r, pos: pos, limit: limit, Lost: lost, Start: pos}
}

// Pos returns the offset of the next byte the cursor reads.
func (c *Cursor) Pos() int64 {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return c.pos
}

// Limit returns a snapshot cursor's end offset (where a later read continues).
func (c *Cursor) Limit() int64 { return c.limit }

// Next copies the next bytes into buf and advances. A following cursor waits for bytes
// (or ctx); it returns io.EOF once the writer is done and everything was read. A snapshot
// cursor returns io.EOF at its limit; when the writer overwrote bytes it had not read yet,
// it returns n == 0 and the lost range, and continues after it on the next call.
func (c *Cursor) Next(ctx context.Context, buf []byte) (n int, lost Range, err error) {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if c.closed {
			return 0, Range{}, io.EOF
		}
		if c.pos < r.start { // only a snapshot cursor can fall behind
			from := c.pos
			c.pos = r.skipContinuation(r.start)
			if c.limit >= 0 && c.limit < c.pos {
				c.limit = c.pos
			}
			return 0, Range{from, c.pos}, nil
		}
		end := r.end
		if !c.follow {
			end = c.limit
		}
		if c.pos < end {
			n = r.copyOut(buf[:min(len(buf), int(end-c.pos))], c.pos)
			c.pos += int64(n)
			if c.follow {
				r.notify() // the writer may have room now
			}
			return n, Range{}, nil
		}
		if !c.follow || r.eof {
			return 0, Range{}, io.EOF
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
			r.mu.Lock()
		case <-ctx.Done():
			r.mu.Lock()
			return 0, Range{}, ctx.Err()
		}
	}
}

// ClosePair closes a process's stdout and stderr cursors, either of which may be nil.
func ClosePair(cursors [2]*Cursor) {
	for _, c := range cursors {
		if c != nil {
			c.Close()
		}
	}
}

// Close releases the cursor: a following cursor stops pinning the ring.
func (c *Cursor) Close() {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.follow {
		delete(r.pins, c)
		r.notify()
	}
}
