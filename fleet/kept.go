package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/immich-render/immich-render/output"
	"github.com/immich-render/immich-render/tree"
)

// Kept reads back, through dir's previous manifest, the files of the
// hosts a partial render does not render, so that writing the combined
// tree leaves them exactly as they are on disk. Only hosts that the
// manifest's metadata records (a previous fleet render wrote them) are
// kept; a file listed but missing, or no longer a regular file, is left
// out. It returns the kept tree and the kept hosts' summaries.
//
// The files are read before output.Write takes the directory's lock, so
// a concurrent render of other hosts into the same directory between the
// two can be undone; partial renders of one directory should not run at
// the same time.
func Kept(dir string, prev output.Manifest, rendered func(host string) bool) (tree.Tree, []Summary, error) {
	var sums []Summary
	known := map[string]bool{}
	for _, s := range FromMeta(prev.Meta) {
		if !rendered(s.Name) {
			known[s.Name] = true
			sums = append(sums, s)
		}
	}
	if len(known) == 0 {
		return tree.Tree{}, nil, nil
	}
	t, err := readFiles(dir, prev, func(h string) bool { return known[h] })
	return t, sums, err
}

// KeptSecrets is Kept for a secrets directory, whose manifest has no
// metadata: it keeps the files of every host in keep.
func KeptSecrets(dir string, prev output.Manifest, keep []string) (tree.Tree, error) {
	if len(keep) == 0 {
		return tree.Tree{}, nil
	}
	return readFiles(dir, prev, func(h string) bool { return slices.Contains(keep, h) })
}

// readFiles reads the regular files that prev lists for the hosts in keep.
func readFiles(dir string, prev output.Manifest, keep func(host string) bool) (tree.Tree, error) {
	t := tree.Tree{}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the hosts to keep: %w", err)
	}
	defer root.Close()
	for _, f := range prev.Files {
		if h := HostOf(f.Path); h == "" || !keep(h) {
			continue
		}
		name := filepath.FromSlash(f.Path)
		fi, err := root.Lstat(name)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		data, err := root.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading %s to keep it: %w", filepath.Join(dir, name), err)
		}
		t[f.Path] = tree.File{Data: data, Mode: fi.Mode().Perm()}
	}
	return t, nil
}

// Scope keeps only the drift of the rendered hosts and of the files at the
// top of the directory (the index): a partial check does not report the
// other hosts' files, which it did not render, as removed.
func Scope(d output.Drift, rendered func(host string) bool) output.Drift {
	in := func(p string) bool {
		trimmed := strings.TrimSuffix(p, "/") // a directory
		h, _, nested := strings.Cut(trimmed, "/")
		if !nested && trimmed == p {
			return true // a file at the top: the index
		}
		return rendered(h)
	}
	var out output.Drift
	for _, c := range d.Changed {
		if in(c.Path) {
			out.Changed = append(out.Changed, c)
		}
	}
	for _, p := range d.New {
		if in(p) {
			out.New = append(out.New, p)
		}
	}
	for _, p := range d.Removed {
		if in(p) {
			out.Removed = append(out.Removed, p)
		}
	}
	return out
}
