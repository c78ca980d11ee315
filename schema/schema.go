// Package schema owns the configuration contract: the embedded CUE schema,
// the loaders for CUE, JSON, YAML and Jsonnet inputs, secret resolution and
// the rules that need Go, all of which end in either a typed Config or a
// complete, sorted list of Problems.
package schema

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"
)

//go:embed cue/*.cue
var cueFiles embed.FS

// schemaPrefix marks positions inside the embedded schema, so that messages
// can show the user's input positions only.
const schemaPrefix = "schema/"

// Schema is the compiled schema. Compile it once; Load may be called many
// times, but not concurrently (a CUE context is not safe for that).
type Schema struct {
	ctx           *cue.Context
	config        cue.Value // #Config
	fleetDef      cue.Value // #Fleet: the shape of a fleet configuration
	fleetHostName cue.Value // #FleetHostName
	// settings are the settings definitions compiled so far, by file:
	// a render compiles only the one its Immich version needs.
	settings map[string]cue.Value
}

// Compile parses and builds the embedded schema.
func Compile() (*Schema, error) { return compile() }

// compileDocumented is Compile with the schema's comments kept, for the
// commands that print them (explain, the JSON Schema).
func compileDocumented() (*Schema, error) { return compile(parser.ParseComments) }

func compile(opts ...parser.Option) (*Schema, error) {
	ctx := cuecontext.New()
	inst := build.NewContext().NewInstance("", nil)
	names, err := fs.Glob(cueFiles, "cue/*.cue")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, name := range names {
		src, err := cueFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(schemaPrefix+path.Base(name), src, opts...)
		if err != nil {
			return nil, fmt.Errorf("embedded schema: %w", err)
		}
		if err := inst.AddSyntax(f); err != nil {
			return nil, fmt.Errorf("embedded schema: %w", err)
		}
	}
	v := ctx.BuildInstance(inst)
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("embedded schema: %w", err)
	}
	def := v.LookupPath(cue.ParsePath("#Config"))
	if err := def.Err(); err != nil {
		return nil, fmt.Errorf("embedded schema: %w", err)
	}
	fleetDef := v.LookupPath(cue.ParsePath("#Fleet"))
	if err := fleetDef.Err(); err != nil {
		return nil, fmt.Errorf("embedded schema: %w", err)
	}
	return &Schema{ctx: ctx, config: def, fleetDef: fleetDef, fleetHostName: v.LookupPath(cue.ParsePath("#FleetHostName"))}, nil
}

// Source returns the schema's CUE source as one file, as `immich-render
// schema` prints it: the files in order, their imports merged into one block
// after the package clause.
func Source() []byte {
	names, _ := fs.Glob(cueFiles, "cue/*.cue")
	slices.Sort(names)
	var imports []string
	var bodies [][]byte
	for _, name := range names {
		src, _ := cueFiles.ReadFile(name)
		src = importBlock().ReplaceAllFunc(src, func(m []byte) []byte {
			for _, q := range importPath().FindAll(m, -1) {
				if !slices.Contains(imports, string(q)) {
					imports = append(imports, string(q))
				}
			}
			return nil
		})
		bodies = append(bodies, src)
	}
	slices.Sort(imports)
	var b bytes.Buffer
	for i, body := range bodies {
		if i > 0 {
			fmt.Fprintf(&b, "\n// ---- %s ----\n", path.Base(names[i]))
			body = bytes.Replace(body, []byte("package config\n"), nil, 1)
			b.Write(body)
			continue
		}
		head, rest, _ := bytes.Cut(body, []byte("package config\n"))
		b.Write(head)
		b.WriteString("package config\n\nimport (\n")
		for _, q := range imports {
			fmt.Fprintf(&b, "\t%s\n", q)
		}
		b.WriteString(")\n")
		b.Write(rest)
	}
	return b.Bytes()
}

var (
	importBlock = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^import (\([^)]*\)|"[^"]*")\n`) })
	importPath  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`"[^"]+"`) })
)
