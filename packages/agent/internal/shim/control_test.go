package shim

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func u32(v uint32) *uint32 { return &v }

func TestControlMessagesRoundTrip(t *testing.T) {
	msgs := []*Msg{
		{Op: OpStart, Path: "/bin/sh", Argv: []string{"sh", "-c", "echo é\x00?"}, Env: []string{"A=1", "B="},
			Dir: "/work", Creds: &Creds{UID: 1000, GID: 100, Groups: []uint32{100, 27}}, PTY: true},
		{Op: OpStart, Path: "/bin/true", Argv: []string{"true"}, Creds: &Creds{UID: 0, GID: 0, Groups: []uint32{}}},
		{Op: OpStarted, PID: 4242},
		{Op: OpFailed, Errno: int(syscall.ENOENT), Error: "no such file"},
		{Op: OpExit, Status: u32(0), Reuse: true},
		{Op: OpExit, Status: u32(0x8b00)},
		{Op: OpSignal, Signal: int(syscall.SIGINT)},
		{Op: OpKill}, {Op: OpRelease}, {Op: OpReleased, Reuse: true}, {Op: OpQuit},
	}
	for _, m := range msgs {
		b, err := encode(m)
		if err != nil {
			t.Fatalf("%s: %v", m.Op, err)
		}
		if int(binary.BigEndian.Uint32(b)) != len(b)-4 {
			t.Fatalf("%s: length prefix %d for a %d-byte body", m.Op, binary.BigEndian.Uint32(b), len(b)-4)
		}
		got, err := decode(b[4:])
		if err != nil {
			t.Fatalf("%s: %v", m.Op, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, m)
		}
	}
	if _, err := encode(&Msg{Op: "launch"}); err == nil {
		t.Fatal("an unknown operation was encoded")
	}
}

func TestControlRefusesMalformedBodies(t *testing.T) {
	good, _ := encode(&Msg{Op: OpStart, Path: "/bin/sh", Argv: []string{"sh"}, Creds: &Creds{Groups: []uint32{1}}})
	body := good[4:]
	cases := map[string][]byte{
		"empty":           {},
		"op 0":            append([]byte{0}, body[1:]...),
		"op past the end": append([]byte{byte(len(ops))}, body[1:]...),
		"trailing byte":   append(append([]byte{}, body...), 0),
	}
	for cut := 1; cut < len(body); cut += 3 {
		cases[fmt.Sprint("cut at ", cut)] = body[:cut]
	}
	// A string or list count far beyond what is there.
	huge := append([]byte{}, body...)
	binary.BigEndian.PutUint32(huge[2+6*4:], 1<<30) // the groups count
	cases["groups count"] = huge
	for name, b := range cases {
		if m, err := decode(b); err == nil {
			t.Errorf("%s: decoded %+v", name, m)
		}
	}
}

func TestControlSpecLongerThanAPacketCrossesWithItsDescriptors(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) unixConn {
		f := os.NewFile(uintptr(fd), "ctl")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return unixConn{c.(*net.UnixConn)}
	}
	a, b := conn(fds[0]), conn(fds[1])
	long := &Msg{Op: OpStart, Path: "/bin/sh", Argv: []string{"sh", "-c", strings.Repeat("x", 3*packetSize)}, Env: []string{"K=v"}}
	devnull, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(devnull)
	if err := send(a, long, []int{devnull, devnull, devnull}); err != nil {
		t.Fatal(err)
	}
	got, err := newReceiver(b).recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.fds) != 3 {
		t.Fatalf("%d descriptors arrived", len(got.fds))
	}
	closeFDs(got.fds)
	got.fds = nil
	if !reflect.DeepEqual(got, long) {
		t.Fatal("the long spec changed on the way")
	}
}

func FuzzControlDecode(f *testing.F) {
	for _, m := range []*Msg{{Op: OpStart, Path: "/p", Argv: []string{"a"}, Env: []string{"E=1"}, Creds: &Creds{Groups: []uint32{1, 2}}},
		{Op: OpExit, Status: u32(9)}} {
		b, _ := encode(m)
		f.Add(b[4:])
	}
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decode(body)
		if err != nil {
			return
		}
		// What decodes encodes, and decodes again to the same message.
		b, err := encode(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		again, err := decode(b[4:])
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("%+v became %+v (%v)", m, again, err)
		}
	})
}
