package egress

import (
	"net/netip"
	"testing"
)

func mustPolicy(t *testing.T, entries ...string) *Policy {
	t.Helper()
	p, err := ParsePolicy(entries)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecideName(t *testing.T) {
	p := mustPolicy(t, "deb.debian.org", "*.example.com:443", "git.example.org:22")
	cases := []struct {
		name string
		port uint16
		rule string // "" = denied
	}{
		{"deb.debian.org", 80, "deb.debian.org"},
		{"deb.debian.org", 443, "deb.debian.org"},
		{"deb.debian.org", 22, ""},
		{"a.example.com", 443, "*.example.com:443"},
		{"a.example.com", 80, ""},
		{"example.com", 443, ""},
		{"evil-example.com", 443, ""},
		{"git.example.org", 22, "git.example.org:22"},
		{"git.example.org", 443, ""},
		{"registry.npmjs.org", 443, ""},
	}
	for _, c := range cases {
		d := p.DecideName(c.name, c.port)
		if d.Allowed != (c.rule != "") || (d.Allowed && d.Rule != c.rule) {
			t.Errorf("DecideName(%s, %d) = %+v, want rule %q", c.name, c.port, d, c.rule)
		}
		if !d.Allowed && (d.Rule != RuleDefaultDeny || d.Reason == "") {
			t.Errorf("DecideName(%s, %d): a denial names its rule and reason: %+v", c.name, c.port, d)
		}
	}
}

func TestProtectedAddresses(t *testing.T) {
	own := func(a netip.Addr) bool {
		return a == netip.MustParseAddr("192.0.2.2") || a == netip.MustParseAddr("fd00::2")
	}
	for addr, class := range map[string]string{
		"127.0.0.1": "loopback", "127.255.0.9": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback",
		"0.0.0.0": "unspecified", "0.1.2.3": "unspecified", "::": "unspecified",
		"169.254.169.254": "link-local", "fe80::1": "link-local",
		"224.0.0.1": "multicast", "ff02::1": "multicast", "255.255.255.255": "broadcast",
		"192.0.2.2": "host-address", "fd00::2": "host-address",
		"203.0.113.80": "", "10.0.0.1": "", "192.0.2.1": "", "2001:db8::1": "", "100.64.0.1": "",
		// Cloud metadata services outside link-local.
		"fd00:ec2::254": "metadata", "100.100.100.200": "metadata", "168.63.129.16": "metadata",
		// Protected IPv4 addresses in IPv6 clothing: NAT64 (both prefixes), 6to4, IPv4-compatible.
		"64:ff9b::a9fe:a9fe": "link-local", "64:ff9b::7f00:1": "loopback", "64:ff9b:1:a9fe:a9:fe00::": "link-local",
		"2002:a9fe:a9fe::": "link-local", "2002:c000:202::1": "host-address", "::a9fe:a9fe": "link-local",
		"::7f00:1": "loopback", "64:ff9b::cb00:7150": "", "2002:cb00:7150::1": "",
	} {
		c, ok := Protected(netip.MustParseAddr(addr), own)
		if ok != (class != "") || c.Name != class {
			t.Errorf("Protected(%s) = %q %v, want %q", addr, c.Name, ok, class)
		}
	}
}

func TestEmbeddedProtectedOpensOnlyByExactEntry(t *testing.T) {
	wide, _ := ParsePolicy([]string{"[::/0]:80", "0.0.0.0/0:80"})
	exact, _ := ParsePolicy([]string{"[64:ff9b::a9fe:a9fe]:80"})
	a := netip.MustParseAddr("64:ff9b::a9fe:a9fe")
	if d := wide.DecideAddr(a, 80, "", nil); d.Allowed || d.Rule != "link-local" {
		t.Fatalf("a wide entry opened NAT64 metadata: %+v", d)
	}
	if d := exact.DecideAddr(a, 80, "", nil); !d.Allowed {
		t.Fatalf("the exact entry did not open it: %+v", d)
	}
	if d := wide.DecideAddr(netip.MustParseAddr("100.100.100.200"), 80, "", nil); d.Allowed || d.Rule != "metadata" {
		t.Fatalf("a wide entry opened Alibaba metadata: %+v", d)
	}
}

func TestDecideAddr(t *testing.T) {
	own := func(a netip.Addr) bool { return a == netip.MustParseAddr("192.0.2.2") }
	p := mustPolicy(t, "deb.debian.org", "localhost:*", "127.0.0.1:8080", "0.0.0.0/0:5432", "10.0.0.0/8", "192.0.2.2:9000")
	cases := []struct {
		host string
		addr string
		port uint16
		rule string // "" = denied; otherwise the deciding rule
		deny string // the denial's rule
	}{
		// A name allowed by its entry reaches ordinary addresses, never protected ones.
		{"deb.debian.org", "203.0.113.80", 80, "deb.debian.org", ""},
		{"deb.debian.org", "127.0.0.1", 80, "", "loopback"},
		{"deb.debian.org", "::1", 80, "", "loopback"},
		{"deb.debian.org", "::ffff:127.0.0.1", 80, "", "loopback"},
		{"deb.debian.org", "169.254.169.254", 80, "", "link-local"},
		{"deb.debian.org", "0.0.0.0", 80, "", "unspecified"},
		{"deb.debian.org", "192.0.2.2", 80, "", "host-address"},
		{"localhost", "127.0.0.1", 80, "", "loopback"},
		// …unless an IP entry inside the class opens exactly that.
		{"localhost", "127.0.0.1", 8080, "127.0.0.1:8080", ""},
		// IP literals need an IP entry.
		{"127.0.0.1", "127.0.0.1", 8080, "127.0.0.1:8080", ""},
		{"127.0.0.1", "127.0.0.1", 8081, "", "loopback"},
		{"127.0.0.2", "127.0.0.2", 8080, "", "loopback"},
		{"10.1.2.3", "10.1.2.3", 443, "10.0.0.0/8", ""},
		{"10.1.2.3", "10.1.2.3", 22, "", "default-deny"},
		{"203.0.113.80", "203.0.113.80", 80, "", "default-deny"},
		// A wide entry never opens a protected address.
		{"1.2.3.4", "1.2.3.4", 5432, "0.0.0.0/0:5432", ""},
		{"127.0.0.1", "127.0.0.1", 5432, "", "loopback"},
		{"192.0.2.2", "192.0.2.2", 5432, "", "host-address"},
		{"192.0.2.2", "192.0.2.2", 9000, "192.0.2.2:9000", ""},
	}
	for _, c := range cases {
		h, err := ParseHost(c.host)
		if err != nil {
			t.Fatal(err)
		}
		d := p.Decide(h, c.port, netip.MustParseAddr(c.addr), own)
		if d.Allowed != (c.rule != "") || (d.Allowed && d.Rule != c.rule) || (!d.Allowed && d.Rule != c.deny) {
			t.Errorf("Decide(%s→%s:%d) = %+v, want allow %q / deny %q", c.host, c.addr, c.port, d, c.rule, c.deny)
		}
	}
}
