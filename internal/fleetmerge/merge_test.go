package fleetmerge

import (
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
)

// TestMerge: the host's scalars and lists win, structs merge field by
// field, a secret-shaped field (string or struct) is replaced whole, a
// skipped defaults path is left out, and every value keeps its position.
func TestMerge(t *testing.T) {
	ctx := cuecontext.New()
	sch := ctx.CompileString(`{
		a: {x?: int, y?: int, l?: [...int]}
		pw?: string | {env!: string}
		s?: string
		typo?: int
	}`)
	f, err := parser.ParseFile("in.cue", `
defaults: {a: {x: 1, y: 2, l: [1, 2]}, pw: {env: "PW"}, s: "d", typo: 1}
host: {a: {y: 3, l: [9]}, pw: "literal-secret"}
`)
	if err != nil {
		t.Fatal(err)
	}
	in := ctx.BuildFile(f)
	def, host := in.LookupPath(cue.ParsePath("defaults")), in.LookupPath(cue.ParsePath("host"))
	expr := Merge(def, host, sch, func(p string) bool { return p == "typo" })
	got := ctx.BuildExpr(expr)
	want := ctx.CompileString(`{a: {x: 1, y: 3, l: [9]}, pw: "literal-secret", s: "d"}`)
	if !got.Equals(want) {
		b, _ := format.Node(expr)
		t.Errorf("merged:\n%s\nwant %v", b, want)
	}
	// Positions: y from the host's line, x from the defaults' line.
	for path, line := range map[string]int{"a.y": 3, "a.x": 2, "s": 2, "pw": 3} {
		if p := ValuePos(got.LookupPath(cue.ParsePath(path))); p.Line() != line || p.Filename() != "in.cue" {
			t.Errorf("%s at %v, want in.cue line %d", path, p, line)
		}
	}
	if got.LookupPath(cue.ParsePath("typo")).Exists() {
		t.Error("a skipped path was merged")
	}
}
