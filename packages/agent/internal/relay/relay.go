// Package relay moves bytes between two stream connections in both directions, the way
// every proxy hop of the egress path does: io.Copy on the raw connections (so Linux
// splices TCP and unix sockets without copying through user space), a half-close passed
// on when one side is done sending, and both closed once both directions ended.
package relay

import (
	"io"
	"net"
	"sync"
)

type closeWriter interface{ CloseWrite() error }

// Both copies a→b and b→a until both directions end, then closes both. It returns the
// bytes moved each way. An error on either side (a reset, a close from elsewhere) ends
// both directions.
func Both(a, b net.Conn) (aToB, bToA int64) {
	var wg sync.WaitGroup
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			a.Close()
			b.Close()
		})
	}
	one := func(dst, src net.Conn, n *int64) {
		defer wg.Done()
		var err error
		*n, err = io.Copy(dst, src)
		if err != nil {
			closeBoth()
			return
		}
		// src said it is done sending: tell dst, keep reading the other way.
		if cw, ok := dst.(closeWriter); ok {
			if cw.CloseWrite() == nil {
				return
			}
		}
		closeBoth()
	}
	wg.Add(2)
	go one(b, a, &aToB)
	go one(a, b, &bToA)
	wg.Wait()
	closeBoth()
	return aToB, bToA
}

// Streams copies between a connection and a reader/writer pair (stdin/stdout of the
// connect helper): r→c, and c→w until c ends. It returns when c has nothing more to send.
func Streams(c net.Conn, r io.Reader, w io.Writer) error {
	go func() {
		io.Copy(c, r)
		if cw, ok := c.(closeWriter); ok {
			cw.CloseWrite()
		}
	}()
	_, err := io.Copy(w, c)
	return err
}
