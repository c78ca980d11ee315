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
	"syscall"

	"github.com/immich-render/immich-render/internal/parallel"
	"github.com/immich-render/immich-render/internal/tree"
)

// A write that changes anything builds the whole new tree in a staging
// directory beside DIR, on the same file system, and then exchanges the two
// in one renameat2(RENAME_EXCHANGE): whatever moment a crash or a SIGKILL
// picks, DIR is the old tree or the new one, each complete and matching
// its manifest. What is left under the staging name (a tree being built,
// or the old tree after the exchange) is removed by the next write.

// Method is how a Write changed the directory.
type Method int

const (
	// NoChange: every file, mode and the manifest were right already.
	NoChange Method = iota
	// Swapped: the new tree was built beside DIR and exchanged with it.
	Swapped
	// InPlace: the files were replaced one by one inside DIR, each
	// atomically but not the tree as a whole (Report.InPlace says why).
	InPlace
)

func (m Method) String() string {
	switch m {
	case Swapped:
		return "swapped"
	case InPlace:
		return "in place"
	}
	return "unchanged"
}

// stagingInfix is in the name of a staging directory:
// .<DIR's name>.immich-render-new.<16 hex digits>, beside DIR.
const stagingInfix = ".immich-render-new."

// stagingPrefix is the start of the staging names of the directory base,
// shortened so that a whole name fits in 255 bytes.
func stagingPrefix(base string) string {
	const room = 255 - 1 - len(stagingInfix) - 16
	if len(base) > room {
		base = base[:room]
	}
	return "." + base + stagingInfix
}

// isStagingName reports whether name is a staging name of base.
func isStagingName(name, base string) bool {
	rest, ok := strings.CutPrefix(name, stagingPrefix(base))
	if !ok || len(rest) != 16 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

// errCannotSwap wraps why a write cannot swap the tree, so that it writes
// in place instead.
type errCannotSwap struct{ why string }

func (e errCannotSwap) Error() string { return e.why }

// beside is DIR's parent directory, where the staging tree is built.
type beside struct {
	path string   // the parent's path
	base string   // DIR's name in it
	root *os.Root // the parent
	dir  *os.File // the parent itself: renameat2, fsync, listing
}

func (b *beside) close() {
	b.dir.Close()
	b.root.Close()
}

func (b *beside) show(name string) string { return filepath.Join(b.path, name) }

// beside opens DIR's parent, to remove leftovers and build the staging
// tree in. It returns why the tree cannot be swapped instead when the
// parent cannot be used (see also swappable).
func (h *handle) beside() (*beside, string) {
	if !canSwap {
		return nil, "this system has no renameat2(RENAME_EXCHANGE)"
	}
	abs, err := filepath.Abs(h.dir)
	if err != nil {
		return nil, "its absolute path is unknown: " + err.Error()
	}
	parent, base := filepath.Dir(abs), filepath.Base(abs)
	if parent == abs {
		return nil, "it is the root directory"
	}
	locked, err := h.lock.Stat()
	if err != nil {
		return nil, "it cannot be read: " + err.Error()
	}
	root, err := os.OpenRoot(parent)
	if err != nil {
		return nil, "its parent directory cannot be opened: " + errText(err)
	}
	b := &beside{path: parent, base: base, root: root}
	if b.dir, err = root.Open("."); err != nil {
		root.Close()
		return nil, "its parent directory cannot be opened: " + errText(err)
	}
	if fi, err := root.Lstat(base); err != nil || !os.SameFile(fi, locked) {
		b.close()
		return nil, "its parent directory does not hold it under its name"
	}
	return b, ""
}

// swappable returns why DIR cannot be swapped, or "": it is a mount
// point, or the working directory is inside it. Checked only when a write
// changes something, to keep an unchanged write cheap.
func (b *beside) swappable() string {
	// A shell in DIR (-o .) would be left in the old, removed directory.
	abs := filepath.Join(b.path, b.base)
	if wd, err := os.Getwd(); err == nil && (wd == abs || strings.HasPrefix(wd, abs+string(filepath.Separator))) {
		return "the working directory is inside it"
	}
	if here, err1 := os.Stat("."); err1 == nil {
		if fi, err2 := b.root.Lstat(b.base); err2 == nil && os.SameFile(here, fi) {
			return "the working directory is inside it"
		}
	}
	if mount, err := isMountPoint(b.dir, b.base); err != nil || mount {
		if err != nil {
			return "it cannot be checked for a mount point: " + errText(err)
		}
		return "it is a mount point"
	}
	return ""
}

// errText is the system's reason of an error, without the paths and the
// operation that a PathError repeats.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// removeLeftovers removes the staging directories of DIR that an earlier
// write left behind when it was killed: a tree it was building, or the old
// tree it had swapped out. Only a directory with a staging name of DIR,
// that no live write holds, and that is empty or holds a manifest of this
// tool, is removed.
func (b *beside) removeLeftovers(tool string) error {
	names, err := b.dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("reading %s: %w", b.path, err)
	}
	for _, name := range names {
		if !isStagingName(name, b.base) {
			continue
		}
		if err := b.removeLeftover(name, tool); err != nil {
			return fmt.Errorf("removing %s, which an interrupted write left: %w", b.show(name), err)
		}
	}
	return nil
}

func (b *beside) removeLeftover(name, tool string) error {
	fi, err := b.root.Lstat(name)
	if err != nil || !fi.IsDir() {
		return nil // gone, or not ours
	}
	f, err := b.root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close() // releases the lock, once the directory is gone
	if free, err := tryLock(f); err != nil || !free {
		return err // a live write's
	}
	if now, err := f.Stat(); err != nil || !os.SameFile(now, fi) {
		return err
	}
	r, err := b.root.OpenRoot(name)
	if err != nil {
		return err
	}
	defer r.Close()
	if !ours(r, tool) {
		return nil
	}
	return removeTree(r, b.root, name)
}

// ours reports whether the directory r holds a manifest of tool, or
// nothing but temporary files (the manifest being written): a staging
// tree starts so.
func ours(r *os.Root, tool string) bool {
	if m, err := readManifest(r); err == nil {
		return m.Tool == tool
	}
	d, err := r.Open(".")
	if err != nil {
		return false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return false
	}
	for _, name := range names {
		if !strings.HasPrefix(name, tempInfix) {
			return false
		}
	}
	return true
}

// removeTree removes everything in r, its top-level entries in parallel
// and the manifest last (until the end, a killed removal leaves a tree the
// next write knows as its own), then r itself, the entry name of parent.
// Links are removed, never followed.
func removeTree(r *os.Root, parent *os.Root, name string) error {
	d, err := r.Open(".")
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == ManifestName })
	if err := parallel.Each(len(names), func(i int) error { return r.RemoveAll(names[i]) }); err != nil {
		return err
	}
	if err := r.RemoveAll(ManifestName); err != nil {
		return err
	}
	return parent.Remove(name)
}

// staging is the directory a write builds the new tree in.
type staging struct {
	name string
	root *os.Root
	lock *os.File // the directory, locked while it is built and once it is DIR
}

// stage creates a staging directory beside DIR, locked, owned like DIR.
// The lock keeps the next write from taking it for a leftover, and it is
// held on DIR once the two are exchanged, until this write is done.
func (w *writer) stage(b *beside) (*staging, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	s := &staging{name: stagingPrefix(b.base) + hex.EncodeToString(rnd[:])}
	if err := w.step("stage", "."); err != nil {
		return nil, err
	}
	// 0700 until it has DIR's owner, then DIR's mode (and so its setgid
	// bit, as files written into DIR would get).
	if err := b.root.Mkdir(s.name, 0o700); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENAMETOOLONG) {
			return nil, errCannotSwap{"no directory can be made beside it (" + errText(err) + ")"}
		}
		return nil, fmt.Errorf("writing %s: creating %s: %w", w.dir, b.show(s.name), err)
	}
	fail := func(err error) (*staging, error) {
		s.remove(b)
		var cannot errCannotSwap
		if errors.As(err, &cannot) {
			return nil, err
		}
		return nil, fmt.Errorf("writing %s: preparing %s: %w", w.dir, b.show(s.name), err)
	}
	var err error
	if s.lock, err = b.root.Open(s.name); err != nil {
		return fail(err)
	}
	if free, err := tryLock(s.lock); err != nil || !free {
		if err == nil {
			err = errors.New("locked by another process")
		}
		return fail(err)
	}
	if s.root, err = b.root.OpenRoot(s.name); err != nil {
		return fail(err)
	}
	locked, err1 := s.lock.Stat()
	rooted, err2 := s.root.Stat(".")
	if err := errors.Join(err1, err2); err != nil {
		return fail(err)
	}
	if !os.SameFile(locked, rooted) {
		return fail(errors.New("it was replaced while it was being opened"))
	}
	dir, err := w.lock.Stat()
	if err != nil {
		return fail(err)
	}
	if uid, gid, ok := owner(dir); ok {
		if suid, sgid, _ := owner(locked); suid != uid || sgid != gid {
			if err := s.lock.Chown(uid, gid); err != nil {
				return fail(errCannotSwap{"a directory beside it cannot get its owner (" + errText(err) + ")"})
			}
		}
	}
	if err := s.lock.Chmod(dir.Mode() & modeBits); err != nil {
		return fail(err)
	}
	return s, nil
}

// remove removes a staging directory that was not swapped in.
func (s *staging) remove(b *beside) {
	if s.root != nil {
		removeTree(s.root, b.root, s.name)
		s.root.Close()
	} else {
		b.root.Remove(s.name)
	}
	if s.lock != nil {
		s.lock.Close()
	}
}

// swap builds the new tree in a staging directory and exchanges it with
// DIR:
//
//  1. in a directory with DIR's mode and owner, the manifest, then every
//     directory and file of the tree: a file whose bytes and mode are
//     right in DIR is hard-linked from there (written when it cannot be
//     linked), the others are written;
//  2. one barrier (syncFS, or an fsync of each file and directory) makes
//     the staging tree durable;
//  3. renameat2(RENAME_EXCHANGE) swaps it with DIR, an fsync of the parent
//     makes that durable, and the old tree, now under the staging name, is
//     removed.
//
// It returns errCannotSwap, having removed the staging tree, when the
// exchange is not possible here; DIR is then untouched. On any other
// error before the exchange, DIR is untouched and the staging tree gone.
func (w *writer) swap(b *beside, entries map[string]entry, t tree.Tree, manifest []byte, l layout) (Report, error) {
	r := Report{Removed: l.removed}
	s, err := w.stage(b)
	if err != nil {
		return r, err
	}
	swapped := false
	defer func() {
		if !swapped {
			s.remove(b)
		}
	}()
	root, written := w.work(entries, t, l.needed, true)
	syncs := len(written) + len(l.needed) + 2
	from := batchMin
	if w.opt.batchFrom > 0 {
		from = w.opt.batchFrom
	}
	w.batch = canSyncFS && syncs >= from

	// The manifest first, whole (a temporary file renamed): it marks the
	// staging tree as this tool's, so that the next write removes it if
	// this one is killed.
	w.staged, w.manifest = true, manifest
	if entries[ManifestName].holds(w.opt.manifestMode()) {
		if err := w.linkAll(s.root, &dirNode{path: ".", links: []string{ManifestName}}); err != nil {
			return r, err
		}
	} else {
		tmp, err := w.writeTemp(s.root, ManifestName, manifest, w.opt.manifestMode())
		if err != nil {
			return r, err
		}
		if err := s.root.Rename(tmp, ManifestName); err != nil {
			return r, fmt.Errorf("writing %s: %w", w.show(ManifestName), err)
		}
		r.Manifest = true
	}
	if _, err := w.fill(s.root, root); err != nil {
		return r, err
	}
	if w.batch {
		if err := syncFS(s.lock); err != nil {
			return r, fmt.Errorf("syncing %s: %w", b.show(s.name), err)
		}
	} else if err := syncAll(s.root, root, b.show(s.name)); err != nil {
		return r, err
	}
	err = w.step("exchange", ".") // a test's EINVAL stands for a file system without RENAME_EXCHANGE
	if err == nil {
		err = exchange(b.dir, s.name, b.base)
	}
	if err != nil {
		if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EXDEV) ||
			errors.Is(err, syscall.EBUSY) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOTSUP) {
			return r, errCannotSwap{"it cannot be exchanged with a directory beside it (" + errText(err) + ")"}
		}
		return r, fmt.Errorf("writing %s: exchanging it with %s: %w", w.dir, b.show(s.name), err)
	}
	swapped = true
	for _, p := range t.Paths() {
		if written[p] {
			r.Written = append(r.Written, p)
		} else {
			r.Unchanged = append(r.Unchanged, p)
		}
	}
	r.Method = Swapped
	// DIR is the new tree; the old one is under the staging name, still
	// locked by this write.
	old := *w.handle
	defer old.close()
	w.root, w.lock = s.root, s.lock
	if err := b.dir.Sync(); err != nil {
		return r, fmt.Errorf("syncing %s: %w", b.path, err)
	}
	if err := w.step("remove", "."); err != nil {
		return r, err
	}
	if err := removeTree(old.root, b.root, s.name); err != nil {
		return r, fmt.Errorf("the new %s is in place, but removing the old one (now %s) failed: %w; the next write removes it",
			w.dir, b.show(s.name), err)
	}
	return r, nil
}

// writeStaged writes a file of the staging tree under its own name, with
// its exact mode; without a batch barrier it is fsynced too.
func (w *writer) writeStaged(r *os.Root, p string, data []byte, mode fs.FileMode) error {
	f, err := r.OpenFile(path.Base(p), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = w.writeData(f, p, data, mode, !w.batch)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", w.show(p), err)
	}
	return nil
}

// linkAll hard-links the unchanged files of the directory n from DIR into
// r, its staging copy. A file that cannot be linked (immutable, too many
// links, another file system mounted inside DIR) is written instead.
func (w *writer) linkAll(r *os.Root, n *dirNode) error {
	from, err := w.root.Open(filepath.FromSlash(n.path))
	if err != nil {
		return fmt.Errorf("opening %s: %w", w.show(n.path), err)
	}
	defer from.Close()
	to, err := r.Open(".")
	if err != nil {
		return fmt.Errorf("opening the new %s: %w", w.show(n.path), err)
	}
	defer to.Close()
	for _, p := range n.links {
		if err := w.step("link", p); err != nil {
			return err
		}
		if linkAt(from, path.Base(p), to) == nil {
			continue
		}
		data, mode := w.manifest, w.opt.manifestMode()
		if p != ManifestName {
			data, mode = w.tree[p].Data, w.tree[p].Mode
		}
		if err := w.writeStaged(r, p, data, mode); err != nil {
			return err
		}
	}
	return nil
}

// syncAll fsyncs every directory of the staging tree, in parallel: the
// entries of its links and files.
func syncAll(r *os.Root, root *dirNode, show string) error {
	var dirs []string
	var walk func(n *dirNode)
	walk = func(n *dirNode) {
		dirs = append(dirs, n.path)
		for _, c := range n.subs {
			walk(c)
		}
	}
	walk(root)
	return parallel.Each(len(dirs), func(i int) error {
		f, err := r.Open(filepath.FromSlash(dirs[i]))
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("syncing %s: %w", filepath.Join(show, filepath.FromSlash(dirs[i])), err)
		}
		return nil
	})
}
