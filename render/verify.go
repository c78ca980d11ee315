package render

import (
	_ "embed"
	"fmt"
	"path"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// VerifyScript is the post-deploy check the README runs.
const VerifyScript = "/usr/local/lib/immich-render/immich-verify"

//go:embed scripts/immich-verify.sh
var verifyBody string

// renderVerify renders the post-deploy check: the deployment's values as
// shell variables (each overridable from the environment), then the
// script itself, which a shell linter reads as it is.
func renderVerify(cfg *schema.Config) []tree.File {
	return []tree.File{file(rootfs(VerifyScript), verifyScript(cfg), 0o755)}
}

func verifyScript(cfg *schema.Config) []byte {
	im := cfg.Immich
	units := []string{DBInitUnit, ImmichUnit}
	if quadlet(cfg) {
		units = append(units, quadletContainers(cfg)...)
	}
	if im.Backup.Enabled {
		units = append(units, BackupTimer)
	}
	proxyURL, proxyResolve := "", ""
	if n := im.Nginx; n.Enabled {
		proxyURL = strings.TrimSuffix(publicURL(cfg), "/") + "/api/server/ping"
		port := n.HTTPSPort
		if n.TLS == "off" {
			port = n.HTTPPort
		}
		proxyResolve = fmt.Sprintf("%s:%d:127.0.0.1", n.Hostname, port)
	}
	secrets := secretsDir(cfg)
	// The containers reach a host service through the gateway; a server
	// elsewhere by its own name.
	reach := func(host string) string {
		if host == hostContainersInternal {
			return im.HostGateway
		}
		return host
	}
	vars := [][2]string{
		{"VERIFY_UNITS", strings.Join(units, " ")},
		{"VERIFY_PG_HOST", reach(im.Postgres.Host)},
		{"VERIFY_PG_PORT", fmt.Sprint(im.Postgres.Port)},
		{"VERIFY_PG_DATABASE", im.Postgres.Database},
		{"VERIFY_PG_USER", im.Postgres.User},
		{"VERIFY_PG_PASSWORD_FILE", path.Join(secrets, "db_password")},
		{"VERIFY_VALKEY_HOST", reach(im.Valkey.Host)},
		{"VERIFY_VALKEY_PORT", fmt.Sprint(im.Valkey.Port)},
		{"VERIFY_VALKEY_DB", fmt.Sprint(im.Valkey.DB)},
		{"VERIFY_VALKEY_USER", im.Valkey.User},
		{"VERIFY_VALKEY_PASSWORD_FILE", path.Join(secrets, "redis_password")},
		{"VERIFY_PING", fmt.Sprintf("http://127.0.0.1:%d/api/server/ping", im.Port)},
		{"VERIFY_PROXY_URL", proxyURL},
		{"VERIFY_PROXY_RESOLVE", proxyResolve},
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	b.WriteString(header("#") + "\n")
	for _, v := range vars {
		fmt.Fprintf(&b, "%s=${%s-%s}\n", v[0], v[0], shellQuote(v[1]))
	}
	b.WriteString("\n")
	b.WriteString(verifyBody)
	return []byte(b.String())
}

// hostContainersInternal is the name the containers know the host by.
const hostContainersInternal = "host.containers.internal"
