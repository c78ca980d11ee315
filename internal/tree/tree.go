// Package tree is the in-memory form of a rendered directory: slash paths
// mapped to bytes and modes. Renderers build one; the output package writes
// or checks it. Nothing here touches the disk.
package tree

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// File is one rendered file and where it goes.
type File struct {
	Path string // in the output tree, such as "rootfs/etc/valkey/users.acl"
	Data []byte
	Mode fs.FileMode // permission bits only, such as 0o644
	// Owner is "user:group" on the host, or "" for root:root. A file that
	// a service account must read (users.acl, init.sql) is group-owned by it.
	Owner string
	// Secret files hold plaintext secrets: they go under --secrets-out,
	// never under -o.
	Secret bool
}

// Tree maps clean, relative, slash-separated paths to files.
type Tree map[string]File

// Add puts a file in the tree. It panics on a path that could escape the
// tree or on a duplicate: both are renderer bugs, never user input.
func (t Tree) Add(p string, data []byte, mode fs.FileMode) {
	if !fs.ValidPath(p) || p == "." || strings.Contains(p, "\\") {
		panic(fmt.Sprintf("tree: invalid path %q", p))
	}
	if _, dup := t[p]; dup {
		panic(fmt.Sprintf("tree: %s rendered twice", p))
	}
	// A renderer's buffer has grown by doubling: up to twice the file's
	// size, kept for the whole run. A fleet's trees are its largest live
	// data (~60 KB a host), so a file much smaller than its buffer is
	// copied out of it.
	if cap(data) > len(data)+len(data)/8 {
		data = bytes.Clone(data)
	}
	t[p] = File{Path: p, Data: data, Mode: mode & fs.ModePerm}
}

// Put adds f at f.Path, with its owner and secret-ness.
func (t Tree) Put(f File) {
	t.Add(f.Path, f.Data, f.Mode)
	g := t[f.Path]
	g.Owner, g.Secret = f.Owner, f.Secret
	t[f.Path] = g
}

// AddOwned is Add for a file with a host owner such as "root:valkey".
func (t Tree) AddOwned(p string, data []byte, mode fs.FileMode, owner string) {
	t.Add(p, data, mode)
	f := t[p]
	f.Owner = owner
	t[p] = f
}

// Rooted returns the tree path of an absolute host path under prefix, such
// as Rooted("rootfs", "/etc/valkey/users.acl") = "rootfs/etc/valkey/users.acl".
func Rooted(prefix, hostPath string) string {
	return path.Join(prefix, strings.TrimPrefix(path.Clean(hostPath), "/"))
}

// Paths returns every path in sorted order.
func (t Tree) Paths() []string {
	out := make([]string, 0, len(t))
	for p := range t {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
