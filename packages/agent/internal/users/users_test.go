package users

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(`root:x:0:0:root:/root:/bin/sh
# comment
dev:x:1000:1000:Dev:/home/dev:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken:x:abc:1:::
nohome:x:1001:1001::::
`), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte(`root:x:0:
wheel:x:10:root,dev
docker:x:999:dev
dev:x:1000:
nogroup:x:65534:
`), 0o644)
	db := New(root)
	for _, tc := range []struct {
		spec string
		want *User
		err  bool
	}{
		{"", &User{Name: "root", UID: 0, GID: 0, Groups: []uint32{10}, Home: "/root"}, false},
		{"root", &User{Name: "root", UID: 0, GID: 0, Groups: []uint32{10}, Home: "/root"}, false},
		{"dev", &User{Name: "dev", UID: 1000, GID: 1000, Groups: []uint32{10, 999}, Home: "/home/dev"}, false},
		{"1000", &User{Name: "dev", UID: 1000, GID: 1000, Groups: []uint32{10, 999}, Home: "/home/dev"}, false},
		{"1000:65534", &User{Name: "dev", UID: 1000, GID: 65534, Groups: []uint32{10, 999}, Home: "/home/dev"}, false},
		{"dev:docker", &User{Name: "dev", UID: 1000, GID: 999, Groups: []uint32{10, 999}, Home: "/home/dev"}, false},
		{"nobody", &User{Name: "nobody", UID: 65534, GID: 65534, Home: "/nonexistent"}, false},
		{"4242", &User{UID: 4242, GID: 0, Home: "/"}, false},
		{"4242:7", &User{UID: 4242, GID: 7, Home: "/"}, false},
		{"nohome", &User{Name: "nohome", UID: 1001, GID: 1001, Home: "/"}, false},
		{"ghost", nil, true},
		{"dev:ghosts", nil, true},
		{":1", nil, true},
		{"1:", nil, true},
		{"99999999999", nil, true}, // not a uid (too large) and not a name
		{"a\x00b", nil, true},
	} {
		got, err := db.Lookup(tc.spec)
		if tc.err {
			if err == nil {
				t.Errorf("%q: want error, got %+v", tc.spec, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v %v, want %+v", tc.spec, got, err, tc.want)
		}
	}
	if _, err := db.Lookup("ghost"); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown name: %v", err)
	}
	// Names for ids (file owners): the first entry wins, unknown ids have none.
	for _, tc := range []struct {
		id          uint32
		user, group string
	}{{0, "root", "root"}, {1000, "dev", "dev"}, {999, "", "docker"}, {65534, "nobody", "nogroup"}, {4242, "", ""}} {
		if u, g := db.UserName(tc.id), db.GroupName(tc.id); u != tc.user || g != tc.group {
			t.Errorf("names of %d: %q %q, want %q %q", tc.id, u, g, tc.user, tc.group)
		}
	}
	// Files are reread when they change.
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("ghost:x:5:5::/g:/bin/sh\n"), 0o644)
	if u, err := db.Lookup("ghost"); err != nil || u.UID != 5 {
		t.Errorf("after change: %+v %v", u, err)
	}
	// No files at all: numeric ids still work.
	empty := New(t.TempDir())
	if u, err := empty.Lookup("0"); err != nil || u.UID != 0 || u.Home != "/" {
		t.Errorf("no files: %+v %v", u, err)
	}
}

func TestLookupSeesAChangedFile(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "etc"), 0o755)
	passwd := filepath.Join(root, "etc/passwd")
	os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644)
	db := New(root)
	if _, err := db.Lookup("dev"); err == nil {
		t.Fatal("dev found before it exists")
	}
	// useradd replaces the file: a new inode, a new size.
	tmp := passwd + ".new"
	os.WriteFile(tmp, []byte("root:x:0:0:root:/root:/bin/sh\ndev:x:1000:1000::/home/dev:/bin/sh\n"), 0o644)
	if err := os.Rename(tmp, passwd); err != nil {
		t.Fatal(err)
	}
	u, err := db.Lookup("dev")
	if err != nil || u.UID != 1000 || u.Home != "/home/dev" {
		t.Fatalf("got %+v, %v", u, err)
	}
}
