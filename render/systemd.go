package render

import (
	"slices"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// Unit names. immich-db-init.service is rendered with the database init.
const (
	ImmichUnit = "immich.service"
	DBInitUnit = "immich-db-init.service"
)

// unitPath is the host path of a system unit.
func unitPath(name string) string { return "/etc/systemd/system/" + name }

// hostServices are the host's units Immich depends on: the database init,
// PostgreSQL and Valkey.
func hostServices(cfg *schema.Config) []string {
	return []string{DBInitUnit, cfg.Host.PostgresService + ".service", cfg.Host.ValkeyService + ".service"}
}

// renderImmichUnit renders the unit that runs the compose stack. It makes
// sure the external network exists first, in a form that works on
// Debian 12's podman 4.3 (no `network create --ignore` there).
func renderImmichUnit(cfg *schema.Config) []tree.File {
	im := cfg.Immich
	compose := strings.Fields(im.ComposeCommand)
	ensureNet := "/usr/bin/podman network exists " + im.Network.Name + " || /usr/bin/podman network create --subnet " +
		im.Network.Subnet + " --gateway " + im.Network.Gateway + " " + im.Network.Name

	u := newUnitFile()
	u.Add("Unit", "Description", "Immich photo server (compose stack in "+im.ProjectDir+")")
	u.Add("Unit", "Documentation", "https://immich.app/docs/overview/introduction")
	u.AddList("Unit", "Wants", "network-online.target", DBInitUnit)
	u.AddList("Unit", "After", append([]string{"network-online.target"}, hostServices(cfg)...)...)

	u.Add("Service", "Type", "oneshot")
	u.Add("Service", "RemainAfterExit", "yes")
	u.Add("Service", "WorkingDirectory", im.ProjectDir)
	u.Comment("Service", "The external network must exist before compose starts the stack.")
	u.AddExec("Service", "ExecStartPre", "", "/bin/sh", "-c", ensureNet)
	u.AddExec("Service", "ExecStart", "", slices.Concat(compose, []string{"up", "-d"})...)
	u.AddExec("Service", "ExecStop", "", slices.Concat(compose, []string{"down"})...)
	u.Comment("Service", "The first start pulls both images.")
	u.Add("Service", "TimeoutStartSec", "900")

	u.Add("Install", "WantedBy", "multi-user.target")
	return []tree.File{file(rootfs(unitPath(ImmichUnit)), u.Bytes(), 0o644)}
}
