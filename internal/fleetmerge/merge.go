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
	return merger{skip}.merge(def, host, sch, "")
}

type merger struct{ skip func(string) bool }

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
func (m merger) merge(def, host, sch cue.Value, path string) ast.Expr {
	if !def.Exists() {
		return m.syntax(host, "")
	}
	if !host.Exists() {
		return m.syntax(def, path)
	}
	if def.IncompleteKind() != cue.StructKind || host.IncompleteKind() != cue.StructKind || isWhole(sch) {
		return m.syntax(host, "")
	}
	s := &ast.StructLit{Lbrace: ValuePos(host)}
	seen := map[string]bool{}
	dit, _ := def.Fields()
	for dit.Next() {
		label := dit.Selector().Unquoted()
		p := joinPath(path, label)
		if m.skip(p) {
			continue
		}
		seen[label] = true
		hv := host.LookupPath(cue.MakePath(dit.Selector()))
		var sub cue.Value
		if sch.Exists() {
			sub = SchemaField(sch, label)
		}
		s.Elts = append(s.Elts, field(label, m.merge(dit.Value(), hv, sub, p)))
	}
	hit, _ := host.Fields()
	for hit.Next() {
		if label := hit.Selector().Unquoted(); !seen[label] {
			s.Elts = append(s.Elts, field(label, m.syntax(hit.Value(), "")))
		}
	}
	return s
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

// syntax rebuilds an evaluated value as CUE syntax, every value with the
// source position it came from. path is the value's site path under
// defaults, for leaving out fields already reported as unknown, or "" when
// nothing is to be left out.
func (m merger) syntax(v cue.Value, path string) ast.Expr {
	pos := ValuePos(v)
	if !v.IsConcrete() {
		// A constraint rather than a value (`port: int`): keep it, so that
		// validation says what is missing.
		if n, ok := v.Syntax(cue.Final()).(ast.Expr); ok {
			ast.SetPos(n, pos)
			return n
		}
		return &ast.BottomLit{Bottom: pos}
	}
	switch v.Kind() {
	case cue.StructKind:
		s := &ast.StructLit{Lbrace: pos}
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
			s.Elts = append(s.Elts, field(label, m.syntax(it.Value(), sub)))
		}
		return s
	case cue.ListKind:
		l := &ast.ListLit{Lbrack: pos}
		it, _ := v.List()
		for i := 0; it.Next(); i++ {
			sub := ""
			if path != "" {
				sub = joinPath(path, strconv.Itoa(i))
			}
			l.Elts = append(l.Elts, m.syntax(it.Value(), sub))
		}
		return l
	case cue.StringKind:
		s, _ := v.String()
		return &ast.BasicLit{Kind: token.STRING, ValuePos: pos, Value: literal.String.Quote(s)}
	case cue.BoolKind:
		b, _ := v.Bool()
		lit := ast.NewBool(b)
		lit.ValuePos = pos
		return lit
	case cue.NullKind:
		lit := ast.NewNull()
		lit.ValuePos = pos
		return lit
	case cue.IntKind:
		if n, err := v.Int64(); err == nil {
			return &ast.BasicLit{Kind: token.INT, ValuePos: pos, Value: strconv.FormatInt(n, 10)}
		}
	}
	// Floats, bytes, very large integers: CUE's own syntax.
	if n, ok := v.Syntax(cue.Final()).(ast.Expr); ok {
		ast.SetPos(n, pos)
		return n
	}
	return &ast.BottomLit{Bottom: pos}
}
