package render

import (
	_ "embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"text/template"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

//go:embed templates/README.md.tmpl
var readmeSource string

// readmeTemplate is the output README; readmeView gives it every value.
// It is parsed on first use.
var readmeTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("README.md").Option("missingkey=error").Parse(readmeSource))
})

// renderReadme renders the output's README.md: the deployment's own page,
// written from the configuration and the files actually rendered, so it
// cannot drift from them: out is every other file of the -o tree.
func renderReadme(cfg *schema.Config, out tree.Tree) tree.File {
	var b strings.Builder
	if err := readmeTemplate().Execute(&b, newReadmeView(cfg, out)); err != nil {
		// The template and its view are compiled in: a failure is a bug
		// that every golden test shows.
		panic(fmt.Sprintf("render: README template: %v", err))
	}
	return file("README.md", []byte(b.String()), 0o644)
}

// readmeView is what the README template shows.
type readmeView struct {
	Version, Site, URL, TLS                         string
	Nginx                                           bool
	Port                                            int
	Upload, ComposePath, ProjectDir, ComposeCommand string
	NetName, Subnet, Gateway, HostGateway           string
	PG                                              schema.ImmichPostgres
	Valkey                                          schema.ImmichValkey
	ML, Transcoding                                 string
	Libraries                                       []libraryRow
	Topology, HostAccess, Backup                    string
	Files                                           []fileRow
	Secrets                                         []secretRow
	Before                                          []string
	Packages                                        packages
	StateDir                                        string
	Rsync, FirstCert, Start, Upgrade                []string
	StartStep                                       int
	Verify, UpgradeDumpUnit, BackupDir              string
	BackupUnit, DBInitUnit, ImmichUnit              string
	Disable                                         string
	Remove                                          []string
	Glance                                          []glanceRow // the "At a glance" table
	Notice, RuntimeDeployNote, RuntimeSwitchNote    string
	ApplySection                                    string
	Apply                                           bool
	Manage                                          []string
	Appendix                                        []string // sections after Backups, in order
}

type glanceRow struct{ Key, Value string }

type libraryRow struct{ HostPath, ContainerPath, Mode string }

type fileRow struct{ Path, Mode, Owner, What string }

type secretRow struct{ HostFile, Holds, ReadBy string } // markdown cells

func newReadmeView(cfg *schema.Config, out tree.Tree) readmeView {
	im := cfg.Immich
	v := readmeView{
		Version: im.Version, Site: siteName(cfg), Nginx: im.Nginx.Enabled, TLS: im.Nginx.TLS, Port: im.Port,
		Upload: im.UploadLocation, ComposePath: ComposePath(cfg), ProjectDir: shellPath(im.ProjectDir), ComposeCommand: im.ComposeCommand,
		NetName: im.Network.Name, Subnet: im.Network.Subnet, Gateway: im.Network.Gateway, HostGateway: im.HostGateway,
		PG: im.Postgres, Valkey: im.Valkey, ML: "off", Transcoding: im.Transcoding.Acceleration,
		Topology: topology(cfg), HostAccess: hostAccessSection(cfg),
		StateDir: StateDir, DBInitUnit: DBInitUnit, ImmichUnit: ImmichUnit,
		Verify: VerifyScript, Notice: Notice, UpgradeDumpUnit: UpgradeDumpUnit, BackupDir: im.Backup.Directory,
		RuntimeDeployNote: strings.TrimSuffix(runtimeDeployNote(cfg), "\n"), RuntimeSwitchNote: strings.TrimSuffix(runtimeSwitchNote(cfg), "\n"),
		Manage: manageCommands(cfg),
	}
	if im.Nginx.Enabled {
		v.URL = publicURL(cfg)
	}
	if im.MachineLearning.URL != "" {
		v.ML = "at " + im.MachineLearning.URL + " (no container here)"
	} else if im.MachineLearning.Enabled {
		v.ML = im.MachineLearning.Acceleration
	}
	for _, lib := range im.ExternalLibraries {
		mode := "read-only"
		if !lib.ReadOnly {
			mode = "read-write"
		}
		v.Libraries = append(v.Libraries, libraryRow{lib.HostPath, lib.ContainerPath, mode})
	}
	for _, p := range out.Paths() {
		f := out[p]
		v.Files = append(v.Files, fileRow{hostOrTreePath(p), modeString(f.Mode), ownerOf(f), describe(cfg, p)})
	}
	for _, s := range schema.ImmichSecrets() {
		v.Secrets = append(v.Secrets, secretRow{"`" + path.Join(secretsDir(cfg), s.File) + "`", "`" + s.Path + "`", secretReader(cfg, s)})
	}
	if settingsSecret(cfg) {
		var held []string
		for _, ns := range cfg.SettingSecrets() {
			held = append(held, "`immich.settings."+ns.Path+"`")
		}
		v.Secrets = append(v.Secrets, secretRow{"`" + SettingsPath(cfg) + "`", "Immich's system settings with " + strings.Join(held, " and "),
			"immich-server, mounted read-only at `" + schema.SettingsContainerPath + "` (IMMICH_CONFIG_FILE)"})
	}
	if cfg.Valkey.ACLMode == schema.ACLModeUser {
		v.Secrets = append(v.Secrets, secretRow{"`" + path.Join(secretsDir(cfg), valkeyAdminSecret) + "`", "`valkey.adminPassword`",
			ValkeyUserUnit + ", which logs in as Valkey's default user"})
	}
	v.Before, v.Packages = beforeDeploy(cfg)

	sdir := secretsDir(cfg)
	// The deploy steps are the ```sh blocks of "First deployment", one
	// command per line, in order: the rehearsal (internal/rehearsal) runs
	// them verbatim, rsync blocks where out/ is and the others on the host.
	_, v.Apply = out[ApplyScript]
	fragments := path.Join(StateDir, "fragments")
	if v.Apply {
		v.Rsync = append(v.Rsync, "rsync -rlp --mkpath out/fragments/ root@HOST:"+shellPath(fragments)+"/")
	}
	v.Rsync = append(v.Rsync,
		"rsync -rlp out/rootfs/ root@HOST:/",
		fmt.Sprintf("rsync -rp --chown=root:root --chmod=D0700,F0600 --mkpath ../immich-secrets/rootfs%s/ root@HOST:%s/", shellPath(sdir), shellPath(sdir)))
	step := 2
	if v.FirstCert, _ = firstCertCommands(cfg); v.FirstCert != nil {
		step++
	}
	// What the first deployment and every update run before starting:
	// the fragments merged, and the files a service reads given back their
	// groups (rsync copies them as root's).
	var prepare []string
	if v.Apply {
		prepare = append(prepare, "sh "+shellPath(fragments)+"/apply.sh")
	}
	for _, p := range out.Paths() {
		if f := out[p]; f.Owner != "" && strings.HasPrefix(p, "rootfs/") {
			prepare = append(prepare, fmt.Sprintf("chown %s %s", f.Owner, shellPath(hostOrTreePath(p))))
		}
	}
	v.Start = append(slices.Clone(prepare), startCommands(cfg)...)
	v.Start = append(v.Start, VerifyScript)
	v.Upgrade = append(prepare, "systemctl daemon-reload", "systemctl restart "+DBInitUnit+" "+v.ImmichUnit, VerifyScript)
	v.StartStep = step
	v.ApplySection = applySection(cfg)

	disable := []string{ImmichUnit}
	if im.Backup.Enabled {
		v.BackupUnit = BackupUnit
		disable = append(disable, BackupTimer)
	}
	v.Disable = strings.Join(disable, " ")
	for _, p := range out.Paths() {
		// users.acl holds Valkey's other users too.
		if strings.HasPrefix(p, "rootfs/") && p != rootfs(valkeyACLPath) {
			v.Remove = append(v.Remove, shellPath(hostOrTreePath(p)))
		}
	}
	v.Remove = append(v.Remove, shellPath(sdir)+"/*")
	_, settings := settingsJSON(cfg)
	v.Backup = backupSection(cfg, settings)
	v.Appendix = append(v.Appendix, metricsSection(cfg))
	v.Glance = glance(cfg, v)
	return v
}

// glance is the "At a glance" table.
func glance(cfg *schema.Config, v readmeView) []glanceRow {
	im := cfg.Immich
	rows := []glanceRow{{"Immich", fmt.Sprintf("`%s` (server and machine learning images)", im.Version)}}
	if im.Nginx.Enabled {
		rows = append(rows, glanceRow{"URL", fmt.Sprintf("%s (nginx, TLS: %s)", v.URL, im.Nginx.TLS)},
			glanceRow{"Published port", fmt.Sprintf("127.0.0.1:%d (loopback only, behind nginx)", im.Port)})
	} else {
		rows = append(rows, glanceRow{"URL", fmt.Sprintf("http://HOST:%d/", im.Port)},
			glanceRow{"Published port", fmt.Sprintf("%d on every address", im.Port)})
	}
	pg, vk := im.Postgres, im.Valkey
	rows = append(rows,
		glanceRow{"Uploads", fmt.Sprintf("`%s` → `/data`", im.UploadLocation)})
	for _, m := range schema.StorageMounts(cfg) {
		rows = append(rows, glanceRow{"Separate storage", fmt.Sprintf("`%s` → `%s`", m.Host, m.Container)})
	}
	rows = append(rows,
		runtimeRow(cfg),
		glanceRow{"Podman network", fmt.Sprintf("`%s` %s, gateway %s", im.Network.Name, im.Network.Subnet, im.Network.Gateway)},
		glanceRow{"PostgreSQL", fmt.Sprintf("database `%s`, role `%s`, at %s:%d, vector extension `%s`", pg.Database, pg.User, pg.Host, pg.Port, pg.VectorExtension)},
		glanceRow{"Valkey", fmt.Sprintf("user `%s`, database %d, at %s:%d", vk.User, vk.DB, vk.Host, vk.Port)},
		glanceRow{"Machine learning", v.ML},
		glanceRow{"Transcoding", im.Transcoding.Acceleration})
	if im.Metrics.Enabled {
		rows = append(rows, glanceRow{"Metrics", fmt.Sprintf("Prometheus on %s:8081 (api) and :8082 (microservices)", im.Metrics.Address)})
	}
	for _, lib := range v.Libraries {
		rows = append(rows, glanceRow{"External library", fmt.Sprintf("`%s` → `%s` (%s)", lib.HostPath, lib.ContainerPath, lib.Mode)})
	}
	return rows
}

// publicURL is where users reach Immich through nginx.
func publicURL(cfg *schema.Config) string {
	n := cfg.Immich.Nginx
	scheme, port, def := "https", n.HTTPSPort, 443
	if n.TLS == "off" {
		scheme, port, def = "http", n.HTTPPort, 80
	}
	if port != def {
		return fmt.Sprintf("%s://%s:%d/", scheme, n.Hostname, port)
	}
	return scheme + "://" + n.Hostname + "/"
}

// siteName is the best short name of the deployment.
func siteName(cfg *schema.Config) string {
	if cfg.Immich.Nginx.Enabled {
		return cfg.Immich.Nginx.Hostname
	}
	return "this host (" + cfg.Immich.ProjectDir + ")"
}

// topology is a Mermaid diagram of containers, network, host services and
// published ports.
func topology(cfg *schema.Config) string {
	im := cfg.Immich
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("```mermaid\nflowchart LR\n")
	w("  clients((clients))\n")
	w("  subgraph host[\"host\"]\n")
	if im.Nginx.Enabled {
		port := im.Nginx.HTTPSPort
		if im.Nginx.TLS == "off" {
			port = im.Nginx.HTTPPort
		}
		w("    nginx[\"nginx %s :%d\"]\n", im.Nginx.Hostname, port)
	}
	w("    pg[(\"PostgreSQL :%d<br/>db %s, role %s\")]\n", im.Postgres.Port, im.Postgres.Database, im.Postgres.User)
	w("    valkey[(\"Valkey :%d<br/>user %s, db %d\")]\n", im.Valkey.Port, im.Valkey.User, im.Valkey.DB)
	w("    gw{{\"host.containers.internal<br/>%s\"}}\n", im.HostGateway)
	w("    subgraph net[\"podman network %s %s, gateway %s\"]\n", im.Network.Name, im.Network.Subnet, im.Network.Gateway)
	w("      server[\"immich-server :%d\"]\n", ContainerPort)
	if im.MachineLearning.Enabled {
		w("      ml[\"immich-machine-learning :3003<br/>%s\"]\n", im.MachineLearning.Acceleration)
	}
	w("    end\n  end\n")
	if im.Nginx.Enabled {
		if im.Nginx.TLS == "off" {
			w("  clients -->|http :%d| nginx\n", im.Nginx.HTTPPort)
		} else {
			w("  clients -->|https :%d| nginx\n", im.Nginx.HTTPSPort)
		}
		w("  nginx -->|127.0.0.1:%d| server\n", im.Port)
	} else {
		w("  clients -->|http :%d| server\n", im.Port)
	}
	if im.MachineLearning.Enabled {
		w("  server -->|http :3003| ml\n")
	}
	w("  server --> gw\n")
	w("  gw -->|:%d scram-sha-256| pg\n", im.Postgres.Port)
	w("  gw -->|:%d ACL user %s| valkey\n", im.Valkey.Port, im.Valkey.User)
	w("```\n\n")
	return b.String()
}

// firstCertCommands are the host commands that get the first certificate
// with the webroot TLS mode (none otherwise), and the file that exists
// once there is one. A placeholder certificate lets nginx load the vhost
// and serve certbot's challenge from the webroot; certbot then refuses an
// existing live/ folder, so it goes first. The README and cloud-init run
// the same list.
func firstCertCommands(cfg *schema.Config) (cmds []string, cert string) {
	n := cfg.Immich.Nginx
	if !n.Enabled || n.TLS != "webroot" {
		return nil, ""
	}
	live := "/etc/letsencrypt/live/" + n.Hostname
	return []string{
		"mkdir -p " + shellPath(n.Webroot) + " " + shellPath(live),
		fmt.Sprintf("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj %s -keyout %s -out %s",
			shellPath("/CN="+n.Hostname), shellPath(live+"/privkey.pem"), shellPath(live+"/fullchain.pem")),
		// A restart, not a reload: it returns once nginx serves the vhost.
		"systemctl restart " + cfg.Host.NginxService + ".service",
		"rm -r " + shellPath(live),
		shellCommand([]string{"certbot", "certonly", "--non-interactive", "--agree-tos", "-m", n.ACME.Email,
			"--webroot", "-w", n.Webroot, "-d", n.Hostname, "--deploy-hook", "systemctl reload " + cfg.Host.NginxService + ".service"}),
	}, live + "/fullchain.pem"
}

// startCommands are the host commands that load the new files and start
// Immich, in order; cloud-init runs the same list.
func startCommands(cfg *schema.Config) []string {
	cmds := []string{
		"systemctl daemon-reload",
		"systemctl restart " + cfg.Host.ValkeyService + ".service",
		// listen_addresses and shared_preload_libraries need a start.
		"systemctl restart " + cfg.Host.PostgresService + ".service",
	}
	if cfg.Immich.Nginx.Enabled {
		cmds = append(cmds, "systemctl reload-or-restart "+cfg.Host.NginxService+".service")
	}
	cmds = append(cmds, "systemctl restart "+DBInitUnit)
	if cfg.Immich.Backup.Enabled {
		cmds = append(cmds, "systemctl enable --now "+BackupTimer)
	}
	return append(cmds, "systemctl enable --now "+ImmichUnit)
}

// describe says what a rendered file is, from its path.
func describe(cfg *schema.Config, p string) string {
	if d := describeRuntime(cfg, p); d != "" {
		return d
	}
	switch {
	case strings.HasSuffix(p, "/postgres/init.sql"):
		return "idempotent database init (role, database, extensions); run by " + DBInitUnit
	case strings.HasSuffix(p, "/"+DBInitUnit):
		return "runs init.sql as the postgres user before Immich starts"
	case strings.HasSuffix(p, "/"+BackupUnit):
		return "dumps the database with pg_dump as the postgres user, keeps the newest " + fmt.Sprint(cfg.Immich.Backup.Keep)
	case strings.HasSuffix(p, "/"+BackupTimer):
		return "starts " + BackupUnit + " (OnCalendar=" + cfg.Immich.Backup.Schedule + ")"
	case strings.HasSuffix(p, BackupScript):
		return "the backup script " + BackupUnit + " runs"
	case strings.HasSuffix(p, "/"+UpgradeDumpUnit):
		return "before " + DBInitUnit + ": dumps the database when another Immich version ran it last"
	case strings.HasSuffix(p, UpgradeDumpScript):
		return "the script " + UpgradeDumpUnit + " runs"
	case strings.HasSuffix(p, VerifyScript):
		return "checks the deployment as Immich sees it (see Deploy)"
	case strings.HasSuffix(p, "/users.acl"):
		return "Valkey ACL: default (admin), immich and other service users, passwords as SHA-256"
	case strings.HasPrefix(p, "rootfs/etc/nginx/"):
		return "nginx configuration"
	case strings.HasPrefix(p, "fragments/postgresql/pg_hba"):
		return "merge into pg_hba.conf (first match wins: put it before broader lines)"
	case strings.HasPrefix(p, "fragments/postgresql/"):
		return "settings to merge into postgresql.conf, keeping the host's own addresses and libraries (apply.sh does)"
	case p == ApplyScript:
		return "merges the fragments into the host's configuration, keeping its other tenants' values; `--dry-run`, `--undo` (cloud-init runs it)"
	case strings.HasSuffix(p, "/"+ValkeyUserUnit):
		return "sets Immich's Valkey user with ACL SETUSER and ACL SAVE before Immich starts (valkey.aclMode \"user\")"
	case strings.HasSuffix(p, "/valkey/immich-user.sh"):
		return "the script " + ValkeyUserUnit + " runs"
	case strings.HasSuffix(p, ".d/valkey-user.conf"):
		return "makes the server's unit want " + ValkeyUserUnit
	case p == PrometheusFragment:
		return "Prometheus scrape jobs for Immich's metrics: merge into prometheus.yml"
	case strings.HasPrefix(p, "fragments/valkey/"):
		return "settings to merge into valkey.conf, keeping the host's own bind addresses (apply.sh does)"
	case strings.HasSuffix(p, ".json") && strings.Contains(p, "/config/"):
		return "Immich system settings, passed with IMMICH_CONFIG_FILE"
	}
	return ""
}

// hostOrTreePath shows rootfs files by their host path.
func hostOrTreePath(p string) string {
	if strings.HasPrefix(p, "rootfs/") {
		return "/" + strings.TrimPrefix(p, "rootfs/")
	}
	return p
}

func modeString(m fs.FileMode) string { return fmt.Sprintf("%04o", uint32(m)) }

func ownerOf(f tree.File) string {
	if f.Owner == "" {
		return "root:root"
	}
	return f.Owner
}

// shellPath quotes a path for a POSIX shell when it needs it.
func shellPath(p string) string {
	if p != "" && strings.IndexFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+@=,", r))
	}) < 0 {
		return p
	}
	return shellQuote(p)
}

// shellQuote single-quotes a word for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// applySection says what fragments/apply.sh changes on the host and how
// to take it back.
func applySection(cfg *schema.Config) string {
	im := cfg.Immich
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	_, preload := vectorExtensions(im.Postgres.VectorExtension)
	w("### fragments/apply.sh\n\n")
	w("`fragments/apply.sh [--dry-run | --undo]`, as root on the host, merges and never replaces\n")
	w("(PostgreSQL and Valkey may serve other tenants):\n\n")
	w("- PostgreSQL (the cluster of `/etc/postgresql/*/*` on port %d): `conf.d/immich-render.conf`\n", im.Postgres.Port)
	w("  sets `listen_addresses` and `shared_preload_libraries` to the host's values, as `postgres -C`\n")
	w("  computes them, followed by `%s`", pgListen(cfg))
	if preload != "" {
		w(" and `%s`", preload)
	}
	w("; Immich's line goes\n  at the top of `pg_hba.conf`.\n")
	w("- Valkey (`/etc/valkey/valkey.conf`, else `/etc/redis/redis.conf`): an `include` at its end\n")
	w("  reads `immich-render.conf` beside it: `bind` is the host's addresses followed by\n")
	w("  `%s`", strings.Join(valkeyBinds(cfg), " "))
	if cfg.Valkey.ACLMode == schema.ACLModeUser {
		w("; the host's `aclfile` stays, and %s sets Immich's user in it.\n", ValkeyUserUnit)
	} else {
		w(", and `aclfile %s` when the host has none (one\n  pointing elsewhere is refused: its users would be replaced).\n", valkeyACLPath)
	}
	w("- `/etc/sysctl.d/60-immich-render.conf`: `net.ipv4.ip_nonlocal_bind = 1`, so that both\n")
	w("  servers bind %s before Podman's bridge carries it.\n\n", im.HostGateway)
	w("It prints one line per change (`no change` when none: run it after every render). Where it\n")
	w("cannot merge, it says why, changes nothing and exits 1. The files as they were before its\n")
	w("first run are in `/var/lib/immich-render/apply-undo/`: `--undo` restores them byte for byte\n")
	w("and removes what it created. Restart PostgreSQL and Valkey after either. It runs one at a\n")
	w("time: another run (cloud-init's, a second deploy) holding `/run/immich-render-apply.lock`\n")
	w("is waited for up to 120 s (`IMMICH_RENDER_APPLY_WAIT` seconds), then it gives up and\n")
	w("changes nothing.\n\n")
	return b.String()
}
