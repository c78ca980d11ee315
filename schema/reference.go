package schema

import (
	"fmt"
	"strings"

	"cuelang.org/go/cue"
)

// Reference is the configuration reference, docs/reference.md, generated
// from the schema: every field of a site configuration, depth first in
// the schema's order, with its type, default, whether it is required, its
// hint and its documentation. A fleet host's fields are the same, under
// hosts.<name> or defaults. TestReferenceDoc keeps the committed file
// equal to it.
func Reference() ([]byte, error) {
	s, err := compileDocumented()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from the schema (`immich-render schema`) by `make golden`; do not edit.\n")
	b.WriteString("`immich-render explain FIELD` prints one entry. A fleet host's fields are the same,\n")
	b.WriteString("under `hosts.<name>` and `defaults`. Secrets are a literal string, `{env: NAME}` or\n")
	b.WriteString("`{file: PATH}`; `vet` checks every rule, including those across fields.\n")
	var walk func(path []string, v cue.Value, depth int)
	walk = func(path []string, v cue.Value, depth int) {
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			return
		}
		for it.Next() {
			sel := it.Selector()
			if !sel.IsString() {
				continue
			}
			p := append(append([]string(nil), path...), sel.Unquoted())
			f := it.Value()
			leaf := true
			if k := f.IncompleteKind(); k == cue.StructKind && !f.Allows(cue.AnyString) && !f.Allows(cue.Str("A")) && !f.Allows(cue.Str("a")) {
				leaf = false
			}
			if len(p) == 1 {
				fmt.Fprintf(&b, "\n## `%s`\n", p[0])
			} else {
				fmt.Fprintf(&b, "\n%s `%s`\n\n", strings.Repeat("#", min(depth+2, 4)), strings.Join(p, "."))
				writeEntry(&b, f, sel.ConstraintType() == cue.RequiredConstraint)
			}
			if !leaf {
				walk(p, f, depth+1)
			}
		}
	}
	walk(nil, s.config, 0)
	return []byte(b.String()), nil
}

// writeEntry is one field's entry: a line of facts, then its doc.
func writeEntry(b *strings.Builder, v cue.Value, required bool) {
	facts := []string{"type: " + typeOf(v)}
	if required {
		facts = append(facts, "required")
	}
	if d, ok := v.Default(); ok && d.IsConcrete() {
		if j, err := d.MarshalJSON(); err == nil {
			facts = append(facts, fmt.Sprintf("default: `%s`", j))
		}
	}
	fmt.Fprintf(b, "%s\n", strings.Join(facts, " · "))
	if h := hintOf(v); h != "" {
		fmt.Fprintf(b, "\nWant: %s.\n", h)
	}
	for _, c := range v.Doc() {
		if t := strings.TrimSpace(c.Text()); t != "" {
			fmt.Fprintf(b, "\n%s\n", t)
		}
	}
}
