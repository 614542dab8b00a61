package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// File names in the state directory (the host's <run dir>/gw, never visible to the
// session).
const (
	PolicyFile  = "policy.json"  // written by the host (atomically), read here
	AppliedFile = "applied.json" // which policy generation is in force
	ReadyFile   = "ready.json"   // written once the gateway listens
	StatsFile   = "stats.json"   // cumulative counters
	AuditFile   = "audit.jsonl"  // one JSON record per connection
	AuditOld    = "audit.1.jsonl"
)

// PolicyDoc is the policy file.
type PolicyDoc struct {
	Version    int      `json:"version"`
	Generation int64    `json:"generation"`
	Entries    []string `json:"entries"`
}

// writeJSON writes v to dir/name atomically: a temporary file beside it, renamed over.
func writeJSON(dir, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.tmp", name, os.Getpid()))
	fd, err := syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(append(data, '\n'))
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp)
		if werr != nil {
			return werr
		}
		return cerr
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// readSmall reads a regular file of at most max bytes without following a link.
func readSmall(path string, max int64) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

// fileStamp identifies a version of a file (a rename replaces the inode).
type fileStamp struct {
	ino, size int64
	mtime     int64
}

func stamp(path string) fileStamp {
	var st syscall.Stat_t
	if syscall.Lstat(path, &st) != nil {
		return fileStamp{}
	}
	return fileStamp{int64(st.Ino), st.Size, st.Mtim.Nano()}
}
