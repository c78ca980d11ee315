// Package render turns a validated Config into the files a host needs.
// Each artifact has its own file and is a pure function of the Config: no
// renderer reads files, the environment or the clock, so the same Config
// always gives the same bytes.
package render

import (
	"github.com/immich-render/immich-render/schema"
	"github.com/immich-render/immich-render/tree"
)

// Result is a render: Out goes under -o and holds no plaintext secret;
// Secrets goes under --secrets-out and holds nothing else.
type Result struct {
	Out     tree.Tree
	Secrets tree.Tree
	// Warnings are things a user should know that do not stop a render,
	// such as a user-data over a cloud's size limit.
	Warnings []string
}

// Render renders every artifact of cfg.
func Render(cfg *schema.Config) Result {
	r := Result{Out: tree.Tree{}, Secrets: tree.Tree{}}
	renderCompose(cfg, r)
	renderImmichUnit(cfg, r)
	renderValkey(cfg, r)
	renderPostgres(cfg, r)
	renderNginx(cfg, r)
	renderApplyScript(cfg, r)
	renderReadme(cfg, r)
	renderCloudInit(cfg, &r)
	r.Warnings = append(r.Warnings, gatewayWarnings(cfg)...)
	return r
}

// rootfs is where host files go in the output tree.
func rootfs(hostPath string) string { return tree.Rooted("rootfs", hostPath) }
