// Package gateway is the outside half of a session's egress allowlist: a small HTTP(S)
// proxy that runs in its own hardened container beside the session, listens on a unix
// socket the session's agent forwards every connection to, decides each one against the
// session's allowlist (checking a name before resolving it, and the address it really
// connects to), records every connection in an audit trail the session cannot reach, and
// applies a changed allowlist at once, closing the tunnels it no longer allows.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"axo.dev/agent/internal/egress"
)

// Limits and timeouts.
const (
	MaxConns         = 1024
	HeadTimeout      = 30 * time.Second
	IdleTimeout      = 2 * time.Minute
	ResolveTimeout   = 5 * time.Second
	DialTimeout      = 10 * time.Second
	DefaultAuditSize = 4 << 20
	maxHead          = 64 << 10
)

// Resolver looks names up (net.DefaultResolver; a fake in tests).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Publish is a host address and port forwarded into the session's loopback.
type Publish struct {
	Host netip.Addr
	Port uint16
}

// Config configures a gateway.
type Config struct {
	Session string
	// Socket is where the session's agent connects (created 0666; its directory is the
	// only thing shared with the session).
	Socket string
	// StateDir holds the policy, audit trail and counters; the session never sees it.
	StateDir string
	// Ingress is the session agent's forwarding socket for published ports.
	Ingress string
	Publish []Publish
	// AuditMaxBytes rotates the audit file past this size. @default 4 MiB
	AuditMaxBytes int64
	Log           func(format string, args ...any)
	// HostsFile is consulted before the DNS. @default /etc/hosts
	HostsFile string
	// Seams for tests.
	Resolver Resolver
	OwnAddrs func() ([]netip.Prefix, error)
	Dial     func(ctx context.Context, network, address string) (net.Conn, error)
}

// Gateway is a running gateway.
type Gateway struct {
	cfg    Config
	policy atomic.Pointer[egress.Policy]
	gen    atomic.Int64
	audit  *audit
	own    ownAddrs
	hosts  hostsFile
	ln     *net.UnixListener
	sem    chan struct{}
	pubs   []net.Listener

	mu      sync.Mutex
	tunnels map[*tunnel]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// tunnel is one open upstream connection, kept so a policy change can close it.
type tunnel struct {
	host   egress.Host
	port   uint16
	addr   netip.Addr
	kill   func(reason string)
	killed atomic.Pointer[string]
}

// New loads the policy, opens the audit trail and listens; Serve then runs it.
func New(cfg Config) (*Gateway, error) {
	if cfg.Log == nil {
		cfg.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "axo-gateway: "+format+"\n", args...) }
	}
	if cfg.AuditMaxBytes <= 0 {
		cfg.AuditMaxBytes = DefaultAuditSize
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
		if cfg.HostsFile == "" {
			cfg.HostsFile = "/etc/hosts"
		}
	}
	if cfg.OwnAddrs == nil {
		cfg.OwnAddrs = hostPrefixes
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: DialTimeout}
		cfg.Dial = d.DialContext
	}
	g := &Gateway{cfg: cfg, sem: make(chan struct{}, MaxConns), tunnels: map[*tunnel]struct{}{}}
	g.own.load = cfg.OwnAddrs
	g.hosts.path = cfg.HostsFile
	g.policy.Store(&egress.Policy{})
	a, err := openAudit(cfg.StateDir, cfg.AuditMaxBytes, cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("audit trail in %s: %w", cfg.StateDir, err)
	}
	g.audit = a
	g.reload()
	ln, err := listenUnix(cfg.Socket)
	if err != nil {
		a.close()
		return nil, err
	}
	g.ln = ln
	return g, nil
}

// listenUnix creates a socket anyone who can reach its directory may connect to, first
// removing a stale socket (never following a link; anything else there is refused).
func listenUnix(path string) (*net.UnixListener, error) {
	var st syscall.Stat_t
	switch err := syscall.Lstat(path, &st); {
	case err == nil:
		if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
			return nil, fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
		}
		if err := syscall.Unlink(path); err != nil && err != syscall.ENOENT {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	case err != syscall.ENOENT:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	old := syscall.Umask(0)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

// Serve accepts connections until ctx ends, then closes every tunnel (audited as
// gateway-stopped) and returns.
func (g *Gateway) Serve(ctx context.Context) error {
	published, failed := g.publish()
	if err := writeJSON(g.cfg.StateDir, ReadyFile, map[string]any{
		"pid": os.Getpid(), "generation": g.gen.Load(), "published": published, "failed": failed,
	}); err != nil {
		return fmt.Errorf("write %s: %w", ReadyFile, err)
	}
	g.cfg.Log("session %s: listening on %s", g.cfg.Session, g.cfg.Socket)
	stopWatch := g.watch()
	defer stopWatch()
	go func() {
		<-ctx.Done()
		g.ln.Close()
		for _, l := range g.pubs {
			l.Close()
		}
	}()
	statsTick := time.NewTicker(time.Second)
	defer statsTick.Stop()
	go func() {
		for range statsTick.C {
			g.audit.flushStats(false)
		}
	}()
	var err error
	for {
		c, aerr := g.ln.AcceptUnix()
		if aerr != nil {
			if ctx.Err() == nil && !errors.Is(aerr, net.ErrClosed) {
				err = aerr
			}
			break
		}
		select {
		case g.sem <- struct{}{}:
		default:
			writeSimple(c, 503, "Service Unavailable", "", "too many open connections through this session's gateway")
			c.Close()
			continue
		}
		g.wg.Add(1)
		go func() {
			defer func() { <-g.sem; g.wg.Done() }()
			defer func() {
				if r := recover(); r != nil {
					g.cfg.Log("connection handler panic: %v\n%s", r, debug.Stack())
					c.Close()
				}
			}()
			g.serveConn(c)
		}()
	}
	g.mu.Lock()
	g.closed = true
	open := make([]*tunnel, 0, len(g.tunnels))
	for t := range g.tunnels {
		open = append(open, t)
	}
	g.mu.Unlock()
	for _, t := range open {
		t.kill("gateway-stopped")
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	g.audit.close()
	return err
}

func (g *Gateway) track(t *tunnel) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.tunnels[t] = struct{}{}
	g.audit.active.Add(1)
	g.audit.dirty.Store(true)
	return true
}

func (g *Gateway) untrack(t *tunnel) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.tunnels[t]; ok {
		delete(g.tunnels, t)
		g.audit.active.Add(-1)
		g.audit.dirty.Store(true)
	}
}

// reload reads the policy file; a bad file keeps the policy in force, and either way
// applied.json says what happened. Open tunnels the new policy does not allow are closed.
func (g *Gateway) reload() {
	path := filepath.Join(g.cfg.StateDir, PolicyFile)
	data, err := readSmall(path, 1<<20)
	var doc PolicyDoc
	var pol *egress.Policy
	if err == nil {
		err = decodeStrict(data, &doc)
	}
	if err == nil && doc.Version != 1 {
		err = fmt.Errorf("policy version %d is not supported (this gateway reads version 1)", doc.Version)
	}
	if err == nil {
		pol, err = egress.ParsePolicy(doc.Entries)
	}
	applied := map[string]any{"generation": doc.Generation, "entries": len(doc.Entries), "error": nil,
		"at": time.Now().UTC()}
	if err != nil {
		g.cfg.Log("policy %s: %v (the policy in force is kept)", path, err)
		applied["error"] = err.Error()
		applied["generation"] = g.gen.Load()
		applied["rejected"] = doc.Generation
	} else {
		g.policy.Store(pol)
		g.gen.Store(doc.Generation)
		g.recheck(pol)
	}
	if werr := writeJSON(g.cfg.StateDir, AppliedFile, applied); werr != nil {
		g.cfg.Log("write %s: %v", AppliedFile, werr)
	}
}

// recheck closes every open tunnel the policy no longer allows.
func (g *Gateway) recheck(pol *egress.Policy) {
	g.mu.Lock()
	open := make([]*tunnel, 0, len(g.tunnels))
	for t := range g.tunnels {
		open = append(open, t)
	}
	g.mu.Unlock()
	for _, t := range open {
		if d := pol.Decide(t.host, t.port, t.addr, g.own.contains); !d.Allowed {
			g.cfg.Log("closing %s:%d (%s): %s", t.host, t.port, t.addr, d.Reason)
			t.kill("policy-changed")
		}
	}
}

func decodeStrict(data []byte, v any) error {
	dec := jsonDecoder(data)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// ownAddrs caches this host's addresses (the gateway shares the host's network), and
// the subnets of its container bridges, for a second at a time.
type ownAddrs struct {
	load func() ([]netip.Prefix, error)
	mu   sync.Mutex
	at   time.Time
	set  []netip.Prefix
}

func (o *ownAddrs) contains(a netip.Addr) bool {
	o.mu.Lock()
	if time.Since(o.at) > time.Second {
		if set, err := o.load(); err == nil {
			o.set, o.at = set, time.Now()
		}
	}
	set := o.set
	o.mu.Unlock()
	for _, p := range set {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hostPrefixes: every address of this host (as a single-address prefix), and the whole
// subnet of container bridges (podman's cni-podman0/podman0, docker0, …), whose other
// addresses are containers of this host.
func hostPrefixes() ([]netip.Prefix, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		bridge := isContainerBridge(ifc.Name)
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			if bits, _ := ipn.Mask.Size(); bridge && !ip.IsLinkLocalUnicast() {
				out = append(out, netip.PrefixFrom(ip, bits).Masked())
			}
		}
	}
	return out, nil
}

func isContainerBridge(name string) bool {
	for _, p := range []string{"cni-podman", "podman", "docker", "br-", "virbr", "cni0"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
