package schema

import (
	"path"
	"slices"

	"github.com/immich-render/immich-render/internal/calendar"
)

// Backup is immich.backup: the pg_dump timer.
type Backup struct {
	Enabled   bool   `json:"enabled"`
	Schedule  string `json:"schedule"` // a systemd calendar expression, checked by calendar.Check
	Keep      int    `json:"keep"`
	Directory string `json:"directory"`
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
// backups' own: the unit makes it postgres's, mode 0700.
func checkBackupDirectory(c *Config, add addFunc) {
	b := c.Immich.Backup
	if !b.Enabled {
		return
	}
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

// checkBackupSetting refuses turning Immich's own database backup on in
// immich.settings: it runs pg_dumpall, which needs a superuser.
func checkBackupSetting(c *Config, add addFunc) {
	b, _ := c.Immich.Settings["backup"].(map[string]any)
	if db, ok := b["database"].(map[string]any); ok && db["enabled"] == true {
		add("immich.settings.backup.database.enabled", "Immich's own database backup runs pg_dumpall, which needs a superuser, and Immich's role is none: it would fail every night",
			"false, or leave it out (immich-render turns it off); immich.backup dumps the database instead")
	}
}

// isUnder reports whether p is inside dir.
func isUnder(p, dir string) bool {
	return dir == "/" || len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/'
}
