package schema

import (
	"maps"
	"slices"
	"testing"

	"cuelang.org/go/cue"

	"github.com/immich-render/immich-render/internal/fleetmerge"
)

// TestSettingsDefinitionsCompile: every generated settings definition
// compiles with the #Secret it refers to and is a closed struct.
func TestSettingsDefinitionsCompile(t *testing.T) {
	s, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, ss := range settingsSchemas {
		def, err := s.settingsDef(ss)
		if err != nil {
			t.Errorf("%s: %v", ss.File, err)
			continue
		}
		if def.Allows(cue.Str("machineLearing")) {
			t.Errorf("%s: #Settings is open", ss.File)
		}
		if !def.Allows(cue.Str("machineLearning")) {
			t.Errorf("%s: #Settings lacks machineLearning", ss.File)
		}
	}
}

// TestSettingsSecretFields: the secret settings of SecretFields are
// exactly those the generated definitions take a reference at.
func TestSettingsSecretFields(t *testing.T) {
	var table []string
	for _, f := range SecretFields {
		if f.Setting {
			table = append(table, f.Path)
		}
	}
	gen := settingsSecretPaths()
	slices.Sort(table)
	slices.Sort(gen)
	if !slices.Equal(table, gen) {
		t.Errorf("SecretFields has the secret settings %v; the generated definitions %v", table, gen)
	}
}

// TestSettingsSecretIsConfigSecret: settings/secret.cue's #Secret accepts
// exactly what the configuration's #Secret does.
func TestSettingsSecretIsConfigSecret(t *testing.T) {
	s, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	def, err := s.settingsDef(settingsSchemas[len(settingsSchemas)-1])
	if err != nil {
		t.Fatal(err)
	}
	// The OAuth client secret is a #Secret in every definition.
	settingsSecret := fleetmerge.SchemaField(fleetmerge.SchemaField(def, "oauth"), "clientSecret")
	configSecret := fleetmerge.SchemaField(fleetmerge.SchemaField(fleetmerge.SchemaField(s.config, "immich"), "postgres"), "password")
	if !settingsSecret.Exists() || !configSecret.Exists() {
		t.Fatal("secret fields not found")
	}
	// Subsume cannot compare closed structs in disjunctions across
	// instances, so the two are compared on values either way.
	for _, c := range []struct {
		v  string
		ok bool
	}{
		{`"x"`, true}, {`{env: "A_B"}`, true}, {`{env: "_a1"}`, true}, {`{file: "/run/x"}`, true}, {`{file: "/a b/ü.txt"}`, true},
		{`{env: "1A"}`, false}, {`{env: "A-B"}`, false}, {`{file: "rel"}`, false}, {`{file: "/a/../b"}`, false}, {`{file: "//x"}`, false},
		{`{file: "/x "}`, false}, {`{env: "A", file: "/x"}`, false}, {`{env: "A", other: 1}`, false}, {`1`, false}, {`{}`, false},
	} {
		for name, def := range map[string]cue.Value{"settings": settingsSecret, "configuration": configSecret} {
			err := def.Unify(s.ctx.CompileString(c.v)).Validate(cue.Concrete(true))
			if (err == nil) != c.ok {
				t.Errorf("the %s #Secret: %s accepted=%v, want %v", name, c.v, err == nil, c.ok)
			}
		}
	}
}

// TestSettingsSchemaFor maps Immich versions to definitions: the minor's
// own, else the next of its major, else the last before it (newer), and the
// newest for a version past all of them (newer).
func TestSettingsSchemaFor(t *testing.T) {
	for _, c := range []struct {
		version string
		sdk     string
		newer   bool
	}{
		{"v1.137.0", "1.138.1", false},
		{"v1.138.0", "1.138.1", false},
		{"v1.144.2", "1.138.1", true},
		{"v2.0.0", "2.2.3", false},
		{"v2.3.0", "2.3.1", false},
		{"v2.5.0", "2.7.5", false},
		{"v2.7.5", "2.7.5", false},
		{"v2.9.0", "2.7.5", true},
		{"v3.0.1", "3.0.3", false},
		{"v3.2.0", "3.2.2", false},
		{"v3.4.0", "3.2.2", true},
		{"v4.0.0", "3.2.2", true},
	} {
		sdk, _, newer, ok := SettingsSchemaFor(c.version)
		if !ok || sdk != c.sdk || newer != c.newer {
			t.Errorf("%s: @immich/sdk %s newer=%v ok=%v; want %s newer=%v", c.version, sdk, newer, ok, c.sdk, c.newer)
		}
	}
	if _, _, _, ok := SettingsSchemaFor("latest"); ok {
		t.Error("latest has a settings schema")
	}
}

// TestSettingsCompiledOnDemand: a load compiles only the definition its
// version needs, and none without settings.
func TestSettingsCompiledOnDemand(t *testing.T) {
	s, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	site := func(extra string) []Input {
		return []Input{{Name: "site.cue", Data: []byte(`immich: {
	version: "v3.1.0"
	uploadLocation: "/mnt/u"
	network: {subnet: "172.20.0.0/16", gateway: "172.20.0.1"}
	postgres: password: "postgres-password"
	valkey: password: "valkey-password-1"
}
valkey: adminPassword: "valkey-admin-password"
` + extra)}}
	}
	if _, err := s.Load(site(""), Options{}); err != nil {
		t.Fatal(err)
	}
	if len(s.settings) != 0 {
		t.Errorf("compiled %d settings definitions for a site without settings", len(s.settings))
	}
	if _, err := s.Load(site(`immich: settings: trash: days: 10`), Options{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.settings["settings/v3.1.cue"]; len(s.settings) != 1 || !ok {
		t.Errorf("compiled %v; want settings/v3.1.cue only", slices.Sorted(maps.Keys(s.settings)))
	}
}

// TestParseVersion accepts exactly the tags #Version does.
func TestParseVersion(t *testing.T) {
	for v, want := range map[string][3]int{"v3.1.0": {3, 1, 0}, "v1.137.12": {1, 137, 12}, "v0.0.0": {0, 0, 0}} {
		if got, ok := ParseVersion(v); !ok || got != want {
			t.Errorf("%s: %v %v", v, got, ok)
		}
	}
	for _, v := range []string{"", "v", "3.1.0", "v3.1", "v3.1.0.1", "v03.1.0", "v3.1.0-rc.1", "v-1.0.0", "v+1.0.0", "v3..0", "latest", "v99999999.0.0"} {
		if got, ok := ParseVersion(v); ok {
			t.Errorf("%q parsed as %v", v, got)
		}
	}
}
