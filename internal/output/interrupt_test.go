package output

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/tree"
)

var errInjected = errors.New("injected failure")

// next is the render the interruption tests move to from site(): changed
// content, a changed mode, a new file in a new directory, a file gone.
func next() tree.Tree {
	t := without(site(), "rootfs/etc/nginx/conf.d/immich.conf")
	t = with(t, "README.md", "# rendered, version 2\n", 0o644)
	t = with(t, "rootfs/etc/valkey/users.acl", "user immich on #def ~immich_bull* +@read +@write\n", 0o600)
	t = with(t, "rootfs/etc/systemd/system/immich.service", "[Unit]\nDescription=Immich\n", 0o640)
	t = with(t, "rootfs/etc/systemd/system/immich-db-init.service", "[Unit]\nDescription=Immich database init\n", 0o644)
	t = with(t, "fragments/postgresql.conf", "shared_preload_libraries = 'vchord'\n", 0o644)
	return t
}

// assertOldOrNew fails unless every file under dir is the old or the new
// version of itself, whole, with the mode of that version; the manifest
// must be that of oldManifest (the tree last written whole), of new, or a
// claim. Temporary files are allowed only when temps is true (a killed run
// leaves them), strays never.
func assertOldOrNew(t *testing.T, dir string, old, new tree.Tree, opt Options, temps bool, oldManifest tree.Tree) {
	t.Helper()
	manifests := map[string]bool{
		string(NewManifest(oldManifest, opt).Marshal()): true,
		string(NewManifest(new, opt).Marshal()):         true,
		string(claimManifest(opt).Marshal()):            true,
	}
	for p, n := range snapshot(t, dir) {
		if n.mode.IsDir() {
			continue
		}
		if p == ManifestName {
			if !manifests[n.data] {
				t.Errorf("manifest is neither old nor new:\n%s", n.data)
			}
			continue
		}
		if strings.HasPrefix(filepath.Base(p), tempInfix) {
			if !temps {
				t.Errorf("temporary file left behind: %s", p)
			}
			continue
		}
		o, inOld := old[p]
		w, inNew := new[p]
		isOld := inOld && n.data == string(o.Data) && n.mode == o.Mode
		isNew := inNew && n.data == string(w.Data) && n.mode == w.Mode
		if !isOld && !isNew {
			t.Errorf("%s is neither its old nor its new version: %v %q", p, n.mode, n.data)
		}
	}
}

// Fail a write at every step it takes, one run per step: each time, every
// file is whole (old or new), no temporary file is left, and the next run
// converges to exactly the new tree. Both ways of making the files durable
// are tested: an fsync of each, and one syncfs for all (a large tree's).
func TestWriteFailureAtEveryStep(t *testing.T) {
	for _, mode := range durabilityModes() {
		t.Run(mode.name, func(t *testing.T) { testFailureAtEveryStep(t, mode.opt) })
	}
}

// durabilityModes are testOpt set to fsync each file, and, where the
// system has syncfs, to sync the file system once, whatever the tree's size.
func durabilityModes() []struct {
	name string
	opt  Options
} {
	each, batch := testOpt, testOpt
	each.batchFrom = 1 << 30
	batch.batchFrom = 1
	modes := []struct {
		name string
		opt  Options
	}{{"fsync each", each}}
	if canSyncFS {
		modes = append(modes, struct {
			name string
			opt  Options
		}{"syncfs", batch})
	}
	return modes
}

func testFailureAtEveryStep(t *testing.T, opt Options) {
	prepare := func(t *testing.T) string {
		dir := t.TempDir()
		mustWrite(t, dir, site(), testOpt)
		writeFile(t, filepath.Join(dir, "stray.txt"), "stray\n", 0o644)
		return dir
	}
	var steps []string
	count := opt
	count.hook = func(op, p string) error { steps = append(steps, op+" "+p); return nil }
	mustWrite(t, prepare(t), next(), count)
	if len(steps) < 10 {
		t.Fatalf("only %d steps: %q", len(steps), steps)
	}
	for k, step := range steps {
		t.Run(fmt.Sprintf("%02d %s", k, step), func(t *testing.T) {
			dir := prepare(t)
			failing := opt
			calls := 0
			failing.hook = func(op, p string) error {
				if calls++; calls == k+1 {
					return errInjected
				}
				return nil
			}
			if _, err := Write(dir, next(), failing); !errors.Is(err, errInjected) {
				t.Fatalf("Write: %v, want the injected failure", err)
			}
			before := with(site(), "stray.txt", "stray\n", 0o644)
			assertOldOrNew(t, dir, before, next(), testOpt, false, site())
			if d := mustCheck(t, dir, next(), testOpt); d.Empty() {
				t.Error("Check found no drift after a failed write")
			}
			mustWrite(t, dir, next(), testOpt)
			assertExactly(t, dir, next(), testOpt)
		})
	}
}

// A first write into a new directory that fails midway leaves a claimed
// directory: the rerun needs no --force.
func TestWriteFirstRunFailureConverges(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	failing := testOpt
	calls := 0
	failing.hook = func(op, p string) error {
		if calls++; calls == 8 {
			return errInjected
		}
		return nil
	}
	if _, err := Write(dir, site(), failing); !errors.Is(err, errInjected) {
		t.Fatalf("Write: %v", err)
	}
	assertOldOrNew(t, dir, tree.Tree{}, site(), testOpt, false, tree.Tree{})
	m, err := ReadManifest(dir)
	if err != nil || len(m.Files) != 0 || m.Meta != nil {
		t.Errorf("claim manifest: %+v, %v", m, err)
	}
	mustWrite(t, dir, site(), testOpt)
	assertExactly(t, dir, site(), testOpt)
}

// killHelperEnv makes the test binary a writer that alternates between two
// trees into a directory until it is killed. With killPauseEnv=N it stops
// halfway through its Nth file write and says "paused", so that a kill
// lands there for certain.
// killModeEnv picks the durability mode by its index in durabilityModes.
const (
	killHelperEnv = "OUTPUT_TEST_KILL_HELPER_DIR"
	killPauseEnv  = "OUTPUT_TEST_KILL_HELPER_PAUSE"
	killModeEnv   = "OUTPUT_TEST_KILL_HELPER_MODE"
)

// bigTree is a tree large enough for a kill to land inside a file write.
func bigTree(version string, mode fs.FileMode, lines int) tree.Tree {
	t := tree.Tree{}
	for i := range 40 {
		if version == "b" && i%7 == 0 {
			continue // files b no longer has
		}
		line := fmt.Sprintf("version %s, file %d: %s\n", version, i, strings.Repeat("x", 60))
		t.Add(fmt.Sprintf("rootfs/d%d/file%d.conf", i%5, i), []byte(strings.Repeat(line, lines)), mode)
	}
	if version == "b" {
		t.Add("rootfs/only-in-b/extra.conf", []byte("b\n"), mode)
	}
	return t
}

func TestKillHelper(t *testing.T) {
	dir := os.Getenv(killHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestWriteKilled")
	}
	pause, _ := strconv.Atoi(os.Getenv(killPauseEnv))
	mode, _ := strconv.Atoi(os.Getenv(killModeEnv))
	opt := durabilityModes()[mode].opt
	writes := 0
	opt.hook = func(op, p string) error {
		if op == "write" {
			if writes++; writes == pause {
				fmt.Println("paused")
				time.Sleep(time.Hour) // until killed
			}
		}
		return nil
	}
	trees := []tree.Tree{bigTree("a", 0o644, 1000), bigTree("b", 0o600, 1000)}
	fmt.Println("ready")
	for i := 0; ; i++ {
		if _, err := Write(dir, trees[i%2], opt); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
}

// SIGKILL a writer, at random moments and halfway through a file: every
// file is whole, the only leftovers are temporary files, and the next run
// converges.
func TestWriteKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writers to kill")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a, b := bigTree("a", 0o644, 1000), bigTree("b", 0o600, 1000)
	dir := filepath.Join(t.TempDir(), "out")
	mustWrite(t, dir, a, testOpt)
	rng := rand.New(rand.NewPCG(3, 4))
	const rounds = 10
	midWrite := 0 // rounds that left a temporary file
	for round := range rounds {
		paused := round%2 == 0
		cmd := exec.Command(exe, "-test.run=^TestKillHelper$")
		// Rounds 0, 1, 4, 5, ... fsync each file; 2, 3, 6, 7, ... syncfs.
		mode := (round / 2) % len(durabilityModes())
		cmd.Env = append(os.Environ(), killHelperEnv+"="+dir, fmt.Sprintf("%s=%d", killModeEnv, mode))
		if paused {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", killPauseEnv, 1+rng.IntN(70)))
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewReader(out)
		if l, err := lines.ReadString('\n'); l != "ready\n" {
			t.Fatalf("helper did not start: %q %v", l, err)
		}
		if paused {
			if l, err := lines.ReadString('\n'); l != "paused\n" {
				t.Fatalf("helper did not pause: %q %v", l, err)
			}
		} else {
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: helper ended by itself: %v", round, err)
		}
		assertOldOrNew(t, dir, a, b, testOpt, true, a)
		partial := false // a temporary file holds the first part of a file
		for p, n := range snapshot(t, dir) {
			if strings.HasPrefix(filepath.Base(p), tempInfix) {
				partial = partial || isPrefixOfAny(n.data, a, b, tree.Tree{
					"a": {Data: NewManifest(a, testOpt).Marshal()},
					"b": {Data: NewManifest(b, testOpt).Marshal()},
				})
			}
		}
		if partial {
			midWrite++
		} else if paused {
			t.Errorf("round %d: killed halfway through a file, yet no half-written temporary file", round)
		}
		if t.Failed() {
			t.Fatalf("round %d left an inconsistent directory", round)
		}
	}
	r := mustWrite(t, dir, b, testOpt)
	assertExactly(t, dir, b, testOpt)
	t.Logf("%d of %d kills left a half-written temporary file; the converging write: %s", midWrite, rounds, r)
}

// isPrefixOfAny reports whether data is a non-empty, strict prefix of a
// file of one of the trees (the last one holds the manifests).
func isPrefixOfAny(data string, trees ...tree.Tree) bool {
	for _, t := range trees {
		for _, f := range t {
			if data != "" && len(data) < len(f.Data) && strings.HasPrefix(string(f.Data), data) {
				return true
			}
		}
	}
	return false
}
