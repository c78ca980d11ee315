package schema

import (
	"embed"
	"fmt"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/parser"
)

// The settings definitions under settings/ are generated from Immich's
// published SDK types (npm @immich/sdk, build/fetch-client.d.ts), one per
// Immich minor release that published it, with the table settingsSchemas
// (settings_gen.go). Regenerate with `go generate ./schema` (needs node
// and the npm registry).
//
//go:generate go run ../internal/immichsdk/gen -dir .

//go:embed settings/*.cue
var settingsFiles embed.FS

// settingsSchema is one generated settings definition.
type settingsSchema struct {
	Minor   [2]int   // the Immich minor release whose SDK it was generated from
	SDK     string   // the @immich/sdk version
	Root    string   // the SDK's name of the settings type
	File    string   // under settings/
	Secrets []string // paths under immich.settings that take a secret reference
}

// settingsPath is where the settings are in a configuration.
var settingsPath = cue.ParsePath("immich.settings")

// SettingsSchemaFor says which generated settings definition checks the
// settings of an Immich version: the one of its minor release; for a minor
// that published no SDK, the next one of the same major that did (Immich
// adds settings within a major and removes them at a major), or else the
// last one before it. Newer is true when the version is newer than that
// definition's release, so that its newest settings are unknown here.
func SettingsSchemaFor(version string) (sdk string, minor [2]int, newer, ok bool) {
	s, newer, ok := settingsSchemaFor(version)
	return s.SDK, s.Minor, newer, ok
}

func settingsSchemaFor(version string) (settingsSchema, bool, bool) {
	v, ok := ParseVersion(version)
	if !ok || len(settingsSchemas) == 0 {
		return settingsSchema{}, false, false
	}
	m := [2]int{v[0], v[1]}
	var below *settingsSchema
	for i := range settingsSchemas {
		s := &settingsSchemas[i]
		if s.Minor[0] != m[0] {
			continue
		}
		if !lessMinor(s.Minor, m) {
			return *s, false, true
		}
		below = s
	}
	if below != nil {
		return *below, true, true
	}
	last := settingsSchemas[len(settingsSchemas)-1]
	if lessMinor(last.Minor, m) {
		return last, true, true
	}
	// Older than every definition (the schema refuses such versions).
	return settingsSchemas[0], false, true
}

func lessMinor(a, b [2]int) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

// ParseVersion reads an Immich release tag vMAJOR.MINOR.PATCH.
func ParseVersion(v string) ([3]int, bool) {
	var out [3]int
	rest, ok := strings.CutPrefix(v, "v")
	if !ok {
		return out, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n := 0
		if p == "" || len(p) > 1 && p[0] == '0' {
			return out, false
		}
		for _, c := range p {
			if c < '0' || c > '9' || n > 1e6 {
				return out, false
			}
			n = n*10 + int(c-'0')
		}
		out[i] = n
	}
	return out, true
}

// settingsDef compiles (once per Schema) the settings definition of one
// generated file, with the #Secret it refers to.
func (s *Schema) settingsDef(ss settingsSchema) (cue.Value, error) {
	if v, ok := s.settings[ss.File]; ok {
		return v, nil
	}
	inst := build.NewContext().NewInstance("", nil)
	for _, name := range []string{ss.File, "settings/secret.cue"} {
		src, err := settingsFiles.ReadFile(name)
		if err != nil {
			return cue.Value{}, err
		}
		f, err := parser.ParseFile(schemaPrefix+name, src)
		if err != nil {
			return cue.Value{}, fmt.Errorf("embedded settings schema: %w", err)
		}
		if err := inst.AddSyntax(f); err != nil {
			return cue.Value{}, fmt.Errorf("embedded settings schema: %w", err)
		}
	}
	v := s.ctx.BuildInstance(inst).LookupPath(cue.ParsePath("#Settings"))
	if err := v.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("embedded settings schema %s: %w", ss.File, err)
	}
	if s.settings == nil {
		s.settings = map[string]cue.Value{}
	}
	s.settings[ss.File] = v
	return v, nil
}

// settingsFor is the settings definition for the Immich version of a
// configuration value, or false when the value has no settings or no
// readable version (the schema reports the version).
func (s *Schema) settingsFor(v cue.Value) (cue.Value, bool) {
	if !v.LookupPath(settingsPath).Exists() {
		return cue.Value{}, false
	}
	version, err := v.LookupPath(cue.ParsePath("immich.version")).String()
	if err != nil {
		return cue.Value{}, false
	}
	ss, _, ok := settingsSchemaFor(version)
	if !ok {
		return cue.Value{}, false
	}
	def, err := s.settingsDef(ss)
	if err != nil {
		panic(err) // the embedded files are tested to compile
	}
	return def, true
}

// applySettings unifies immich.settings with the definition for
// immich.version, once.
func (s *Schema) applySettings(l *loaded) {
	if l.settingsDone {
		return
	}
	l.settingsDone = true
	if def, ok := s.settingsFor(l.value); ok {
		l.settings = def
		l.value = l.value.FillPath(settingsPath, def)
	}
}

// misplacedReference words a conflict at a setting that an input gives
// a secret reference ({env: ...} or {file: ...}) but that is no secret.
func (l *loaded) misplacedReference(p Problem) (string, bool) {
	if p.Kind != KindConflict || !hasPathPrefix(p.Path, []string{"immich", "settings"}) || isSecretPath(p.Path) {
		return "", false
	}
	for _, in := range l.inputs {
		v := in.LookupPath(cuePath(p.Path))
		if v.LookupPath(cue.ParsePath("env")).Exists() || v.LookupPath(cue.ParsePath("file")).Exists() {
			var secrets []string
			for _, f := range SecretFields {
				if f.Setting {
					secrets = append(secrets, f.Path)
				}
			}
			return "a secret reference ({env} or {file}) where Immich takes no secret; only " + strings.Join(secrets, " and ") + " take one", true
		}
	}
	return "", false
}

// settingsSecretPaths lists every settings path of any version that takes
// a secret reference, for SecretFields' test.
func settingsSecretPaths() []string {
	seen := map[string]bool{}
	var out []string
	for _, ss := range settingsSchemas {
		for _, p := range ss.Secrets {
			if !seen[p] {
				seen[p] = true
				out = append(out, "immich.settings."+p)
			}
		}
	}
	return out
}
