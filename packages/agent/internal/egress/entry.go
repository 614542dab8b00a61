package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Kind is what an entry matches.
type Kind uint8

const (
	// KindName matches one DNS name exactly.
	KindName Kind = iota + 1
	// KindSuffix (`*.example.com`) matches every name below the suffix, never the suffix
	// itself nor a name that merely ends in the same letters (`evil-example.com`).
	KindSuffix
	// KindPrefix matches IP addresses in a prefix (a single address is a /32 or /128).
	KindPrefix
)

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Lo, Hi uint16 }

// DefaultPorts are the ports of an entry that names none: HTTP and HTTPS.
var DefaultPorts = []PortRange{{80, 80}, {443, 443}}

// Entry is one allowlist entry.
type Entry struct {
	Kind   Kind
	Name   string       // KindName: the name; KindSuffix: the suffix without "*."
	Prefix netip.Prefix // KindPrefix, masked
	// Ports the entry allows; nil means DefaultPorts.
	Ports []PortRange
	text  string
}

// String is the entry's canonical spelling (what the host writes, what audits name).
func (e Entry) String() string { return e.text }

// ErrInvalidEntry is wrapped by every entry parsing error.
var ErrInvalidEntry = errors.New("invalid egress entry")

func invalidEntry(s, why string) error {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidEntry, s, why)
}

// ParseEntry parses an entry:
//
//	host            deb.debian.org          (ports 80 and 443)
//	host:port       deb.debian.org:8080
//	*.suffix[:p]    *.example.com           (subdomains only)
//	ipv4[/n][:p]    10.0.0.0/8:5432, 127.0.0.1:8080
//	ipv6[/n]        2001:db8::/32           (no port without brackets)
//	[ipv6[/n]]:p    [2001:db8::1]:5432
//
// where a port is `N`, `LO-HI` or `*`. IP addresses must be written plainly (dotted
// decimal IPv4 without leading zeros); a prefix must have no bits set past its length.
func ParseEntry(s string) (Entry, error) {
	if s == "" {
		return Entry{}, invalidEntry(s, "empty")
	}
	if len(s) > 300 {
		return Entry{}, invalidEntry(s, "longer than 300 characters")
	}
	hostPart, portPart, hasPort := s, "", false
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Entry{}, invalidEntry(s, "unterminated [")
		}
		hostPart = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return Entry{}, invalidEntry(s, "text after ]")
			}
			portPart, hasPort = rest[1:], true
		}
		if strings.IndexByte(hostPart, ':') < 0 {
			return Entry{}, invalidEntry(s, "brackets are for IPv6 addresses")
		}
	case strings.Count(s, ":") > 1:
		// An unbracketed IPv6 address or prefix; it cannot carry a port.
	default:
		if i := strings.IndexByte(s, ':'); i >= 0 {
			hostPart, portPart, hasPort = s[:i], s[i+1:], true
		}
	}
	e := Entry{}
	if hasPort {
		r, err := parsePortSpec(s, portPart)
		if err != nil {
			return Entry{}, err
		}
		e.Ports = []PortRange{r}
	}
	switch {
	case strings.IndexByte(hostPart, ':') >= 0:
		p, err := parsePrefix(s, hostPart, true)
		if err != nil {
			return Entry{}, err
		}
		e.Kind, e.Prefix = KindPrefix, p
	case isPlainIPv4Prefix(hostPart):
		p, err := parsePrefix(s, hostPart, false)
		if err != nil {
			return Entry{}, err
		}
		e.Kind, e.Prefix = KindPrefix, p
	case strings.HasPrefix(hostPart, "*."):
		name, err := entryName(s, hostPart[2:])
		if err != nil {
			return Entry{}, err
		}
		e.Kind, e.Name = KindSuffix, name
	default:
		if strings.IndexByte(hostPart, '*') >= 0 {
			return Entry{}, invalidEntry(s, `a wildcard is only allowed as a leading "*." (like *.example.com)`)
		}
		if _, ok := ParseIPv4(hostPart); ok {
			return Entry{}, invalidEntry(s, "write IPv4 addresses as four decimal numbers (like 127.0.0.1)")
		}
		name, err := entryName(s, hostPart)
		if err != nil {
			return Entry{}, err
		}
		e.Kind, e.Name = KindName, name
	}
	e.text = e.canonical()
	return e, nil
}

func entryName(s, name string) (string, error) {
	if strings.HasSuffix(name, ".") {
		name = name[:len(name)-1]
	}
	h, err := ParseHost(name)
	if err != nil {
		return "", invalidEntry(s, strings.TrimPrefix(err.Error(), ErrInvalidHost.Error()+" "))
	}
	if h.IsIP() {
		return "", invalidEntry(s, "write IPv4 addresses as four decimal numbers (like 127.0.0.1)")
	}
	return h.Name, nil
}

// isPlainIPv4Prefix: digits and dots, with an optional /bits (what an IPv4 entry looks like).
func isPlainIPv4Prefix(s string) bool {
	addr, _, _ := strings.Cut(s, "/")
	if strings.Count(addr, ".") != 3 {
		return false
	}
	for i := 0; i < len(addr); i++ {
		if !(addr[i] >= '0' && addr[i] <= '9' || addr[i] == '.') {
			return false
		}
	}
	return true
}

func parsePrefix(s, text string, v6 bool) (netip.Prefix, error) {
	addrText, bitsText, hasBits := strings.Cut(text, "/")
	if strings.IndexByte(addrText, '%') >= 0 {
		return netip.Prefix{}, invalidEntry(s, "zone indexes are not allowed")
	}
	a, err := netip.ParseAddr(addrText)
	if err != nil || a.Is6() != v6 {
		return netip.Prefix{}, invalidEntry(s, "not an IP address")
	}
	if a.Is4In6() {
		// ::ffff:a.b.c.d is the IPv4 address; a prefix over it would be a prefix of IPv4.
		if hasBits {
			return netip.Prefix{}, invalidEntry(s, "write an IPv4 prefix in IPv4 notation")
		}
		a = a.Unmap()
	}
	bits := a.BitLen()
	if hasBits {
		n, err := strconv.Atoi(bitsText)
		if err != nil || n < 0 || n > a.BitLen() || bitsText != strconv.Itoa(n) {
			return netip.Prefix{}, invalidEntry(s, fmt.Sprintf("the prefix length must be 0-%d", a.BitLen()))
		}
		bits = n
	}
	p := netip.PrefixFrom(a, bits)
	if p.Masked() != p {
		return netip.Prefix{}, invalidEntry(s, fmt.Sprintf("bits are set past the prefix length (did you mean %s?)", p.Masked()))
	}
	return p, nil
}

func parsePortSpec(s, p string) (PortRange, error) {
	if p == "*" {
		return PortRange{1, 65535}, nil
	}
	lo, hi, isRange := strings.Cut(p, "-")
	a, ok := ParsePort(lo)
	if !ok {
		return PortRange{}, invalidEntry(s, "a port is a number from 1 to 65535, a range LO-HI, or *")
	}
	if !isRange {
		return PortRange{a, a}, nil
	}
	b, ok := ParsePort(hi)
	if !ok || b < a {
		return PortRange{}, invalidEntry(s, "a port range is LO-HI with LO ≤ HI")
	}
	return PortRange{a, b}, nil
}

func (e Entry) canonical() string {
	var host string
	bracket := false
	switch e.Kind {
	case KindName:
		host = e.Name
	case KindSuffix:
		host = "*." + e.Name
	case KindPrefix:
		host = e.Prefix.Addr().String()
		if e.Prefix.Bits() != e.Prefix.Addr().BitLen() {
			host = e.Prefix.String()
		}
		bracket = e.Prefix.Addr().Is6()
	}
	if e.Ports == nil {
		return host
	}
	if bracket {
		host = "[" + host + "]"
	}
	r := e.Ports[0]
	switch {
	case r.Lo == 1 && r.Hi == 65535:
		return host + ":*"
	case r.Lo == r.Hi:
		return host + ":" + strconv.Itoa(int(r.Lo))
	}
	return host + ":" + strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

// AllowsPort reports whether the entry allows the port.
func (e Entry) AllowsPort(port uint16) bool {
	ports := e.Ports
	if ports == nil {
		ports = DefaultPorts
	}
	for _, r := range ports {
		if port >= r.Lo && port <= r.Hi {
			return true
		}
	}
	return false
}

// MatchesName reports whether a name entry matches the (normalised) name.
func (e Entry) MatchesName(name string) bool {
	switch e.Kind {
	case KindName:
		return name == e.Name
	case KindSuffix:
		return len(name) > len(e.Name)+1 && strings.HasSuffix(name, e.Name) && name[len(name)-len(e.Name)-1] == '.'
	}
	return false
}

// MatchesAddr reports whether a prefix entry contains the address.
func (e Entry) MatchesAddr(a netip.Addr) bool {
	return e.Kind == KindPrefix && e.Prefix.Contains(a.Unmap())
}
