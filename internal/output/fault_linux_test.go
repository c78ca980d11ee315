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
// DIR, a SIGKILL at any moment), each followed by the promise, not just
// the message: DIR is exactly its old tree or exactly the new one (every
// file whole in the in-place fallback), no staging directory or temporary
// file survives the next write, nothing outside DIR changed, and the next
// write converges to exactly the tree. It needs root (mount, chattr),
// which CI has.

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
		top, _, _ := strings.Cut(p, "/")
		if top == rel || isStagingName(top, rel) {
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
				// The swap failed before the exchange: DIR is exactly the
				// old tree (a fresh one is missing or empty), and the
				// staging tree is gone.
				if c.fresh {
					if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
						t.Errorf("free %d: a failed first write left %d entries in DIR", free, len(entries))
					}
				} else {
					exactlyOneOf(t, dir, testOpt, from)
				}
				noLeftovers(t, dir)
				sameSnapshot(t, "outside DIR", before, outside(t, mnt, dir))
				os.RemoveAll(filepath.Join(mnt, "fill"))
				if r := mustWrite(t, dir, new, testOpt); r.Method != Swapped {
					t.Errorf("free %d: the write after ENOSPC: %+v", free, r)
				}
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
// replaces and one it removes. The swap puts the new tree in place, but
// the old one, which holds the file, cannot be removed: the write fails
// with EPERM, naming it, and so does the next one, which changes nothing;
// once the attribute is gone, the next write removes the old tree. In
// place (DIR a mount point), the write fails with EPERM and every file is
// whole. Each time, the write then converges.
func TestFaultImmutable(t *testing.T) {
	old, new := faultTrees()
	for _, name := range []string{"rootfs/d1/file1.conf", "rootfs/d0/file0.conf"} { // replaced; removed (b lacks file0)
		t.Run(filepath.Base(name)+" swap", func(t *testing.T) {
			mnt := tmpfs(t, "size=8m")
			dir := filepath.Join(mnt, "out")
			mustWrite(t, dir, old, testOpt)
			chattr(t, "+i", filepath.Join(dir, name))
			_, err := Write(dir, new, testOpt)
			if !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "the next write removes it") {
				t.Fatalf("want EPERM removing the old tree, got %v", err)
			}
			left := staged(t, dir)
			if len(left) != 1 {
				t.Fatalf("beside DIR: %v, want the old tree", left)
			}
			stuck := filepath.Join(left[0], name)
			t.Cleanup(func() { exec.Command("chattr", "-i", stuck).Run() })
			assertExactly(t, dir, new, testOpt)
			before := snapshot(t, mnt)
			if _, err := Write(dir, old, testOpt); !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "an interrupted write left") {
				t.Fatalf("want EPERM removing the leftover, got %v", err)
			}
			sameSnapshot(t, "the file system after a refused write", before, snapshot(t, mnt))
			chattr(t, "-i", stuck)
			mustWrite(t, dir, new, testOpt)
			assertExactly(t, dir, new, testOpt)
			noLeftovers(t, dir)
		})
		t.Run(filepath.Base(name)+" in place", func(t *testing.T) {
			dir := tmpfs(t, "size=8m")
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

// TestFaultKilledFleet SIGKILLs a writer that alternates between two
// 200-host trees (2,000 files each way, every file changed) at 60 random
// moments: after each kill DIR is exactly one of the two trees (Check
// finds no drift against it), at most one staging directory is beside it,
// and nothing else beside it changed; the next write removes the leftover
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
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	writeFile(t, filepath.Join(base, "neighbour/file"), "not ours\n", 0o644)
	mustWrite(t, dir, a, testOpt)
	neighbours := besides(t, dir)
	start := time.Now()
	mustWrite(t, dir, b, testOpt)
	mustWrite(t, dir, a, testOpt)
	write := time.Since(start) / 2
	rng := rand.New(rand.NewPCG(26, 2))
	const rounds = 60
	exact, leftovers := [2]int{}, 0
	for round := range rounds {
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
		if k := exactlyOneOf(t, dir, testOpt, a, b); k >= 0 {
			exact[k]++
		}
		switch left := staged(t, dir); len(left) {
		case 0:
		case 1:
			leftovers++
		default:
			t.Errorf("more than one staging directory: %v", left)
		}
		sameSnapshot(t, "beside the directory", neighbours, besides(t, dir))
		if t.Failed() {
			t.Fatalf("round %d left an inconsistent directory", round)
		}
	}
	r := mustWrite(t, dir, b, testOpt)
	assertExactly(t, dir, b, testOpt)
	noLeftovers(t, dir)
	sameSnapshot(t, "beside the directory", neighbours, besides(t, dir))
	t.Logf("%d kills (a write takes %v): DIR exactly tree a %d times, exactly b %d times; %d left a staging directory, which the next write removed (%s, %v)",
		rounds, write.Round(time.Millisecond), exact[0], exact[1], leftovers, r, r.Method)
}

// TestFaultMountPoint: DIR is a mount point, which cannot be exchanged:
// the write replaces its files in place, says so, and converges; a kill
// there leaves every file whole.
func TestFaultMountPoint(t *testing.T) {
	old, new := faultTrees()
	dir := tmpfs(t, "size=8m")
	if r := mustWrite(t, dir, old, testOpt); r.Method != InPlace || r.InPlace != "it is a mount point" {
		t.Errorf("first write: %+v", r)
	}
	r := mustWrite(t, dir, new, testOpt)
	if r.Method != InPlace || r.InPlace != "it is a mount point" {
		t.Errorf("re-render: method %v (%q), want in place because it is a mount point", r.Method, r.InPlace)
	}
	assertExactly(t, dir, new, testOpt)
	noLeftovers(t, dir)
	if r := mustWrite(t, dir, new, testOpt); r.Method != NoChange || len(r.Unchanged) != len(new) {
		t.Errorf("unchanged write: %+v", r)
	}
}

// TestFaultParentImmutable: DIR's parent cannot take a staging directory
// (chattr +i: not even root can), so the write goes in place and says why.
func TestFaultParentImmutable(t *testing.T) {
	old, new := faultTrees()
	mnt := tmpfs(t, "size=8m")
	parent := filepath.Join(mnt, "parent")
	dir := filepath.Join(parent, "out")
	mustWrite(t, dir, old, testOpt)
	chattr(t, "+i", parent)
	t.Cleanup(func() { exec.Command("chattr", "-i", parent).Run() })
	r := mustWrite(t, dir, new, testOpt)
	if want := "no directory can be made beside it (operation not permitted)"; r.Method != InPlace || r.InPlace != want {
		t.Errorf("method %v (%q), want in place because %s", r.Method, r.InPlace, want)
	}
	assertExactly(t, dir, new, testOpt)
	chattr(t, "-i", parent)
	noLeftovers(t, dir)
}

// TestFaultNoExchange: a file system without RENAME_EXCHANGE (renameat2
// fails with EINVAL, injected here): the staging tree is removed and the
// write goes in place, with the reason.
func TestFaultNoExchange(t *testing.T) {
	old, new := faultTrees()
	dir := filepath.Join(t.TempDir(), "out")
	mustWrite(t, dir, old, testOpt)
	opt := testOpt
	opt.hook = func(op, p string) error {
		if op == "exchange" {
			return syscall.EINVAL
		}
		return nil
	}
	r := mustWrite(t, dir, new, opt)
	if want := "it cannot be exchanged with a directory beside it (invalid argument)"; r.Method != InPlace || r.InPlace != want {
		t.Errorf("method %v (%q), want in place because %s", r.Method, r.InPlace, want)
	}
	assertExactly(t, dir, new, testOpt)
	noLeftovers(t, dir)
}
