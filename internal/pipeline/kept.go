package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/immich-render/immich-render/internal/output"
	"github.com/immich-render/immich-render/internal/tree"
)

// readHostFiles reads back, through dir's previous manifest, the files of
// the hosts a partial render (--host) does not render, so that writing the
// combined tree leaves them exactly as they are on disk. A file listed but
// missing, or no longer a regular file, is left out.
//
// The caller holds dir's lock (output.Hold) from before it reads the
// manifest until it has written the directory, so that a concurrent
// render of other hosts cannot land in between and be undone.
func readHostFiles(dir string, prev output.Manifest, hosts []string) (tree.Tree, error) {
	keep := make(map[string]bool, len(hosts)) // hosts is every other host: a set, not a scan per file
	for _, h := range hosts {
		keep[h] = true
	}
	t := tree.Tree{}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the hosts to keep: %w", err)
	}
	defer root.Close()
	for _, f := range prev.Files {
		if h := HostOf(f.Path); h == "" || !keep[h] {
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
		t[f.Path] = tree.File{Path: f.Path, Data: data, Mode: fi.Mode().Perm()}
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
