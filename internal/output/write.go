package output

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/immich-render/immich-render/internal/parallel"
	"github.com/immich-render/immich-render/internal/tree"
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

	// Method is how the directory was changed: not at all, the whole tree
	// swapped in one step, or file by file in place, where a swap is
	// impossible; InPlace then says why ("it is a mount point").
	Method  Method
	InPlace string
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
	return e.Explain("write with Options.Force")
}

// Explain says what is wrong and what to do: choose another directory,
// or take this one over by force (how, in the caller's words).
func (e *NotOwnedError) Explain(force string) string {
	found := strings.Join(e.Found, ", ")
	if e.More > 0 {
		found += fmt.Sprintf(" and %d more", e.More)
	}
	return fmt.Sprintf("refusing to write into %s: it is not empty (%s) and %s, so immich-render did not make it, "+
		"and a render would delete every file in it that it does not produce; "+
		"choose a new or empty directory, or %s to take it over", e.Dir, found, e.Reason, force)
}

// Is makes errors.Is(err, ErrNotOwned) true.
func (e *NotOwnedError) Is(target error) bool { return target == ErrNotOwned }

// Write makes dir hold exactly the files of t, with their modes, plus the
// manifest. See the package documentation for the guarantees; in short:
// a write that changes anything builds the new tree beside dir and swaps
// it in whole, unchanged files keep their inode (hard links), everything
// else under dir is removed, nothing outside dir and its staging
// directories is touched, and a missing dir is created (with its parents).
// It refuses a dir that is a symbolic link or not a directory, and a
// non-empty dir without a manifest unless opt.Force. Another Write into the
// same dir is waited for.
//
// On an error dir is its old tree or, when the error came after the swap
// (removing the old tree), the new one. Where the tree cannot be swapped
// (Report.InPlace says why), files are replaced one by one: on an error
// the directory may then be partly updated, each file its old or its new
// version, and the next Write converges.
func Write(dir string, t tree.Tree, opt Options) (Report, error) {
	if err := validate(t); err != nil {
		return Report{}, err
	}
	held, err := Hold(dir, opt)
	if err != nil {
		return Report{}, err
	}
	defer held.Close()
	return held.Write(t, opt)
}

// Held is a directory that Hold created if it was missing and locked for
// writing: while it is held, no other Write or Check of it runs, so a
// caller can read what it keeps from the directory and write it back
// without another render's write landing in between.
type Held struct {
	h *handle
}

// Hold creates dir if it is missing (as Write does) and takes its
// exclusive lock, waiting for another Write or Check to finish. Close
// releases it. A held directory must be written with Held.Write, not
// Write, whose lock would wait for this one.
func Hold(dir string, opt Options) (*Held, error) {
	dir = filepath.Clean(dir)
	created, err := createDir(dir, opt.dirMode())
	if err != nil {
		return nil, err
	}
	h, err := openLocked(dir, true, opt.OnWait)
	if err != nil {
		return nil, err
	}
	if created {
		if err := h.lock.Chmod(opt.dirMode()); err != nil {
			h.close()
			return nil, fmt.Errorf("setting the mode of %s: %w", dir, err)
		}
	}
	return &Held{h: h}, nil
}

// Close releases the lock.
func (l *Held) Close() { l.h.close() }

// Write is Write into the held directory.
func (l *Held) Write(t tree.Tree, opt Options) (Report, error) {
	if err := validate(t); err != nil {
		return Report{}, err
	}
	h, dir := l.h, l.h.dir
	manifest := NewManifest(t, opt).Marshal()
	entries, err := h.scan(func(p string) ([]byte, bool) {
		if p == ManifestName {
			return manifest, true
		}
		f, ok := t[p]
		return f.Data, ok
	}, nil)
	if err != nil {
		return Report{}, err
	}
	w := newWriter(h, t, opt)
	reason := owned(h, entries, opt)
	if reason != "" && len(entries) > 0 && !opt.Force {
		return Report{}, notOwned(dir, entries, reason)
	}
	// Claim a directory taken over by force first: if this run is cut
	// short, the next one finds a manifest and goes on without --force,
	// and the old tree, once swapped out, is recognisably ours to remove.
	claimed := false
	claim := func() error {
		if e, ok := entries[ManifestName]; reason == "" || claimed || (ok && e.isDir()) {
			return nil
		}
		data := claimManifest(opt).Marshal()
		if err := w.writeFile(ManifestName, data, opt.manifestMode()); err != nil {
			return err
		}
		entries[ManifestName] = entry{mode: opt.manifestMode(), size: int64(len(data))}
		claimed = true
		return w.syncDirs()
	}
	if len(entries) > 0 {
		if err := claim(); err != nil {
			return Report{}, err
		}
	}
	b, why := h.beside()
	if opt.inPlace && b != nil {
		b.close()
		b, why = nil, "a test asked for it"
	}
	if b != nil {
		defer b.close()
		if err := b.removeLeftovers(opt.tool()); err != nil {
			return Report{}, err
		}
	}
	if opt.RootMode {
		fi, err := h.lock.Stat()
		if err == nil && fi.Mode()&modeBits != opt.dirMode() {
			err = h.lock.Chmod(opt.dirMode())
		}
		if err != nil {
			return Report{}, fmt.Errorf("setting the mode of %s: %w", dir, err)
		}
	}
	lay := plan(entries, t)
	if !claimed && lay.unchanged(entries, t, opt) {
		return Report{Unchanged: t.Paths()}, nil
	}
	if b != nil {
		why = b.swappable()
	}
	if b != nil && why == "" {
		r, err := w.swap(b, entries, t, manifest, lay)
		var cannot errCannotSwap
		if !errors.As(err, &cannot) {
			r.Manifest = r.Manifest || claimed
			return r, err
		}
		why = cannot.why
		w = newWriter(h, t, opt)
	}
	// In place: an empty directory is claimed too.
	if err := claim(); err != nil {
		return Report{}, err
	}
	r, err := w.apply(entries, t, manifest)
	r.Manifest = r.Manifest || claimed
	r.Method, r.InPlace = InPlace, why
	return r, err
}

// unchanged reports whether a write would change nothing at all: every
// file and directory is there with its bytes and mode, the manifest too,
// and nothing else is.
func (l layout) unchanged(entries map[string]entry, t tree.Tree, opt Options) bool {
	if len(l.strays) > 0 || len(l.extraDirs) > 0 || !entries[ManifestName].holds(opt.manifestMode()) {
		return false
	}
	for d := range l.needed {
		if e := entries[d]; !e.isDir() || e.mode&modeBits != opt.dirMode() {
			return false
		}
	}
	for p, f := range t {
		if !entries[p].holds(f.Mode) {
			return false
		}
	}
	return true
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
	opt  Options
	tree tree.Tree // being written
	// batch: the files are made durable by one syncFS before they are
	// renamed, not by an fsync each (see batchMin).
	batch bool
	// staged: the files go into a staging tree (swap.go), under their own
	// names, and unchanged ones are linked; manifest is its manifest.
	staged   bool
	manifest []byte
	temp     string        // the random part of this write's temporary names
	seq      atomic.Uint64 // numbers the temporary files
	hook     sync.Mutex    // serialises opt.hook, which tests call from any worker

	mu    sync.Mutex
	dirty map[string]bool // directories whose entries changed, to sync
}

func newWriter(h *handle, t tree.Tree, opt Options) *writer {
	var b [8]byte
	rand.Read(b[:])
	return &writer{handle: h, opt: opt, tree: t, temp: tempInfix + hex.EncodeToString(b[:]), dirty: map[string]bool{}}
}

// tempName returns a new temporary file name: random per write, so that
// two runs never collide, numbered within it.
func (w *writer) tempName() string {
	return w.temp + "-" + strconv.FormatUint(w.seq.Add(1), 36)
}

func (w *writer) step(op, p string) error {
	if w.opt.hook == nil {
		return nil
	}
	w.hook.Lock()
	defer w.hook.Unlock()
	return w.opt.step(op, p)
}

func (w *writer) touched(dir string) {
	w.mu.Lock()
	w.dirty[dir] = true
	w.mu.Unlock()
}

// pending is a file written under a temporary name, to be renamed.
type pending struct {
	dir, tmp, name string // the directory (slash-separated), two names in it
	renamed        bool
}

// apply removes what must go, then makes the files durable in three
// steps, whatever their number:
//
//  1. create the missing directories and write every changed file to a
//     temporary file in its directory, in parallel;
//  2. one barrier (syncFS) makes all of them durable, then each is renamed
//     over its final name;
//  3. a second barrier makes the renames durable, and only then is the
//     manifest written (fsynced, renamed, its directory fsynced).
//
// A file is thus renamed into place only once its bytes are on disk, so a
// crash at any moment leaves each path with its old or its new version,
// and a new manifest only after every file it lists. Where syncFS is
// missing, each file is fsynced instead, and each changed directory.
func (w *writer) apply(entries map[string]entry, t tree.Tree, manifest []byte) (Report, error) {
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
	r.Removed = l.removed

	root, written := w.work(entries, t, l.needed, false)
	from := batchMin
	if w.opt.batchFrom > 0 {
		from = w.opt.batchFrom
	}
	w.batch = canSyncFS && len(written) >= from
	files, err := w.fill(w.root, root)
	if err == nil && len(files) > 0 && w.batch {
		if err = syncFS(w.lock); err != nil {
			err = fmt.Errorf("syncing %s: %w", w.dir, err)
		}
	}
	if err == nil {
		err = w.renameAll(files)
	}
	if err != nil {
		w.discard(files)
		return r, err
	}
	for _, p := range t.Paths() {
		if written[p] {
			r.Written = append(r.Written, p)
		} else {
			r.Unchanged = append(r.Unchanged, p)
		}
	}
	if err := w.syncDirs(); err != nil {
		return r, err
	}

	if !entries[ManifestName].holds(w.opt.manifestMode()) {
		if err := w.step("manifest", ManifestName); err != nil {
			return r, err
		}
		if err := w.writeFile(ManifestName, manifest, w.opt.manifestMode()); err != nil {
			return r, err
		}
		r.Manifest = true
	}
	return r, w.syncDirs()
}

// batchMin is the number of files from which Write syncs the whole file
// system once rather than each file. syncfs(2) also writes out whatever
// other processes left dirty on that file system, which costs more than a
// few fsyncs; fsyncs cost a journal commit each, which adds up over
// hundreds of files (a fleet).
const batchMin = 32

// dirNode is a directory with something to do: to be created or chmod'ed,
// files to write, or such a directory below it.
type dirNode struct {
	path   string   // slash-separated; "." is DIR
	create bool     // missing: Mkdir, then Chmod
	chmod  bool     // there, with another mode
	files  []string // to write
	links  []string // to link from DIR into a staging tree
	subs   []*dirNode
	busy   bool // this directory or one below it has work
}

// work returns the directories to visit, as a tree under DIR, and the
// files to write. For a staging tree (stage) every directory is to be
// created, and the files not to write are to link.
func (w *writer) work(entries map[string]entry, t tree.Tree, needed map[string]bool, stage bool) (*dirNode, map[string]bool) {
	mode := w.opt.dirMode()
	nodes := map[string]*dirNode{".": {path: "."}}
	var node func(d string) *dirNode
	node = func(d string) *dirNode {
		if n, ok := nodes[d]; ok {
			return n
		}
		n := &dirNode{path: d}
		nodes[d] = n
		parent := node(path.Dir(d))
		parent.subs = append(parent.subs, n)
		return n
	}
	// mark flags d and every directory above it as having work.
	mark := func(d string) {
		for ; d != "." && !node(d).busy; d = path.Dir(d) {
			node(d).busy = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(needed)) {
		e, ok := entries[d]
		switch {
		case stage || !ok || !e.isDir():
			node(d).create = true
		case e.mode&modeBits != mode:
			node(d).chmod = true
		default:
			continue
		}
		mark(d)
	}
	written := map[string]bool{}
	for _, p := range t.Paths() {
		d := path.Dir(p)
		if entries[p].holds(t[p].Mode) {
			if stage {
				node(d).links = append(node(d).links, p)
				mark(d)
			}
			continue
		}
		written[p] = true
		node(d).files = append(node(d).files, p)
		mark(d)
	}
	for _, n := range nodes {
		n.subs = slices.DeleteFunc(n.subs, func(c *dirNode) bool { return !c.busy })
	}
	return nodes["."], written
}

// fill creates the missing directories and writes each file of the tree
// to a temporary file, in parallel, under top, DIR or a staging tree. It
// returns the files written, even on an error, so that they can be
// removed. Into a staging tree, files are written under their own names,
// and linked when unchanged.
func (w *writer) fill(top *os.Root, root *dirNode) ([]*pending, error) {
	p := parallel.NewGroup()
	var mu sync.Mutex
	var files []*pending
	var dir func(r *os.Root, n *dirNode, own bool) error
	dir = func(r *os.Root, n *dirNode, own bool) error {
		if own {
			defer r.Close()
		}
		if p.Stopped() {
			return nil
		}
		mode := w.opt.dirMode()
		for _, c := range n.subs {
			base := path.Base(c.path)
			if c.create {
				if err := r.Mkdir(base, mode); err != nil {
					return fmt.Errorf("creating %s: %w", w.show(c.path), err)
				}
				w.touched(n.path)
			}
			if c.create || c.chmod {
				// Mkdir applied the umask; chmod makes the mode exact.
				if err := r.Chmod(base, mode); err != nil {
					return fmt.Errorf("setting the mode of %s: %w", w.show(c.path), err)
				}
			}
			if len(c.files) == 0 && len(c.links) == 0 && len(c.subs) == 0 {
				continue
			}
			sub, err := r.OpenRoot(base)
			if err != nil {
				return fmt.Errorf("opening %s: %w", w.show(c.path), err)
			}
			p.Go(func() error { return dir(sub, c, true) })
		}
		if len(n.links) > 0 {
			if err := w.linkAll(r, n); err != nil {
				return err
			}
		}
		for _, f := range n.files {
			if p.Stopped() {
				return nil
			}
			if w.staged {
				if err := w.writeStaged(r, f, w.tree[f].Data, w.tree[f].Mode); err != nil {
					return err
				}
				continue
			}
			tmp, err := w.writeTemp(r, f, w.tree[f].Data, w.tree[f].Mode)
			if err != nil {
				return err
			}
			mu.Lock()
			files = append(files, &pending{dir: n.path, tmp: tmp, name: path.Base(f)})
			mu.Unlock()
		}
		return nil
	}
	p.Go(func() error { return dir(top, root, false) })
	err := p.Wait()
	return files, err
}

// writeTemp writes the tree's file p to a new temporary file in r (its
// directory), with p's exact mode (chmod, so the umask does not matter),
// and returns the temporary name. Without a batch barrier the file is
// fsynced too.
func (w *writer) writeTemp(r *os.Root, p string, data []byte, mode fs.FileMode) (tmp string, err error) {
	tmp = w.tempName()
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", w.show(p), err)
	}
	if err := w.writeData(f, p, data, mode, !w.batch); err != nil {
		r.Remove(tmp)
		return "", fmt.Errorf("writing %s: %w", w.show(p), err)
	}
	return tmp, nil
}

// writeData writes data to f halfway, calls the "write" hook, writes the
// rest, sets mode, fsyncs f when asked to, and closes f. Without a hook
// (outside the fault tests) data goes in one write.
func (w *writer) writeData(f *os.File, p string, data []byte, mode fs.FileMode, fsync bool) error {
	half := len(data) / 2
	if w.opt.hook == nil {
		half = len(data)
	}
	_, err := f.Write(data[:half])
	if err == nil {
		err = w.step("write", p)
	}
	if err == nil && half < len(data) {
		_, err = f.Write(data[half:])
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil && fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// renameAll renames each temporary file over its final name, directory by
// directory, in parallel. A rename replaces a symbolic link at the final
// name, never follows it.
func (w *writer) renameAll(files []*pending) error {
	byDir := map[string][]*pending{}
	for _, f := range files {
		byDir[f.dir] = append(byDir[f.dir], f)
	}
	dirs := slices.Sorted(maps.Keys(byDir))
	return parallel.Each(len(dirs), func(i int) error {
		d := dirs[i]
		r := w.root
		if d != "." {
			var err error
			if r, err = w.root.OpenRoot(filepath.FromSlash(d)); err != nil {
				return fmt.Errorf("opening %s: %w", w.show(d), err)
			}
			defer r.Close()
		}
		for _, f := range byDir[d] {
			p := path.Join(d, f.name)
			if err := w.step("rename", p); err != nil {
				return err
			}
			if err := r.Rename(f.tmp, f.name); err != nil {
				return fmt.Errorf("writing %s: %w", w.show(p), err)
			}
			f.renamed = true
		}
		w.touched(d)
		return nil
	})
}

// discard removes the temporary files that were not renamed.
func (w *writer) discard(files []*pending) {
	for _, f := range files {
		if !f.renamed {
			w.root.Remove(filepath.FromSlash(path.Join(f.dir, f.tmp)))
		}
	}
}

func (w *writer) remove(p string) error {
	if err := w.step("remove", p); err != nil {
		return err
	}
	if err := w.root.Remove(filepath.FromSlash(p)); err != nil {
		return fmt.Errorf("removing %s: %w", w.show(p), err)
	}
	w.mu.Lock()
	delete(w.dirty, p) // a removed directory has nothing left to sync
	w.dirty[path.Dir(p)] = true
	w.mu.Unlock()
	return nil
}

// writeFile replaces p with data and mode atomically, on its own: a
// temporary file in the same directory, fsynced, renamed over p. For the
// manifest, which is written alone.
func (w *writer) writeFile(p string, data []byte, mode fs.FileMode) error {
	name := filepath.FromSlash(p)
	tmp := filepath.Join(filepath.Dir(name), w.tempName())
	f, err := w.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = w.writeData(f, p, data, mode, true)
		if err == nil {
			if err = w.step("rename", p); err == nil {
				err = w.root.Rename(tmp, name)
			}
		}
		if err != nil {
			w.root.Remove(tmp)
		}
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", w.show(p), err)
	}
	w.touched(path.Dir(p))
	return nil
}

// syncDirs makes the renames and removals so far durable, so that the
// manifest that follows never gets to disk before them: one syncFS when
// several directories changed, else an fsync of each.
func (w *writer) syncDirs() error {
	if len(w.dirty) == 0 {
		return nil
	}
	defer clear(w.dirty)
	if w.batch && len(w.dirty) > 1 {
		if err := syncFS(w.lock); err != nil {
			return fmt.Errorf("syncing %s: %w", w.dir, err)
		}
		return nil
	}
	for _, d := range slices.Sorted(maps.Keys(w.dirty)) {
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
	return nil
}
