// Package users resolves a user spec ("name", "uid", "uid:gid", "name:group") against the
// container's own /etc/passwd and /etc/group, as podman exec does.
package users

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// User is a resolved user.
type User struct {
	Name   string // empty when the uid has no passwd entry
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups (from /etc/group membership)
	Home   string
}

// Label is the name when known, else the uid.
func (u *User) Label() string {
	if u.Name != "" {
		return u.Name
	}
	return strconv.FormatUint(uint64(u.UID), 10)
}

// ErrUnknown is wrapped by errors for names that are not in the files.
var ErrUnknown = errors.New("unknown user or group")

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// fileCache holds a file's parsed entries until the file changes: every command resolves
// its user, so parsing per request was a cost paid thousands of times a session.
// Entries are shared: callers only read them.
type fileCache[T any] struct {
	mu     sync.Mutex
	key    [3]int64 // ino, size, mtime
	loaded bool
	val    []T
}

func (c *fileCache[T]) load(path string, fields int, parse func(f []string) (T, bool)) []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		c.key, c.val, c.loaded = [3]int64{}, nil, false
		return nil
	}
	key := [3]int64{int64(st.Ino), st.Size, st.Mtim.Nano()}
	if key == c.key && c.loaded {
		return c.val
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) < fields {
			continue
		}
		if e, ok := parse(parts); ok {
			out = append(out, e)
		}
	}
	c.key, c.val, c.loaded = key, out, true
	return out
}

// DB reads users and groups from a root directory's etc/passwd and etc/group.
type DB struct {
	passwdPath, groupPath string
	passwd                fileCache[passwdEntry]
	group                 fileCache[groupEntry]
}

// New returns a DB over root (normally "/"). Files are reread when they change.
func New(root string) *DB {
	root = strings.TrimSuffix(root, "/")
	return &DB{passwdPath: root + "/etc/passwd", groupPath: root + "/etc/group"}
}

func parseID(s string) (uint32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil
}

func (db *DB) users() []passwdEntry {
	return db.passwd.load(db.passwdPath, 7, func(f []string) (passwdEntry, bool) {
		uid, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		return passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5]}, ok1 && ok2 && f[0] != ""
	})
}

func (db *DB) groups() []groupEntry {
	return db.group.load(db.groupPath, 4, func(f []string) (groupEntry, bool) {
		gid, ok := parseID(f[2])
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		return groupEntry{name: f[0], gid: gid, members: members}, ok && f[0] != ""
	})
}

// Lookup resolves spec. An empty spec is root. Unknown names are errors; an unknown
// numeric uid runs as that uid with gid 0 (or the given gid) and HOME "/".
func (db *DB) Lookup(spec string) (*User, error) {
	if spec == "" {
		spec = "0"
	}
	if strings.ContainsAny(spec, "\x00\n") || len(spec) > 256 {
		return nil, fmt.Errorf("invalid user %q", spec)
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" || (hasGroup && groupPart == "") {
		return nil, fmt.Errorf("invalid user %q", spec)
	}
	u := &User{Home: "/"}
	var entry *passwdEntry
	all := db.users()
	if uid, ok := parseID(userPart); ok {
		u.UID = uid
		for i := range all {
			if all[i].uid == uid {
				entry = &all[i]
				break
			}
		}
	} else {
		for i := range all {
			if all[i].name == userPart {
				entry = &all[i]
				break
			}
		}
		if entry == nil {
			return nil, fmt.Errorf("%w: user %q is not in /etc/passwd", ErrUnknown, userPart)
		}
		u.UID = entry.uid
	}
	if entry != nil {
		u.Name, u.GID = entry.name, entry.gid
		if entry.home != "" {
			u.Home = entry.home
		}
	}
	groups := db.groups()
	if hasGroup {
		if gid, ok := parseID(groupPart); ok {
			u.GID = gid
		} else {
			found := false
			for _, g := range groups {
				if g.name == groupPart {
					u.GID, found = g.gid, true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("%w: group %q is not in /etc/group", ErrUnknown, groupPart)
			}
		}
	}
	if u.Name != "" {
		seen := map[uint32]bool{}
		for _, g := range groups {
			for _, m := range g.members {
				if m == u.Name && !seen[g.gid] {
					seen[g.gid] = true
					u.Groups = append(u.Groups, g.gid)
				}
			}
		}
	}
	return u, nil
}

// UserName is the name /etc/passwd gives uid (the first entry), or "" when none does.
func (db *DB) UserName(uid uint32) string {
	for _, u := range db.users() {
		if u.uid == uid {
			return u.name
		}
	}
	return ""
}

// GroupName is the name /etc/group gives gid (the first entry), or "" when none does.
func (db *DB) GroupName(gid uint32) string {
	for _, g := range db.groups() {
		if g.gid == gid {
			return g.name
		}
	}
	return ""
}
