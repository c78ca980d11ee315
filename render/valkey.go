package render

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/internal/valkeyacl"
	"github.com/immich-render/immich-render/schema"
)

// valkeyACLPath is where the host's Valkey reads its users.
const valkeyACLPath = "/etc/valkey/users.acl"

// renderValkey renders etc/valkey/users.acl and the Valkey server fragment.
func renderValkey(cfg *schema.Config) []tree.File {
	files := []tree.File{file("fragments/valkey/valkey.conf", valkeyFragment(cfg), 0o644)}
	if cfg.Valkey.ACLMode == schema.ACLModeUser {
		return append(files, renderValkeyUser(cfg)...)
	}
	// Valkey runs as its own account and must read the file; nobody else may.
	return append(files, ownedFile(rootfs(valkeyACLPath), valkeyACL(cfg), 0o640, "root:"+cfg.Host.ValkeyGroup))
}

// valkeyACL renders users.acl: the default (admin) user, the Immich user,
// then valkey.users in their order. Each service user starts with reset
// and resetchannels, so its line says everything it may do whatever the
// server's acl-pubsub-default; its key and channel patterns come next and
// its rules, which the schema has evaluated, last. The file may hold no
// comment: a # line is fatal to the server.
func valkeyACL(cfg *schema.Config) []byte {
	var b bytes.Buffer
	line := func(rules ...string) {
		for i, rule := range rules {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(aclToken(rule))
		}
		b.WriteByte('\n')
	}
	// Without a default line the server creates default as "on nopass ~*
	// &* +@all": wide open. The admin keeps every right.
	line("user", "default", "reset", "on", aclPassword(cfg.Valkey.AdminPassword.Value), "~*", "&*", "+@all")

	line(append([]string{"user", cfg.Immich.Valkey.User}, immichACLRules(cfg)...)...)
	for _, u := range cfg.Valkey.Users {
		line(append([]string{"user", u.Username}, serviceACLRules(u.Password.Value, u.KeyPatterns, u.ChannelPatterns, u.Commands)...)...)
	}
	return b.Bytes()
}

// serviceACLRules are a service user's rules, in the order users.acl and
// ACL SETUSER apply them.
func serviceACLRules(password string, keys, channels []string, rules string) []string {
	toks := []string{"reset", "resetchannels", "on", aclPassword(password)}
	for _, k := range keys {
		toks = append(toks, "~"+k)
	}
	for _, c := range channels {
		toks = append(toks, "&"+c)
	}
	return append(toks, valkeyacl.Split(rules)...)
}

// immichACLRules are the Immich user's rules.
func immichACLRules(cfg *schema.Config) []string {
	iv := cfg.Immich.Valkey
	return serviceACLRules(iv.Password.Value, iv.KeyPatterns, nil, iv.Rules())
}

// valkeyBinds are the addresses Valkey must listen on for Immich.
func valkeyBinds(cfg *schema.Config) []string {
	binds := []string{"127.0.0.1", "-::1"}
	if gw := cfg.Immich.HostGateway; gw != "127.0.0.1" {
		binds = append(binds, gw)
	}
	return binds
}

// valkeyFragment renders the valkey.conf lines this deployment needs.
func valkeyFragment(cfg *schema.Config) []byte {
	binds := valkeyBinds(cfg)
	var b bytes.Buffer
	b.WriteString(header("#"))
	b.WriteString(`# Valkey settings for the Immich deployment.
#
# This is a fragment, not a whole valkey.conf: merge these lines into the
# host's configuration (/etc/valkey/valkey.conf, or /etc/redis/redis.conf
# for redis-server), keeping the host's own bind addresses: the last bind
# line replaces the earlier ones. fragments/apply.sh does that merge on
# Debian. Then restart Valkey.
#
`)
	if cfg.Valkey.ACLMode == schema.ACLModeUser {
		fmt.Fprintf(&b, `# valkey.aclMode is "user": the host's own aclfile keeps its users, and
# %[1]s sets Immich's user in it (ACL SETUSER, then ACL SAVE).
#
`, ValkeyUserUnit)
	} else {
		fmt.Fprintf(&b, `# The users, with SHA-256 password hashes. Valkey must be able to read
# the file, for example:
#   chown root:%[2]s %[1]s && chmod 0640 %[1]s
# Valkey reads it at start-up; after a change, restart it or run ACL LOAD
# as the default user.
aclfile %[1]s
#
`, valkeyACLPath, cfg.Host.ValkeyGroup)
	}
	fmt.Fprintf(&b, `# Loopback for the host itself, and immich.hostGateway, where
# host.containers.internal points in the containers%[3]s.
# Podman puts that address on its bridge when the first container attaches,
# after Valkey has started: the sysctl net.ipv4.ip_nonlocal_bind=1
# (apply.sh sets it) lets Valkey bind it before, and it accepts connections
# from the moment the bridge is up. ("-" marks ::1 optional.)
bind %[1]s
port %[2]s
`, strings.Join(binds, " "), strconv.Itoa(cfg.Immich.Valkey.Port), gatewayNote(cfg))
	return b.Bytes()
}
