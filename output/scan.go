package output

import (
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

// modeBits are the bits of a mode that count: permissions and the special
// bits a chmod sets or clears.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// entry is one path found under DIR, from Lstat.
type entry struct {
	mode fs.FileMode
	size int64
}

func (e entry) isDir() bool     { return e.mode.IsDir() }
func (e entry) isRegular() bool { return e.mode.IsRegular() }

// handle is an open, locked DIR. Every access below DIR goes through root,
// which refuses to leave DIR; the locked file is DIR itself.
type handle struct {
	dir  string
	root *os.Root
	lock *os.File
}

func (h *handle) close() {
	h.root.Close()
	h.lock.Close() // releases the lock
}

// show returns the path of p under DIR, for messages.
func (h *handle) show(p string) string { return filepath.Join(h.dir, filepath.FromSlash(p)) }

// statDir checks that dir is a real directory. It returns false without an
// error when dir does not exist.
func statDir(dir string) (bool, error) {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(dir)
		return false, fmt.Errorf("%s is a symbolic link (to %s): immich-render writes only into a real directory, so that it can never write outside it; pass the directory it points to", dir, target)
	case !fi.IsDir():
		return false, fmt.Errorf("%s exists and is a %s, not a directory", dir, kindOf(fi.Mode()))
	}
	return true, nil
}

// openLocked opens dir, locks it and opens a root on it, checking that the
// root is the directory that was locked (dir was not swapped in between).
func openLocked(dir string, exclusive bool, onWait func()) (*handle, error) {
	f, err := openDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	if err := lock(f, exclusive, onWait); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	h := &handle{dir: dir, root: root, lock: f}
	locked, err1 := f.Stat()
	rooted, err2 := root.Stat(".")
	if err := errors.Join(err1, err2); err != nil {
		h.close()
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	if !os.SameFile(locked, rooted) {
		h.close()
		return nil, fmt.Errorf("%s was replaced while it was being opened; try again", dir)
	}
	return h, nil
}

// scan lists everything under DIR with Lstat. It never descends into a
// symbolic link: fs.WalkDir enters only entries that are directories.
func (h *handle) scan() (map[string]entry, error) {
	entries := map[string]entry{}
	err := fs.WalkDir(h.root.FS(), ".", func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := h.root.Lstat(filepath.FromSlash(p))
		if err != nil {
			return err
		}
		entries[p] = entry{mode: fi.Mode(), size: fi.Size()}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", h.dir, err)
	}
	return entries, nil
}

// same reports whether p is a regular file that already has data and mode.
func (h *handle) same(p string, entries map[string]entry, data []byte, mode fs.FileMode) (bool, error) {
	e, ok := entries[p]
	if !ok || !e.isRegular() || e.mode&modeBits != mode || e.size != int64(len(data)) {
		return false, nil
	}
	disk, err := h.root.ReadFile(filepath.FromSlash(p))
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", h.show(p), err)
	}
	return string(disk) == string(data), nil
}

// layout compares what is under DIR with what a write of t leaves there.
type layout struct {
	needed map[string]bool // directories that hold a tree path
	// strays: entries that are not directories and are neither a tree
	// path nor the manifest, sorted; the temporary files of a killed run
	// are among them.
	strays []string
	// extraDirs: directories that must go, the deepest first, including a
	// directory that stands where the tree has a file.
	extraDirs []string
	// removed: what a write reports as removed: the strays, and each
	// topmost extra directory that holds no stray (with a trailing slash).
	removed []string
}

func plan(entries map[string]entry, t tree.Tree) layout {
	l := layout{needed: neededDirs(t)}
	isFile := func(p string) bool {
		_, ok := t[p]
		return ok || p == ManifestName
	}
	holdsStray := map[string]bool{}
	var extra []string
	for p, e := range entries {
		switch {
		case e.isDir() && !l.needed[p]:
			extra = append(extra, p)
		case !e.isDir() && !isFile(p):
			l.strays = append(l.strays, p)
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				holdsStray[d] = true
			}
		}
	}
	slices.Sort(l.strays)
	l.removed = slices.Clone(l.strays)
	for _, d := range extra {
		if isFile(d) || holdsStray[d] {
			continue
		}
		parent := path.Dir(d)
		if parent != "." && !l.needed[parent] && !isFile(parent) && !holdsStray[parent] {
			continue // an emptied parent is reported instead
		}
		l.removed = append(l.removed, d+"/")
	}
	slices.Sort(l.removed)
	slices.SortFunc(extra, func(a, b string) int {
		if da, db := strings.Count(a, "/"), strings.Count(b, "/"); da != db {
			return db - da
		}
		return strings.Compare(a, b)
	})
	l.extraDirs = extra
	return l
}
