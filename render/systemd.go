package render

import (
	"fmt"
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

// renderImmichUnit renders the unit that runs the compose stack. It makes
// sure the external network exists first, in a form that works on
// Debian 12's podman 4.3 (no `network create --ignore` there).
func renderImmichUnit(cfg *schema.Config) []tree.File {
	im := cfg.Immich
	compose := strings.Fields(im.ComposeCommand)
	var args []string
	for _, a := range compose {
		args = append(args, systemdArg(a))
	}
	cmd := strings.Join(args, " ")

	ensureNet := fmt.Sprintf("/usr/bin/podman network exists %[1]s || /usr/bin/podman network create --subnet %[2]s --gateway %[3]s %[1]s",
		im.Network.Name, im.Network.Subnet, im.Network.Gateway)

	after := []string{"network-online.target", DBInitUnit, cfg.Host.PostgresService + ".service", cfg.Host.ValkeyService + ".service"}
	var b strings.Builder
	fmt.Fprintf(&b, `# Rendered by immich-render for Immich %s. Do not edit:
# change the configuration and render again.
[Unit]
Description=Immich photo server (compose stack in %s)
Documentation=https://immich.app/docs/overview/introduction
Wants=network-online.target %s
After=%s

[Service]
Type=oneshot
RemainAfterExit=yes
WorkingDirectory=%s
# The external network must exist before compose starts the stack.
ExecStartPre=/bin/sh -c %s
ExecStart=%s up -d
ExecStop=%s down
# The first start pulls both images.
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
`,
		systemdValue(im.Version), systemdValue(im.ProjectDir), DBInitUnit,
		strings.Join(after, " "), systemdValue(im.ProjectDir),
		systemdArg(ensureNet), cmd, cmd)
	return []tree.File{file(rootfs(unitPath(ImmichUnit)), []byte(b.String()), 0o644)}
}
