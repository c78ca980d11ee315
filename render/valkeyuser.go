package render

import (
	"fmt"
	"path"
	"strconv"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// ValkeyUserUnit applies Immich's Valkey user in valkey.aclMode "user".
const ValkeyUserUnit = "immich-valkey-user.service"

// valkeyAdminSecret is the file, beside Immich's secrets, that holds the
// Valkey admin password the unit logs in with.
const valkeyAdminSecret = "valkey_admin_password"

// valkeyUserScript is the host path of the script the unit runs.
func valkeyUserScript(cfg *schema.Config) string {
	return path.Join(cfg.Immich.ProjectDir, "valkey", "immich-user.sh")
}

// renderValkeyUser renders what valkey.aclMode "user" needs instead of a
// whole users.acl: the script that sets Immich's user with ACL SETUSER and
// keeps it with ACL SAVE, its oneshot unit, a drop-in that makes
// immich.service want it (whatever renders immich.service), and the admin
// password, which is a secret and goes under --secrets-out.
func renderValkeyUser(cfg *schema.Config) []tree.File {
	im := cfg.Immich
	secret := path.Join(secretsDir(cfg), valkeyAdminSecret)
	script := renderScript("valkey-user.sh", struct {
		Version, Unit, AdminSecret, Port, User string
		Rules                                  []string
	}{
		Version:     im.Version,
		Unit:        ValkeyUserUnit,
		AdminSecret: secret,
		Port:        strconv.Itoa(im.Valkey.Port),
		User:        im.Valkey.User,
		Rules:       append([]string{im.Valkey.User}, immichACLRules(cfg)...),
	})
	valkeyService := cfg.Host.ValkeyService + ".service"
	unit := fmt.Appendf(nil, `# Rendered by immich-render for Immich %s. Do not edit:
# change the configuration and render again.
[Unit]
Description=Immich's user in the host Valkey (ACL SETUSER, then ACL SAVE)
Requires=%s
After=%s
PartOf=%s

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh %s
TimeoutStartSec=60
`, systemdValue(im.Version), systemdValue(valkeyService), systemdValue(valkeyService),
		systemdValue(ImmichUnit), systemdArg(valkeyUserScript(cfg)))
	dropIn := fmt.Appendf(nil, `# Rendered by immich-render for Immich %s. Do not edit:
# change the configuration and render again.
# Immich's Valkey user is set before Immich starts (valkey.aclMode "user").
[Unit]
Wants=%s
After=%s
`, systemdValue(im.Version), ValkeyUserUnit, ValkeyUserUnit)
	return []tree.File{
		// The hashed password is no secret, but only root needs to read it.
		file(rootfs(valkeyUserScript(cfg)), script, 0o700),
		file(rootfs(unitPath(ValkeyUserUnit)), unit, 0o644),
		file(rootfs(unitPath(ImmichUnit+".d/valkey-user.conf")), dropIn, 0o644),
		secretFile(rootfs(secret), []byte(cfg.Valkey.AdminPassword.Value)),
	}
}
