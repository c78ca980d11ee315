package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// shapes are the two shapes of configuration. Every safety property below
// runs for both from the same table, so that a site and a fleet cannot
// drift apart again: host is where one host's files sit under -o.
var shapes = []struct {
	name, config, v2config, host string
}{
	{"site", safetySite("v3.1.0"), safetySite("v2.5.0"), ""},
	{"fleet", safetyFleet("v3.1.0"), safetyFleet("v2.5.0"), "nas001/"},
}

func safetySite(version string) string {
	return strings.Replace(testenv.Minimal, `"v3.1.0"`, `"`+version+`"`, 1)
}

func safetyFleet(version string) string {
	return strings.Replace(testenv.Fleet("nas001: {}\nnas002: immich: port: 2284"), `"v3.1.0"`, `"`+version+`"`, 1)
}

// safetyDir is a working directory with the shape's configuration as
// immich.cue and immich-v2.cue.
func safetyDir(t *testing.T, config, v2 string) string {
	t.Helper()
	setSecrets(t)
	dir := t.TempDir()
	for name, src := range map[string]string{"immich.cue": config, "immich-v2.cue": v2} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSafetyProperties runs every guarantee of the owned directories for
// a site and for a fleet.
func TestSafetyProperties(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			cfg := func(dir string) string { return filepath.Join(dir, "immich.cue") }
			acl := sh.host + "rootfs/etc/valkey/users.acl"
			secret := sh.host + "rootfs/opt/podman/immich/secrets/db_password"

			t.Run("overlap refused, nothing written", func(t *testing.T) {
				dir := safetyDir(t, sh.config, sh.v2config)
				out := filepath.Join(dir, "out")
				for _, sdir := range []string{filepath.Join(out, "secrets"), out, dir} {
					code, _, stderr := runMain(t, "-c", cfg(dir), "-o", out, "--secrets-out", sdir)
					if code != exitInvalid || !strings.Contains(stderr, "overlap") {
						t.Errorf("--secrets-out %s: exit %d, %s", sdir, code, stderr)
					}
					if _, err := os.Stat(out); !os.IsNotExist(err) {
						t.Fatalf("--secrets-out %s: -o was created", sdir)
					}
				}
			})

			t.Run("both directories preflighted", func(t *testing.T) {
				dir := safetyDir(t, sh.config, sh.v2config)
				out, sout := filepath.Join(dir, "out"), filepath.Join(dir, "secrets")
				os.Mkdir(sout, 0o700)
				os.WriteFile(filepath.Join(sout, "keep.txt"), []byte("mine\n"), 0o600)
				code, _, stderr := runMain(t, "-c", cfg(dir), "-o", out, "--secrets-out", sout)
				if code != exitIO || !strings.Contains(stderr, "force") {
					t.Errorf("foreign --secrets-out: exit %d, %s", code, stderr)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Error("-o was written although --secrets-out was refused")
				}
				// And the other way round: a foreign -o leaves --secrets-out alone.
				os.RemoveAll(sout)
				os.Mkdir(out, 0o755)
				os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine\n"), 0o644)
				if code, _, _ := runMain(t, "-c", cfg(dir), "-o", out, "--secrets-out", sout); code != exitIO {
					t.Errorf("foreign -o: exit %d", code)
				}
				if _, err := os.Stat(sout); !os.IsNotExist(err) {
					t.Error("--secrets-out was written although -o was refused")
				}
			})

			t.Run("foreign directory refused, --force takes it over", func(t *testing.T) {
				dir := safetyDir(t, sh.config, sh.v2config)
				out := filepath.Join(dir, "out")
				os.Mkdir(out, 0o755)
				os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine\n"), 0o644)
				code, _, stderr := runMain(t, "-c", cfg(dir), "-o", out)
				if code != exitIO || !strings.Contains(stderr, "force") {
					t.Fatalf("exit %d, %s", code, stderr)
				}
				if read(t, filepath.Join(out, "notes.txt")) != "mine\n" {
					t.Fatal("a refused directory was changed")
				}
				mustRun(t, "-c", cfg(dir), "-o", out, "--force")
				if _, err := os.Stat(filepath.Join(out, "notes.txt")); !os.IsNotExist(err) {
					t.Error("--force kept a file it does not render")
				}
				if _, err := os.Stat(filepath.Join(out, acl)); err != nil {
					t.Error(err)
				}
			})

			t.Run("secrets only under --secrets-out", func(t *testing.T) {
				dir := safetyDir(t, sh.config, sh.v2config)
				out, sout := filepath.Join(dir, "out"), filepath.Join(dir, "secrets")
				mustRun(t, "-c", cfg(dir), "-o", out, "--secrets-out", sout)
				if got := read(t, filepath.Join(sout, secret)); got != "test-postgres-password" {
					t.Errorf("secret file holds %q", got)
				}
				filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() && bytes.Contains([]byte(read(t, p)), []byte("test-postgres-password")) {
						t.Errorf("%s holds a plaintext secret", p)
					}
					return nil
				})
			})

			t.Run("prune and leftovers of an interrupted write", func(t *testing.T) {
				dir := safetyDir(t, sh.config, sh.v2config)
				out := filepath.Join(dir, "out")
				mustRun(t, "-c", cfg(dir), "-o", out)
				stray := filepath.Join(out, sh.host+"rootfs/stray.txt")
				// What a killed write leaves: a temporary file beside its target.
				leftover := filepath.Join(out, sh.host+"rootfs/etc/valkey/.immich-render-tmp-0123456789abcdef")
				os.WriteFile(stray, []byte("x\n"), 0o644)
				os.WriteFile(leftover, []byte("half"), 0o644)
				code, stdout, _ := runMain(t, "-c", cfg(dir), "-o", out, "--check")
				if code != exitDrift || !strings.Contains(stdout, "removed: "+sh.host+"rootfs/stray.txt") ||
					!strings.Contains(stdout, "removed: "+sh.host+"rootfs/etc/valkey/.immich-render-tmp-") {
					t.Errorf("check: exit %d\n%s", code, stdout)
				}
				stderr := mustRun(t, "-c", cfg(dir), "-o", out)
				if !strings.Contains(stderr, "removed 2") {
					t.Errorf("render: %s", stderr)
				}
				for _, p := range []string{stray, leftover} {
					if _, err := os.Stat(p); !os.IsNotExist(err) {
						t.Errorf("%s survived", p)
					}
				}
			})

			t.Run("lock serialises renders", func(t *testing.T) {
				dir := safetyDir(t, sh.config, sh.v2config)
				out := filepath.Join(dir, "out")
				mustRun(t, "-c", cfg(dir), "-o", out)
				d, err := os.Open(out)
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
					t.Fatal(err)
				}
				// No timing: the lock is released once the second render
				// says it waits, and a render that finished first failed.
				done := make(chan string)
				stderr := &signalWriter{text: "waiting for another render", seen: make(chan struct{})}
				go func() {
					var o bytes.Buffer
					Main([]string{"-c", cfg(dir), "-o", out}, &o, stderr)
					done <- stderr.String()
				}()
				select {
				case got := <-done:
					t.Fatalf("a render went ahead under another's lock: %s", got)
				case <-stderr.seen:
				}
				syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
				if got := <-done; !strings.Contains(got, ": wrote ") {
					t.Errorf("the second render did not finish after the lock: %s", got)
				}
			})

			t.Run("upgrade notes", func(t *testing.T) {
				dir := safetyDir(t, sh.config, sh.v2config)
				out := filepath.Join(dir, "out")
				mustRun(t, "-c", filepath.Join(dir, "immich-v2.cue"), "-o", out)
				stderr := mustRun(t, "-c", cfg(dir), "-o", out)
				if !strings.Contains(stderr, "upgrade notes") || !strings.Contains(stderr, "v3.0.0 removed pgvecto.rs") {
					t.Errorf("no upgrade notes:\n%s", stderr)
				}
				if stderr := mustRun(t, "-c", cfg(dir), "-o", out); strings.Contains(stderr, "upgrade notes") {
					t.Errorf("upgrade notes without an upgrade:\n%s", stderr)
				}
			})

			t.Run("check from a git clone", func(t *testing.T) {
				git := testenv.Binary(t, "git")
				dir := safetyDir(t, sh.config, sh.v2config)
				repo := filepath.Join(dir, "repo")
				os.Mkdir(repo, 0o755)
				os.Rename(cfg(dir), cfg(repo))
				mustRun(t, "-c", cfg(repo), "-o", filepath.Join(repo, "out"))
				run := func(dir string, args ...string) {
					t.Helper()
					c := exec.Command(git, args...)
					c.Dir = dir
					c.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
						"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
					if out, err := c.CombinedOutput(); err != nil {
						t.Fatalf("git %v: %v\n%s", args, err, out)
					}
				}
				run(repo, "init", "-q")
				run(repo, "add", ".")
				run(repo, "commit", "-q", "-m", "rendered")
				clone := filepath.Join(dir, "clone")
				run(dir, "clone", "-q", repo, clone)
				if fi, err := os.Stat(filepath.Join(clone, "out", acl)); err != nil || fi.Mode().Perm() == 0o640 {
					t.Fatalf("the clone should have git's mode, not 0640: %v %v", fi.Mode(), err)
				}
				code, stdout, stderr := runMain(t, "-c", cfg(clone), "-o", filepath.Join(clone, "out"), "--check")
				if code != exitOK || stdout != "" {
					t.Fatalf("check of a clean clone: exit %d\n%s%s", code, stdout, stderr)
				}
				// --exact-modes looks at the disk, where git lost 0640.
				if code, _, _ := runMain(t, "-c", cfg(clone), "-o", filepath.Join(clone, "out"), "--check", "--exact-modes"); code != exitDrift {
					t.Errorf("--exact-modes on a clone: exit %d, want %d", code, exitDrift)
				}
				compose := filepath.Join(clone, "out", sh.host+"rootfs/opt/podman/immich/docker-compose.yml")
				os.WriteFile(compose, []byte(read(t, compose)+"# edited\n"), 0o644)
				code, stdout, _ = runMain(t, "-c", cfg(clone), "-o", filepath.Join(clone, "out"), "--check")
				if code != exitDrift || !strings.Contains(stdout, "--- a/"+sh.host+"rootfs/opt/podman/immich/docker-compose.yml") ||
					!strings.Contains(stdout, "-# edited") {
					t.Errorf("check after a hand edit: exit %d\n%s", code, stdout)
				}
			})
		})
	}
}

// signalWriter collects what is written and closes seen once text appears.
type signalWriter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	text string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if strings.Contains(w.b.String(), w.text) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
