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
	return []tree.File{
		// Valkey runs as its own account and must read the file; nobody else may.
		ownedFile(rootfs(valkeyACLPath), valkeyACL(cfg), 0o640, "root:"+cfg.Host.ValkeyGroup),
		file("fragments/valkey/valkey.conf", valkeyFragment(cfg), 0o644),
	}
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

	service := func(name, password string, keys, channels []string, rules string) {
		toks := []string{"user", name, "reset", "resetchannels", "on", aclPassword(password)}
		for _, k := range keys {
			toks = append(toks, "~"+k)
		}
		for _, c := range channels {
			toks = append(toks, "&"+c)
		}
		line(append(toks, valkeyacl.Split(rules)...)...)
	}
	iv := cfg.Immich.Valkey
	service(iv.User, iv.Password.Value, iv.KeyPatterns, nil, iv.Rules())
	for _, u := range cfg.Valkey.Users {
		service(u.Username, u.Password.Value, u.KeyPatterns, u.ChannelPatterns, u.Commands)
	}
	return b.Bytes()
}

// valkeyFragment renders the valkey.conf lines this deployment needs.
func valkeyFragment(cfg *schema.Config) []byte {
	binds := []string{"127.0.0.1", "-::1"}
	if gw := cfg.Immich.HostGateway; gw != "127.0.0.1" {
		binds = append(binds, gw)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `%[6]s# Valkey settings for the Immich deployment.
#
# This is a fragment, not a whole valkey.conf: merge these lines into the
# host's configuration (/etc/valkey/valkey.conf, or /etc/redis/redis.conf
# for redis-server), or add "include <this file's path>" at its end, where
# it wins over earlier lines. Then restart Valkey.
#
# The users, with SHA-256 password hashes. Valkey must be able to read
# the file, for example:
#   chown root:%[4]s %[1]s && chmod 0640 %[1]s
# Valkey reads it at start-up; after a change, restart it or run ACL LOAD
# as the default user.
aclfile %[1]s
#
# Loopback for the host itself, and immich.hostGateway, where
# host.containers.internal points in the containers%[5]s.
# Podman puts that address on its bridge when the first container attaches,
# after Valkey has started: the sysctl net.ipv4.ip_nonlocal_bind=1
# (apply.sh sets it) lets Valkey bind it before, and it accepts connections
# from the moment the bridge is up. ("-" marks ::1 optional.)
bind %[2]s
port %[3]s
`, valkeyACLPath, strings.Join(binds, " "), strconv.Itoa(cfg.Immich.Valkey.Port), cfg.Host.ValkeyGroup, gatewayNote(cfg), header("#"))
	return b.Bytes()
}
