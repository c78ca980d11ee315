package schema

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/token"
)

// Problem is one thing wrong with a configuration, said for an operator:
// which field, what is wrong, what would be right, and where in the input.
// It stays a value (path elements, source positions) until it is printed.
type Problem struct {
	Kind   Kind
	Path   []string    // config path, such as immich network gateway; nil for a whole file
	Reason string      // what is wrong, in plain words
	Hint   string      // what would be valid; may be empty
	Pos    []token.Pos // where in the input: file, line and column (or only the file)

	// Secret is set when the problem is about a secret field (or a value
	// inside one): a message about it never quotes a value.
	Secret bool
}

// ProblemAt is a problem at a config path, its secret-ness decided by the
// path: a secret field or anything inside one (a secret put in {env: ...}
// by mistake is still the secret). Positions that are not valid are left out; there may be none.
func ProblemAt(path []string, kind Kind, reason, hint string, pos ...token.Pos) Problem {
	p := Problem{Kind: kind, Path: path, Reason: reason, Hint: hint, Secret: inSecret(path)}
	for _, q := range pos {
		p.Pos = addPos(p.Pos, q)
	}
	return p
}

// Problems is every problem found, sorted and de-duplicated. It is the
// error type of Load; callers print it once, at the edge.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// String formats one problem as a block:
//
//	immich.network.gateway: 10.0.0.1 is not inside subnet 172.20.0.0/16
//	    want: an IPv4 address inside subnet ...
//	    at site.cue:7:12
func (p Problem) String() string {
	var b strings.Builder
	if len(p.Path) > 0 {
		b.WriteString(p.PathString())
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	if p.Hint != "" {
		fmt.Fprintf(&b, "\n    want: %s", p.Hint)
	}
	for _, pos := range p.Pos {
		fmt.Fprintf(&b, "\n    at %s", formatPos(pos))
	}
	return b.String()
}

// PathString is the path as it is printed: immich.network.gateway.
func (p Problem) PathString() string { return strings.Join(p.Path, ".") }

// formatPos prints a position as file:line:col, or only the file when
// the position has no line (a whole file, or generated input).
func formatPos(pos token.Pos) string {
	pp := pos.Position()
	if pp.Line == 0 {
		return pp.Filename
	}
	return fmt.Sprintf("%s:%d:%d", pp.Filename, pp.Line, pp.Column)
}

// PosAt is a position in a file that is not configuration input, such as
// an Ansible inventory: line and column from 1, or the file alone when
// line is 0.
func PosAt(file string, line, col int) token.Pos {
	if line == 0 {
		return filePos(file)
	}
	return linePos(file, line, col)
}

// filePos is a position naming only a file.
func filePos(name string) token.Pos {
	f := token.NewFile(name, -1, 0)
	f.SetLines(nil)
	return f.Pos(0, token.NoRelPos)
}

// linePos is the position line:col (both from 1) of a file whose text is
// not at hand, such as one a Jsonnet error names.
func linePos(name string, line, col int) token.Pos {
	line, col = max(line, 1), max(col, 1)
	// A synthetic file of one-byte lines and a last line long enough.
	f := token.NewFile(name, -1, line+col)
	lines := make([]int, line)
	for i := range lines {
		lines[i] = i
	}
	f.SetLines(lines)
	return f.Pos(line-1+col-1, token.NoRelPos)
}

// posStrings prints positions, for comparing and grouping them.
func posStrings(ps []token.Pos) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = formatPos(p)
	}
	return out
}

// addPos appends pos unless it is invalid or already there.
func addPos(ps []token.Pos, pos token.Pos) []token.Pos {
	if !pos.HasAbsPos() {
		return ps
	}
	s := formatPos(pos)
	for _, q := range ps {
		if formatPos(q) == s {
			return ps
		}
	}
	return append(ps, pos)
}

// normalize sorts problems by path, then position, then reason, and drops
// exact repeats (CUE reports some conflicts once per side).
func (ps Problems) normalize() Problems {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			comparePath(a.Path, b.Path),
			strings.Compare(strings.Join(posStrings(a.Pos), ","), strings.Join(posStrings(b.Pos), ",")),
			strings.Compare(a.Reason, b.Reason),
		)
	})
	return slices.CompactFunc(ps, func(a, b Problem) bool {
		return slices.Equal(a.Path, b.Path) && a.Reason == b.Reason && slices.Equal(posStrings(a.Pos), posStrings(b.Pos))
	})
}

// comparePath orders config paths element by element, list indices
// numerically, so users.2 comes before users.10.
func comparePath(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		an, aerr := index(a[i])
		bn, berr := index(b[i])
		if aerr == nil && berr == nil && an != bn {
			return cmp.Compare(an, bn)
		}
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// index reads a path element that is a list index: digits only.
func index(elem string) (int, error) {
	if elem == "" || strings.Trim(elem, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(elem)
}

// splitPath turns a dotted config path written in Go code
// ("valkey.users.0.password") into its elements.
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

// hasPathPrefix reports whether path is prefix or inside it.
func hasPathPrefix(path, prefix []string) bool {
	return len(path) >= len(prefix) && slices.Equal(path[:len(prefix)], prefix)
}
