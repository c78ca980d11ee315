// Package render turns a validated Config into the files a host needs.
// Each artifact has its own file and is a pure function of the Config
// that returns the files it made: no renderer reads files, the
// environment or the clock, so the same Config always gives the same
// bytes. The README and cloud-init come last, over the finished trees.
package render

import (
	"io/fs"

	"github.com/immich-render/immich-render/internal/parallel"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// Renderers return tree.File values: the one type of a rendered file.

func file(p string, data []byte, mode fs.FileMode) tree.File {
	return tree.File{Path: p, Data: data, Mode: mode}
}

// ownedFile is a file a host account must read, owned "root:<group>".
func ownedFile(p string, data []byte, mode fs.FileMode, owner string) tree.File {
	f := file(p, data, mode)
	f.Owner = owner
	return f
}

func secretFile(p string, data []byte) tree.File {
	f := file(p, data, 0o600)
	f.Secret = true
	return f
}

// Options say what to render besides the -o tree.
type Options struct {
	// Secrets renders the secrets tree: the plaintext secret files and the
	// cloud-init user-data that embeds both trees. Without it (no
	// --secrets-out) neither is made: cloud-init is the costliest artifact.
	Secrets bool
	// Shared, when set, is shared by the renders of a batch (a fleet's
	// hosts), which then render each distinct file of the shareable kinds
	// once. It changes no output.
	Shared *Shared
}

// Result is a render: Out goes under -o and holds no plaintext secret;
// Secrets goes under --secrets-out and holds nothing else.
type Result struct {
	Out     tree.Tree
	Secrets tree.Tree
	// Warnings are things a user should know that do not stop a render,
	// such as a user-data over a cloud's size limit.
	Warnings []string
}

// artifacts are the renderers of the deployment's own files: each returns
// what it made, and none depends on another's files.
// Those that take a *Shared render some of their files through it.
var artifacts = []func(*schema.Config, *Shared) []tree.File{
	own(renderContainers),
	own(renderValkey),
	renderPostgres,
	own(renderNginx),
	own(renderApplyScript),
	renderBackup,
	own(renderVerify),
	renderUpgradeDump,
	own(renderMetrics),
}

// own is an artifact whose files are every host's own: it shares none.
func own(render func(*schema.Config) []tree.File) func(*schema.Config, *Shared) []tree.File {
	return func(cfg *schema.Config, _ *Shared) []tree.File { return render(cfg) }
}

// Render renders every artifact of cfg, then the README that describes
// them, then (with opt.Secrets) the cloud-init user-data over both trees.
func Render(cfg *schema.Config, opt Options) Result {
	r := Result{Out: tree.Tree{}, Secrets: tree.Tree{}}
	add := func(files ...tree.File) {
		for _, f := range files {
			t := r.Out
			if f.Secret {
				if !opt.Secrets {
					continue
				}
				t = r.Secrets
			}
			t.Put(f)
		}
	}
	// The artifacts are independent, and one (the SCRAM verifier in
	// init.sql) costs more than the rest together: its derivation starts
	// first, on its own, so that the other files render beside it;
	// init.sql waits for it (the memo derives it once). Then the artifacts
	// render at once, their files added in table order.
	pg := cfg.Immich.Postgres
	go scramVerifier(pg.User, pg.Password.Value)
	made := make([][]tree.File, len(artifacts))
	parallel.ForEach(len(artifacts), 0, func(_, i int) { made[i] = artifacts[i](cfg, opt.Shared) }, nil)
	for _, files := range made {
		add(files...)
	}
	add(renderReadme(cfg, r.Out))
	r.Warnings = append(r.Warnings, gatewayWarnings(cfg)...)
	r.Warnings = append(r.Warnings, settingsWarnings(cfg)...)
	if opt.Secrets {
		files, warnings := renderCloudInit(cfg, r.Out, r.Secrets)
		add(files...)
		r.Warnings = append(r.Warnings, warnings...)
	}
	return r
}

// Prepare parses the templates the renderers use, which they otherwise
// parse on first use. A caller with a core to spare while the
// configuration is evaluated runs it then, in a goroutine: the first
// render does not wait for them. It changes no output.
func Prepare() {
	readmeTemplate()
	scriptTemplates()
	initSQLTemplate()
}

// rootfs is where host files go in the output tree.
func rootfs(hostPath string) string { return tree.Rooted("rootfs", hostPath) }
