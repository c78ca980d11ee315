package output

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/immich-render/immich-render/tree"
)

// Report says what a Write did. Paths are slash-separated, relative to the
// directory, sorted; the manifest is in none of the lists.
type Report struct {
	Written   []string // new or changed files, written and renamed into place
	Unchanged []string // files that already had the right bytes and mode
	// Removed are the files, links and other entries the tree no longer
	// has, and empty directories it never had (with a trailing slash).
	// Directories emptied by the removal of their files go silently.
	Removed  []string
	Manifest bool // the manifest was written
}

// String is the short summary a CLI prints: "wrote 2, unchanged 9, removed 1".
func (r Report) String() string {
	return fmt.Sprintf("wrote %d, unchanged %d, removed %d", len(r.Written), len(r.Unchanged), len(r.Removed))
}

// ErrNotOwned matches the error of a Write refused because DIR is not empty
// and has no manifest of this tool.
var ErrNotOwned = errors.New("directory not owned by immich-render")

// NotOwnedError is the error of a Write into a directory that is not empty
// and that immich-render does not own.
type NotOwnedError struct {
	Dir    string
	Reason string   // "it has no .immich-render.json", or why the manifest was rejected
	Found  []string // the first few entries of Dir, sorted; directories end in "/"
	More   int      // how many more entries Dir has at its top level
}

func (e *NotOwnedError) Error() string {
	found := strings.Join(e.Found, ", ")
	if e.More > 0 {
		found += fmt.Sprintf(" and %d more", e.More)
	}
	return fmt.Sprintf("refusing to write into %s: it is not empty (%s) and %s, so immich-render did not make it, "+
		"and a render would delete every file in it that it does not produce; "+
		"choose a new or empty directory, or pass --force to take it over", e.Dir, found, e.Reason)
}

// Is makes errors.Is(err, ErrNotOwned) true.
func (e *NotOwnedError) Is(target error) bool { return target == ErrNotOwned }

// Write makes dir hold exactly the files of t, with their modes, plus the
// manifest. See the package documentation for the guarantees; in short:
// unchanged files are not rewritten, changed ones are replaced atomically,
// everything else under dir is removed, nothing outside dir is touched,
// and a missing dir is created (with its parents). It refuses a dir that is
// a symbolic link or not a directory, and a non-empty dir without a
// manifest unless opt.Force. Another Write into the same dir is waited for.
//
// On an error the directory may be partly updated, but each file in it is
// either its old or its new version, and the next Write converges.
func Write(dir string, t tree.Tree, opt Options) (Report, error) {
	if err := validate(t); err != nil {
		return Report{}, err
	}
	dir = filepath.Clean(dir)
	created, err := createDir(dir, opt.dirMode())
	if err != nil {
		return Report{}, err
	}
	h, err := openLocked(dir, true, opt.OnWait)
	if err != nil {
		return Report{}, err
	}
	defer h.close()
	if created {
		if err := h.lock.Chmod(opt.dirMode()); err != nil {
			return Report{}, fmt.Errorf("setting the mode of %s: %w", dir, err)
		}
	}
	entries, err := h.scan()
	if err != nil {
		return Report{}, err
	}
	w := &writer{handle: h, opt: opt, dirty: map[string]bool{}}
	claimed := false
	if reason := owned(h, entries, opt); reason != "" {
		if len(entries) > 0 && !opt.Force {
			return Report{}, notOwned(dir, entries, reason)
		}
		// Claim the directory first: if this run is cut short, the next
		// one finds a manifest and goes on without --force.
		if e, ok := entries[ManifestName]; !ok || !e.isDir() {
			claim := claimManifest(opt).Marshal()
			if err := w.writeFile(ManifestName, claim, opt.manifestMode()); err != nil {
				return Report{}, err
			}
			entries[ManifestName] = entry{mode: opt.manifestMode(), size: int64(len(claim))}
			claimed = true
		}
	}
	r, err := w.apply(entries, t)
	r.Manifest = r.Manifest || claimed
	return r, err
}

// createDir creates dir when it is missing, and checks that it is a real
// directory otherwise. Parents get the usual mode (0777 less the umask),
// as with mkdir -p.
func createDir(dir string, mode fs.FileMode) (created bool, err error) {
	exists, err := statDir(dir)
	if err != nil || exists {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o777); err != nil {
		return false, fmt.Errorf("creating %s: %w", dir, err)
	}
	err = os.Mkdir(dir, mode)
	if errors.Is(err, fs.ErrExist) { // another run was quicker
		_, err = statDir(dir)
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("creating %s: %w", dir, err)
	}
	return true, nil
}

// owned returns why the directory is not owned by this tool, or "".
func owned(h *handle, entries map[string]entry, opt Options) string {
	if _, ok := entries[ManifestName]; !ok {
		return "it has no " + ManifestName
	}
	m, err := readManifest(h.root)
	if err != nil {
		return err.Error()
	}
	if m.Tool != opt.tool() {
		return fmt.Sprintf("its %s was written by %q", ManifestName, m.Tool)
	}
	return ""
}

func notOwned(dir string, entries map[string]entry, reason string) error {
	var top []string
	for p, e := range entries {
		if !strings.Contains(p, "/") {
			if e.isDir() {
				p += "/"
			}
			top = append(top, p)
		}
	}
	slices.Sort(top)
	e := &NotOwnedError{Dir: dir, Reason: reason, Found: top}
	if len(top) > 3 {
		e.Found, e.More = top[:3], len(top)-3
	}
	return e
}

type writer struct {
	*handle
	opt   Options
	dirty map[string]bool // directories whose entries changed, to fsync
}

// apply removes what must go, creates directories, writes changed files,
// then the manifest.
func (w *writer) apply(entries map[string]entry, t tree.Tree) (Report, error) {
	var r Report
	l := plan(entries, t)
	for _, p := range l.strays {
		if err := w.remove(p); err != nil {
			return r, err
		}
	}
	for _, d := range l.extraDirs {
		if err := w.remove(d); err != nil {
			return r, err
		}
		delete(entries, d)
	}
	mode := w.opt.dirMode()
	for _, d := range sortedKeys(l.needed) {
		if err := w.mkdir(d, entries, mode); err != nil {
			return r, err
		}
	}
	for _, p := range t.Paths() {
		f := t[p]
		same, err := w.same(p, entries, f.Data, f.Mode)
		if err != nil {
			return r, err
		}
		if same {
			r.Unchanged = append(r.Unchanged, p)
			continue
		}
		if err := w.writeFile(p, f.Data, f.Mode); err != nil {
			return r, err
		}
		r.Written = append(r.Written, p)
	}
	r.Removed = l.removed
	if err := w.syncDirs(); err != nil {
		return r, err
	}

	manifest := NewManifest(t, w.opt).Marshal()
	same, err := w.same(ManifestName, entries, manifest, w.opt.manifestMode())
	if err != nil {
		return r, err
	}
	if !same {
		if err := w.opt.step("manifest", ManifestName); err != nil {
			return r, err
		}
		if err := w.writeFile(ManifestName, manifest, w.opt.manifestMode()); err != nil {
			return r, err
		}
		r.Manifest = true
	}
	return r, w.syncDirs()
}

func (w *writer) remove(p string) error {
	if err := w.opt.step("remove", p); err != nil {
		return err
	}
	if err := w.root.Remove(filepath.FromSlash(p)); err != nil {
		return fmt.Errorf("removing %s: %w", w.show(p), err)
	}
	delete(w.dirty, p) // a removed directory has nothing left to sync
	w.dirty[path.Dir(p)] = true
	return nil
}

// mkdir makes d a directory with exactly mode. A non-directory at d was
// removed as a stray already.
func (w *writer) mkdir(d string, entries map[string]entry, mode fs.FileMode) error {
	name := filepath.FromSlash(d)
	e, ok := entries[d]
	if ok && e.isDir() && e.mode&modeBits == mode {
		return nil
	}
	if !ok || !e.isDir() {
		if err := w.root.Mkdir(name, mode); err != nil {
			return fmt.Errorf("creating %s: %w", w.show(d), err)
		}
		w.dirty[path.Dir(d)] = true
	}
	// Mkdir applied the umask; chmod makes the mode exact.
	if err := w.root.Chmod(name, mode); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", w.show(d), err)
	}
	return nil
}

// writeFile replaces p with data and mode atomically: a temporary file in
// the same directory, fsynced, chmod'ed (so the umask does not matter),
// renamed over p. A rename replaces a symbolic link at p, never follows it.
func (w *writer) writeFile(p string, data []byte, mode fs.FileMode) (err error) {
	name := filepath.FromSlash(p)
	tmp := filepath.Join(filepath.Dir(name), tempName())
	f, err := w.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", w.show(p), err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			w.root.Remove(tmp)
			err = fmt.Errorf("writing %s: %w", w.show(p), err)
		}
	}()
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		return err
	}
	if err := w.opt.step("write", p); err != nil {
		return err
	}
	if _, err := f.Write(data[half:]); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if err := w.opt.step("rename", p); err != nil {
		return err
	}
	if err := w.root.Rename(tmp, name); err != nil {
		return err
	}
	w.dirty[path.Dir(p)] = true
	return nil
}

// syncDirs fsyncs the directories whose entries changed, so that renames
// and removals are on disk before the manifest says the write is done.
func (w *writer) syncDirs() error {
	for _, d := range sortedKeys(w.dirty) {
		f, err := w.root.Open(filepath.FromSlash(d))
		if err != nil {
			return fmt.Errorf("syncing %s: %w", w.show(d), err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("syncing %s: %w", w.show(d), err)
		}
	}
	clear(w.dirty)
	return nil
}

func tempName() string {
	var b [8]byte
	rand.Read(b[:])
	return tempInfix + hex.EncodeToString(b[:])
}
