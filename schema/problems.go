package schema

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a configuration, said for an operator:
// which field, what is wrong, what would be right, and where in the input.
type Problem struct {
	Kind   Kind
	Path   string   // config path such as "immich.network.gateway"; "" for a whole file
	Reason string   // what is wrong, in plain words
	Hint   string   // what would be valid; may be empty
	Pos    []string // "file:line:col" (or "file") of the offending input
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
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	if p.Hint != "" {
		fmt.Fprintf(&b, "\n    want: %s", p.Hint)
	}
	for _, pos := range p.Pos {
		fmt.Fprintf(&b, "\n    at %s", pos)
	}
	return b.String()
}

// normalize sorts problems by path, then position, then reason, and drops
// exact repeats (CUE reports some conflicts once per side).
func (ps Problems) normalize() Problems {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			comparePath(a.Path, b.Path),
			strings.Compare(strings.Join(a.Pos, ","), strings.Join(b.Pos, ",")),
			strings.Compare(a.Reason, b.Reason),
		)
	})
	return slices.CompactFunc(ps, func(a, b Problem) bool {
		return a.Path == b.Path && a.Reason == b.Reason && slices.Equal(a.Pos, b.Pos)
	})
}

// comparePath orders config paths element by element, numbers numerically,
// so users.2 comes before users.10.
func comparePath(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		var an, bn int
		_, aerr := fmt.Sscanf(as[i], "%d", &an)
		_, berr := fmt.Sscanf(bs[i], "%d", &bn)
		if aerr == nil && berr == nil && an != bn {
			return cmp.Compare(an, bn)
		}
		if c := strings.Compare(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}
