package output

import (
	"fmt"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// diffContext is the number of unchanged lines around each change, as in
// diff -u and git diff.
const diffContext = 3

// lineOp is one line of a line diff: ' ' kept, '-' only in a, '+' only in b.
// text keeps its newline; the last line of a file may have none.
type lineOp struct {
	kind byte
	text string
}

// lineDiff diffs a and b line by line with diffmatchpatch's line mode.
// The timeout is off: a deadline would make the diff depend on the
// machine's speed, and rendered files are small.
func lineDiff(a, b string) []lineOp {
	dmp := diffmatchpatch.New()
	dmp.DiffTimeout = 0
	ra, rb, lines := dmp.DiffLinesToRunes(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMainRunes(ra, rb, false), lines)
	var ops []lineOp
	for _, d := range diffs {
		kind := byte(' ')
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			kind = '-'
		case diffmatchpatch.DiffInsert:
			kind = '+'
		}
		for _, l := range strings.SplitAfter(d.Text, "\n") {
			if l != "" {
				ops = append(ops, lineOp{kind, l})
			}
		}
	}
	return ops
}

// unifiedDiff returns the unified diff that turns a into b, in the format
// of GNU diff -u and git diff: "--- a/NAME" and "+++ b/NAME" headers, then
// hunks "@@ -l,n +l,n @@" with diffContext lines of context. As there, a
// count of 1 is left out ("@@ -3 +3 @@"), an empty range starts at the line
// before it ("-0,0" for an insertion at the top), and a last line without a
// newline is followed by "\ No newline at end of file". Equal texts give "".
func unifiedDiff(name, a, b string) string {
	if a == b {
		return ""
	}
	ops := lineDiff(a, b)
	// oldAt[i] and newAt[i]: lines of a and b before ops[i].
	oldAt := make([]int, len(ops)+1)
	newAt := make([]int, len(ops)+1)
	for i, op := range ops {
		oldAt[i+1], newAt[i+1] = oldAt[i], newAt[i]
		if op.kind != '+' {
			oldAt[i+1]++
		}
		if op.kind != '-' {
			newAt[i+1]++
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- a/%s\n+++ b/%s\n", name, name)
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		// ops[i] is the first change of a hunk; extend it while at most
		// 2*diffContext kept lines separate it from the next change, so
		// that contexts touch rather than repeat (as GNU diff and git do).
		start := max(0, i-diffContext)
		last := i
		for j := i + 1; j < len(ops) && j-last-1 <= 2*diffContext; j++ {
			if ops[j].kind != ' ' {
				last = j
			}
		}
		end := min(len(ops), last+1+diffContext)
		fmt.Fprintf(&out, "@@ -%s +%s @@\n",
			hunkRange(oldAt[start], oldAt[end]-oldAt[start]),
			hunkRange(newAt[start], newAt[end]-newAt[start]))
		for _, op := range ops[start:end] {
			out.WriteByte(op.kind)
			out.WriteString(op.text)
			if !strings.HasSuffix(op.text, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
	return out.String()
}

// hunkRange formats one side of a hunk header; before is the number of
// lines ahead of the hunk on that side.
func hunkRange(before, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, count)
}
