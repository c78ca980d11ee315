package ansible

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"
)

// fieldOrder is the order fields appear in, as in the README's summary.
var fieldOrder = []string{
	"immich.version", "immich.port", "immich.timezone", "immich.uploadLocation", "immich.projectDir",
	"immich.network.name", "immich.network.subnet", "immich.network.gateway", "immich.hostGateway",
	"immich.postgres.password", "immich.valkey.password", "immich.valkey.keyPatterns",
	"immich.nginx.enabled", "immich.nginx.hostname", "immich.nginx.acme.email",
	"valkey.adminPassword", "valkey.users",
}

func fieldRank(p string) int {
	if i := slices.Index(fieldOrder, p); i >= 0 {
		return i
	}
	return len(fieldOrder)
}

// tree is a struct being built: labels in order, each a subtree or a leaf.
type tree struct {
	labels []string
	sub    map[string]*tree
	leaf   map[string]field
}

func newTree() *tree { return &tree{sub: map[string]*tree{}, leaf: map[string]field{}} }

func (t *tree) add(elems []string, f field) {
	if len(elems) == 1 {
		if _, ok := t.leaf[elems[0]]; !ok {
			t.labels = append(t.labels, elems[0])
		}
		t.leaf[elems[0]] = f
		return
	}
	s := t.sub[elems[0]]
	if s == nil {
		s = newTree()
		t.sub[elems[0]] = s
		t.labels = append(t.labels, elems[0])
	}
	s.add(elems[1:], f)
}

func (t *tree) expr() *ast.StructLit {
	st := &ast.StructLit{}
	for _, l := range t.labels {
		var f *ast.Field
		if s, ok := t.sub[l]; ok {
			f = &ast.Field{Label: label(l), Value: s.expr()}
		} else {
			lf := t.leaf[l]
			f = &ast.Field{Label: label(l), Value: valueExpr(lf.value)}
			comment(f, lf.from)
		}
		st.Elts = append(st.Elts, f)
	}
	return st
}

func label(s string) ast.Label {
	if ast.IsValidIdent(s) && !strings.HasPrefix(s, "_") && !strings.HasPrefix(s, "#") {
		return ast.NewIdent(s)
	}
	return ast.NewString(s)
}

func comment(n ast.Node, text string) {
	ast.AddComment(n, &ast.CommentGroup{Line: true, Position: 4, List: []*ast.Comment{{Text: "// " + text}}})
}

func valueExpr(v any) ast.Expr {
	switch x := v.(type) {
	case string:
		return ast.NewString(x)
	case int64:
		return ast.NewLit(token.INT, strconv.FormatInt(x, 10))
	case bool:
		return ast.NewBool(x)
	case envRef:
		return &ast.StructLit{Elts: []ast.Decl{&ast.Field{Label: ast.NewIdent("env"), Value: ast.NewString(x.Name)}}}
	case []string:
		l := &ast.ListLit{}
		for _, s := range x {
			l.Elts = append(l.Elts, ast.NewString(s))
		}
		return l
	case []object:
		l := &ast.ListLit{}
		for _, o := range x {
			st := &ast.StructLit{Lbrace: token.Newline.Pos(), Rbrace: token.Newline.Pos()}
			for _, f := range o {
				af := &ast.Field{Label: label(f.path), Value: valueExpr(f.value)}
				ast.SetRelPos(af, token.Newline)
				comment(af, f.from)
				st.Elts = append(st.Elts, af)
			}
			ast.SetRelPos(st, token.Newline)
			l.Elts = append(l.Elts, st)
		}
		l.Rbrack = token.Newline.Pos()
		return l
	}
	panic(fmt.Sprintf("ansible: no CUE for %T", v))
}

// sortFields orders fields as fieldOrder.
func sortFields(fs []field) []field {
	fs = slices.Clone(fs)
	slices.SortStableFunc(fs, func(a, b field) int { return fieldRank(a.path) - fieldRank(b.path) })
	return fs
}

func structOf(fs []field) *ast.StructLit {
	t := newTree()
	for _, f := range sortFields(fs) {
		t.add(strings.Split(f.path, "."), f)
	}
	return t.expr()
}

// siteCUE formats a single site.
func siteCUE(header []string, fs []field) ([]byte, error) {
	return formatFile(header, structOf(fs).Elts)
}

// fleetCUE formats a fleet: defaults for the fields every host shares,
// hosts for the rest.
func fleetCUE(header []string, defaults []field, hosts []*hostImport) ([]byte, error) {
	var elts []ast.Decl
	if len(defaults) > 0 {
		elts = append(elts, &ast.Field{Label: ast.NewIdent("defaults"), Value: structOf(defaults)})
	}
	hs := &ast.StructLit{}
	for _, h := range hosts {
		f := &ast.Field{Label: label(h.name), Value: structOf(h.fields)}
		if h.name != h.invName {
			ast.AddComment(f, &ast.CommentGroup{Doc: true, List: []*ast.Comment{{Text: "// inventory host " + h.invName}}})
		}
		hs.Elts = append(hs.Elts, f)
	}
	elts = append(elts, &ast.Field{Label: ast.NewIdent("hosts"), Value: hs})
	return formatFile(header, elts)
}

func formatFile(header []string, elts []ast.Decl) ([]byte, error) {
	file := &ast.File{Decls: elts}
	if len(header) > 0 && len(elts) > 0 {
		cg := &ast.CommentGroup{Doc: true}
		for _, h := range header {
			cg.List = append(cg.List, &ast.Comment{Text: strings.TrimRight("// "+h, " ")})
		}
		ast.AddComment(elts[0], cg)
	}
	out, err := format.Node(file, format.Simplify())
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return out, nil
}

// sharedFields returns the fields every host sets to the same value, and
// removes them from the hosts.
func sharedFields(hosts []*hostImport) []field {
	var shared []field
	if len(hosts) < 2 {
		return nil
	}
	for _, f := range hosts[0].fields {
		same := true
		froms := map[string]bool{f.from: true}
		for _, h := range hosts[1:] {
			i := slices.IndexFunc(h.fields, func(g field) bool { return g.path == f.path })
			if i < 0 || !reflect.DeepEqual(h.fields[i].value, f.value) {
				same = false
				break
			}
			froms[h.fields[i].from] = true
		}
		if !same {
			continue
		}
		g := f
		if len(froms) > 1 {
			g.from = f.from + " (the same value on every host)"
		}
		shared = append(shared, g)
	}
	for _, h := range hosts {
		h.fields = slices.DeleteFunc(h.fields, func(f field) bool {
			return slices.ContainsFunc(shared, func(s field) bool { return s.path == f.path })
		})
	}
	return shared
}
