package files

import (
	"path/filepath"
	"syscall"
	"time"

	"axo.dev/agent/internal/users"
	"axo.dev/agent/internal/wire"
)

// timeLayout is RFC 3339 with nanoseconds (as the process table uses).
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// names resolves uids and gids to names from the container's passwd and group files,
// once per request.
type names struct {
	db     *users.DB
	users  map[uint32]string
	groups map[uint32]string
}

func newNames(db *users.DB) *names {
	return &names{db: db, users: map[uint32]string{}, groups: map[uint32]string{}}
}

func (n *names) user(uid uint32) string {
	if n == nil || n.db == nil {
		return ""
	}
	name, ok := n.users[uid]
	if !ok {
		name = n.db.UserName(uid)
		n.users[uid] = name
	}
	return name
}

func (n *names) group(gid uint32) string {
	if n == nil || n.db == nil {
		return ""
	}
	name, ok := n.groups[gid]
	if !ok {
		name = n.db.GroupName(gid)
		n.groups[gid] = name
	}
	return name
}

func fileType(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "file"
	case syscall.S_IFDIR:
		return "dir"
	case syscall.S_IFLNK:
		return "symlink"
	}
	return "other"
}

// permissions renders mode as ls does (-rwxr-xr-x, drwxrwxrwt, lrwxrwxrwx …).
func permissions(mode uint32) string {
	var b [10]byte
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		b[0] = 'd'
	case syscall.S_IFLNK:
		b[0] = 'l'
	case syscall.S_IFIFO:
		b[0] = 'p'
	case syscall.S_IFSOCK:
		b[0] = 's'
	case syscall.S_IFCHR:
		b[0] = 'c'
	case syscall.S_IFBLK:
		b[0] = 'b'
	default:
		b[0] = '-'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) != 0 {
			b[i+1] = rwx[i]
		} else {
			b[i+1] = '-'
		}
	}
	special := func(i int, bit uint32, set, unset byte) {
		if mode&bit != 0 {
			if b[i] == 'x' {
				b[i] = set
			} else {
				b[i] = unset
			}
		}
	}
	special(3, syscall.S_ISUID, 's', 'S')
	special(6, syscall.S_ISGID, 's', 'S')
	special(9, syscall.S_ISVTX, 't', 'T')
	return string(b[:])
}

// makeEntry describes st found at path (a clean absolute path).
func makeEntry(path string, st *syscall.Stat_t, n *names) wire.Entry {
	name := filepath.Base(path)
	return wire.Entry{
		Name:        name,
		Path:        path,
		Type:        fileType(st.Mode),
		Size:        st.Size,
		Mode:        st.Mode & 0o7777,
		Permissions: permissions(st.Mode),
		UID:         st.Uid,
		GID:         st.Gid,
		Owner:       n.user(st.Uid),
		Group:       n.group(st.Gid),
		MTime:       time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC().Format(timeLayout),
	}
}
