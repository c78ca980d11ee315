package render

import (
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
// keeps it with ACL SAVE, its oneshot unit, a drop-in that makes the
// server's unit want it, and the admin
// password, which is a secret and goes under --secrets-out.
func renderValkeyUser(cfg *schema.Config) []tree.File {
	im := cfg.Immich
	secret := path.Join(secretsDir(cfg), valkeyAdminSecret)
	script := renderScript("valkey-user.sh", struct {
		Unit, AdminSecret, Port, User string
		Rules                         []string
	}{
		Unit:        ValkeyUserUnit,
		AdminSecret: secret,
		Port:        strconv.Itoa(im.Valkey.Port),
		User:        im.Valkey.User,
		Rules:       append([]string{im.Valkey.User}, immichACLRules(cfg)...),
	})
	valkeyService := cfg.Host.ValkeyService + ".service"
	unit := newUnitFile()
	unit.Add("Unit", "Description", "Immich's user in the host Valkey (ACL SETUSER, then ACL SAVE)")
	unit.Add("Unit", "Requires", valkeyService)
	unit.Add("Unit", "After", valkeyService)
	unit.Add("Unit", "PartOf", ImmichUnit)
	unit.Add("Service", "Type", "oneshot")
	unit.Add("Service", "RemainAfterExit", "yes")
	unit.AddExec("Service", "ExecStart", "", "/bin/sh", valkeyUserScript(cfg))
	unit.Add("Service", "TimeoutStartSec", "60")
	// The unit that runs the server wants it: immich.service with compose,
	// the server container's (Quadlet generates it; a drop-in reaches it).
	server := ImmichUnit
	if quadlet(cfg) {
		server = ServerUnit
	}
	dropIn := newUnitFile()
	dropIn.Comment("Unit", `Immich's Valkey user is set before Immich starts (valkey.aclMode "user").`)
	dropIn.Add("Unit", "Wants", ValkeyUserUnit)
	dropIn.Add("Unit", "After", ValkeyUserUnit)
	return []tree.File{
		// The hashed password is no secret, but only root needs to read it.
		file(rootfs(valkeyUserScript(cfg)), script, 0o700),
		file(rootfs(unitPath(ValkeyUserUnit)), unit.Bytes(), 0o644),
		file(rootfs(unitPath(server+".d/valkey-user.conf")), dropIn.Bytes(), 0o644),
		secretFile(rootfs(secret), []byte(cfg.Valkey.AdminPassword.Value)),
	}
}
