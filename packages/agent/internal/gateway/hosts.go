package gateway

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// hostsFile answers names from a hosts file (what nsswitch's "files" does), re-read
// when it changes. The gateway looks names up here first, then in the DNS as rooted
// names: the resolver's search domains must never turn an allowed name into another one,
// and Go's resolver skips the hosts file for rooted names.
type hostsFile struct {
	path  string
	mu    sync.Mutex
	seen  fileStamp
	at    time.Time
	names map[string][]netip.Addr
}

func (h *hostsFile) lookup(name string) []netip.Addr {
	if h.path == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.at) > time.Second {
		h.at = time.Now()
		if st := stamp(h.path); st != h.seen || h.names == nil {
			h.seen = st
			h.names = parseHosts(h.path)
		}
	}
	return h.names[name]
}

func parseHosts(path string) map[string][]netip.Addr {
	names := map[string][]netip.Addr{}
	data, err := readSmall(path, 1<<20)
	if err != nil {
		return names
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		addr, err := netip.ParseAddr(fields[0])
		if err != nil || addr.Zone() != "" {
			continue
		}
		for _, n := range fields[1:] {
			n = strings.TrimSuffix(strings.ToLower(n), ".")
			names[n] = append(names[n], addr.Unmap())
		}
	}
	return names
}
