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

// Fail a write at every step it takes, one run per step. A swap leaves
// the directory exactly its old tree (or, failed while removing the old
// tree, exactly the new one), and no staging directory but that old tree;
// in place, every file is whole (old or new) and no temporary file is
// left. Each time, the next run converges to exactly the new tree and
// leaves nothing beside it. Both ways of making the files durable are
// tested: an fsync of each, and one syncfs for all (a large tree's).
func TestWriteFailureAtEveryStep(t *testing.T) {
	for _, mode := range writeModes() {
		t.Run(mode.name, func(t *testing.T) { testFailureAtEveryStep(t, mode.opt) })
	}
}

// writeModes are durabilityModes, each for a swap and in place.
func writeModes() []struct {
	name string
	opt  Options
} {
	var out []struct {
		name string
		opt  Options
	}
	for _, inPlace := range []bool{false, true} {
		for _, m := range durabilityModes() {
			m.opt.inPlace = inPlace
			m.name = map[bool]string{false: "swap, ", true: "in place, "}[inPlace] + m.name
			out = append(out, m)
		}
	}
	return out
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
			r, err := Write(dir, next(), failing)
			if !errors.Is(err, errInjected) {
				t.Fatalf("Write: %v, want the injected failure", err)
			}
			before := with(site(), "stray.txt", "stray\n", 0o644)
			if opt.inPlace {
				assertOldOrNew(t, dir, before, next(), testOpt, false, site())
				if d := mustCheck(t, dir, next(), testOpt); d.Empty() {
					t.Error("Check found no drift after a failed write")
				}
			} else {
				// Only a failure after the exchange leaves the new tree,
				// and the old one beside it.
				after := strings.HasPrefix(step, "remove ")
				if !after {
					// The old tree had a stray, which its manifest does not list.
					stray := filepath.Join(dir, "stray.txt")
					if b, err := os.ReadFile(stray); err != nil || string(b) != "stray\n" {
						t.Errorf("the stray of the old tree: %q, %v", b, err)
					}
					os.Remove(stray)
				}
				if got := exactlyOneOf(t, dir, testOpt, site(), next()); got != map[bool]int{false: 0, true: 1}[after] {
					t.Errorf("the directory is tree %d after a failure at %s", got, step)
				}
				if left := staged(t, dir); len(left) != map[bool]int{false: 0, true: 1}[after] {
					t.Errorf("left beside the directory: %v", left)
				}
				if (r.Method == Swapped) != after {
					t.Errorf("report %+v after a failure at %s", r, step)
				}
			}
			r = mustWrite(t, dir, next(), testOpt)
			assertExactly(t, dir, next(), testOpt)
			noLeftovers(t, dir)
		})
	}
}

// A first write into a new directory that fails midway leaves the empty
// directory (a swap's) or a claimed one (in place): the rerun needs no
// --force.
func TestWriteFirstRunFailureConverges(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "out")
		failing := testOpt
		failing.inPlace = inPlace
		calls := 0
		failing.hook = func(op, p string) error {
			if calls++; calls == 5 {
				return errInjected
			}
			return nil
		}
		if _, err := Write(dir, site(), failing); !errors.Is(err, errInjected) {
			t.Fatalf("Write: %v", err)
		}
		if inPlace {
			assertOldOrNew(t, dir, tree.Tree{}, site(), testOpt, false, tree.Tree{})
			m, err := ReadManifest(dir)
			if err != nil || len(m.Files) != 0 || m.Meta != nil {
				t.Errorf("claim manifest: %+v, %v", m, err)
			}
		} else if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
			t.Errorf("a failed first swap left %v (%v)", entries, err)
		}
		noLeftovers(t, dir)
		mustWrite(t, dir, site(), testOpt)
		assertExactly(t, dir, site(), testOpt)
	}
}

// killHelperEnv makes the test binary a writer that alternates between two
// trees into a directory until it is killed. With killPauseEnv=N it stops
// halfway through its Nth file write and says "paused", so that a kill
// lands there for certain.
// killModeEnv picks the way of writing by its index in writeModes.
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
	opt := writeModes()[mode].opt
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

// SIGKILL a writer, at random moments and halfway through a file, in each
// way of writing. After a kill during a swap, the directory is exactly the
// old tree or exactly the new one (Check finds no drift against it), at
// most one staging directory is left beside it, and nothing else beside it
// changed; in place, every file is whole and the only leftovers are
// temporary files. The next write converges and leaves nothing beside.
func TestWriteKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writers to kill")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a, b := bigTree("a", 0o644, 1000), bigTree("b", 0o600, 1000)
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	writeFile(t, filepath.Join(base, "neighbour/file"), "not ours\n", 0o644)
	mustWrite(t, dir, a, testOpt)
	neighbours := besides(t, dir)
	rng := rand.New(rand.NewPCG(3, 4))
	modes := writeModes()
	const rounds = 24
	midWrite, exact := 0, [2]int{} // kills that left a half-written file; kills that left a or b
	for round := range rounds {
		paused := round%2 == 0
		// Rounds 0, 1, 8, 9, ... swap and fsync each file; 2, 3, ... swap
		// and syncfs; then in place.
		mode := (round / 2) % len(modes)
		inPlace := modes[mode].opt.inPlace
		cmd := exec.Command(exe, "-test.run=^TestKillHelper$")
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
		// Where a half-written file can be: a temporary file in DIR, or
		// any file of a staging tree.
		var partials []map[string]node
		if inPlace {
			assertOldOrNew(t, dir, a, b, testOpt, true, a)
			partials = append(partials, snapshot(t, dir))
		} else {
			if k := exactlyOneOf(t, dir, testOpt, a, b); k >= 0 {
				exact[k]++
			}
			left := staged(t, dir)
			if len(left) > 1 {
				t.Errorf("round %d: more than one staging directory: %v", round, left)
			}
			for _, s := range left {
				partials = append(partials, snapshot(t, s))
			}
		}
		sameSnapshot(t, "beside the directory", neighbours, besides(t, dir))
		partial := false
		for _, snap := range partials {
			for p, n := range snap {
				if !inPlace || strings.HasPrefix(filepath.Base(p), tempInfix) {
					partial = partial || isPrefixOfAny(n.data, a, b, tree.Tree{
						"a": {Data: NewManifest(a, testOpt).Marshal()},
						"b": {Data: NewManifest(b, testOpt).Marshal()},
					})
				}
			}
		}
		if partial {
			midWrite++
		} else if paused {
			t.Errorf("round %d: killed halfway through a file, yet no half-written file", round)
		}
		if t.Failed() {
			t.Fatalf("round %d left an inconsistent directory", round)
		}
		if inPlace {
			mustWrite(t, dir, a, testOpt) // so that the next round starts from a whole tree
		}
	}
	r := mustWrite(t, dir, b, testOpt)
	assertExactly(t, dir, b, testOpt)
	noLeftovers(t, dir)
	sameSnapshot(t, "beside the directory", neighbours, besides(t, dir))
	t.Logf("%d kills: %d left a half-written file; of the swaps, %d left exactly tree a, %d exactly tree b; the converging write: %s",
		rounds, midWrite, exact[0], exact[1], r)
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
