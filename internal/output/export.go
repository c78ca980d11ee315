package output

// UnifiedDiff is the unified diff (a/name, b/name, three lines of context)
// that Check prints, for other comparisons such as golden tests.
func UnifiedDiff(name, a, b string) string { return unifiedDiff(name, a, b) }
