package schema

import (
	"fmt"
	"path"
	"slices"
	"strings"

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

// systemTrees are directory trees that belong to the system or to other
// programs: no directory in them is the backups' own. The backup unit runs
// install -d -m 0700 -o postgres as root, which would hand such a
// directory (/etc/systemd/system, /usr/bin, /root/.ssh) to postgres.
var systemTrees = []string{
	"/bin", "/boot", "/dev", "/efi", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found", "/proc", "/root",
	"/run", "/sbin", "/snap", "/sys", "/tmp", "/usr", "/var/cache", "/var/lib/containers", "/var/lib/postgresql",
	"/var/lib/redis", "/var/lib/valkey", "/var/lock", "/var/log", "/var/mail", "/var/run", "/var/spool", "/var/tmp", "/var/www",
}

// sharedDirs are folders that hold other folders of many owners: the
// backup directory may be inside one, never one itself.
var sharedDirs = []string{
	"/", "/home", "/media", "/mnt", "/opt", "/srv", "/var", "/var/backups", "/var/lib", "/var/local", "/var/opt",
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
// host's backup off: the dump before an upgrade goes there too. It must
// not be a system directory or inside one, not a folder shared by many,
// not a home or hidden directory, and not one the deployment itself uses
// (or one that holds it).
func checkBackupDirectory(c *Config, add addFunc) {
	b := c.Immich.Backup
	const field, hint = "immich.backup.directory", "a directory of its own such as \"/var/backups/immich\""
	const handed = "; the backup unit would make it the postgres user's own, mode 0700"
	dir := path.Clean(b.Directory)
	for _, tree := range systemTrees {
		if dir == tree || isUnder(dir, tree) {
			add(field, fmt.Sprintf("%s is in %s, which belongs to the system or to other programs%s", dir, tree, handed), hint)
			return
		}
	}
	switch {
	case slices.Contains(sharedDirs, dir):
		add(field, dir+" is shared with the rest of the system"+handed, hint)
		return
	case isUnder(dir, "/home") && !strings.Contains(dir[len("/home/"):], "/"):
		add(field, dir+" is a home directory"+handed, hint)
		return
	case strings.Contains(dir, "/."):
		add(field, dir+" is in a hidden directory, where programs keep their own configuration"+handed, hint)
		return
	}
	used := []struct{ field, dir string }{
		{"immich.uploadLocation", c.Immich.UploadLocation},
		{"immich.projectDir", c.Immich.ProjectDir},
		{"immich.modelCache", c.Immich.ModelCache},
	}
	for i, lib := range c.Immich.ExternalLibraries {
		used = append(used, struct{ field, dir string }{fmt.Sprintf("immich.externalLibraries.%d.hostPath", i), lib.HostPath})
	}
	if n := c.Immich.Nginx; n.Enabled {
		used = append(used, struct{ field, dir string }{"immich.nginx.webroot", n.Webroot}, struct{ field, dir string }{"immich.nginx.acme.statePath", n.ACME.StatePath})
	}
	for _, u := range used {
		if u.dir == "" {
			continue
		}
		used := path.Clean(u.dir)
		switch {
		case dir == used:
			add(field, fmt.Sprintf("%s is %s%s", dir, u.field, handed), hint)
		case isUnder(used, dir):
			add(field, fmt.Sprintf("%s contains %s (%s)%s", dir, u.field, used, handed), hint)
		case isUnder(dir, used):
			add(field, fmt.Sprintf("%s is inside %s (%s)%s", dir, u.field, used, handed), hint)
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
