package wire

// Message types. Requests are sent by the host after auth; the rest are named where used.
const (
	TypeHello    = "hello"
	TypeAuth     = "auth"
	TypeStart    = "start"
	TypeStarted  = "started"
	TypeAttach   = "attach"
	TypeAttached = "attached"
	TypeLost     = "lost"
	TypeEnd      = "end"
	TypeExit     = "exit"
	TypeList     = "list"
	TypeSignal   = "signal"
	TypeKill     = "kill"
	TypeResize   = "resize"
	TypeStdin    = "stdin"
	TypeForget   = "forget"
	TypePing     = "ping"
	TypePong     = "pong"
	TypeOK       = "ok"
	TypeError    = "error"
	// TypeKeepalive is sent by the agent after 5 s without a frame while attached.
	TypeKeepalive = "keepalive"
	// TypeStdinClosed tells the host the process's stdin is gone; further input is dropped.
	TypeStdinClosed = "stdinClosed"

	// File requests (see "### Files" in the README) and their answers.
	TypeFsStat    = "fs.stat"
	TypeFsList    = "fs.list"
	TypeFsMkdir   = "fs.mkdir"
	TypeFsRemove  = "fs.remove"
	TypeFsMove    = "fs.move"
	TypeFsSymlink = "fs.symlink"
	TypeFsRead    = "fs.read"
	TypeFsWrite   = "fs.write"
	TypeFsWatch   = "fs.watch"
	TypeEntry     = "entry"
	TypeEntries   = "entries"
	TypeReady     = "ready"
	TypeWatching  = "watching"
	TypeEvent     = "event"
)

// Error codes of an error message.
const (
	CodeAuthFailed  = "AUTH_FAILED"
	CodeProtocol    = "PROTOCOL"
	CodeInvalid     = "INVALID"
	CodeNotFound    = "NOT_FOUND"
	CodeConflict    = "CONFLICT"
	CodeUnsupported = "UNSUPPORTED"
	CodeInternal    = "INTERNAL"
	// File errors.
	CodeExists      = "EXISTS"
	CodeIsDir       = "IS_DIR"
	CodeNotDir      = "NOT_DIR"
	CodeNotEmpty    = "NOT_EMPTY"
	CodeNotRegular  = "NOT_REGULAR"
	CodePermission  = "PERMISSION"
	CodeNoSpace     = "NO_SPACE"
	CodeTooLarge    = "TOO_LARGE"
	CodeCrossDevice = "CROSS_DEVICE"
	CodeLimit       = "LIMIT"
)

// Features the agent announces in hello.
var Features = []string{"exec", "tasks", "pty", "files", "watch", "reuse"}

// VersionRange is a range of protocol versions.
type VersionRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Hello is the agent's first message on every connection.
type Hello struct {
	Type     string       `json:"type"`
	Protocol VersionRange `json:"protocol"`
	Agent    string       `json:"agent"`
	Nonce    string       `json:"nonce"`
	Features []string     `json:"features"`
}

// Auth is the host's answer to hello.
type Auth struct {
	Type     string `json:"type"`
	Protocol int    `json:"protocol"`
	MAC      string `json:"mac"`
	// Reuse asks to send further requests on this connection, each once the last one's
	// answer is complete (agents that announce the "reuse" feature).
	Reuse bool `json:"reuse,omitempty"`
}

// PTYSize is a terminal size.
type PTYSize struct {
	Cols int `json:"cols"`
	Rows int `json:"rows"`
}

// Start runs a process.
type Start struct {
	Type      string            `json:"type"`
	Argv      []string          `json:"argv"`
	Env       map[string]string `json:"env,omitempty"`
	Cwd       string            `json:"cwd,omitempty"`
	User      string            `json:"user,omitempty"`
	Stdin     bool              `json:"stdin,omitempty"`
	PTY       *PTYSize          `json:"pty,omitempty"`
	Combined  bool              `json:"combined,omitempty"`
	TimeoutMs int64             `json:"timeoutMs,omitempty"`
	Keep      bool              `json:"keep,omitempty"`
	RingBytes int64             `json:"ringBytes,omitempty"`
	Tag       string            `json:"tag,omitempty"`
	ID        string            `json:"id,omitempty"`
	// OutputLimit caps the bytes of each stream sent to this connection (0: no cap); the
	// rest is read and dropped, so the command is never held up by a cap.
	OutputLimit int64 `json:"outputLimit,omitempty"`
}

// Started answers start.
type Started struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	PID  int    `json:"pid"`
}

// Attach reads a process's output from byte offsets.
type Attach struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Stdout int64  `json:"stdout"`
	Stderr int64  `json:"stderr"`
	Follow bool   `json:"follow"`
	Stdin  bool   `json:"stdin"`
	// Wait sends no output at all: only the exit, once the process ends.
	Wait bool `json:"wait,omitempty"`
}

// Attached answers attach with the offsets the data starts at.
type Attached struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Stdout  int64  `json:"stdout"`
	Stderr  int64  `json:"stderr"`
}

// Lost marks bytes [From, To) of a stream that are no longer held.
type Lost struct {
	Type   string `json:"type"`
	Stream string `json:"stream"`
	From   int64  `json:"from"`
	To     int64  `json:"to"`
}

// End closes a non-following attach with the offsets to continue from.
type End struct {
	Type   string `json:"type"`
	Stdout int64  `json:"stdout"`
	Stderr int64  `json:"stderr"`
}

// Exit reports how a process ended. ExitCode is nil when a signal ended it.
type Exit struct {
	Type     string  `json:"type"`
	ID       string  `json:"id"`
	ExitCode *int    `json:"exitCode"`
	Signal   *string `json:"signal"`
	TimedOut bool    `json:"timedOut"`
	Killed   bool    `json:"killed"`
	Stdout   int64   `json:"stdout"`
	Stderr   int64   `json:"stderr"`
}

// IDRequest is any request that names just a process (kill, forget, stdin).
type IDRequest struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Signal delivers a signal (request with ID, or in-stream without).
type Signal struct {
	Type   string `json:"type"`
	ID     string `json:"id,omitempty"`
	Signal string `json:"signal"`
}

// Resize changes a PTY's size (request with ID, or in-stream without).
type Resize struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
}

// StreamStats are a stream's byte counts in a list entry: Total written, Dropped = bytes
// no longer held (the offset of the oldest byte held).
type StreamStats struct {
	Total   int64 `json:"total"`
	Dropped int64 `json:"dropped"`
}

// ProcInfo is one entry of a list answer.
type ProcInfo struct {
	ID        string      `json:"id"`
	PID       int         `json:"pid"`
	Tag       string      `json:"tag"`
	Argv      []string    `json:"argv"`
	User      string      `json:"user"`
	Cwd       string      `json:"cwd"`
	PTY       bool        `json:"pty"`
	Keep      bool        `json:"keep"`
	StartedAt string      `json:"startedAt"`
	EndedAt   *string     `json:"endedAt"`
	Running   bool        `json:"running"`
	ExitCode  *int        `json:"exitCode"`
	Signal    *string     `json:"signal"`
	TimedOut  bool        `json:"timedOut"`
	Killed    bool        `json:"killed"`
	Stdout    StreamStats `json:"stdout"`
	Stderr    StreamStats `json:"stderr"`
}

// List answers list.
type List struct {
	Type  string     `json:"type"`
	Procs []ProcInfo `json:"procs"`
}

// Pong answers ping.
type Pong struct {
	Type     string `json:"type"`
	Agent    string `json:"agent"`
	Protocol int    `json:"protocol"`
	Procs    int    `json:"procs"`
	Attached int    `json:"attached"`
	UptimeMs int64  `json:"uptimeMs"`
	IdleMs   int64  `json:"idleMs"`
}

// Error is an error answer.
type Error struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Simple is a message with only a type (ok, keepalive, stdinClosed, kill, ping, list).
type Simple struct {
	Type string `json:"type"`
}

// FsStat describes one path (lstat; stat with Follow).
type FsStat struct {
	Type   string `json:"type"`
	Path   string `json:"path"`
	Follow bool   `json:"follow,omitempty"`
	User   string `json:"user,omitempty"`
}

// FsList lists a directory, Depth levels deep (1–32; 0 means 1).
type FsList struct {
	Type  string `json:"type"`
	Path  string `json:"path"`
	Depth int    `json:"depth,omitempty"`
	User  string `json:"user,omitempty"`
}

// FsMkdir creates a directory (Mode nil: 0755).
type FsMkdir struct {
	Type    string  `json:"type"`
	Path    string  `json:"path"`
	Parents bool    `json:"parents,omitempty"`
	Mode    *uint32 `json:"mode,omitempty"`
	User    string  `json:"user,omitempty"`
}

// FsRemove removes a file, link or (empty, or with Recursive any) directory.
type FsRemove struct {
	Type      string `json:"type"`
	Path      string `json:"path"`
	Recursive bool   `json:"recursive,omitempty"`
	User      string `json:"user,omitempty"`
}

// FsMove renames From to To (rename(2)).
type FsMove struct {
	Type string `json:"type"`
	From string `json:"from"`
	To   string `json:"to"`
	User string `json:"user,omitempty"`
}

// FsSymlink creates a symbolic link at Path holding Target.
type FsSymlink struct {
	Type   string `json:"type"`
	Path   string `json:"path"`
	Target string `json:"target"`
	User   string `json:"user,omitempty"`
}

// FsRead streams a regular file's bytes from Offset (Length nil or -1: to the end).
type FsRead struct {
	Type   string `json:"type"`
	Path   string `json:"path"`
	Offset int64  `json:"offset,omitempty"`
	Length *int64 `json:"length,omitempty"`
	User   string `json:"user,omitempty"`
}

// FsWrite replaces a file atomically with the bytes of the IN frames that follow.
type FsWrite struct {
	Type     string  `json:"type"`
	Path     string  `json:"path"`
	Mode     *uint32 `json:"mode,omitempty"`
	Parents  bool    `json:"parents,omitempty"`
	MaxBytes *int64  `json:"maxBytes,omitempty"`
	User     string  `json:"user,omitempty"`
}

// FsWatch streams change events under Path until the host closes the connection.
type FsWatch struct {
	Type      string `json:"type"`
	Path      string `json:"path"`
	Recursive bool   `json:"recursive,omitempty"`
	User      string `json:"user,omitempty"`
}

// Entry describes one file system entry. Mode holds the permission bits (with setuid,
// setgid and sticky); SymlinkTarget is set only for links.
type Entry struct {
	Name          string  `json:"name"`
	Path          string  `json:"path"`
	Type          string  `json:"type"` // file, dir, symlink, other
	Size          int64   `json:"size"`
	Mode          uint32  `json:"mode"`
	Permissions   string  `json:"permissions"`
	UID           uint32  `json:"uid"`
	GID           uint32  `json:"gid"`
	Owner         string  `json:"owner"`
	Group         string  `json:"group"`
	MTime         string  `json:"mtime"`
	SymlinkTarget *string `json:"symlinkTarget,omitempty"`
}

// EntryMsg answers stat, mkdir, move, symlink and write, and starts a read.
type EntryMsg struct {
	Type  string `json:"type"`
	Entry Entry  `json:"entry"`
}

// Entries is one batch of a list answer.
type Entries struct {
	Type    string  `json:"type"`
	Entries []Entry `json:"entries"`
}

// ListEnd ends a list answer; Truncated when the entry cap was reached.
type ListEnd struct {
	Type      string `json:"type"`
	Truncated bool   `json:"truncated"`
}

// ReadEnd ends a read answer with the number of bytes sent.
type ReadEnd struct {
	Type  string `json:"type"`
	Bytes int64  `json:"bytes"`
}

// Event is one change seen by a watch (op: create, write, remove, rename, chmod, overflow).
type Event struct {
	Type string `json:"type"`
	Op   string `json:"op"`
	Path string `json:"path"`
	Dir  bool   `json:"dir"`
}
