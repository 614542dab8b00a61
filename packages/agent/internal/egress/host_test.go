package egress

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseHostSpellings(t *testing.T) {
	loop := "127.0.0.1"
	cases := []struct {
		in   string
		addr string // "" for a name
		name string
	}{
		// Every spelling of the loopback address a resolver or URL parser accepts.
		{"127.0.0.1", loop, ""},
		{"127.0.0.1.", loop, ""},
		{"2130706433", loop, ""},
		{"0x7f000001", loop, ""},
		{"0X7F000001", loop, ""},
		{"0x7F.1", loop, ""},
		{"127.1", loop, ""},
		{"127.0.1", loop, ""},
		{"0177.0.0.1", loop, ""},
		{"0177.1", loop, ""},
		{"017700000001", loop, ""},
		{"0x7f.0.0.0x1", loop, ""},
		{"0x0000000000000000000000007f000001", loop, ""},
		{"127.0x0.00.1", loop, ""},
		{"000127.0.0.1", "87.0.0.1", ""}, // 0127 octal = 87: what inet_aton makes of it
		{"0000000000000000000127.1", "87.0.0.1", ""},
		{"[::ffff:127.0.0.1]", loop, ""},
		{"::ffff:127.0.0.1", loop, ""},
		{"[::ffff:7f00:1]", loop, ""},
		{"[0:0:0:0:0:ffff:7f00:0001]", loop, ""},
		{"[::1]", "::1", ""},
		{"::1", "::1", ""},
		{"[0:0:0:0:0:0:0:1]", "::1", ""},
		{"0.0.0.0", "0.0.0.0", ""},
		{"0", "0.0.0.0", ""},
		{"0x", "0.0.0.0", ""},
		{"[::]", "::", ""},
		{"255.255.255.255", "255.255.255.255", ""},
		{"4294967295", "255.255.255.255", ""},
		{"0xffffffff", "255.255.255.255", ""},
		{"10.1", "10.0.0.1", ""},
		{"169.254.169.254", "169.254.169.254", ""},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254", ""},
		{"2852039166", "169.254.169.254", ""},
		{"[fe80::1]", "fe80::1", ""},
		// Names.
		{"deb.debian.org", "", "deb.debian.org"},
		{"Deb.Debian.ORG.", "", "deb.debian.org"},
		{"localhost", "", "localhost"},
		{"evil-example.com", "", "evil-example.com"},
		{"x_y.example.com", "", "x_y.example.com"},
		{"1e100.net", "", "1e100.net"},
		{"0x7f000001.example.com", "", "0x7f000001.example.com"},
	}
	for _, c := range cases {
		h, err := ParseHost(c.in)
		if err != nil {
			t.Errorf("ParseHost(%q): %v", c.in, err)
			continue
		}
		if c.addr != "" {
			if !h.IsIP() || h.Addr != netip.MustParseAddr(c.addr) {
				t.Errorf("ParseHost(%q) = %+v, want address %s", c.in, h, c.addr)
			}
		} else if h.IsIP() || h.Name != c.name {
			t.Errorf("ParseHost(%q) = %+v, want name %s", c.in, h, c.name)
		}
	}
}

func TestParseHostRefuses(t *testing.T) {
	for _, in := range []string{
		"", ".", "..", "a..b", "256.0.0.1", "127.0.0.256", "4294967296", "0x100000000", "1.2.3.4.5",
		"127.0.0.1..", "08.0.0.1", "0x7g.0.0.1", "1.2.3.-4", "+1.2.3.4", " 127.0.0.1", "127.0.0.1 ",
		"example.123", "example.0x1f", "foo.1", "[127.0.0.1]", "[::1", "fe80::1%eth0", "[fe80::1%25eth0]",
		"exa mple.com", "ex%61mple.com", "exam/ple.com", "exam\\ple.com", "user@host", "-example.com",
		"example-.com", "éxample.com", "a\x00b", "99999999999999999999999",
	} {
		if h, err := ParseHost(in); err == nil {
			t.Errorf("ParseHost(%q) = %+v, want an error", in, h)
		} else if !errors.Is(err, ErrInvalidHost) {
			t.Errorf("ParseHost(%q): error %v does not wrap ErrInvalidHost", in, err)
		}
	}
}

func TestParseAuthority(t *testing.T) {
	cases := []struct {
		in   string
		def  uint16
		host string
		port uint16
		ok   bool
	}{
		{"deb.debian.org:443", 0, "deb.debian.org", 443, true},
		{"deb.debian.org", 80, "deb.debian.org", 80, true},
		{"deb.debian.org:", 80, "deb.debian.org", 80, true},
		{"deb.debian.org", 0, "", 0, false},
		{"[::1]:8080", 0, "[::1]", 8080, true},
		{"[::ffff:127.0.0.1]:80", 0, "127.0.0.1", 80, true},
		{"2130706433:80", 0, "127.0.0.1", 80, true},
		{"0x7f000001:80", 0, "127.0.0.1", 80, true},
		{"127.1:80", 0, "127.0.0.1", 80, true},
		{"::1:80", 0, "", 0, false},
		{"[::1]80", 0, "", 0, false},
		{"host:0", 0, "", 0, false},
		{"host:65536", 0, "", 0, false},
		{"host:08080", 0, "host", 8080, true},
		{"host:-1", 0, "", 0, false},
		{"user@host:80", 0, "", 0, false},
		{"user:pass@host:80", 0, "", 0, false},
		{"host:80:80", 0, "", 0, false},
	}
	for _, c := range cases {
		h, port, err := ParseAuthority(c.in, c.def)
		if (err == nil) != c.ok {
			t.Errorf("ParseAuthority(%q): err %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if c.ok && (h.String() != c.host || port != c.port) {
			t.Errorf("ParseAuthority(%q) = %s %d, want %s %d", c.in, h, port, c.host, c.port)
		}
	}
}

// FuzzParseAuthority: hostile targets never panic, and whatever parses is stable: the
// host's own spelling parses back to the same host.
func FuzzParseAuthority(f *testing.F) {
	for _, s := range []string{"deb.debian.org:443", "[::1]:80", "2130706433:80", "0x7f.1:8080", "[::ffff:127.0.0.1]:1",
		"a..b:1", "[", "]:", "0x:0x", "%00:1", "é:1", "::::", "1.2.3.4.5:6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, port, err := ParseAuthority(s, 0)
		if err != nil {
			return
		}
		if port == 0 {
			t.Fatalf("%q: port 0 accepted", s)
		}
		again, err := ParseHost(h.String())
		if err != nil || again != h {
			t.Fatalf("%q: host %s does not parse back to itself (%v, %+v)", s, h, err, again)
		}
		if h.IsIP() && h.Addr.Is4In6() {
			t.Fatalf("%q: mapped address %s not unmapped", s, h.Addr)
		}
	})
}

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{"deb.debian.org", "*.example.com:443", "10.0.0.0/8:5432", "[2001:db8::1]:5432",
		"2001:db8::/32", "[::ffff:1.2.3.4]:1", "*.:*", "a:1-2", "[", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEntry(s)
		if err != nil {
			return
		}
		again, err := ParseEntry(e.String())
		if err != nil || again.String() != e.String() {
			t.Fatalf("%q: canonical %q does not parse back to itself (%v, %q)", s, e.String(), err, again.String())
		}
	})
}
