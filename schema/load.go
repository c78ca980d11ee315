package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	cuejson "cuelang.org/go/encoding/json"
	cueyaml "cuelang.org/go/encoding/yaml"
	goccyyaml "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	goccytoken "github.com/goccy/go-yaml/token"
	"github.com/google/go-jsonnet"
	"github.com/immich-render/immich-render/internal/fleetmerge"
)

// Input is one configuration file: its name as the user gave it (used in
// positions) and its bytes.
type Input struct {
	Name string
	Data []byte

	jsonnetOut []byte // a Jsonnet input's JSON, once evaluated
}

// Options are the outside world Load may consult. Nil functions fall back
// to the process environment and file system.
type Options struct {
	ExtStr map[string]string // Jsonnet std.extVar values
	TLAStr map[string]string // Jsonnet top-level string arguments

	LookupEnv func(string) (string, bool)  // for {env: NAME} secrets
	ReadFile  func(string) ([]byte, error) // for {file: PATH} secrets

	// JPaths are directories Jsonnet imports may read besides those of
	// the configuration files (-J).
	JPaths []string

	// AllowUnresolved validates without the secret values that are not
	// at hand: an {env:} secret whose variable is not set, or a {file:}
	// secret that cannot be read, is not a problem but is listed by
	// Config.Unresolved (vet on a pull request without the secrets). Such
	// a Config must not be rendered.
	AllowUnresolved bool
}

// Extensions lists the input formats by file name ending.
var Extensions = []string{".cue", ".json", ".yaml", ".yml", ".jsonnet", ".libsonnet"}

// DefaultNames are the files read from the working directory without -c.
var DefaultNames = []string{"immich.cue", "immich.json", "immich.yaml", "immich.yml", "immich.jsonnet"}

// loaded is a configuration that passed the schema, before it is decoded.
type loaded struct {
	value  cue.Value
	inputs []cue.Value // each input on its own, for source positions
	names  map[string]bool
	noLine map[string]bool // inputs whose positions are not the user's text (Jsonnet output)
	refers bool            // some input's syntax may refer to another field (see mayRefer)
	all    []Input         // every input, whose directories Jsonnet may import from

	settings     cue.Value // the settings definition applied, if any
	settingsDone bool

	positions map[string][]token.Pos // of positionsKept, once valid

	// Each compiled input's name and syntax (nil for none), and whether
	// its own syntax left a comprehension's size unknown: crossBombs
	// sizes it again with every input's declarations before they are
	// unified.
	syntaxNames []string
	syntax      []ast.Node
	unsized     []bool
}

// addSyntax records input name's syntax for crossBombs.
func (l *loaded) addSyntax(name string, n ast.Node, unsized bool) {
	l.syntaxNames = append(l.syntaxNames, name)
	l.syntax = append(l.syntax, n)
	l.unsized = append(l.unsized, unsized)
}

// crossBombs refuses a comprehension whose size only the inputs together
// give (`n: int` in one, `n: 100000` in another), before CUE unifies them.
func (l *loaded) crossBombs() Problems {
	return crossBombs(l.syntaxNames, l.syntax, l.unsized)
}

// positionsKept are the config paths whose input positions a loaded host
// keeps, for problems found after loading: an upgrade that Immich
// refuses, compared with the last render (FleetHost.Positions).
var positionsKept = []string{"immich.version", "immich.imageDigests.server", "immich.imageDigests.machineLearning"}

// Load reads, unifies and validates the inputs and resolves their secrets.
// Every problem found is returned at once as Problems.
func (s *Schema) Load(inputs []Input, opt Options) (*Config, error) {
	h, err := s.load(inputs, opt)
	return h.Config, err
}

// load is Load, with the input positions a FleetHost keeps.
func (s *Schema) load(inputs []Input, opt Options) (host FleetHost, err error) {
	// A parser library that panics on some input is our bug to report as a
	// problem with that input, not a stack trace.
	defer func() {
		if r := recover(); r != nil {
			host, err = FleetHost{}, Problems{{Reason: fmt.Sprintf("internal error reading the configuration (%v); please report it with the input", r)}}
		}
	}()
	opt = opt.withDefaults()
	l := &loaded{value: s.config, names: map[string]bool{}, noLine: map[string]bool{}, all: inputs}
	var probs Problems
	for _, in := range inputs {
		v, p := s.compile(in, opt, l)
		probs = append(probs, p...)
		if p == nil {
			l.inputs = append(l.inputs, v)
		}
	}
	if ps := l.crossBombs(); ps != nil {
		return FleetHost{}, append(probs, ps...).normalize()
	}
	for _, v := range l.inputs {
		l.value = l.value.Unify(v)
	}
	// An input that could not be read at all: validating the others
	// would only add noise.
	if len(probs) > 0 {
		for _, v := range l.inputs {
			probs = append(probs, s.unknownFields(v, l)...)
		}
		return FleetHost{}, probs.normalize()
	}
	return s.validateTwoPass(func() *loaded { return l }, opt)
}

// withDefaults fills in the outside world Options leaves unset: the
// process environment and file system.
func (opt Options) withDefaults() Options {
	if opt.LookupEnv == nil {
		opt.LookupEnv = os.LookupEnv
	}
	if opt.ReadFile == nil {
		opt.ReadFile = readSecretFile
	}
	return opt
}

// validateTwoPass validates a site or a fleet host. The walk that names
// unknown fields with their alternatives (about an eighth of the cost) is
// only needed when something is wrong: the schema is closed, so an
// unknown field fails validation, and a configuration that passes has
// none. So it validates once without the walk, and only a configuration
// that fails again with it, on a fresh loaded value from newLoaded.
//
// The result keeps the input positions of the paths of positionsKept.
func (s *Schema) validateTwoPass(newLoaded func() *loaded, opt Options) (FleetHost, error) {
	first := newLoaded()
	if cfg, err := s.validate(first, opt, nil); err == nil {
		return FleetHost{Config: cfg, positions: first.positions}, nil
	}
	l := newLoaded()
	var unknown Problems
	for _, v := range l.inputs {
		unknown = append(unknown, s.unknownFields(v, l)...)
	}
	cfg, err := s.validate(l, opt, unknown)
	if err != nil {
		return FleetHost{}, err
	}
	return FleetHost{Config: cfg, positions: l.positions}, nil
}

// validate finishes a load once the inputs are unified into l.value:
// secrets, the schema, the Go rules. probs holds what was found so far
// (unknown fields). LoadFleet validates each host through it too.
func (s *Schema) validate(l *loaded, opt Options, probs Problems) (*Config, error) {
	s.applySettings(l)
	invalid := validateAll(l.value)
	// A value that passes the schema and decodes has its secret
	// references in the Config: reading them there saves a lookup and a
	// validation of each in CUE. Otherwise they come from the value.
	var cfg *Config
	var secrets map[string]Secret
	var sp Problems
	if invalid == nil && len(probs) == 0 {
		if c, err := decode(l.value); err == nil {
			cfg = c
			secrets, sp = l.resolveConfigSecrets(cfg, opt)
		}
	}
	if cfg == nil {
		secrets, sp = l.resolveSecrets(opt)
	}
	probs = append(probs, sp...)
	probs = append(probs, s.selfReferences(l)...)
	probs = append(probs, hugeNumbers(l)...)
	probs = append(probs, s.cueProblems(invalid, l)...)
	if len(probs) > 0 {
		probs = append(probs, s.checkPartial(l, secrets)...)
		return nil, dropUnderUnknown(probs).normalize()
	}

	var err error
	if cfg == nil {
		cfg, err = decode(l.value)
	}
	if err != nil {
		// Validate passes some conflicts that only encoding finds, such as
		// two files giving one list different lengths.
		if ps := s.cueProblems(err, l); len(ps) > 0 {
			return nil, ps.normalize()
		}
		return nil, Problems{{Reason: "internal error decoding the validated configuration: " + err.Error()}}
	}
	for _, ns := range cfg.Secrets() {
		*ns.Secret = secrets[ns.Path]
	}
	if p := s.checkRules(cfg, l); len(p) > 0 {
		return nil, p.normalize()
	}
	l.positions = map[string][]token.Pos{}
	for _, p := range positionsKept {
		if pos := l.locate(splitPath(p)); pos != nil {
			l.positions[p] = pos
		}
	}
	return cfg, nil
}

// compile turns one input into a CUE value, or says why it cannot.
func (s *Schema) compile(in Input, opt Options, l *loaded) (cue.Value, Problems) {
	l.names[in.Name] = true
	fail := func(err error) (cue.Value, Problems) {
		return cue.Value{}, s.cueProblems(err, l)
	}
	// failSyntax is for an input its parser cannot read at all.
	failSyntax := func(err error) (cue.Value, Problems) {
		ps := s.cueProblems(err, l)
		for i := range ps {
			ps[i].Kind = KindSyntax
		}
		return cue.Value{}, ps
	}
	switch ext := strings.ToLower(filepath.Ext(in.Name)); ext {
	case ".cue":
		f, err := parser.ParseFile(in.Name, in.Data, parser.ParseComments)
		if err != nil {
			return failSyntax(err)
		}
		if ps := longListAST(in.Name, f); ps != nil {
			return cue.Value{}, ps
		}
		ps, unsized := comprehensionBombs(in.Name, f)
		if ps != nil {
			return cue.Value{}, ps
		}
		l.addSyntax(in.Name, f, unsized)
		l.refers = l.refers || mayRefer(f)
		v := s.ctx.BuildFile(f)
		if err := v.Err(); err != nil {
			return fail(err)
		}
		return v, nil
	case ".json":
		if ps := longList(in.Name, in.Data); ps != nil {
			return cue.Value{}, ps
		}
		expr, err := cuejson.Extract(in.Name, in.Data)
		if err != nil {
			return cue.Value{}, Problems{jsonSyntaxProblem(in.Name, in.Data, s.cueProblems(err, l))}
		}
		l.addSyntax(in.Name, expr, false)
		return s.ctx.BuildExpr(expr), nil
	case ".yaml", ".yml":
		// CR line breaks (old Mac files) crash the YAML reader; CRLF and
		// CR mean the same as LF to YAML anyway.
		data := bytes.ReplaceAll(bytes.ReplaceAll(in.Data, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
		f, err := cueyaml.Extract(in.Name, data)
		if err != nil {
			_, ps := failSyntax(err)
			return cue.Value{}, yamlSyntaxProblem(in.Name, data, ps)
		}
		if ps := longListAST(in.Name, f); ps != nil {
			return cue.Value{}, ps
		}
		l.refers = l.refers || mayRefer(f)
		l.addSyntax(in.Name, f, false)
		return s.ctx.BuildFile(f), nil
	case ".jsonnet", ".libsonnet":
		out := in.jsonnetOut
		if out == nil {
			js, err := evalJsonnet(in, opt, l.all)
			if err != nil {
				return cue.Value{}, Problems{jsonnetProblem(in.Name, err)}
			}
			out = []byte(js)
		}
		expr, err := cuejson.Extract(in.Name, out)
		if err != nil {
			return failSyntax(err)
		}
		l.noLine[in.Name] = true
		l.addSyntax(in.Name, expr, false)
		return s.ctx.BuildExpr(expr), nil
	default:
		return cue.Value{}, Problems{{
			Kind:   KindSyntax,
			Reason: fmt.Sprintf("%s: unknown configuration format %q", in.Name, ext),
			Hint:   "a file ending in " + strings.Join(Extensions, ", "),
		}}
	}
}

// evalJsonnet evaluates a Jsonnet file to JSON. Its errors already carry
// the Jsonnet file:line:col. Imports are confined to the directories of
// the configuration files (all of them) and Options.JPaths.
func evalJsonnet(in Input, opt Options, all []Input) (string, error) {
	vm := jsonnet.MakeVM()
	vm.Importer(newImporter(in, all, opt.JPaths))
	for _, k := range slices.Sorted(maps.Keys(opt.ExtStr)) {
		vm.ExtVar(k, opt.ExtStr[k])
	}
	for _, k := range slices.Sorted(maps.Keys(opt.TLAStr)) {
		vm.TLAVar(k, opt.TLAStr[k])
	}
	vm.ErrorFormatter.SetMaxStackTraceSize(5)
	return vm.EvaluateAnonymousSnippet(in.Name, string(in.Data))
}

// validateAll validates v completely. CUE's Validate stops descending at a
// struct that is itself in error (an unknown field makes its parent
// erroneous), so the walk visits every field on its own as well: users get
// every problem in one run, not one per run.
func validateAll(v cue.Value) error {
	var errs cueerrors.Error
	add := func(err error) {
		if err != nil {
			errs = cueerrors.Append(errs, cueerrors.Promote(err, ""))
		}
	}
	first := v.Validate(cue.Concrete(true), cue.All())
	if first == nil {
		return nil // nothing to find: the walk only finds more of what Validate stopped at
	}
	add(first)
	var walk func(v cue.Value)
	walk = func(v cue.Value) {
		// An erroneous struct reports BottomKind, so try the shapes in turn.
		if it, err := v.Fields(cue.Optional(true)); err == nil {
			add(v.Err()) // the struct's own error, such as a field not allowed
			for it.Next() {
				fv := it.Value()
				switch it.Selector().ConstraintType() {
				case cue.OptionalConstraint:
					if !fv.IsConcrete() {
						continue // absent optional field
					}
				case cue.RequiredConstraint:
					if !fv.IsConcrete() {
						errs = cueerrors.Append(errs, &missing{path: fv.Path()})
						continue
					}
				}
				walk(fv)
			}
			return
		}
		if it, err := v.List(); err == nil {
			for it.Next() {
				walk(it.Value())
			}
			return
		}
		add(v.Validate(cue.Concrete(true)))
	}
	walk(v)
	return errs
}

// missing is a required field without a value.
type missing struct{ path cue.Path }

func (m *missing) Position() token.Pos         { return token.NoPos }
func (m *missing) InputPositions() []token.Pos { return nil }
func (m *missing) Error() string               { return "field is required but not present" }
func (m *missing) Msg() (string, []any)        { return "field is required but not present", nil }
func (m *missing) Path() []string {
	var out []string
	for _, s := range m.path.Selectors() {
		out = append(out, s.String())
	}
	return out
}

// parentPath drops the last element of a config path.
func parentPath(p []string) []string {
	if len(p) == 0 {
		return nil
	}
	return p[:len(p)-1]
}

// dropUnderUnknown removes what CUE says about the contents of a field that
// is already reported as unknown.
func dropUnderUnknown(ps Problems) Problems {
	var unknown [][]string
	isUnknown := func(p Problem) bool { return p.Kind == KindUnknownField }
	for _, p := range ps {
		if isUnknown(p) {
			unknown = append(unknown, p.Path)
		}
	}
	return slices.DeleteFunc(ps, func(p Problem) bool {
		if isUnknown(p) {
			return false
		}
		for _, u := range unknown {
			if hasPathPrefix(p.Path, u) {
				return true
			}
		}
		return false
	})
}

// decodeSection decodes one section of the value ("immich.valkey") into
// the same place of c, and reports whether that section is valid.
func (l *loaded) decodeSection(section string, c *Config) bool {
	v := l.value.LookupPath(configPath(section))
	if !v.Exists() {
		return false
	}
	if v.Validate(cue.Concrete(true)) != nil {
		return false
	}
	return decodeAt(v, section, c) == nil
}

// jsonnetProblem turns a Jsonnet error into a Problem: its first line is
// the reason, and the stack lines that name a file are its positions.
func jsonnetProblem(name string, err error) Problem {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	p := Problem{Kind: KindSyntax, Reason: "Jsonnet: " + strings.TrimSpace(lines[0])}
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if loc, _, _ := strings.Cut(l, "\t"); strings.Contains(loc, ":") && !strings.HasPrefix(loc, "Field") && !strings.HasPrefix(loc, "During") {
			p.Pos = append(p.Pos, jsonnetPos(loc))
		}
	}
	if len(p.Pos) == 0 {
		p.Pos = []token.Pos{filePos(name)}
	}
	return p
}

// jsonnetLoc is a Jsonnet stack location that is one point: file:line:col.
// Like every regexp of this package it is compiled on first use, not at
// every start of the program.
var jsonnetLoc = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(.+):([0-9]+):([0-9]+)$`) })

// jsonnetPos is the position of a Jsonnet stack location. A range
// (file:1:35-68, file:(1:2)-(3:4)) is kept as Jsonnet writes it, in the
// file name of a position without a line.
func jsonnetPos(loc string) token.Pos {
	m := jsonnetLoc().FindStringSubmatch(loc)
	if m == nil {
		return filePos(loc)
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	return linePos(m[1], line, col)
}

// cueProblems converts CUE errors into Problems with hints from the schema's
// @hint attributes and positions in the user's input only.
func (s *Schema) cueProblems(err error, l *loaded) Problems {
	var out Problems
	for _, e := range cueerrors.Errors(err) {
		path := e.Path()
		if len(path) > 0 && strings.HasPrefix(path[0], "#") {
			path = path[1:] // the schema's #Config
		}
		kind := cueKind(e)
		p := ProblemAt(slices.Clip(path), kind, "", s.hintIn(l, path))
		p.Reason = friendly(kind, cueMessage(e, p.Secret))
		// A list element (resolver.1) says what its list wants.
		for i := len(path) - 1; p.Hint == "" && i > 0; i-- {
			if _, err := strconv.Atoi(path[i]); err != nil {
				break
			}
			p.Hint = s.hintIn(l, path[:i])
		}
		if p.Hint == "" && p.Secret {
			p.Hint = s.secretHint(l, path)
		}
		for _, pos := range cueerrors.Positions(e) {
			p.Pos = addPos(p.Pos, l.position(pos))
		}
		// A missing field has no position of its own: point at the
		// nearest enclosing struct the user wrote.
		for q := p.Path; len(p.Pos) == 0 && len(q) > 0; q = parentPath(q) {
			p.Pos = l.locate(q)
		}
		if reason, ok := l.misplacedReference(p); ok {
			p.Reason = reason
		}
		out = append(out, p)
	}
	return l.tidy(out)
}

// tidy merges what CUE reports several times for one field into the one
// message a person wants: a default that lost a disjunction, an error that
// only repeats another, an incomplete value of a field that is missing.
func (l *loaded) tidy(ps Problems) Problems {
	byPath := map[string][]int{}
	var order []string
	for i, p := range ps {
		key := p.PathString()
		if _, ok := byPath[key]; !ok {
			order = append(order, key)
		}
		byPath[key] = append(byPath[key], i)
	}
	// A field whose default depends on an invalid one is only incomplete;
	// saying so adds nothing to the real problem.
	onlyIncomplete := true
	for _, p := range ps {
		if p.Kind != KindIncomplete {
			onlyIncomplete = false
		}
	}
	var out Problems
	for _, path := range order {
		group := make(Problems, 0, len(byPath[path]))
		has := map[Kind]bool{}
		for _, i := range byPath[path] {
			has[ps[i].Kind] = true
			group = append(group, ps[i])
		}
		keep := group[:0:0]
		constraint := false
		for _, p := range group {
			switch {
			case p.Kind == KindConstraint && constraint:
				continue // two constraints of one type (pattern and validator) say the same

			case p.Kind == KindDisjunction:
				continue
			case has[KindDisjunction] && p.Kind == KindConflict:
				continue // one alternative's conflict, when none matched
			case has[KindMissing] && p.Kind != KindMissing:
				continue
			case p.Kind == KindUnknownField:
				continue // reported by unknownFields, with the allowed names
			case p.Kind == KindBottom && len(group) > 1:
				continue
			case p.Kind == KindIncomplete && !onlyIncomplete:
				continue
			}
			constraint = constraint || p.Kind == KindConstraint
			keep = append(keep, p)
		}
		if len(keep) == 0 && has[KindDisjunction] {
			p := group[0]
			p.Kind = KindRefused
			p.Reason = "this value is not allowed"
			if vs := l.inputValues(p.Path, p.Secret); len(vs) > 1 {
				// A field with a default that two inputs set differently.
				p.Kind = KindConflict
				p.Reason = fmt.Sprintf("conflicting values %s and %s: two inputs set this field", vs[0], vs[1])
			} else if len(vs) == 1 {
				p.Reason = vs[0] + " is not allowed"
			}
			keep = append(keep, p)
		}
		out = append(out, keep...)
	}
	// A list that lost its default disjunction is reported at the list and
	// at the element: keep the element, which says what is wrong. Likewise
	// a value refused as a whole when a field inside it says why.
	return slices.DeleteFunc(out, func(p Problem) bool {
		for _, q := range out {
			inside := len(q.Path) > len(p.Path) && hasPathPrefix(q.Path, p.Path)
			if inside && (p.Kind == KindListLength || p.Kind == KindRefused) {
				return true
			}
			if slices.Equal(q.Path, p.Path) && p.Kind == KindConflict && q.Kind != KindConflict {
				return true
			}
		}
		return false
	})
}

// inputValues shows the distinct values the inputs give at path,
// shortened; a value at a secret path shows as <redacted>, whatever its form.
func (l *loaded) inputValues(path []string, secret bool) []string {
	var seen, out []string
	for _, in := range l.inputs {
		if v := in.LookupPath(cuePath(path)); v.Exists() {
			s := fmt.Sprint(v)
			if b, err := v.MarshalJSON(); err == nil {
				s = string(b)
			}
			if slices.Contains(seen, s) {
				continue
			}
			seen = append(seen, s)
			if secret {
				s = redacted // whatever its form
			}
			out = append(out, shorten(s))
		}
	}
	return out
}

// position is pos if it is in the user's input, else token.NoPos. A
// position in Jsonnet's output names the file only: its lines are not
// the user's.
func (l *loaded) position(pos token.Pos) token.Pos {
	if !pos.IsValid() {
		return token.NoPos
	}
	name := pos.Filename()
	if !l.names[name] {
		return token.NoPos
	}
	if l.noLine[name] {
		return filePos(name + " (generated by Jsonnet; no line information)")
	}
	return pos
}

// locate returns the input positions that set the value at a config path.
func (l *loaded) locate(path []string) []token.Pos {
	var out []token.Pos
	sel := cuePath(path)
	for _, in := range l.inputs {
		v := in.LookupPath(sel)
		if !v.Exists() {
			continue
		}
		out = addPos(out, l.position(v.Pos()))
	}
	return out
}

// locateValue is where the first input that sets a config path writes
// its value, as CUE places a problem of the value it gives a field: one
// position, where locate gives each input's field.
func (l *loaded) locateValue(path []string) []token.Pos {
	sel := cuePath(path)
	for _, in := range l.inputs {
		if v := in.LookupPath(sel); v.Exists() {
			if pos := l.position(fleetmerge.ValuePos(v)); pos.IsValid() {
				return []token.Pos{pos}
			}
		}
	}
	return nil
}

// hintIn is hint, with immich.settings looked up in the settings
// definition that l applied.
func (s *Schema) hintIn(l *loaded, path []string) string {
	if l != nil && l.settings.Exists() && len(path) > 2 && path[0] == "immich" && path[1] == "settings" {
		return hintAt(l.settings, path[2:])
	}
	return s.hint(path)
}

// hint finds the @hint attribute of the schema field at path, matching list
// indices and map keys against the schema's element and pattern fields.
func (s *Schema) hint(path []string) string { return hintAt(s.config, path) }

func hintAt(v cue.Value, path []string) string {
	for _, elem := range path {
		var next cue.Value
		if _, err := strconv.Atoi(elem); err == nil {
			next = v.LookupPath(cue.MakePath(cue.AnyIndex))
		} else {
			next = fleetmerge.SchemaField(v, elem)
		}
		if !next.Exists() {
			return ""
		}
		v = next
	}
	a := v.Attribute("hint")
	if a.Err() != nil {
		return ""
	}
	h, _ := a.String(0)
	return h
}

// friendly rewrites CUE's terser messages into plain words.
func friendly(kind Kind, msg string) string {
	switch kind {
	case KindListLength:
		_, lengths, _ := strings.Cut(msg, "incompatible list lengths ")
		return "two inputs give this list with different lengths " + lengths +
			"; lists from several files are not merged: set it in one file only"
	case KindUnknownField:
		return "unknown field (check its spelling against `immich-render schema`)"
	case KindMissing:
		return "required field is missing"
	case KindIncomplete:
		return "no value given: " + msg
	}
	return msg
}

// configPath turns a dotted config path ("valkey.users.0.password") into
// a CUE path, with numeric elements as list indices.
func configPath(p string) cue.Path { return cuePath(splitPath(p)) }

// cuePath turns a problem's path into a CUE path, with list indices as
// indices.
func cuePath(p []string) cue.Path {
	var sels []cue.Selector
	for _, elem := range p {
		if i, err := index(elem); err == nil {
			sels = append(sels, cue.Index(i))
		} else {
			sels = append(sels, cue.Str(elem))
		}
	}
	return cue.MakePath(sels...)
}

// jsonSyntaxProblem says why a JSON file cannot be read, with the line
// and column: CUE's JSON reader says only that it is invalid. Go's own
// decoder gives the reason and the byte offset.
func jsonSyntaxProblem(name string, data []byte, cueProbs Problems) Problem {
	p := Problem{Kind: KindSyntax, Reason: "invalid JSON", Pos: []token.Pos{filePos(name)}}
	if len(cueProbs) > 0 {
		p.Reason, p.Pos = cueProbs[0].Reason, cueProbs[0].Pos
	}
	var v any
	var se *json.SyntaxError
	if err := json.Unmarshal(data, &v); errors.As(err, &se) {
		line, col := 1, 1
		for _, c := range string(data[:min(int(se.Offset), len(data))]) {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		// The offset is just past the offending byte.
		p.Reason = "invalid JSON: " + se.Error()
		p.Pos = []token.Pos{linePos(name, line, max(1, col-1))}
	}
	return p
}

// yamlSyntaxProblem says where a YAML file stops being YAML. CUE's YAML
// reader (yaml.v3) names the line of the enclosing mapping, not of the
// offending input; goccy/go-yaml's parser gives the offending token's line
// and column, so it is asked once the file is known to be invalid. Where
// it finds no error, CUE's problem stands.
func yamlSyntaxProblem(name string, data []byte, cueProbs Problems) Problems {
	_, err := goccyparser.ParseBytes(data, 0)
	var ye goccyyaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil || ye.GetToken().Position == nil {
		return cueProbs
	}
	tk := ye.GetToken()
	if n := tk.Next; n != nil && n.Type == goccytoken.MappingValueType && n.Position != nil && n.Position.Line > tk.Position.Line {
		// A plain scalar that runs on into the next line (an indentation
		// mistake there): the ':' on that line is the offending input.
		tk = n
	}
	pos := tk.Position
	msg := strings.ReplaceAll(ye.GetMessage(), "\t", `\t`) // a tab, shown
	return Problems{{Kind: KindSyntax, Reason: "invalid YAML: " + msg,
		Pos: []token.Pos{linePos(name, pos.Line, pos.Column)}}}
}
