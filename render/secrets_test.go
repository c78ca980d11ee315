package render

import (
	"bytes"
	"path"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// TestSecretsOnlyInSecretsTree: the plaintext passwords, however hostile,
// are written byte-exact to 0600 files under --secrets-out and appear
// nowhere under -o, in any encoding a reader might decode.
func TestSecretsOnlyInSecretsTree(t *testing.T) {
	env := map[string]string{
		"IMMICH_POSTGRES_PASSWORD": `pg 'quote" \back $HOME %i #x ünï 日本`,
		"IMMICH_VALKEY_PASSWORD":   `>valkey #1 $$ %% "q" \n-literal`,
		"VALKEY_ADMIN_PASSWORD":    `admin: {yaml} [flow] & *alias`,
	}
	cfg := testenv.Config(t, env, `immich: nginx: {enabled: true, hostname: "photos.example.com", acme: email: "a@example.com"}
		valkey: users: [{username: "svc", password: "svc-password-0123", keyPatterns: ["svc*"], commands: "-@all +@read -@dangerous"}]`)
	r := Render(cfg)
	dir := path.Join("rootfs", cfg.Immich.ProjectDir, "secrets")
	for file, want := range map[string]string{"db_password": env["IMMICH_POSTGRES_PASSWORD"], "redis_password": env["IMMICH_VALKEY_PASSWORD"]} {
		f, ok := r.Secrets[path.Join(dir, file)]
		if !ok || string(f.Data) != want || f.Mode != 0o600 {
			t.Errorf("%s: present %v, mode %o, bytes %q, want %q", file, ok, f.Mode, f.Data, want)
		}
	}
	secrets := cfg.Secrets()
	for _, p := range r.Out.Paths() {
		data := r.Out[p].Data
		for _, s := range secrets {
			v := s.Secret.Value
			if bytes.Contains(data, []byte(v)) || bytes.Contains(data, []byte(strings.ReplaceAll(v, "$", "$$"))) {
				t.Errorf("%s contains the secret of %s", p, s.Path)
			}
		}
	}
	for _, p := range r.Secrets.Paths() {
		if !strings.HasPrefix(p, dir+"/") && !strings.HasPrefix(p, "cloud-init/") {
			t.Errorf("unexpected file in the secrets tree: %s", p)
		}
		if r.Secrets[p].Mode != 0o600 {
			t.Errorf("%s: mode %o, want 0600", p, r.Secrets[p].Mode)
		}
	}
}
