package output

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
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
	var d Drift
	if err := validate(t); err != nil {
		return d, err
	}
	dir = filepath.Clean(dir)
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
	h, err := openLocked(dir, false, opt.OnWait)
	if err != nil {
		return d, err
	}
	defer h.close()
	// The manifest (every file's hash) is only compared when every file
	// matches, so it is built only then; the scan leaves it unread.
	entries, err := h.scan(func(p string) ([]byte, bool) {
		if p == ManifestName {
			return nil, false
		}
		f, ok := t[p]
		return f.Data, ok
	}, nil)
	if err != nil {
		return d, err
	}
	l := plan(entries, t)
	for _, p := range t.Paths() {
		c, differs, err := h.compare(p, entries, t[p].Data, t[p].Mode, opt)
		switch {
		case err != nil:
			return d, err
		case c == nil:
			d.New = append(d.New, p)
		case differs:
			d.Changed = append(d.Changed, *c)
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
		manifest := NewManifest(t, opt).Marshal()
		c, differs, err := h.compare(ManifestName, entries, manifest, opt.manifestMode(), opt)
		switch {
		case err != nil:
			return d, err
		case c == nil:
			d.New = []string{ManifestName}
		case differs && c.OldMode == c.NewMode && c.Disk == "" && h.onlyVersionDiffers(manifest, opt):
			d.RecordedVersion, _ = h.recordedVersion()
		case differs:
			d.Changed = []Change{*c}
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
