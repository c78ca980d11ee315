package render

import (
	"bytes"
	"path"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
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
	r := Render(cfg, all)
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

// all renders everything, the secrets tree and cloud-init included.
var all = Options{Secrets: true}

// treeOf is the -o tree of one renderer's files, for tests of that
// renderer alone; a secret file among them is a bug.
func treeOf(files []tree.File) tree.Tree {
	out := tree.Tree{}
	for _, f := range files {
		if f.Secret {
			panic(f.Path + " is a secret file")
		}
		out.AddOwned(f.Path, f.Data, f.Mode, f.Owner)
	}
	return out
}

// TestRenderWithoutSecrets: without --secrets-out, nothing of the secrets
// tree is made (cloud-init is the costliest artifact), and -o is the same.
func TestRenderWithoutSecrets(t *testing.T) {
	cfg := testenv.Config(t, nil, `immich: nginx: {enabled: true, hostname: "photos.example.com", acme: email: "a@example.com"}`)
	without, with := Render(cfg, Options{}), Render(cfg, all)
	if len(without.Secrets) != 0 {
		t.Errorf("secrets rendered without Options.Secrets: %v", without.Secrets.Paths())
	}
	if _, ok := with.Secrets[UserDataPath]; !ok {
		t.Fatalf("no user-data with Options.Secrets: %v", with.Secrets.Paths())
	}
	if len(without.Out) != len(with.Out) {
		t.Fatalf("-o differs: %v vs %v", without.Out.Paths(), with.Out.Paths())
	}
	for p, f := range with.Out {
		if g := without.Out[p]; !bytes.Equal(g.Data, f.Data) || g.Mode != f.Mode || g.Owner != f.Owner {
			t.Errorf("%s differs without secrets", p)
		}
	}
}
