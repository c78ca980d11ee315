package render

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/immich-render/immich-render/internal/pgtest"
	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/valkeytest"
)

// The rendered immich-verify passes shellcheck as a POSIX sh script, for
// the shapes of configuration that change its values.
func TestVerifyShellcheck(t *testing.T) {
	bin := testenv.Binary(t, "shellcheck")
	for name, extra := range map[string][]string{
		"default":  nil,
		"nginx":    {`immich: nginx: {enabled: true, hostname: "photos.example.com", acme: email: "a@example.com"}`},
		"external": {`immich: {postgres: host: "db.example.com", backup: enabled: false, projectDir: "/srv/immich here"}`},
	} {
		script := filepath.Join(t.TempDir(), "immich-verify")
		os.WriteFile(script, verifyScript(testenv.Config(t, nil, extra...)), 0o755)
		if out, err := exec.Command(bin, "-s", "sh", script).CombinedOutput(); err != nil {
			t.Errorf("%s: shellcheck: %v\n%s", name, err, out)
		}
	}
}

// TestVerifyDeployment runs the rendered immich-verify against a real
// PostgreSQL with Immich's role and the rendered pg_hba lines, a real
// Valkey 8 with the rendered users.acl, and an HTTP server that answers
// Immich's ping, all on loopback (the test's stand-in for the Immich
// network's gateway); only systemctl is a stand-in. It passes, and each
// broken piece fails it with its own line.
func TestVerifyDeployment(t *testing.T) {
	for _, b := range []string{"psql", "pg_isready", "curl", "sh"} {
		testenv.Binary(t, b)
	}
	vkBin := testenv.Binary(t, "valkey-server")
	if _, err := exec.LookPath("valkey-cli"); err != nil {
		testenv.Binary(t, "redis-cli")
	}
	pg := pgtest.Start(t)

	var down atomic.Bool
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/server/ping" || down.Load() {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"res":"pong"}`)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	vkPort, err := valkeytest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(t.TempDir(), "project")
	env := map[string]string{"IMMICH_POSTGRES_PASSWORD": "verify-postgres-password", "IMMICH_VALKEY_PASSWORD": "verify-valkey-password"}
	cfg := testenv.Config(t, env, fmt.Sprintf("immich: {projectDir: %q, port: %d, postgres: port: %d, valkey: port: %d}",
		project, l.Addr().(*net.TCPAddr).Port, pg.Port, vkPort))
	cfg.Immich.Network.Subnet, cfg.Immich.Network.Gateway, cfg.Immich.HostGateway = "127.0.0.0/8", "127.0.0.1", "127.0.0.1"
	r := Render(cfg, all)

	pg.Superuser(t, "postgres", "CREATE ROLE immich LOGIN PASSWORD 'verify-postgres-password'")
	pg.Superuser(t, "postgres", "CREATE DATABASE immich OWNER immich")
	pg.WriteHBA(t, pg.LocalHBA()+string(r.Out["fragments/postgresql/pg_hba.conf"].Data))

	acl := filepath.Join(t.TempDir(), "users.acl")
	os.WriteFile(acl, r.Out["rootfs/etc/valkey/users.acl"].Data, 0o640)
	startValkey(t, vkBin, valkeytest.Options{TCPPort: vkPort, Args: []string{"--aclfile", acl}})

	for p, f := range r.Secrets {
		if host, ok := strings.CutPrefix(p, "rootfs/"); ok && strings.HasPrefix("/"+host, project) {
			os.MkdirAll(filepath.Dir("/"+host), 0o700)
			os.WriteFile("/"+host, f.Data, 0o600)
		}
	}
	bin := t.TempDir()
	script := filepath.Join(bin, "immich-verify")
	os.WriteFile(script, r.Out[rootfs(VerifyScript)].Data, 0o755)
	// systemctl is-active UNIT: "active", unless UNIT is $FAILED_UNIT.
	os.WriteFile(filepath.Join(bin, "systemctl"), []byte(`#!/bin/sh
[ "$1" = is-active ] || exit 2
shift
quiet=
if [ "$1" = --quiet ]; then quiet=1; shift; fi
if [ "$1" = "$FAILED_UNIT" ]; then [ -n "$quiet" ] || echo failed; exit 3; fi
[ -n "$quiet" ] || echo active
`), 0o755)

	run := func(extraEnv ...string) (string, error) {
		c := exec.Command("sh", script, "0")
		c.Env = append([]string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C", "PGPASSFILE=/nonexistent"}, extraEnv...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "immich-verify: every check passed") {
		t.Fatalf("immich-verify on a working deployment: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ok:   immich.service is active",
		"ok:   PostgreSQL: immich logs in to immich",
		"ok:   Valkey: immich is answered PONG on 127.0.0.1:",
		"ok:   immich-server answers http://127.0.0.1:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}

	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte("not-the-password-at-all"), 0o600)
	for name, c := range map[string]struct {
		env  []string
		want string
	}{
		"unit":        {[]string{"FAILED_UNIT=immich.service"}, "FAIL: immich.service is failed"},
		"postgres":    {[]string{"VERIFY_PG_PASSWORD_FILE=" + wrong}, "FAIL: PostgreSQL: immich cannot log in to immich"},
		"valkey":      {[]string{"VERIFY_VALKEY_PASSWORD_FILE=" + wrong}, "FAIL: Valkey: immich gets no PONG"},
		"valkey user": {[]string{"VERIFY_VALKEY_USER=default"}, "FAIL: Valkey: default gets no PONG"},
		"no secrets":  {[]string{"VERIFY_PG_PASSWORD_FILE=/nonexistent"}, "FAIL: cannot read /nonexistent"},
	} {
		out, err := run(c.env...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: err %v, want %q in:\n%s", name, err, c.want, out)
		}
	}
	down.Store(true)
	if out, err := run(); err == nil || !strings.Contains(out, "FAIL: immich-server does not answer") {
		t.Errorf("no ping: err %v\n%s", err, out)
	}
}
