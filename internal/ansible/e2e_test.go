package ansible_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/ansible"
	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/valkeytest"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
)

// loadEnv reads immich.secrets.env the way the README says to load it:
// sh with set -a, so the test proves the quoting too.
func loadEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	out, err := exec.Command("sh", "-c", `set -a; . "$1"; set +a; env -0`, "sh", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, 0); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		env[k] = v
	}
	return env
}

// TestImportRendersSafely: the README inventory imports, passes vet,
// renders, and the rendered users.acl loads in valkey-server and refuses
// FLUSHALL and FLUSHDB to the Immich user, while no secret value appears
// in immich.cue or in anything rendered.
func TestImportRendersSafely(t *testing.T) {
	f := newFixture(t)
	inv := readmeInventory(f)
	// Another service with the role's kind of rules, and a password that
	// needs quoting in sh.
	// Its password is a !vault value inside the list.
	hv := strings.Replace(readFile(t, f.path("host_vars/yourserver.yml")), "  # Add other services here as needed\n",
		"  - username: paperless\n    "+f.encryptString("password", "paperless-pass-'quoted' $HOME", "")+`    keypattern: "paperless*"
    commands: "-@dangerous +@read +@write"
`, 1)
	f.write("inv/host_vars/yourserver.yml", hv)

	res := checkOracle(t, f, inv)
	out := filepath.Join(f.dir, "site")
	if _, err := ansible.Write(out, res, false); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(out, ansible.EnvFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", ansible.EnvFile, err, st.Mode())
	}
	env := loadEnv(t, filepath.Join(out, ansible.EnvFile))
	secrets := []string{"host-postgres-password-1", "host-valkey-password-22", "your-valkey-admin-password", "paperless-pass-'quoted' $HOME"}
	for _, s := range secrets {
		found := false
		for _, v := range env {
			found = found || v == s
		}
		if !found {
			t.Errorf("the env file does not give %q back through sh", s)
		}
	}

	cueData := []byte(readFile(t, filepath.Join(out, ansible.CUEFile)))
	s, err := schema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Load([]schema.Input{{Name: ansible.CUEFile, Data: cueData}}, schema.Options{LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	if err != nil {
		t.Fatalf("the imported configuration does not pass vet:\n%v\n%s", err, cueData)
	}
	if cfg.Immich.Timezone != "America/New_York" || cfg.Immich.Network.Subnet != "172.20.0.0/16" || !cfg.Immich.Nginx.Enabled {
		t.Errorf("imported config lost values: %+v", cfg.Immich)
	}
	r := render.Render(cfg, render.Options{Secrets: true})
	for _, sec := range secrets {
		if bytes.Contains(cueData, []byte(sec)) {
			t.Errorf("immich.cue contains the secret %q", sec)
		}
		for _, p := range r.Out.Paths() {
			if bytes.Contains(r.Out[p].Data, []byte(sec)) {
				t.Errorf("rendered %s contains a secret", p)
			}
		}
	}

	bin := testenv.Binary(t, "valkey-server")
	acl := filepath.Join(t.TempDir(), "users.acl")
	if err := os.WriteFile(acl, r.Out["rootfs/etc/valkey/users.acl"].Data, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := valkeytest.Start(valkeytest.Options{Binary: bin, Args: []string{"--aclfile", acl}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, u := range []struct{ user, pw string }{{"immich", "host-valkey-password-22"}, {"paperless", "paperless-pass-'quoted' $HOME"}} {
		c, err := srv.Dial()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := c.Do("AUTH", u.user, u.pw); got != "OK" {
			t.Fatalf("AUTH %s: %v", u.user, got)
		}
		for _, cmd := range [][]string{{"FLUSHALL"}, {"FLUSHDB"}, {"KEYS", "*"}} {
			got, err := c.Do(cmd...)
			if e, ok := got.(valkeytest.Error); err != nil || !ok || !strings.HasPrefix(string(e), "NOPERM") {
				t.Errorf("%s %s: %v %v, want NOPERM", u.user, cmd[0], got, err)
			}
		}
		c.Close()
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
