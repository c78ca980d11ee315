// Package testenv is shared test support: finding the real consumer
// programs (skipping without them, failing under IMMICH_RENDER_INTEGRATION=1)
// and building validated configurations from CUE snippets.
package testenv

import (
	"os"
	"os/exec"
	"testing"

	"github.com/immich-render/immich-render/schema"
)

// Integration reports whether integration tests must run rather than skip.
func Integration() bool { return os.Getenv("IMMICH_RENDER_INTEGRATION") == "1" }

// servers are the programs a test starts as a server: `go test -short`
// (make unit) starts none of them, so it passes on a machine without them.
var servers = map[string]bool{
	"redis-server": true, "valkey-server": true, "postgres": true,
	"nginx": true, "podman": true, "podman-compose": true,
}

// Binary returns the path of a consumer program. Without it the test is
// skipped, or fails when IMMICH_RENDER_INTEGRATION=1, where a skip would
// hide a missing install step in CI. Under -short a server program is
// skipped whether or not it is installed.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if servers[name] {
		ShortSkip(t, name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, name+" is not installed")
	}
	return p
}

// ShortSkip skips a test that starts the server program name under -short.
func ShortSkip(t testing.TB, name string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: starts no %s", name)
	}
}

// Skip skips the test with reason, or fails it under IMMICH_RENDER_INTEGRATION=1.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if Integration() {
		t.Fatalf("%s (IMMICH_RENDER_INTEGRATION=1 forbids skipping)", reason)
	}
	t.Skip(reason)
}

// Minimal is the smallest valid site: the required fields only, with
// secrets from the environment variables that Secrets provides.
const Minimal = `
immich: {
	version:        "v3.1.0"
	uploadLocation: "/mnt/storage/immich/upload"
	network: {subnet: "172.20.0.0/16", gateway: "172.20.0.1"}
	postgres: password: {env: "IMMICH_POSTGRES_PASSWORD"}
	valkey: password: {env: "IMMICH_VALKEY_PASSWORD"}
}
valkey: adminPassword: {env: "VALKEY_ADMIN_PASSWORD"}
`

// Fleet is the smallest valid fleet: Minimal as the defaults, and hosts
// (CUE struct fields, such as `nas001: {}`) as its hosts.
func Fleet(hosts string) string {
	return "defaults: {" + Minimal + "}\nhosts: {\n" + hosts + "\n}\n"
}

// Secrets are test values for Minimal's environment variables.
var Secrets = map[string]string{
	"IMMICH_POSTGRES_PASSWORD": "pg-secret-0123456789",
	"IMMICH_VALKEY_PASSWORD":   "valkey-secret-0123456789",
	"VALKEY_ADMIN_PASSWORD":    "admin-secret-0123456789",
}

// Config loads Minimal unified with extra CUE snippets (each a separate
// input, as several -c files would be) and env on top of Secrets. It fails
// the test on any problem.
func Config(t testing.TB, env map[string]string, extra ...string) *schema.Config {
	t.Helper()
	cfg, err := Load(env, extra...)
	if err != nil {
		t.Fatalf("loading test configuration:\n%v", err)
	}
	return cfg
}

// Load is Config without the test: it returns the problems.
func Load(env map[string]string, extra ...string) (*schema.Config, error) {
	s, err := schema.Compile()
	if err != nil {
		return nil, err
	}
	inputs := []schema.Input{{Name: "minimal.cue", Data: []byte(Minimal)}}
	for i, e := range extra {
		inputs = append(inputs, schema.Input{Name: "extra" + string(rune('0'+i)) + ".cue", Data: []byte(e)})
	}
	return s.Load(inputs, schema.Options{LookupEnv: func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		v, ok := Secrets[k]
		return v, ok
	}})
}
