// Package fleetmerge lays a fleet host's site configuration over the fleet's
// defaults. CUE's unification cannot say "the host's value wins": two
// concrete values for one field are a conflict. So the merge is done on
// the evaluated values and rebuilt as CUE syntax whose every value keeps
// the source position it came from; schema validates that syntax like a
// single site, so messages show the host's own line or the defaults line
// it inherited.
//
// The merge rule, as cue/fleet.cue documents it for users: a field the
// host does not set comes from defaults, structs that both set are merged
// field by field, and anything else that both set (scalars, lists,
// secrets) is the host's.
package fleetmerge

import (
	"strconv"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// Merge lays host over def (either may not exist) under the site schema
// sch (#Config). skip reports the site paths under defaults ("immich.typo")
// to leave out because they are already reported as unknown.
func Merge(def, host, sch cue.Value, skip func(sitePath string) bool) ast.Expr {
	return NewMerger(def, sch, skip).Merge(host)
}

// A Merger lays many hosts over the same defaults. What depends on the
// defaults alone, the fields of each of their structs and the syntax of a
// subtree that a host does not set, it builds for the first host that
// needs it and shares with the others: most of a fleet's hosts inherit
// most of their fields, and rebuilding them from the defaults' value for
// every host was the dearest part of the merge.
//
// Shared syntax is only ever literals (structs, lists, strings, numbers,
// booleans): building a value from it reads it and writes nothing, so the
// hosts' expressions may be built concurrently. A subtree that holds a
// constraint (`port: int`) is rebuilt for each host.
type Merger struct {
	def, sch cue.Value
	skip     func(string) bool
	fields   map[string][]defField // the fields of the defaults' struct at a site path
	syntax   map[string]ast.Expr   // the shared syntax of the defaults' value at a site path
}

// defField is a field of a struct of the defaults, with its schema.
type defField struct {
	sel   cue.Selector
	label string
	value cue.Value
	sch   cue.Value
}

// NewMerger returns a Merger of hosts over def under the site schema sch,
// leaving out the defaults' site paths that skip reports.
func NewMerger(def, sch cue.Value, skip func(sitePath string) bool) *Merger {
	return &Merger{def: def, sch: sch, skip: skip, fields: map[string][]defField{}, syntax: map[string]ast.Expr{}}
}

// Merge lays host (which may not exist) over the defaults. It is not safe
// for concurrent use.
func (m *Merger) Merge(host cue.Value) ast.Expr {
	return m.merge(m.def, host, m.sch, "")
}

// SchemaField finds a schema field whether it is regular, optional,
// required or only matched by a pattern.
func SchemaField(v cue.Value, name string) cue.Value {
	for _, sel := range []cue.Selector{cue.Str(name), cue.Str(name).Optional(), cue.Str(name).Required(), cue.AnyString} {
		if next := v.LookupPath(cue.MakePath(sel)); next.Exists() {
			return next
		}
	}
	return cue.Value{}
}

// merge lays host over def (either may not exist) at site path path, whose
// schema is sch (which may not exist, inside free-form settings).
func (m *Merger) merge(def, host, sch cue.Value, path string) ast.Expr {
	if !def.Exists() {
		x, _ := m.build(host, "")
		return x
	}
	if !host.Exists() {
		return m.defSyntax(def, path)
	}
	if def.IncompleteKind() != cue.StructKind || host.IncompleteKind() != cue.StructKind || isWhole(sch) {
		x, _ := m.build(host, "")
		return x
	}
	s := &ast.StructLit{Lbrace: ValuePos(host)}
	seen := map[string]bool{}
	for _, f := range m.defFields(def, sch, path) {
		seen[f.label] = true
		hv := host.LookupPath(cue.MakePath(f.sel))
		s.Elts = append(s.Elts, field(f.label, m.merge(f.value, hv, f.sch, joinPath(path, f.label))))
	}
	hit, _ := host.Fields()
	for hit.Next() {
		if label := hit.Selector().Unquoted(); !seen[label] {
			x, _ := m.build(hit.Value(), "")
			s.Elts = append(s.Elts, field(label, x))
		}
	}
	return s
}

// defFields lists the fields of def, the defaults' struct at path whose
// schema is sch, once per path.
func (m *Merger) defFields(def, sch cue.Value, path string) []defField {
	if fs, ok := m.fields[path]; ok {
		return fs
	}
	fs := []defField{}
	it, _ := def.Fields()
	for it.Next() {
		label := it.Selector().Unquoted()
		if m.skip(joinPath(path, label)) {
			continue
		}
		f := defField{sel: it.Selector(), label: label, value: it.Value()}
		if sch.Exists() {
			f.sch = SchemaField(sch, label)
		}
		fs = append(fs, f)
	}
	m.fields[path] = fs
	return fs
}

// defSyntax is the syntax of def, the defaults' value at path, shared
// between hosts when it is literals only.
func (m *Merger) defSyntax(def cue.Value, path string) ast.Expr {
	if x, ok := m.syntax[path]; ok {
		return x
	}
	x, literal := m.build(def, path)
	if literal {
		m.syntax[path] = x
	}
	return x
}

// ValuePos is where v's value is written: for a field, the value rather
// than its label, as a single site's messages show it.
func ValuePos(v cue.Value) token.Pos {
	if f, ok := v.Source().(*ast.Field); ok && f.Value != nil && f.Value.Pos().IsValid() {
		return f.Value.Pos()
	}
	return v.Pos()
}

// isWhole reports whether a value at this schema is replaced whole rather
// than merged: a secret, which is either a string or a struct. Free-form
// values (inside immich.settings, where the schema is _) merge like any
// struct.
func isWhole(sch cue.Value) bool {
	if !sch.Exists() {
		return false
	}
	k := sch.IncompleteKind()
	return k != cue.TopKind && k&cue.StructKind != 0 && k&cue.StringKind != 0
}

func joinPath(path, label string) string {
	if path == "" {
		return label
	}
	return path + "." + label
}

func field(label string, x ast.Expr) *ast.Field {
	return &ast.Field{Label: ast.NewString(label), Value: x}
}

// build rebuilds an evaluated value as CUE syntax, every value with the
// source position it came from, and reports whether that syntax is
// literals only. path is the value's site path under defaults, for
// leaving out fields already reported as unknown, or "" when nothing is
// to be left out.
func (m *Merger) build(v cue.Value, path string) (x ast.Expr, literals bool) {
	pos := ValuePos(v)
	if !v.IsConcrete() {
		// A constraint rather than a value (`port: int`): keep it, so that
		// validation says what is missing.
		if n, ok := v.Syntax(cue.Final()).(ast.Expr); ok {
			ast.SetPos(n, pos)
			return n, false
		}
		return &ast.BottomLit{Bottom: pos}, false
	}
	switch v.Kind() {
	case cue.StructKind:
		s := &ast.StructLit{Lbrace: pos}
		literals := true
		it, _ := v.Fields()
		for it.Next() {
			label := it.Selector().Unquoted()
			if path != "" && m.skip(joinPath(path, label)) {
				continue
			}
			sub := ""
			if path != "" {
				sub = joinPath(path, label)
			}
			x, lit := m.build(it.Value(), sub)
			literals = literals && lit
			s.Elts = append(s.Elts, field(label, x))
		}
		return s, literals
	case cue.ListKind:
		l := &ast.ListLit{Lbrack: pos}
		literals := true
		it, _ := v.List()
		for i := 0; it.Next(); i++ {
			sub := ""
			if path != "" {
				sub = joinPath(path, strconv.Itoa(i))
			}
			x, lit := m.build(it.Value(), sub)
			literals = literals && lit
			l.Elts = append(l.Elts, x)
		}
		return l, literals
	case cue.StringKind:
		s, _ := v.String()
		return &ast.BasicLit{Kind: token.STRING, ValuePos: pos, Value: literal.String.Quote(s)}, true
	case cue.BoolKind:
		b, _ := v.Bool()
		lit := ast.NewBool(b)
		lit.ValuePos = pos
		return lit, true
	case cue.NullKind:
		lit := ast.NewNull()
		lit.ValuePos = pos
		return lit, true
	case cue.IntKind:
		if n, err := v.Int64(); err == nil {
			return &ast.BasicLit{Kind: token.INT, ValuePos: pos, Value: strconv.FormatInt(n, 10)}, true
		}
	}
	// Floats, bytes, very large integers: CUE's own syntax.
	if n, ok := v.Syntax(cue.Final()).(ast.Expr); ok {
		ast.SetPos(n, pos)
		return n, false
	}
	return &ast.BottomLit{Bottom: pos}, false
}
