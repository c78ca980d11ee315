package render

import (
	"fmt"
	"strconv"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// The dump taken before a new Immich version first starts.
const (
	UpgradeDumpUnit   = "immich-upgrade-dump.service"
	UpgradeDumpScript = "/usr/local/lib/immich-render/immich-upgrade-dump"
)

// renderUpgradeDump renders the oneshot that immich-db-init.service
// requires, and its script: before Immich starts, when the database was
// last run by another Immich version, it dumps the database into
// immich.backup.directory, once per upgrade. It runs whether or not the
// host's backup timer is on: migrations have no way back.
func renderUpgradeDump(cfg *schema.Config, s *Shared) []tree.File {
	return []tree.File{
		file(rootfs(UpgradeDumpScript), upgradeDumpScriptFile.of(s, struct{}{}), 0o755),
		file(rootfs(unitPath(UpgradeDumpUnit)), upgradeDumpUnitFile.of(s, dumpInputOf(cfg)), 0o644),
	}
}

// UpgradeDumpNote is the upgrade note about the dump the host takes
// before the new version starts.
func UpgradeDumpNote(cfg *schema.Config) string {
	return fmt.Sprintf("On the host, %s dumps the database into %s before %s first starts; delete that dump once %s runs well.",
		UpgradeDumpUnit, cfg.Immich.Backup.Directory, cfg.Immich.Version, cfg.Immich.Version)
}

// upgradeDumpScript is the script; its values come as arguments
// (upgradeDumpExecStart), the template fills in only its comments.
// It is the same on every host.
func upgradeDumpScript(struct{}) []byte {
	return renderScript("immich-upgrade-dump.sh", struct{ Header, Unit, Before string }{header("#"), UpgradeDumpUnit, DBInitUnit})
}

var upgradeDumpScriptFile = &sharedRenderer[struct{}]{render: upgradeDumpScript}

// upgradeDumpExecStart is the unit's command: the script with the
// directory, the database, the port and the Immich version being deployed.
func upgradeDumpExecStart(in dumpInput) []string {
	return []string{"/bin/sh", UpgradeDumpScript, in.Backup.Directory, in.Database, strconv.Itoa(in.Port), in.Version}
}

var upgradeDumpUnitFile = &sharedRenderer[dumpInput]{render: upgradeDumpUnit}

// upgradeDumpUnit has no RemainAfterExit: every start of
// immich-db-init.service (every start of Immich) runs the check again,
// which costs two queries when the version did not change.
func upgradeDumpUnit(in dumpInput) []byte {
	pgService := in.PostgresService + ".service"
	u := newUnitFile()
	u.Add("Unit", "Description", "Immich database dump before another Immich version starts (into "+in.Backup.Directory+")")
	u.Add("Unit", "Requires", pgService)
	u.Add("Unit", "After", pgService)
	u.Add("Unit", "Before", DBInitUnit)

	dumpService(in.Backup.Directory, u, "The postgres superuser through the local socket (peer authentication).", "immich-upgrade-dump")
	u.AddExec("Service", "ExecStart", "", upgradeDumpExecStart(in)...)
	u.Add("Service", "TimeoutStartSec", "6h")
	return u.Bytes()
}
