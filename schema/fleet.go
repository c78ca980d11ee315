package schema

import (
	"encoding/json"
	"fmt"
	"maps"
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
	cueyaml "cuelang.org/go/encoding/yaml"
	"github.com/immich-render/immich-render/internal/fleetmerge"
	"github.com/immich-render/immich-render/internal/group"
	"github.com/immich-render/immich-render/internal/parallel"
)

// A fleet is a configuration with a top-level hosts: field: one site
// configuration per host, each laid over the optional defaults: field.
// cue/fleet.cue documents the shape and the merge rule for users; in short,
// a field the host does not set comes from defaults, structs that both set
// are merged field by field, and anything else that both set (scalars,
// lists, secrets) is the host's.
//
// The inputs are first unified as they are (a conflict between two files
// is still an error); then each host is laid over defaults by
// internal/fleetmerge, as syntax that keeps every value's source position,
// and validated against the schema exactly like a single site.
//
// A cue.Context is not safe for concurrent use, so each worker goroutine
// compiles its own Schema and builds its hosts there; the syntax handed to
// it is built for it alone.

const (
	fleetHosts    = "hosts"
	fleetDefaults = "defaults"
)

// hostNameRE is #FleetHostName of cue/fleet.cue (a test keeps them equal).
var hostNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`) })

// hostNameHint says what a host name must look like.
const hostNameHint = "1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit (the name becomes the host's output directory)"

// ValidHostName reports whether name may name a fleet host.
func ValidHostName(name string) bool { return hostNameRE().MatchString(name) }

// isFleet reports whether the inputs describe a fleet (a top-level hosts:
// or defaults: field) rather than a single site. An input that cannot be
// read counts as a single site: loading it reports why.
func isFleet(inputs []Input, opt Options) bool {
	for _, in := range inputs {
		for _, name := range topLevelNames(in, opt, inputs) {
			if name == fleetHosts || name == fleetDefaults {
				return true
			}
		}
	}
	return false
}

// topLevelNames lists an input's top-level field names, as cheaply as its
// format allows (no CUE evaluation), or nil if it cannot be read.
func topLevelNames(in Input, opt Options, all []Input) []string {
	fromFile := func(f *ast.File) []string {
		var out []string
		for _, d := range f.Decls {
			if field, ok := d.(*ast.Field); ok {
				if name, _, err := ast.LabelName(field.Label); err == nil {
					out = append(out, name)
				}
			}
		}
		return out
	}
	fromJSON := func(data []byte) []string {
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return nil
		}
		return slices.Sorted(maps.Keys(m))
	}
	switch strings.ToLower(filepath.Ext(in.Name)) {
	case ".cue":
		f, err := parser.ParseFile(in.Name, in.Data)
		if err != nil {
			return nil
		}
		return fromFile(f)
	case ".json":
		return fromJSON(in.Data)
	case ".yaml", ".yml":
		f, err := cueyaml.Extract(in.Name, in.Data)
		if err != nil {
			return nil
		}
		return fromFile(f)
	case ".jsonnet", ".libsonnet":
		if in.jsonnetOut != nil {
			return fromJSON(in.jsonnetOut)
		}
		out, err := evalJsonnet(in, opt, all)
		if err != nil {
			return nil
		}
		return fromJSON([]byte(out))
	}
	return nil
}

// FleetOptions tune LoadFleet.
type FleetOptions struct {
	// Hosts, when not empty, selects the hosts to validate and return;
	// the others are only checked for what the whole fleet needs (valid
	// names, no conflicts). A name the fleet does not have is an
	// *UnknownHostsError.
	Hosts []string

	// Workers is the number of hosts validated at once, each worker with
	// its own compiled schema. Zero means GOMAXPROCS.
	Workers int

	// Progress, when set, is called after each host is validated with the
	// number done and the total, from the worker goroutines.
	Progress func(done, total int)
}

// Fleet is a validated fleet.
type Fleet struct {
	Names []string    // every host of the configuration, sorted
	Hosts []FleetHost // the validated hosts (all, or those selected), sorted by name
}

// FleetHost is one validated host.
type FleetHost struct {
	Name   string
	Config *Config

	positions map[string][]token.Pos // see Positions
}

// Positions says where the inputs set one of the host's config paths
// (dotted: "immich.version"), for the few that problems found after
// loading name (immich.version, immich.imageDigests.*); nil for others.
func (h FleetHost) Positions(path string) []token.Pos { return h.positions[path] }

// UnknownHostsError is a selection of hosts the fleet does not have.
type UnknownHostsError struct {
	Unknown []string // sorted
	Known   []string // every host of the fleet, sorted
}

func (e *UnknownHostsError) Error() string {
	what := "host"
	if len(e.Unknown) > 1 {
		what = "hosts"
	}
	return fmt.Sprintf("unknown %s %s; the fleet has %s", what, strings.Join(e.Unknown, ", "), strings.Join(e.Known, ", "))
}

// LoadFleet reads, unifies and validates a fleet configuration: the fleet's
// own shape, then every (selected) host, merged over defaults, in
// parallel. Every problem of every host is returned at once, as Problems
// with paths such as hosts.nas007.immich.network.gateway.
func LoadFleet(inputs []Input, opt Options, fo FleetOptions) (*Fleet, error) {
	opt = opt.withDefaults()
	s, err := Compile()
	if err != nil {
		return nil, err
	}
	fl, probs := s.readFleet(inputs, opt)
	if fl == nil {
		return nil, probs.normalize()
	}
	selected := fl.names
	if len(fo.Hosts) > 0 {
		var unknown []string
		chosen := map[string]bool{}
		for _, h := range fo.Hosts {
			if _, known := fl.hostValue[h]; !known && !slices.Contains(unknown, h) {
				unknown = append(unknown, h)
			}
			chosen[h] = true
		}
		if len(unknown) > 0 {
			if len(probs) > 0 {
				return nil, redactConflicts(probs).normalize() // the configuration first
			}
			slices.Sort(unknown)
			return nil, &UnknownHostsError{Unknown: unknown, Known: fl.names}
		}
		selected = slices.DeleteFunc(slices.Clone(fl.names), func(h string) bool { return !chosen[h] })
		probs = slices.DeleteFunc(probs, func(p Problem) bool {
			name, ok := hostOf(p.Path)
			_, known := fl.hostValue[name]
			return ok && known && !chosen[name]
		})
	}
	// A host whose files conflict is not validated: its merge would only
	// repeat the conflict in other words.
	selected = slices.DeleteFunc(slices.Clone(selected), func(h string) bool { return fl.conflict[h] })

	results, err := s.validateHosts(fl, selected, opt, fo)
	if err != nil {
		return nil, err
	}
	out := &Fleet{Names: fl.names}
	var hostProbs []hostProblem
	for i, name := range selected {
		r := results[i]
		for _, p := range r.probs {
			if len(p.Pos) == 0 {
				p.Pos = fl.hostPos[name]
			}
			hostProbs = append(hostProbs, hostProblem{name, p})
		}
		out.Hosts = append(out.Hosts, FleetHost{Name: name, Config: r.cfg, positions: r.positions})
	}
	probs = redactConflicts(probs)
	probs = append(probs, fl.group(hostProbs, len(selected) == len(fl.names))...)
	if len(probs) > 0 {
		return nil, probs.normalize()
	}
	return out, nil
}

// hostProblem is a problem of one host, its path relative to the site.
type hostProblem struct {
	host string
	Problem
}

// maxListed is how many host names a grouped problem lists.
const maxListed = 5

// group gives each problem its fleet path (hosts.<name>.<path>), except
// that one problem found identically (same field, reason and place) in
// several hosts, such as a bad value they all inherit from defaults, is
// reported once: under defaults.<path> when the defaults set that field,
// with the hosts it affects.
func (fl *fleet) group(ps []hostProblem, all bool) Problems {
	type key struct {
		kind                    Kind
		path, reason, hint, pos string
	}
	order, groups := group.By(ps, func(p hostProblem) key {
		return key{p.Kind, p.PathString(), p.Reason, p.Hint, strings.Join(posStrings(p.Pos), "\n")}
	})
	var out Problems
	for _, k := range order {
		p := groups[k][0].Problem
		var names []string
		for _, hp := range groups[k] {
			names = append(names, hp.host)
		}
		inHost := append([]string{fleetHosts, names[0]}, p.Path...)
		if len(names) == 1 {
			p.Path = inHost
			out = append(out, p)
			continue
		}
		if inDefaults := append([]string{fleetDefaults}, p.Path...); len(p.Path) > 0 && len(fl.locate(cuePath(inDefaults))) > 0 {
			p.Path = inDefaults
		} else {
			p.Path = inHost
		}
		switch {
		case all && len(names) == len(fl.names):
			p.Reason += fmt.Sprintf(" (in all %d hosts)", len(names))
		case len(names) > maxListed:
			p.Reason += fmt.Sprintf(" (in hosts %s and %d more)", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
		default:
			p.Reason += fmt.Sprintf(" (in hosts %s)", strings.Join(names, ", "))
		}
		out = append(out, p)
	}
	return out
}

// fleet is a fleet configuration read and checked as a whole, before any
// host is validated. Its values belong to the main schema's context.
type fleet struct {
	s         *Schema
	l         *loaded
	root      cue.Value
	defaults  cue.Value // may not exist
	hosts     cue.Value
	names     []string               // valid host names, sorted
	hostValue map[string]cue.Value   // each valid host's value, by name (see hostIndex)
	hostPos   map[string][]token.Pos // where each host is written
	conflict  map[string]bool        // hosts whose inputs conflict
	prune     map[string]bool        // site paths under defaults already reported as unknown
	merger    *fleetmerge.Merger     // lays each host over defaults, once prune is complete
}

// readFleet compiles and unifies the inputs and checks the fleet's own
// shape: its top-level fields, the defaults' field names, the host names,
// conflicts between files. It returns nil when no host can be validated;
// the Problems found so far come back either way.
func (s *Schema) readFleet(inputs []Input, opt Options) (*fleet, Problems) {
	l := &loaded{names: map[string]bool{}, noLine: map[string]bool{}, all: inputs}
	var probs Problems
	for _, in := range inputs {
		v, p := s.compile(in, opt, l)
		probs = append(probs, p...)
		if p == nil {
			l.inputs = append(l.inputs, v)
		}
	}
	if len(probs) > 0 {
		return nil, redactConflicts(probs)
	}
	if ps := l.crossBombs(); ps != nil {
		return nil, ps
	}
	fl := &fleet{s: s, l: l, prune: map[string]bool{}, conflict: map[string]bool{}, hostPos: map[string][]token.Pos{}}
	fl.root = l.inputs[0]
	for _, v := range l.inputs[1:] {
		fl.root = fl.root.Unify(v)
	}
	l.value = fl.root

	// Conflicts between files, anywhere: CUE's own messages, with both places.
	if err := fl.root.Validate(cue.All()); err != nil {
		for _, p := range s.cueProblems(err, l) {
			p.Hint = s.hint(sitePath(p.Path))
			probs = append(probs, p)
			name, ok := hostOf(p.Path)
			if !ok {
				return nil, redactConflicts(probs) // in defaults, or the fleet's own shape: every host has it
			}
			fl.conflict[name] = true
		}
	}

	it, err := fl.root.Fields()
	if err != nil {
		return nil, redactConflicts(append(probs, ProblemAt(nil, KindInvalid, "a fleet configuration must be a struct with hosts: and, optionally, defaults:", "")))
	}
	siteFields := fieldNames(s.config)
	for it.Next() {
		label := it.Selector().Unquoted()
		if s.fleetDef.Allows(it.Selector()) {
			continue
		}
		p := ProblemAt([]string{label}, KindUnknownField, "unknown top-level field in a fleet configuration (one with hosts:)",
			`hosts (one site configuration per host) or defaults (what every host gets unless it sets it)`,
			fl.locate(cue.MakePath(it.Selector()))...)
		if slices.Contains(siteFields, label) {
			p.Hint = fmt.Sprintf("defaults.%s (for every host) or hosts.<name>.%s (for one host)", label, label)
		}
		probs = append(probs, p)
	}

	fl.defaults = fl.root.LookupPath(cue.MakePath(cue.Str(fleetDefaults)))
	if fl.defaults.Exists() {
		if fleetmerge.SchemaField(s.fleetDef, fleetDefaults).Unify(fl.defaults).Err() != nil {
			probs = append(probs, ProblemAt([]string{fleetDefaults}, KindInvalid, "defaults must be a partial site configuration (a struct such as {immich: {...}})", "",
				fl.locate(cue.MakePath(cue.Str(fleetDefaults)))...))
		} else {
			// Unknown fields of defaults are reported once, here, and
			// left out of every host.
			for _, in := range l.inputs {
				d := in.LookupPath(cue.MakePath(cue.Str(fleetDefaults)))
				if !d.Exists() {
					continue
				}
				for _, p := range s.unknownFields(d, l) {
					fl.prune[p.PathString()] = true
					p.Path = append([]string{fleetDefaults}, p.Path...)
					probs = append(probs, p)
				}
			}
		}
	}

	fl.hosts = fl.root.LookupPath(cue.MakePath(cue.Str(fleetHosts)))
	hostsPath := cue.MakePath(cue.Str(fleetHosts))
	switch {
	case !fl.hosts.Exists():
		probs = append(probs, ProblemAt([]string{fleetHosts}, KindMissing, "required field is missing: a fleet configuration (one with defaults:) needs hosts",
			"one site configuration per host, such as hosts: {nas001: {immich: {...}}}"))
		return nil, redactConflicts(probs)
	case s.hostsShape(fl.hosts) == KindConflict:
		probs = append(probs, ProblemAt([]string{fleetHosts}, KindInvalid, "hosts must map host names to site configurations",
			"such as hosts: {nas001: {immich: {...}}}", fl.locate(hostsPath)...))
		return nil, redactConflicts(probs)
	}
	fl.hostValue = map[string]cue.Value{}
	labels := fl.hostLabels()
	hit, _ := fl.hosts.Fields()
	for hit.Next() {
		name := hit.Selector().Unquoted()
		path := []string{fleetHosts, pathLabel(name)}
		pos := labels(name)
		switch {
		case s.fleetHostName.Unify(s.ctx.Encode(name)).Err() != nil:
			probs = append(probs, ProblemAt(path, KindInvalid, fmt.Sprintf("%s is not a valid host name", strconv.Quote(name)), hostNameHint, pos...))
		case !isStruct(hit.Value()):
			probs = append(probs, ProblemAt(path, KindInvalid, "a host must be a site configuration (a struct such as {immich: {...}})", "", pos...))
		default:
			fl.names = append(fl.names, name)
			fl.hostPos[name] = pos
			fl.hostValue[name] = hit.Value()
		}
	}
	slices.Sort(fl.names)
	if len(fl.names) == 0 && len(probs) == 0 && s.hostsShape(fl.hosts) == KindConstraint {
		probs = append(probs, ProblemAt([]string{fleetHosts}, KindInvalid, "a fleet needs at least one host",
			"one site configuration per host, such as hosts: {nas001: {immich: {...}}}", fl.locate(hostsPath)...))
	}
	if len(fl.names) == 0 {
		return nil, redactConflicts(probs)
	}
	return fl, probs
}

// hostsShape checks the hosts: field against #Fleet: KindConflict when it
// is not a struct of hosts, KindConstraint when it has none, else
// KindInvalid for a shape that is right (each host is checked on its own).
func (s *Schema) hostsShape(hosts cue.Value) Kind {
	err := fleetmerge.SchemaField(s.fleetDef, fleetHosts).Unify(hosts).Err()
	for _, e := range cueerrors.Errors(err) {
		if len(e.Path()) == 2 { // #Fleet.hosts itself, not one host
			return cueKind(e)
		}
	}
	return KindInvalid
}

// isStruct reports whether v is a struct, even one with an error inside
// (which reports BottomKind).
func isStruct(v cue.Value) bool {
	_, err := v.Fields(cue.Optional(true))
	return err == nil
}

// hostOf returns the host a fleet problem path is about.
func hostOf(path []string) (string, bool) {
	if len(path) < 2 || path[0] != fleetHosts {
		return "", false
	}
	return path[1], true
}

// sitePath turns a fleet path (defaults.x.y, hosts.name.x.y) into the site
// path it configures (x.y), for schema hints.
func sitePath(path []string) []string {
	switch {
	case len(path) > 0 && path[0] == fleetDefaults:
		return path[1:]
	case len(path) > 1 && path[0] == fleetHosts:
		return path[2:]
	}
	return nil
}

// pathLabel shows a host name in a problem path, quoted if it could be
// mistaken for several path elements.
func pathLabel(name string) string {
	if name != "" && strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0 {
		return name
	}
	return strconv.Quote(name)
}

// locate returns the positions, in the user's inputs, of the value at path.
func (fl *fleet) locate(path cue.Path) []token.Pos { return fl.positions(path, fleetmerge.ValuePos) }

func (fl *fleet) positions(path cue.Path, pos func(cue.Value) token.Pos) []token.Pos {
	var out []token.Pos
	for _, in := range fl.l.inputs {
		v := in.LookupPath(path)
		if !v.Exists() {
			continue
		}
		out = addPos(out, fl.l.position(pos(v)))
	}
	return out
}

// redactConflicts hides the values of a conflict about a secret, which
// CUE quotes: a conflict inside one file is found before there is a value
// to take the secrets from.
func redactConflicts(ps Problems) Problems {
	for i, p := range ps {
		if p.Kind == KindConflict && p.Secret {
			ps[i].Reason = "conflicting values (not shown: this is a secret)"
		}
	}
	return ps
}

// merged returns host name's site configuration laid over defaults, as
// syntax whose values keep their source positions.
func (fl *fleet) merged(name string) ast.Expr {
	if fl.merger == nil {
		fl.merger = fleetmerge.NewMerger(fl.defaults, fl.s.config, func(path string) bool { return fl.prune[path] })
	}
	return fl.merger.Merge(fl.hostValue[name])
}

// hostResult is one host's validation.
type hostResult struct {
	cfg       *Config
	positions map[string][]token.Pos
	probs     Problems
}

// validateHosts merges and validates the hosts, in parallel. Merging
// needs the fleet's values, which belong to s's context, so s merges and
// each worker validates with its own compiled schema (a CUE context is
// not safe for concurrent use). A small fleet is merged first and worker
// 0 validates with s; a large one is merged as the workers go, a few
// hosts ahead of them (mergeAhead), because every merged host kept
// waiting is a copy of its configuration: a third of what a 5,000-host
// validation kept live. results[i] is selected[i]'s.
func (s *Schema) validateHosts(fl *fleet, selected []string, opt Options, fo FleetOptions) ([]hostResult, error) {
	results := make([]hostResult, len(selected))
	exprs := make([]ast.Expr, len(selected))
	// The input names decide which positions are the user's; workers only
	// read them.
	names, noLine := fl.l.names, fl.l.noLine
	workers := parallel.Workers(fo.Workers, len(selected))
	schemas := make([]*Schema, workers)
	errs := make([]error, workers)
	ready := func(int) {}
	if workers == 1 || len(selected) <= mergeAll {
		for i, name := range selected {
			exprs[i] = fl.merged(name)
		}
		schemas[0] = s
	} else {
		ready = mergeAhead(fl, selected, exprs, workers)
	}
	parallel.ForEach(len(selected), workers, func(w, i int) {
		ready(i)
		defer func() { exprs[i] = nil }()
		if r, ok := plainFleetHost(exprs[i], names, noLine, opt); ok {
			results[i] = r
			return
		}
		if schemas[w] == nil && errs[w] == nil {
			schemas[w], errs[w] = Compile()
		}
		if errs[w] != nil {
			return
		}
		results[i] = schemas[w].validateHost(exprs[i], names, noLine, opt)
	}, func(done int) {
		if fo.Progress != nil {
			fo.Progress(done, len(selected))
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

// validateHost validates one host's merged configuration, as Load does a
// site: unknown fields, secrets, the schema, the Go rules.
func (s *Schema) validateHost(expr ast.Expr, names, noLine map[string]bool, opt Options) hostResult {
	v := s.ctx.BuildExpr(expr)
	refers := mayRefer(expr)
	newLoaded := func() *loaded {
		l := &loaded{value: s.config, names: names, noLine: noLine, refers: refers}
		l.inputs = []cue.Value{v}
		l.value = l.value.Unify(v)
		return l
	}
	if err := v.Err(); err != nil {
		return hostResult{probs: s.cueProblems(err, &loaded{names: names, noLine: noLine})}
	}
	h, err := s.validateTwoPass(newLoaded, opt)
	if err == nil {
		return hostResult{cfg: h.Config, positions: h.positions}
	}
	ps, ok := err.(Problems)
	if !ok {
		ps = Problems{ProblemAt(nil, KindInternal, err.Error(), "")}
	}
	return hostResult{probs: ps}
}
