package ansible

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/immich-render/immich-render/schema"
)

// errComplex marks a value that is more than plain variable references
// (filters, expressions, lookups, facts): the user fills it in.
type errComplex struct {
	Pos  Pos
	Expr string
}

func (e errComplex) Error() string {
	return fmt.Sprintf("%s: %s is more than a plain variable reference; fill it in by hand", e.Pos, e.Expr)
}

// runtimeVars are Ansible's magic variables and facts that exist only
// while a play runs; a reference to one is left for the user.
var runtimeVars = []string{"hostvars", "groups", "play_hosts", "ansible_play_hosts", "playbook_dir",
	"inventory_dir", "inventory_file", "role_path", "role_name", "omit", "environment", "item"}

var plainRef = lazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resolver resolves one host's variables: vault payloads are decrypted
// and plain Jinja references ("{{ name }}", any white space) replaced, as
// Ansible's templating does when a play uses the variable.
type resolver struct {
	vars   map[string]*Value
	magic  map[string]*Value
	vault  *Vault
	cache  map[string]*Value
	active []string
}

func newResolver(host string, groups []string, vars map[string]*Value, vault *Vault) *resolver {
	short, _, _ := strings.Cut(host, ".")
	gn := &Value{Kind: List}
	for _, g := range groups {
		gn.List = append(gn.List, &Value{Kind: String, Str: g})
	}
	return &resolver{vars: vars, vault: vault, cache: map[string]*Value{}, magic: map[string]*Value{
		"inventory_hostname":       {Kind: String, Str: host},
		"inventory_hostname_short": {Kind: String, Str: short},
		"group_names":              gn,
	}}
}

// Lookup returns a variable fully resolved, or nil when it is not set.
func (r *resolver) Lookup(name string) (*Value, error) {
	if v, ok := r.cache[name]; ok {
		return v, nil
	}
	raw, ok := r.vars[name]
	if !ok {
		return nil, nil
	}
	if slices.Contains(r.active, name) {
		return nil, schema.Problems{problem(raw.Pos, name, fmt.Sprintf("recursive loop: %s refers back to itself", strings.Join(append(r.active, name), " -> ")))}
	}
	r.active = append(r.active, name)
	v, err := r.resolve(name, raw)
	r.active = r.active[:len(r.active)-1]
	if err != nil {
		return nil, err
	}
	r.cache[name] = v
	return v, nil
}

func (r *resolver) resolve(name string, v *Value) (*Value, error) {
	switch {
	case v.Vault != nil:
		plain, err := r.vault.Decrypt(v.Vault)
		if err != nil {
			return nil, schema.Problems{problem(v.Pos, name, "the value "+err.Error())}
		}
		return &Value{Kind: String, Str: string(plain), Pos: v.Pos, Secret: true}, nil
	case v.Kind == String && !v.Unsafe && strings.Contains(v.Str, "{"):
		return r.template(name, v)
	case v.Kind == List:
		out := *v
		out.List = make([]*Value, len(v.List))
		for i, e := range v.List {
			re, err := r.resolve(name, e)
			if err != nil {
				return nil, err
			}
			out.List[i] = re
		}
		return &out, nil
	case v.Kind == Map:
		out := *v
		out.Map = make(map[string]*Value, len(v.Map))
		for _, k := range v.Keys {
			e := v.Map[k]
			re, err := r.resolve(name, e)
			if err != nil {
				return nil, err
			}
			out.Map[k] = re
		}
		return &out, nil
	}
	return v, nil
}

// template renders a string holding plain references as Ansible 2.14
// does without jinja2_native: a lone reference keeps a non-string value
// as it is; otherwise the text (Python's str of each value) is the
// result, read back as a list, a mapping or a boolean when it looks like
// one ("True", "[1, 2]").
func (r *resolver) template(name string, v *Value) (*Value, error) {
	s := v.Str
	if strings.Contains(s, "{%") || strings.Contains(s, "{#") {
		return nil, errComplex{v.Pos, fmt.Sprintf("%s %q", name, s)}
	}
	type part struct {
		text string
		ref  *Value
	}
	var parts []part
	secret := false
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			parts = append(parts, part{text: rest})
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, errComplex{v.Pos, fmt.Sprintf("%s %q", name, s)}
		}
		inner := rest[i+2 : i+j]
		before, after := rest[:i], rest[i+j+2:]
		if strings.HasPrefix(inner, "-") {
			before = strings.TrimRight(before, " \t\r\n")
			inner = inner[1:]
		} else if strings.HasPrefix(inner, "+") {
			inner = inner[1:]
		}
		if strings.HasSuffix(inner, "-") {
			after = strings.TrimLeft(after, " \t\r\n")
			inner = inner[:len(inner)-1]
		} else if strings.HasSuffix(inner, "+") {
			inner = inner[:len(inner)-1]
		}
		ref := strings.TrimSpace(inner)
		if !plainRef().MatchString(ref) || ref == "true" || ref == "false" || ref == "none" || ref == "True" || ref == "False" || ref == "None" {
			return nil, errComplex{v.Pos, fmt.Sprintf("%s %q", name, s)}
		}
		val, err := r.Lookup(ref)
		if err != nil {
			return nil, err
		}
		if val == nil {
			val = r.magic[ref]
		}
		if val == nil {
			if strings.HasPrefix(ref, "ansible_") || slices.Contains(runtimeVars, ref) {
				return nil, errComplex{v.Pos, fmt.Sprintf("%s %q (%s is known only while a play runs)", name, s, ref)}
			}
			return nil, schema.Problems{problem(v.Pos, name, fmt.Sprintf("refers to %s, which is not defined for this host", ref))}
		}
		secret = secret || val.Secret
		if before != "" {
			parts = append(parts, part{text: before})
		}
		parts = append(parts, part{ref: val})
		rest = after
	}
	parts = slices.DeleteFunc(parts, func(p part) bool { return p.ref == nil && p.text == "" })
	var out string
	if len(parts) == 1 && parts[0].ref != nil && parts[0].ref.Kind != String {
		// A lone reference keeps the value's type.
		res := *parts[0].ref
		res.Pos = v.Pos
		return &res, nil
	}
	var b strings.Builder
	for _, p := range parts {
		if p.ref == nil {
			b.WriteString(p.text)
			continue
		}
		t, ok := p.ref.pyStr()
		if !ok {
			return nil, errComplex{v.Pos, fmt.Sprintf("%s %q (a list or mapping inside text)", name, s)}
		}
		b.WriteString(t)
	}
	out = b.String()
	res := &Value{Kind: String, Str: out, Pos: v.Pos, Secret: secret}
	switch {
	case out == "True" || out == "False":
		res = &Value{Kind: Bool, Bool: out == "True", Pos: v.Pos, Secret: secret}
	case strings.HasPrefix(out, "{") || strings.HasPrefix(out, "["):
		if lit := pyLiteral(out, v.Pos); lit.Kind == List || lit.Kind == Map {
			lit.Secret = secret
			return lit, nil
		}
	}
	return res, nil
}

// isComplex reports whether err leaves a value to the user.
func isComplex(err error) bool {
	var c errComplex
	return errors.As(err, &c)
}
