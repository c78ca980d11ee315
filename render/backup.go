package render

import (
	"fmt"
	"strconv"
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
func renderBackup(cfg *schema.Config, s *Shared) []tree.File {
	if !cfg.Immich.Backup.Enabled {
		return nil
	}
	in := dumpInputOf(cfg)
	return []tree.File{
		file(rootfs(BackupScript), backupScriptFile.of(s, struct{}{}), 0o755),
		file(rootfs(unitPath(BackupUnit)), backupServiceFile.of(s, in), 0o644),
		file(rootfs(unitPath(BackupTimer)), backupTimerFile.of(s, in.Backup), 0o644),
	}
}

// dumpInput is everything the units that dump the database read (the
// backup service and the upgrade dump): all of immich.backup, and the
// host's PostgreSQL and Immich's database in it.
type dumpInput struct {
	Backup          schema.Backup
	Database        string
	Port            int
	PostgresService string // the unit's name, without ".service"
	Version         string // the Immich version being deployed
}

func dumpInputOf(cfg *schema.Config) dumpInput {
	pg := cfg.Immich.Postgres
	return dumpInput{Backup: cfg.Immich.Backup, Database: pg.Database, Port: pg.Port,
		PostgresService: cfg.Host.PostgresService, Version: cfg.Immich.Version}
}

// backupExecStart is the service's command: the script with the
// directory, the number of dumps to keep, the database and the port.
// sh runs it, so a copy that lost the execute bit still works.
func backupExecStart(in dumpInput) []string {
	return []string{"/bin/sh", BackupScript, in.Backup.Directory, strconv.Itoa(in.Backup.Keep), in.Database, strconv.Itoa(in.Port)}
}

// backupDirCommand makes the directory the postgres user's own, mode
// 0700, whatever it was; missing parents get 0755.
func backupDirCommand(dir string) []string {
	return []string{"/usr/bin/install", "-d", "-m", "0700", "-o", "postgres", "-g", "postgres", dir}
}

// dumpService is the [Service] both dump units share: a oneshot that makes
// the backup directory dir as root, then runs as the postgres superuser
// (who, says comment) under the application name app.
func dumpService(dir string, u *unitFile, comment, app string) {
	u.Add("Service", "Type", "oneshot")
	u.Comment("Service", "As root (+): the directory is postgres's own, mode 0700.")
	u.AddExec("Service", "ExecStartPre", "+", backupDirCommand(dir)...)
	u.Comment("Service", comment)
	u.Add("Service", "User", "postgres")
	u.AddEnv("Service", "PGAPPNAME", app)
}

var backupServiceFile = &sharedRenderer[dumpInput]{render: backupService}

func backupService(in dumpInput) []byte {
	pgService := in.PostgresService + ".service"
	u := newUnitFile()
	u.Add("Unit", "Description", "Immich database backup (pg_dump of "+in.Database+" into "+in.Backup.Directory+")")
	u.Add("Unit", "Requires", pgService)
	u.Add("Unit", "After", pgService)

	dumpService(in.Backup.Directory, u, "The superuser through the local socket: Immich's role is none.", "immich-backup")
	u.AddExec("Service", "ExecStart", "", backupExecStart(in)...)
	u.Add("Service", "Nice", "10")
	u.Add("Service", "TimeoutStartSec", "6h")
	return u.Bytes()
}

var backupTimerFile = &sharedRenderer[schema.Backup]{render: backupTimer}

func backupTimer(b schema.Backup) []byte {
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
func backupScript(struct{}) []byte {
	return renderScript("immich-backup.sh", struct{ Unit string }{BackupUnit})
}

// backupScriptFile is the same on every host: its values come as arguments.
var backupScriptFile = &sharedRenderer[struct{}]{render: backupScript}

// restoreStep is one step of the restore procedure in the output README.
// The tests run the same steps: the commands are data, not prose.
type restoreStep struct {
	say  string   // what the step does, for the README
	argv []string // the command; DumpVar stands for the chosen dump
	// postgres steps run as the postgres superuser (runuser -u postgres);
	// the others are systemctl, which the tests stand in for.
	postgres bool
	// gunzip steps read the dump, decompressed, on standard input.
	gunzip bool
}

// DumpVar is the shell variable the restore steps use for the dump file.
const DumpVar = "$dump"

// asideDatabase is where the restore keeps the database it replaces.
func asideDatabase(cfg *schema.Config) string {
	return cfg.Immich.Postgres.Database + "_before_restore"
}

// restoreSteps restores a dump into a fresh database: the old one is kept
// aside, init.sql creates the database owned by Immich's role with the
// extensions (which only a superuser can create), and the dump is loaded
// as the superuser, all or nothing. immichDump is for Immich's own dumps
// (gzipped SQL of pg_dump --clean --if-exists), the others are the host's
// (pg_dump --format=custom).
func restoreSteps(cfg *schema.Config, immichDump bool) []restoreStep {
	pg := cfg.Immich.Postgres
	port := fmt.Sprint(pg.Port)
	load := restoreStep{say: "Restore as the superuser, all or nothing.",
		argv: []string{"pg_restore", "--exit-on-error", "--single-transaction", "-p", port, "-d", pg.Database, DumpVar}, postgres: true}
	if immichDump {
		// The superuser, because the dump drops and creates the
		// extensions, and vector and earthdistance only a superuser may
		// create; its ALTER ... OWNER TO lines give the rest back to the role.
		load = restoreStep{say: "Restore as the superuser, all or nothing.",
			argv: []string{"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-p", port, "-d", pg.Database}, postgres: true, gunzip: true}
	}
	return []restoreStep{
		{say: "Stop Immich (and " + DBInitUnit + ").", argv: []string{"systemctl", "stop", ImmichUnit}},
		{say: "Keep the current database aside (none on a new host: skip this).",
			argv: []string{"psql", "-X", "-v", "ON_ERROR_STOP=1", "-p", port, "-d", "postgres", "-c",
				"ALTER DATABASE " + sqlIdent(pg.Database) + " RENAME TO " + sqlIdent(asideDatabase(cfg))}, postgres: true},
		// restart, not start: with Quadlet the stop above returns before
		// the containers and then this oneshot have stopped, and a start
		// then finds it still active and does not run init.sql (found by
		// the Debian 13 rehearsal).
		{say: "init.sql: a fresh database owned by " + pg.User + ", with the extensions.", argv: []string{"systemctl", "restart", DBInitUnit}},
		load,
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
	immichDumps := schema.ImmichDumpsDatabase(im.Version)
	switch {
	case !immichDumps:
		w("Immich %s's own database backup runs `pg_dumpall`, which needs a superuser, and the\n", im.Version)
		w("`%s` role is none, so it would fail every night: ", pg.User)
		if settings {
			w("the settings file turns it off.\n\n")
		} else {
			w("turn it off in Administration →\nSettings → Backup Settings.\n\n")
		}
	case b.ImmichJob && settings:
		w("Immich's own database backup is on (`immich.backup.immichJob`): gzipped `pg_dump`s in\n")
		w("`%s` (when and how many: `immich.settings.backup.database`).\n", schema.BackupsFolder(cfg))
	case settings:
		w("Immich's own database backup is off (`immich.backup.immichJob`).\n\n")
	default:
		w("Immich's own database backup (Administration → Settings → Backup Settings, on by\n")
		w("default) writes gzipped `pg_dump`s into `%s`.\n", schema.BackupsFolder(cfg))
	}
	if immichDumps {
		w("Immich's own restore cannot load them as the `%s` role: after dropping the schema it\n", pg.User)
		vector, _ := vectorExtensions(pg.VectorExtension)
		w("must create the extensions %s and earthdistance, which only a superuser may (it\n", strings.Join(vector, ", "))
		w("rolls back, nothing is lost). ")
		if b.Enabled {
			// The steps follow below; one line differs.
			w("Restore one as root with the steps below for the host's\ndumps, the `pg_restore` line replaced by:\n\n```sh\n")
			for _, st := range restoreSteps(cfg, true) {
				if st.gunzip {
					w("%s\n```\n\n", restoreCommand(st))
				}
			}
		} else {
			w("Restore one as root:\n\n")
			writeRestore(w, cfg, schema.BackupsFolder(cfg), "immich-db-backup-YYYYMMDDTHHMMSS-"+im.Version+"-pgNN.sql.gz", true)
		}
	} else {
		w("\n")
	}
	if !b.Enabled {
		w("`immich.backup.enabled` is false: nothing on the host dumps the database.\n\n")
		return s.String()
	}
	w("`%s` (`%s`, up to %s later; missed runs at boot) starts\n", BackupTimer, b.Schedule, backupDelay)
	w("`%s`: as `postgres`, `pg_dump --format=custom` of `%s` into\n", BackupUnit, pg.Database)
	w("`%s/%s-<UTC time>.dump` under a temporary name, renamed when complete,\n", b.Directory, pg.Database)
	w("then the oldest beyond %d are deleted. A failed dump leaves the others alone and the\n", b.Keep)
	w("unit failed (`systemctl --failed`). Copy the dumps off the host too.\n\n")
	w("```sh\nsystemctl start %s   # dump now\njournalctl -u %s\n```\n\n", BackupUnit, BackupUnit)
	w("To restore, as root:\n\n")
	writeRestore(w, cfg, b.Directory, pg.Database+"-YYYYMMDDTHHMMSSZ.dump", false)
	return s.String()
}

// writeRestore writes the restore steps for a dump named like example in
// dir.
func writeRestore(w func(string, ...any), cfg *schema.Config, dir, example string, immichDump bool) {
	w("```sh\ndump=%s   # ls %s\n", shellPath(dir+"/"+example), shellPath(dir))
	for _, st := range restoreSteps(cfg, immichDump) {
		w("# %s\n%s\n", st.say, restoreCommand(st))
	}
	w("```\n\nThen drop `%s`.\n\n", asideDatabase(cfg))
}

// restoreCommand is a restore step as the README writes it, for a root shell.
func restoreCommand(st restoreStep) string {
	cmd := shellCommand(st.argv)
	if st.postgres {
		cmd = "runuser -u postgres -- " + cmd
	}
	if st.gunzip {
		cmd = `gunzip -c "` + DumpVar + `" | ` + cmd
	}
	return cmd
}
