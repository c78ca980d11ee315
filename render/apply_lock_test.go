package render

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// applyLock is where apply.sh takes its lock, under the host's root.
const applyLock = "run/immich-render-apply.lock"

// holdLock takes apply.sh's lock as another run of it would, until the
// returned function is called.
func (h *fakeHost) holdLock() (release func()) {
	h.t.Helper()
	f, err := os.OpenFile(filepath.Join(h.root, applyLock), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		h.t.Fatal(err)
	}
	return func() { f.Close() }
}

// applyRun is an apply.sh running in the background, its output read line
// by line as it comes.
type applyRun struct {
	t     *testing.T
	root  string
	cmd   *exec.Cmd
	lines chan string
	out   strings.Builder
}

func (h *fakeHost) start(env []string, args ...string) *applyRun {
	h.t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{filepath.Join(h.out, ApplyScript)}, args...)...)
	cmd.Env = append(append(os.Environ(), "IMMICH_RENDER_ROOT="+h.root), env...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	w.Close()
	a := &applyRun{t: h.t, root: h.root, cmd: cmd, lines: make(chan string)}
	go func() {
		defer r.Close()
		defer close(a.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			a.lines <- strings.ReplaceAll(sc.Text(), h.root, "$ROOT")
		}
	}()
	h.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			a.wait()
		}
	})
	return a
}

// waitFor reads the output up to a line that contains s; it fails if
// apply.sh ends without printing one.
func (a *applyRun) waitFor(s string) {
	a.t.Helper()
	for l := range a.lines {
		a.out.WriteString(l + "\n")
		if strings.Contains(l, s) {
			return
		}
	}
	a.wait()
	a.t.Fatalf("apply.sh ended (%v) without saying %q:\n%s", a.cmd.ProcessState, s, a.out.String())
}

// wait returns the rest of the output and the exit code.
func (a *applyRun) wait() (rest string, code int) {
	var b strings.Builder
	for l := range a.lines {
		b.WriteString(l + "\n")
	}
	a.out.WriteString(b.String())
	a.cmd.Wait()
	return b.String(), a.cmd.ProcessState.ExitCode()
}

// TestApplyOneRunAtATime starts two apply.sh at once while a third run
// (the test) holds the lock: both wait and say so, and once it is free
// they run one after the other. The host ends as after two runs in a row
// (the first merges, the second changes nothing), and --undo restores it
// byte for byte. Without the lock both run at once and never wait.
func TestApplyOneRunAtATime(t *testing.T) {
	h := newFakeHost(t, debianHost())
	before := h.snapshot()
	inTurn := newFakeHost(t, debianHost())
	for _, want := range []string{debianFirstRun, "apply.sh: no change\n"} {
		if out, code := inTurn.apply(); code != 0 || out != want {
			t.Fatalf("two runs in a row (exit %d):\n%s\nwant\n%s", code, out, want)
		}
	}

	release := h.holdLock()
	const waiting = "apply.sh: another apply.sh is running (it holds /run/immich-render-apply.lock): waiting up to 120 s"
	runs := []*applyRun{h.start(nil), h.start(nil)}
	for _, r := range runs {
		r.waitFor(waiting)
	}
	release()
	var outs []string
	for _, r := range runs {
		rest, code := r.wait()
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, r.out.String())
		}
		outs = append(outs, rest)
	}
	slices.Sort(outs)
	if want := slices.Sorted(slices.Values([]string{debianFirstRun, "apply.sh: no change\n"})); !slices.Equal(outs, want) {
		t.Errorf("the two runs printed\n%q\nwant one merge and one \"no change\":\n%q", outs, want)
	}
	sameSnapshot(t, "after two runs at once", h.snapshot(), inTurn.snapshot())

	if out, code := h.apply("--undo"); code != 0 {
		t.Fatalf("--undo (exit %d):\n%s", code, out)
	}
	sameSnapshot(t, "after --undo", h.snapshot(), before)
}

// TestApplyLockTimeout: a run that cannot get the lock within
// IMMICH_RENDER_APPLY_WAIT seconds says so and changes nothing; so does
// one given a wait that is not a number, and one on a host without the
// lock's folder.
func TestApplyLockTimeout(t *testing.T) {
	h := newFakeHost(t, debianHost())
	before := h.snapshot()
	release := h.holdLock()
	defer release()
	for _, tc := range []struct{ wait, want string }{
		{"0", `apply.sh: another apply.sh is running (it holds /run/immich-render-apply.lock): waiting up to 0 s
apply.sh: another apply.sh still holds /run/immich-render-apply.lock after 0 s (IMMICH_RENDER_APPLY_WAIT): run this one again once it has finished
apply.sh: nothing changed
`},
		{"2m", `apply.sh: IMMICH_RENDER_APPLY_WAIT is 2m, not a number of seconds
apply.sh: nothing changed
`},
	} {
		for _, args := range [][]string{nil, {"--undo"}, {"--dry-run"}} {
			out, code := h.start([]string{"IMMICH_RENDER_APPLY_WAIT=" + tc.wait}, args...).wait()
			if code != 1 || out != tc.want {
				t.Errorf("IMMICH_RENDER_APPLY_WAIT=%s apply.sh %q: exit %d\n%s\nwant exit 1 and\n%s", tc.wait, args, code, out, tc.want)
			}
		}
	}
	sameSnapshot(t, "after the refusals", h.snapshot(), before)

	os.RemoveAll(filepath.Join(h.root, "run"))
	want := "apply.sh: no folder /run for the lock /run/immich-render-apply.lock\napply.sh: nothing changed\n"
	if out, code := h.apply(); code != 1 || out != want {
		t.Errorf("without /run: exit %d\n%s\nwant exit 1 and\n%s", code, out, want)
	}
}
