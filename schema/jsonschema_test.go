package schema

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue/cuecontext"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// compiledJSONSchema compiles JSONSchema() with a real validator, which
// also checks that it is a valid draft 2020-12 schema.
func compiledJSONSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	src, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("JSONSchema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(JSONSchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(JSONSchemaID)
	if err != nil {
		t.Fatalf("JSONSchema does not compile: %v", err)
	}
	return sch
}

// asJSON reads a configuration file as the JSON value an editor sees.
func asJSON(t *testing.T, name string, data []byte) any {
	t.Helper()
	var j []byte
	switch filepath.Ext(name) {
	case ".cue":
		v := cuecontext.New().CompileBytes(data)
		b, err := v.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		j = b
	case ".yaml", ".yml":
		var x any
		if err := yaml.Unmarshal(data, &x); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return x
	default:
		j = data
	}
	x, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return x
}

// Every example in CUE, YAML and JSON is valid under the JSON Schema, and
// so are the starters (Jsonnet is code, not data).
func TestJSONSchemaExamples(t *testing.T) {
	sch := compiledJSONSchema(t)
	files, _ := filepath.Glob("../examples/*/immich.*")
	for _, f := range []string{"yaml", "json", "cue"} {
		files = append(files, "starter/immich."+f)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".jsonnet") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(asJSON(t, f, data)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("validated only %d files", n)
	}
}

// The validator refuses what vet refuses at the level of fields and types.
func TestJSONSchemaInvalid(t *testing.T) {
	sch := compiledJSONSchema(t)
	base := `
immich:
  version: v3.1.0
  uploadLocation: /mnt/u
  network: {subnet: 172.20.0.0/16, gateway: 172.20.0.1}
  postgres: {password: {env: PG}}
  valkey: {password: {env: VK}}
valkey: {adminPassword: {env: ADMIN}}
`
	if err := sch.Validate(asJSON(t, "base.yaml", []byte(base))); err != nil {
		t.Fatalf("the valid base: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown field":   base + "imich: {}\n",
		"unknown nested":  strings.Replace(base, "uploadLocation:", "uploadLocaton:", 1),
		"missing version": strings.Replace(base, "  version: v3.1.0\n", "", 1),
		"port type":       strings.Replace(base, "  version: v3.1.0\n", "  version: v3.1.0\n  port: \"80\"\n", 1),
		"unknown top":     base + "immich2: 1\n",
		"bad tls":         strings.Replace(base, "  version: v3.1.0\n", "  version: v3.1.0\n  nginx: {tls: acmee}\n", 1),
		"secret shape":    strings.Replace(base, "{env: PG}", "{environment: PG}", 1),
		"fleet host name": "hosts:\n  Bad_Name: {}\n",
		"empty fleet":     "hosts: {}\n",
	} {
		if err := sch.Validate(asJSON(t, name+".yaml", []byte(doc))); err == nil {
			t.Errorf("%s: valid under the JSON Schema, want refused", name)
		}
	}
}

// docs/reference.md is Reference(); UPDATE_GOLDEN=1 rewrites it.
func TestReferenceDoc(t *testing.T) {
	got, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	const name = "../docs/reference.md"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not the schema's reference: run make golden", name)
	}
}
