// Command axo-agent is the resident agent inside an axo session container: its init
// (PID 1), the server behind /.axo/run/agent.sock, and, as `axo-agent shim`, the
// per-command supervisor it starts. As `axo-agent gateway` it is the egress gateway of an
// allowlisted session (in a container of its own), and `axo-agent connect HOST PORT` is
// the CONNECT helper for ssh's ProxyCommand. See the package README for the protocol.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"axo.dev/agent/internal/egressproxy"
	"axo.dev/agent/internal/gateway"
	"axo.dev/agent/internal/initproc"
	"axo.dev/agent/internal/shim"
)

// version is set at build time (-X main.version=…).
var version = "0.1.0-dev"

const usage = `usage:
  axo-agent init --socket PATH --token-file PATH [--session ID] [--owner OWNER] [--workdir DIR] [--user USER]
                 [--egress-socket PATH [--proxy-listen ADDR]] [--ingress-socket PATH]
  axo-agent gateway --socket PATH --state DIR [--session ID] [--ingress PATH] [--publish ADDR:PORT]...
  axo-agent connect [--proxy ADDR] HOST PORT
  axo-agent version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "init":
		fs := flag.NewFlagSet("init", flag.ContinueOnError)
		fs.SetOutput(stderr)
		var o initproc.Options
		fs.StringVar(&o.Socket, "socket", "", "path of the unix socket to listen on")
		fs.StringVar(&o.TokenFile, "token-file", "", "file holding the 64-hex-character session token")
		fs.StringVar(&o.Session, "session", "", "session id (for logs)")
		fs.StringVar(&o.Owner, "owner", "", "owning manager instance (for logs)")
		fs.StringVar(&o.Workdir, "workdir", "/", "default working directory of commands")
		fs.StringVar(&o.User, "user", "", "default user of commands (name, uid, uid:gid, name:group)")
		fs.IntVar(&o.MinShims, "min-shims", 1, "refill the pool of idle shims below this many")
		fs.IntVar(&o.MaxShims, "max-shims", 2, "keep this many idle shims when quiet")
		fs.IntVar(&o.BurstShims, "burst-shims", 64, "keep up to this many idle shims for a while after a burst")
		fs.DurationVar(&o.ShimTrim, "shim-trim", shim.DefaultTrimEvery, "how often a pool grown by a burst shrinks toward --max-shims")
		fs.StringVar(&o.EgressSocket, "egress-socket", "", "the egress gateway's socket (an allowlisted session)")
		fs.StringVar(&o.ProxyListen, "proxy-listen", egressproxy.DefaultListen, "where the egress proxy listens")
		fs.StringVar(&o.IngressSocket, "ingress-socket", "", "socket the gateway forwards published ports to")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "axo-agent init: unexpected argument %q\n", fs.Arg(0))
			return 2
		}
		o.Version = version
		return initproc.Run(o)
	case "shim":
		return shim.Main()
	case "gateway":
		return runGateway(args[1:], stderr)
	case "connect":
		fs := flag.NewFlagSet("connect", flag.ContinueOnError)
		fs.SetOutput(stderr)
		proxy := fs.String("proxy", egressproxy.DefaultListen, "the session's egress proxy")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if fs.NArg() != 2 {
			fmt.Fprint(stderr, "usage: axo-agent connect [--proxy ADDR] HOST PORT\n")
			return 2
		}
		return egressproxy.Connect(*proxy, fs.Arg(0), fs.Arg(1), os.Stdin, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "axo-agent: unknown command %q\n%s", args[0], usage)
	return 2
}

type publishFlag []gateway.Publish

func (p *publishFlag) String() string { return fmt.Sprint(*p) }
func (p *publishFlag) Set(v string) error {
	ap, err := netip.ParseAddrPort(v)
	if err != nil || ap.Port() == 0 {
		return fmt.Errorf("--publish wants ADDR:PORT (like 127.0.0.1:3000 or [::1]:3000)")
	}
	*p = append(*p, gateway.Publish{Host: ap.Addr(), Port: ap.Port()})
	return nil
}

func runGateway(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg gateway.Config
	var pubs publishFlag
	fs.StringVar(&cfg.Socket, "socket", "", "unix socket the session's agent connects to")
	fs.StringVar(&cfg.StateDir, "state", "", "directory of the policy, audit trail and counters")
	fs.StringVar(&cfg.Session, "session", "", "session id (for the audit trail)")
	fs.StringVar(&cfg.Ingress, "ingress", "", "the session agent's socket for published ports")
	fs.Int64Var(&cfg.AuditMaxBytes, "audit-max-bytes", gateway.DefaultAuditSize, "rotate the audit file past this size")
	fs.Var(&pubs, "publish", "host address and port to forward to the session's loopback (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.Socket == "" || cfg.StateDir == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "usage: axo-agent gateway --socket PATH --state DIR [--session ID] [--ingress PATH] [--publish ADDR:PORT]...\n")
		return 2
	}
	cfg.Publish = pubs
	cfg.Log = func(format string, a ...any) { fmt.Fprintf(stderr, "axo-gateway: "+format+"\n", a...) }
	g, err := gateway.New(cfg)
	if err != nil {
		cfg.Log("%v", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := g.Serve(ctx); err != nil {
		cfg.Log("%v", err)
		return 1
	}
	return 0
}
