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
	for _, d := range differences(t, dir, want, opt) {
		t.Error(d)
	}
}

// differences lists how dir differs from exactly the files of want plus
// the manifest (bytes, modes, directories of dirMode, nothing else), and
// the drift Check finds; none when dir is exactly want.
func differences(t *testing.T, dir string, want tree.Tree, opt Options) []string {
	t.Helper()
	var out []string
	snap := snapshot(t, dir)
	delete(snap, ".")
	manifest, ok := snap[ManifestName]
	if !ok {
		out = append(out, fmt.Sprintf("%s has no manifest", dir))
	} else if wantM := string(NewManifest(want, opt).Marshal()); manifest.data != wantM {
		out = append(out, fmt.Sprintf("manifest:\n%s\nwant:\n%s", manifest.data, wantM))
	} else if manifest.mode != opt.manifestMode() {
		out = append(out, fmt.Sprintf("manifest mode %v, want %v", manifest.mode, opt.manifestMode()))
	}
	delete(snap, ManifestName)
	dirs := neededDirs(want)
	for p, n := range snap {
		f, isFile := want[p]
		switch {
		case isFile && (n.mode != f.Mode || n.data != string(f.Data)):
			out = append(out, fmt.Sprintf("%s: mode %v, %q; want %v, %q", p, n.mode, n.data, f.Mode, f.Data))
		case dirs[p] && n.mode != fs.ModeDir|opt.dirMode():
			out = append(out, fmt.Sprintf("%s: mode %v, want %v", p, n.mode, fs.ModeDir|opt.dirMode()))
		case !isFile && !dirs[p]:
			out = append(out, fmt.Sprintf("%s: should not exist (%v)", p, n.mode))
		}
	}
	for p := range want {
		if _, ok := snap[p]; !ok {
			out = append(out, fmt.Sprintf("%s: missing", p))
		}
	}
	d, err := Check(dir, want, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Empty() {
		var b bytes.Buffer
		d.Format(&b)
		out = append(out, "Check found drift:\n"+b.String())
	}
	slices.Sort(out)
	return out
}

// exactlyOneOf fails unless dir is exactly one of the trees (see
// differences), and returns which.
func exactlyOneOf(t *testing.T, dir string, opt Options, trees ...tree.Tree) int {
	t.Helper()
	var why []string
	for i, tr := range trees {
		d := differences(t, dir, tr, opt)
		if len(d) == 0 {
			return i
		}
		if len(d) > 5 {
			d = append(d[:5], fmt.Sprintf("and %d more", len(d)-5))
		}
		why = append(why, fmt.Sprintf("not tree %d:\n%s", i, strings.Join(d, "\n")))
	}
	t.Errorf("%s is none of the %d trees:\n%s", dir, len(trees), strings.Join(why, "\n"))
	return -1
}

// staged lists the staging directories of dir beside it.
func staged(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if isStagingName(e.Name(), filepath.Base(dir)) {
			out = append(out, filepath.Join(filepath.Dir(dir), e.Name()))
		}
	}
	return out
}

// noLeftovers fails if a staging directory of dir is left beside it.
func noLeftovers(t *testing.T, dir string) {
	t.Helper()
	if s := staged(t, dir); len(s) > 0 {
		t.Errorf("left beside %s: %v", dir, s)
	}
}

// besides records everything beside dir in its parent, dir itself and its
// staging directories aside, to prove that a write changed nothing else.
func besides(t *testing.T, dir string) map[string]node {
	t.Helper()
	all := snapshot(t, filepath.Dir(dir))
	delete(all, ".") // its mtime moves with every swap
	base := filepath.Base(dir)
	for p := range all {
		top, _, _ := strings.Cut(p, "/")
		if top == base || isStagingName(top, base) {
			delete(all, p)
		}
	}
	return all
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
