package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildBinary builds immich-render once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "immich-render")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// snapshot reads a directory into path → mode and bytes.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = info.Mode().String()
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = info.Mode().String() + "\n" + string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeterminism renders every example as a separate process under
// different time zones, locales, umasks, GOMAXPROCS and working
// directories, and requires byte-identical trees with identical modes.
func TestDeterminism(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, ex := range examples(t) {
		t.Run(ex.name, func(t *testing.T) {
			variants := []struct{ tz, lang, umask, procs string }{
				{"UTC", "C", "022", "1"},
				{"Pacific/Chatham", "de_DE.UTF-8", "077", "2"},
				{"America/St_Johns", "tr_TR.UTF-8", "000", "7"},
			}
			var first map[string]string
			for i, v := range variants {
				work := t.TempDir() // a different working directory each time
				out := filepath.Join(t.TempDir(), "out")
				sec := filepath.Join(t.TempDir(), "secrets")
				args := append(ex.args(t), "-o", out, "--secrets-out", sec, "--quiet")
				script := fmt.Sprintf("umask %s && exec %q \"$@\"", v.umask, bin)
				cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
				cmd.Dir = work
				cmd.Env = append(os.Environ(), "TZ="+v.tz, "LANG="+v.lang, "LC_ALL="+v.lang, "GOMAXPROCS="+v.procs)
				for k, val := range ex.env {
					cmd.Env = append(cmd.Env, k+"="+val)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("variant %d: %v\n%s", i, err, stderr.String())
				}
				snap := snapshot(t, out)
				for k, v := range snapshot(t, sec) {
					snap["secrets/"+k] = v
				}
				if first == nil {
					first = snap
					continue
				}
				for k, want := range first {
					if got, ok := snap[k]; !ok {
						t.Errorf("variant %d lacks %s", i, k)
					} else if got != want {
						t.Errorf("variant %d (%+v): %s differs:\n--- first\n%.400s\n--- this\n%.400s", i, v, k, want, got)
					}
				}
				for k := range snap {
					if _, ok := first[k]; !ok {
						t.Errorf("variant %d has extra %s", i, k)
					}
				}
			}
			if all := strings.Join(keys(first), " "); len(first) < 5 || !strings.Contains(all, "docker-compose.yml") && !strings.Contains(all, "immich-server.container") {
				t.Fatalf("suspiciously small tree: %v", keys(first))
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
