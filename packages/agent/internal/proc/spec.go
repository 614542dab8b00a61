package proc

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"axo.dev/agent/internal/users"
)

// DefaultPath is PATH when the environment has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ValidID reports whether id is a valid process id: [A-Za-z0-9_.-]{1,100}. (Not a
// regexp: compiling one at package init cost every shim start a fifth of a millisecond.)
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 100 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Signals are the signal names a host may send.
var Signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "STOP": syscall.SIGSTOP,
	"CONT": syscall.SIGCONT, "WINCH": syscall.SIGWINCH,
}

// SignalName is the name of sig without "SIG" (e.g. "KILL"), or its number.
func SignalName(sig syscall.Signal) string {
	for name, s := range Signals {
		if s == sig {
			return name
		}
	}
	switch sig {
	case syscall.SIGABRT:
		return "ABRT"
	case syscall.SIGSEGV:
		return "SEGV"
	case syscall.SIGPIPE:
		return "PIPE"
	case syscall.SIGALRM:
		return "ALRM"
	case syscall.SIGBUS:
		return "BUS"
	case syscall.SIGFPE:
		return "FPE"
	case syscall.SIGILL:
		return "ILL"
	case syscall.SIGTRAP:
		return "TRAP"
	case syscall.SIGSYS:
		return "SYS"
	case syscall.SIGXCPU:
		return "XCPU"
	case syscall.SIGXFSZ:
		return "XFSZ"
	case syscall.SIGVTALRM:
		return "VTALRM"
	case syscall.SIGPROF:
		return "PROF"
	case syscall.SIGTSTP:
		return "TSTP"
	case syscall.SIGTTIN:
		return "TTIN"
	case syscall.SIGTTOU:
		return "TTOU"
	case syscall.SIGURG:
		return "URG"
	case syscall.SIGIO:
		return "IO"
	case syscall.SIGPWR:
		return "PWR"
	case syscall.SIGSTKFLT:
		return "STKFLT"
	case syscall.SIGCHLD:
		return "CHLD"
	}
	return strings.TrimPrefix(sig.String(), "signal ")
}

// buildEnv is the base environment (the agent's own, with the user's HOME, USER and
// LOGNAME, a default PATH and TERM=xterm on a terminal) with the request's env on top.
func buildEnv(base []string, u *users.User, pty bool, extra map[string]string) []string {
	out := make([]string, 0, len(base)+len(extra)+5)
	index := map[string]int{}
	set := func(k, v string) {
		if i, ok := index[k]; ok {
			out[i] = k + "=" + v
			return
		}
		index[k] = len(out)
		out = append(out, k+"="+v)
	}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || k == "HOME" || k == "USER" || k == "LOGNAME" {
			continue
		}
		set(k, v)
	}
	set("HOME", u.Home)
	if u.Name != "" {
		set("USER", u.Name)
		set("LOGNAME", u.Name)
	}
	if _, ok := index["PATH"]; !ok {
		set("PATH", DefaultPath)
	}
	if _, ok := extra["TERM"]; pty && !ok {
		set("TERM", "xterm")
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		set(k, extra[k])
	}
	return out
}

func envValue(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// lookPath finds argv0 as a shell would: a name with a slash is used as is; otherwise
// the PATH directories are searched for an executable regular file. It returns the path,
// or an exit code (127 not found, 126 found but not executable) and the message.
func lookPath(argv0, path, cwd string) (string, int, string) {
	if strings.Contains(argv0, "/") {
		return argv0, 0, ""
	}
	denied := ""
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(cwd, dir)
		}
		candidate := dir + "/" + argv0
		st, err := os.Stat(candidate)
		if err != nil || st.IsDir() {
			continue
		}
		if st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return candidate, 0, ""
		}
		if denied == "" {
			denied = candidate
		}
	}
	if denied != "" {
		return "", 126, "Permission denied"
	}
	return "", 127, "command not found"
}

// execFailure maps an exec errno to a shell's exit code and message.
func execFailure(errno syscall.Errno, text string) (int, string) {
	switch errno {
	case syscall.ENOENT:
		return 127, "No such file or directory"
	case 0:
		return 126, text
	}
	msg := errno.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return 126, msg
}
