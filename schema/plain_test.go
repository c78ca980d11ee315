package schema

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// examplesEnv is every example's secrets, as examples/*/env sets them.
func examplesEnv(t testing.TB) map[string]string {
	env := map[string]string{}
	files, _ := filepath.Glob("../examples/*/env")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				env[k] = v
			}
		}
	}
	return env
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// cueSchema is the schema the tests' CUE path loads with, compiled once.
var cueSchema *Schema

// cueLoad is the CUE path alone: what a site loads to without the plain path.
func cueLoad(t testing.TB, inputs []Input, opt Options) (FleetHost, error) {
	t.Helper()
	if cueSchema == nil {
		s, err := Compile()
		if err != nil {
			t.Fatal(err)
		}
		cueSchema = s
	}
	return cueSchema.load(evalJsonnetOnce(inputs, opt), opt)
}

// samePlain checks that the plain path, when it takes inputs, gives what
// the CUE path gives, and reports whether it took them. What it does not
// take, CUE loads as before: nothing to compare.
func samePlain(t *testing.T, what string, inputs []Input, opt Options) bool {
	t.Helper()
	plain, ok := loadPlain(evalJsonnetOnce(inputs, opt), opt.withDefaults())
	if !ok {
		return false
	}
	viaCUE, err := cueLoad(t, inputs, opt)
	if err != nil {
		t.Errorf("%s: the plain path accepts what CUE refuses:\n%s\ninput: %s", what, err, inputs[0].Data)
		return true
	}
	if !reflect.DeepEqual(plain.Config, viaCUE.Config) {
		p, _ := json.Marshal(plain.Config)
		c, _ := json.Marshal(viaCUE.Config)
		t.Errorf("%s: the plain path's Config differs from CUE's:\nplain: %s\ncue:   %s", what, p, c)
	}
	if !reflect.DeepEqual(plain.positions, viaCUE.positions) {
		t.Errorf("%s: positions differ: plain %v, cue %v", what, plain.positions, viaCUE.positions)
	}
	return true
}

func exampleInputs(t testing.TB, dir string) ([]Input, Options) {
	files, _ := filepath.Glob(filepath.Join(dir, "immich.*"))
	var inputs []Input
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, Input{Name: f, Data: b})
	}
	opt := Options{LookupEnv: lookup(examplesEnv(t)), ExtStr: map[string]string{}}
	if b, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
		for _, a := range strings.Fields(string(b)) {
			if kv, ok := strings.CutPrefix(a, "--ext-str="); ok {
				k, v, _ := strings.Cut(kv, "=")
				opt.ExtStr[k] = v
			}
		}
	}
	return inputs, opt
}

// TestPlainMatchesCUE holds the plain path to the CUE path over every
// example and the configurations derived from them: where the plain path
// takes a configuration, CUE must accept it with the same Config and
// positions. The plain examples must take the plain path, or it is dead.
func TestPlainMatchesCUE(t *testing.T) {
	dirs, _ := filepath.Glob("../examples/*")
	for _, dir := range dirs {
		inputs, opt := exampleInputs(t, dir)
		in := evalJsonnetOnce(inputs, opt)
		if isFleet(in, opt) {
			continue // TestPlainFleetMatchesCUE
		}
		took := samePlain(t, dir, inputs, opt)
		settings := false
		for _, in := range inputs {
			settings = settings || strings.Contains(string(in.Data), "settings")
		}
		if !took && !settings {
			t.Errorf("%s: plain data, but the plain path did not take it", dir)
		}
	}
}

// TestPlainFleetMatchesCUE loads each fleet example, and a generated
// fleet, both ways.
func TestPlainFleetMatchesCUE(t *testing.T) {
	dirs, _ := filepath.Glob("../examples/*")
	for _, dir := range dirs {
		inputs, opt := exampleInputs(t, dir)
		if !isFleet(evalJsonnetOnce(inputs, opt), opt) {
			continue
		}
		compareFleet(t, dir, inputs, opt)
	}
}

func compareFleet(t *testing.T, what string, inputs []Input, opt Options) {
	t.Helper()
	before := plainTaken.Load()
	plain, perr := LoadFleet(inputs, opt, FleetOptions{})
	taken := plainTaken.Load() - before
	plainOff = true
	viaCUE, cerr := LoadFleet(inputs, opt, FleetOptions{})
	plainOff = false
	if fmt.Sprint(perr) != fmt.Sprint(cerr) {
		t.Fatalf("%s: errors differ:\nplain: %v\ncue:   %v", what, perr, cerr)
	}
	if perr != nil {
		return
	}
	if taken == 0 {
		t.Errorf("%s: no host took the plain path", what)
	}
	for i := range viaCUE.Hosts {
		p, c := plain.Hosts[i], viaCUE.Hosts[i]
		if !reflect.DeepEqual(p.Config, c.Config) {
			pj, _ := json.Marshal(p.Config)
			cj, _ := json.Marshal(c.Config)
			t.Errorf("%s: host %s differs:\nplain: %s\ncue:   %s", what, c.Name, pj, cj)
		}
		if !reflect.DeepEqual(p.positions, c.positions) {
			t.Errorf("%s: host %s positions differ: plain %v, cue %v", what, c.Name, p.positions, c.positions)
		}
	}
}

// TestPlainMutations changes each field of the schema, in turn, in every
// plain site example: to values at and across its constraints, to other
// kinds, away, and beside an unknown field. Wherever the plain path
// takes the result, CUE must agree (samePlain). And every field of the
// schema must be one the plain path knows: for each, some value that
// CUE accepts must take the plain path too.
func TestPlainMutations(t *testing.T) {
	s, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{LookupEnv: lookup(examplesEnv(t))}
	bases := []string{"../examples/minimal", "../examples/nginx-manual", "../examples/shared-valkey"}
	if testing.Short() {
		bases = bases[:1]
	}
	leaves := schemaLeaves(s.config, nil)
	known := map[string]bool{}
	var mutations [][]Input
	var names []string
	var leafOf []string
	type variant struct {
		name  string
		base  map[string]any
		under string // the leaves mutated: those under this path
	}
	var variants []variant
	for i, dir := range bases {
		inputs, _ := exampleInputs(t, dir)
		base := plainJSON(t, s, inputs)
		variants = append(variants, variant{dir, base, ""})
		if i > 0 {
			continue
		}
		// The list elements' fields, and the conditions between
		// fields, each beside the fields it concerns.
		variants[0].base = mutate(base, []string{"immich", "externalLibraries"}, []any{map[string]any{"hostPath": "/mnt/photos"}})
		ng := func(m map[string]any) map[string]any {
			m["enabled"], m["hostname"] = true, "p.example.com"
			return mutate(base, []string{"immich", "nginx"}, m)
		}
		email := map[string]any{"email": "a@example.com"}
		variants = append(variants,
			variant{"tls off", ng(map[string]any{"tls": "off"}), "immich.nginx"},
			variant{"tls manual", ng(map[string]any{"tls": "manual", "certificate": "/etc/c.pem", "certificateKey": "/etc/k.pem"}), "immich.nginx"},
			variant{"tls webroot", ng(map[string]any{"tls": "webroot", "acme": email}), "immich.nginx"},
			variant{"acme staging", ng(map[string]any{"acme": map[string]any{"email": "a@example.com", "staging": true}}), "immich.nginx"},
			variant{"acme elsewhere", ng(map[string]any{"acme": map[string]any{"renderIssuer": false}}), "immich.nginx"},
			variant{"valkey users", mutate(base, []string{"valkey", "users"}, []any{map[string]any{
				"username": "paperless", "password": "paperless-password-1", "keyPatterns": []any{"paperless*"}, "commands": "+@read"}}), "valkey"},
		)
	}
	for _, vr := range variants {
		dir, base := vr.name, vr.base
		for _, leaf := range leaves {
			if !strings.HasPrefix(leaf.key(), vr.under) {
				continue
			}
			for _, v := range leaf.candidates() {
				m := mutate(base, leaf.path, v)
				if m == nil {
					continue
				}
				b, _ := json.Marshal(m)
				mutations = append(mutations, []Input{{Name: "mutated.json", Data: b}})
				names = append(names, fmt.Sprintf("%s %s=%s", dir, leaf.key(), jsonString(v)))
				leafOf = append(leafOf, leaf.key())
			}
		}
		// An unknown field in each struct.
		for _, p := range structPaths(base, nil) {
			m := mutate(base, append(slices.Clone(p), "unknownField"), "x")
			b, _ := json.Marshal(m)
			if samePlain(t, dir+" unknown field in "+strings.Join(p, "."), []Input{{Name: "mutated.json", Data: b}}, opt) {
				t.Errorf("%s: the plain path takes an unknown field in %s", dir, strings.Join(p, "."))
			}
		}
	}
	runs := len(mutations)
	for i, in := range mutations {
		if samePlain(t, names[i], in, opt) {
			known[leafOf[i]] = true
		}
	}
	// A field the plain path never takes: does CUE take any of its values?
	for i, in := range mutations {
		k := leafOf[i]
		if known[k] || strings.HasPrefix(k, "immich.settings") {
			continue
		}
		if _, err := cueLoad(t, in, opt); err == nil {
			t.Errorf("%s: CUE accepts it, the plain path never takes a value of %s: plainConfig does not read this field right", names[i], k)
			known[k] = true
		}
	}
	t.Logf("%d mutations over %d schema leaves", runs, len(leaves))
}

// A schema leaf: a field of #Config (or of an element of one of its
// lists), and its kind.
type leaf struct {
	path []string // "*" for a list element
	kind cue.Kind
}

func (l leaf) key() string { return strings.Join(l.path, ".") }

func schemaLeaves(v cue.Value, path []string) []leaf {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var out []leaf
	for it.Next() {
		p := append(slices.Clone(path), it.Selector().Unquoted())
		fv := it.Value()
		k := fv.IncompleteKind()
		switch {
		case k == cue.StructKind:
			if _, err := fv.Fields(cue.Optional(true)); err == nil {
				if sub := schemaLeaves(fv, p); len(sub) > 0 {
					out = append(out, sub...)
					continue
				}
			}
			out = append(out, leaf{p, k})
		case k == cue.ListKind:
			out = append(out, leaf{p, k})
			if el := fv.LookupPath(cue.MakePath(cue.AnyIndex)); el.Exists() && el.IncompleteKind() == cue.StructKind {
				out = append(out, schemaLeaves(el, append(p, "*"))...)
			}
		default:
			out = append(out, leaf{p, k})
		}
	}
	return out
}

// candidates are values at and across the usual constraints of a leaf's
// kind, and of the other kinds.
func (l leaf) candidates() []any {
	strs := []any{"", " ", "x", "X y", "é", "a\x00b", "default", "DEFAULT", "immich", "immich_bull*",
		"/", "/a", "/a/", "//a", "/a/../b", "/a/./b", "/a b", "/a ", "/mnt/ph otos", "/éte", "relative/path",
		"v1.137.0", "v1.136.9", "v3.1.0", "v2.0.0", "v01.2.3", "1.2.3",
		"10.0.0.1", "10.0.0.0/24", "10.0.0.1/24", "256.0.0.1", "::1", "2001:db8::/32", "1.1.1.1",
		"photos.example.com", "localhost", "a-.example.com", strings.Repeat("a.", 127) + "com",
		"admin@example.com", "admin@localhost", "https://acme.example.com/dir", "http://gpu:3003", "http://gpu:3003/x",
		"sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("A", 64),
		"Europe/Berlin", "Etc/UTC", "Local", "daily", "*-*-* 03:30:00", "1999-01-01", "+@all", "+@read -@dangerous",
		"50000M", "0M", "1k", "cpu", "cuda", "acme", "webroot", "manual", "off", "on", "listen", "file", "user",
		"compose", "quadlet", "cdi", "deploy", "vectorchord", "pgvector", "pgvecto.rs", "nvenc",
		"/usr/bin/podman compose", "/usr/bin/podman-compose", "podman", "letsencrypt", "Letsencrypt",
		"valkey-server", "redis", "pg_read", "postgres", "MACHINE_LEARNING_X"}
	ints := []any{0, 1, -1, 15, 16, 80, 443, 2283, 65535, 65536, 10000, 10001, 315360000, 315360001, 1.5}
	others := []any{true, false, nil, []any{}, map[string]any{}, map[string]any{"env": "SOME_VAR"}, map[string]any{"file": "/run/x"},
		map[string]any{"env": "SOME_VAR", "file": "/x"}, map[string]any{"env": "1x"}, map[string]any{"file": "rel"},
		[]any{"1.1.1.1"}, []any{"::1", "10.0.0.0/8"}, []any{"x*"}, []any{""}, []any{1},
		map[string]any{"A_B": "1"}, map[string]any{"MACHINE_LEARNING_WORKERS": "2"}, map[string]any{"1A": "x"}, map[string]any{"A": 1},
		deleteField{}}
	switch l.kind & (cue.StringKind | cue.IntKind | cue.BoolKind) {
	case cue.StringKind:
		return append(strs, append(ints[:3:3], others...)...)
	case cue.IntKind:
		return append(ints, append([]any{"1"}, others...)...)
	}
	return append(append(strs[:12:12], ints[:3]...), others...)
}

// deleteField, as a mutation's value, removes the field.
type deleteField struct{}

func jsonString(v any) string {
	if _, ok := v.(deleteField); ok {
		return "<removed>"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// plainJSON is the inputs unified without the schema, as plain data.
func plainJSON(t testing.TB, s *Schema, inputs []Input) map[string]any {
	var v cue.Value
	for i, in := range inputs {
		f, err := parser.ParseFile(in.Name, in.Data)
		var x cue.Value
		switch {
		case strings.HasSuffix(in.Name, ".cue") && err == nil:
			x = s.ctx.BuildFile(f)
		default:
			l := &loaded{names: map[string]bool{}, noLine: map[string]bool{}}
			var ps Problems
			x, ps = s.compile(in, Options{}, l)
			if ps != nil {
				t.Fatal(ps)
			}
		}
		if i == 0 {
			v = x
		} else {
			v = v.Unify(x)
		}
	}
	b, err := v.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// mutate returns a copy of m with the value at path set to v (or removed),
// or nil when the path cannot be reached. "*" is the first element of a
// list that has one.
func mutate(m map[string]any, path []string, v any) map[string]any {
	var b []byte
	b, _ = json.Marshal(m)
	var c any
	json.Unmarshal(b, &c)
	cur := c
	for i, elem := range path {
		last := i == len(path)-1
		switch x := cur.(type) {
		case map[string]any:
			if last {
				if _, del := v.(deleteField); del {
					if _, ok := x[elem]; !ok {
						return nil
					}
					delete(x, elem)
				} else {
					x[elem] = v
				}
				return c.(map[string]any)
			}
			next, ok := x[elem]
			if !ok {
				next = map[string]any{}
				x[elem] = next
			}
			cur = next
		case []any:
			if elem != "*" || len(x) == 0 {
				return nil
			}
			if last {
				x[0] = v
				return c.(map[string]any)
			}
			cur = x[0]
		default:
			return nil
		}
	}
	return nil
}

// structPaths lists the paths of m's structs, m's own included.
func structPaths(m map[string]any, path []string) [][]string {
	out := [][]string{path}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch x := m[k].(type) {
		case map[string]any:
			if k == "settings" || k == "environment" || k == "password" || k == "adminPassword" {
				continue
			}
			out = append(out, structPaths(x, append(slices.Clone(path), k))...)
		case []any:
			for _, e := range x[:min(1, len(x))] {
				if em, ok := e.(map[string]any); ok {
					if k == "externalLibraries" || k == "users" {
						out = append(out, structPaths(em, append(slices.Clone(path), k, "*"))[1:]...)
					}
				}
			}
		}
	}
	return out
}

// TestPlainFleetMutations validates a generated fleet whose hosts each
// change one field, both ways.
func TestPlainFleetMutations(t *testing.T) {
	var b strings.Builder
	b.WriteString("defaults: immich: {version: \"v3.1.0\", uploadLocation: \"/srv/u\", postgres: password: {env: \"IMMICH_POSTGRES_PASSWORD\"}, valkey: password: {env: \"IMMICH_VALKEY_PASSWORD\"}}\n")
	b.WriteString("defaults: valkey: adminPassword: {env: \"VALKEY_ADMIN_PASSWORD\"}\n")
	hosts := []string{
		`immich: network: {subnet: "10.0.1.0/24", gateway: "10.0.1.1"}`,
		`immich: {network: {subnet: "10.0.2.0/24", gateway: "10.0.2.1"}, version: "v2.7.0", imageDigests: server: "sha256:` + strings.Repeat("b", 64) + `"}`,
		`immich: {network: {subnet: "10.0.3.0/24", gateway: "10.0.3.1"}, nginx: {enabled: true, hostname: "p.example.com", acme: {email: "a@example.com", staging: true}}}`,
		`immich: {network: {subnet: "10.0.4.0/24", gateway: "10.0.4.1"}, externalLibraries: [{hostPath: "/mnt/photos"}, {hostPath: "/srv/x", readOnly: false}]}`,
		`immich: {network: {subnet: "10.0.5.0/24", gateway: "10.0.5.1"}, port: int}`,
		`immich: {network: {subnet: "10.0.6.0/24", gateway: "10.0.6.1"}, projectDir: "/srv/immich", runtime: "quadlet"}`,
	}
	for i, h := range hosts {
		fmt.Fprintf(&b, "hosts: h%d: {%s}\n", i, h)
	}
	opt := Options{LookupEnv: lookup(examplesEnv(t))}
	compareFleet(t, "generated fleet", []Input{{Name: "fleet.cue", Data: []byte(b.String())}}, opt)
	// One bad host: the same problems either way.
	bad := b.String() + "hosts: h9: {immich: {network: {subnet: \"10.0.9.0/24\", gateway: \"10.0.9.1\"}, port: 0}}\n"
	compareFleet(t, "fleet with a bad host", []Input{{Name: "fleet.cue", Data: []byte(bad)}}, opt)
}

// TestPlainPositions: the positions a host keeps are CUE's, also when a
// field is given in two files, and from YAML and Jsonnet.
func TestPlainPositions(t *testing.T) {
	opt := Options{LookupEnv: lookup(examplesEnv(t))}
	site := `immich: {uploadLocation: "/srv/u", network: {subnet: "10.0.1.0/24", gateway: "10.0.1.1"}, postgres: password: {env: "IMMICH_POSTGRES_PASSWORD"}, valkey: password: {env: "IMMICH_VALKEY_PASSWORD"}}
valkey: adminPassword: {env: "VALKEY_ADMIN_PASSWORD"}
`
	cases := map[string][]Input{
		"one file":     {{Name: "a.cue", Data: []byte(site + "immich: version: \"v3.1.0\"\n")}},
		"two files":    {{Name: "a.cue", Data: []byte(site + "immich: version: \"v3.1.0\"\n")}, {Name: "b.cue", Data: []byte("immich: version: \"v3.1.0\"\n")}},
		"twice in one": {{Name: "a.cue", Data: []byte(site + "immich: version: \"v3.1.0\"\nimmich: {version: \"v3.1.0\"}\n")}},
		"digest":       {{Name: "a.cue", Data: []byte(site + "immich: {version: \"v3.1.0\", imageDigests: server: \"sha256:" + strings.Repeat("c", 64) + "\"}\n")}},
		"yaml":         {{Name: "a.cue", Data: []byte(site)}, {Name: "b.yaml", Data: []byte("immich:\n  version: v3.1.0\n")}},
		"json":         {{Name: "a.cue", Data: []byte(site)}, {Name: "b.json", Data: []byte(`{"immich": {"version": "v3.1.0"}}`)}},
		"jsonnet":      {{Name: "a.cue", Data: []byte(site)}, {Name: "b.jsonnet", Data: []byte(`{immich: {version: "v3.1.0"}}`)}},
	}
	for name, inputs := range cases {
		if !samePlain(t, name, inputs, opt) {
			t.Errorf("%s: plain data, but the plain path did not take it", name)
		}
	}
}

// TestPlainRefusesNonData: syntax that is more than data goes to CUE.
func TestPlainRefusesNonData(t *testing.T) {
	for _, src := range []string{
		`a: b`, `a: 1 + 1`, `a: "\(b)"`, `a?: 1`, `a!: 1`, `#a: 1`, `_a: 1`, `a: *1 | 2`, `a: int`,
		`a: [...]`, `a: [for x in [1] {x}]`, `let x = 1`, `a: 1 @attr()`, `import "strings"`, `a: null`, `a: 1.5`,
		`a: 0x10`, `a: 1_000`, `a: 1Ki`, `a: -1`, `a: 'bytes'`, `a: #"raw"#`, `[string]: int`, `a: [1] + [2]`,
		`(a): 1`, `a: {b: 1} & {c: 2}`, `a: 1, a: 2`, `a: [1], a: [1]`, `a: {b: 1}, a: 2`,
	} {
		f, err := parser.ParseFile("x.cue", src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if _, ok := plainSyntax(f); ok {
			t.Errorf("%s: taken as plain data", src)
		}
	}
	for _, src := range []string{`a: 1`, `a: "x"`, `a: true`, `a: [1, "x", {b: false}]`, `a: b: 1, a: c: 2`, `"a-b": 1`, `a: 1, a: 1`, `a: """` + "\n\tx\n\t" + `"""`} {
		f, err := parser.ParseFile("x.cue", src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if _, ok := plainSyntax(f); !ok {
			t.Errorf("%s: not taken as plain data", src)
		}
	}
}

// TestPlainPatternsMatchSchema: the plain path's patterns are the
// schema's, read from its source: each definition's (or field's) =~ and
// !~ operands, in order.
func TestPlainPatternsMatchSchema(t *testing.T) {
	got := map[string]string{}
	names, _ := filepath.Glob("cue/*.cue")
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(name, src)
		if err != nil {
			t.Fatal(err)
		}
		var def string
		ast.Walk(f, func(n ast.Node) bool {
			fd, ok := n.(*ast.Field)
			if !ok {
				return true
			}
			label, _, _ := ast.LabelName(fd.Label)
			if strings.HasPrefix(label, "#") {
				def = label
				collectPatterns(fd.Value, def, got)
				return true
			}
			collectPatterns(fd.Value, def+"."+label, got)
			return true
		}, nil)
	}
	for name, want := range plainPatternSource {
		if got[name] != want {
			t.Errorf("%s: plainPatternSource has %q, the schema %q", name, want, got[name])
		}
	}
	for name := range got {
		if name == "#FleetHostName" {
			continue // a fleet's own shape, which CUE checks before any host
		}
		if _, ok := plainPatternSource[name]; !ok {
			t.Errorf("%s: the schema has the pattern %q, which the plain path does not check", name, got[name])
		}
	}
}

// collectPatterns records the =~ operand of value at name, and the !~
// operands at name!1, name!2...; a definition's own, not those of the
// struct fields inside it.
func collectPatterns(x ast.Expr, name string, out map[string]string) {
	neg := 0
	var walk func(x ast.Expr)
	walk = func(x ast.Expr) {
		switch e := x.(type) {
		case *ast.BinaryExpr:
			walk(e.X)
			walk(e.Y)
		case *ast.ParenExpr:
			walk(e.X)
		case *ast.UnaryExpr:
			lit, ok := e.X.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return
			}
			s, err := literal.Unquote(lit.Value)
			if err != nil {
				return
			}
			switch e.Op {
			case token.MAT:
				out[name] = s
			case token.NMAT:
				neg++
				out[name+"!"+strconv.Itoa(neg)] = s
			}
		}
	}
	walk(x)
}

// FuzzPlainMatchesCUE: whatever JSON the plain path takes, CUE takes
// the same way.
func FuzzPlainMatchesCUE(f *testing.F) {
	s, err := Compile()
	if err != nil {
		f.Fatal(err)
	}
	for _, dir := range []string{"../examples/minimal", "../examples/nginx-manual", "../examples/shared-valkey", "../examples/nginx-acme"} {
		inputs, _ := exampleInputs(f, dir)
		b, _ := json.Marshal(plainJSON(f, s, inputs))
		f.Add(b)
	}
	env := examplesEnv(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		samePlain(t, "fuzzed", []Input{{Name: "fuzzed.json", Data: data}}, Options{LookupEnv: lookup(env)})
	})
}

// TestPlainLargeStruct: a struct of many fields, given one field at a
// time, merges through the index as it does without one.
func TestPlainLargeStruct(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "m: k%d: \"v%d\"\nm: k%d: \"v%d\"\n", i, i, i%7, i%7)
	}
	b.WriteString("m: k3: \"other\"\n")
	f, err := parser.ParseFile("x.cue", b.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plainSyntax(f); ok {
		t.Fatal("a conflict among 100 fields was merged")
	}
	f, _ = parser.ParseFile("x.cue", strings.TrimSuffix(b.String(), "m: k3: \"other\"\n"))
	n, ok := plainSyntax(f)
	if !ok {
		t.Fatal("100 fields, some given twice alike, not merged")
	}
	m := n.field("m").value
	if len(m.fields) != 100 || m.field("k99").value.str != "v99" || m.field("k6").value.str != "v6" || m.field("k100") != nil {
		t.Fatalf("merged struct: %d fields", len(m.fields))
	}
	c := n.clone()
	c.field("m").value.add(plainField{name: "new", value: &plainNode{kind: plainString}})
	if m.field("new") != nil {
		t.Fatal("a clone's index is the original's")
	}
}
