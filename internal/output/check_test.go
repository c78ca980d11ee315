package output

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/tree"
)

func mustCheck(t *testing.T, dir string, tr tree.Tree, opt Options) Drift {
	t.Helper()
	d, err := Check(dir, tr, opt)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return d
}

func TestCheckClean(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	d := mustCheck(t, dir, site(), testOpt)
	if !d.Empty() {
		t.Errorf("drift on a clean directory: %+v", d)
	}
	if got := formatted(t, d); got != "" {
		t.Errorf("Format of no drift printed %q", got)
	}
}

func TestCheckHandEdit(t *testing.T) {
	dir := t.TempDir()
	tr := site()
	tr["rootfs/etc/app.conf"] = tree.File{Data: []byte("one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n"), Mode: 0o644}
	mustWrite(t, dir, tr, testOpt)
	writeFile(t, filepath.Join(dir, "rootfs/etc/app.conf"), "one\ntwo\nthree\nfour\nFIVE\nsix\nseven\neight\nnine\nten\neleven\n", 0o644)
	before := snapshot(t, dir)

	d := mustCheck(t, dir, tr, testOpt)
	want := `--- a/rootfs/etc/app.conf
+++ b/rootfs/etc/app.conf
@@ -2,10 +2,9 @@
 two
 three
 four
-FIVE
+five
 six
 seven
 eight
 nine
 ten
-eleven
1 file differs, 0 new, 0 removed
`
	if got := formatted(t, d); got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
	if len(d.Changed) != 1 || !d.Changed[0].Content || d.Changed[0].Binary {
		t.Errorf("Changed = %+v", d.Changed)
	}
	sameSnapshot(t, "a checked directory", before, snapshot(t, dir))
}

func TestCheckStrayAndModes(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	writeFile(t, filepath.Join(dir, "rootfs/etc/stray.conf"), "x\n", 0o644)
	writeFile(t, filepath.Join(dir, "old/a/b.txt"), "x\n", 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "empty/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "rootfs/etc/valkey/users.acl"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "rootfs/etc/systemd"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "README.md"))
	before := snapshot(t, dir)

	d := mustCheck(t, dir, site(), testOpt)
	want := "mode 0700 -> 0755: rootfs/etc/systemd/\n" +
		"mode 0644 -> 0640: rootfs/etc/valkey/users.acl\n" +
		"new: README.md\n" +
		"removed: empty/\n" +
		"removed: old/a/b.txt\n" +
		"removed: rootfs/etc/stray.conf\n" +
		"2 files differ, 1 new, 3 removed\n"
	if got := formatted(t, d); got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
	sameSnapshot(t, "a checked directory", before, snapshot(t, dir))
	mustWrite(t, dir, site(), testOpt)
	assertExactly(t, dir, site(), testOpt)
}

func TestCheckMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	d := mustCheck(t, dir, site(), testOpt)
	if !slices.Equal(d.New, site().Paths()) || len(d.Changed)+len(d.Removed) != 0 {
		t.Errorf("drift %+v, want every file new", d)
	}
	if !strings.HasSuffix(formatted(t, d), "\n0 files differ, 6 new, 0 removed\n") {
		t.Errorf("Format:\n%s", formatted(t, d))
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("Check created %s", dir)
	}
	d = mustCheck(t, dir, tree.Tree{}, testOpt)
	if !slices.Equal(d.New, []string{ManifestName}) {
		t.Errorf("empty tree, missing dir: %+v", d)
	}
}

// The manifest is drift on its own only when the files all match, and
// never for the tool version alone: a newer immich-render that renders the
// same bytes changes nothing deployed.
func TestCheckManifest(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	bumped := testOpt
	bumped.Version = "v0.2.0"
	d := mustCheck(t, dir, site(), bumped)
	if !d.Empty() || d.RecordedVersion != testOpt.Version {
		t.Errorf("tool version only: %+v, want no drift and RecordedVersion %s", d, testOpt.Version)
	}
	if d := mustCheck(t, dir, site(), testOpt); d.RecordedVersion != "" {
		t.Errorf("same version: RecordedVersion = %q", d.RecordedVersion)
	}

	// The metadata (the Immich version) is the deployment: drift.
	meta := bumped
	meta.Meta = map[string]string{"immichVersion": "v3.2.0"}
	d = mustCheck(t, dir, site(), meta)
	want := `--- a/.immich-render.json
+++ b/.immich-render.json
@@ -33,8 +33,8 @@
   ],
   "format": 1,
   "meta": {
-    "immichVersion": "v3.1.0"
+    "immichVersion": "v3.2.0"
   },
   "tool": "immich-render",
-  "version": "v0.1.0"
+  "version": "v0.2.0"
 }
1 file differs, 0 new, 0 removed
`
	if got := formatted(t, d); got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}

	// With a file that differs, the manifest is a consequence, not news.
	writeFile(t, filepath.Join(dir, "README.md"), "edited\n", 0o644)
	d = mustCheck(t, dir, site(), meta)
	if len(d.Changed) != 1 || d.Changed[0].Path != "README.md" {
		t.Errorf("Changed = %+v, want README.md only", d.Changed)
	}

	// A missing manifest is a new file; a hidden diff hides it too.
	mustWrite(t, dir, site(), testOpt)
	os.Remove(filepath.Join(dir, ManifestName))
	if d := mustCheck(t, dir, site(), testOpt); !slices.Equal(d.New, []string{ManifestName}) {
		t.Errorf("missing manifest: %+v", d)
	}
	mustWrite(t, dir, site(), Options{Force: true, Version: testOpt.Version, Meta: testOpt.Meta})
	hidden := meta
	hidden.NoDiffContent = true
	if got, want := formatted(t, mustCheck(t, dir, site(), hidden)), "contents differ: .immich-render.json\n1 file differs, 0 new, 0 removed\n"; got != want {
		t.Errorf("hidden manifest diff:\n%s\nwant:\n%s", got, want)
	}
}

// For a secrets tree, Check names files but never prints their contents.
func TestCheckNoDiffContent(t *testing.T) {
	dir := t.TempDir()
	opt := Options{DirMode: 0o700, NoDiffContent: true}
	secrets := tree.Tree{}
	secrets.Add("rootfs/opt/podman/immich/secrets/db", []byte("old-password-1234\n"), 0o600)
	secrets.Add("rootfs/opt/podman/immich/secrets/redis", []byte("redis-password-1234\n"), 0o600)
	mustWrite(t, dir, secrets, opt)
	changed := with(secrets, "rootfs/opt/podman/immich/secrets/db", "new-password-5678\n", 0o600)
	writeFile(t, filepath.Join(dir, "rootfs/opt/podman/immich/secrets/stray"), "stray-password\n", 0o600)
	got := formatted(t, mustCheck(t, dir, changed, opt))
	want := "contents differ: rootfs/opt/podman/immich/secrets/db\n" +
		"removed: rootfs/opt/podman/immich/secrets/stray\n" +
		"1 file differs, 0 new, 1 removed\n"
	if got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "password") && strings.Contains(got, "-1234") {
		t.Errorf("a secret leaked: %s", got)
	}
}

func TestCheckBinary(t *testing.T) {
	dir := t.TempDir()
	tr := tree.Tree{}
	tr.Add("logo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), 0o644)
	tr.Add("latin1.txt", []byte("caf\xe9\n"), 0o644)
	mustWrite(t, dir, tr, testOpt)
	writeFile(t, filepath.Join(dir, "logo.png"), "\x89PNG\r\n\x1a\n\x00\x01", 0o644)
	writeFile(t, filepath.Join(dir, "latin1.txt"), "the\n", 0o600)
	got := formatted(t, mustCheck(t, dir, tr, testOpt))
	want := "mode 0600 -> 0644: latin1.txt\n" +
		"binary files differ: latin1.txt\n" +
		"binary files differ: logo.png\n" +
		"2 files differ, 0 new, 0 removed\n"
	if got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
}

// Check waits for no one when nobody writes, and takes only a shared lock:
// two checks run side by side.
func TestCheckConcurrentChecks(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	h, err := openLocked(dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	waited := false
	opt := testOpt
	opt.OnWait = func() { waited = true }
	if d := mustCheck(t, dir, site(), opt); !d.Empty() || waited {
		t.Errorf("Check beside another check: drift %+v, waited %v", d, waited)
	}
}

// A git checkout has umask modes; with GitModes it is no drift, but a
// render that changes a mode still is, through the manifest.
func TestCheckGitModes(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o775)
		}
		return os.Chmod(p, 0o664)
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := mustCheck(t, dir, site(), testOpt); len(d.Changed) != 17 {
		t.Errorf("exact modes: %d changes, want 17 (6 files, 11 directories)", len(d.Changed))
	}
	git := testOpt
	git.GitModes = true
	if d := mustCheck(t, dir, site(), git); !d.Empty() {
		t.Errorf("GitModes: drift on a checkout:\n%s", formatted(t, d))
	}
	tighter := with(site(), "rootfs/etc/valkey/users.acl", string(site()["rootfs/etc/valkey/users.acl"].Data), 0o600)
	got := formatted(t, mustCheck(t, dir, tighter, git))
	if !strings.Contains(got, "-      \"mode\": \"0640\",\n+      \"mode\": \"0600\",\n") || !strings.HasSuffix(got, "\n1 file differs, 0 new, 0 removed\n") {
		t.Errorf("GitModes, a mode changed by the render:\n%s", got)
	}
	executable := with(site(), "README.md", string(site()["README.md"].Data), 0o755)
	if got := formatted(t, mustCheck(t, dir, executable, git)); got != "mode 0664 -> 0755: README.md\n1 file differs, 0 new, 0 removed\n" {
		t.Errorf("GitModes, an executable bit:\n%s", got)
	}
}
