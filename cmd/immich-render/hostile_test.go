package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/bench/fleetgen"
)

// TestConcurrentHostRenders: two --host renders of different hosts into
// one directory at the same time both keep their update. Each writes the
// other hosts' files back as they are on disk, so without the lock held
// from that read to its write, the later write undid the earlier one.
func TestConcurrentHostRenders(t *testing.T) {
	setSecrets(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	mustRun(t, "-q", "-c", fleetConfig(t, dir, "2283", "2284"), "-o", out)
	for i := range 10 {
		a := fleetConfig(t, filepath.Join(mkdir(t, dir, fmt.Sprintf("a%d", i))), fmt.Sprint(3000+i), "2284")
		b := fleetConfig(t, filepath.Join(mkdir(t, dir, fmt.Sprintf("b%d", i))), "2283", fmt.Sprint(4000+i))
		var wg sync.WaitGroup
		codes := make([]int, 2)
		errs := make([]string, 2)
		for j, args := range [][]string{{"-q", "-c", a, "-o", out, "--host", "nas001"}, {"-q", "-c", b, "-o", out, "--host", "nas002"}} {
			wg.Go(func() { codes[j], _, errs[j] = runMain(t, args...) })
		}
		wg.Wait()
		if codes[0] != 0 || codes[1] != 0 {
			t.Fatalf("run %d: exit %v: %q", i, codes, errs)
		}
		for host, port := range map[string]int{"nas001": 3000 + i, "nas002": 4000 + i} {
			compose := read(t, filepath.Join(out, host, "rootfs/opt/podman/immich/docker-compose.yml"))
			if !strings.Contains(compose, fmt.Sprintf(`"%d:2283"`, port)) {
				t.Errorf("run %d: %s lost its update to port %d", i, host, port)
			}
		}
		if code, stdout, _ := runMain(t, "-c", a, "-o", out, "--check", "--host", "nas001"); code != 0 {
			t.Errorf("run %d: --check after both: exit %d\n%s", i, code, stdout)
		}
	}
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRenderKilled SIGKILLs a 200-host render, with --secrets-out, while
// it writes (once its staging directory appears, then after a random
// moment), 10 times, alternating between two configurations that
// change every host: after each kill, each of the two directories is
// exactly one configuration's render, files, modes and manifest (the two
// are swapped one after the other, so they may be of different
// configurations), and a render then converges so that --check exits 0
// and nothing but the two directories is left beside them.
func TestRenderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a 200-host fleet 50 times")
	}
	for k, v := range fleetgen.Env {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	// The second configuration changes every host's compose file and
	// nginx vhost.
	fleet, other := filepath.Join(dir, "fleet.cue"), filepath.Join(dir, "other.cue")
	src := string(fleetgen.Fleet(200))
	write(t, fleet, src)
	write(t, other, strings.NewReplacer(`"Europe/Berlin"`, `"America/New_York"`, "admin@example.com", "ops@example.com").Replace(src))
	configs := [][]string{{"-c", fleet}, {"-c", other}}
	// The two versions of every file, each from a render of its own.
	versions := make([]map[string]fileVersion, 2)
	for i, c := range configs {
		o, s := filepath.Join(dir, fmt.Sprintf("v%d", i)), filepath.Join(dir, fmt.Sprintf("v%d-secrets", i))
		mustRun(t, append([]string{"-q", "-o", o, "--secrets-out", s}, c...)...)
		versions[i] = files(t, map[string]string{"out": o, "secrets": s})
	}
	bin := filepath.Join(dir, "bin")
	mkdir(t, dir, "bin")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// testscript.Main runs Main when the binary is called immich-render.
	if err := os.Symlink(exe, filepath.Join(bin, "immich-render")); err != nil {
		t.Fatal(err)
	}
	work := mkdir(t, dir, "work")
	out, secrets := filepath.Join(work, "out"), filepath.Join(work, "secrets")
	render := func(i int) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "immich-render"), append([]string{"-q", "-o", out, "--secrets-out", secrets}, configs[i%2]...)...)
		cmd.Env = os.Environ()
		return cmd
	}
	if b, err := render(0).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	rng := rand.New(rand.NewPCG(26, 200))
	exact, mixed := 0, 0
	const rounds = 10
	next := 1 // the configuration -o is not: its render writes at once
	for round := 1; round <= rounds; round++ {
		cmd := render(next)
		left := map[string]bool{} // a killed render's staging directories
		entries, _ := os.ReadDir(work)
		for _, e := range entries {
			left[e.Name()] = true
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		// Most of a render is evaluation: wait until it writes.
		if !writing(work, left, done) {
			t.Fatalf("round %d: the render ended before it was killed", round)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		got := files(t, map[string]string{"out": out, "secrets": secrets})
		same := [2]int{} // the directories that are exactly version i
		for _, d := range []string{"out/", "secrets/"} {
			whole := [2]bool{true, true}
			for i, v := range versions {
				for p, f := range v {
					if strings.HasPrefix(p, d) && got[p] != f {
						whole[i] = false
					}
				}
				for p := range got {
					if _, ok := v[p]; strings.HasPrefix(p, d) && !ok {
						whole[i] = false
					}
				}
				if whole[i] {
					same[i]++
					if d == "out/" {
						next = 1 - i
					}
				}
			}
			if !whole[0] && !whole[1] {
				t.Errorf("round %d: %s is neither render as a whole", round, d)
			}
		}
		if same[0] == 2 || same[1] == 2 {
			exact++
		} else {
			mixed++
		}
		if t.Failed() {
			t.Fatalf("round %d left an inconsistent directory", round)
		}
	}
	if b, err := render(next).CombinedOutput(); err != nil {
		t.Fatalf("the render after the kills: %v: %s", err, b)
	}
	if code, stdout, _ := runMain(t, append([]string{"-o", out, "--secrets-out", secrets, "--check", "--exact-modes"}, configs[next]...)...); code != 0 {
		t.Fatalf("--check after the converging render: exit %d\n%s", code, stdout)
	}
	for p := range files(t, map[string]string{"out": out, "secrets": secrets}) {
		if strings.Contains(p, ".immich-render-tmp-") {
			t.Errorf("temporary file survived the next render: %s", p)
		}
	}
	entries, _ := os.ReadDir(work)
	if len(entries) != 2 {
		t.Errorf("beside -o and SDIR: %v", entries)
	}
	t.Logf("%d kills while writing: each directory one whole render every time; both of the same render %d times, -o of one and SDIR of the other %d times", rounds, exact, mixed)
}

// writing waits until a write's staging directory appears in dir, beside
// the directory it replaces, one not in left, and reports whether one did
// before done was closed.
func writing(dir string, left map[string]bool, done <-chan struct{}) bool {
	for {
		select {
		case <-done:
			return false
		default:
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".immich-render-new.") && !left[e.Name()] {
				return true
			}
		}
		time.Sleep(time.Millisecond)
	}
}

type fileVersion struct {
	mode fs.FileMode
	sum  [32]byte
}

// files reads every file under the named directories by path prefixed
// with the name, without following links.
func files(t *testing.T, dirs map[string]string) map[string]fileVersion {
	t.Helper()
	out := map[string]fileVersion{}
	for name, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return nil
			}
			fi, err := e.Info()
			if err != nil {
				return nil
			}
			data, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(d, p)
			if !fi.Mode().IsRegular() {
				data = []byte("not a regular file")
			}
			out[name+"/"+rel] = fileVersion{fi.Mode(), sha256.Sum256(data)}
			return nil
		})
	}
	return out
}

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentFullRenders: two renders of different configurations into
// the same directories at once, a site and a fleet: the lock serialises
// them, so the directories end up exactly one of the two renders (--check
// --exact-modes exits 0 against it), with no temporary file.
func TestConcurrentFullRenders(t *testing.T) {
	setSecrets(t)
	dir := t.TempDir()
	site := func(name, port string) string {
		p := filepath.Join(dir, name)
		write(t, p, `immich: {
	version:        "v3.1.0"
	port:           `+port+`
	uploadLocation: "/mnt/storage/immich/upload"
	network: {subnet: "172.20.0.0/16", gateway: "172.20.0.1"}
	postgres: password: {env: "IMMICH_POSTGRES_PASSWORD"}
	valkey: password: {env: "IMMICH_VALKEY_PASSWORD"}
}
valkey: adminPassword: {env: "VALKEY_ADMIN_PASSWORD"}
`)
		return p
	}
	for name, configs := range map[string][2]string{
		"site":  {site("a.cue", "3001"), site("b.cue", "3002")},
		"fleet": {fleetConfig(t, mkdir(t, dir, "fa"), "3001", "3002"), fleetConfig(t, mkdir(t, dir, "fb"), "4001", "4002")},
	} {
		t.Run(name, func(t *testing.T) {
			out, secrets := filepath.Join(dir, name, "out"), filepath.Join(dir, name, "secrets")
			for round := range 5 {
				var wg sync.WaitGroup
				codes := make([]int, 2)
				for i, c := range configs {
					wg.Go(func() { codes[i], _, _ = runMain(t, "-q", "-c", c, "-o", out, "--secrets-out", secrets) })
				}
				wg.Wait()
				if codes[0] != 0 || codes[1] != 0 {
					t.Fatalf("round %d: exit %v", round, codes)
				}
				matches := 0
				for _, c := range configs {
					if code, _, _ := runMain(t, "-c", c, "-o", out, "--secrets-out", secrets, "--check", "--exact-modes"); code == 0 {
						matches++
					}
				}
				if matches != 1 {
					t.Fatalf("round %d: the directories match %d of the two renders", round, matches)
				}
				for p := range files(t, map[string]string{"out": out, "secrets": secrets}) {
					if strings.Contains(p, ".immich-render-tmp-") {
						t.Fatalf("round %d: temporary file %s", round, p)
					}
				}
			}
		})
	}
}

// TestHostileSecrets renders secrets of hostile shapes, from the
// environment and from files, under umask 000 and 077: an accepted one
// never appears under -o (files and manifest) or in anything printed, and
// lands in SDIR in files of mode 0600 in directories of mode 0700; a
// refused one exits 2 naming the field, never the value.
func TestHostileSecrets(t *testing.T) {
	setSecrets(t)
	long := strings.Repeat("Ab3$", 2500)
	for _, c := range []struct {
		name, value string
		refused     bool
	}{
		{"quotes", `it's "quoted" and 'single' \ back`, false},
		{"format", `%s%d%v%%n%x%!s-0123`, false},
		{"shell", "$(reboot) `id` ; rm -rf / && |x", false},
		{"yaml", "- [x]: {y: &a *a} # not a comment", false},
		{"u2028", "line\u2028separator\u2029para", false},
		{"long", long, false},
		{"same as valkey", "test-valkey-password", false},
		{"newline", "first-line-1234\nsecond-line", true},
		{"tab", "a-tab-inside\there", true},
		{"escape", "escape-\x1b[31m-red", true},
		{"nul", "nul-\x00-inside-1234", true},
		{"trailing space", "trailing-space-1234 ", true},
		{"invalid utf8", "invalid-\xff\xfe-utf8-1234", true},
	} {
		for _, umask := range []int{0o000, 0o077} {
			t.Run(fmt.Sprintf("%s/umask%03o", c.name, umask), func(t *testing.T) {
				dir := t.TempDir()
				secretFile := filepath.Join(dir, "pg-password")
				if err := os.WriteFile(secretFile, []byte(c.value), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg := filepath.Join(dir, "site.cue")
				write(t, cfg, fmt.Sprintf(`immich: {
	version:        "v3.1.0"
	uploadLocation: "/mnt/storage/immich/upload"
	network: {subnet: "172.20.0.0/16", gateway: "172.20.0.1"}
	postgres: password: {file: %q}
	valkey: password: {env: "IMMICH_VALKEY_PASSWORD"}
}
valkey: adminPassword: {env: "VALKEY_ADMIN_PASSWORD"}
`, secretFile))
				out, secrets := filepath.Join(dir, "out"), filepath.Join(dir, "secrets")
				old := syscall.Umask(umask)
				code, stdout, stderr := runMain(t, "-c", cfg, "-o", out, "--secrets-out", secrets)
				syscall.Umask(old)
				printed := stdout + stderr
				if leaks(printed, c.value) {
					t.Errorf("the value is printed:\n%s", printed)
				}
				if c.refused {
					if code != exitInvalid || !strings.Contains(stderr, "immich.postgres.password") {
						t.Errorf("exit %d, want 2 naming the field:\n%s", code, stderr)
					}
					if _, err := os.Stat(out); err == nil {
						t.Error("a refused configuration wrote -o")
					}
					return
				}
				if code != exitOK {
					t.Fatalf("exit %d:\n%s", code, printed)
				}
				// --check with a changed file prints diffs of -o, never of SDIR.
				os.WriteFile(filepath.Join(secrets, "rootfs/opt/podman/immich/secrets/db_password"), []byte("changed-by-hand-1234"), 0o600)
				_, stdout, stderr = runMain(t, "-c", cfg, "-o", out, "--secrets-out", secrets, "--check")
				if leaks(stdout+stderr, c.value) {
					t.Errorf("--check prints the value:\n%s", stdout+stderr)
				}
				filepath.WalkDir(out, func(p string, e fs.DirEntry, err error) error {
					if err == nil && !e.IsDir() {
						if data, _ := os.ReadFile(p); leaks(string(data), c.value) {
							t.Errorf("plaintext secret under -o: %s", p)
						}
					}
					return nil
				})
				filepath.WalkDir(secrets, func(p string, e fs.DirEntry, err error) error {
					if err != nil {
						return nil
					}
					fi, _ := e.Info()
					want := fs.FileMode(0o600)
					if e.IsDir() {
						want = 0o700
					}
					if fi.Mode().Perm() != want {
						t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
					}
					return nil
				})
			})
		}
	}
}

// leaks reports whether s holds the secret or a recognisable piece of it
// (16 bytes in a row, or the whole of a shorter secret).
func leaks(s, secret string) bool {
	n := min(16, len(secret))
	for i := 0; i+n <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+n]) {
			return true
		}
	}
	return false
}
