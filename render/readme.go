package render

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// renderReadme renders the output's README.md: the deployment's own page,
// written from the configuration and the files actually rendered, so it
// cannot drift from them: out is every other file of the -o tree.
func renderReadme(cfg *schema.Config, out tree.Tree) tree.File {
	im := cfg.Immich
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("# Immich %s on %s\n\n", im.Version, siteName(cfg))
	w("%s\n", Notice)
	w("Review `git diff` and commit after each render. `immich-render -o <this dir> --check`\n")
	w("exits 1 when the files no longer match the configuration.\n\n")

	w("## At a glance\n\n")
	w("| | |\n|---|---|\n")
	w("| Immich | `%s` (server and machine learning images) |\n", im.Version)
	if im.Nginx.Enabled {
		w("| URL | %s (nginx, TLS: %s) |\n", publicURL(cfg), im.Nginx.TLS)
		w("| Published port | 127.0.0.1:%d (loopback only, behind nginx) |\n", im.Port)
	} else {
		w("| URL | http://HOST:%d/ |\n", im.Port)
		w("| Published port | %d on every address |\n", im.Port)
	}
	w("| Uploads | `%s` → `/data` |\n", im.UploadLocation)
	for _, m := range schema.StorageMounts(cfg) {
		w("| Separate storage | `%s` → `%s` |\n", m.Host, m.Container)
	}
	b.WriteString(runtimeRow(cfg))
	w("| Podman network | `%s` %s, gateway %s |\n", im.Network.Name, im.Network.Subnet, im.Network.Gateway)
	w("| PostgreSQL | database `%s`, role `%s`, at %s:%d, vector extension `%s` |\n",
		im.Postgres.Database, im.Postgres.User, im.Postgres.Host, im.Postgres.Port, im.Postgres.VectorExtension)
	w("| Valkey | user `%s`, database %d, at %s:%d |\n", im.Valkey.User, im.Valkey.DB, im.Valkey.Host, im.Valkey.Port)
	ml := "off"
	if im.MachineLearning.URL != "" {
		ml = "at " + im.MachineLearning.URL + " (no container here)"
	} else if im.MachineLearning.Enabled {
		ml = im.MachineLearning.Acceleration
	}
	w("| Machine learning | %s |\n", ml)
	w("| Transcoding | %s |\n", im.Transcoding.Acceleration)
	if im.Metrics.Enabled {
		w("| Metrics | Prometheus on %s:8081 (api) and :8082 (microservices) |\n", im.Metrics.Address)
	}
	for _, lib := range im.ExternalLibraries {
		mode := "read-only"
		if !lib.ReadOnly {
			mode = "read-write"
		}
		w("| External library | `%s` → `%s` (%s) |\n", lib.HostPath, lib.ContainerPath, mode)
	}
	w("\n")

	w("## Topology\n\n")
	b.WriteString(topology(cfg))

	b.WriteString(hostAccessSection(cfg))

	w("## Files\n\n")
	w("`rootfs/` mirrors the host's `/`. `fragments/` holds lines to merge into files that\n")
	w("another tool or person owns; immich-render never overwrites those.\n\n")
	w("| File | Mode | Owner | What it is |\n|---|---|---|---|\n")
	for _, p := range out.Paths() {
		f := out[p]
		w("| `%s` | %s | %s | %s |\n", hostOrTreePath(p), modeString(f.Mode), ownerOf(f), describe(cfg, p))
	}
	w("| `README.md` | 0644 | | this page |\n")
	w("| `.immich-render.json` | 0644 | | manifest: tool version and every file's mode and SHA-256 |\n\n")

	w("## Secrets the host needs\n\n")
	w("None of these values is in this directory. `immich-render --secrets-out SDIR` writes\n")
	w("them (files 0600, folders 0700) for rsync or cloud-init; keep SDIR out of git.\n\n")
	w("| Host file | Holds | Read by |\n|---|---|---|\n")
	for _, s := range schema.ImmichSecrets() {
		w("| `%s` | `%s` | %s |\n", path.Join(secretsDir(cfg), s.File), s.Path, secretReader(cfg, s))
	}
	if settingsSecret(cfg) {
		var held []string
		for _, ns := range cfg.SettingSecrets() {
			held = append(held, "`immich.settings."+ns.Path+"`")
		}
		w("| `%s` | Immich's system settings with %s | immich-server, mounted read-only at `%s` (IMMICH_CONFIG_FILE) |\n",
			SettingsPath(cfg), strings.Join(held, " and "), schema.SettingsContainerPath)
	}
	if cfg.Valkey.ACLMode == schema.ACLModeUser {
		w("| `%s` | `valkey.adminPassword` | %s, which logs in as Valkey's default user |\n", path.Join(secretsDir(cfg), valkeyAdminSecret), ValkeyUserUnit)
	}
	w("\nThe Valkey passwords are in `users.acl` only as SHA-256 hashes, and the PostgreSQL\n")
	w("password in `init.sql` only as a SCRAM-SHA-256 verifier.\n\n")

	b.WriteString(deploySection(cfg, out))

	_, settings := settingsJSON(cfg)
	b.WriteString(backupSection(cfg, settings))
	b.WriteString(metricsSection(cfg))

	return file("README.md", []byte(b.String()), 0o644)
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

// deploySection says how to put the files on a host, in order, for a
// first deployment and for upgrades.
func deploySection(cfg *schema.Config, out tree.Tree) string {
	im := cfg.Immich
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	sdir := secretsDir(cfg)

	w("## Deploy\n\n")
	w("Either copy the two trees with rsync and run the commands below, or give the host\n")
	w("`SDIR/cloud-init/user-data` (from `--secrets-out SDIR`), which does all of it on first boot.\n\n")
	// The deploy steps are the ```sh blocks of this section, one command
	// per line, in order: the rehearsal (internal/rehearsal) runs them
	// verbatim, rsync blocks where out/ is and the others on the host.
	_, apply := out["fragments/apply.sh"]
	fragments := path.Join(StateDir, "fragments")
	w("### First deployment\n\n")
	if apply {
		w("1. Merge the files under `fragments/` into the host's PostgreSQL and Valkey configuration:\n")
		w("   the commands below copy them to `%s/` and run its `apply.sh` there (as\n", fragments)
		w("   cloud-init does), then restart those services once; or merge them by hand (each says where it goes).\n")
	} else {
		w("1. Merge the files under `fragments/` into the host's PostgreSQL and Valkey configuration\n")
		w("   (each says where it goes), then restart those services once.\n")
	}
	w("2. Copy the files with their modes (run where `out/` is; the secrets were rendered\n")
	w("   outside the repository, `--secrets-out ../immich-secrets`). Without `-o`/`-g`,\n")
	w("   rsync leaves the owners of existing host folders alone and new files belong to root;\n")
	w("   `-p` does give the folders on the way (`/etc/systemd/system`, ...) the tree's mode 0755.\n\n")
	w("```sh\n")
	if apply {
		w("rsync -rlp --mkpath out/fragments/ root@HOST:%s/\n", fragments)
	}
	w("rsync -rlp out/rootfs/ root@HOST:/\n")
	w("rsync -rp --chown=root:root --chmod=D0700,F0600 --mkpath ../immich-secrets/rootfs%s/ root@HOST:%s/\n", shellPath(sdir), shellPath(sdir))
	w("```\n\n")
	w("   The secrets are copied into their own folder only, so that its 0700 mode never\n")
	w("   reaches `/opt` or another shared parent.\n")
	var owned []string
	for _, p := range out.Paths() {
		if f := out[p]; f.Owner != "" && strings.HasPrefix(p, "rootfs/") {
			owned = append(owned, fmt.Sprintf("chown %s %s", f.Owner, shellPath("/"+strings.TrimPrefix(p, "rootfs/"))))
		}
	}
	step := 3
	if ng := im.Nginx; ng.Enabled && ng.TLS == "webroot" {
		live := "/etc/letsencrypt/live/" + ng.Hostname
		w("%d. The first certificate, once, before Immich starts: nginx refuses the rendered vhost until\n", step)
		w("   the certificate exists, and certbot needs nginx to serve its challenge. A placeholder lets\n")
		w("   nginx load the vhost; it goes before certbot runs (certbot refuses an existing `live/` folder).\n")
		w("   Point certbot at another ACME server with `server = URL` in `/etc/letsencrypt/cli.ini`.\n\n")
		w("```sh\n")
		w("mkdir -p %s %s\n", shellPath(ng.Webroot), shellPath(live))
		w("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj %s -keyout %s -out %s\n",
			shellPath("/CN="+ng.Hostname), shellPath(live+"/privkey.pem"), shellPath(live+"/fullchain.pem"))
		// A restart, not a reload: it returns once nginx serves the vhost.
		w("systemctl restart %s.service\n", cfg.Host.NginxService)
		w("rm -r %s\n", shellPath(live))
		w("%s\n", shellCommand([]string{"certbot", "certonly", "--non-interactive", "--agree-tos", "-m", ng.ACME.Email,
			"--webroot", "-w", ng.Webroot, "-d", ng.Hostname, "--deploy-hook", "systemctl reload " + cfg.Host.NginxService + ".service"}))
		w("```\n\n")
		w("   The Debian package's certbot.timer renews it; the deploy hook reloads nginx then.\n")
		step++
	}
	w("%d. On the host:\n", step)
	if note := runtimeDeployNote(cfg); note != "" {
		w("\n%s", note)
	}
	w("\n```sh\n")
	if apply {
		w("sh %s/apply.sh\n", fragments)
	}
	for _, c := range owned {
		w("%s\n", c)
	}
	w("%s\n", strings.Join(startCommands(cfg), "\n"))
	w("```\n\n")
	b.WriteString(applySection(cfg))
	w("### Upgrades and configuration changes\n\n")
	w("1. Back up the database and `%s` before changing `immich.version`: Immich's\n", im.UploadLocation)
	w("   database migrations have no downgrade. `%s` dumps the database into\n", UpgradeDumpUnit)
	w("   `%s` before the new version first starts.", im.Backup.Directory)
	if im.Backup.Enabled {
		w("\n   `systemctl start %s` dumps the database now.", BackupUnit)
	}
	w("\n")
	w("2. Render, read the diff (`git diff out/`) and the upgrade notes immich-render prints, commit.\n")
	w("3. Run the same rsync commands and `fragments/apply.sh` again (it prints `no change`\n")
	w("   when nothing is to merge), then on the host:\n\n")
	if note := runtimeSwitchNote(cfg); note != "" {
		w("%s\n", note)
	}
	w("```sh\n")
	w("systemctl daemon-reload\n")
	w("systemctl restart %s immich.service\n", DBInitUnit)
	w("```\n\n")
	w("### Manage\n\n```sh\n")
	for _, c := range manageCommands(cfg) {
		w("%s\n", c)
	}
	w("```\n\n")
	return b.String()
}

// startCommands are the host commands that load the new files and start
// Immich, in order; cloud-init runs the same list.
func startCommands(cfg *schema.Config) []string {
	cmds := []string{
		"systemctl daemon-reload",
		"systemctl restart " + cfg.Host.ValkeyService + ".service",
		// A restart: listen_addresses and shared_preload_libraries take
		// effect only then (a reload leaves the gateway unbound).
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
	w("and removes what it created. Restart PostgreSQL and Valkey after either.\n\n")
	return b.String()
}
