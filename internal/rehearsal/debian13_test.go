package rehearsal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
	"go.yaml.in/yaml/v3"
)

// Mutations of the Debian 13 host.
const (
	// apply.sh's PostgreSQL drop-in sets listen_addresses to Immich's
	// addresses alone, dropping the tenant's.
	mutateListenReplaced = "listen-addresses-replaced"
	// The host's pgvector package is 1.0.0, past the versions Immich
	// supports.
	mutatePgvectorVersion = "pgvector-version-out-of-range"
)

// debian13Scenarios are the deployments on the Debian 13 host: each an
// example (or a fleet example's host), deployed on a fresh host.
var debian13Scenarios = []scenario{
	{Name: "minimal", Example: "minimal", Upgrade: "v3.2.0"},
	{Name: "quadlet", Example: "quadlet", Upgrade: "v3.2.0"},
	{Name: "fleet-edge01", Example: "fleet", Host: "edge01"},

	{Name: "mutation-listen-addresses-replaced", Example: "minimal", Mutate: mutateListenReplaced,
		FailStep: "tenant still works after the deploy", FailText: "127.0.0.2"},
	{Name: "mutation-pgvector-version-out-of-range", Example: "minimal", Mutate: mutatePgvectorVersion,
		FailStep: "README First deployment 3/3", FailText: "needs pgvector (extension vector) >= 0.5 and < 1, and this server has 1.0.0"},

	// cloud-init's user-data instead of the README: the first certificate
	// from pebble, and a refusing apply.sh stops the runcmd.
	{Name: "cloud-init", Example: "minimal", CloudInit: true},
	{Name: "mutation-cloud-init-valkey-aclfile-elsewhere", Example: "minimal", CloudInit: true, Mutate: mutateAclfileElsewhere,
		FailStep: "cloud-init runcmd", FailText: "sh /var/lib/immich-render/fragments/apply.sh failed (exit 1): the steps after it did not run, and Immich was not started\nimmich.service after the failure: inactive"},
}

// The site the Debian 13 host adds to each example: the real pgvector,
// nginx with a certificate from the test CA through certbot's webroot,
// and the tenant's Valkey user (users.acl is immich-render's file).
const (
	d13Hostname = "photos.rehearsal.test"
	d13Site     = `immich: {
	postgres: vectorExtension: "pgvector"
	nginx: {enabled: true, hostname: "` + d13Hostname + `", tls: "webroot", acme: email: "admin@rehearsal.test"}
}
valkey: users: [{
	username: "tenant"
	password: "` + tenantValkeyPassword + `"
	keyPatterns: ["tenant:*"]
	channelPatterns: ["tenant:*"]
	commands: "` + tenantValkeyRules + `"
}]
`
	tenantPGPassword     = "tenant-postgres-password"
	tenantValkeyPassword = "tenant-valkey-password"
	tenantValkeyRules    = "+@read +@write -@dangerous +ping +auth"
	// The tenant's own address: PostgreSQL and Valkey listen on it for it.
	tenantAddr = "127.0.0.2"
)

// TestDebian13Host deploys each scenario on a fresh Debian 13 host booted
// with systemd-nspawn, following the rendered README verbatim.
func TestDebian13Host(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the rehearsal boots a Debian 13 host")
	}
	requireDebian13(t)
	standin := buildStandin(t)
	modules := immichRedisModules(t)
	t.Cleanup(func() { leftBehind(t) })
	for _, sc := range debian13Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			start := time.Now()
			h := &d13host{t: t, sc: sc, standin: standin, modules: modules, work: filepath.Join(t.TempDir(), "site")}
			h.deploy()
			var table strings.Builder
			for _, s := range h.res.Steps {
				mark := "ok  "
				if !s.OK {
					mark = "FAIL"
				}
				fmt.Fprintf(&table, "  %s %6d ms  %-40s %s\n", mark, s.Ms, s.Name, firstLine(s.Detail))
			}
			t.Logf("%s in %.1fs:\n%s", sc.Name, time.Since(start).Seconds(), table.String())
			switch {
			case sc.FailStep == "" && h.res.Failed != "":
				t.Errorf("the deployment failed at %s:\n%s", h.res.Failed, failedDetail(h.res))
				if h.m != nil {
					t.Logf("console:\n%s", h.m.console())
				}
			case sc.FailStep == "" && !hasStep(h.res, "nothing of Immich left after its stop"):
				t.Errorf("the deployment did not run to its end")
			case sc.FailStep != "" && h.res.Failed == "":
				t.Errorf("mutation %s: the deployment ran through; want a failure at %s", sc.Mutate, sc.FailStep)
			case sc.FailStep != "" && h.res.Failed != sc.FailStep:
				t.Errorf("mutation %s: failed at %s, want %s:\n%s", sc.Mutate, h.res.Failed, sc.FailStep, failedDetail(h.res))
			case sc.FailStep != "" && !strings.Contains(failedDetail(h.res), sc.FailText):
				t.Errorf("mutation %s: %s failed with %q, want it to say %q", sc.Mutate, h.res.Failed, failedDetail(h.res), sc.FailText)
			}
		})
	}
}

// leftBehind fails the test if anything of a Debian 13 host outlived it:
// a process (systemd-nspawn and all it started), a mount or its folder.
func leftBehind(t *testing.T) {
	t.Helper()
	// Another test process may run hosts of its own: only the folders
	// this one made (newRoot writes its PID into them) count.
	mine := func(dir string) bool {
		owner, err := os.ReadFile(filepath.Join(dir, "owner"))
		return err == nil && string(owner) == strconv.Itoa(os.Getpid())
	}
	const prefix = "/var/tmp/immich-debian13-"
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i, a := range args {
			if a == "-D" && i+1 < len(args) && strings.HasPrefix(args[i+1], prefix) && strings.Contains(args[0], "systemd-nspawn") && mine(filepath.Dir(args[i+1])) {
				t.Errorf("process %s left running: %s", e.Name(), strings.Join(args, " "))
			}
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, prefix) {
			t.Errorf("mount left: %s", l)
		}
	}
	dirs, _ := filepath.Glob(prefix + "*")
	for _, d := range dirs {
		if mine(d) {
			t.Errorf("folder left: %s", d)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 160 {
		l = l[:160] + "..."
	}
	return l
}

func requireDebian13(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "the Debian 13 host is booted with systemd-nspawn: run the test as root")
	}
	for _, b := range []string{"systemd-nspawn", "nsenter", "debootstrap", "zstd", "rsync", "timeout", "npm"} {
		testenv.Binary(t, b)
	}
}

// immichRedisModules installs immichredis's npm packages (npm ci, once per
// checkout, under a lock) and returns its folder.
func immichRedisModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("immichredis")
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "immich-render-npm.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "node_modules/.package-lock.json")); err == nil {
		return dir
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.Skip(t, "npm ci failed (is the npm registry reachable?): "+err.Error()+"\n"+string(out))
	}
	return dir
}

// d13host is one deployment on a Debian 13 host.
type d13host struct {
	t       *testing.T
	sc      scenario
	standin string // the stand-in binary
	modules string // immichredis with its node_modules
	work    string // out/ and secrets/ as the operator has them
	res     result

	root    string // the host's root filesystem
	m       *machine
	cfg     *schema.Config
	out     tree.Tree
	secrets tree.Tree
	readme  string
	dump    string // the backup's file on the host
}

func (h *d13host) step(name string, f func() (string, error)) bool {
	if h.res.Failed != "" {
		return false
	}
	start := time.Now()
	detail, err := f()
	s := stepResult{Name: name, Ms: time.Since(start).Milliseconds(), OK: err == nil, Detail: detail}
	if err != nil {
		s.Detail = err.Error()
		h.res.Failed = name
	}
	h.res.Steps = append(h.res.Steps, s)
	h.t.Logf("step %-40s %6d ms ok=%v %s", name, s.Ms, s.OK, firstLine(s.Detail))
	return err == nil
}

func (h *d13host) deploy() {
	_ = h.step("root filesystem (scripts/debian13-rootfs.sh)", h.rootfs) &&
		h.step("boot (systemd-nspawn, systemd as PID 1)", h.boot) &&
		h.step("tenant set up before Immich", h.setupTenant) &&
		h.step("host packages as the scenario has them", h.mutateHost) &&
		h.step("tenant works", h.checkTenant) &&
		h.step("render "+h.sc.Example+" "+h.sc.Host, h.render) &&
		h.step("the host's photo libraries", h.libraries) &&
		h.step("stand-in images (podman import)", h.images) &&
		h.step("pebble (ACME test CA)", h.pebble) &&
		h.deployFirst() &&
		h.step("Immich units active", h.unitsActive) &&
		h.step("Immich containers running", h.containersRunning) &&
		h.standinReady("stand-in started") &&
		h.step("the server's first call to machine learning", h.mlFirstCall) &&
		h.step("tenant still works after the deploy", h.checkTenant) &&
		h.step("Immich's Redis clients, ACL LOG empty", h.immichRedis) &&
		h.step("HTTPS with the ACME certificate", h.checkHTTPS) &&
		h.step("backup: immich-backup.service", h.backup) &&
		h.restore() &&
		h.standinReady("stand-in started after the restore") &&
		h.step("restored database", h.checkRestored) &&
		h.step("systemctl restart immich", func() (string, error) { return h.m.enter(5*time.Minute, "systemctl", "restart", "immich.service") }) &&
		h.standinReady("stand-in started after the restart") &&
		h.step("reboot (stop and boot again)", func() (string, error) { return "", h.m.reboot() }) &&
		h.step("Immich units active after the reboot", h.unitsActive) &&
		h.step("Immich containers running after the reboot", h.containersRunning) &&
		h.standinReady("stand-in started after the reboot") &&
		h.step("tenant still works after the reboot", h.checkTenant) &&
		h.step("HTTPS after the reboot", h.checkHTTPS) &&
		h.upgrade() &&
		h.step("systemctl stop immich", func() (string, error) { return h.m.enter(5*time.Minute, "systemctl", "stop", "immich.service") }) &&
		h.step("nothing of Immich left after its stop", h.noContainers) &&
		h.secretLeftOut()
}

func (h *d13host) rootfs() (string, error) {
	start := time.Now()
	root := newRoot(h.t)
	h.root = root
	took := time.Since(start)
	// The test's own tools: the stand-in (images and clients) and
	// Immich's Redis libraries.
	lib := filepath.Join(root, "usr/local/lib/rehearsal")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command("cp", h.standin, filepath.Join(lib, "standin")).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cp: %v %s", err, out)
	}
	if out, err := exec.Command("rsync", "-a", "--exclude=*_test.go", h.modules+"/", filepath.Join(lib, "immichredis")+"/").CombinedOutput(); err != nil {
		return "", fmt.Errorf("rsync: %v %s", err, out)
	}
	// The clients find the site by name, as they would through DNS.
	hosts, err := os.OpenFile(filepath.Join(root, "etc/hosts"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(hosts, "127.0.0.1 %s\n", d13Hostname)
	hosts.Close()
	return fmt.Sprintf("%s (extracted in %.1fs)", root, took.Seconds()), nil
}

func (h *d13host) boot() (string, error) {
	m, err := boot(h.t, h.root, "immich-d13")
	h.m = m
	if err != nil {
		return "", err
	}
	out, err := m.sysrun(nil, "/bin/sh", "-c", "systemctl --version | head -1; podman --version; valkey-server --version; psql --version; nginx -v 2>&1; podman-compose --version 2>/dev/null | tail -1")
	return strings.ReplaceAll(strings.TrimSpace(out), "\n", "; "), err
}

// setupTenant gives the host another service first: its PostgreSQL role and
// database, an address PostgreSQL and Valkey listen on for it, a preloaded
// library, and its Valkey ACL user with its keys, as a shared host has.
func (h *d13host) setupTenant() (string, error) {
	script := fmt.Sprintf(`
conf=/etc/postgresql/17/main/postgresql.conf
hba=/etc/postgresql/17/main/pg_hba.conf
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE tenant LOGIN PASSWORD '%[1]s'" -c "CREATE DATABASE tenant OWNER tenant"
sed -i "s/^#listen_addresses = .*/listen_addresses = 'localhost,%[3]s'/; s/^#shared_preload_libraries = .*/shared_preload_libraries = 'pg_stat_statements'/" "$conf"
grep -q "^listen_addresses = 'localhost,%[3]s'" "$conf"
grep -q "^shared_preload_libraries = 'pg_stat_statements'" "$conf"
{ echo 'host tenant tenant %[3]s/32 scram-sha-256'; cat "$hba"; } >"$hba.new" && mv "$hba.new" "$hba" && chown postgres:postgres "$hba"
systemctl restart postgresql.service
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d tenant -c 'CREATE EXTENSION pg_stat_statements'
PGPASSWORD='%[1]s' psql -X -q -v ON_ERROR_STOP=1 -h %[3]s -U tenant -d tenant -c "CREATE TABLE notes (note text)" -c "INSERT INTO notes VALUES ('the tenant was here first')"

vconf=/etc/valkey/valkey.conf
sed -i 's/^bind 127.0.0.1 -::1$/bind 127.0.0.1 -::1 %[3]s/; s|^# aclfile /etc/valkey/users.acl$|aclfile /etc/valkey/users.acl|' "$vconf"
grep -q '^bind 127.0.0.1 -::1 %[3]s$' "$vconf"
grep -q '^aclfile /etc/valkey/users.acl$' "$vconf"
printf '%%s\n' 'user default on nopass ~* &* +@all' 'user tenant on >%[2]s ~tenant:* &tenant:* %[4]s' >/etc/valkey/users.acl
chown root:valkey /etc/valkey/users.acl
chmod 0640 /etc/valkey/users.acl
systemctl restart valkey-server.service
valkey-cli -h %[3]s --no-auth-warning --user tenant --pass '%[2]s' SET tenant:greeting 'the tenant was here first'
`, tenantPGPassword, tenantValkeyPassword, tenantAddr, tenantValkeyRules)
	if _, err := h.m.sysrunSh(script); err != nil {
		return "", err
	}
	return "role and database tenant, listen " + tenantAddr + ", pg_stat_statements, Valkey user tenant", nil
}

// mutateHost changes the host's packages for a mutation.
func (h *d13host) mutateHost() (string, error) {
	switch h.sc.Mutate {
	case mutatePgvectorVersion:
		// pgvector 1.0.0 as its package would install it: the control
		// file's default version and an install script for it.
		_, err := h.m.shell(`cd /usr/share/postgresql/17/extension
cp vector--0.8.0.sql vector--1.0.0.sql
sed -i "s/^default_version = .*/default_version = '1.0.0'/" vector.control
grep -q "^default_version = '1.0.0'" vector.control`)
		return "pgvector 1.0.0", err
	case mutateAclfileElsewhere:
		_, err := h.m.shell(`mv /etc/valkey/users.acl /etc/valkey/tenant.acl
sed -i 's|^aclfile /etc/valkey/users.acl$|aclfile /etc/valkey/tenant.acl|' /etc/valkey/valkey.conf
grep -q '^aclfile /etc/valkey/tenant.acl$' /etc/valkey/valkey.conf
systemctl restart valkey-server.service`)
		return "the tenant's Valkey users in /etc/valkey/tenant.acl", err
	}
	return "Debian 13's", nil
}

// libraries makes the external libraries the site names, as the host's
// existing photo folders.
func (h *d13host) libraries() (string, error) {
	var dirs []string
	for _, l := range h.cfg.Immich.ExternalLibraries {
		dirs = append(dirs, l.HostPath)
	}
	if len(dirs) == 0 {
		return "none", nil
	}
	_, err := h.m.sysrun(nil, append([]string{"mkdir", "-p"}, dirs...)...)
	return strings.Join(dirs, ", "), err
}

// checkTenant is the tenant's own check, as an unprivileged unit: its
// database over its address, pg_stat_statements (which answers only when
// preloaded), and its keys.
func (h *d13host) checkTenant() (string, error) {
	script := fmt.Sprintf(`
PGPASSWORD='%[1]s' psql -X -A -t -v ON_ERROR_STOP=1 -h %[3]s -U tenant -d tenant -c "SELECT note FROM notes" -c "SELECT 'pg_stat_statements ' || (count(*) >= 0) FROM pg_stat_statements"
valkey-cli -h %[3]s --no-auth-warning --user tenant --pass '%[2]s' GET tenant:greeting
`, tenantPGPassword, tenantValkeyPassword, tenantAddr)
	out, err := h.m.sysrunSh(script, "DynamicUser=yes")
	if err != nil {
		return "", err
	}
	if strings.Count(out, "the tenant was here first") != 2 || !strings.Contains(out, "pg_stat_statements true") {
		return "", fmt.Errorf("the tenant's data or library is gone:\n%s", out)
	}
	return strings.ReplaceAll(strings.TrimSpace(out), "\n", "; "), nil
}

// render renders the example with the Debian 13 site added, into out/
// and secrets/ as the operator has them.
func (h *d13host) render() (string, error) {
	cfg, err := loadDebian13Site(h.sc)
	if err != nil {
		return "", err
	}
	h.cfg = cfg
	res := render.Render(cfg, render.Options{Secrets: true})
	h.out, h.secrets = res.Out, res.Secrets
	if h.sc.Mutate == mutateListenReplaced {
		p := "fragments/apply.sh"
		f := h.out[p]
		// After the merge, the drop-in says Immich's addresses alone.
		f.Data = append(slices.Clip(f.Data), []byte("\nfor d in \"$root\"/etc/postgresql/*/main/conf.d; do\n\tsed -i \"s/^listen_addresses = .*/listen_addresses = 'localhost,"+cfg.Immich.HostGateway+"'/\" \"$d/immich-render.conf\"\ndone\n")...)
		h.out[p] = f
	}
	// The operator's checkout: out/ in the repository, the secrets in
	// secrets/ beside it and (where the README says so) ../immich-secrets.
	if err := os.Symlink(filepath.Join(h.work, "secrets"), filepath.Join(filepath.Dir(h.work), "immich-secrets")); err != nil {
		return "", err
	}
	if err := h.writeSite(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d files, %d secret files; vector extension %s, nginx tls %s, composeCommand %q",
		len(h.out), len(h.secrets), cfg.Immich.Postgres.VectorExtension, cfg.Immich.Nginx.TLS, cfg.Immich.ComposeCommand), nil
}

// siteImages are the images the rendered site runs, from the compose
// file's services or the Quadlet .container files' Image= lines.
func siteImages(out tree.Tree) ([]string, error) {
	var images []string
	for _, p := range out.Paths() {
		switch {
		case strings.HasSuffix(p, "/docker-compose.yml"):
			var doc struct {
				Services map[string]struct{ Image string }
			}
			if err := yaml.Unmarshal(out[p].Data, &doc); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			for _, svc := range doc.Services {
				images = append(images, svc.Image)
			}
		case strings.HasSuffix(p, ".container"):
			for _, l := range strings.Split(string(out[p].Data), "\n") {
				if img, ok := strings.CutPrefix(l, "Image="); ok {
					images = append(images, img)
				}
			}
		}
	}
	slices.Sort(images)
	images = slices.Compact(images)
	if len(images) == 0 {
		return nil, errors.New("the rendered site names no image")
	}
	return images, nil
}

// serverImage is the site's immich-server image.
func (h *d13host) serverImage() string {
	images, _ := siteImages(h.out)
	for _, img := range images {
		if strings.Contains(img, "immich-server") {
			return img
		}
	}
	return ""
}

// serverContainer is the name of the container of the immich-server image.
func (h *d13host) serverContainer() (string, error) {
	out, err := h.m.enter(time.Minute, "podman", "ps", "-a", "--filter", "ancestor="+h.serverImage(), "--format", "{{.Names}}")
	if err != nil {
		return "", err
	}
	names := strings.Fields(out)
	if len(names) != 1 {
		return "", fmt.Errorf("want one container of %s, have %q", h.serverImage(), names)
	}
	return names[0], nil
}

// loadDebian13Site loads the scenario's example with the Debian 13 site
// added (to a fleet's defaults for a fleet host).
func loadDebian13Site(sc scenario) (*schema.Config, error) {
	site := d13Site
	if sc.Host != "" {
		site = "defaults: {\n" + site + "}\n"
	}
	return loadExample(sc.Example, sc.Host, schema.Input{Name: "debian13-site.cue", Data: []byte(site)})
}

// TestDebian13Sites checks, without a host, that every scenario's
// configuration loads with the Debian 13 site and renders what the host
// needs: pgvector, tls webroot and the tenant's Valkey user.
func TestDebian13Sites(t *testing.T) {
	for _, sc := range debian13Scenarios {
		cfg, err := loadDebian13Site(sc)
		if err != nil {
			t.Errorf("%s: %v", sc.Name, err)
			continue
		}
		acl := string(render.Render(cfg, render.Options{Secrets: true}).Out["rootfs/etc/valkey/users.acl"].Data)
		if cfg.Immich.Postgres.VectorExtension != "pgvector" || cfg.Immich.Nginx.TLS != "webroot" || !strings.Contains(acl, "\nuser tenant ") {
			t.Errorf("%s: vector extension %s, tls %s, users.acl:\n%s", sc.Name, cfg.Immich.Postgres.VectorExtension, cfg.Immich.Nginx.TLS, acl)
		}
		if sc.Upgrade != "" {
			up, err := loadDebian13SiteVersion(sc, cfg.Immich.Version, sc.Upgrade)
			if err != nil || up.Immich.Version != sc.Upgrade {
				t.Errorf("%s: the upgrade to %s loads %v: %v", sc.Name, sc.Upgrade, up, err)
			}
		}
	}
}

// images imports the stand-in inside the host as every image the site
// names (no registry is reachable).
func (h *d13host) images() (string, error) {
	images, err := siteImages(h.out)
	if err != nil {
		return "", err
	}
	var script strings.Builder
	script.WriteString(`d=$(mktemp -d)
mkdir -p "$d/usr/local/bin" "$d/usr/bin" "$d/usr/src" "$d/etc" "$d/data" "$d/cache" "$d/tmp"
chmod 1777 "$d/tmp"
for n in standin immich-healthcheck; do cp /usr/local/lib/rehearsal/standin "$d/usr/local/bin/$n"; done
cp /usr/local/lib/rehearsal/standin "$d/usr/bin/python3"
tar -C "$d" -cf "$d.tar" .
`)
	for _, img := range images {
		mode := "server"
		if strings.Contains(img, "immich-machine-learning") {
			mode = "ml"
		}
		// The version the image is tagged with (before a digest and an
		// acceleration suffix), as Immich's image knows its own.
		ref, _, _ := strings.Cut(img, "@")
		version, _, _ := strings.Cut(ref[strings.LastIndex(ref, ":")+1:], "-")
		fmt.Fprintf(&script, `podman import --change 'ENTRYPOINT ["/usr/local/bin/standin", "%s"]' --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'ENV REHEARSAL_IMMICH_VERSION=%s' --change 'WORKDIR /usr/src' "$d.tar" '%s' >/dev/null
`, mode, version, img)
	}
	script.WriteString(`rm -rf "$d" "$d.tar"` + "\n")
	if _, err := h.m.sysrunSh(script.String()); err != nil {
		return "", err
	}
	return strings.Join(images, ", "), nil
}

// pebble runs the ACME test CA inside the host, as its own units: pebble
// (its listener's certificate from a CA the host trusts, as an internal
// ACME server's would be) and pebble-challtestsrv as its DNS, resolving
// every name to the host's 127.0.0.1 (and to no IPv6 address: its default
// ::1 reaches the host's default site, not the IPv4-only vhost). certbot finds it through /etc/letsencrypt/cli.ini.
// PEBBLE_WFE_NONCEREJECT=0: by default pebble refuses 5% of nonces at
// random, and certbot then gives up ("invalid anti-replay nonce").
func (h *d13host) pebble() (string, error) {
	script := `
d=/etc/pebble-test
mkdir -p "$d" /etc/letsencrypt
cd "$d"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=pebble-test-tls-ca -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout tls.key -out tls.csr 2>/dev/null
openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -copy_extensions copy -out tls.pem 2>/dev/null
cp ca.pem /usr/local/share/ca-certificates/pebble-test-tls-ca.crt
update-ca-certificates >/dev/null
cat >pebble.json <<'EOF'
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
 "certificate": "/etc/pebble-test/tls.pem", "privateKey": "/etc/pebble-test/tls.key",
 "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
printf 'server = https://localhost:14000/dir\n' >/etc/letsencrypt/cli.ini
systemd-run --quiet --unit=pebble-challtestsrv pebble-challtestsrv -dns01 127.0.0.1:8053 -http01 '' -https01 '' -tlsalpn01 '' -doh '' -defaultIPv4 127.0.0.1 -defaultIPv6 ''
systemd-run --quiet --unit=pebble -E PEBBLE_VA_NOSLEEP=1 -E PEBBLE_WFE_NONCEREJECT=0 pebble -config "$d/pebble.json" -dnsserver 127.0.0.1:8053
for i in $(seq 100); do curl -fsS https://localhost:14000/dir >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS https://localhost:15000/roots/0 >"$d/root.pem"
chmod 0644 "$d/root.pem"
`
	out, err := h.m.shell(script)
	if err != nil {
		st, _ := h.m.enter(time.Minute, "journalctl", "--no-pager", "-u", "pebble", "-u", "pebble-challtestsrv")
		return "", fmt.Errorf("%v\n%s\n%s", err, out, st)
	}
	return "pebble on :14000, its root in /etc/pebble-test/root.pem", nil
}

// readmeSteps runs the README's ```sh blocks under the headings, verbatim,
// each as one step.
func (h *d13host) readmeSteps(section, subsection string) bool {
	blocks := shBlocks(h.readme, section, subsection)
	if len(blocks) == 0 {
		return h.step("README "+section+" "+subsection, func() (string, error) {
			return "", errors.New("the README has no ```sh block there")
		})
	}
	for i, b := range blocks {
		name := fmt.Sprintf("README %s %d/%d", strings.TrimLeft(b.Subsection, "# "), i+1, len(blocks))
		if !h.step(name, func() (string, error) { return h.runBlock(b, nil) }) {
			return false
		}
	}
	return true
}

// runBlock runs one README block: an rsync block here, in the folder that
// holds out/ and secrets/, with root@HOST: the host's root; any other on
// the host, as root, as one script that stops at the first failure.
// replace substitutes placeholders the README asks the operator to fill.
func (h *d13host) runBlock(b readmeBlock, replace map[string]string) (string, error) {
	cmds := b.commands()
	if b.local() {
		for _, c := range cmds {
			c = strings.ReplaceAll(c, "root@HOST:", h.m.root)
			cmd := exec.Command("/bin/sh", "-ec", c)
			cmd.Dir = h.work
			if out, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("%s: %v\n%s", c, err, out)
			}
		}
		return strings.Join(cmds, "; "), nil
	}
	script := strings.Join(cmds, "\n")
	for k, v := range replace {
		if !strings.Contains(script, k) {
			return "", fmt.Errorf("the block has no %s to fill in:\n%s", k, script)
		}
		script = strings.ReplaceAll(script, k, v)
	}
	if _, err := h.m.enter(10*time.Minute, "/bin/sh", "-exc", script); err != nil {
		return "", fmt.Errorf("%v\n%s", err, h.journal())
	}
	return strings.Join(cmds, "; "), nil
}

// journal is what the host says about a failure: failed units, the
// containers, and the journal's warnings and Immich's units.
func (h *d13host) journal() string {
	var b strings.Builder
	for _, args := range [][]string{
		{"systemctl", "--failed", "--no-pager", "--plain"},
		{"podman", "ps", "-a", "--format", "{{.Names}} {{.Status}}"},
		{"sh", "-c", "podman logs --tail 30 $(podman ps -aq --filter ancestor=" + h.serverImage() + ")"},
		{"journalctl", "--no-pager", "-n", "40", "-o", "short-monotonic", "-u", "immich.service", "-u", "immich-db-init.service"},
		{"journalctl", "--no-pager", "-n", "40", "-o", "short-monotonic", "-p", "warning"},
	} {
		out, err := h.m.enter(time.Minute, args...)
		if err != nil {
			out = err.Error()
		}
		fmt.Fprintf(&b, "$ %s\n%s\n", strings.Join(args, " "), out)
	}
	return b.String()
}

// immichUnits are the units a deployment must have active.
func (h *d13host) immichUnits() []string {
	units := []string{render.DBInitUnit, render.ImmichUnit, h.cfg.Host.PostgresService + ".service", h.cfg.Host.ValkeyService + ".service"}
	if h.cfg.Immich.Nginx.Enabled {
		units = append(units, h.cfg.Host.NginxService+".service")
	}
	if h.cfg.Immich.Backup.Enabled {
		units = append(units, render.BackupTimer)
	}
	return units
}

func (h *d13host) unitsActive() (string, error) {
	units := h.immichUnits()
	out, err := h.m.enter(time.Minute, append([]string{"systemctl", "is-active"}, units...)...)
	if err != nil {
		return "", fmt.Errorf("%v\n%s", err, h.journal())
	}
	return strings.Join(units, ", ") + ": " + strings.Join(strings.Fields(out), " "), nil
}

// standinReady waits for the immich-server stand-in's start-up steps in
// the container's log and records each; a failed one fails the deployment.
func (h *d13host) standinReady(name string) bool {
	if h.res.Failed != "" {
		return false
	}
	lineRE := regexp.MustCompile(`(?m)^rehearsal step=(\S+) ok=(true|false) ms=(\d+) detail=(".*")$`)
	start := time.Now()
	var logs string
	for time.Since(start) < 90*time.Second {
		if name, err := h.serverContainer(); err == nil {
			logs, _ = h.m.enter(time.Minute, "podman", "logs", name)
		}
		if strings.Contains(logs, "\nrehearsal ready") || strings.HasPrefix(logs, "rehearsal ready") || strings.Contains(logs, "ok=false") {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	waited := time.Since(start)
	var details []string
	for _, m := range lineRE.FindAllStringSubmatch(logs, -1) {
		detail, _ := strconv.Unquote(m[4])
		if m[2] != "true" {
			stepName := "standin:" + m[1]
			return h.step(stepName, func() (string, error) { return "", errors.New(detail) })
		}
		details = append(details, m[1]+": "+detail)
	}
	return h.step(name, func() (string, error) {
		if !strings.Contains(logs, "rehearsal ready") {
			return "", fmt.Errorf("the stand-in did not report ready within 90s:\n%s\n%s", logs, h.journal())
		}
		return fmt.Sprintf("ready %.1fs after the check began; ", waited.Seconds()) + strings.Join(details, "; "), nil
	})
}

// immichRedis runs Immich's own Redis clients (immichredis/check.mjs) as
// an unprivileged unit against the host's Valkey as the Immich user, then
// checks that the server logged no refusal (ACL LOG, as the admin).
func (h *d13host) immichRedis() (string, error) {
	vk := h.cfg.Immich.Valkey
	admin := h.cfg.Valkey.AdminPassword.Value
	if _, err := h.m.sysrun(nil, "valkey-cli", "--no-auth-warning", "--user", "default", "--pass", admin, "ACL", "LOG", "RESET"); err != nil {
		return "", err
	}
	out, err := h.m.sysrun([]string{"DynamicUser=yes", "WorkingDirectory=/usr/local/lib/rehearsal/immichredis",
		"Environment=REDIS_HOSTNAME=127.0.0.1 REDIS_PORT=" + strconv.Itoa(vk.Port) + " REDIS_DBINDEX=" + strconv.Itoa(vk.DB) + " REDIS_USERNAME=" + vk.User,
		"Environment=REDIS_PASSWORD=" + vk.Password.Value}, "node", "check.mjs")
	if err != nil {
		return "", err
	}
	log, err := h.m.sysrun(nil, "valkey-cli", "--no-auth-warning", "--user", "default", "--pass", admin, "--json", "ACL", "LOG")
	if err != nil {
		return "", err
	}
	var entries []struct {
		Reason, Object, Username string
		Count                    int
	}
	if err := json.Unmarshal([]byte(log), &entries); err != nil {
		return "", fmt.Errorf("ACL LOG: %v\n%s", err, log)
	}
	var refused []string
	for _, e := range entries {
		refused = append(refused, fmt.Sprintf("%s %s by %s x%d", e.Reason, e.Object, e.Username, e.Count))
	}
	if len(refused) > 0 {
		return "", fmt.Errorf("ACL LOG after Immich's clients is not empty:\n%s", strings.Join(refused, "\n"))
	}
	detail := fmt.Sprintf("%d client steps ok; ACL LOG empty", strings.Count(out, "\nok ")+1)
	return detail, nil
}

// checkHTTPS asks the stand-in through nginx over HTTPS, as a client that
// trusts only the test CA's root: a request, a websocket upgrade and a
// 100 MB upload that must reach the server while it is being sent.
func (h *d13host) checkHTTPS() (string, error) {
	ng := h.cfg.Immich.Nginx
	if !ng.Enabled {
		return "not enabled", nil
	}
	base := "https://" + ng.Hostname
	if ng.HTTPSPort != 443 {
		base += ":" + strconv.Itoa(ng.HTTPSPort)
	}
	ca := "/etc/pebble-test/root.pem"
	out, err := h.m.sysrun([]string{"DynamicUser=yes"}, "curl", "-fsS", "--cacert", ca, base+"/api/server/ping")
	if err != nil {
		return "", err
	}
	if !strings.Contains(out, `"res":"pong"`) || !strings.Contains(out, `"forwardedFor":"127.0.0.1"`) {
		return "", fmt.Errorf("GET %s/api/server/ping: %s", base, out)
	}
	ws, err := h.m.sysrun([]string{"DynamicUser=yes"}, "/usr/local/lib/rehearsal/standin", "websocket-client", base, ca)
	if err != nil {
		return "", err
	}
	up, err := h.m.sysrun([]string{"DynamicUser=yes"}, "/usr/local/lib/rehearsal/standin", "upload-client", base, ca, "100")
	if err != nil {
		return "", err
	}
	issuer, _ := h.m.enter(time.Minute, "openssl", "x509", "-noout", "-issuer", "-in", "/etc/letsencrypt/live/"+ng.Hostname+"/cert.pem")
	return strings.Join([]string{strings.TrimSpace(out), strings.TrimSpace(ws), strings.TrimSpace(up), strings.TrimSpace(issuer)}, "; "), nil
}

// backup starts the backup unit and finds its dump, after marking the
// database: a row that the dump holds and one added after it.
func (h *d13host) backup() (string, error) {
	if !h.cfg.Immich.Backup.Enabled {
		return "not enabled", nil
	}
	pg := h.cfg.Immich.Postgres
	mark := func(note string) error {
		sql := "CREATE TABLE IF NOT EXISTS rehearsal_marker (note text); INSERT INTO rehearsal_marker VALUES ('" + note + "')"
		_, err := h.m.sysrun([]string{"User=postgres"}, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-p", strconv.Itoa(pg.Port), "-d", pg.Database,
			"-c", "SET ROLE \""+pg.User+"\"", "-c", sql)
		return err
	}
	if err := mark("in the dump"); err != nil {
		return "", err
	}
	if _, err := h.m.enter(5*time.Minute, "systemctl", "start", render.BackupUnit); err != nil {
		return "", fmt.Errorf("%v\n%s", err, h.journal())
	}
	dir := h.cfg.Immich.Backup.Directory
	out, err := h.m.enter(time.Minute, "/bin/sh", "-c", "ls "+dir)
	if err != nil {
		return "", err
	}
	dumps := strings.Fields(out)
	if len(dumps) != 1 {
		return "", fmt.Errorf("want one dump in %s, have %q", dir, dumps)
	}
	h.dump = dumps[0]
	if err := mark("after the dump"); err != nil {
		return "", err
	}
	return dir + "/" + h.dump, nil
}

// restore follows the README's restore procedure with the dump's name.
func (h *d13host) restore() bool {
	if h.res.Failed != "" || !h.cfg.Immich.Backup.Enabled {
		return h.res.Failed == ""
	}
	blocks := shBlocks(h.readme, "## Backups", "")
	var restore *readmeBlock
	for i, b := range blocks {
		if strings.Contains(strings.Join(b.Lines, "\n"), "pg_restore") {
			restore = &blocks[i]
		}
	}
	return h.step("README restore procedure", func() (string, error) {
		if restore == nil {
			return "", errors.New("the README's Backups section has no ```sh block with pg_restore")
		}
		placeholder := regexp.MustCompile(`immich-Y{4}M{2}D{2}TH{2}M{2}S{2}Z\.dump`).FindString(strings.Join(restore.Lines, "\n"))
		if placeholder == "" {
			return "", errors.New("the restore block names no dump file to fill in")
		}
		return h.runBlock(*restore, map[string]string{placeholder: h.dump})
	})
}

// checkRestored checks that the database is the dump's: the row made
// before it, not the one after, and the stand-in's vector table with its
// HNSW index, all owned by the Immich role.
func (h *d13host) checkRestored() (string, error) {
	pg := h.cfg.Immich.Postgres
	out, err := h.m.sysrun([]string{"User=postgres"}, "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-p", strconv.Itoa(pg.Port), "-d", pg.Database,
		"-c", "SELECT string_agg(note, ',') FROM rehearsal_marker",
		"-c", "SELECT tableowner FROM pg_tables WHERE tablename = 'rehearsal_marker'",
		"-c", "SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%USING hnsw%'")
	if err != nil {
		return "", err
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"in the dump", pg.User, "0"}
	if pg.VectorExtension == "pgvector" {
		want[2] = "1"
	}
	if !slices.Equal(got, want) {
		return "", fmt.Errorf("after the restore: %q, want %q (marker rows, owner, HNSW indexes)", got, want)
	}
	return strings.Join(got, "; "), nil
}

// containersRunning checks that the compose stack's containers run: the
// unit is active even when compose could not start them (podman-compose
// exits 0 then).
func (h *d13host) containersRunning() (string, error) {
	out, err := h.m.enter(time.Minute, "podman", "ps", "-a", "--format", "{{.Image}} {{.Names}} {{.State}}")
	if err != nil {
		return "", err
	}
	images, err := siteImages(h.out)
	if err != nil {
		return "", err
	}
	var running []string
	for _, img := range images {
		found := false
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == img && f[2] == "running" {
				found = true
				running = append(running, f[1])
			}
		}
		if !found {
			return "", fmt.Errorf("no container of %s runs although %s is active:\n%s\n%s", img, render.ImmichUnit, out, h.journal())
		}
	}
	return strings.Join(running, ", ") + " running", nil
}

// noContainers waits for the containers to go after the stop: with
// Quadlet, immich.service stops first (it starts last) and systemctl
// returns while its containers still stop.
func (h *d13host) noContainers() (string, error) {
	start := time.Now()
	for {
		out, err := h.m.enter(time.Minute, "podman", "ps", "-a", "--format", "{{.Names}}")
		if err != nil {
			return "", err
		}
		if strings.TrimSpace(out) == "" {
			return fmt.Sprintf("podman ps -a is empty (%.1fs after systemctl stop returned)", time.Since(start).Seconds()), nil
		}
		if time.Since(start) > time.Minute {
			return "", fmt.Errorf("containers left a minute after systemctl stop immich: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
