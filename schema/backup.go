package schema

import (
	"fmt"
	"path"
	"slices"

	"github.com/immich-render/immich-render/internal/calendar"
)

// Backup is immich.backup: the host's pg_dump timer and Immich's own job.
type Backup struct {
	Enabled   bool   `json:"enabled"`
	Schedule  string `json:"schedule"` // a systemd calendar expression, checked by calendar.Check
	Keep      int    `json:"keep"`
	Directory string `json:"directory"`
	ImmichJob bool   `json:"immichJob"`
}

// ImmichDumpsDatabase reports whether Immich version's own database backup
// runs pg_dump of its one database, which the database's owner may run:
// since v2.5.0 (immich PR #23978). Before, it ran pg_dumpall, which needs
// a superuser. An unreadable version counts as older.
func ImmichDumpsDatabase(version string) bool {
	v, ok := ParseVersion(version)
	return ok && slices.Compare(v[:], []int{2, 5, 0}) >= 0
}

// sharedDirs are folders that belong to the system or to other programs:
// the backup unit makes its directory the postgres user's with mode 0700,
// which would lock everyone else out of these.
var sharedDirs = []string{
	"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/media", "/mnt", "/opt", "/proc", "/root",
	"/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/backups", "/var/cache", "/var/lib",
	"/var/lib/postgresql", "/var/log", "/var/tmp",
}

// checkBackupSchedule checks immich.backup.schedule as systemd would read
// it (internal/calendar), also while backups are off: it is still configuration.
func checkBackupSchedule(c *Config, add addFunc) {
	if reason := calendar.Check(c.Immich.Backup.Schedule); reason != "" {
		add("immich.backup.schedule", reason, calendar.Hint)
	}
}

// checkBackupDirectory refuses a backup directory that is not the
// backups' own: the units make it postgres's, mode 0700. Also with the
// host's backup off: the dump before an upgrade goes there too.
func checkBackupDirectory(c *Config, add addFunc) {
	b := c.Immich.Backup
	dir := path.Clean(b.Directory)
	if slices.Contains(sharedDirs, dir) {
		add("immich.backup.directory", dir+" is shared with the rest of the system; the backup unit would make it the postgres user's own, mode 0700",
			"a directory of its own such as \"/var/backups/immich\"")
	}
	for _, p := range []struct{ field, dir string }{
		{"immich.uploadLocation", c.Immich.UploadLocation},
		{"immich.projectDir", c.Immich.ProjectDir},
	} {
		if p.dir != "" && (dir == p.dir || isUnder(p.dir, dir)) {
			add("immich.backup.directory", dir+" contains "+p.field+" ("+p.dir+"); the backup unit would make it the postgres user's own, mode 0700",
				"a directory of its own such as \"/var/backups/immich\"")
		}
	}
}

// checkBackupSetting refuses Immich's own database backup where it runs
// pg_dumpall, which needs a superuser, and a settings value that
// contradicts immich.backup.immichJob, which decides it.
func checkBackupSetting(c *Config, add addFunc) {
	works, job := ImmichDumpsDatabase(c.Immich.Version), c.Immich.Backup.ImmichJob
	if job && !works {
		add("immich.backup.immichJob", "Immich "+c.Immich.Version+"'s own database backup runs pg_dumpall, which needs a superuser, and Immich's role is none: it would fail every night (Immich v2.5.0 and newer run pg_dump of the one database, which works)",
			"false, or Immich v2.5.0 or newer; immich.backup.enabled dumps the database on the host")
	}
	if job && works && c.Immich.Settings == nil {
		add("immich.backup.immichJob", "it is written into Immich's settings file, which is rendered only with immich.settings (without one, Immich's web interface decides)",
			"immich.settings: {} (a settings file with immich-render's defaults), or false and Administration → Settings → Backup Settings")
	}
	b, _ := c.Immich.Settings["backup"].(map[string]any)
	db, _ := b["database"].(map[string]any)
	enabled, ok := db["enabled"].(bool)
	switch {
	case !ok:
	case enabled && !works && !job:
		add("immich.settings.backup.database.enabled", "Immich's own database backup runs pg_dumpall, which needs a superuser, and Immich's role is none: it would fail every night",
			"false, or leave it out (immich-render turns it off); immich.backup dumps the database instead")
	case enabled != job:
		add("immich.settings.backup.database.enabled", fmt.Sprintf("immich.backup.immichJob (%v) decides whether Immich's own database backup runs", job),
			fmt.Sprintf("leave it out, or set immich.backup.immichJob: %v", enabled))
	}
}

// isUnder reports whether p is inside dir.
func isUnder(p, dir string) bool {
	return dir == "/" || len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/'
}
