//go:build linux

package output

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
)

// The fault-injection suite: real faults of a host (a full or read-only
// file system, an immutable file, links and type swaps planted inside
// DIR), each followed by the promise, not just the message: every file is
// whole (its old or its new version), no temporary file survives, nothing
// outside DIR changed, and the next write converges to exactly the tree.
// It needs root (mount, chattr), which CI has.

// tmpfs mounts a tmpfs of the given options on a new directory and
// unmounts it when the test ends.
func tmpfs(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "the fault-injection suite mounts file systems: it needs root")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", mnt).CombinedOutput(); err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot mount a tmpfs: %v: %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	return mnt
}

func remount(t *testing.T, mnt, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opts, mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", mnt, opts, err, out)
	}
}

// faultTrees are an old and a new render: 40 files of about a page each,
// the new one with other contents and modes, files gone and a new one.
func faultTrees() (old, new tree.Tree) {
	return bigTree("a", 0o644, 40), bigTree("b", 0o600, 40)
}

// outside records everything in the tmpfs except DIR, to prove a write
// changed nothing beside it.
func outside(t *testing.T, mnt, dir string) map[string]node {
	t.Helper()
	all := snapshot(t, mnt)
	rel, _ := filepath.Rel(mnt, dir)
	delete(all, ".") // its mtime moves when DIR is made
	for p := range all {
		if p == rel || strings.HasPrefix(p, rel+"/") {
			delete(all, p)
		}
	}
	return all
}

// TestFaultNoSpace fills a small tmpfs so that a write runs out of space
// at every step in turn (temporary files, renames, the manifest, a first
// write's claim): a fresh directory, a re-render that prunes, and a
// write of inodes rather than bytes.
func TestFaultNoSpace(t *testing.T) {
	old, new := faultTrees()
	for _, c := range []struct {
		name      string
		opts      string
		fresh     bool // the directory does not exist yet
		fillBytes bool // fill with bytes rather than inodes
	}{
		{"fresh", "size=2m", true, true},
		{"rerender", "size=2m", false, true},
		{"inodes", "size=8m,nr_inodes=400", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mnt := tmpfs(t, c.opts)
			dir := filepath.Join(mnt, "out")
			from := tree.Tree{}
			if !c.fresh {
				from = old
			}
			failures, steps := 0, map[string]bool{}
			for free := 0; ; free++ {
				os.RemoveAll(dir)
				if !c.fresh {
					mustWrite(t, dir, old, testOpt)
				}
				fill(t, mnt, c.fillBytes, free)
				before := outside(t, mnt, dir)
				_, err := Write(dir, new, testOpt)
				if err == nil {
					os.RemoveAll(filepath.Join(mnt, "fill"))
					assertExactly(t, dir, new, testOpt)
					break
				}
				failures++
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("free %d: want ENOSPC, got %v", free, err)
				}
				// Which file the write was at when the space ran out.
				at, _, _ := strings.Cut(err.Error(), ":")
				steps[strings.TrimPrefix(at, "writing "+dir+"/")] = true
				if _, err := os.Stat(dir); err == nil {
					assertOldOrNew(t, dir, from, new, testOpt, false, from)
				}
				sameSnapshot(t, "outside DIR", before, outside(t, mnt, dir))
				os.RemoveAll(filepath.Join(mnt, "fill"))
				mustWrite(t, dir, new, testOpt)
				assertExactly(t, dir, new, testOpt)
				if t.Failed() {
					t.Fatalf("free %d: inconsistent after ENOSPC: %v", free, err)
				}
				if free > 400 {
					t.Fatal("the write never fit")
				}
			}
			if failures < 3 {
				t.Errorf("only %d failing writes: the fill does not reach the write's steps", failures)
			}
			t.Logf("%d writes ran out of space, at %d different files", failures, len(steps))
			if len(steps) < 3 {
				t.Errorf("ENOSPC hit only %d different steps", len(steps))
			}
		})
	}
}

// fill leaves about free pages (or free inodes) of the tmpfs at mnt, with
// files under mnt/fill.
func fill(t *testing.T, mnt string, bytes bool, free int) {
	t.Helper()
	d := filepath.Join(mnt, "fill")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if bytes {
		n := int64(st.Bavail) - int64(free)
		if n <= 0 {
			return
		}
		f, err := os.Create(filepath.Join(d, "blob"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		chunk := make([]byte, st.Bsize)
		for i := int64(0); i < n; i++ {
			if _, err := f.Write(chunk); err != nil {
				break // full: close enough
			}
		}
		return
	}
	for i := 0; int(st.Ffree)-free-i > 0; i++ {
		f, err := os.Create(filepath.Join(d, fmt.Sprint(i)))
		if err != nil {
			break
		}
		f.Close()
	}
}

// TestFaultReadOnly: a write into a read-only mount fails with EROFS and
// changes nothing; once writable, the next write converges.
func TestFaultReadOnly(t *testing.T) {
	old, new := faultTrees()
	mnt := tmpfs(t, "size=8m")
	dir := filepath.Join(mnt, "out")
	mustWrite(t, dir, old, testOpt)
	before := snapshot(t, mnt)
	remount(t, mnt, "ro")
	_, err := Write(dir, new, testOpt)
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("want EROFS, got %v", err)
	}
	sameSnapshot(t, "read-only mount", before, snapshot(t, mnt))
	if d := mustCheck(t, dir, old, testOpt); !d.Empty() {
		t.Errorf("the old tree drifted: %s", formatted(t, d))
	}
	remount(t, mnt, "rw")
	mustWrite(t, dir, new, testOpt)
	assertExactly(t, dir, new, testOpt)
}

// TestFaultImmutable: an immutable file (chattr +i) in DIR, one the write
// replaces and one it removes, fails the write with EPERM; every file is
// whole, no temporary file is left, and the write converges once the
// attribute is gone.
func TestFaultImmutable(t *testing.T) {
	old, new := faultTrees()
	for _, name := range []string{"rootfs/d1/file1.conf", "rootfs/d0/file0.conf"} { // replaced; removed (b lacks file0)
		t.Run(filepath.Base(name), func(t *testing.T) {
			mnt := tmpfs(t, "size=8m")
			dir := filepath.Join(mnt, "out")
			mustWrite(t, dir, old, testOpt)
			target := filepath.Join(dir, name)
			chattr(t, "+i", target)
			t.Cleanup(func() { exec.Command("chattr", "-i", target).Run() })
			_, err := Write(dir, new, testOpt)
			if !errors.Is(err, syscall.EPERM) {
				t.Fatalf("want EPERM, got %v", err)
			}
			assertOldOrNew(t, dir, old, new, testOpt, false, old)
			chattr(t, "-i", target)
			mustWrite(t, dir, new, testOpt)
			assertExactly(t, dir, new, testOpt)
		})
	}
}

func chattr(t *testing.T, how, p string) {
	t.Helper()
	if out, err := exec.Command("chattr", how, p).CombinedOutput(); err != nil {
		testenv.Skip(t, fmt.Sprintf("chattr %s: %v: %s", how, err, out))
	}
}

// TestFaultLinksPlanted: files and directories of DIR swapped for links to
// /etc/passwd and to a directory outside: neither is followed, the write
// replaces or removes the links, and what they point to is byte-identical.
func TestFaultLinksPlanted(t *testing.T) {
	old, new := faultTrees()
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	victim := filepath.Join(base, "victim")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(victim, "file1.conf"), "precious\n", 0o644)
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, dir, old, testOpt)
	swap := func(p, target string) {
		full := filepath.Join(dir, p)
		if err := os.RemoveAll(full); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	swap("rootfs/d1/file1.conf", "/etc/passwd") // a file the new tree writes
	swap("rootfs/d0/file0.conf", "/etc/passwd") // a file the new tree no longer has
	swap("rootfs/d2", victim)                   // a directory
	beforeVictim := snapshot(t, victim)

	d := mustCheck(t, dir, new, testOpt)
	if !strings.Contains(formatted(t, d), "not a regular file (symbolic link): rootfs/d1/file1.conf") {
		t.Errorf("check does not report the link:\n%s", formatted(t, d))
	}
	mustWrite(t, dir, new, testOpt)
	assertExactly(t, dir, new, testOpt)
	if now, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(now, passwd) {
		t.Fatal("/etc/passwd changed")
	}
	sameSnapshot(t, "the directory a link pointed to", beforeVictim, snapshot(t, victim))
}

// TestFaultTypeSwaps: a directory of DIR swapped for a file, and a file
// for a directory full of strays, in both directions and back: each write
// converges to exactly the tree.
func TestFaultTypeSwaps(t *testing.T) {
	old, new := faultTrees()
	dir := filepath.Join(t.TempDir(), "out")
	mustWrite(t, dir, old, testOpt)
	for i, tr := range []tree.Tree{new, old, new} {
		d1 := filepath.Join(dir, "rootfs/d1")
		if err := os.RemoveAll(d1); err != nil {
			t.Fatal(err)
		}
		writeFile(t, d1, "a file where a directory was\n", 0o644)
		f := filepath.Join(dir, "rootfs/d3/file3.conf")
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(f, "deeper"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(f, "deeper/stray"), "stray\n", 0o600)
		mustWrite(t, dir, tr, testOpt)
		assertExactly(t, dir, tr, testOpt)
		if t.Failed() {
			t.Fatalf("round %d did not converge", i)
		}
	}
}

// fleetKillEnv makes the test binary a writer that alternates between two
// 200-host trees into a directory until it is killed.
const fleetKillEnv = "OUTPUT_TEST_FLEET_KILL_DIR"

// fleetVersions are a 200-host tree and the next render of it: every
// file changed, users.acl 0600 rather than 0640, one host gone, one new.
func fleetVersions() (a, b tree.Tree) {
	a = fleetTree(200)
	b = tree.Tree{}
	for p, f := range fleetTree(201) {
		if strings.HasPrefix(p, "nas0007/") {
			continue
		}
		mode := f.Mode
		if strings.HasSuffix(p, "users.acl") {
			mode = 0o600
		}
		b.Add(p, append([]byte("# v2\n"), f.Data...), mode)
	}
	return a, b
}

func TestFleetKillHelper(t *testing.T) {
	dir := os.Getenv(fleetKillEnv)
	if dir == "" {
		t.Skip("helper process for TestFaultKilledFleet")
	}
	a, b := fleetVersions()
	fmt.Println("ready")
	for i := 0; ; i++ {
		if _, err := Write(dir, []tree.Tree{b, a}[i%2], testOpt); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
}

// TestFaultKilledFleet SIGKILLs a writer of a 200-host tree (2,000 files)
// at 60 random moments: every file is whole, its old or its new version,
// the only leftovers are temporary files, and the next write removes them
// and converges.
func TestFaultKilledFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writers to kill")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a, b := fleetVersions()
	dir := filepath.Join(t.TempDir(), "out")
	mustWrite(t, dir, a, testOpt)
	start := time.Now()
	mustWrite(t, dir, b, testOpt)
	mustWrite(t, dir, a, testOpt)
	write := time.Since(start) / 2
	rng := rand.New(rand.NewPCG(26, 2))
	temps := 0
	for round := range 60 {
		cmd := exec.Command(exe, "-test.run=^TestFleetKillHelper$")
		cmd.Env = append(os.Environ(), fleetKillEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if l, err := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
			t.Fatalf("helper did not start: %q %v", l, err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(write))))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		assertOldOrNew(t, dir, a, b, testOpt, true, a)
		for p := range snapshot(t, dir) {
			if strings.HasPrefix(filepath.Base(p), tempInfix) {
				temps++
				break
			}
		}
		if t.Failed() {
			t.Fatalf("round %d left an inconsistent directory", round)
		}
	}
	mustWrite(t, dir, b, testOpt)
	assertExactly(t, dir, b, testOpt)
	t.Logf("60 kills (a write takes %v): %d left temporary files, which the next write removed", write.Round(time.Millisecond), temps)
}
