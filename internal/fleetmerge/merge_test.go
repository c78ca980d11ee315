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

// TestMergerManyHosts: one Merger, which shares what it builds from the
// defaults, gives each host what a Merger of its own gives, whatever the
// hosts before it set; a constraint in the defaults is kept for each.
func TestMergerManyHosts(t *testing.T) {
	ctx := cuecontext.New()
	sch := ctx.CompileString(`{a?: {x?: int, y?: int, n?: {p?: int, q?: int}}, l?: [...int], c?: int, pw?: string | {env!: string}}`)
	in := ctx.CompileString(`
defaults: {a: {x: 1, y: 2, n: {p: 1, q: 2}}, l: [1, 2], c: int, pw: {env: "PW"}}
hosts: {
	h1: {a: {n: {p: 9}}, c: 1}
	h2: {a: {y: 5}, l: [7], pw: "literal-secret"}
	h3: {c: 3}
	h4: {a: {x: 8, n: {q: 8}}}
}`)
	def := in.LookupPath(cue.ParsePath("defaults"))
	none := func(string) bool { return false }
	m := NewMerger(def, sch, none)
	for _, name := range []string{"h1", "h2", "h3", "h4", "h1"} {
		host := in.LookupPath(cue.MakePath(cue.Str("hosts"), cue.Str(name)))
		got := ctx.BuildExpr(m.Merge(host))
		want := ctx.BuildExpr(Merge(def, host, sch, none))
		if !got.Equals(want) || got.Validate() != nil {
			b, _ := format.Node(m.Merge(host))
			t.Errorf("%s merged by a shared Merger:\n%s\nwant %v", name, b, want)
		}
	}
	// c: int stays a constraint in a host that does not set it.
	h4 := ctx.BuildExpr(m.Merge(in.LookupPath(cue.ParsePath("hosts.h4"))))
	if c := h4.LookupPath(cue.ParsePath("c")); c.IsConcrete() || c.IncompleteKind() != cue.IntKind {
		t.Errorf("c = %v, want the constraint int", c)
	}
}
