package output

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/tree"
)

func TestWriteCreatesMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "out")
	r := mustWrite(t, dir, site(), testOpt)
	assertExactly(t, dir, site(), testOpt)
	if want := site().Paths(); !slices.Equal(r.Written, want) || len(r.Unchanged) != 0 || len(r.Removed) != 0 || !r.Manifest {
		t.Errorf("report %+v, want every file written", r)
	}
	if got, want := r.String(), "wrote 6, unchanged 0, removed 0"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	fi, err := os.Lstat(dir)
	if err != nil || fi.Mode() != fs.ModeDir|0o755 {
		t.Errorf("DIR mode %v (%v), want drwxr-xr-x", fi.Mode(), err)
	}
}

func TestManifestExact(t *testing.T) {
	tr := tree.Tree{}
	tr.Add("b/x.conf", []byte("x\n"), 0o600)
	tr.Add("a.md", []byte("<a & b>\n"), 0o644)
	dir := t.TempDir()
	mustWrite(t, dir, tr, Options{Version: "v1.2.3", Meta: map[string]string{"zeta": "1", "immichVersion": "v3.1.0"}})
	got, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "files": [
    {
      "mode": "0644",
      "path": "a.md",
      "sha256": "ad196309512ae3f0e4465e44cd9df85621b380c23bcff3f5bea70808ba5dce56"
    },
    {
      "mode": "0600",
      "path": "b/x.conf",
      "sha256": "73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac"
    }
  ],
  "format": 1,
  "meta": {
    "immichVersion": "v3.1.0",
    "zeta": "1"
  },
  "tool": "immich-render",
  "version": "v1.2.3"
}
`
	if string(got) != want {
		t.Errorf("manifest:\n%s\nwant:\n%s", got, want)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta["immichVersion"] != "v3.1.0" || m.Version != "v1.2.3" || len(m.Files) != 2 {
		t.Errorf("ReadManifest = %+v", m)
	}
}

func TestReadManifestErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadManifest(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no manifest: %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadManifest(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no directory: %v, want fs.ErrNotExist", err)
	}
	outside := filepath.Join(t.TempDir(), "m.json")
	writeFile(t, outside, `{"tool":"immich-render","format":1,"files":[]}`, 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, ManifestName)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), "not a regular file (symbolic link)") {
		t.Errorf("symlinked manifest: %v", err)
	}
	os.Remove(filepath.Join(dir, ManifestName))
	writeFile(t, filepath.Join(dir, ManifestName), `{"files": [`, 0o644)
	if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), "is not an immich-render manifest") {
		t.Errorf("corrupt manifest: %v", err)
	}
}

// The manifest and the report depend on the tree's content only, never on
// the order a map yields it in.
func TestDeterministic(t *testing.T) {
	a, b := tree.Tree{}, tree.Tree{}
	paths := site().Paths()
	for _, p := range paths {
		a.Add(p, site()[p].Data, site()[p].Mode)
	}
	for _, p := range slices.Backward(paths) {
		b.Add(p, site()[p].Data, site()[p].Mode)
	}
	for range 20 {
		if string(NewManifest(a, testOpt).Marshal()) != string(NewManifest(b, testOpt).Marshal()) {
			t.Fatal("manifest depends on insertion order")
		}
	}
	d1, d2 := t.TempDir(), t.TempDir()
	r1, r2 := mustWrite(t, d1, a, testOpt), mustWrite(t, d2, b, testOpt)
	if r1.String() != r2.String() || !slices.Equal(r1.Written, r2.Written) || !slices.IsSorted(r1.Written) {
		t.Errorf("reports differ: %+v / %+v", r1, r2)
	}
}

func TestWriteUnchangedKeepsMtime(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, p := range append(site().Paths(), ManifestName) {
		if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, dir)

	r := mustWrite(t, dir, site(), testOpt)
	if len(r.Written) != 0 || len(r.Unchanged) != 6 || r.Manifest || r.String() != "wrote 0, unchanged 6, removed 0" {
		t.Errorf("report %+v (%s), want all unchanged", r, r)
	}
	sameSnapshot(t, "an identical rewrite", before, snapshot(t, dir))

	edited := with(site(), "README.md", "# rendered again\n", 0o644)
	r = mustWrite(t, dir, edited, testOpt)
	if !slices.Equal(r.Written, []string{"README.md"}) || !r.Manifest {
		t.Errorf("report %+v, want README.md written", r)
	}
	after := snapshot(t, dir)
	for p, n := range after {
		if n.mode.IsRegular() {
			if changed := !n.mtime.Equal(old); changed != (p == "README.md" || p == ManifestName) {
				t.Errorf("%s: mtime %v", p, n.mtime)
			}
		}
	}
}

func TestWriteRestoresAndPrunes(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	writeFile(t, filepath.Join(dir, "README.md"), "# hand edit\n", 0o644)
	if err := os.Chmod(filepath.Join(dir, "rootfs/etc/valkey/users.acl"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "fragments/pg_hba.conf"))
	writeFile(t, filepath.Join(dir, "notes.txt"), "stray\n", 0o644)
	writeFile(t, filepath.Join(dir, "old/feature/file.conf"), "stray\n", 0o644)
	writeFile(t, filepath.Join(dir, "rootfs/etc/.immich-render-tmp-0011223344556677"), "half", 0o600)
	for _, d := range []string{"empty/deeper/still", "rootfs/etc/void"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "rootfs/etc"), 0o700); err != nil {
		t.Fatal(err)
	}

	r := mustWrite(t, dir, site(), testOpt)
	assertExactly(t, dir, site(), testOpt)
	wantWritten := []string{"README.md", "fragments/pg_hba.conf", "rootfs/etc/valkey/users.acl"}
	wantRemoved := []string{"empty/", "notes.txt", "old/feature/file.conf", "rootfs/etc/.immich-render-tmp-0011223344556677", "rootfs/etc/void/"}
	if !slices.Equal(r.Written, wantWritten) || !slices.Equal(r.Removed, wantRemoved) || len(r.Unchanged) != 3 {
		t.Errorf("report:\n written %q\n removed %q\n unchanged %q\nwant written %q, removed %q", r.Written, r.Removed, r.Unchanged, wantWritten, wantRemoved)
	}
	if r.String() != "wrote 3, unchanged 3, removed 5" {
		t.Errorf("String() = %q", r)
	}
}

// Turning a feature off prunes its files and the directories they leave
// empty, and nothing else.
func TestWriteSubsetPrunesFeature(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	noNginx := without(site(), "rootfs/etc/nginx/conf.d/immich.conf")
	r := mustWrite(t, dir, noNginx, testOpt)
	assertExactly(t, dir, noNginx, testOpt)
	if !slices.Equal(r.Removed, []string{"rootfs/etc/nginx/conf.d/immich.conf"}) || r.String() != "wrote 0, unchanged 5, removed 1" {
		t.Errorf("report %+v (%s)", r, r)
	}
	if _, err := os.Lstat(filepath.Join(dir, "rootfs/etc/nginx")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rootfs/etc/nginx should be gone: %v", err)
	}
	// And back on.
	r = mustWrite(t, dir, site(), testOpt)
	assertExactly(t, dir, site(), testOpt)
	if !slices.Equal(r.Written, []string{"rootfs/etc/nginx/conf.d/immich.conf"}) {
		t.Errorf("report %+v", r)
	}
}

// A directory where the tree has a file, and a file where it needs a
// directory, are replaced.
func TestWriteTypeConflicts(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	os.Remove(filepath.Join(dir, "README.md"))
	writeFile(t, filepath.Join(dir, "README.md/inner.txt"), "x\n", 0o644)
	os.RemoveAll(filepath.Join(dir, "fragments"))
	writeFile(t, filepath.Join(dir, "fragments"), "a file\n", 0o644)

	d, err := Check(dir, site(), testOpt)
	if err != nil {
		t.Fatal(err)
	}
	want := "not a regular file (directory): README.md\n" +
		"new: fragments/pg_hba.conf\n" +
		"removed: README.md/inner.txt\n" +
		"removed: fragments\n" +
		"1 file differs, 1 new, 2 removed\n"
	if got := formatted(t, d); got != want {
		t.Errorf("Check:\n%s\nwant:\n%s", got, want)
	}
	mustWrite(t, dir, site(), testOpt)
	assertExactly(t, dir, site(), testOpt)
}

func TestWriteEmptyTree(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	r := mustWrite(t, dir, tree.Tree{}, testOpt)
	assertExactly(t, dir, tree.Tree{}, testOpt)
	if len(r.Removed) != 6 {
		t.Errorf("report %+v", r)
	}
}

func TestWriteRefusesForeignDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "holiday.jpg"), "\xff\xd8 photo", 0o600)
	writeFile(t, filepath.Join(dir, "docs/notes.md"), "mine\n", 0o644)
	writeFile(t, filepath.Join(dir, "a.txt"), "a\n", 0o644)
	writeFile(t, filepath.Join(dir, "b.txt"), "b\n", 0o644)
	before := snapshot(t, dir)

	_, err := Write(dir, site(), testOpt)
	if !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Write into a foreign directory: %v, want ErrNotOwned", err)
	}
	want := "refusing to write into " + dir + ": it is not empty (a.txt, b.txt, docs/ and 1 more) and it has no .immich-render.json, " +
		"so immich-render did not make it, and a render would delete every file in it that it does not produce; " +
		"choose a new or empty directory, or write with Options.Force to take it over"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	sameSnapshot(t, "a refused directory", before, snapshot(t, dir))

	// A manifest of another tool, or a corrupt one, is no ownership either.
	writeFile(t, filepath.Join(dir, ManifestName), `{"tool":"other","format":1,"files":[]}`, 0o644)
	before = snapshot(t, dir)
	if _, err := Write(dir, site(), testOpt); !errors.Is(err, ErrNotOwned) || !strings.Contains(err.Error(), `was written by "other"`) {
		t.Errorf("foreign manifest: %v", err)
	}
	sameSnapshot(t, "a refused directory", before, snapshot(t, dir))

	// --force takes it over: the foreign files go.
	force := testOpt
	force.Force = true
	r := mustWrite(t, dir, site(), force)
	assertExactly(t, dir, site(), testOpt)
	if want := []string{"a.txt", "b.txt", "docs/notes.md", "holiday.jpg"}; !slices.Equal(r.Removed, want) {
		t.Errorf("removed %q, want %q", r.Removed, want)
	}
	// Now it is owned: no --force needed.
	mustWrite(t, dir, site(), testOpt)
}

func TestWriteAcceptsEmptyDir(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	assertExactly(t, dir, site(), testOpt)
}

func TestWriteRefusesFileAndSymlink(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	writeFile(t, file, "x", 0o644)
	if _, err := Write(file, site(), testOpt); err == nil || !strings.Contains(err.Error(), "is a regular file, not a directory") {
		t.Errorf("DIR a file: %v", err)
	}
	if _, err := Check(file, site(), testOpt); err == nil {
		t.Error("Check accepted a file as DIR")
	}
	real := filepath.Join(base, "real")
	mustWrite(t, real, site(), testOpt)
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, real)
	for _, d := range []string{link, link + "/"} {
		_, err := Write(d, with(site(), "README.md", "changed\n", 0o644), testOpt)
		if err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
			t.Errorf("Write(%s): %v", d, err)
		}
		if _, err := Check(d, site(), testOpt); err == nil {
			t.Errorf("Check(%s) accepted a symbolic link", d)
		}
	}
	sameSnapshot(t, "the linked directory", before, snapshot(t, real))
}

func TestWriteRejectsBadTree(t *testing.T) {
	for name, tr := range map[string]tree.Tree{
		"file and dir": {"a": {Data: []byte("x")}, "a/b": {Data: []byte("y")}},
		"manifest":     {ManifestName: {Data: []byte("{}")}},
		"escape":       {"../x": {Data: []byte("x")}},
		"absolute":     {"/etc/x": {Data: []byte("x")}},
		"mode":         {"x": {Data: []byte("x"), Mode: fs.ModeSetuid | 0o755}},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		if _, err := Write(dir, tr, testOpt); err == nil || !strings.Contains(err.Error(), "renderer bug") {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: DIR was created for a bad tree", name)
		}
	}
}

func TestWriteModesExactUnderUmask(t *testing.T) {
	for _, umask := range []int{0o077, 0o000, 0o022} {
		for _, dirMode := range []fs.FileMode{0o755, 0o700} {
			old := syscall.Umask(umask)
			dir := filepath.Join(t.TempDir(), "new", "out")
			opt := testOpt
			opt.DirMode = dirMode
			tr := site()
			tr["secret"] = tree.File{Data: []byte("s\n"), Mode: 0o600}
			tr["bin/run"] = tree.File{Data: []byte("#!/bin/sh\n"), Mode: 0o755}
			tr["shared/rw"] = tree.File{Data: []byte("rw\n"), Mode: 0o666}
			_, err := Write(dir, tr, opt)
			// A re-render swaps a new tree in: its modes are exact too.
			tr2 := with(tr, "secret", "s2\n", 0o600)
			var r Report
			if err == nil {
				assertExactly(t, dir, tr, opt)
				r, err = Write(dir, tr2, opt)
			}
			syscall.Umask(old)
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != Swapped {
				t.Errorf("re-render: %+v", r)
			}
			assertExactly(t, dir, tr2, opt)
			fi, _ := os.Lstat(dir)
			if fi.Mode() != fs.ModeDir|dirMode {
				t.Errorf("umask %04o: DIR mode %v, want %v", umask, fi.Mode(), dirMode)
			}
			if m := opt.manifestMode(); m != dirMode&^0o111 {
				t.Errorf("manifest mode %v", m)
			}
		}
	}
}

// Nothing outside DIR is written or removed, whatever links DIR holds.
func TestWriteNeverFollowsSymlinks(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "target"), "precious\n", 0o644)
	// A copy of rootfs outside, so that a followed link would find the
	// very files a write replaces.
	for _, p := range site().Paths() {
		if rest, ok := strings.CutPrefix(p, "rootfs/"); ok {
			writeFile(t, filepath.Join(outside, "rootfs", rest), "outside\n", 0o644)
		}
	}
	writeFile(t, filepath.Join(outside, "junk/keep.txt"), "keep\n", 0o644)
	before := snapshot(t, outside)

	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	link := func(target, at string) {
		t.Helper()
		p := filepath.Join(dir, at)
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(outside, "target"), "README.md")                         // a file we write
	link(filepath.Join(outside, "rootfs"), "rootfs")                            // a directory we write into
	link(filepath.Join(outside, "junk"), "junk")                                // a stray directory
	link(filepath.Join(outside, "target"), "stray-link")                        // a stray file
	link("../../../../../../../../"+outside+"/target", "fragments/pg_hba.conf") // a relative escape

	d, err := Check(dir, site(), testOpt)
	if err != nil {
		t.Fatal(err)
	}
	wantCheck := "not a regular file (symbolic link): README.md\n" +
		"not a regular file (symbolic link): fragments/pg_hba.conf\n" +
		"new: rootfs/etc/nginx/conf.d/immich.conf\n" +
		"new: rootfs/etc/systemd/system/immich.service\n" +
		"new: rootfs/etc/valkey/users.acl\n" +
		"new: rootfs/opt/podman/immich/docker-compose.yml\n" +
		"removed: junk\n" +
		"removed: rootfs\n" +
		"removed: stray-link\n" +
		"2 files differ, 4 new, 3 removed\n"
	if got := formatted(t, d); got != wantCheck {
		t.Errorf("Check:\n%s\nwant:\n%s", got, wantCheck)
	}

	r := mustWrite(t, dir, site(), testOpt)
	assertExactly(t, dir, site(), testOpt)
	sameSnapshot(t, "the outside directory", before, snapshot(t, outside))
	if want := []string{"junk", "rootfs", "stray-link"}; !slices.Equal(r.Removed, want) {
		t.Errorf("removed %q, want %q", r.Removed, want)
	}

	// A symlinked manifest is not followed either.
	link(filepath.Join(outside, "target"), ManifestName)
	if _, err := Write(dir, site(), testOpt); !errors.Is(err, ErrNotOwned) {
		t.Errorf("symlinked manifest: %v, want ErrNotOwned", err)
	}
	force := testOpt
	force.Force = true
	mustWrite(t, dir, site(), force)
	assertExactly(t, dir, site(), testOpt)
	sameSnapshot(t, "the outside directory", before, snapshot(t, outside))
}

// A swap gives the new tree DIR's mode and owner, whatever they are, and
// an SDIR (RootMode) its DirMode.
func TestWriteSwapKeepsDirModeAndOwner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	mustWrite(t, dir, site(), testOpt)
	if err := os.Chmod(dir, 0o750|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	if root {
		if err := os.Chown(dir, 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	if r := mustWrite(t, dir, next(), testOpt); r.Method != Swapped {
		t.Fatalf("report %+v", r)
	}
	assertExactly(t, dir, next(), testOpt)
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != fs.ModeDir|fs.ModeSetgid|0o750 {
		t.Errorf("DIR mode %v after a swap, want drwxr-s---", fi.Mode())
	}
	if uid, gid, _ := owner(fi); root && (uid != 1234 || gid != 5678) {
		t.Errorf("DIR owner %d:%d after a swap, want 1234:5678", uid, gid)
	}
	sdir := testOpt
	sdir.DirMode, sdir.RootMode = 0o700, true
	if r := mustWrite(t, dir, site(), sdir); r.Method != Swapped {
		t.Fatalf("report %+v", r)
	}
	if fi, _ := os.Lstat(dir); fi.Mode() != fs.ModeDir|0o700 {
		t.Errorf("SDIR mode %v after a swap, want drwx------", fi.Mode())
	}
}

// -o . from inside DIR (or DIR an ancestor of the working directory): a
// swap would leave the shell in the removed old tree, so the write goes
// in place.
func TestWriteWorkingDirInPlace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	mustWrite(t, dir, site(), testOpt)
	for _, wd := range []string{dir, filepath.Join(dir, "rootfs/etc")} {
		t.Chdir(wd)
		rel, _ := filepath.Rel(wd, dir)
		r := mustWrite(t, rel, next(), testOpt)
		if r.Method != InPlace || r.InPlace != "the working directory is inside it" {
			t.Errorf("from %s: %v (%q), want in place", wd, r.Method, r.InPlace)
		}
		assertExactly(t, dir, next(), testOpt)
		mustWrite(t, dir, site(), testOpt)
	}
}

// What a killed write leaves beside DIR is removed by the next write, even
// one that changes nothing, but only a directory with DIR's staging name
// that holds this tool's manifest (or nothing, or only temporary files)
// and that no live write holds; Check reports none of them.
func TestWriteRemovesOnlyOwnLeftovers(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	mustWrite(t, dir, site(), testOpt)
	manifest := string(NewManifest(site(), testOpt).Marshal())
	name := func(suffix string) string { return filepath.Join(base, ".out.immich-render-new."+suffix) }
	gone := map[string]string{
		"a staging tree":                name("0123456789abcdef"),
		"an empty one":                  name("1123456789abcdef"),
		"one with a temporary manifest": name("2123456789abcdef"),
	}
	writeFile(t, filepath.Join(gone["a staging tree"], ManifestName), manifest, 0o644)
	writeFile(t, filepath.Join(gone["a staging tree"], "rootfs/etc/half"), "ha", 0o644)
	if err := os.Mkdir(gone["an empty one"], 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(gone["one with a temporary manifest"], tempInfix+"0123-1"), "{", 0o600)
	kept := map[string]string{
		"foreign files":          name("3123456789abcdef"),
		"another tool's":         name("4123456789abcdef"),
		"not our name":           name("5123456789abcdeg"),
		"another DIR's":          filepath.Join(base, ".other.immich-render-new.6123456789abcdef"),
		"a link":                 name("7123456789abcdef"),
		"locked by a live write": name("8123456789abcdef"),
	}
	writeFile(t, filepath.Join(kept["foreign files"], "notes.txt"), "mine\n", 0o644)
	writeFile(t, filepath.Join(kept["another tool's"], ManifestName), strings.Replace(manifest, `"immich-render"`, `"other"`, 1), 0o644)
	writeFile(t, filepath.Join(kept["not our name"], ManifestName), manifest, 0o644)
	writeFile(t, filepath.Join(kept["another DIR's"], ManifestName), manifest, 0o644)
	target := filepath.Join(base, "target")
	writeFile(t, filepath.Join(target, ManifestName), manifest, 0o644)
	if err := os.Symlink("target", kept["a link"]); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(kept["locked by a live write"], ManifestName), manifest, 0o644)
	live, err := os.Open(kept["locked by a live write"])
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if ok, err := tryLock(live); !ok || err != nil {
		t.Fatal(ok, err)
	}
	before := snapshot(t, base)

	if d := mustCheck(t, dir, site(), testOpt); !d.Empty() {
		t.Errorf("Check reports leftovers beside DIR: %s", formatted(t, d))
	}
	if r := mustWrite(t, dir, site(), testOpt); r.Method != NoChange {
		t.Errorf("report %+v, want no change", r)
	}
	for what, p := range gone {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s (%s) survived the next write", what, p)
		}
	}
	after := snapshot(t, base)
	for p, n := range before {
		top, _, _ := strings.Cut(p, "/")
		if top == "." || top == "out" || slices.Contains(slices.Collect(maps.Values(gone)), filepath.Join(base, top)) {
			continue
		}
		if m, ok := after[p]; !ok || m.mode != n.mode || m.data != n.data {
			t.Errorf("%s changed or was removed", p)
		}
	}
	if t.Failed() {
		t.Logf("kept: %v", kept)
	}
}
