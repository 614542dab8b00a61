package egress

import (
	"fmt"
	"net/netip"
)

// Policy is a session's allowlist: deny by default.
type Policy struct {
	Entries []Entry
}

// ParsePolicy parses entries (each with ParseEntry).
func ParsePolicy(entries []string) (*Policy, error) {
	p := &Policy{Entries: make([]Entry, 0, len(entries))}
	for _, s := range entries {
		e, err := ParseEntry(s)
		if err != nil {
			return nil, err
		}
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}

// Decision is the verdict on one destination. Rule names the entry that allowed it, or
// for a denial the reason's short name (default-deny, loopback, link-local, …).
type Decision struct {
	Allowed bool
	Rule    string
	Reason  string
}

func deny(rule, reason string) Decision { return Decision{Rule: rule, Reason: reason} }

// Rules of a denial.
const (
	RuleDefaultDeny = "default-deny"
	RuleInvalid     = "invalid-request"
)

// Class is an address range no name and no wide entry may reach: only an IP entry that
// lies inside it opens it.
type Class struct {
	Name   string
	Prefix netip.Prefix
}

func (c Class) phrase() string {
	switch c.Name {
	case "unspecified":
		return "an unspecified address (it reaches this host)"
	case "broadcast":
		return "the broadcast address"
	case "host-address":
		return "an address of this host or of a container on it"
	}
	return "a " + c.Name + " address"
}

var classes = []Class{
	{"loopback", netip.MustParsePrefix("127.0.0.0/8")},
	{"loopback", netip.MustParsePrefix("::1/128")},
	{"unspecified", netip.MustParsePrefix("0.0.0.0/8")},
	{"unspecified", netip.MustParsePrefix("::/128")},
	{"link-local", netip.MustParsePrefix("169.254.0.0/16")},
	{"link-local", netip.MustParsePrefix("fe80::/10")},
	{"multicast", netip.MustParsePrefix("224.0.0.0/4")},
	{"multicast", netip.MustParsePrefix("ff00::/8")},
	{"broadcast", netip.MustParsePrefix("255.255.255.255/32")},
	// Cloud metadata services outside link-local (169.254.169.254 is covered above):
	// they hand out credentials to whatever asks from inside the machine.
	{"metadata", netip.MustParsePrefix("fd00:ec2::254/128")},  // AWS, IPv6
	{"metadata", netip.MustParsePrefix("100.100.100.200/32")}, // Alibaba Cloud
	{"metadata", netip.MustParsePrefix("168.63.129.16/32")},   // Azure WireServer
}

// embedded returns the IPv4 address an IPv6 address carries by a standard translation
// (NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16, IPv4-compatible ::/96), so
// a protected IPv4 cannot be reached in IPv6 clothing.
func embedded(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() || a.Is4In6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	v4 := func(x ...byte) netip.Addr { return netip.AddrFrom4([4]byte{x[0], x[1], x[2], x[3]}) }
	switch {
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0 &&
		b[8] == 0 && b[9] == 0 && b[10] == 0 && b[11] == 0:
		return v4(b[12:16]...), true
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0x00 && b[5] == 0x01:
		// RFC 6052 /48: 16 bits before the reserved octet 8, 16 after it.
		return v4(b[6], b[7], b[9], b[10]), true
	case b[0] == 0x20 && b[1] == 0x02:
		return v4(b[2:6]...), true
	case a != netip.IPv6Unspecified() && a != netip.IPv6Loopback() && isZero(b[:12]):
		return v4(b[12:16]...), true
	}
	return netip.Addr{}, false
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Protected returns the protected class of an address: loopback, unspecified, link-local,
// multicast, broadcast, or one of this host's own addresses (own may be nil).
func Protected(a netip.Addr, own func(netip.Addr) bool) (Class, bool) {
	a = a.Unmap()
	for _, c := range classes {
		if c.Prefix.Contains(a) {
			return c, true
		}
	}
	if own != nil && own(a) {
		return Class{"host-address", netip.PrefixFrom(a, a.BitLen())}, true
	}
	if v4, ok := embedded(a); ok {
		if c, protected := Protected(v4, own); protected {
			// Only an IP entry naming this very IPv6 address opens it.
			return Class{c.Name, netip.PrefixFrom(a, 128)}, true
		}
	}
	return Class{}, false
}

// DecideName decides on a name before it is resolved: a denied name is never looked up.
func (p *Policy) DecideName(name string, port uint16) Decision {
	for _, e := range p.Entries {
		if (e.Kind == KindName || e.Kind == KindSuffix) && e.MatchesName(name) && e.AllowsPort(port) {
			return Decision{Allowed: true, Rule: e.String()}
		}
	}
	return deny(RuleDefaultDeny, fmt.Sprintf("no allowlist entry matches %s:%d", name, port))
}

// DecideAddr decides on an address to connect to. via is the name it was resolved from
// ("" for an IP literal): a name entry has allowed the name already, so an ordinary
// address passes; a protected one (loopback, link-local, this host's own, …) passes only
// when an IP entry that lies inside its class allows it. An IP literal needs a matching
// IP entry in any case.
func (p *Policy) DecideAddr(a netip.Addr, port uint16, via string, own func(netip.Addr) bool) Decision {
	a = a.Unmap()
	class, protected := Protected(a, own)
	if !protected && via != "" {
		// The name's entry allowed it already.
		return Decision{Allowed: true}
	}
	for _, e := range p.Entries {
		if !e.MatchesAddr(a) || !e.AllowsPort(port) {
			continue
		}
		if protected && !(class.Prefix.Bits() <= e.Prefix.Bits() && class.Prefix.Contains(e.Prefix.Addr())) {
			continue
		}
		return Decision{Allowed: true, Rule: e.String()}
	}
	what := fmt.Sprintf("%s:%d", Host{Addr: a}, port)
	if via != "" {
		what = fmt.Sprintf("%s:%d (resolved to %s)", via, port, Host{Addr: a})
	}
	if protected {
		return deny(class.Name, fmt.Sprintf("%s is %s: only an IP entry inside %s opens it",
			what, class.phrase(), class.Prefix))
	}
	return deny(RuleDefaultDeny, fmt.Sprintf("no allowlist entry matches %s", what))
}

// Decide is the whole verdict on an address to connect to for a destination host: the
// name's entry (or the IP literal's) and the address checks.
func (p *Policy) Decide(h Host, port uint16, addr netip.Addr, own func(netip.Addr) bool) Decision {
	if !h.IsIP() {
		d := p.DecideName(h.Name, port)
		if !d.Allowed {
			return d
		}
		ad := p.DecideAddr(addr, port, h.Name, own)
		if !ad.Allowed {
			return ad
		}
		if ad.Rule != "" {
			// A protected address opened by an IP entry: that entry is the rule.
			return ad
		}
		return d
	}
	return p.DecideAddr(h.Addr, port, "", own)
}
