package schema

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"

	"github.com/immich-render/immich-render/internal/editdist"
	"github.com/immich-render/immich-render/internal/fleetmerge"
)

// unknownFields reports every field of an input that the schema does not
// define, with the fields that would be allowed there and the closest one.
// CUE reports only the first unknown field of a struct, and a user fixing
// typos one run at a time is a user we have failed.
func (s *Schema) unknownFields(in cue.Value, l *loaded) Problems {
	var out Problems
	settings, _ := s.settingsFor(l.value) // immich.settings is checked against it
	var walk func(v, schema cue.Value, path []string)
	walk = func(v, schema cue.Value, path []string) {
		if it, err := v.List(); err == nil {
			elem := schema.LookupPath(cue.MakePath(cue.AnyIndex))
			for i := 0; it.Next(); i++ {
				if elem.Exists() {
					walk(it.Value(), elem, append(path, strconv.Itoa(i)))
				}
			}
			return
		}
		it, err := v.Fields()
		if err != nil || schema.IncompleteKind() != cue.StructKind {
			return // not a struct, or a disjunction such as a secret: CUE says what is wrong
		}
		known := fieldNames(schema)
		for it.Next() {
			label := it.Selector().Unquoted()
			p := append(slices.Clip(path), label)
			if !slices.Contains(known, label) {
				if schema.Allows(cue.Str(label)) {
					continue // an open struct or a key its pattern allows
				}
				prob := ProblemAt(p, KindUnknownField, "", "", l.position(it.Value().Pos()))
				if len(known) == 0 {
					// A map such as environment, whose keys follow a pattern.
					prob.Reason = fmt.Sprintf("%q is not a valid name here", label)
					prob.Hint = mapKeyHint(path)
				} else {
					prob.Reason = "unknown field"
					prob.Hint = "one of " + strings.Join(known, ", ")
					if near := closest(label, known); near != "" {
						prob.Hint = fmt.Sprintf("%q? (%s)", near, prob.Hint)
					}
				}
				out = append(out, prob)
				continue
			}
			next := fleetmerge.SchemaField(schema, label)
			if settings.Exists() && len(p) == 2 && p[0] == "immich" && p[1] == "settings" {
				next = settings
			}
			walk(it.Value(), next, p)
		}
	}
	walk(in, s.config, nil)
	return out
}

// fieldNames lists a schema struct's named fields.
func fieldNames(schema cue.Value) []string {
	{
		var names []string
		it, _ := schema.Fields(cue.Optional(true))
		for it != nil && it.Next() {
			if !it.Selector().IsDefinition() && !strings.HasPrefix(it.Selector().String(), "_") {
				names = append(names, it.Selector().Unquoted())
			}
		}
		slices.Sort(names)
		return names
	}
}

// closest returns the known name nearest to label by edit distance, if it is
// near enough to be a typo.
func closest(label string, known []string) string {
	best, bestD := "", len(label)/2+1
	for _, k := range known {
		if d := editdist.Levenshtein(strings.ToLower(label), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// mapKeyHint says what a map's keys must look like.
func mapKeyHint(path []string) string {
	if len(path) > 1 && path[len(path)-2] == "machineLearning" && path[len(path)-1] == "environment" {
		return "MACHINE_LEARNING_ followed by capital letters, digits and '_', such as MACHINE_LEARNING_WORKERS"
	}
	if len(path) > 0 && path[len(path)-1] == "environment" {
		return "variable names of letters, digits and '_', not starting with a digit"
	}
	return "a name of letters, digits and '_'"
}
