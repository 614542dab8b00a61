// Package bufpool lends the 32 KiB buffers that output pumps copy through. Each command
// needs four (a pump per stream into its ring, and one per stream out to the host), and
// allocating them fresh was most of the agent's garbage, and so most of its GC work,
// when many short commands run at once.
package bufpool

import "sync"

// Size is the length of every buffer.
const Size = 32 << 10

var pool = sync.Pool{New: func() any { return new([Size]byte) }}

// Get lends a buffer; give it back with Put once nothing refers to it.
func Get() *[Size]byte { return pool.Get().(*[Size]byte) }

// Put takes a buffer back.
func Put(b *[Size]byte) { pool.Put(b) }
