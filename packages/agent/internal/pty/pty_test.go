package pty

import (
	"io"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestOpenResizeEOF(t *testing.T) {
	p, err := Open(100, 30, -1)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer p.Master.Close()
	size := func() (int, int) {
		var ws winsize
		if err := ioctl(uintptr(p.Slave), syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws))); err != nil {
			t.Fatal(err)
		}
		return int(ws.cols), int(ws.rows)
	}
	if c, r := size(); c != 100 || r != 30 {
		t.Fatalf("size %dx%d", c, r)
	}
	if err := Resize(p.Master, 120, 40); err != nil {
		t.Fatal(err)
	}
	if c, r := size(); c != 120 || r != 40 {
		t.Fatalf("after resize %dx%d", c, r)
	}
	// Output written on the slave reaches the master; once every slave descriptor is
	// closed the master reads EOF (not EIO), after the buffered bytes.
	slave := os.NewFile(uintptr(p.Slave), p.Name)
	slave.Write([]byte("hi\n"))
	slave.Close()
	p.Master.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(Reader{p.Master})
	if err != nil || string(got) != "hi\r\n" {
		t.Fatalf("read %q, %v", got, err)
	}
}
