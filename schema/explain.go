package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"cuelang.org/go/cue"
)

// JSONSchemaID is the $id of the JSON Schema `immich-render schema
// --format jsonschema` prints; the YAML starter names it for editors.
const JSONSchemaID = "https://immich-render.invalid/schema/immich.json"

// JSONSchema returns a JSON Schema (draft 2020-12) of a configuration file,
// a site or a fleet, generated from the CUE schema's values: the fields and
// their types, the enumerations, the defaults, required fields, unknown
// fields refused, and each field's documentation and hint as its
// description. Constraints CUE alone expresses (patterns, bounds, rules
// across fields) stay with `immich-render vet`; the JSON Schema is for
// editors. CUE's own generator cannot follow the schema's references to
// other fields' values (a default such as network.gateway), so this walks
// the evaluated values instead.
func JSONSchema() ([]byte, error) {
	s, err := compileDocumented()
	if err != nil {
		return nil, err
	}
	// The host-name rule is #FleetHostName's pattern, read from the schema.
	names := map[string]any{}
	if op, args := s.fleetHostName.Expr(); op == cue.RegexMatchOp && len(args) == 1 {
		if re, err := args[0].String(); err == nil {
			names["pattern"] = re
		}
	}
	site := s.jsonSchema(s.config, true)
	partial := s.jsonSchema(s.config, false)
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         JSONSchemaID,
		"title":       "immich-render configuration",
		"description": "A site (immich, valkey, host) or a fleet (hosts and defaults). Run immich-render vet for every rule.",
		"$defs":       map[string]any{"site": site, "partial": partial},
		"oneOf": []any{
			map[string]any{"$ref": "#/$defs/site"},
			map[string]any{
				"type":                 "object",
				"required":             []string{"hosts"},
				"additionalProperties": false,
				"properties": map[string]any{
					"defaults": map[string]any{"$ref": "#/$defs/partial", "description": "values every host starts from"},
					"hosts": map[string]any{
						"type":                 "object",
						"minProperties":        1,
						"description":          "one entry per host, by name; each is merged over defaults",
						"propertyNames":        map[string]any{"pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"},
						"additionalProperties": map[string]any{"$ref": "#/$defs/partial"},
					},
				},
			},
		},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// jsonSchema is the JSON Schema of one CUE value; required says whether
// required fields (field!) are required.
func (s *Schema) jsonSchema(v cue.Value, required bool) map[string]any {
	out := map[string]any{}
	if d := describe(v); d != "" {
		out["description"] = d
	}
	if d, ok := v.Default(); ok && d.IsConcrete() {
		var x any
		if err := d.Decode(&x); err == nil {
			out["default"] = x
		}
	}
	if enum := literals(v); enum != nil {
		out["enum"] = enum
		return out
	}
	kind := v.IncompleteKind()
	if kind == cue.StringKind|cue.StructKind { // #Secret, the one such type
		ref := func(name, want string) map[string]any {
			return map[string]any{"type": "object", "required": []string{name}, "additionalProperties": false,
				"properties": map[string]any{name: map[string]any{"type": "string", "description": want}}}
		}
		out["anyOf"] = []any{
			map[string]any{"type": "string", "description": "the secret itself (keep it in an uncommitted file)"},
			ref("env", "an environment variable that holds the secret at render time"),
			ref("file", "an absolute path to a file that holds the secret at render time"),
		}
		return out
	}
	switch kind {
	case cue.StringKind:
		out["type"] = "string"
	case cue.IntKind:
		out["type"] = "integer"
	case cue.NumberKind, cue.FloatKind:
		out["type"] = "number"
	case cue.BoolKind:
		out["type"] = "boolean"
	case cue.ListKind:
		out["type"] = "array"
		if e := v.LookupPath(cue.MakePath(cue.AnyIndex)); e.Exists() {
			out["items"] = s.jsonSchema(e, required)
		}
	case cue.StructKind:
		out["type"] = "object"
		props := map[string]any{}
		var req []string
		it, err := v.Fields(cue.Optional(true))
		if err == nil {
			for it.Next() {
				sel := it.Selector()
				if !sel.IsString() {
					continue
				}
				name := sel.Unquoted()
				props[name] = s.jsonSchema(it.Value(), required)
				if required && sel.ConstraintType() == cue.RequiredConstraint {
					req = append(req, name)
				}
			}
		}
		out["properties"] = props
		if len(req) > 0 {
			slices.Sort(req)
			out["required"] = req
		}
		switch p := v.LookupPath(cue.MakePath(cue.AnyString)); {
		case p.Exists():
			out["additionalProperties"] = s.jsonSchema(p, required)
		case v.Allows(cue.AnyString) || v.Allows(cue.Str("A")) || v.Allows(cue.Str("a")):
			// An open struct (settings, checked against Immich's types
			// by vet), or a pattern such as [#EnvName]: string, which
			// CUE's API does not give as a value: probe it.
			out["additionalProperties"] = true
		default:
			out["additionalProperties"] = false
		}
	}
	return out
}

// literals returns the values of a disjunction of concrete scalars (such
// as "acme" | "webroot" | "manual" | "off"), or nil.
func literals(v cue.Value) []any {
	op, args := v.Expr()
	if op != cue.OrOp {
		return nil
	}
	var out []any
	for _, a := range args {
		if !a.IsConcrete() || a.Kind()&(cue.StringKind|cue.IntKind|cue.BoolKind|cue.FloatKind) == 0 {
			return nil
		}
		var x any
		if err := a.Decode(&x); err != nil {
			return nil
		}
		out = append(out, x)
	}
	return out
}

// describe is a field's documentation and hint, as one text.
func describe(v cue.Value) string {
	var parts []string
	for _, c := range v.Doc() {
		if t := strings.TrimSpace(c.Text()); t != "" {
			parts = append(parts, t)
		}
	}
	if h := hintOf(v); h != "" {
		parts = append(parts, "Want: "+h+".")
	}
	return strings.Join(parts, "\n")
}

func hintOf(v cue.Value) string {
	a := v.Attribute("hint")
	h, _ := a.String(0)
	return h
}

// Explain prints what the schema says about one field of a site
// configuration, such as "immich.nginx.tls": its documentation, type,
// default and hint, and its fields when it is a struct.
func Explain(field string) (string, error) {
	s, err := compileDocumented()
	if err != nil {
		return "", err
	}
	v := s.config
	var at []string
	req := false
	for _, name := range strings.Split(field, ".") {
		req = false
		next := v.LookupPath(cue.MakePath(cue.Str(name)))
		if !next.Exists() {
			next = v.LookupPath(cue.MakePath(cue.Str(name).Required()))
			req = next.Exists()
		}
		if !next.Exists() {
			next = v.LookupPath(cue.MakePath(cue.Str(name).Optional()))
		}
		if !next.Exists() {
			where := "the configuration"
			if len(at) > 0 {
				where = strings.Join(at, ".")
			}
			return "", fmt.Errorf("explain %s: %s has no field %q; its fields are %s", field, where, name, strings.Join(schemaFields(v), ", "))
		}
		at = append(at, name)
		v = next
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", field)
	fmt.Fprintf(&b, "  type:    %s\n", typeOf(v))
	if req {
		b.WriteString("  required\n")
	}
	if d, ok := v.Default(); ok && d.IsConcrete() {
		if j, err := d.MarshalJSON(); err == nil {
			fmt.Fprintf(&b, "  default: %s\n", j)
		}
	}
	if h := hintOf(v); h != "" {
		fmt.Fprintf(&b, "  want:    %s\n", h)
	}
	if names := schemaFields(v); len(names) > 0 {
		fmt.Fprintf(&b, "  fields:  %s\n", strings.Join(names, ", "))
	}
	for _, c := range v.Doc() {
		if t := strings.TrimSpace(c.Text()); t != "" {
			fmt.Fprintf(&b, "\n%s\n", t)
		}
	}
	return b.String(), nil
}

// typeOf names a value's type for explain: "string, one of ...",
// "integer", "object", "a secret: a string, {env: NAME} or {file: PATH}".
func typeOf(v cue.Value) string {
	if enum := literals(v); enum != nil {
		var vals []string
		for _, e := range enum {
			j, _ := json.Marshal(e)
			vals = append(vals, string(j))
		}
		return "one of " + strings.Join(vals, ", ")
	}
	k := v.IncompleteKind()
	if k&cue.StructKind != 0 && k&cue.StringKind != 0 {
		return "a secret: a literal string, {env: NAME} or {file: PATH}"
	}
	switch k {
	case cue.StructKind:
		if v.LookupPath(cue.MakePath(cue.AnyString)).Exists() {
			return "object (a map)"
		}
		return "object"
	case cue.ListKind:
		return "list of " + typeOf(v.LookupPath(cue.MakePath(cue.AnyIndex)))
	case cue.IntKind:
		return "integer"
	case cue.BoolKind:
		return "boolean"
	}
	return k.String()
}

// schemaFields lists a struct's fields, required ones marked with "!".
func schemaFields(v cue.Value) []string {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var out []string
	for it.Next() {
		sel := it.Selector()
		if !sel.IsString() {
			continue
		}
		name := sel.Unquoted()
		if sel.ConstraintType() == cue.RequiredConstraint {
			name += "!"
		}
		out = append(out, name)
	}
	return out
}
