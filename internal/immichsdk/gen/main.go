// Command gen writes the CUE definitions of Immich's system configuration,
// one per Immich minor release that publishes @immich/sdk, from the SDK's
// own TypeScript declarations (build/fetch-client.d.ts), and the Go table
// that maps Immich versions to them. It runs at `go generate` time only
// (it needs node and the npm registry); the build embeds its output.
//
//	go generate ./schema (go run ../internal/immichsdk/gen -dir .)
package main

import (
	"archive/tar"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	cueformat "cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"
)

// extractJS reads the declarations with TypeScript's compiler API, and
// package.json with its lock pins that compiler (the 5.x line, whose
// JavaScript API extract.js uses).
var (
	//go:embed extract.js
	extractJS []byte
	//go:embed package.json
	packageJSON []byte
	//go:embed package-lock.json
	packageLock []byte
)

// firstMinor is the oldest Immich release immich-render renders.
var firstMinor = [2]int{1, 137}

// roots are the names of the settings type, newest first.
const roots = "AdminConfigDto,SystemConfigDto"

func main() {
	dir := flag.String("dir", "schema", "the schema package directory")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// sdk is one published @immich/sdk version chosen for an Immich minor.
type sdk struct {
	Version string
	Minor   [2]int
}

func run(dir string) error {
	tmp, err := os.MkdirTemp("", "immichsdk-gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	versions, err := sdkVersions()
	if err != nil {
		return err
	}
	extract, err := setup(tmp)
	if err != nil {
		return err
	}
	outDir := filepath.Join(dir, "settings")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(outDir, "v*.cue"))
	for _, f := range old {
		os.Remove(f)
	}
	var rows []row
	for _, v := range versions {
		model, err := readSDK(tmp, extract, v.Version)
		if err != nil {
			return fmt.Errorf("@immich/sdk %s: %w", v.Version, err)
		}
		name := fmt.Sprintf("v%d.%d.cue", v.Minor[0], v.Minor[1])
		src, secrets, err := genCUE(model, v)
		if err != nil {
			return fmt.Errorf("@immich/sdk %s: %w", v.Version, err)
		}
		if err := os.WriteFile(filepath.Join(outDir, name), src, 0o644); err != nil {
			return err
		}
		rows = append(rows, row{Minor: v.Minor, SDK: v.Version, Root: model.Root, File: "settings/" + name, Secrets: secrets})
	}
	goSrc, err := genGo(rows)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "settings_gen.go"), goSrc, 0o644)
}

// setup installs the pinned TypeScript compiler into dir and writes
// extract.js there, whose path it returns.
func setup(dir string) (string, error) {
	for name, data := range map[string][]byte{"package.json": packageJSON, "package-lock.json": packageLock, "extract.js": extractJS} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	if err := npm(dir, "ci", "--silent", "--no-audit", "--no-fund", "--ignore-scripts"); err != nil {
		return "", err
	}
	return filepath.Join(dir, "extract.js"), nil
}

func npm(dir string, args ...string) error {
	cmd := exec.Command("npm", args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	if out, err := cmd.Output(); err != nil {
		return fmt.Errorf("npm %s: %w (%s)", strings.Join(args, " "), err, out)
	}
	return nil
}

// sdkVersions asks the registry which SDK versions exist and keeps, for
// each Immich minor from firstMinor on, its newest release (no
// pre-releases).
func sdkVersions() ([]sdk, error) {
	out, err := exec.Command("npm", "view", "@immich/sdk", "versions", "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("npm view @immich/sdk versions: %w", err)
	}
	var all []string
	if err := json.Unmarshal(out, &all); err != nil {
		return nil, err
	}
	best := map[[2]int][3]int{}
	for _, s := range all {
		v, ok := parse(s)
		if !ok || less2([2]int{v[0], v[1]}, firstMinor) {
			continue
		}
		m := [2]int{v[0], v[1]}
		if b, seen := best[m]; !seen || slices.Compare(b[:], v[:]) < 0 {
			best[m] = v
		}
	}
	var list []sdk
	for m, v := range best {
		list = append(list, sdk{Version: fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), Minor: m})
	}
	slices.SortFunc(list, func(a, b sdk) int { return slices.Compare(a.Minor[:], b.Minor[:]) })
	return list, nil
}

func parse(s string) ([3]int, bool) {
	var v [3]int
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func less2(a, b [2]int) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

// readSDK fetches one SDK tarball and extracts its settings types.
func readSDK(tmp, extract, version string) (*model, error) {
	dir := filepath.Join(tmp, version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := npm(dir, "pack", "--silent", "@immich/sdk@"+version); err != nil {
		return nil, err
	}
	tgz := filepath.Join(dir, "immich-sdk-"+version+".tgz")
	dts := filepath.Join(dir, "fetch-client.d.ts")
	if err := untarOne(tgz, "package/build/fetch-client.d.ts", dts); err != nil {
		return nil, err
	}
	return extractModel(extract, dts)
}

// extractModel runs extract.js (installed by setup) on a declarations file.
func extractModel(extract, dts string) (*model, error) {
	out, err := exec.Command("node", extract, filepath.Dir(extract), dts, roots).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("extract.js: %w: %s", err, ee.Stderr)
		}
		return nil, err
	}
	var m model
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func untarOne(tgz, name, dst string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s: no %s", tgz, name)
		}
		if err != nil {
			return err
		}
		if h.Name != name {
			continue
		}
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
}

// model is extract.js's output.
type model struct {
	Root  string                     `json:"root"`
	Types map[string]json.RawMessage `json:"types"`
	Enums map[string][]any           `json:"enums"`
}

type field struct {
	Name     string `json:"name"`
	Optional bool   `json:"optional"`
	Doc      string `json:"doc"`
	Type     typ    `json:"type"`
}

type typ struct {
	Kind   string  `json:"kind"`
	Name   string  `json:"name"`
	Elem   *typ    `json:"elem"`
	Types  []typ   `json:"types"`
	Value  any     `json:"value"`
	Fields []field `json:"fields"`
}

// row is one line of the Go table.
type row struct {
	Minor   [2]int
	SDK     string
	Root    string
	File    string
	Secrets []string
}

// isSecret says whether a settings field holds a secret: Immich's types
// do not mark them, their names do (oauth.clientSecret,
// notifications.smtp.transport.password).
func isSecret(f field) bool {
	n := strings.ToLower(f.Name)
	return f.Type.Kind == "string" && (strings.Contains(n, "password") || strings.Contains(n, "secret"))
}

// gen builds a version's CUE file through cue/ast.
type gen struct {
	m       *model
	secrets []string
}

func genCUE(m *model, v sdk) ([]byte, []string, error) {
	g := &gen{m: m}
	file := &ast.File{}
	pkg := &ast.Package{Name: ast.NewIdent("settings")}
	ast.AddComment(pkg, &ast.CommentGroup{Doc: true, List: []*ast.Comment{
		{Text: "// Code generated by internal/immichsdk/gen; DO NOT EDIT."},
		{Text: fmt.Sprintf("// From @immich/sdk %s, build/fetch-client.d.ts, type %s:", v.Version, m.Root)},
		{Text: fmt.Sprintf("// Immich's system configuration for Immich v%d.%d.", v.Minor[0], v.Minor[1])},
	}})
	file.Decls = append(file.Decls, pkg)
	settings := &ast.Field{Label: ast.NewIdent("#Settings"), Value: ast.NewIdent("#" + m.Root)}
	ast.AddComment(settings, comment("The settings root: every field optional, as Immich fills in its defaults."))
	file.Decls = append(file.Decls, settings)

	if _, ok := m.Types[m.Root]; !ok {
		return nil, nil, fmt.Errorf("no settings type %s", m.Root)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Types)) {
		st, err := g.structOf(name, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		file.Decls = append(file.Decls, &ast.Field{Label: ast.NewIdent("#" + name), Value: st})
	}
	for _, name := range slices.Sorted(maps.Keys(m.Enums)) {
		var alts []ast.Expr
		for _, val := range m.Enums[name] {
			alts = append(alts, literal(val))
		}
		file.Decls = append(file.Decls, &ast.Field{Label: ast.NewIdent("#" + name), Value: ast.NewBinExpr(token.OR, alts...)})
	}
	// The secret paths, found from the root.
	g.secrets = nil
	g.findSecrets(m.Root, "")
	slices.Sort(g.secrets)
	b, err := cueformat.Node(file, cueformat.Simplify())
	if err != nil {
		return nil, nil, err
	}
	return b, g.secrets, nil
}

func comment(text string) *ast.CommentGroup {
	var list []*ast.Comment
	for _, l := range strings.Split(text, "\n") {
		list = append(list, &ast.Comment{Text: strings.TrimRight("// "+l, " ")})
	}
	return &ast.CommentGroup{Doc: true, List: list}
}

func literal(v any) ast.Expr {
	switch x := v.(type) {
	case string:
		return ast.NewString(x)
	case float64:
		return ast.NewLit(token.INT, strconv.FormatFloat(x, 'f', -1, 64))
	case bool:
		return ast.NewBool(x)
	}
	panic(fmt.Sprintf("literal %T", v))
}

func (g *gen) fields(name string) ([]field, *typ, error) {
	raw := g.m.Types[name]
	var fs []field
	if err := json.Unmarshal(raw, &fs); err == nil {
		return fs, nil, nil
	}
	var alias struct {
		Alias typ `json:"alias"`
	}
	if err := json.Unmarshal(raw, &alias); err != nil {
		return nil, nil, err
	}
	return nil, &alias.Alias, nil
}

// structOf is the closed struct of a named object type; every field
// optional, because a settings file gives only what differs from Immich's
// defaults.
func (g *gen) structOf(name string, fs []field) (ast.Expr, error) {
	if fs == nil {
		var alias *typ
		var err error
		fs, alias, err = g.fields(name)
		if err != nil {
			return nil, err
		}
		if alias != nil {
			return g.expr(*alias, false)
		}
	}
	st := &ast.StructLit{}
	for _, f := range fs {
		val, err := g.expr(f.Type, isSecret(f))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		fl := &ast.Field{Label: label(f.Name), Constraint: token.OPTION, Value: val}
		if h := g.hint(f.Type, isSecret(f)); h != "" {
			fl.Attrs = []*ast.Attribute{{Text: "@hint(" + strconv.Quote(h) + ")"}}
		}
		if f.Doc != "" {
			ast.AddComment(fl, comment(f.Doc))
		}
		st.Elts = append(st.Elts, fl)
	}
	return st, nil
}

func label(name string) ast.Label {
	if ast.IsValidIdent(name) && !strings.HasPrefix(name, "#") && !strings.HasPrefix(name, "_") {
		return ast.NewIdent(name)
	}
	return ast.NewString(name)
}

// expr is the CUE type of a TypeScript type. A secret field also takes
// {env}/{file}: the settings schema's #Secret (secret.cue).
func (g *gen) expr(t typ, secret bool) (ast.Expr, error) {
	switch t.Kind {
	case "string":
		if secret {
			return ast.NewIdent("#Secret"), nil
		}
		return ast.NewIdent("string"), nil
	case "number":
		return ast.NewIdent("number"), nil
	case "boolean":
		return ast.NewIdent("bool"), nil
	case "null":
		return ast.NewNull(), nil
	case "unknown":
		return ast.NewIdent("_"), nil
	case "literal":
		return literal(t.Value), nil
	case "ref":
		return ast.NewIdent("#" + t.Name), nil
	case "array":
		e, err := g.expr(*t.Elem, false)
		if err != nil {
			return nil, err
		}
		return ast.NewList(&ast.Ellipsis{Type: e}), nil
	case "record":
		e, err := g.expr(*t.Elem, false)
		if err != nil {
			return nil, err
		}
		return &ast.StructLit{Elts: []ast.Decl{&ast.Field{Label: ast.NewList(ast.NewIdent("string")), Value: e}}}, nil
	case "union":
		var alts []ast.Expr
		for _, u := range t.Types {
			e, err := g.expr(u, secret)
			if err != nil {
				return nil, err
			}
			alts = append(alts, e)
		}
		return ast.NewBinExpr(token.OR, alts...), nil
	case "object":
		return g.structOf("", t.Fields)
	}
	return nil, fmt.Errorf("unsupported type kind %q", t.Kind)
}

// hint says in words what a field takes, for "want:" lines.
func (g *gen) hint(t typ, secret bool) string {
	switch t.Kind {
	case "string":
		if secret {
			return `a string, or a reference {env: "NAME"} or {file: "/path"} resolved at render time`
		}
		return "a string"
	case "number":
		return "a number"
	case "boolean":
		return "true or false"
	case "ref":
		if vals, ok := g.m.Enums[t.Name]; ok {
			var s []string
			for _, v := range vals {
				b, _ := json.Marshal(v)
				s = append(s, string(b))
			}
			return "one of " + strings.Join(s, ", ")
		}
		return ""
	case "array":
		if h := g.hint(*t.Elem, false); h != "" {
			return "a list, each element " + h
		}
		return "a list"
	case "union":
		var s []string
		for _, u := range t.Types {
			if u.Kind == "null" {
				s = append(s, "null")
			} else if h := g.hint(u, secret); h != "" {
				s = append(s, h)
			}
		}
		return strings.Join(s, ", or ")
	}
	return ""
}

// findSecrets collects the dotted paths of the secret fields under a type.
func (g *gen) findSecrets(name, prefix string) {
	fs, _, _ := g.fields(name)
	g.walkSecrets(fs, prefix)
}

func (g *gen) walkSecrets(fs []field, prefix string) {
	for _, f := range fs {
		p := prefix + f.Name
		switch {
		case isSecret(f):
			g.secrets = append(g.secrets, p)
		case f.Type.Kind == "ref":
			if _, ok := g.m.Types[f.Type.Name]; ok {
				g.findSecrets(f.Type.Name, p+".")
			}
		case f.Type.Kind == "object":
			g.walkSecrets(f.Type.Fields, p+".")
		}
	}
}

// genGo writes the table of versions as Go source.
func genGo(rows []row) ([]byte, error) {
	var b strings.Builder
	b.WriteString("// Code generated by internal/immichsdk/gen; DO NOT EDIT.\n\npackage schema\n\n")
	b.WriteString("// settingsSchemas are the settings definitions under settings/, one per\n")
	b.WriteString("// Immich minor release that published @immich/sdk, oldest first.\n")
	b.WriteString("var settingsSchemas = []settingsSchema{\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "\t{Minor: [2]int{%d, %d}, SDK: %q, Root: %q, File: %q, Secrets: []string{", r.Minor[0], r.Minor[1], r.SDK, r.Root, r.File)
		for i, s := range r.Secrets {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", s)
		}
		b.WriteString("}},\n")
	}
	b.WriteString("}\n")
	return format.Source([]byte(b.String()))
}
