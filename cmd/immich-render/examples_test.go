package main

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// example is a folder of examples/: its configuration files, its example
// secrets (env) and extra flags (args).
type example struct {
	name    string
	dir     string
	configs []string
	env     map[string]string
	extra   []string
}

// examples lists every folder of examples/.
func examples(t *testing.T) []example {
	t.Helper()
	root := filepath.Join("..", "..", "examples")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		ex := example{name: e.Name(), dir: filepath.Join(root, e.Name()), env: map[string]string{}}
		files, _ := filepath.Glob(filepath.Join(ex.dir, "*"))
		slices.Sort(files)
		for _, f := range files {
			switch filepath.Base(f) {
			case "env":
				ex.env = readLines(t, f, true)
			case "args":
				for k := range readLines(t, f, false) {
					ex.extra = append(ex.extra, k)
				}
				slices.Sort(ex.extra)
			default:
				if strings.HasPrefix(filepath.Base(f), "immich") || strings.HasPrefix(filepath.Base(f), "site") {
					ex.configs = append(ex.configs, f)
				}
			}
		}
		if len(ex.configs) == 0 {
			t.Fatalf("example %s has no configuration file", ex.name)
		}
		out = append(out, ex)
	}
	if len(out) < 3 {
		t.Fatalf("want at least 3 examples, found %d", len(out))
	}
	return out
}

// args are the example's command-line arguments with absolute config paths.
func (ex example) args(t *testing.T) []string {
	var args []string
	for _, c := range ex.configs {
		abs, err := filepath.Abs(c)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "-c", abs)
	}
	return append(args, ex.extra...)
}

// readLines reads KEY=VALUE lines (kv) or plain lines, skipping comments.
func readLines(t *testing.T, path string, kv bool) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if kv {
			k, v, _ := strings.Cut(line, "=")
			out[k] = v
		} else {
			out[line] = ""
		}
	}
	return out
}
