package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/immich-render/immich-render/internal/group"
	"github.com/immich-render/immich-render/schema"
)

// defineVet validates the configuration without rendering it. Secrets
// whose environment variable is unset or whose file cannot be read are
// listed, not refused, unless --secrets asks for them: a pull request can
// be vetted without the secret values.
func defineVet(fs *pflag.FlagSet) runFunc {
	var in inputFlags
	in.register(fs)
	requireSecrets := fs.Bool("secrets", false, "also require every secret to resolve (as a render does)")
	format := fs.String("format", "text", "text, or json: one object with every problem and unresolved secret (docs/cli.md)")
	quiet := fs.BoolP("quiet", "q", false, "print nothing on success")
	return func(_ []string, stdout, _ io.Writer) (int, error) {
		if *format != "text" && *format != "json" {
			return 0, usageError{Msg: fmt.Sprintf("unknown --format %q: want text or json", *format)}
		}
		inputs, opt, err := in.read()
		if err != nil {
			return 0, err
		}
		defer in.watch(inputs)()
		opt.AllowUnresolved = !*requireSecrets
		dep, err := schema.LoadDeployment(inputs, opt, schema.FleetOptions{})
		var probs schema.Problems
		if *format == "json" && errors.As(err, &probs) {
			return exitInvalid, writeJSON(stdout, vetResult{Valid: false, Problems: problemsJSON(probs), Unresolved: []unresolvedJSON{}})
		}
		if err != nil {
			return 0, err
		}
		var unresolved []unresolvedJSON
		for _, h := range dep.Hosts {
			for _, ns := range h.Config.Unresolved() {
				path := ns.Path
				if h.Name != "" {
					path = "hosts." + h.Name + "." + path
				}
				unresolved = append(unresolved, unresolvedJSON{Path: path, Source: ns.Secret.Source})
			}
		}
		switch {
		case *format == "json":
			if unresolved == nil {
				unresolved = []unresolvedJSON{}
			}
			return exitOK, writeJSON(stdout, vetResult{Valid: true, Problems: []problemJSON{}, Unresolved: unresolved})
		case *quiet:
			return exitOK, nil
		}
		for _, u := range unresolved {
			fmt.Fprintf(stdout, "not resolved: %s: %s\n", u.Path, u.Source)
		}
		if n := len(unresolved); n > 0 {
			fmt.Fprintf(stdout, "configuration is valid; %s not checked (a render needs them; vet --secrets requires them)\n", group.Plural(n, "secret value"))
			return exitOK, nil
		}
		fmt.Fprintln(stdout, "configuration is valid")
		return exitOK, nil
	}
}

// vetResult is what vet --format json prints (docs/cli.md).
type vetResult struct {
	Valid      bool             `json:"valid"`
	Problems   []problemJSON    `json:"problems"`
	Unresolved []unresolvedJSON `json:"unresolved"`
}

type unresolvedJSON struct {
	Path   string `json:"path"`
	Source string `json:"source"`
}

type problemJSON struct {
	Path      string         `json:"path"` // "" for a whole file
	Kind      string         `json:"kind"`
	Reason    string         `json:"reason"`
	Hint      string         `json:"hint,omitempty"`
	Positions []positionJSON `json:"positions"`
}

type positionJSON struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// problemsJSON is the one place a schema.Problem becomes JSON.
func problemsJSON(probs schema.Problems) []problemJSON {
	out := make([]problemJSON, 0, len(probs))
	for _, p := range probs {
		j := problemJSON{Path: p.PathString(), Kind: p.Kind.String(), Reason: p.Reason, Hint: p.Hint, Positions: []positionJSON{}}
		for _, pos := range p.Pos {
			pp := pos.Position()
			j.Positions = append(j.Positions, positionJSON{File: pp.Filename, Line: pp.Line, Column: pp.Column})
		}
		out = append(out, j)
	}
	return out
}

// writeJSON prints v as indented JSON with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
