package pipeline

import (
	"fmt"
	"strings"

	"github.com/immich-render/immich-render/internal/group"
	"github.com/immich-render/immich-render/render"
)

// Index renders the fleet directory's README.md: what is in it, one table
// row per host, and the hosts of the configuration that have no files
// here yet (pending: a render limited with --host never rendered them).
func Index(sums []Summary, pending []string) []byte {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	n := len(sums)
	w("# Immich fleet: %s\n\n", group.Plural(n, "host"))
	w("%s\n", render.Notice)
	w("It is one fleet configuration's output: review `git diff` and commit after each render.\n")
	w("`immich-render -o <this dir> --check` exits 1 when the files no longer match the\n")
	w("configuration; add `--host NAME` (repeatable) to render or check some hosts only,\n")
	w("leaving the others' files as they are.\n\n")
	w("Each folder is one host's complete deployment, laid out as for a single site: its\n")
	w("`README.md` says what it runs and how to deploy it, `rootfs/` is copied onto the\n")
	w("host's `/` and `fragments/` are merged into files that other tools own. With\n")
	w("`--secrets-out SDIR`, `SDIR/<host>/` holds that host's secret files and cloud-init\n")
	w("user-data.\n\n")

	if n > 0 {
		w("| Host | Immich | URL | Machine learning | Transcoding | Runs |\n")
		w("|---|---|---|---|---|---|\n")
		for _, s := range sums {
			w("| [%s](%s/README.md) | %s | %s | %s | %s | %s |\n", s.Name, s.Name,
				cell(s.Version), cell(s.URL), cell(s.MachineLearning), cell(s.Transcoding), cell(s.Runs))
		}
		w("\n")
	}
	if len(pending) > 0 {
		w("## Not rendered yet\n\n")
		w("These hosts are in the configuration but have no files here: the renders so far were\n")
		w("limited with `--host`. Render without `--host`, or with `--host NAME`.\n\n")
		for _, h := range pending {
			w("- %s\n", h)
		}
		w("\n")
	}

	w("## Deploy\n\n")
	w("Each host's README.md gives its deploy commands as for a single site rendered into\n")
	w("`out/` and `secrets/`: for a host of this fleet, `out/` is `<this dir>/<host>/` and\n")
	w("`secrets/` is `SDIR/<host>/`. From this directory, for example:\n\n")
	w("```sh\nrsync -rlp %s/rootfs/ root@HOST:/\n```\n", example(sums))
	return []byte(b.String())
}

func example(sums []Summary) string {
	if len(sums) == 0 {
		return "NAME"
	}
	return sums[0].Name
}

// cell escapes a table cell.
func cell(s string) string {
	if s == "" {
		return "?"
	}
	return cellEscapes.Replace(s)
}

var cellEscapes = strings.NewReplacer("|", `\|`, "\n", " ")
