// Package initproc runs the agent as the container's init: it reaps every orphan through
// the one central reaper, ignores the signals it does not handle, and on SIGTERM stops
// everything fast. It also runs unchanged as an ordinary process (tests, development):
// then it only ever signals its own shims' trees, never kill(-1).
package initproc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"axo.dev/agent/internal/egressproxy"
	"axo.dev/agent/internal/fdutil"
	"axo.dev/agent/internal/files"
	"axo.dev/agent/internal/proc"
	"axo.dev/agent/internal/reaper"
	"axo.dev/agent/internal/server"
	"axo.dev/agent/internal/shim"
	"axo.dev/agent/internal/sigs"
	"axo.dev/agent/internal/users"
	"axo.dev/agent/internal/wire"
)

// Options are the init command's flags.
type Options struct {
	Socket    string
	TokenFile string
	Session   string
	Owner     string
	Workdir   string
	User      string
	Version   string
	// MinShims and MaxShims bound the idle shims kept ready; BurstShims is the most kept
	// for a while after a burst of concurrent commands, checked every ShimTrim.
	MinShims, MaxShims, BurstShims int
	ShimTrim                       time.Duration
	// EgressSocket, when set, is the gateway socket of an allowlisted session: the agent
	// then relays connections accepted on ProxyListen (127.0.0.1:3128) to it.
	EgressSocket string
	ProxyListen  string
	// IngressSocket, when set, is where the gateway forwards published ports.
	IngressSocket string
}

// tasksPerShim is about how many tasks (threads) an idle shim holds.
const tasksPerShim = 5

// burstShims caps the idle shims a burst leaves behind so that they hold at most half of
// the container's pids limit (every thread counts against it). The pool never keeps more
// than were busy at once a few seconds before, so it holds no more than the session just
// used, and gives them back within two trim periods.
func burstShims(want int, pids int) int {
	if pids > 0 {
		want = min(want, pids/(2*tasksPerShim))
	}
	return want
}

// pidsMax is the pids limit of the agent's cgroup (cgroup v2, then v1), or 0 when none
// can be read.
func pidsMax() int {
	for _, f := range []string{"/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
		return 0 // "max"
	}
	return 0
}

// StopGrace is how long shutdown waits for processes after SIGTERM.
const StopGrace = 300 * time.Millisecond

// Run runs the agent until SIGTERM; it returns the process exit code.
func Run(o Options) int {
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "axo-agent: "+format+"\n", args...) }
	if o.Socket == "" || o.TokenFile == "" {
		logf("--socket and --token-file are required")
		return 2
	}
	if o.Workdir == "" {
		o.Workdir = "/"
	}
	if o.MinShims <= 0 {
		o.MinShims = 1
	}
	if o.MaxShims < o.MinShims {
		o.MaxShims = max(2, o.MinShims)
	}
	// Nothing this process inherited beyond stdio may reach a command.
	fdutil.CloexecFrom(3)
	// The environment the container was configured with, as podman exec passes it on.
	baseEnv := os.Environ()
	pid1 := os.Getpid() == 1

	// Signals first: as init, anything not handled would be dropped by the kernel anyway,
	// but outside a namespace SIGINT/SIGHUP would kill us. Handled (not ignored), so
	// children get default dispositions back at exec.
	sigCh := sigs.Swallow(syscall.SIGTERM)
	rp := reaper.Start()

	tokenData, err := readToken(o.TokenFile)
	if err != nil {
		logf("%v", err)
		return 1
	}
	token, err := wire.ParseToken(tokenData)
	if err != nil {
		logf("token file %s: %v", o.TokenFile, err)
		return 1
	}
	devnull, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		logf("open /dev/null: %v", err)
		return 1
	}
	db := users.New("/")
	if o.User != "" {
		if _, err := db.Lookup(o.User); err != nil {
			logf("--user %q: %v (commands will fail until it exists)", o.User, err)
		}
	}
	ln, err := server.Listen(o.Socket)
	if err != nil {
		logf("%v", err)
		return 1
	}
	startEgress(o, logf)
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			logf("cannot find my own binary: %v", err)
			return 1
		}
	}
	pool := shim.NewPool(exe, rp, shim.PoolSize{MinIdle: o.MinShims, MaxIdle: o.MaxShims,
		BurstIdle: burstShims(o.BurstShims, pidsMax()), TrimEvery: o.ShimTrim}, devnull)
	mgr := proc.NewManager(proc.Config{
		Workdir: o.Workdir, DefaultUser: o.User, BaseEnv: baseEnv, Users: db, Pool: pool,
		DevNull: devnull, SetCreds: os.Geteuid() == 0,
	})
	srv := server.New(token, o.Version, mgr)
	srv.Files = files.New(files.Config{Workdir: o.Workdir, DefaultUser: o.User, Users: db,
		SetCreds: os.Geteuid() == 0, Log: logf})
	debug.SetGCPercent(50)
	logf("%s listening on %s (session %s, owner %s, pid %d)", o.Version, o.Socket, o.Session, o.Owner, os.Getpid())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	for {
		select {
		case err := <-served:
			logf("serve: %v", err)
			return 1
		case <-sigCh:
			srv.Close()
			if pid1 {
				// Everything in the namespace but us. Shims ignore SIGTERM: wait (at most
				// StopGrace) for everything else to end; the kernel kills the rest when
				// init exits.
				syscall.Kill(-1, syscall.SIGTERM)
				deadline := time.Now().Add(StopGrace)
				for time.Now().Before(deadline) {
					rp.Reap()
					if len(shim.Others(1, pool.PIDs())) == 0 {
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
			} else {
				// Only our own trees: every shim kills its tree and exits.
				pool.Close(StopGrace)
			}
			os.Remove(o.Socket)
			return 0
		}
	}
}

// startEgress starts the session's half of the egress allowlist: the loopback proxy that
// relays to the gateway, and the ingress socket for published ports. Failures are logged:
// the session then simply has no way out (it runs with --network none).
func startEgress(o Options, logf func(string, ...any)) {
	if o.EgressSocket != "" {
		addr := o.ProxyListen
		if addr == "" {
			addr = egressproxy.DefaultListen
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			logf("egress proxy: listen on %s: %v", addr, err)
		} else {
			logf("egress proxy on %s → %s", addr, o.EgressSocket)
			go egressproxy.ServeProxy(ln, o.EgressSocket, logf)
		}
	}
	if o.IngressSocket != "" {
		ln, err := egressproxy.ListenIngress(o.IngressSocket)
		if err != nil {
			logf("ingress: %v", err)
		} else {
			go egressproxy.ServeIngress(ln, logf)
		}
	}
}

// readToken reads the token file without following a link at its last component and
// refuses anything that is not a regular file (it is mounted read-only by the host).
func readToken(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > 4096 {
		return nil, errors.New("token file must be a small regular file")
	}
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	return buf[:n], nil
}
