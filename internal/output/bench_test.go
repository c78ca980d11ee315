package output

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/tree"
)

// hostFiles are the paths, sizes and modes of one host's rendered files
// (examples/minimal), so that a benchmark tree has a render's shape.
var hostFiles = []struct {
	path string
	size int
	mode fs.FileMode
}{
	{"README.md", 5869, 0o644},
	{"fragments/apply.sh", 1884, 0o644},
	{"fragments/postgresql/pg_hba.conf", 713, 0o644},
	{"fragments/postgresql/postgresql.conf", 1375, 0o644},
	{"fragments/valkey/valkey.conf", 1081, 0o644},
	{"rootfs/etc/systemd/system/immich-db-init.service", 694, 0o644},
	{"rootfs/etc/systemd/system/immich.service", 854, 0o644},
	{"rootfs/etc/valkey/users.acl", 312, 0o640},
	{"rootfs/opt/podman/immich/docker-compose.yml", 1825, 0o644},
	{"rootfs/opt/podman/immich/postgres/init.sql", 2838, 0o640},
}

// fleetTree is a tree of hosts hosts, each with hostFiles under its own
// directory, with contents that differ from host to host.
func fleetTree(hosts int) tree.Tree {
	t := tree.Tree{}
	for h := range hosts {
		name := fmt.Sprintf("nas%04d", h)
		for _, f := range hostFiles {
			line := fmt.Sprintf("%s %s %s\n", name, f.path, strings.Repeat("x", 50))
			data := []byte(strings.Repeat(line, f.size/len(line)+1)[:f.size])
			t.Add(name+"/"+f.path, data, f.mode)
		}
	}
	return t
}

func benchSizes(b *testing.B, f func(b *testing.B, t tree.Tree)) {
	for _, hosts := range []int{1, 200} {
		t := fleetTree(hosts)
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			b.ReportMetric(float64(len(t)), "files")
			f(b, t)
		})
	}
}

// BenchmarkWriteEmpty writes a tree into a new directory: every file is
// written, then the barrier, the renames and the manifest.
func BenchmarkWriteEmpty(b *testing.B) {
	benchSizes(b, func(b *testing.B, t tree.Tree) {
		base := b.TempDir()
		i := 0
		for b.Loop() {
			i++
			if _, err := Write(filepath.Join(base, fmt.Sprint(i)), t, testOpt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWriteUnchanged re-writes a tree into a directory that already
// holds it: every file is read and compared, nothing is written.
func BenchmarkWriteUnchanged(b *testing.B) {
	benchSizes(b, func(b *testing.B, t tree.Tree) {
		dir := filepath.Join(b.TempDir(), "out")
		if _, err := Write(dir, t, testOpt); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			r, err := Write(dir, t, testOpt)
			if err != nil {
				b.Fatal(err)
			}
			if len(r.Written) > 0 || r.Manifest {
				b.Fatalf("an unchanged write wrote: %s", r)
			}
		}
	})
}

// BenchmarkWriteOneChanged re-renders a 200-host tree (2,000 files) in
// which one file changed: a swap links the 1,999 others into a staging
// tree and removes the old one; in place renames the one file.
func BenchmarkWriteOneChanged(b *testing.B) {
	t := fleetTree(200)
	p := t.Paths()[len(t)/2]
	other := tree.Tree{}
	for q, f := range t {
		other[q] = f
	}
	other[p] = tree.File{Path: p, Data: append([]byte("# changed\n"), t[p].Data...), Mode: t[p].Mode}
	for _, how := range []struct {
		name    string
		inPlace bool
		want    Method
	}{{"swap", false, Swapped}, {"in-place", true, InPlace}} {
		b.Run(how.name, func(b *testing.B) {
			opt := testOpt
			opt.inPlace = how.inPlace
			dir := filepath.Join(b.TempDir(), "out")
			if _, err := Write(dir, t, opt); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				r, err := Write(dir, []tree.Tree{t, other}[i%2], opt)
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Written) != 1 || r.Method != how.want {
					b.Fatalf("wrote %s, %v", r, r.Method)
				}
			}
		})
	}
}

// BenchmarkCheck checks a directory that holds the tree: no drift.
func BenchmarkCheck(b *testing.B) {
	benchSizes(b, func(b *testing.B, t tree.Tree) {
		dir := filepath.Join(b.TempDir(), "out")
		if _, err := Write(dir, t, testOpt); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			d, err := Check(dir, t, testOpt)
			if err != nil {
				b.Fatal(err)
			}
			if !d.Empty() {
				b.Fatal("drift in an unchanged directory")
			}
		}
	})
}

// BenchmarkManifest hashes a tree and encodes its manifest.
func BenchmarkManifest(b *testing.B) {
	benchSizes(b, func(b *testing.B, t tree.Tree) {
		for b.Loop() {
			NewManifest(t, testOpt).Marshal()
		}
	})
}
