// Package files serves the agent's file requests (fs.stat, fs.list, fs.mkdir, fs.remove,
// fs.move, fs.symlink, fs.read, fs.write, fs.watch; see "### Files" in the README).
//
// Every request acts as a user: all its path lookups, opens, creates, renames, removes
// and inotify watches run on a thread whose filesystem identity (fsuid, fsgid, groups)
// is that user's (see runAs), so the kernel applies exactly that user's permissions.
package files

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"axo.dev/agent/internal/users"
	"axo.dev/agent/internal/wire"
)

// Limits.
const (
	MaxPath        = 4096
	MaxListDepth   = 32
	MaxListEntries = 100_000
	// ListBatch entries at most per entries message, and about ListBatchBytes of JSON
	// (a single entry, with a long path and link target escaped, stays far below 1 MiB).
	ListBatch      = 1000
	ListBatchBytes = 512 << 10
	// ReadChunk is the payload of each OUT frame of a read.
	ReadChunk = 256 << 10
	// MaxWatches is the number of watch connections a session may hold, and
	// MaxWatchedDirs the number of directories (inotify watches) between them.
	MaxWatches     = 16
	MaxWatchedDirs = 8192
)

// Config wires a Service.
type Config struct {
	Workdir     string
	DefaultUser string
	Users       *users.DB
	// SetCreds: the agent runs as root and acts as other users by switching a thread's
	// filesystem identity. Without it, requests may act only as the agent's own user.
	SetCreds bool
	// Watch caps (0: MaxWatches, MaxWatchedDirs).
	MaxWatches, MaxWatchedDirs int
	Log                        func(format string, args ...any)
}

// Service serves file requests.
type Service struct {
	cfg   Config
	umask uint32

	mu          sync.Mutex
	watches     int
	watchedDirs int
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Workdir == "" {
		cfg.Workdir = "/"
	}
	if cfg.MaxWatches <= 0 {
		cfg.MaxWatches = MaxWatches
	}
	if cfg.MaxWatchedDirs <= 0 {
		cfg.MaxWatchedDirs = MaxWatchedDirs
	}
	if cfg.Log == nil {
		cfg.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "axo-agent: "+format+"\n", args...) }
	}
	if cfg.Users == nil {
		cfg.Users = users.New("/")
	}
	if res.init(); !res.openat2 {
		cfg.Log("openat2 is not available (%v): file requests resolve paths one component at a time", res.probeErr)
	}
	return &Service{cfg: cfg, umask: readUmask()}
}

// readUmask reads the process's umask without changing it (umask(2) would, for a moment,
// for every thread).
func readUmask() uint32 {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return uint32(m) & 0o777
				}
			}
		}
	}
	return 0o022
}

// Conn is the connection a request arrived on.
type Conn interface {
	// Send sends one message; SendFrame one frame (a MSG payload must be a valid message).
	Send(msg any) error
	SendFrame(kind byte, payload []byte) error
	// Next reads the host's next frame; its payload is valid until the next call.
	Next() (wire.Frame, error)
	// ReadError reports a failed Next to the host when it was a protocol error.
	ReadError(err error)
	// Close closes the connection (ending a Next blocked in another goroutine).
	Close()
}

// IsRequest reports whether typ is a file request.
func IsRequest(typ string) bool {
	switch typ {
	case wire.TypeFsStat, wire.TypeFsList, wire.TypeFsMkdir, wire.TypeFsRemove, wire.TypeFsMove,
		wire.TypeFsSymlink, wire.TypeFsRead, wire.TypeFsWrite, wire.TypeFsWatch:
		return true
	}
	return false
}

// IsAnswer reports whether typ is a message only the agent sends for file requests.
func IsAnswer(typ string) bool {
	switch typ {
	case wire.TypeEntry, wire.TypeEntries, wire.TypeReady, wire.TypeWatching, wire.TypeEvent:
		return true
	}
	return false
}

// errSent marks an error already reported to the host (or a connection that is gone).
var errSent = errors.New("reported")

// req is one request being served.
type req struct {
	s     *Service
	c     Conn
	id    *identity
	names *names
}

// Serve answers the request in f (a MSG frame whose type IsRequest) on c.
func (s *Service) Serve(c Conn, f wire.Frame) {
	r := &req{s: s, c: c, names: newNames(s.cfg.Users)}
	defer func() {
		if v := recover(); v != nil {
			s.cfg.Log("file request %s: panic: %v", f.Type, v)
			c.Send(wire.Error{Type: wire.TypeError, Code: wire.CodeInternal, Message: "internal error"})
		}
	}()
	err := r.serve(f)
	var pe *panicError
	switch {
	case err == nil || err == errSent:
	case errors.As(err, &pe):
		s.cfg.Log("file request %s: %v\n%s", f.Type, pe, pe.stack)
		r.fail(errorf(wire.CodeInternal, "internal error"))
	default:
		r.fail(err)
	}
}

func (r *req) fail(err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errorf(wire.CodeInternal, "%v", err)
	}
	r.c.Send(wire.Error{Type: wire.TypeError, Code: e.Code, Message: e.Message})
}

// send sends msg; a failure means the host is gone (errSent: nothing more to say).
func (r *req) send(msg any) error {
	if r.c.Send(msg) != nil {
		return errSent
	}
	return nil
}

func decode(f wire.Frame, v any) error {
	if err := f.Decode(v); err != nil {
		return errorf(wire.CodeInvalid, "%v", err)
	}
	return nil
}

func (r *req) serve(f wire.Frame) error {
	switch f.Type {
	case wire.TypeFsStat:
		var m wire.FsStat
		if err := decode(f, &m); err != nil {
			return err
		}
		return r.run(m.User, []string{m.Path}, func(p []string) error { return r.stat(p[0], m.Follow) })
	case wire.TypeFsList:
		var m wire.FsList
		if err := decode(f, &m); err != nil {
			return err
		}
		depth := m.Depth
		if depth == 0 {
			depth = 1
		}
		if depth < 1 || depth > MaxListDepth {
			return errorf(wire.CodeInvalid, "depth must be between 1 and %d", MaxListDepth)
		}
		return r.run(m.User, []string{m.Path}, func(p []string) error { return r.list(p[0], depth) })
	case wire.TypeFsMkdir:
		var m wire.FsMkdir
		if err := decode(f, &m); err != nil {
			return err
		}
		mode := uint32(0o755)
		if m.Mode != nil {
			mode = *m.Mode
		}
		if mode > 0o7777 {
			return errorf(wire.CodeInvalid, "mode %#o is out of range", mode)
		}
		return r.run(m.User, []string{m.Path}, func(p []string) error { return r.mkdir(p[0], m.Parents, mode) })
	case wire.TypeFsRemove:
		var m wire.FsRemove
		if err := decode(f, &m); err != nil {
			return err
		}
		return r.run(m.User, []string{m.Path}, func(p []string) error { return r.remove(p[0], m.Recursive) })
	case wire.TypeFsMove:
		var m wire.FsMove
		if err := decode(f, &m); err != nil {
			return err
		}
		return r.run(m.User, []string{m.From, m.To}, func(p []string) error { return r.move(p[0], p[1]) })
	case wire.TypeFsSymlink:
		var m wire.FsSymlink
		if err := decode(f, &m); err != nil {
			return err
		}
		if m.Target == "" || len(m.Target) >= MaxPath || strings.IndexByte(m.Target, 0) >= 0 {
			return errorf(wire.CodeInvalid, "target must be 1 to %d bytes without NUL", MaxPath-1)
		}
		return r.run(m.User, []string{m.Path}, func(p []string) error { return r.symlink(p[0], m.Target) })
	case wire.TypeFsRead:
		var m wire.FsRead
		if err := decode(f, &m); err != nil {
			return err
		}
		length := int64(-1)
		if m.Length != nil {
			length = *m.Length
		}
		if m.Offset < 0 || length < -1 {
			return errorf(wire.CodeInvalid, "offset must be ≥ 0 and length ≥ 0 or -1")
		}
		return r.run(m.User, []string{m.Path}, func(p []string) error { return r.read(p[0], m.Offset, length) })
	case wire.TypeFsWrite:
		var m wire.FsWrite
		if err := decode(f, &m); err != nil {
			return err
		}
		if m.Mode != nil && *m.Mode > 0o7777 {
			return errorf(wire.CodeInvalid, "mode %#o is out of range", *m.Mode)
		}
		if m.MaxBytes != nil && *m.MaxBytes < 0 {
			return errorf(wire.CodeInvalid, "maxBytes must not be negative")
		}
		return r.run(m.User, []string{m.Path}, func(p []string) error { return r.write(p[0], m.Mode, m.Parents, m.MaxBytes) })
	case wire.TypeFsWatch:
		var m wire.FsWatch
		if err := decode(f, &m); err != nil {
			return err
		}
		return r.run(m.User, []string{m.Path}, func(p []string) error { return r.watch(p[0], m.Recursive) })
	}
	return errorf(wire.CodeInternal, "%q is not a file request", f.Type)
}

// run resolves the request's user and paths, then runs op as that user.
func (r *req) run(user string, paths []string, op func(paths []string) error) error {
	abs := make([]string, len(paths))
	for i, p := range paths {
		a, err := r.s.abs(p)
		if err != nil {
			return err
		}
		abs[i] = a
	}
	id, err := r.s.identity(user)
	if err != nil {
		return err
	}
	r.id = id
	var opErr error
	if err := runAs(id, func() { opErr = op(abs) }); err != nil {
		return err
	}
	return opErr
}

// abs makes p absolute (relative to the workdir) and clean.
func (s *Service) abs(p string) (string, error) {
	if p == "" {
		return "", errorf(wire.CodeInvalid, "path is required")
	}
	if len(p) > MaxPath || strings.IndexByte(p, 0) >= 0 {
		return "", errorf(wire.CodeInvalid, "path must be at most %d bytes without NUL", MaxPath)
	}
	if !filepath.IsAbs(p) {
		p = s.cfg.Workdir + "/" + p
	}
	return filepath.Clean(p), nil
}

// identity resolves a request's user: the one named, else the agent's --user, else root
// (or, for an agent that is not root, itself).
func (s *Service) identity(spec string) (*identity, error) {
	if spec == "" {
		spec = s.cfg.DefaultUser
	}
	euid := os.Geteuid()
	if spec == "" && !s.cfg.SetCreds {
		spec = strconv.Itoa(euid)
	}
	u, err := s.cfg.Users.Lookup(spec)
	if err != nil {
		return nil, errorf(wire.CodeInvalid, "%v", err)
	}
	if !s.cfg.SetCreds && int(u.UID) != euid {
		return nil, errorf(wire.CodeInvalid, "the agent does not run as root and cannot act as %q", spec)
	}
	return &identity{label: u.Label(), uid: u.UID, gid: u.GID, groups: u.Groups,
		switched: s.cfg.SetCreds && u.UID != 0}, nil
}

// split returns the directory and last element of a clean absolute path other than "/".
func split(path string) (string, string) {
	i := strings.LastIndexByte(path, '/')
	if i == 0 {
		return "/", path[1:]
	}
	return path[:i], path[i+1:]
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}
