package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/immich-render/immich-render/internal/output"
	"github.com/immich-render/immich-render/internal/pipeline"
)

// TestGolden renders every folder of examples/ and compares the result
// byte for byte with golden/<name>/ (the -o tree) and golden/<name>/secrets/
// (the --secrets-out tree, which holds only the examples' fake secrets).
// File modes are part of the manifest, which is compared like any file.
// UPDATE_GOLDEN=1 (make golden) rewrites the goldens: read the diff.
func TestGolden(t *testing.T) {
	update := os.Getenv("UPDATE_GOLDEN") == "1"
	for _, ex := range examples(t) {
		t.Run(ex.name, func(t *testing.T) {
			for k, v := range ex.env {
				t.Setenv(k, v)
			}
			tmp := t.TempDir()
			out, sec := filepath.Join(tmp, "out"), filepath.Join(tmp, "secrets")
			var stdout, stderr bytes.Buffer
			if code := Main(append(ex.args(t), "-o", out, "--secrets-out", sec, "--quiet"), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr.String())
			}
			checkManifestModes(t, out)
			checkManifestModes(t, sec)
			want := filepath.Join("..", "..", "golden", ex.name)
			compareTree(t, out, want, goldenSecrets, update)
			compareTree(t, sec, filepath.Join(want, goldenSecrets), "", update)
		})
	}
}

// TestGoldenFormatsAgree: the same site in CUE and in YAML renders the same.
func TestGoldenFormatsAgree(t *testing.T) {
	a, b := readTree(t, "../../golden/minimal"), readTree(t, "../../golden/minimal-yaml")
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("golden/minimal has %d files, golden/minimal-yaml %d", len(a), len(b))
	}
	for p, data := range a {
		if !bytes.Equal(data, b[p]) {
			t.Errorf("%s differs between the CUE and YAML renderings:\n%s", p, output.UnifiedDiff(p, string(data), string(b[p])))
		}
	}
}

// checkManifestModes requires every written file's mode to be the one the
// manifest records, so comparing manifests compares modes.
func checkManifestModes(t *testing.T, dir string) {
	t.Helper()
	m, err := output.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) == 0 {
		t.Fatalf("%s: empty manifest", dir)
	}
	for _, f := range m.Files {
		info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%04o", info.Mode().Perm()); got != f.Mode {
			t.Errorf("%s: mode on disk %s, manifest says %s", f.Path, got, f.Mode)
		}
	}
}

// goldenSecrets is the folder of golden/<name>/ that holds the
// --secrets-out tree; no example names a fleet host so.
const goldenSecrets = "secrets"

// readTree reads every file below dir, keyed by slash path, leaving out the
// folder skip when it is not "".
func readTree(t *testing.T, dir string, skip ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel, _ := filepath.Rel(dir, p); len(skip) > 0 && skip[0] != "" && rel == skip[0] {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// compareTree compares a rendered directory with its golden copy, or
// replaces the golden copy when updating; the golden folder skip (the
// secrets tree inside an -o tree's golden) is neither compared nor removed.
func compareTree(t *testing.T, got, want, skip string, update bool) {
	t.Helper()
	g := readTree(t, got)
	// --secrets-out's .gitignore ("*") would make git ignore the golden
	// secrets tree itself; its manifest still lists it.
	delete(g, pipeline.SecretsIgnore)
	if update {
		for p := range readTree(t, want, skip) {
			if err := os.Remove(filepath.Join(want, filepath.FromSlash(p))); err != nil {
				t.Fatal(err)
			}
		}
		for p, data := range g {
			dst := filepath.Join(want, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	w := readTree(t, want, skip)
	if len(w) == 0 {
		t.Fatalf("no golden files in %s: run `make golden` and read the diff", want)
	}
	for p, data := range g {
		exp, ok := w[p]
		switch {
		case !ok:
			t.Errorf("%s: rendered but not in %s", p, want)
		case !bytes.Equal(exp, data):
			t.Errorf("%s differs from %s (make golden updates it):\n%s", p, want, output.UnifiedDiff(p, string(exp), string(data)))
		}
	}
	for p := range w {
		if _, ok := g[p]; !ok {
			t.Errorf("%s: in %s but no longer rendered", p, want)
		}
	}
}
