package output

import "github.com/aymanbagabas/go-udiff"

// unifiedDiff returns the unified diff that turns a into b, in the format
// of GNU diff -u and git diff: "--- a/NAME" and "+++ b/NAME" headers, then
// hunks "@@ -l,n +l,n @@" with three lines of context, a last line without
// a newline followed by "\ No newline at end of file". Equal texts give "".
// go-udiff is x/tools' diff (Myers over lines) with GNU's hunk format;
// TestUnifiedDiffMatchesGNUDiff and the patch round trip hold it to GNU's tools.
func unifiedDiff(name, a, b string) string {
	if a == b {
		return ""
	}
	return udiff.Unified("a/"+name, "b/"+name, a, b)
}
