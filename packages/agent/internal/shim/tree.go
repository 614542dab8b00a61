package shim

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// procEntry is what the tree walk needs from /proc/<pid>/stat.
type procEntry struct {
	pid, ppid int
	zombie    bool
}

// parseStat parses "pid (comm) S ppid …"; comm may hold spaces and parentheses.
func parseStat(b []byte) (procEntry, bool) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open <= 0 || closing < open {
		return procEntry{}, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return procEntry{}, false
	}
	fields := bytes.Fields(b[closing+1:])
	if len(fields) < 2 {
		return procEntry{}, false
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return procEntry{}, false
	}
	return procEntry{pid: pid, ppid: ppid, zombie: len(fields[0]) == 1 && (fields[0][0] == 'Z' || fields[0][0] == 'X')}, true
}

// scanProc reads every process's parent from /proc.
func scanProc() []procEntry {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	out := make([]procEntry, 0, len(names))
	buf := make([]byte, 512)
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		fd, err := syscall.Open("/proc/"+name+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue // gone meanwhile
		}
		n, _ := syscall.Read(fd, buf)
		syscall.Close(fd)
		if n <= 0 {
			continue
		}
		if e, ok := parseStat(buf[:n]); ok {
			out = append(out, e)
		}
	}
	return out
}

// Others returns the living processes that are neither self nor in skip (what is left
// to wait for when init stops).
func Others(self int, skip map[int]bool) []int {
	var out []int
	for _, e := range scanProc() {
		if e.pid != self && !e.zombie && !skip[e.pid] {
			out = append(out, e.pid)
		}
	}
	return out
}

// Descendants returns the living (non-zombie) processes below root, and how many zombies.
func Descendants(root int) (alive []int, zombies int) {
	entries := scanProc()
	children := make(map[int][]procEntry, len(entries))
	for _, e := range entries {
		children[e.ppid] = append(children[e.ppid], e)
	}
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if c.pid == root {
				continue
			}
			if c.zombie {
				zombies++
			} else {
				alive = append(alive, c.pid)
			}
			queue = append(queue, c.pid)
		}
	}
	return alive, zombies
}

// KillTree SIGKILLs every descendant of root, round after round, until none is alive (or
// the limit passes: a process stuck in uninterruptible sleep cannot die at once). As a
// subreaper, root inherits every orphan, so nothing forked below it escapes the walk.
func KillTree(root int, limit time.Duration) (remaining int) {
	deadline := time.Now().Add(limit)
	for round := 0; ; round++ {
		alive, _ := Descendants(root)
		if len(alive) == 0 {
			return 0
		}
		for _, pid := range alive {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return len(alive)
		}
		time.Sleep(time.Duration(min(round+1, 20)) * 500 * time.Microsecond)
	}
}
