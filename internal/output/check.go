package output

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/immich-render/immich-render/internal/tree"
)

// Drift is how a directory differs from what Write would make of it. It
// reads from the directory (a) to the render (b): a diff turns the file on
// disk into the rendered one, "new" is a file the render adds, "removed" one
// it deletes. Paths are slash-separated, relative to the directory, sorted.
type Drift struct {
	Changed []Change // files (and directories) on both sides that differ
	New     []string // in the render, not on disk
	// Removed are on disk but not in the render: files, links, temporary
	// files of an interrupted write, empty directories (with a trailing
	// slash). The manifest is never among them.
	Removed []string
	// RecordedVersion is the tool version the manifest on disk records,
	// when it is not this one and nothing else differs: a newer
	// immich-render that renders the same bytes is no drift, but a check
	// can say so.
	RecordedVersion string
}

// Change is one path that differs.
type Change struct {
	Path string // a directory's path ends in "/"
	// Disk names what is on disk when it is not a regular file
	// ("symbolic link", "directory", ...), and is empty otherwise.
	Disk    string
	OldMode fs.FileMode // the mode on disk
	NewMode fs.FileMode // the mode the render writes
	Content bool        // the contents differ
	Binary  bool        // a side is not UTF-8 text (or has a NUL byte)
	// Diff is the unified diff from a/Path to b/Path. It is empty when the
	// contents are equal or binary, and when Options.NoDiffContent hides them.
	Diff string
}

// Empty reports whether there is no drift at all.
func (d Drift) Empty() bool {
	return len(d.Changed) == 0 && len(d.New) == 0 && len(d.Removed) == 0
}

// Summary is the last line of Format: "3 files differ, 1 new, 1 removed".
func (d Drift) Summary() string {
	verb := "files differ"
	if len(d.Changed) == 1 {
		verb = "file differs"
	}
	return fmt.Sprintf("%d %s, %d new, %d removed", len(d.Changed), verb, len(d.New), len(d.Removed))
}

// Format prints the drift for a person: each change (a mode line
// "mode 0644 -> 0600: PATH", then its unified diff, or "binary files
// differ: PATH" or "contents differ: PATH"), then "new: PATH" and
// "removed: PATH" lines, then the summary. It prints nothing when the
// drift is empty.
func (d Drift) Format(w io.Writer) error {
	if d.Empty() {
		return nil
	}
	var b strings.Builder
	for _, c := range d.Changed {
		if c.Disk != "" {
			fmt.Fprintf(&b, "not a regular file (%s): %s\n", c.Disk, c.Path)
			continue
		}
		if c.OldMode != c.NewMode {
			fmt.Fprintf(&b, "mode %s -> %s: %s\n", octal(c.OldMode), octal(c.NewMode), c.Path)
		}
		switch {
		case !c.Content:
		case c.Diff != "":
			b.WriteString(c.Diff)
		case c.Binary:
			fmt.Fprintf(&b, "binary files differ: %s\n", c.Path)
		default:
			fmt.Fprintf(&b, "contents differ: %s\n", c.Path)
		}
	}
	for _, p := range d.New {
		fmt.Fprintf(&b, "new: %s\n", p)
	}
	for _, p := range d.Removed {
		fmt.Fprintf(&b, "removed: %s\n", p)
	}
	b.WriteString(d.Summary())
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// Check compares dir with what Write(dir, t, opt) would leave there, and
// writes nothing. A missing dir is drift: every file is new. Modes count,
// of files and of the directories that hold them (unless opt.GitModes). The manifest is compared
// too, but reported only when every file matches (a new tool version, for
// instance): otherwise its difference is just a consequence. Check refuses
// a dir that is a symbolic link or not a directory, like Write, and waits
// while a Write into dir is under way.
func Check(dir string, t tree.Tree, opt Options) (Drift, error) {
	return (&Checking{dir: filepath.Clean(dir)}).Finish(t, opt)
}

// Checking is a Check that is given its tree in parts, so that the bytes
// of what already matches need not be kept: a fleet's hosts, each as soon
// as it is rendered (CompareDir), then the whole tree (Finish). The result
// is Check's, to the byte.
//
// BeginCheck locks DIR (shared, as Check) until Finish or Close, so that
// no Write changes it between the parts. Comparing early is only ever a
// saving: when DIR cannot be opened then, or a part cannot be read, that
// part is left whole for Finish, which does what Check does and reports
// what Check would (DIR missing, a link, unreadable). BeginCheck never
// waits: while a Write holds DIR, nothing is compared early and Finish
// waits for it, as Check does. So a caller may begin the checks of two
// directories and finish them one after the other without ever waiting
// for one while it holds the other.
type Checking struct {
	dir string
	h   *handle // DIR, open and locked since BeginCheck; nil: Finish opens it

	mu      sync.Mutex
	entries map[string]entry // what the scans of the parts found under them
	scanned map[string]bool  // the parts' directories: their entries are all in entries
	// sums are the digests of the files whose bytes CompareDir dropped, for
	// the manifest: those bytes are on disk, as they are.
	sums map[string][sha256.Size]byte
}

// BeginCheck starts a Checking of dir: it opens and locks dir now if no
// Write holds it. Close it, or Finish it.
func BeginCheck(dir string) *Checking {
	c := &Checking{dir: filepath.Clean(dir), entries: map[string]entry{}, scanned: map[string]bool{}, sums: map[string][sha256.Size]byte{}}
	if exists, err := statDir(c.dir); err == nil && exists {
		if h, err := openLockedNow(c.dir, false); err == nil {
			c.h = h
		}
	}
	return c
}

// CompareDir compares the files of t, the part of the tree under sub (a
// directory at the top of DIR, such as a fleet host's), paths relative to
// sub, with what is under DIR/sub, and drops from t the bytes of every
// file that DIR holds exactly (its mode aside): t's entries stay, with
// their paths and modes, and t goes on into the tree given to Finish as it
// is. Files that differ keep their bytes, for the diffs and for the
// caller. CompareDir is safe for concurrent use, once for each sub.
func (c *Checking) CompareDir(sub string, t tree.Tree) {
	if c.h == nil || len(t) == 0 {
		return
	}
	pre := sub + "/"
	entries, err := c.h.scanSub(sub, func(p string) ([]byte, bool) {
		f, ok := t[strings.TrimPrefix(p, pre)]
		return f.Data, ok
	})
	if err != nil {
		return // Finish scans sub again, and reports it
	}
	sums := make(map[string][sha256.Size]byte, len(t))
	for rel, f := range t {
		if e := entries[pre+rel]; e.isRegular() && e.same {
			sums[pre+rel] = sha256.Sum256(f.Data)
			f.Data = nil
			t[rel] = f
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.scanned[sub] {
		panic(fmt.Sprintf("output: %s compared twice", sub))
	}
	c.scanned[sub] = true
	maps.Copy(c.entries, entries)
	maps.Copy(c.sums, sums)
}

// Close releases DIR. Finish closes it too; Close after it does nothing.
func (c *Checking) Close() {
	if c.h != nil {
		c.h.close()
		c.h = nil
	}
}

// Finish compares DIR with what Write(dir, t, opt) would leave there, as
// Check does. t is the whole tree: the parts given to CompareDir, as it
// left them, and the rest.
func (c *Checking) Finish(t tree.Tree, opt Options) (Drift, error) {
	defer c.Close()
	var d Drift
	if err := validate(t); err != nil {
		return d, err
	}
	for p := range c.sums {
		if f, ok := t[p]; ok && f.Data != nil {
			return d, fmt.Errorf("output: %s was compared, then given again with its bytes (a caller bug)", p)
		}
	}
	dir := c.dir
	if c.h == nil {
		exists, err := statDir(dir)
		if err != nil {
			return d, err
		}
		if !exists {
			d.New = t.Paths()
			if len(d.New) == 0 {
				d.New = []string{ManifestName}
			}
			return d, nil
		}
		c.h, err = openLocked(dir, false, opt.OnWait)
		if err != nil {
			return d, err
		}
	}
	h := c.h
	// The manifest (every file's hash) is only compared when every file
	// matches, so it is built only then; the scan leaves it unread.
	entries, err := h.scan(func(p string) ([]byte, bool) {
		if p == ManifestName {
			return nil, false
		}
		f, ok := t[p]
		return f.Data, ok
	}, c.scanned)
	if err != nil {
		return d, err
	}
	maps.Copy(entries, c.entries)
	l := plan(entries, t)
	for _, p := range t.Paths() {
		ch, differs, err := h.compare(p, entries, t[p].Data, t[p].Mode, opt)
		switch {
		case err != nil:
			return d, err
		case ch == nil:
			d.New = append(d.New, p)
		case differs:
			d.Changed = append(d.Changed, *ch)
		}
	}
	mode := opt.dirMode()
	for _, p := range slices.Sorted(maps.Keys(l.needed)) {
		if e, ok := entries[p]; ok && e.isDir() && e.mode&modeBits != mode && !opt.GitModes {
			d.Changed = append(d.Changed, Change{Path: p + "/", OldMode: e.mode & modeBits, NewMode: mode})
		}
	}
	if opt.RootMode && !opt.GitModes {
		fi, err := h.lock.Stat()
		if err != nil {
			return d, fmt.Errorf("reading the mode of %s: %w", dir, err)
		}
		if got := fi.Mode() & modeBits; got != mode {
			d.Changed = append(d.Changed, Change{Path: "./", OldMode: got, NewMode: mode})
		}
	}
	d.Removed = l.removed
	if d.Empty() {
		manifest := newManifest(t, opt, c.sums).Marshal()
		ch, differs, err := h.compare(ManifestName, entries, manifest, opt.manifestMode(), opt)
		switch {
		case err != nil:
			return d, err
		case ch == nil:
			d.New = []string{ManifestName}
		case differs && ch.OldMode == ch.NewMode && ch.Disk == "" && h.onlyVersionDiffers(manifest, opt):
			d.RecordedVersion, _ = h.recordedVersion()
		case differs:
			d.Changed = []Change{*ch}
		}
	}
	slices.SortFunc(d.Changed, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return d, nil
}

// onlyVersionDiffers reports whether the manifest on disk is manifest but
// for the tool version it records.
func (h *handle) onlyVersionDiffers(manifest []byte, opt Options) bool {
	disk, err := readManifest(h.root)
	if err != nil || disk.Version == opt.Version {
		return false
	}
	disk.Version = opt.Version
	return bytes.Equal(disk.Marshal(), manifest)
}

func (h *handle) recordedVersion() (string, error) {
	m, err := readManifest(h.root)
	return m.Version, err
}

// compare returns how p on disk differs from data and mode: nil when p is
// not on disk, and whether it differs at all.
func (h *handle) compare(p string, entries map[string]entry, data []byte, mode fs.FileMode, opt Options) (*Change, bool, error) {
	e, ok := entries[p]
	if !ok {
		return nil, false, nil
	}
	c := &Change{Path: p, NewMode: mode}
	if !e.isRegular() {
		c.Disk = kindOf(e.mode)
		return c, true, nil
	}
	c.OldMode = e.mode & modeBits
	if opt.GitModes && c.OldMode&0o100 == mode&0o100 {
		c.OldMode = mode // the same to git
	}
	if e.same {
		return c, c.OldMode != c.NewMode, nil
	}
	disk, err := h.root.ReadFile(filepath.FromSlash(p))
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", h.show(p), err)
	}
	if bytes.Equal(disk, data) {
		return c, c.OldMode != c.NewMode, nil
	}
	c.Content = true
	c.Binary = isBinary(disk) || isBinary(data)
	if !c.Binary && !opt.NoDiffContent {
		c.Diff = unifiedDiff(p, string(disk), string(data))
	}
	return c, true, nil
}

// isBinary reports whether data is not text a diff can show.
func isBinary(data []byte) bool {
	return !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0
}
