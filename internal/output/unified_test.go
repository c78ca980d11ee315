package output

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

func TestUnifiedDiffExact(t *testing.T) {
	lines := func(from, to int) string {
		var b strings.Builder
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "line %d\n", i)
		}
		return b.String()
	}
	for _, tc := range []struct{ name, a, b, want string }{
		{"equal", "x\n", "x\n", ""},
		{"one line", "a\n", "b\n", "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"},
		{"insert at top", "a\nb\n", "new\na\nb\n", "--- a/f\n+++ b/f\n@@ -1,2 +1,3 @@\n+new\n a\n b\n"},
		{"from empty", "", "a\nb\n", "--- a/f\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"to empty", "a\nb\n", "", "--- a/f\n+++ b/f\n@@ -1,2 +0,0 @@\n-a\n-b\n"},
		{"no newline at end", "a\nb", "a\nb\n", "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"newline removed", "a\nb\n", "a\nc", "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"},
		{"context of three", lines(1, 20), strings.Replace(lines(1, 20), "line 10\n", "LINE 10\n", 1),
			"--- a/f\n+++ b/f\n@@ -7,7 +7,7 @@\n line 7\n line 8\n line 9\n-line 10\n+LINE 10\n line 11\n line 12\n line 13\n"},
		// Six kept lines between two changes: the contexts touch, one hunk.
		{"gap of six merges", lines(1, 20), strings.NewReplacer("line 5\n", "five\n", "line 12\n", "twelve\n").Replace(lines(1, 20)),
			"--- a/f\n+++ b/f\n@@ -2,14 +2,14 @@\n line 2\n line 3\n line 4\n-line 5\n+five\n line 6\n line 7\n line 8\n line 9\n line 10\n line 11\n-line 12\n+twelve\n line 13\n line 14\n line 15\n"},
		// Seven: two hunks.
		{"gap of seven splits", lines(1, 20), strings.NewReplacer("line 5\n", "five\n", "line 13\n", "thirteen\n").Replace(lines(1, 20)),
			"--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+five\n line 6\n line 7\n line 8\n" +
				"@@ -10,7 +10,7 @@\n line 10\n line 11\n line 12\n-line 13\n+thirteen\n line 14\n line 15\n line 16\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unifiedDiff("f", tc.a, tc.b); got != tc.want {
				t.Errorf("unifiedDiff:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// GNU diff gives the same text wherever the changes are unambiguous.
func TestUnifiedDiffMatchesGNUDiff(t *testing.T) {
	bin := testenv.Binary(t, "diff")
	var a, b strings.Builder
	for i := range 60 {
		fmt.Fprintf(&a, "setting_%d = %d\n", i, i)
		switch {
		case i%17 == 3:
			fmt.Fprintf(&b, "setting_%d = changed\n", i)
		case i == 30:
		case i == 44:
			fmt.Fprintf(&b, "setting_%d = %d\nadded = yes\n", i, i)
		default:
			fmt.Fprintf(&b, "setting_%d = %d\n", i, i)
		}
	}
	b.WriteString("tail without newline")
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, pa, a.String(), 0o644)
	writeFile(t, pb, b.String(), 0o644)
	out, err := exec.Command(bin, "-u", "--label", "a/f", "--label", "b/f", pa, pb).Output()
	if code := exitCode(err); code != 1 {
		t.Fatalf("diff: exit %d: %v", code, err)
	}
	if got := unifiedDiff("f", a.String(), b.String()); got != string(out) {
		t.Errorf("unifiedDiff:\n%s\nGNU diff:\n%s", got, out)
	}
}

func exitCode(err error) int {
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Random edits: GNU patch, with no fuzz, turns a into b with our diff, and
// so does a strict applier that checks every header and context line.
func TestUnifiedDiffApplies(t *testing.T) {
	patch := testenv.Binary(t, "patch")
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for i := range 150 {
		a := randomText(rng)
		b := mutate(rng, a)
		d := unifiedDiff("f", a, b)
		if got, err := applyUnified(a, d); err != nil || got != b {
			t.Fatalf("case %d: applying\n%s\nto %q gives %q (%v), want %q", i, d, a, got, err, b)
		}
		if i%10 != 0 || d == "" {
			continue
		}
		pa, pd, po := filepath.Join(dir, "a"), filepath.Join(dir, "d"), filepath.Join(dir, "o")
		writeFile(t, pa, a, 0o644)
		writeFile(t, pd, d, 0o644)
		os.Remove(po)
		if out, err := exec.Command(patch, "-s", "-F0", "-o", po, "-i", pd, pa).CombinedOutput(); err != nil {
			t.Fatalf("case %d: patch: %v\n%s\ndiff:\n%s", i, err, out, d)
		}
		if got, _ := os.ReadFile(po); string(got) != b {
			t.Fatalf("case %d: patch made %q, want %q", i, got, b)
		}
	}
}

func FuzzUnifiedDiff(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\nd")
	f.Add("", "x")
	f.Add("x\n\n\ny", "\n\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		d := unifiedDiff("f", a, b)
		if got, err := applyUnified(a, d); err != nil || got != b {
			t.Fatalf("applying\n%s\nto %q gives %q (%v), want %q", d, a, got, err, b)
		}
	})
}

func randomText(rng *rand.Rand) string {
	words := []string{"a", "b", "c", "listen 443;", "", "}", "{"}
	var b strings.Builder
	n := rng.IntN(40)
	for range n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte('\n')
	}
	if n > 0 && rng.IntN(5) == 0 {
		return strings.TrimSuffix(b.String(), "\n")
	}
	return b.String()
}

func mutate(rng *rand.Rand, s string) string {
	lines := strings.SplitAfter(s, "\n")
	for range rng.IntN(6) {
		i := rng.IntN(len(lines) + 1)
		switch rng.IntN(3) {
		case 0:
			lines = append(lines[:i], append([]string{fmt.Sprintf("new %d\n", rng.IntN(9))}, lines[i:]...)...)
		case 1:
			if i < len(lines) {
				lines = append(lines[:i], lines[i+1:]...)
			}
		case 2:
			if i < len(lines) {
				lines[i] = "changed\n"
			}
		}
	}
	out := strings.Join(lines, "")
	if rng.IntN(5) == 0 {
		out = strings.TrimSuffix(out, "\n")
	}
	return out
}

// applyUnified applies a diff made by unifiedDiff, strictly: headers,
// hunk ranges and context lines must all match a.
func applyUnified(a, d string) (string, error) {
	if d == "" {
		return a, nil
	}
	old := strings.SplitAfter(a, "\n")
	if old[len(old)-1] == "" {
		old = old[:len(old)-1]
	}
	lines := strings.SplitAfter(d, "\n")
	if len(lines) < 3 || lines[0] != "--- a/f\n" || lines[1] != "+++ b/f\n" || lines[len(lines)-1] != "" {
		return "", fmt.Errorf("bad headers")
	}
	lines = lines[2 : len(lines)-1]
	var out []string
	pos := 0 // lines of old consumed
	for len(lines) > 0 {
		var ostart, oc, nstart, nc int
		if !parseHunk(lines[0], &ostart, &oc, &nstart, &nc) {
			return "", fmt.Errorf("bad hunk header %q", lines[0])
		}
		lines = lines[1:]
		start := ostart - 1
		if oc == 0 {
			start = ostart
		}
		if start < pos {
			return "", fmt.Errorf("hunks overlap")
		}
		out = append(out, old[pos:start]...)
		pos = start
		gotOld, gotNew := 0, 0
		for len(lines) > 0 && !strings.HasPrefix(lines[0], "@@") {
			l := lines[0]
			lines = lines[1:]
			text := l[1:]
			if len(lines) > 0 && lines[0] == "\\ No newline at end of file\n" {
				text = strings.TrimSuffix(text, "\n")
				lines = lines[1:]
			}
			switch l[0] {
			case ' ', '-':
				if pos >= len(old) || old[pos] != text {
					return "", fmt.Errorf("context mismatch at old line %d", pos+1)
				}
				pos++
				gotOld++
				if l[0] == ' ' {
					out = append(out, text)
					gotNew++
				}
			case '+':
				out = append(out, text)
				gotNew++
			default:
				return "", fmt.Errorf("bad line %q", l)
			}
		}
		if gotOld != oc || gotNew != nc {
			return "", fmt.Errorf("hunk counts %d,%d but has %d,%d", oc, nc, gotOld, gotNew)
		}
		before := len(out) - gotNew
		if nc > 0 && nstart-1 != before || nc == 0 && nstart != before {
			return "", fmt.Errorf("new start %d, but %d lines precede", nstart, before)
		}
	}
	out = append(out, old[pos:]...)
	return strings.Join(out, ""), nil
}

func parseHunk(h string, ostart, oc, nstart, nc *int) bool {
	rest, ok := strings.CutPrefix(h, "@@ -")
	if !ok {
		return false
	}
	rest, ok = strings.CutSuffix(rest, " @@\n")
	if !ok {
		return false
	}
	o, n, ok := strings.Cut(rest, " +")
	return ok && parseRange(o, ostart, oc) && parseRange(n, nstart, nc)
}

func parseRange(r string, start, count *int) bool {
	s, c, hasCount := strings.Cut(r, ",")
	var err1, err2 error
	*start, err1 = strconv.Atoi(s)
	*count = 1
	if hasCount {
		*count, err2 = strconv.Atoi(c)
		if *count == 1 {
			return false // GNU style leaves ",1" out
		}
	}
	return err1 == nil && err2 == nil
}
