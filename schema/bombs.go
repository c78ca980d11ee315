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
// that is past the limits, or nil.
func comprehensionBombs(name string, f *ast.File) Problems {
	b := &bombs{name: name, imports: map[*ast.ImportSpec]string{}}
	for spec := range f.ImportSpecs() {
		if path, err := literal.Unquote(spec.Path.Value); err == nil {
			b.imports[spec] = path
		}
	}
	b.walk(f, 1, nil)
	return b.found
}

type bombs struct {
	name    string
	imports map[*ast.ImportSpec]string // import path of each import
	found   Problems
	steps   int // spent sizing, up to maxSteps
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
			if size, ok := b.size(n, 0); ok && size*times > MaxListLength {
				b.refuse(path, n.Pos(), fmt.Sprintf("%s here builds lists of %s elements in all, more than %d; a configuration's lists are far shorter",
					b.builtin(n.Fun), count(size*times), MaxListLength))
				return
			}
		case "strings.Repeat":
			if size, ok := b.stringLen(n, 0); ok && size*times > maxRepeatBytes {
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

// resolve follows a reference to the expression it names, if it can.
func resolve(e ast.Expr) ast.Expr {
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
		}
		return e
	}
	return nil
}

// size is how many elements the list (or fields the struct) e has, when
// its syntax says.
func (b *bombs) size(e ast.Expr, depth int) (float64, bool) {
	if depth > maxResolve || b.tired() {
		return 0, false
	}
	switch x := resolve(e).(type) {
	case *ast.ListLit:
		return b.elements(nodes(x.Elts), depth)
	case *ast.StructLit:
		return b.elements(nodes(x.Elts), depth)
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
	return 0, false
}

// elements counts a list's elements or a struct's fields: one each, and
// for a comprehension, how often it runs.
func (b *bombs) elements(elts []ast.Node, depth int) (float64, bool) {
	var n float64
	for _, el := range elts {
		switch x := el.(type) {
		case *ast.Ellipsis:
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
	lit, ok := resolve(call.Args[0]).(*ast.BasicLit)
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
	switch x := resolve(e).(type) {
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
		l, ok1 := b.number(x.X, depth+1)
		r, ok2 := b.number(x.Y, depth+1)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch x.Op {
		case token.ADD:
			return l + r, true
		case token.SUB:
			return l - r, true
		case token.MUL:
			return l * r, true
		case token.QUO:
			if r != 0 {
				return l / r, true
			}
		}
	}
	return 0, false
}

// count prints a number of times or elements.
func count(v float64) string {
	if v < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strings.Replace(strconv.FormatFloat(v, 'g', 3, 64), "e+", "e", 1)
}
