// Package gitcheck tells whether git would commit a file: where plaintext
// secrets are written, a work tree that does not ignore them is one
// `git add -A` away from publishing them.
package gitcheck

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Exposed returns the top of the git work tree that holds path when git
// does not ignore path there (it is tracked, or no ignore rule covers it),
// and "" when path is outside every work tree, ignored, or git is not
// installed. path need not exist yet. A folder path is exposed when git
// would add a new file in it or tracks one below it.
func Exposed(path string) string {
	git, err := exec.LookPath("git")
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	// git runs in the nearest folder that exists.
	dir := filepath.Dir(abs)
	for {
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	top, err := gitCmd(git, dir, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "" // not in a work tree
	}
	probe := abs
	if info, err := os.Stat(abs); err == nil && info.IsDir() {
		tracked, err := gitCmd(git, dir, "ls-files", "--", abs).Output()
		if err == nil && len(tracked) > 0 {
			return strings.TrimSpace(string(top))
		}
		// An ignore rule inside the folder ("*") covers its entries, not
		// the folder itself.
		probe = filepath.Join(abs, "immich-render-probe")
	}
	// check-ignore exits 0 for an ignored path, 1 for one git would add;
	// it reports a tracked file as not ignored.
	err = gitCmd(git, dir, "check-ignore", "-q", "--", probe).Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return strings.TrimSpace(string(top))
	}
	return ""
}

func gitCmd(git, dir string, args ...string) *exec.Cmd {
	c := exec.Command(git, append([]string{"-C", dir}, args...)...)
	// The answer is about the folder's own repository, whatever the
	// caller's environment points git at.
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_DIR=") && !strings.HasPrefix(kv, "GIT_WORK_TREE=") && !strings.HasPrefix(kv, "GIT_INDEX_FILE=") {
			env = append(env, kv)
		}
	}
	c.Env = env
	return c
}
