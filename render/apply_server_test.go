package render

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/immich-render/immich-render/internal/pgtest"
	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/internal/valkeytest"
)

// envSharedHost runs TestHelperSharedHost's body (in its namespaces).
const envSharedHost = "IMMICH_RENDER_SHARED_HOST"

// TestApplyOnSharedHost proves apply.sh on a host whose PostgreSQL 15 and
// Valkey already serve another tenant, with the real servers: it runs
// TestHelperSharedHost in new network and mount namespaces, where /etc and
// /var/lib are overlays, so apply.sh runs without IMMICH_RENDER_ROOT on
// the Debian paths and the servers use the usual ports.
func TestApplyOnSharedHost(t *testing.T) {
	testenv.ShortSkip(t, "postgres or valkey-server")
	if os.Geteuid() != 0 {
		testenv.Skip(t, "the shared-host test makes network and mount namespaces: run it as root")
	}
	pgtest.FindBin(t)
	for _, b := range []string{"unshare", "ip", "sysctl", "runuser", "psql"} {
		testenv.Binary(t, b)
	}
	if _, err := valkeytest.ServerBinary(); err != nil {
		testenv.Skip(t, err.Error())
	}
	testenv.Binary(t, "valkey-cli")
	if out, err := exec.Command("unshare", "--net", "--mount", "true").CombinedOutput(); err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot create network and mount namespaces here: %v %s", err, out))
	}
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--",
		os.Args[0], "-test.run=^TestHelperSharedHost$", "-test.v", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), envSharedHost+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("the host:\n%s", out)
	if err != nil || !bytes.Contains(out, []byte("\n--- PASS: TestHelperSharedHost")) {
		t.Fatalf("the shared host failed: %v", err)
	}
}

// TestHelperSharedHost is TestApplyOnSharedHost's host; alone it does
// nothing.
func TestHelperSharedHost(t *testing.T) {
	if os.Getenv(envSharedHost) != "1" {
		return
	}
	h := &sharedHost{t: t}
	h.network()
	h.overlay("/etc")
	h.overlay("/var/lib")
	h.overlay("/run") // apply.sh's lock
	h.postgres()
	h.valkeyConf("bind 10.1.2.3\nport 6379\n")

	// valkey.aclMode "file": the tenant is one of valkey.users.
	projectDir := filepath.Join(h.pg.Dir, "project")
	cfg := testenv.Config(t, nil,
		fmt.Sprintf("immich: postgres: port: %d", h.pg.Port),
		fmt.Sprintf("immich: projectDir: %q", projectDir),
		`valkey: users: [{username: "tenant", password: "tenant-valkey-password", keyPatterns: ["tenant*"], commands: "+@read +@write -@dangerous"}]`)
	r := Render(cfg, Options{Secrets: true})
	h.deploy(r)
	before := h.files()
	h.valkeyStart()
	h.tenantChecks("before the deploy")

	out := h.apply()
	t.Logf("apply.sh, first run:\n%s", out)
	if !strings.Contains(out, "listen_addresses = '10.1.2.3,localhost,172.20.0.1'") {
		t.Errorf("first run:\n%s", out)
	}
	if nl, _ := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind"); strings.TrimSpace(string(nl)) != "1" {
		t.Errorf("ip_nonlocal_bind = %q after apply.sh", nl)
	}
	h.restart()
	if got := h.pg.Superuser(t, "postgres", "SHOW listen_addresses"); got != "10.1.2.3,localhost,172.20.0.1" {
		t.Errorf("SHOW listen_addresses = %q", got)
	}
	if got := h.pg.Superuser(t, "postgres", "SHOW shared_preload_libraries"); got != "pg_stat_statements,vchord.so" {
		t.Errorf("SHOW shared_preload_libraries = %q", got)
	}
	if got := h.valkeyConfig("bind"); got != "10.1.2.3 127.0.0.1 -::1 172.20.0.1" {
		t.Errorf("CONFIG GET bind = %q", got)
	}
	h.tenantChecks("after the deploy")
	h.valkeyUser("10.1.2.3", "tenant", "tenant-valkey-password", "tenant:key")
	// Immich's role and user, over the gateway address that the servers
	// bound before it existed (the bridge comes up with the containers).
	run(t, "ip", "addr", "add", "172.20.0.1/32", "dev", "lo")
	h.pg.Run(t, h.pg.SuperuserEnv("postgres"), "/usr/bin/psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", "-f", PostgresInitPath(cfg))
	if got, err := h.psql("172.20.0.1", "immich", "immich", testenv.Secrets["IMMICH_POSTGRES_PASSWORD"], "SELECT current_user"); err != nil || got != "immich" {
		t.Errorf("immich over 172.20.0.1: %q, %v", got, err)
	}
	h.valkeyUser("172.20.0.1", "immich", testenv.Secrets["IMMICH_VALKEY_PASSWORD"], "immich_bull:probe")

	if out := h.apply(); out != "apply.sh: no change\n" {
		t.Errorf("second run:\n%s", out)
	} else {
		t.Logf("apply.sh, second run:\n%s", out)
	}
	out = h.apply("--undo")
	t.Logf("apply.sh --undo:\n%s", out)
	if after := h.files(); after != before {
		t.Errorf("--undo left the host's files\n%s\nwant\n%s", after, before)
	}
	h.restart()
	if got := h.pg.Superuser(t, "postgres", "SHOW listen_addresses"); got != "10.1.2.3" {
		t.Errorf("after --undo: SHOW listen_addresses = %q", got)
	}

	// valkey.aclMode "user": the host keeps its aclfile and its tenant, who
	// was there before Immich, with its own password.
	tenantACL := "user default on #" + sha("admin-secret-0123456789") + " ~* &* +@all\n" +
		"user tenant on #" + sha("tenant-own-password") + " ~tenant* resetchannels -@all +@read +@write\n"
	h.valkeyConf("bind 10.1.2.3\nport 6379\naclfile /etc/valkey/tenants.acl\n")
	h.write("/etc/valkey/tenants.acl", tenantACL)
	cfg = testenv.Config(t, nil,
		fmt.Sprintf("immich: postgres: port: %d", h.pg.Port),
		fmt.Sprintf("immich: projectDir: %q", projectDir),
		`valkey: aclMode: "user"`)
	r = Render(cfg, Options{Secrets: true})
	if _, ok := r.Out["rootfs/etc/valkey/users.acl"]; ok {
		t.Errorf(`aclMode "user" rendered users.acl`)
	}
	h.deploy(r)
	out = h.apply()
	t.Logf(`apply.sh, aclMode "user":`+"\n%s", out)
	if strings.Contains(out, "aclfile") {
		t.Errorf("apply.sh changed the host's aclfile:\n%s", out)
	}
	h.restart()
	script := valkeyUserScript(cfg)
	for range 2 { // idempotent
		if out, err := exec.Command("/bin/sh", script).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		} else {
			t.Logf("%s: %s", ValkeyUserUnit, out)
		}
	}
	h.valkeyUser("172.20.0.1", "immich", testenv.Secrets["IMMICH_VALKEY_PASSWORD"], "immich_bull:probe")
	h.valkeyUser("10.1.2.3", "tenant", "tenant-own-password", "tenant:key")
	saved, _ := os.ReadFile("/etc/valkey/tenants.acl")
	if !regexp.MustCompile(`(?m)^user tenant on .*#`+sha("tenant-own-password")+" ").Match(saved) || !strings.Contains(string(saved), "\nuser immich ") {
		t.Errorf("the host's aclfile after ACL SAVE:\n%s", saved)
	}
	// A changed password takes effect; the old one no longer works.
	cfg = testenv.Config(t, map[string]string{"IMMICH_VALKEY_PASSWORD": "a-new-valkey-password"},
		fmt.Sprintf("immich: postgres: port: %d", h.pg.Port),
		fmt.Sprintf("immich: projectDir: %q", projectDir),
		`valkey: aclMode: "user"`)
	h.deploy(Render(cfg, Options{Secrets: true}))
	if out, err := exec.Command("/bin/sh", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	h.valkeyUser("172.20.0.1", "immich", "a-new-valkey-password", "immich_bull:probe")
	c, err := valkeytest.Dial("tcp", "172.20.0.1:6379")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := do(c, "AUTH", "immich", testenv.Secrets["IMMICH_VALKEY_PASSWORD"]); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Errorf("the old Immich password: %v, want WRONGPASS", err)
	}
	h.valkeyUser("10.1.2.3", "tenant", "tenant-own-password", "tenant:key")

	// A wrong admin password fails the unit, saying why.
	secret := filepath.Join(projectDir, "secrets", valkeyAdminSecret)
	h.write(secret, "not-the-admin-password")
	if out, err := exec.Command("/bin/sh", script).CombinedOutput(); err == nil || !strings.Contains(string(out), "WRONGPASS") {
		t.Errorf("%s with a wrong admin password: %v\n%s", script, err, out)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// sharedHost is a Debian host with PostgreSQL 15 and Valkey that another
// tenant already uses: it listens on 10.1.2.3, preloads
// pg_stat_statements, and has its own database, role and Valkey user.
type sharedHost struct {
	t      *testing.T
	pg     *pgtest.Server
	valkey *valkeytest.Server
	out    string
}

const pgMain = "/etc/postgresql/15/main"

// network brings up loopback with the tenant's address. The Immich
// gateway is not there yet, as on a host before Podman's bridge exists.
func (h *sharedHost) network() {
	run(h.t, "ip", "link", "set", "lo", "up")
	run(h.t, "ip", "addr", "add", "10.1.2.3/32", "dev", "lo")
}

// overlay puts a tmpfs-backed overlay on dir, private to this namespace.
func (h *sharedHost) overlay(dir string) {
	t := h.t
	ovl, err := os.MkdirTemp("", "immich-render-ovl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ovl) })
	if err := syscall.Mount("tmpfs", ovl, "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"upper", "work"} {
		os.Mkdir(filepath.Join(ovl, d), 0o755)
	}
	if err := syscall.Mount("overlay", dir, "overlay", 0, fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", dir, ovl, ovl)); err != nil {
		t.Fatalf("overlay on %s: %v", dir, err)
	}
}

func (h *sharedHost) write(p, content string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// postgres makes the cluster Debian's way: its configuration in
// /etc/postgresql/15/main, its data elsewhere.
func (h *sharedHost) postgres() {
	t := h.t
	h.pg = pgtest.Start(t)
	h.pg.Run(t, nil, "pg_ctl", "-D", h.pg.Data(), "-m", "fast", "-w", "stop")
	// vchord.so stands in as a copy of contrib's passwordcheck, which
	// loads at start without defining anything: the real VectorChord is
	// not packaged for Debian 12.
	libdir := strings.TrimSpace(h.pg.Run(t, nil, "pg_config", "--pkglibdir"))
	stand := filepath.Join(h.pg.Dir, "lib")
	h.write(filepath.Join(stand, "vchord.so"), "")
	lib, err := os.ReadFile(filepath.Join(libdir, "passwordcheck.so"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stand, "vchord.so"), lib, 0o755)
	os.RemoveAll(pgMain)
	h.pg.WriteFile(t, filepath.Join(pgMain, "postgresql.conf"), fmt.Sprintf(`data_directory = '%s'
hba_file = '%s/pg_hba.conf'
ident_file = '%s/pg_ident.conf'
port = %d
unix_socket_directories = '%s'
listen_addresses = '10.1.2.3'
shared_preload_libraries = 'pg_stat_statements'
dynamic_library_path = '$libdir:%s'
fsync = off
include_dir = 'conf.d'
`, h.pg.Data(), pgMain, h.pg.Data(), h.pg.Port, h.pg.Dir, stand))
	h.pg.WriteFile(t, filepath.Join(pgMain, "pg_hba.conf"), h.pg.LocalHBA()+"host tenantdb tenant 10.1.2.3/32 scram-sha-256\n")
	h.pg.WriteFile(t, filepath.Join(pgMain, "conf.d", ".keep"), "")
	h.startPG()
	h.pg.Superuser(t, "postgres", "CREATE ROLE tenant LOGIN PASSWORD 'tenant-db-password-1'")
	h.pg.Superuser(t, "postgres", "CREATE DATABASE tenantdb OWNER tenant")
	h.pg.Superuser(t, "tenantdb", "CREATE EXTENSION pg_stat_statements")
}

func (h *sharedHost) startPG() {
	h.t.Helper()
	if out, err := h.pg.Cmd(nil, "pg_ctl", "-D", pgMain, "-l", filepath.Join(h.pg.Dir, "server.log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(h.pg.Dir, "server.log"))
		h.t.Fatalf("starting PostgreSQL: %v\n%s\n%s", err, out, log)
	}
}

func (h *sharedHost) valkeyConf(conf string) {
	// A Valkey host: no redis-server configuration beside it.
	os.RemoveAll("/etc/redis")
	os.RemoveAll("/etc/valkey")
	h.write("/etc/valkey/valkey.conf", conf)
}

func (h *sharedHost) valkeyStart() {
	h.t.Helper()
	bin, _ := valkeytest.ServerBinary()
	s, err := valkeytest.Start(valkeytest.Options{Binary: bin, ConfigFile: "/etc/valkey/valkey.conf", NoListenArgs: true, Network: "tcp", Addr: "10.1.2.3:6379"})
	if err != nil {
		h.t.Fatal(err)
	}
	h.valkey = s
	h.t.Cleanup(s.Close)
}

// restart restarts both servers, as the operator does after apply.sh.
func (h *sharedHost) restart() {
	h.t.Helper()
	h.pg.Run(h.t, nil, "pg_ctl", "-D", pgMain, "-m", "fast", "-w", "stop")
	h.startPG()
	if h.valkey != nil {
		h.valkey.Close()
	}
	h.valkeyStart()
}

// deploy copies the rendered trees onto the host, as the README's rsync
// does, and keeps the fragments for apply.sh.
func (h *sharedHost) deploy(r Result) {
	t := h.t
	if h.out == "" {
		h.out = filepath.Join(h.pg.Dir, "out")
	}
	for i, tr := range []tree.Tree{r.Out, r.Secrets} {
		for _, p := range tr.Paths() {
			f := tr[p]
			dst := filepath.Join(h.out, p)
			if rel, ok := strings.CutPrefix(p, "rootfs/"); ok {
				dst = "/" + rel
			} else if i == 1 {
				continue // cloud-init
			}
			h.write(dst, string(f.Data))
			if err := os.Chmod(dst, f.Mode); err != nil {
				t.Fatal(err)
			}
			if f.Owner != "" {
				run(t, "chown", f.Owner, dst)
			}
		}
	}
	// The postgres user reads init.sql in the project folder.
	os.Chmod(h.pg.Dir, 0o755)
}

func (h *sharedHost) apply(args ...string) string {
	h.t.Helper()
	out, err := exec.Command(filepath.Join(h.out, ApplyScript), args...).CombinedOutput()
	if err != nil {
		h.t.Fatalf("apply.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// files are the host files apply.sh may change, with their modes.
func (h *sharedHost) files() string {
	var b strings.Builder
	for _, p := range []string{pgMain + "/postgresql.conf", pgMain + "/pg_hba.conf", pgMain + "/conf.d/immich-render.conf",
		"/etc/valkey/valkey.conf", "/etc/valkey/immich-render.conf", "/etc/sysctl.d/60-immich-render.conf", "/var/lib/immich-render/apply-undo"} {
		info, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(&b, "%s: absent\n", p)
			continue
		}
		data, _ := os.ReadFile(p)
		fmt.Fprintf(&b, "%s %v:\n%s\n", p, info.Mode(), data)
	}
	return b.String()
}

// psql runs SQL as role over TCP at addr with a password.
func (h *sharedHost) psql(addr, role, db, password, sql string) (string, error) {
	c := exec.Command("/usr/bin/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
	c.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "PGPASSFILE=/nonexistent", "PGCONNECT_TIMEOUT=10", "PGSSLMODE=disable",
		"PGHOST=" + addr, "PGPORT=" + strconv.Itoa(h.pg.Port), "PGUSER=" + role, "PGDATABASE=" + db, "PGPASSWORD=" + password}
	out, err := c.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// tenantChecks: the other tenant logs in over its own address and uses
// pg_stat_statements; its Valkey user (in valkey.users) reads its keys.
func (h *sharedHost) tenantChecks(when string) {
	h.t.Helper()
	got, err := h.psql("10.1.2.3", "tenant", "tenantdb", "tenant-db-password-1", "SELECT count(*) >= 0 FROM pg_stat_statements")
	if err != nil || got != "t" {
		h.t.Errorf("%s: the tenant over 10.1.2.3 with pg_stat_statements: %q, %v", when, got, err)
	}
}

// valkeyUser logs in as user at addr:6379 and writes and reads key.
func (h *sharedHost) valkeyUser(addr, user, password, key string) {
	h.t.Helper()
	c, err := valkeytest.Dial("tcp", addr+":6379")
	if err != nil {
		h.t.Errorf("%s at %s: %v", user, addr, err)
		return
	}
	defer c.Close()
	for _, cmd := range [][]string{{"AUTH", user, password}, {"SET", key, "v"}, {"GET", key}} {
		if _, err := do(c, cmd...); err != nil {
			h.t.Errorf("%s at %s: %s: %v", user, addr, cmd[0], err)
			return
		}
	}
}

// valkeyConfig is CONFIG GET name, as the admin.
func (h *sharedHost) valkeyConfig(name string) string {
	h.t.Helper()
	c, err := valkeytest.Dial("tcp", "127.0.0.1:6379")
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	if _, err := do(c, "AUTH", testenv.Secrets["VALKEY_ADMIN_PASSWORD"]); err != nil {
		h.t.Fatal(err)
	}
	r, err := do(c, "CONFIG", "GET", name)
	if err != nil {
		h.t.Fatal(err)
	}
	if l, ok := r.([]any); ok && len(l) == 2 {
		return fmt.Sprint(l[1])
	}
	return fmt.Sprint(r)
}

// do is c.Do with an error reply as an error.
func do(c *valkeytest.Conn, args ...string) (any, error) {
	r, err := c.Do(args...)
	if e, ok := r.(valkeytest.Error); ok && err == nil {
		return nil, e
	}
	return r, err
}
