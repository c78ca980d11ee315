package render

import (
	"fmt"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// Backup units and the script the service runs.
const (
	BackupUnit   = "immich-backup.service"
	BackupTimer  = "immich-backup.timer"
	BackupScript = "/usr/local/lib/immich-render/immich-backup"
	// backupDelay spreads the start of many hosts' dumps on one schedule.
	backupDelay = "30min"
)

// renderBackup renders the database backup: a timer on immich.backup.schedule
// starts a oneshot service that runs the backup script as the postgres
// user. Nothing when backups are off.
func renderBackup(cfg *schema.Config) []tree.File {
	if !cfg.Immich.Backup.Enabled {
		return nil
	}
	return []tree.File{
		file(rootfs(BackupScript), backupScript(cfg), 0o755),
		file(rootfs(unitPath(BackupUnit)), backupService(cfg), 0o644),
		file(rootfs(unitPath(BackupTimer)), backupTimer(cfg), 0o644),
	}
}

// backupExecStart is the service's command: the script with the
// directory, the number of dumps to keep, the database and the port.
// sh runs it, so a copy that lost the execute bit still works.
func backupExecStart(cfg *schema.Config) []string {
	b, pg := cfg.Immich.Backup, cfg.Immich.Postgres
	return []string{"/bin/sh", BackupScript, b.Directory, fmt.Sprint(b.Keep), pg.Database, fmt.Sprint(pg.Port)}
}

// backupDirCommand makes the directory the postgres user's own, mode
// 0700, whatever it was; missing parents get 0755.
func backupDirCommand(cfg *schema.Config) []string {
	return []string{"/usr/bin/install", "-d", "-m", "0700", "-o", "postgres", "-g", "postgres", cfg.Immich.Backup.Directory}
}

func backupService(cfg *schema.Config) []byte {
	b, pg := cfg.Immich.Backup, cfg.Immich.Postgres
	pgService := cfg.Host.PostgresService + ".service"
	u := newUnitFile()
	u.Add("Unit", "Description", "Immich database backup (pg_dump of "+pg.Database+" into "+b.Directory+")")
	u.Add("Unit", "Requires", pgService)
	u.Add("Unit", "After", pgService)

	u.Add("Service", "Type", "oneshot")
	u.Comment("Service", "As root (+): the directory is postgres's own, mode 0700.")
	u.AddExec("Service", "ExecStartPre", "+", backupDirCommand(cfg)...)
	u.Comment("Service", "The superuser through the local socket: Immich's role is none.")
	u.Add("Service", "User", "postgres")
	u.AddEnv("Service", "PGAPPNAME", "immich-backup")
	u.AddExec("Service", "ExecStart", "", backupExecStart(cfg)...)
	u.Add("Service", "Nice", "10")
	u.Add("Service", "TimeoutStartSec", "6h")
	return u.Bytes()
}

func backupTimer(cfg *schema.Config) []byte {
	b := cfg.Immich.Backup
	u := newUnitFile()
	u.Add("Unit", "Description", "Immich database backup ("+b.Schedule+")")
	u.Add("Timer", "OnCalendar", b.Schedule)
	u.Add("Timer", "Persistent", "true")
	u.Add("Timer", "RandomizedDelaySec", backupDelay)
	u.Add("Install", "WantedBy", "timers.target")
	return u.Bytes()
}

// backupScript dumps the database into DIR/DB-<UTC time>.dump: pg_dump
// writes a hidden partial file, which is renamed when complete, so a file
// with the final name is always a whole dump. Only then are the oldest
// dumps beyond KEEP deleted. A failed or interrupted dump removes its
// partial file and leaves the earlier dumps alone.
func backupScript(cfg *schema.Config) []byte {
	return fmt.Appendf(nil, `#!/bin/sh
%s# %s runs it as postgres: immich-backup DIR KEEP DATABASE PORT
set -eu
umask 077
export LC_ALL=C # globs sort by byte: oldest first
dir=$1 keep=$2 db=$3 port=$4
# Left by a run killed outright (runs never overlap).
rm -f -- "$dir/.$db-"*.partial
final="$dir/$db-$(date -u +%%Y%%m%%dT%%H%%M%%SZ).dump"
partial="${final%%/*}/.${final##*/}.partial"
if [ -e "$final" ]; then echo "$final exists" >&2; exit 1; fi
trap 'rm -f -- "$partial"' EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
pg_dump --format=custom --no-password --port="$port" --file="$partial" --dbname="$db"
mv -- "$partial" "$final"
sync -- "$dir"
echo "wrote $final ($(wc -c <"$final") bytes)"
set -- "$dir/$db-"[0-9]*T[0-9]*Z.dump
while [ $# -gt "$keep" ]; do rm -f -- "$1"; echo "removed $1"; shift; done
`, header("#"), BackupUnit)
}

// restoreStep is one step of the restore procedure in the output README.
// The tests run the same steps: the commands are data, not prose.
type restoreStep struct {
	say  string   // what the step does, for the README
	argv []string // the command; DumpVar stands for the chosen dump
	// postgres steps run as the postgres superuser (runuser -u postgres);
	// the others are systemctl, which the tests stand in for.
	postgres bool
}

// DumpVar is the shell variable the restore steps use for the dump file.
const DumpVar = "$dump"

// asideDatabase is where the restore keeps the database it replaces.
func asideDatabase(cfg *schema.Config) string {
	return cfg.Immich.Postgres.Database + "_before_restore"
}

// restoreSteps restores a dump into a fresh database: the old one is kept
// aside, init.sql creates the database owned by Immich's role with the
// extensions (which only a superuser can create), and pg_restore fills it
// as the superuser, all or nothing.
func restoreSteps(cfg *schema.Config) []restoreStep {
	pg := cfg.Immich.Postgres
	port := fmt.Sprint(pg.Port)
	return []restoreStep{
		{say: "Stop Immich (and " + DBInitUnit + ").", argv: []string{"systemctl", "stop", ImmichUnit}},
		{say: "Keep the current database aside (none on a new host: skip this).",
			argv: []string{"psql", "-X", "-v", "ON_ERROR_STOP=1", "-p", port, "-d", "postgres", "-c",
				"ALTER DATABASE " + sqlIdent(pg.Database) + " RENAME TO " + sqlIdent(asideDatabase(cfg))}, postgres: true},
		{say: "init.sql: a fresh database owned by " + pg.User + ", with the extensions.", argv: []string{"systemctl", "start", DBInitUnit}},
		{say: "Restore as the superuser, all or nothing.",
			argv: []string{"pg_restore", "--exit-on-error", "--single-transaction", "-p", port, "-d", pg.Database, DumpVar}, postgres: true},
		{say: "Start Immich.", argv: []string{"systemctl", "start", ImmichUnit}},
	}
}

// shellCommand writes argv for a POSIX shell.
func shellCommand(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		if a == DumpVar {
			words[i] = `"` + a + `"`
		} else {
			words[i] = shellPath(a)
		}
	}
	return strings.Join(words, " ")
}

// backupSection is the output README's Backups section. It goes into
// the cloud-init user-data too, which must stay under 16 KiB: keep it short.
func backupSection(cfg *schema.Config, settings bool) string {
	im := cfg.Immich
	b, pg := im.Backup, im.Postgres
	var s strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	w("## Backups\n\n")
	w("Back up the database and `%s` (the originals; the database only\n", im.UploadLocation)
	w("indexes them), plus the configuration and its secrets. The model cache is not needed.\n")
	w("Immich's own database backup runs `pg_dumpall`, which needs a superuser, and the\n")
	w("`%s` role is none, so it would fail every night: ", pg.User)
	if settings {
		w("the settings file turns it off.\n\n")
	} else {
		w("turn it off in Administration →\nSettings → Backup Settings.\n\n")
	}
	if !b.Enabled {
		w("`immich.backup.enabled` is false: nothing here dumps the database.\n\n")
		return s.String()
	}
	w("`%s` (`%s`, up to %s later; missed runs at boot) starts\n", BackupTimer, b.Schedule, backupDelay)
	w("`%s`: as `postgres`, `pg_dump --format=custom` of `%s` into\n", BackupUnit, pg.Database)
	w("`%s/%s-<UTC time>.dump` under a temporary name, renamed when complete,\n", b.Directory, pg.Database)
	w("then the oldest beyond %d are deleted. A failed dump leaves the others alone and the\n", b.Keep)
	w("unit failed (`systemctl --failed`). Copy the dumps off the host too.\n\n")
	w("```sh\nsystemctl start %s   # dump now\njournalctl -u %s\n```\n\n", BackupUnit, BackupUnit)
	w("To restore, as root:\n\n```sh\n")
	w("dump=%s   # ls %s\n", shellPath(b.Directory+"/"+pg.Database+"-YYYYMMDDTHHMMSSZ.dump"), shellPath(b.Directory))
	for _, st := range restoreSteps(cfg) {
		cmd := shellCommand(st.argv)
		if st.postgres {
			cmd = "runuser -u postgres -- " + cmd
		}
		w("# %s\n%s\n", st.say, cmd)
	}
	w("```\n\nThen drop `%s`.\n\n", asideDatabase(cfg))
	return s.String()
}
