package output

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/tree"
)

// site is a small tree shaped like a render: a README, rootfs files in
// nested directories and a fragment.
func site() tree.Tree {
	t := tree.Tree{}
	t.Add("README.md", []byte("# rendered\n"), 0o644)
	t.Add("rootfs/opt/podman/immich/docker-compose.yml", []byte("name: immich\nservices:\n  server:\n    image: ghcr.io/immich-app/immich-server:v3.1.0\n"), 0o644)
	t.Add("rootfs/etc/systemd/system/immich.service", []byte("[Unit]\nDescription=Immich\n"), 0o644)
	t.Add("rootfs/etc/valkey/users.acl", []byte("user immich on #abc ~immich_bull* +@read\n"), 0o640)
	t.Add("rootfs/etc/nginx/conf.d/immich.conf", []byte("server {\n\tlisten 443 ssl;\n}\n"), 0o644)
	t.Add("fragments/pg_hba.conf", []byte("host immich immich 172.20.0.0/16 scram-sha-256\n"), 0o644)
	return t
}

// without returns a copy of t without the given paths.
func without(t tree.Tree, paths ...string) tree.Tree {
	out := tree.Tree{}
	for p, f := range t {
		if !slices.Contains(paths, p) {
			out[p] = f
		}
	}
	return out
}

// with returns a copy of t with p set to data and mode.
func with(t tree.Tree, p, data string, mode fs.FileMode) tree.Tree {
	out := without(t, p)
	out[p] = tree.File{Data: []byte(data), Mode: mode}
	return out
}

var testOpt = Options{Version: "v0.1.0", Meta: map[string]string{"immichVersion": "v3.1.0"}}

// node is what a snapshot records of one path, from Lstat.
type node struct {
	mode  fs.FileMode
	data  string // file contents, or a link's target
	mtime time.Time
}

// snapshot records everything under dir without following links.
func snapshot(t *testing.T, dir string) map[string]node {
	t.Helper()
	out := map[string]node{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n := node{mode: fi.Mode(), mtime: fi.ModTime()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			n.data, err = os.Readlink(p)
		case fi.Mode().IsRegular():
			var b []byte
			b, err = os.ReadFile(p)
			n.data = string(b)
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = n
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameSnapshot fails unless a and b are identical, naming every difference.
func sameSnapshot(t *testing.T, what string, a, b map[string]node) {
	t.Helper()
	var diffs []string
	for p, n := range a {
		m, ok := b[p]
		switch {
		case !ok:
			diffs = append(diffs, "gone: "+p)
		case m.mode != n.mode || m.data != n.data || !m.mtime.Equal(n.mtime):
			diffs = append(diffs, fmt.Sprintf("changed: %s (%v %q %v -> %v %q %v)", p, n.mode, n.data, n.mtime, m.mode, m.data, m.mtime))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, "appeared: "+p)
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s changed:\n%s", what, strings.Join(diffs, "\n"))
	}
}

// assertExactly fails unless dir holds exactly the files of want plus the
// manifest, with their bytes and modes, directories of dirMode and nothing
// else, and Check finds no drift.
func assertExactly(t *testing.T, dir string, want tree.Tree, opt Options) {
	t.Helper()
	snap := snapshot(t, dir)
	delete(snap, ".")
	manifest, ok := snap[ManifestName]
	if !ok {
		t.Errorf("%s has no manifest", dir)
	} else if wantM := string(NewManifest(want, opt).Marshal()); manifest.data != wantM {
		t.Errorf("manifest:\n%s\nwant:\n%s", manifest.data, wantM)
	} else if manifest.mode != opt.manifestMode() {
		t.Errorf("manifest mode %v, want %v", manifest.mode, opt.manifestMode())
	}
	delete(snap, ManifestName)
	dirs := neededDirs(want)
	for p, n := range snap {
		f, isFile := want[p]
		switch {
		case isFile && (n.mode != f.Mode || n.data != string(f.Data)):
			t.Errorf("%s: mode %v, %q; want %v, %q", p, n.mode, n.data, f.Mode, f.Data)
		case dirs[p] && n.mode != fs.ModeDir|opt.dirMode():
			t.Errorf("%s: mode %v, want %v", p, n.mode, fs.ModeDir|opt.dirMode())
		case !isFile && !dirs[p]:
			t.Errorf("%s: should not exist (%v)", p, n.mode)
		}
	}
	for p := range want {
		if _, ok := snap[p]; !ok {
			t.Errorf("%s: missing", p)
		}
	}
	d, err := Check(dir, want, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Empty() {
		var b bytes.Buffer
		d.Format(&b)
		t.Errorf("Check after Write found drift:\n%s", b.String())
	}
}

func mustWrite(t *testing.T, dir string, tr tree.Tree, opt Options) Report {
	t.Helper()
	r, err := Write(dir, tr, opt)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return r
}

func writeFile(t *testing.T, p, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func formatted(t *testing.T, d Drift) string {
	t.Helper()
	var b strings.Builder
	if err := d.Format(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
