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
	"sync"

	"github.com/immich-render/immich-render/internal/parallel"
	"github.com/immich-render/immich-render/internal/tree"
)

// modeBits are the bits of a mode that count: permissions and the special
// bits a chmod sets or clears.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// entry is one path found under DIR, from Lstat.
type entry struct {
	mode fs.FileMode
	size int64
	// same is set by a scan that was given the expected contents: the
	// path is a regular file with exactly those bytes (its mode aside).
	same bool
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

// openLocked opens dir, locks it and opens a root on it. A write replaces
// DIR by another directory (see swap.go), so a process that waited for the
// lock may hold it on a directory that is no longer DIR: it then checks
// that dir still names the locked directory, and starts again if not. The
// root is checked against the lock too.
func openLocked(dir string, exclusive bool, onWait func()) (*handle, error) {
	return openLocking(dir, exclusive, true, onWait)
}

// openLockedNow is openLocked without waiting: errBusy when another
// process holds a conflicting lock.
func openLockedNow(dir string, exclusive bool) (*handle, error) {
	return openLocking(dir, exclusive, false, nil)
}

func openLocking(dir string, exclusive, wait bool, onWait func()) (*handle, error) {
	for tries := 0; ; tries++ {
		h, err := tryLocked(dir, exclusive, wait, onWait)
		if err != errReplaced {
			return h, err
		}
		if tries == 100 {
			return nil, fmt.Errorf("%s was replaced while it was being opened, 100 times in a row; try again", dir)
		}
		onWait = nil // said once
	}
}

// errReplaced is tryLocked's: dir no longer names the directory it locked.
var errReplaced = errors.New("replaced")

// errBusy is openLockedNow's: another process holds the lock.
var errBusy = errors.New("locked by another process")

func tryLocked(dir string, exclusive, wait bool, onWait func()) (*handle, error) {
	f, err := openDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	if wait {
		err = lock(f, exclusive, onWait)
	} else {
		var ok bool
		if ok, err = lockNow(f, exclusive); err == nil && !ok {
			f.Close()
			return nil, errBusy
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	locked, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	if now, err := os.Lstat(dir); err != nil || !os.SameFile(locked, now) {
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("opening %s: %w", dir, err)
		}
		return nil, errReplaced
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	h := &handle{dir: dir, root: root, lock: f}
	rooted, err := root.Stat(".")
	if err != nil {
		h.close()
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	if !os.SameFile(locked, rooted) {
		h.close()
		return nil, errReplaced
	}
	return h, nil
}

// scan lists everything under DIR with Lstat. It never descends into a
// symbolic link: it opens only entries that Lstat found to be directories,
// and os.Root refuses a link in their place.
//
// When want is not nil, a regular file for which want returns contents of
// its size is read and compared as well (entry.same), in the same pass:
// the directory is open already, so the file is one openat away.
//
// Directories are read in parallel, each through a descriptor of its own
// (a root of its own where the system calls are not used directly:
// scan_linux.go), so that every call names one path component rather than
// walking the path from DIR again.
//
// A directory at the top of DIR that skip names is listed as an entry but
// not descended into: an earlier scanSub has its entries.
func (h *handle) scan(want func(p string) ([]byte, bool), skip map[string]bool) (map[string]entry, error) {
	return h.scanFrom(".", want, skip)
}

// scanSub is scan of the directory sub at the top of DIR (one path
// component): its entries are everything under it, paths still relative to
// DIR, without sub itself. sub is opened without following a link, like
// any directory a scan descends into.
func (h *handle) scanSub(sub string, want func(p string) ([]byte, bool)) (map[string]entry, error) {
	if sub == "." || sub == ".." || !fs.ValidPath(sub) || strings.Contains(sub, "/") {
		return nil, fmt.Errorf("output: %q is not a directory at the top of %s", sub, h.dir)
	}
	return h.scanFrom(sub, want, nil)
}

func (h *handle) scanFrom(rel string, want func(p string) ([]byte, bool), skip map[string]bool) (map[string]entry, error) {
	s := &scanner{want: want, skip: skip, pool: parallel.NewGroup(), entries: map[string]entry{}}
	s.pool.Go(func() error { return s.scanRoot(h.root, rel) })
	if err := s.pool.Wait(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", h.dir, err)
	}
	return s.entries, nil
}

type scanner struct {
	want    func(string) ([]byte, bool)
	skip    map[string]bool // directories not to descend into
	pool    *parallel.Group
	mu      sync.Mutex
	entries map[string]entry
}

var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// holds reports whether e is a regular file that a scan found to hold the
// expected bytes, with exactly mode.
func (e entry) holds(mode fs.FileMode) bool {
	return e.isRegular() && e.same && e.mode&modeBits == mode
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
