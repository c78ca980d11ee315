package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/immich-render/immich-render/internal/fleetmerge"
)

// TestConfigMirrorsSchema walks #Config in the embedded CUE beside
// schema.Config and fails naming every field one side has and the other
// lacks, every optional CUE field whose Go field would not say it is
// absent, and every field whose kinds differ. Config is written by hand;
// this is what keeps it the schema's mirror.
func TestConfigMirrorsSchema(t *testing.T) {
	s, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range mirrorDrift(s.config, reflect.TypeFor[Config](), "#Config") {
		t.Error(d)
	}
}

// TestFleetDefinitionFields: #Fleet has the two fields the fleet loader knows, and a
// host's entry is an open struct that each host validates as #Config.
func TestFleetDefinitionFields(t *testing.T) {
	s, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	got := fieldNames(s.fleetDef)
	slices.Sort(got)
	if want := []string{fleetDefaults, fleetHosts}; !slices.Equal(got, want) {
		t.Errorf("#Fleet has fields %v; the fleet loader knows %v", got, want)
	}
	host := elem(fleetmerge.SchemaField(s.fleetDef, fleetHosts))
	if k := host.IncompleteKind(); k != cue.StructKind {
		t.Errorf("#Fleet.hosts' entries are %v, want structs validated as #Config", k)
	}
}

// TestMirrorDriftFindsDrift: the walk names a field missing on either
// side, an optional field Go would decode as present, and a kind mismatch.
func TestMirrorDriftFindsDrift(t *testing.T) {
	ctx := s0(t).ctx
	v := ctx.CompileString(`#C: {a: string, b?: int, c: bool, l: [...string], m: [string]: int, onlyCUE: int}`).LookupPath(cue.ParsePath("#C"))
	type goSide struct {
		A      string         `json:"a"`
		B      int            `json:"b"` // optional in CUE: needs omitempty
		C      string         `json:"c"` // bool in CUE
		L      []int          `json:"l"` // [...string] in CUE
		M      map[string]int `json:"m"`
		OnlyGo int            `json:"onlyGo"`
	}
	got := strings.Join(mirrorDrift(v, reflect.TypeFor[goSide](), "#C"), "\n")
	for _, want := range []string{
		"#C.onlyCUE: in the CUE schema, not in the Go struct",
		"#C.onlyGo: in the Go struct (goSide.OnlyGo), not in the CUE schema",
		"#C.b: optional in the CUE schema, but goSide.B has no omitempty",
		"#C.c: bool in the CUE schema, string in Go",
		"#C.l.*: string in the CUE schema, int in Go",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("drift not found: %s\nin:\n%s", want, got)
		}
	}
	if strings.Contains(got, "#C.a") || strings.Contains(got, "#C.m") {
		t.Errorf("drift reported where there is none:\n%s", got)
	}
}

func s0(t *testing.T) *Schema {
	s, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	secretType = reflect.TypeFor[Secret]()
	anyValue   = cuecontext.New().CompileString("_")
)

// mirrorDrift compares the CUE value v with the Go type typ at path.
func mirrorDrift(v cue.Value, typ reflect.Type, path string) []string {
	if typ == secretType {
		return nil // a string or {env:} or {file:}: Secret.UnmarshalJSON reads each
	}
	k := v.IncompleteKind()
	if k == cue.TopKind {
		if typ.Kind() == reflect.Interface || typ.Kind() == reflect.Map && typ.Elem().Kind() == reflect.Interface {
			return nil // free-form (immich.settings)
		}
		return []string{fmt.Sprintf("%s: any value in the CUE schema, %s in Go", path, typ)}
	}
	k &^= cue.NullKind // null is "not set", which every Go field can be
	switch k {
	case cue.StringKind:
		return sameKind(path, "string", typ, reflect.String)
	case cue.BoolKind:
		return sameKind(path, "bool", typ, reflect.Bool)
	case cue.IntKind, cue.NumberKind:
		return sameKind(path, "int", typ, reflect.Int, reflect.Int64)
	case cue.ListKind:
		if typ.Kind() != reflect.Slice {
			return []string{fmt.Sprintf("%s: a list in the CUE schema, %s in Go", path, typ)}
		}
		return mirrorDrift(elem(v), typ.Elem(), path+".*")
	case cue.StructKind:
		if typ.Kind() == reflect.Map {
			return mirrorDrift(elem(v), typ.Elem(), path+".*")
		}
		if typ.Kind() != reflect.Struct {
			return []string{fmt.Sprintf("%s: a struct in the CUE schema, %s in Go", path, typ)}
		}
		return structDrift(v, typ, path)
	}
	return []string{fmt.Sprintf("%s: kind %v in the CUE schema has no Go mirror (%s)", path, k, typ)}
}

// elem is the element schema of a list or of a struct's pattern field,
// looked for in each alternative of a disjunction (a list with a default).
func elem(v cue.Value) cue.Value {
	for _, sel := range []cue.Selector{cue.AnyIndex, cue.AnyString} {
		if e := v.LookupPath(cue.MakePath(sel)); e.Exists() && e.Err() == nil {
			return e
		}
	}
	if op, alts := v.Expr(); op == cue.OrOp {
		for _, a := range alts {
			if e := elem(a); e.Exists() && e.Err() == nil {
				return e
			}
		}
	}
	if v.IncompleteKind()&cue.ListKind != 0 {
		return cue.Value{}
	}
	// A pattern of names ([#EnvName]: string): the schema of a name that
	// matches it, an upper-case one, a lower-case one, or a
	// machine-learning variable ([#MLEnvName]: string).
	for _, probe := range []string{"A", "a", "MACHINE_LEARNING_A"} {
		p := cue.MakePath(cue.Str(probe))
		if e := v.FillPath(p, anyValue).LookupPath(p); e.Exists() && e.Err() == nil {
			return e
		}
	}
	return cue.Value{}
}

func sameKind(path, cueKind string, typ reflect.Type, want ...reflect.Kind) []string {
	if !slices.Contains(want, typ.Kind()) {
		return []string{fmt.Sprintf("%s: %s in the CUE schema, %s in Go", path, cueKind, typ)}
	}
	return nil
}

// structDrift compares a CUE struct's fields with a Go struct's JSON fields.
func structDrift(v cue.Value, typ reflect.Type, path string) []string {
	type goField struct {
		f         reflect.StructField
		omitempty bool
	}
	goFields := map[string]goField{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		goFields[name] = goField{f, slices.Contains(strings.Split(opts, ","), "omitempty")}
	}
	var out []string
	seen := map[string]bool{}
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	for it.Next() {
		name := it.Selector().Unquoted()
		seen[name] = true
		p := path + "." + name
		g, ok := goFields[name]
		if !ok {
			out = append(out, fmt.Sprintf("%s: in the CUE schema, not in the Go struct %s", p, typ))
			continue
		}
		// An optional field without a default may be absent from the
		// decoded JSON: Go must not make it look set.
		_, hasDefault := it.Value().Default()
		if it.Selector().ConstraintType() == cue.OptionalConstraint && !hasDefault && !g.omitempty && g.f.Type.Kind() != reflect.Map && g.f.Type.Kind() != reflect.Slice && g.f.Type.Kind() != reflect.Struct {
			out = append(out, fmt.Sprintf("%s: optional in the CUE schema, but %s.%s has no omitempty", p, typ.Name(), g.f.Name))
		}
		out = append(out, mirrorDrift(it.Value(), g.f.Type, p)...)
	}
	for name, g := range goFields {
		if !seen[name] {
			out = append(out, fmt.Sprintf("%s.%s: in the Go struct (%s.%s), not in the CUE schema", path, name, typ.Name(), g.f.Name))
		}
	}
	slices.Sort(out)
	return out
}

// TestDecodeMatchesJSON: decode, which reads the value field by field,
// gives the Config that encoding/json gives from the value's JSON (how
// decode used to work, refusing unknown fields), for every example, each
// host of the example fleet, the starters and a site with settings.
func TestDecodeMatchesJSON(t *testing.T) {
	s := s0(t)
	var all []*loaded
	add := func(name string, l *loaded) {
		s.applySettings(l)
		if err := validateAll(l.value); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		all = append(all, l)
	}
	site := func(name string, inputs ...Input) {
		l := &loaded{value: s.config, names: map[string]bool{}, noLine: map[string]bool{}, all: inputs}
		for _, in := range inputs {
			v, ps := s.compile(in, Options{ExtStr: map[string]string{"hostname": "photos.example.com", "immichVersion": "v3.1.0"}}.withDefaults(), l)
			if ps != nil {
				t.Fatalf("%s: %v", name, ps)
			}
			l.inputs = append(l.inputs, v)
			l.value = l.value.Unify(v)
		}
		add(name, l)
	}
	dirs, _ := filepath.Glob("../examples/*")
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "immich.*"))
		var inputs []Input
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			inputs = append(inputs, Input{Name: f, Data: data})
		}
		if !isFleet(inputs, Options{}) {
			site(dir, inputs...)
			continue
		}
		fl, ps := s.readFleet(inputs, Options{}.withDefaults())
		if fl == nil || len(ps) > 0 {
			t.Fatalf("%s: %v", dir, ps)
		}
		for _, name := range fl.names {
			l := &loaded{value: s.config, names: fl.l.names, noLine: fl.l.noLine}
			v := s.ctx.BuildExpr(fl.merged(name))
			l.inputs = []cue.Value{v}
			l.value = l.value.Unify(v)
			add(dir+" "+name, l)
		}
	}
	for _, f := range []string{"cue", "yaml", "json", "jsonnet"} {
		src, _ := Starter(f)
		site("starter "+f, Input{Name: "immich." + f, Data: src})
	}
	site("settings", Input{Name: "s.cue", Data: []byte(base + `immich: settings: {ffmpeg: {crf: 23, targetAudioCodec: "aac"}, trash: days: 10, oauth: {enabled: true, clientSecret: {env: "OAUTH"}}}
immich: environment: {A: "1", B: ""}
immich: machineLearning: environment: MACHINE_LEARNING_WORKERS: "2"
valkey: users: [{username: "paperless", password: "a literal password", keyPatterns: ["paperless*"], channelPatterns: [], commands: "-@all +@read"},
	{username: "other", password: {file: "/run/secrets/other"}, keyPatterns: ["other*"], commands: "-@all +@read"}]
immich: settings: notifications: smtp: transport: password: "smtp-literal"
`)})
	site("settings file secret", Input{Name: "s.cue", Data: []byte(base + `immich: settings: oauth: {enabled: true, clientSecret: {file: "/run/secrets/oauth"}}`)})
	if len(all) < 15 {
		t.Fatalf("only %d configurations", len(all))
	}
	// Secrets: some set, one too short, the rest not set or unreadable.
	env := map[string]string{"PG": "postgres-password", "VK": "short", "IMMICH_POSTGRES_PASSWORD": "postgres-password", "OAUTH": "x"}
	opts := []Options{
		{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist }},
		{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, ReadFile: func(string) ([]byte, error) { return []byte("from-a-file-secret\n"), nil }, AllowUnresolved: true},
	}
	for _, l := range all {
		v := l.value
		cfg, err := decode(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, opt := range opts {
			wantS, wantP := l.resolveSecrets(opt)
			gotS, gotP := l.resolveConfigSecrets(cfg, opt)
			if !reflect.DeepEqual(gotS, wantS) || gotP.normalize().Error() != wantP.normalize().Error() {
				t.Errorf("secrets read from the Config differ from those read from the value:\n got %v %v\nwant %v %v", gotS, gotP, wantS, wantP)
			}
		}
		got, err := decode(v)
		if err != nil {
			t.Fatal(err)
		}
		b, err := v.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var want Config
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("decode differs from the JSON decode:\n got %+v\nwant %+v", *got, want)
		}
	}
}
