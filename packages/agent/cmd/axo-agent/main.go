// Command axo-agent is the resident agent inside an axo session container: its init
// (PID 1), the server behind /.axo/run/agent.sock, and, as `axo-agent shim`, the
// per-command supervisor it starts. See the package README for the protocol.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"axo.dev/agent/internal/initproc"
	"axo.dev/agent/internal/shim"
)

// version is set at build time (-X main.version=…).
var version = "0.1.0-dev"

const usage = `usage:
  axo-agent init --socket PATH --token-file PATH [--session ID] [--owner OWNER] [--workdir DIR] [--user USER]
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
		fs.IntVar(&o.MaxShims, "max-shims", 2, "keep at most this many idle shims")
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
