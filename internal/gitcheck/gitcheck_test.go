package gitcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("git %q: %v\n%s", args, err, out)
	}
}

func TestExposed(t *testing.T) {
	testenv.Binary(t, "git")
	repo := t.TempDir()
	git(t, repo, "init", "-q")
	repo, _ = filepath.EvalSymlinks(repo)
	secret := filepath.Join(repo, "secrets", "db_password")
	if got := Exposed(secret); got != repo {
		t.Errorf("a file in a work tree that does not ignore it (not yet there): %q, want %q", got, repo)
	}
	os.MkdirAll(filepath.Dir(secret), 0o700)
	os.WriteFile(secret, []byte("x"), 0o600)
	os.WriteFile(filepath.Join(repo, "secrets", ".gitignore"), []byte("*\n"), 0o600)
	if got := Exposed(secret); got != "" {
		t.Errorf("an ignored file: %q", got)
	}
	if got := Exposed(filepath.Dir(secret)); got != "" {
		t.Errorf("an ignored folder: %q", got)
	}
	git(t, repo, "add", "-f", "secrets/db_password")
	if got := Exposed(secret); got != repo {
		t.Errorf("a tracked file, though ignored: %q, want %q", got, repo)
	}
	if got := Exposed(filepath.Dir(secret)); got != repo {
		t.Errorf("a folder with a tracked file: %q, want %q", got, repo)
	}
	if got := Exposed(filepath.Join(t.TempDir(), "x")); got != "" {
		t.Errorf("outside any work tree: %q", got)
	}
}
