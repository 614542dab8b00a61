package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// PollInterval is how often the policy file is checked when inotify cannot say.
const PollInterval = time.Second

// watch re-reads the policy file when it changes: inotify on the state directory (the
// host renames a new file into place), and a slow poll of the file's identity as a
// fallback. It returns a function that stops watching.
func (g *Gateway) watch() func() {
	path := filepath.Join(g.cfg.StateDir, PolicyFile)
	stop := make(chan struct{})
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	var inotify *os.File
	if fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK); err == nil {
		if _, err := syscall.InotifyAddWatch(fd, g.cfg.StateDir, syscall.IN_MOVED_TO|syscall.IN_CLOSE_WRITE|syscall.IN_CREATE); err == nil {
			inotify = os.NewFile(uintptr(fd), "inotify")
		} else {
			syscall.Close(fd)
		}
	}
	if inotify != nil {
		go func() {
			buf := make([]byte, 16<<10)
			for {
				n, err := inotify.Read(buf)
				if err != nil {
					return
				}
				for off := 0; off+syscall.SizeofInotifyEvent <= n; {
					ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
					nameEnd := off + syscall.SizeofInotifyEvent + int(ev.Len)
					if nameEnd > n {
						break
					}
					name := strings.TrimRight(string(buf[off+syscall.SizeofInotifyEvent:nameEnd]), "\x00")
					if name == PolicyFile {
						notify()
					}
					off = nameEnd
				}
			}
		}()
	}
	go func() {
		last := stamp(path)
		tick := time.NewTicker(PollInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-changed:
			case <-tick.C:
			}
			if now := stamp(path); now != last {
				last = now
				g.reload()
			}
		}
	}()
	return func() {
		close(stop)
		if inotify != nil {
			inotify.Close()
		}
	}
}
