package render

import (
	"bytes"
	"embed"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// ApplyScript is the output path of the script that merges the fragments
// into the host's configuration; cloud-init runs it too.
const ApplyScript = "fragments/apply.sh"

// scripts are the shell scripts immich-render renders: real .sh files,
// so that shellcheck reads them, templated where values vary, each value
// through the shell quoter.
//
//go:embed scripts/*.sh
var scripts embed.FS

// scriptTemplates are parsed on first use, not at start-up: a command
// that renders nothing (--version, vet) does not pay for them.
var scriptTemplates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").
		Option("missingkey=error").
		Funcs(template.FuncMap{"sh": shellQuote, "shwords": shellWords, "header": header}).
		ParseFS(scripts, "scripts/*.sh"))
})

// renderScript executes one of scripts/*.sh.
func renderScript(name string, data any) []byte {
	var b bytes.Buffer
	if err := scriptTemplates().ExecuteTemplate(&b, name, data); err != nil {
		panic("render: script " + name + ": " + err.Error()) // a template bug, caught by every test
	}
	return b.Bytes()
}

// shellWords quotes each word for a POSIX shell and joins them with spaces.
func shellWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// renderApplyScript renders fragments/apply.sh, which merges what Immich
// needs into the host's PostgreSQL and Valkey settings: the host's own
// values first, Immich's added, nothing of the other tenants' taken away.
func renderApplyScript(cfg *schema.Config) []tree.File {
	im := cfg.Immich
	_, preload := vectorExtensions(im.Postgres.VectorExtension)
	acl := valkeyACLPath
	if cfg.Valkey.ACLMode == schema.ACLModeUser {
		acl = ""
	}
	data := struct {
		PGPort, PGListen, PGPreload, ValkeyPort, ValkeyBind, ACLFile string
	}{
		PGPort:     strconv.Itoa(im.Postgres.Port),
		PGListen:   pgListen(cfg),
		PGPreload:  preload,
		ValkeyPort: strconv.Itoa(im.Valkey.Port),
		ValkeyBind: strings.Join(valkeyBinds(cfg), " "),
		ACLFile:    acl,
	}
	return []tree.File{file(ApplyScript, renderScript("apply.sh", data), 0o755)}
}
