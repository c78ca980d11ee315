package output

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/immich-render/immich-render/internal/tree"
)

// smallFleet is a tree shaped like a fleet's: an index at the top and the
// directories of the hosts h1, h2 and h3, each a site().
func smallFleet() tree.Tree {
	t := tree.Tree{}
	t.Add("README.md", []byte("# fleet\n"), 0o644)
	for _, h := range []string{"h1", "h2", "h3"} {
		for p, f := range site() {
			t.Add(h+"/"+p, f.Data, f.Mode)
		}
	}
	return t
}

// checkInParts is Check through a Checking, as a fleet check does it: each
// host's directory compared on its own (concurrently), then the whole tree.
// It returns the drift and the tree as Finish got it.
func checkInParts(t *testing.T, dir string, tr tree.Tree, opt Options) (Drift, tree.Tree) {
	t.Helper()
	c := BeginCheck(dir)
	defer c.Close()
	whole := tree.Tree{}
	parts := map[string]tree.Tree{}
	for p, f := range tr {
		h, rel, nested := strings.Cut(p, "/")
		if !nested {
			whole[p] = f
			continue
		}
		if parts[h] == nil {
			parts[h] = tree.Tree{}
		}
		parts[h][rel] = f
	}
	var wg sync.WaitGroup
	for h, part := range parts {
		wg.Go(func() { c.CompareDir(h, part) })
	}
	wg.Wait()
	for h, part := range parts {
		for rel, f := range part {
			whole[h+"/"+rel] = f
		}
	}
	d, err := c.Finish(whole, opt)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return d, whole
}

// copyTree copies t and its files' bytes: CompareDir drops bytes from the
// tree it is given.
func copyTree(t tree.Tree) tree.Tree {
	out := tree.Tree{}
	for p, f := range t {
		f.Data = bytes.Clone(f.Data)
		out[p] = f
	}
	return out
}

// lastByte rewrites the last byte of the file p under dir, keeping its
// size: only a comparison of the whole file sees it.
func lastByte(t *testing.T, dir, p string) {
	t.Helper()
	name := filepath.Join(dir, filepath.FromSlash(p))
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] = '!'
	if err := os.WriteFile(name, data, 0); err != nil {
		t.Fatal(err)
	}
}

// TestCheckingIsCheck compares, for each way a directory can drift, a
// Checking given the hosts' directories first with Check given the whole
// tree: the drift is the same, to the byte, in every mode of comparison.
func TestCheckingIsCheck(t *testing.T) {
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		drift  func(t *testing.T, dir string)
		render tree.Tree // what the check renders; nil: smallFleet()
	}{
		{name: "clean", drift: func(*testing.T, string) {}},
		{name: "last byte of a file", drift: func(t *testing.T, dir string) { lastByte(t, dir, "h2/rootfs/etc/valkey/users.acl") }},
		{name: "last byte of the index", drift: func(t *testing.T, dir string) { lastByte(t, dir, "README.md") }},
		{name: "mode only", drift: func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, "h1/README.md"), 0o600)) }},
		{name: "executable bit", drift: func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, "h3/README.md"), 0o755)) }},
		{name: "directory mode", drift: func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, "h1/rootfs/etc"), 0o700)) }},
		{name: "host directory mode", drift: func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, "h2"), 0o700)) }},
		{name: "a file is a link", drift: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "h1/fragments/pg_hba.conf")
			must(t, os.Remove(p))
			must(t, os.Symlink("../../h2/fragments/pg_hba.conf", p))
		}},
		{name: "a host is a link", drift: func(t *testing.T, dir string) {
			must(t, os.RemoveAll(filepath.Join(dir, "h2")))
			must(t, os.Symlink("h1", filepath.Join(dir, "h2")))
		}},
		{name: "a host is a file", drift: func(t *testing.T, dir string) {
			must(t, os.RemoveAll(filepath.Join(dir, "h2")))
			writeFile(t, filepath.Join(dir, "h2"), "h2\n", 0o644)
		}},
		{name: "a host is gone", drift: func(t *testing.T, dir string) { must(t, os.RemoveAll(filepath.Join(dir, "h3"))) }},
		{name: "strays", drift: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "h1/rootfs/etc/stray.conf"), "stray\n", 0o644)
			must(t, os.MkdirAll(filepath.Join(dir, "h2/empty/deeper"), 0o755))
			writeFile(t, filepath.Join(dir, "h4/README.md"), "# h4\n", 0o644)
		}},
		{name: "a directory is a file", drift: func(t *testing.T, dir string) {
			must(t, os.RemoveAll(filepath.Join(dir, "h1/rootfs/etc/nginx")))
			writeFile(t, filepath.Join(dir, "h1/rootfs/etc/nginx"), "nginx\n", 0o644)
		}},
		{name: "manifest digest", drift: func(t *testing.T, dir string) {
			name := filepath.Join(dir, ManifestName)
			data, err := os.ReadFile(name)
			must(t, err)
			i := bytes.Index(data, []byte(`"path": "h2/README.md"`))
			j := i + bytes.Index(data[i:], []byte(`"sha256": "`)) + len(`"sha256": "`)
			data[j] ^= 1 // a hex digit, another one
			must(t, os.WriteFile(name, data, 0o644))
		}},
		{name: "manifest version", drift: func(t *testing.T, dir string) {
			name := filepath.Join(dir, ManifestName)
			data, err := os.ReadFile(name)
			must(t, err)
			must(t, os.WriteFile(name, bytes.Replace(data, []byte(`"version": "v0.1.0"`), []byte(`"version": "v0.0.9"`), 1), 0o644))
		}},
		{name: "render changes a file", drift: func(*testing.T, string) {},
			render: with(smallFleet(), "h1/README.md", "# rendered, later\n", 0o644)},
		{name: "render changes a mode", drift: func(*testing.T, string) {},
			render: with(smallFleet(), "h3/rootfs/etc/valkey/users.acl", string(site()["rootfs/etc/valkey/users.acl"].Data), 0o600)},
		{name: "render adds a host", drift: func(*testing.T, string) {},
			render: with(smallFleet(), "h4/README.md", "# h4\n", 0o644)},
		{name: "render drops a host", drift: func(*testing.T, string) {},
			render: without(smallFleet(), func() []string {
				var out []string
				for p := range site() {
					out = append(out, "h2/"+p)
				}
				return out
			}()...)},
	}
	git := testOpt
	git.GitModes = true
	hidden := testOpt
	hidden.NoDiffContent = true
	opts := map[string]Options{"exact": testOpt, "git": git, "no diff": hidden}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mustWrite(t, dir, smallFleet(), testOpt)
			tc.drift(t, dir)
			render := tc.render
			if render == nil {
				render = smallFleet()
			}
			for name, opt := range opts {
				want := mustCheck(t, dir, copyTree(render), opt)
				got, _ := checkInParts(t, dir, copyTree(render), opt)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: in parts:\n%s\nwhole:\n%s", name, formatted(t, got), formatted(t, want))
				}
			}
		})
	}
}

// TestCheckingKeepsWhatDiffers: the bytes of a file that differs only in
// its last byte, or only in its mode, are not taken for a match; the bytes
// CompareDir drops are exactly those of the files on disk as rendered.
func TestCheckingKeepsWhatDiffers(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, smallFleet(), testOpt)
	lastByte(t, dir, "h2/rootfs/etc/nginx/conf.d/immich.conf")
	if err := os.Chmod(filepath.Join(dir, "h1/fragments/pg_hba.conf"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, whole := checkInParts(t, dir, copyTree(smallFleet()), testOpt)
	want := "mode 0600 -> 0644: h1/fragments/pg_hba.conf\n" +
		"--- a/h2/rootfs/etc/nginx/conf.d/immich.conf\n+++ b/h2/rootfs/etc/nginx/conf.d/immich.conf\n" +
		"@@ -1,3 +1,3 @@\n server {\n \tlisten 443 ssl;\n-}!\n\\ No newline at end of file\n+}\n" +
		"2 files differ, 0 new, 0 removed\n"
	if got := formatted(t, d); got != want {
		t.Errorf("drift:\n%s\nwant:\n%s", got, want)
	}
	for p, f := range whole {
		kept := p == "README.md" || p == "h2/rootfs/etc/nginx/conf.d/immich.conf"
		if kept != (f.Data != nil) {
			t.Errorf("%s: bytes kept %v, want %v", p, f.Data != nil, kept)
		}
		if f.Mode != smallFleet()[p].Mode {
			t.Errorf("%s: mode %v, want %v", p, f.Mode, smallFleet()[p].Mode)
		}
	}
}

// TestCheckingHoldsTheLock: from BeginCheck to Finish, a Write of the
// directory waits, so the parts compared early and the rest see one tree.
func TestCheckingHoldsTheLock(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, smallFleet(), testOpt)
	c := BeginCheck(dir)
	waiting := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		opt := testOpt
		opt.OnWait = func() { close(waiting) }
		_, err := Write(dir, with(smallFleet(), "h1/README.md", "# rewritten\n", 0o644), opt)
		wrote <- err
	}()
	<-waiting
	part := tree.Tree{}
	for p, f := range copyTree(smallFleet()) {
		if rel, ok := strings.CutPrefix(p, "h1/"); ok {
			part[rel] = f
		}
	}
	c.CompareDir("h1", part)
	whole := copyTree(smallFleet())
	for rel, f := range part {
		whole["h1/"+rel] = f
	}
	d, err := c.Finish(whole, testOpt)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Empty() {
		t.Errorf("drift while a Write waited:\n%s", formatted(t, d))
	}
	if err := <-wrote; err != nil {
		t.Fatalf("Write after Finish: %v", err)
	}
	if d := mustCheck(t, dir, smallFleet(), testOpt); len(d.Changed) != 1 || d.Changed[0].Path != "h1/README.md" {
		t.Errorf("after the Write:\n%s", formatted(t, d))
	}
}

// TestCheckingMissingDir: a directory that does not exist when the check
// begins is every file new, and CompareDir keeps every byte.
func TestCheckingMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	d, whole := checkInParts(t, dir, copyTree(smallFleet()), testOpt)
	if want := mustCheck(t, dir, smallFleet(), testOpt); !reflect.DeepEqual(d, want) || len(d.New) != len(smallFleet()) {
		t.Errorf("in parts: %+v\nwhole: %+v", d, want)
	}
	for p, f := range whole {
		if f.Data == nil {
			t.Errorf("%s: bytes dropped", p)
		}
	}
}

// TestCheckingRefusesBytesAgain: a file CompareDir found on disk must not
// come back to Finish with bytes, which its comparison did not see.
func TestCheckingRefusesBytesAgain(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, smallFleet(), testOpt)
	c := BeginCheck(dir)
	part := tree.Tree{"README.md": {Data: []byte("# rendered\n"), Mode: 0o644}}
	c.CompareDir("h1", part)
	if part["README.md"].Data != nil {
		t.Fatal("the bytes of a matching file were kept")
	}
	if _, err := c.Finish(smallFleet(), testOpt); err == nil || !strings.Contains(err.Error(), "h1/README.md was compared") {
		t.Errorf("Finish with the bytes again: %v", err)
	}
}

// TestCheckingNeverWaitsEarly: BeginCheck on a directory a render holds
// does not wait, and compares nothing early (every byte stays); Finish
// waits for the render, saying so, as Check does.
func TestCheckingNeverWaitsEarly(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, smallFleet(), testOpt)
	held, err := Hold(dir, testOpt)
	if err != nil {
		t.Fatal(err)
	}
	c := BeginCheck(dir)
	part := tree.Tree{}
	for p, f := range copyTree(smallFleet()) {
		if rel, ok := strings.CutPrefix(p, "h1/"); ok {
			part[rel] = f
		}
	}
	c.CompareDir("h1", part)
	for rel, f := range part {
		if f.Data == nil {
			t.Errorf("h1/%s: bytes dropped while a render held the directory", rel)
		}
	}
	whole := copyTree(smallFleet())
	opt := testOpt
	waited := false
	opt.OnWait = func() {
		waited = true
		held.Close()
	}
	d, err := c.Finish(whole, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !waited || !d.Empty() {
		t.Errorf("Finish: waited %v, drift:\n%s", waited, formatted(t, d))
	}
}
