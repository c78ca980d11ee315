package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue/parser"
)

const base = `immich: {
	version:        "v3.1.0"
	uploadLocation: "/mnt/storage/immich/upload"
	network: {subnet: "172.20.0.0/16", gateway: "172.20.0.1"}
	postgres: password: {env: "PG"}
	valkey: password: {env: "VK"}
}
valkey: adminPassword: {env: "ADM"}
`

func load(t *testing.T, env map[string]string, files ...string) (*Config, Problems) {
	t.Helper()
	s, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	var inputs []Input
	for i, f := range files {
		inputs = append(inputs, Input{Name: "in" + string(rune('a'+i)) + ".cue", Data: []byte(f)})
	}
	cfg, err := s.Load(inputs, Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		var ps Problems
		if !errors.As(err, &ps) {
			t.Fatalf("Load returned %T, want Problems: %v", err, err)
		}
		return nil, ps
	}
	return cfg, nil
}

var okEnv = map[string]string{"PG": "postgres-password", "VK": "valkey-password!", "ADM": "admin-password!!"}

func TestSecretsFromEverySource(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "paperless")
	if err := os.WriteFile(file, []byte("paperless-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, ps := load(t, okEnv, base, `valkey: users: [
		{username: "paperless", password: {file: "`+file+`"}, keyPatterns: ["paperless*"], commands: "-@all +@read -@dangerous"},
		{username: "other", password: {env: "PG"}, keyPatterns: ["other*"], commands: "-@all +@read -@dangerous"},
		{username: "lit", password: "a literal password", keyPatterns: ["lit*"], commands: "-@all +@read -@dangerous"},
	]`)
	if ps != nil {
		t.Fatal(ps)
	}
	for path, want := range map[string][2]string{
		"immich.postgres.password": {"postgres-password", "environment variable PG"},
		"valkey.adminPassword":     {"admin-password!!", "environment variable ADM"},
		"valkey.users.0.password":  {"paperless-password", "file " + file},
		"valkey.users.1.password":  {"postgres-password", "environment variable PG"},
		"valkey.users.2.password":  {"a literal password", "the configuration"},
	} {
		found := false
		for _, ns := range cfg.Secrets() {
			if ns.Path == path {
				found = true
				if ns.Secret.Value != want[0] || ns.Secret.Source != want[1] {
					t.Errorf("%s = %q from %q, want %q from %q", path, ns.Secret.Value, ns.Secret.Source, want[0], want[1])
				}
			}
		}
		if !found {
			t.Errorf("no secret at %s", path)
		}
	}
}

// TestProblemsNeverShowSecrets: no message shows a password, whether it is
// too short, conflicts, or merely sits next to another error.
func TestProblemsNeverShowSecrets(t *testing.T) {
	env := map[string]string{"PG": "sh0rt", "VK": "valkey password with ws ", "ADM": "admin-password!!"}
	_, ps := load(t, env, base, `immich: port: 0`, `valkey: users: [{username: "u", password: "lit-eral-pw", keyPatterns: ["u*"], commands: "-@all +@read -@dangerous"}]`)
	if ps == nil {
		t.Fatal("want problems")
	}
	msg := ps.Error()
	for _, secret := range []string{"sh0rt", "valkey password with ws", "lit-eral-pw"} {
		if strings.Contains(msg, secret) {
			t.Errorf("message shows secret %q:\n%s", secret, msg)
		}
	}
	for _, want := range []string{
		"immich.postgres.password: the secret from environment variable PG is 5 characters long; at least 12 are required",
		"immich.valkey.password: the secret from environment variable VK starts or ends with white space",
		"valkey.users.0.password: the secret from the configuration is 11 characters long",
		"immich.port: invalid value 0",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestSecretRefShapes(t *testing.T) {
	_, ps := load(t, okEnv, base, `valkey: adminPassword: {env: "ADM", file: "/x"}`)
	if ps == nil || !strings.Contains(ps.Error(), "valkey.adminPassword") {
		t.Errorf("a secret with both env and file must be refused: %v", ps)
	}
	_, ps = load(t, okEnv, base, `valkey: adminPassword: {file: "relative"}`)
	if ps == nil || !strings.Contains(ps.Error(), "valkey.adminPassword") {
		t.Errorf("a relative secret file must be refused: %v", ps)
	}
}

func TestProblemsAreSortedAndUnique(t *testing.T) {
	_, ps := load(t, okEnv, `immich: {port: 0, version: "x", uploadLocation: "y", typo: 1}`)
	for i := 1; i < len(ps); i++ {
		if comparePath(ps[i-1].Path, ps[i].Path) > 0 {
			t.Errorf("not sorted: %s before %s", ps[i-1].Path, ps[i].Path)
		}
		if ps[i-1].String() == ps[i].String() {
			t.Errorf("duplicate: %s", ps[i])
		}
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"valkey.users.2.x", "valkey.users.10.x", -1},
		{"valkey.users.10.x", "valkey.users.2.x", 1},
		{"a.2a", "a.10", 1}, // "2a" is a name, not the index 2
		{"a.2", "a.2.b", -1},
		{"a.-1", "a.1", -1}, // a name, ordered as text
	} {
		if got := comparePath(splitPath(tc.a), splitPath(tc.b)); got != tc.want {
			t.Errorf("comparePath(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestUnknownFieldSuggestsClosest(t *testing.T) {
	_, ps := load(t, okEnv, base, `immich: nginx: hostnme: "x"`)
	if ps == nil || !strings.Contains(ps.Error(), `want: "hostname"?`) {
		t.Errorf("no suggestion: %v", ps)
	}
}

func TestStartersValidate(t *testing.T) {
	s, _ := Compile()
	env := map[string]string{"IMMICH_POSTGRES_PASSWORD": "postgres-password", "IMMICH_VALKEY_PASSWORD": "valkey-password!", "VALKEY_ADMIN_PASSWORD": "admin-password!!"}
	for _, f := range []string{"cue", "yaml", "json", "jsonnet"} {
		src, ok := Starter(f)
		if !ok {
			t.Fatalf("no %s starter", f)
		}
		if _, err := s.Load([]Input{{Name: "immich." + f, Data: src}}, Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}); err != nil {
			t.Errorf("%s starter: %v", f, err)
		}
	}
	if _, ok := Starter("toml"); ok {
		t.Error("toml starter exists")
	}
}

// TestMayRefer: only an identifier outside a label can refer to a field;
// a label, a string that looks like a path and a number cannot.
func TestMayRefer(t *testing.T) {
	for src, want := range map[string]bool{
		`immich: {version: "v3.1.0", port: 8080, "a.b": true}`: false,
		`immich: backup: keep: immich.backup.keep`:             true,
		`immich: port: int`:                          true,
		`immich: projectDir: "\(immich.modelCache)"`: true,
		`x=immich: {port: 1}`:                        false,
		`immich: [for p in [1] {p}]`:                 true,
	} {
		f, err := parser.ParseFile("in.cue", src)
		if err != nil {
			t.Fatal(err)
		}
		if got := mayRefer(f); got != want {
			t.Errorf("mayRefer(%s) = %v, want %v", src, got, want)
		}
	}
}
