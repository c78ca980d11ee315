package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// hostileProblem makes every Problem of this file, so that a change of
// the Problem type is made in one place.
func hostileProblem(l *loaded, path, reason, hint string) Problem {
	return ProblemAt(splitPath(path), KindInvalid, reason, hint, l.locate(splitPath(path))...)
}

// inSecret reports whether a config path is a secret field or inside one
// (immich postgres password env): a message about it never quotes a value,
// whatever its form, a string, a number, {env: ...}, an object or a list.
func inSecret(p []string) bool {
	for n := len(p); n > 0; n-- {
		if isSecretPath(p[:n]) {
			return true
		}
	}
	return false
}

// selfReferences finds fields that an input sets with a reference which,
// once every input is unified, leads back to the field itself: `keep:
// immich.backup.keep`, or projectDir set to modelCache, whose default is
// made of projectDir. CUE reads such a cycle as no value at all, so the
// schema's default silently wins; the user meant something else.
func (s *Schema) selfReferences(l *loaded) Problems {
	if !l.refers {
		return nil // literals only: nothing refers to anything
	}
	var probs Problems
	for _, in := range l.inputs {
		in.Walk(func(v cue.Value) bool {
			switch k := v.IncompleteKind(); {
			case k == cue.StructKind || k == cue.ListKind:
				return true
			case v.IsConcrete() || !hasReference(v):
				// A cycle leaves no value: a concrete one is set.
				return false
			}
			sel := v.Path()
			final, def := l.value.LookupPath(sel), s.config.LookupPath(sel)
			d, hasDefault := def.Default()
			if !final.Exists() || !hasDefault || !d.IsConcrete() {
				return false
			}
			// A value the input really set leaves one concrete value; a
			// cycle leaves the schema's disjunction, whose default wins.
			if got, isDefault := final.Default(); isDefault && !final.IsConcrete() && got.Equals(d) {
				path := pathOf(sel)
				probs = append(probs, hostileProblem(l, path,
					"the reference this input sets leads back to the field itself, so it sets nothing and the default would be used",
					"a value, or a reference to another field that has one"))
			}
			return false
		}, nil)
	}
	return probs
}

// mayRefer reports whether syntax has an identifier anywhere but in a
// field's label: only then can one of its values refer to another field.
// JSON input never does, nor a fleet host merged from literals; walking
// their values for references (a sixth of a fleet host's validation
// outside CUE's unification) finds nothing there.
func mayRefer(n ast.Node) bool {
	found := false
	ast.Walk(n, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.Field:
			found = found || mayRefer(x.Value)
			return false // the label names the field, it refers to nothing
		case *ast.Ident:
			found = true
		}
		return !found
	}, nil)
	return found
}

// pathOf formats a CUE path as Problems print it: valkey.users.0.password.
func pathOf(p cue.Path) string {
	var elems []string
	for _, s := range p.Selectors() {
		elems = append(elems, s.String())
	}
	return strings.Join(elems, ".")
}

// hasReference reports whether v's expression refers to another field.
func hasReference(v cue.Value) bool {
	if _, ref := v.ReferencePath(); len(ref.Selectors()) > 0 {
		return true
	}
	op, args := v.Expr()
	if op == cue.NoOp && len(args) == 1 {
		return false
	}
	for _, a := range args {
		if hasReference(a) {
			return true
		}
	}
	return op == cue.SelectorOp
}

// hugeNumbers finds numbers in immich.settings that no JSON reader holds:
// CUE takes 1e400, Immich (and Go) cannot. A tiny number such as 1e-400
// is read as 0, which is what it means.
func hugeNumbers(l *loaded) Problems {
	settings := l.value.LookupPath(cue.ParsePath("immich.settings"))
	if !settings.Exists() {
		return nil
	}
	var probs Problems
	base := len(settings.Path().Selectors())
	settings.Walk(func(v cue.Value) bool {
		if k := v.IncompleteKind(); k != cue.IntKind && k != cue.FloatKind && k != cue.NumberKind || !v.IsConcrete() {
			return true
		}
		f := new(big.Float)
		if _, err := v.Float(f); err != nil {
			return false
		}
		if x, _ := f.Float64(); math.IsInf(x, 0) {
			probs = append(probs, hostileProblem(l, "immich.settings."+pathOf(cue.MakePath(v.Path().Selectors()[base:]...)),
				fmt.Sprintf("%s is beyond the range of numbers a JSON reader such as Immich's holds (about ±1.8e308)", f.Text('g', 6)),
				"a number in that range"))
		}
		return false
	}, nil)
	return probs
}

// MaxListLength is the longest list a configuration may hold. CUE builds
// a list in time quadratic in its length (200,000 numbers: minutes); the
// lists of a configuration (libraries, users, addresses) are short.
const MaxListLength = 10000

// longList finds the first list of more than MaxListLength elements in a
// JSON input, before CUE reads it, and says where it is.
func longList(name string, data []byte) Problems {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		list bool
		n    int    // elements so far (a list) or keys (an object)
		key  string // the current key (an object)
	}
	var stack []frame
	path := func() []string {
		var p []string
		for _, f := range stack {
			switch {
			case f.list:
				p = append(p, strconv.Itoa(f.n-1))
			case f.key != "":
				p = append(p, f.key)
			}
		}
		return p
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or a syntax error CUE's reader reports
		}
		top := len(stack) - 1
		isKey := top >= 0 && !stack[top].list && stack[top].n%2 == 0
		if top >= 0 {
			if d, ok := tok.(json.Delim); !ok || d == '[' || d == '{' {
				stack[top].n++
			}
			if isKey {
				stack[top].key, _ = tok.(string)
			}
		}
		if top >= 0 && stack[top].list && stack[top].n > MaxListLength {
			p := path()
			p = p[:len(p)-1]
			return Problems{ProblemAt(p, KindInvalid,
				fmt.Sprintf("this list has more than %d elements; a configuration's lists are far shorter", MaxListLength),
				"", offsetPos(name, data, start))}
		}
		switch tok {
		case json.Delim('['):
			stack = append(stack, frame{list: true})
		case json.Delim('{'):
			stack = append(stack, frame{})
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:len(stack)-1]
		}
	}
}

// offsetPos is the position of a byte offset in data.
func offsetPos(name string, data []byte, off int64) token.Pos {
	line, col := 1, 1
	for _, c := range string(data[:min(int(off), len(data))]) {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return linePos(name, line, col)
}

// longListAST is longList for an input already parsed to CUE syntax (a
// .cue or YAML file): the first list literal of more than MaxListLength
// elements, before CUE evaluates it.
func longListAST(name string, f *ast.File) Problems {
	var found Problems
	var walk func(n ast.Node, path []string)
	walk = func(n ast.Node, path []string) {
		if found != nil || n == nil {
			return
		}
		switch n := n.(type) {
		case *ast.File:
			for _, d := range n.Decls {
				walk(d, path)
			}
		case *ast.StructLit:
			for _, d := range n.Elts {
				walk(d, path)
			}
		case *ast.Field:
			label, _, err := ast.LabelName(n.Label)
			if err != nil {
				label = ""
			}
			walk(n.Value, append(slices.Clip(path), label))
		case *ast.ListLit:
			if len(n.Elts) > MaxListLength {
				pos := n.Elts[MaxListLength].Pos()
				found = Problems{ProblemAt(path, KindInvalid,
					fmt.Sprintf("this list has more than %d elements; a configuration's lists are far shorter", MaxListLength),
					"", linePos(name, pos.Line(), pos.Column()))}
				return
			}
			for i, e := range n.Elts {
				walk(e, append(slices.Clip(path), strconv.Itoa(i)))
			}
		default:
			// Any other expression (a unification, a comprehension, an
			// embedding): its list literals, at the path of the field.
			ast.Walk(n, func(c ast.Node) bool {
				if found != nil {
					return false
				}
				if c == n {
					return true
				}
				switch c.(type) {
				case *ast.ListLit, *ast.StructLit, *ast.Field:
					walk(c, path)
					return false
				}
				return true
			}, nil)
		}
	}
	walk(f, nil)
	return found
}
