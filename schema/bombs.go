package schema

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// A CUE input is a program: a comprehension over list.Range(0, 1e9, 1),
// two nested loops over long lists, or strings.Repeat("x", 1e9) would run
// for hours or fill the memory, and CUE cannot be stopped half-way (only
// the budget's watchdog ends it, at --timeout or --max-memory). CUE's
// comprehensions also take time quadratic in their length (20,000
// iterations: 3 s, 100,000: over a minute). So before evaluating a .cue
// input, comprehensionBombs works out from its syntax how often each
// comprehension runs (nested loops multiplied, through the fields and
// lets their sources name) and how large list.Range, list.Repeat and
// strings.Repeat make their results, where the bounds are literal
// numbers, and refuses what is past the limits. Sizes it cannot know
// without evaluating are left to the budget.

// maxIterations is how often, nested loops multiplied, one comprehension
// may run: as many as a list may have elements (MaxListLength).
const maxIterations = MaxListLength

// maxRepeatBytes is the longest string strings.Repeat may build.
const maxRepeatBytes = 1 << 20

// maxResolve bounds how many references a size follows (a cycle ends).
const maxResolve = 32

// maxSteps bounds the work of sizing one input: `n: n * n + n` would
// otherwise branch at every reference, 2^maxResolve times. Past it, sizes
// are unknown, and left to the budget.
const maxSteps = 1 << 20

// comprehensionBombs returns the first comprehension or builder call of f
// that is past the limits (or nil), and whether f's own syntax left some
// size unknown, for crossBombs.
func comprehensionBombs(name string, f *ast.File) (Problems, bool) {
	return sizeBombs(name, f, nil, importsOf(nil, f))
}

// sizeBombs is comprehensionBombs with the declarations of every input
// (nil: only f's own) and the import paths of every input's imports,
// which another input's declarations may call.
func sizeBombs(name string, f *ast.File, decls map[string][]ast.Expr, imports map[*ast.ImportSpec]string) (Problems, bool) {
	b := &bombs{name: name, imports: imports, decls: decls}
	if decls != nil {
		b.pathOf = map[ast.Expr]string{}
		declare(f, "", nil, b.pathOf)
	}
	b.walk(f, 1, nil)
	return b.found, b.unknown
}

// importsOf adds f's imports to m (nil: a new map) by their paths.
func importsOf(m map[*ast.ImportSpec]string, f *ast.File) map[*ast.ImportSpec]string {
	if m == nil {
		m = map[*ast.ImportSpec]string{}
	}
	for spec := range f.ImportSpecs() {
		if path, err := literal.Unquote(spec.Path.Value); err == nil {
			m[spec] = path
		}
	}
	return m
}

// crossBombs sizes again, with the declarations of every input, the .cue
// inputs whose sizes their own syntax left unknown (unknown[i]): CUE
// unifies the inputs, so a bound may be declared in one and given in
// another, a file, a YAML or JSON document. syntax[i] is input i's syntax
// (an *ast.File, or the expression of a JSON document), nil when it has
// none.
func crossBombs(names []string, syntax []ast.Node, unknown []bool) Problems {
	if !slices.Contains(unknown, true) || len(syntax) < 2 {
		return nil
	}
	decls := map[string][]ast.Expr{}
	imports := map[*ast.ImportSpec]string{}
	for _, n := range syntax {
		declare(n, "", decls, nil)
		if f, ok := n.(*ast.File); ok {
			importsOf(imports, f)
		}
	}
	for i, n := range syntax {
		f, ok := n.(*ast.File)
		if !ok || !unknown[i] {
			continue
		}
		if ps, _ := sizeBombs(names[i], f, decls, imports); ps != nil {
			return ps
		}
	}
	return nil
}

// declare records the field values under n by their paths (labels joined
// by NUL; "" is the top): into decls, each path's values, and into
// pathOf, each value's path. Fields whose labels are not static, and
// fields inside comprehensions, are left out.
func declare(n ast.Node, prefix string, decls map[string][]ast.Expr, pathOf map[ast.Expr]string) {
	var elts []ast.Decl
	switch x := n.(type) {
	case *ast.File:
		elts = x.Decls
	case *ast.StructLit:
		elts = x.Elts
	case *ast.ParenExpr:
		declare(x.X, prefix, decls, pathOf)
		return
	case *ast.BinaryExpr:
		if x.Op == token.AND {
			declare(x.X, prefix, decls, pathOf)
			declare(x.Y, prefix, decls, pathOf)
		}
		return
	default:
		return
	}
	for _, d := range elts {
		switch f := d.(type) {
		case *ast.Field:
			label, _, err := ast.LabelName(f.Label)
			if err != nil || f.Value == nil {
				continue
			}
			p := prefix + "\x00" + label
			if decls != nil {
				decls[p] = append(decls[p], f.Value)
			}
			if pathOf != nil {
				pathOf[f.Value] = p
			}
			declare(f.Value, p, decls, pathOf)
		case *ast.EmbedDecl:
			declare(f.Expr, prefix, decls, pathOf)
		}
	}
}

// elsewhere returns the other declarations of the field whose value is e,
// from every input, when crossBombs gave them.
func (b *bombs) elsewhere(e ast.Expr) []ast.Expr {
	p, ok := b.pathOf[e]
	if !ok {
		return nil
	}
	var out []ast.Expr
	for _, d := range b.decls[p] {
		if d != e {
			out = append(out, d)
		}
	}
	return out
}

type bombs struct {
	name    string
	imports map[*ast.ImportSpec]string // import path of each import
	found   Problems
	steps   int // spent sizing, up to maxSteps
	// unknown is set when a size the limits apply to could not be worked
	// out: crossBombs then sizes the input again with decls.
	unknown bool
	// decls, for crossBombs: every input's declarations of each field
	// path, and the path of each field value of this input, so that a
	// bound declared `n: int` here and `n: 100000` in another input is
	// known, as CUE's unification of the two makes it.
	decls  map[string][]ast.Expr
	pathOf map[ast.Expr]string
}

// tired reports whether sizing has done all the work it may.
func (b *bombs) tired() bool {
	b.steps++
	return b.steps > maxSteps
}

func (b *bombs) refuse(path []string, pos token.Pos, reason string) {
	b.found = Problems{ProblemAt(path, KindInvalid, reason, "", linePos(b.name, pos.Line(), pos.Column()))}
}

// walk visits n, which runs times times (the loops around it multiplied),
// at the config path of its field.
func (b *bombs) walk(n ast.Node, times float64, path []string) {
	if b.found != nil || n == nil {
		return
	}
	switch n := n.(type) {
	case *ast.Field:
		label, _, err := ast.LabelName(n.Label)
		if err != nil {
			label = ""
		}
		b.walk(n.Value, times, append(slices.Clip(path), label))
		return
	case *ast.Comprehension:
		runs := times
		for _, c := range n.Clauses {
			switch c := c.(type) {
			case *ast.ForClause:
				b.walk(c.Source, runs, path)
				if size, ok := b.size(c.Source, 0); ok {
					runs *= size
				} else {
					b.unknown = true
				}
			case *ast.LetClause:
				b.walk(c.Expr, runs, path)
			case *ast.IfClause:
				b.walk(c.Condition, runs, path)
			}
		}
		if runs > maxIterations {
			b.refuse(path, n.Pos(), fmt.Sprintf("this comprehension runs %s times, more than %d; a configuration's comprehensions are far shorter",
				count(runs), maxIterations))
			return
		}
		b.walk(n.Value, runs, path)
		return
	case *ast.CallExpr:
		switch b.builtin(n.Fun) {
		case "list.Range", "list.Repeat":
			size, ok := b.size(n, 0)
			b.unknown = b.unknown || !ok
			if ok && size*times > MaxListLength {
				b.refuse(path, n.Pos(), fmt.Sprintf("%s here builds lists of %s elements in all, more than %d; a configuration's lists are far shorter",
					b.builtin(n.Fun), count(size*times), MaxListLength))
				return
			}
		case "strings.Repeat":
			size, ok := b.stringLen(n, 0)
			b.unknown = b.unknown || !ok
			if ok && size*times > maxRepeatBytes {
				b.refuse(path, n.Pos(), fmt.Sprintf("strings.Repeat here builds strings of %s bytes in all, more than %d; a configuration's strings are far shorter",
					count(size*times), maxRepeatBytes))
				return
			}
		}
	}
	// Anything else: its children, at the same path.
	ast.Walk(n, func(c ast.Node) bool {
		if c == n {
			return true
		}
		switch c.(type) {
		case *ast.Field, *ast.Comprehension, *ast.CallExpr:
			b.walk(c, times, path)
			return false
		}
		return b.found == nil
	}, nil)
}

// builtin names the builtin that fun calls ("list.Range"), or "".
func (b *bombs) builtin(fun ast.Expr) string {
	sel, ok := fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return ""
	}
	spec, ok := pkg.Node.(*ast.ImportSpec)
	if !ok {
		return ""
	}
	name, _, err := ast.LabelName(sel.Sel)
	if err != nil {
		return ""
	}
	return b.imports[spec] + "." + name
}

// resolve follows a reference to the expression it names, if it can: an
// identifier to its field or let, a selector (a.b.n) into the struct its
// base resolves to, or into another input's declaration of that path.
func (b *bombs) resolve(e ast.Expr) ast.Expr {
next:
	for range maxResolve {
		switch x := e.(type) {
		case *ast.ParenExpr:
			e = x.X
			continue
		case *ast.Ident:
			switch n := x.Node.(type) {
			case ast.Expr:
				e = n
				continue
			case *ast.LetClause:
				e = n.Expr
				continue
			}
		case *ast.SelectorExpr:
			name, _, err := ast.LabelName(x.Sel)
			base := b.resolve(x.X)
			if err != nil || base == nil {
				return e
			}
			if st, ok := base.(*ast.StructLit); ok {
				for _, d := range st.Elts {
					if f, ok := d.(*ast.Field); ok {
						if label, _, err := ast.LabelName(f.Label); err == nil && label == name && f.Value != nil {
							e = f.Value
							continue next
						}
					}
				}
			}
			if p, ok := b.pathOf[base]; ok {
				if ds := b.decls[p+"\x00"+name]; len(ds) > 0 {
					e = ds[0]
					continue
				}
			}
		}
		return e
	}
	return nil
}

// size is how many elements the list (or fields the struct) e has, when
// its syntax says: e itself, either side of a unification, or another
// declaration of the same field (crossBombs).
func (b *bombs) size(e ast.Expr, depth int) (float64, bool) {
	if depth > maxResolve || b.tired() {
		return 0, false
	}
	r := b.resolve(e)
	switch x := r.(type) {
	case *ast.ListLit:
		if n, ok := b.elements(nodes(x.Elts), depth); ok {
			return n, true
		}
	case *ast.StructLit:
		if n, ok := b.elements(nodes(x.Elts), depth); ok {
			return n, true
		}
	case *ast.BinaryExpr:
		if x.Op == token.AND {
			if n, ok := eitherSide(x, func(e ast.Expr) (float64, bool) { return b.size(e, depth+1) }); ok {
				return n, true
			}
		}
	case *ast.CallExpr:
		switch b.builtin(x.Fun) {
		case "list.Range":
			if len(x.Args) != 3 {
				return 0, false
			}
			from, ok1 := b.number(x.Args[0], depth+1)
			to, ok2 := b.number(x.Args[1], depth+1)
			step, ok3 := b.number(x.Args[2], depth+1)
			if !ok1 || !ok2 || !ok3 || step == 0 {
				return 0, false
			}
			return max(0, math.Ceil((to-from)/step)), true
		case "list.Repeat":
			if len(x.Args) != 2 {
				return 0, false
			}
			list, ok1 := b.size(x.Args[0], depth+1)
			n, ok2 := b.number(x.Args[1], depth+1)
			return list * max(n, 0), ok1 && ok2
		}
	}
	for _, d := range b.elsewhere(r) {
		if n, ok := b.size(d, depth+1); ok {
			return n, true
		}
	}
	return 0, false
}

// elements counts a list's elements or a struct's fields: one each, and
// for a comprehension, how often it runs. An open list or struct (`...`)
// has no size of its own: unification with another declaration gives it.
func (b *bombs) elements(elts []ast.Node, depth int) (float64, bool) {
	var n float64
	for _, el := range elts {
		switch x := el.(type) {
		case *ast.Ellipsis:
			return 0, false
		case *ast.Comprehension:
			runs := 1.0
			for _, c := range x.Clauses {
				if fc, ok := c.(*ast.ForClause); ok {
					size, ok := b.size(fc.Source, depth+1)
					if !ok {
						return 0, false
					}
					runs *= size
				}
			}
			n += runs
		case *ast.Field, ast.Expr:
			n++
		}
	}
	return n, true
}

func nodes[T ast.Node](xs []T) []ast.Node {
	out := make([]ast.Node, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// stringLen is the length of strings.Repeat's result, when its syntax says.
func (b *bombs) stringLen(call *ast.CallExpr, depth int) (float64, bool) {
	if len(call.Args) != 2 {
		return 0, false
	}
	lit, ok := b.resolve(call.Args[0]).(*ast.BasicLit)
	n, ok2 := b.number(call.Args[1], depth+1)
	if !ok || !ok2 || lit.Kind != token.STRING {
		return 0, false
	}
	s, err := literal.Unquote(lit.Value)
	if err != nil {
		return 0, false
	}
	return float64(len(s)) * max(n, 0), true
}

// number is the value of a numeric expression made of literals, the
// fields and lets it names, and + - * /.
func (b *bombs) number(e ast.Expr, depth int) (float64, bool) {
	if depth > maxResolve || b.tired() {
		return 0, false
	}
	r := b.resolve(e)
	switch x := r.(type) {
	case *ast.BasicLit:
		if x.Kind != token.INT && x.Kind != token.FLOAT {
			return 0, false
		}
		var ni literal.NumInfo
		if literal.ParseNum(x.Value, &ni) != nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(ni.String(), 64)
		return v, err == nil
	case *ast.UnaryExpr:
		v, ok := b.number(x.X, depth+1)
		switch x.Op {
		case token.SUB:
			return -v, ok
		case token.ADD:
			return v, ok
		}
	case *ast.BinaryExpr:
		if x.Op == token.AND {
			// A unification (int & 100000): the number either side gives.
			if v, ok := eitherSide(x, func(e ast.Expr) (float64, bool) { return b.number(e, depth+1) }); ok {
				return v, true
			}
			break
		}
		l, ok1 := b.number(x.X, depth+1)
		rv, ok2 := b.number(x.Y, depth+1)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch x.Op {
		case token.ADD:
			return l + rv, true
		case token.SUB:
			return l - rv, true
		case token.MUL:
			return l * rv, true
		case token.QUO:
			if rv != 0 {
				return l / rv, true
			}
		}
		return 0, false
	}
	for _, d := range b.elsewhere(r) {
		if v, ok := b.number(d, depth+1); ok {
			return v, true
		}
	}
	return 0, false
}

// eitherSide is what size finds on either side of the unification x:
// unified, both sides have the value one side gives.
func eitherSide(x *ast.BinaryExpr, size func(ast.Expr) (float64, bool)) (float64, bool) {
	if v, ok := size(x.X); ok {
		return v, true
	}
	return size(x.Y)
}

// count prints a number of times or elements.
func count(v float64) string {
	if v < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strings.Replace(strconv.FormatFloat(v, 'g', 3, 64), "e+", "e", 1)
}
