// Package egress decides where a session may connect: the allowlist entries, the host
// and address parsing every decision starts from (IP literals in every spelling a
// resolver or a URL parser accepts), and the address classes only an explicit IP entry
// opens. It is pure: no I/O, no resolver, no clock.
package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Host is a destination host, normalised: a lower-case DNS name without a trailing dot,
// or an IP address (an IPv4-mapped IPv6 address is unmapped to IPv4).
type Host struct {
	Name string
	Addr netip.Addr
}

// IsIP reports whether the host is an address literal.
func (h Host) IsIP() bool { return h.Addr.IsValid() }

// String is the host as it appears in an authority: a name, an IPv4 address, or an IPv6
// address in brackets.
func (h Host) String() string {
	if h.Addr.Is6() {
		return "[" + h.Addr.String() + "]"
	}
	if h.Addr.IsValid() {
		return h.Addr.String()
	}
	return h.Name
}

// ErrInvalidHost is wrapped by every host parsing error.
var ErrInvalidHost = errors.New("invalid host")

func invalidHost(s, why string) error {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidHost, s, why)
}

// ParseHost parses a host as a client names it: an IPv6 literal (bracketed or not), an
// IPv4 literal in any inet_aton spelling (2130706433, 0x7f000001, 127.1, 0177.0.0.1,
// with an optional trailing dot), or a DNS name. Anything else (a name whose last label
// is a number, characters no DNS name has, a zone index) is an error.
func ParseHost(s string) (Host, error) {
	if s == "" {
		return Host{}, invalidHost(s, "empty")
	}
	if len(s) > 255 {
		return Host{}, invalidHost(s, "longer than 255 characters")
	}
	if s[0] == '[' {
		if s[len(s)-1] != ']' {
			return Host{}, invalidHost(s, "unterminated [")
		}
		return parseIPv6(s, s[1:len(s)-1])
	}
	if strings.IndexByte(s, ':') >= 0 {
		return parseIPv6(s, s)
	}
	if a, ok := ParseIPv4(s); ok {
		return Host{Addr: a}, nil
	}
	name, err := normaliseName(s)
	if err != nil {
		return Host{}, err
	}
	return Host{Name: name}, nil
}

func parseIPv6(orig, s string) (Host, error) {
	if strings.IndexByte(s, '%') >= 0 {
		return Host{}, invalidHost(orig, "zone indexes are not allowed")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return Host{}, invalidHost(orig, "not an IPv6 address")
	}
	return Host{Addr: a.Unmap()}, nil
}

// ParseIPv4 parses an IPv4 address the way inet_aton(3) and the WHATWG URL parser do:
// one to four parts separated by dots, each decimal, octal (a leading 0) or hexadecimal
// (0x), the last part filling the remaining bytes; one trailing dot is allowed. It is the
// normaliser every literal goes through, so 2130706433, 0x7f000001, 127.1 and 0177.0.0.1
// all become 127.0.0.1.
func ParseIPv4(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, p := range parts {
		v, ok := parseIPv4Part(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(parts)
	var out uint64
	for i := 0; i < n-1; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		out |= vals[i] << (8 * (3 - i))
	}
	last := vals[n-1]
	if last >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	out |= last
	return netip.AddrFrom4([4]byte{byte(out >> 24), byte(out >> 16), byte(out >> 8), byte(out)}), true
}

// parseIPv4Part parses one part: 0x… hexadecimal ("0x" alone is 0), 0… octal, else decimal.
func parseIPv4Part(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true
		}
	case len(p) >= 2 && p[0] == '0':
		base, p = 8, p[1:]
	}
	// Leading zeros do not overflow; more than 32 bits of significant digits does.
	p = strings.TrimLeft(p, "0")
	if p == "" {
		return 0, true
	}
	if len(p) > 11 {
		return 0, false
	}
	for i := 0; i < len(p); i++ {
		if !isDigitIn(p[i], base) {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(p, base, 64)
	if err != nil || v > 0xffffffff {
		return 0, false
	}
	return v, true
}

func isDigitIn(c byte, base int) bool {
	switch base {
	case 8:
		return c >= '0' && c <= '7'
	case 10:
		return c >= '0' && c <= '9'
	}
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// normaliseName lower-cases a DNS name and drops one trailing dot; it refuses anything
// no resolver should be asked about.
func normaliseName(s string) (string, error) {
	orig := s
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if s == "" {
		return "", invalidHost(orig, "empty")
	}
	if len(s) > 253 {
		return "", invalidHost(orig, "a DNS name has at most 253 characters")
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" {
			return "", invalidHost(orig, "empty label")
		}
		if len(l) > 63 {
			return "", invalidHost(orig, "a label has at most 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", invalidHost(orig, "a label must not start or end with -")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", invalidHost(orig, fmt.Sprintf("character %q is not allowed in a DNS name", c))
			}
		}
	}
	// A name that ends in a number is an IPv4 address to a URL parser (and to some
	// resolvers): one that did not parse as an address is refused, never looked up.
	if looksNumeric(labels[len(labels)-1]) {
		return "", invalidHost(orig, "ends in a number but is not an IPv4 address")
	}
	return s, nil
}

func looksNumeric(label string) bool {
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		for i := 2; i < len(label); i++ {
			if !isDigitIn(label[i], 16) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(label); i++ {
		if label[i] < '0' || label[i] > '9' {
			return false
		}
	}
	return true
}

// ParsePort parses a decimal TCP port, 1-65535, digits only.
func ParsePort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	if v < 1 || v > 65535 {
		return 0, false
	}
	return uint16(v), true
}

// ParseAuthority splits and parses `host[:port]` as a CONNECT target or a URI's
// authority names it. IPv6 literals must be bracketed. defaultPort 0 means the port is
// required (CONNECT); otherwise a missing or empty port is defaultPort. Userinfo is
// refused.
func ParseAuthority(s string, defaultPort uint16) (Host, uint16, error) {
	if strings.IndexByte(s, '@') >= 0 {
		return Host{}, 0, invalidHost(s, "user information is not allowed")
	}
	hostPart, portPart, hasPort := s, "", false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Host{}, 0, invalidHost(s, "unterminated [")
		}
		hostPart, portPart = s[:end+1], s[end+1:]
		if portPart != "" {
			if portPart[0] != ':' {
				return Host{}, 0, invalidHost(s, "text after ]")
			}
			portPart, hasPort = portPart[1:], true
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		hostPart, portPart, hasPort = s[:i], s[i+1:], true
		if strings.IndexByte(hostPart, ':') >= 0 {
			return Host{}, 0, invalidHost(s, "an IPv6 address must be in brackets")
		}
	}
	h, err := ParseHost(hostPart)
	if err != nil {
		return Host{}, 0, err
	}
	port := defaultPort
	if hasPort && portPart != "" {
		p, ok := ParsePort(portPart)
		if !ok {
			return Host{}, 0, invalidHost(s, "the port must be a number from 1 to 65535")
		}
		port = p
	}
	if port == 0 {
		return Host{}, 0, invalidHost(s, "a port is required")
	}
	return h, port, nil
}
