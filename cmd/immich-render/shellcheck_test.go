package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// TestGoldenShellScripts runs sh -n and shellcheck on every shell script
// of every golden tree (a file that starts with #!/bin/sh): the scripts
// are rendered from templates (render/scripts/*.sh), so only their output
// can be linted.
func TestGoldenShellScripts(t *testing.T) {
	shellcheck := testenv.Binary(t, "shellcheck")
	sh := testenv.Binary(t, "sh")
	// Scripts of the same bytes are checked once.
	var scripts []string
	seen := map[string]bool{}
	err := filepath.WalkDir(filepath.Join("..", "..", "golden"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil && bytes.HasPrefix(data, []byte("#!/bin/sh\n")) && !seen[string(data)] {
			seen[string(data)] = true
			scripts = append(scripts, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 5 {
		t.Fatalf("found only %d shell scripts in golden/: %q", len(scripts), scripts)
	}
	for _, p := range scripts {
		if out, err := exec.Command(sh, "-n", p).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", p, err, out)
		}
	}
	// One shellcheck run for all: it costs a start-up per process.
	out, err := exec.Command(shellcheck, append([]string{"--shell=sh", "--severity=style", "--format=gcc"}, scripts...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
	t.Logf("%d different scripts checked", len(scripts))
}
