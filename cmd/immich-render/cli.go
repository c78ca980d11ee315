package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/immich-render/immich-render/output"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
)

// Version is the tool version recorded in every manifest. Release builds
// set it with -ldflags "-X main.Version=...".
var Version = "0.1.0"

// Exit codes, as PRODUCT.md fixes them.
const (
	exitOK      = 0
	exitDrift   = 1
	exitInvalid = 2 // invalid configuration or usage
	exitIO      = 3 // I/O or internal error
)

const usage = `immich-render renders a self-hosted Immich deployment from one typed configuration.

Usage:
  immich-render [-c CONFIG ...] -o DIR [--secrets-out SDIR]   render
  immich-render [-c CONFIG ...] -o DIR --check                drift check, writes nothing
  immich-render vet [-c CONFIG ...]                           validate only
  immich-render init [--format cue|yaml|json|jsonnet]         print a commented starter configuration
  immich-render schema                                        print the CUE schema
  immich-render --version | --help

Without -c, every immich.cue, immich.json, immich.yaml, immich.yml and
immich.jsonnet in the working directory is read and unified.

Exit codes: 0 done or no drift, 1 drift found by --check, 2 invalid
configuration or usage, 3 I/O or internal error.

Flags:
`

// usageError is a command-line mistake: exit 2 with a hint.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Main runs the command line and returns the exit code; main only exits.
func Main(args []string, stdout, stderr io.Writer) int {
	code, err := run(args, stdout, stderr)
	if err != nil {
		var probs schema.Problems
		var uerr usageError
		switch {
		case errors.As(err, &probs):
			fmt.Fprintln(stderr, probs.Error())
			fmt.Fprintf(stderr, "immich-render: %s in the configuration; nothing was written\n", plural(len(probs), "problem"))
			return exitInvalid
		case errors.As(err, &uerr):
			fmt.Fprintf(stderr, "immich-render: %s\n", uerr.msg)
			fmt.Fprintln(stderr, "Run 'immich-render --help' for usage.")
			return exitInvalid
		default:
			fmt.Fprintf(stderr, "immich-render: %v\n", err)
			return exitIO
		}
	}
	return code
}

// flags are the options shared by render and vet.
type flags struct {
	configs   []string
	extStr    []string
	extStrEnv []string
	tlaStr    []string
}

func (f *flags) register(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&f.configs, "config", "c", nil, "configuration file (.cue, .json, .yaml, .yml, .jsonnet, .libsonnet); repeat to unify several")
	fs.StringArrayVar(&f.extStr, "ext-str", nil, "Jsonnet external variable `k=v` (std.extVar)")
	fs.StringArrayVar(&f.extStrEnv, "ext-str-env", nil, "Jsonnet external variable `NAME` taken from the environment")
	fs.StringArrayVar(&f.tlaStr, "tla-str", nil, "Jsonnet top-level string argument `k=v`")
}

func newFlagSet(name string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	return fs
}

func run(args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) > 0 {
		switch args[0] {
		case "vet":
			return runVet(args[1:], stdout, stderr)
		case "init":
			return runInit(args[1:], stdout, stderr)
		case "schema":
			if len(args) > 1 {
				return 0, usageError{"schema takes no arguments"}
			}
			_, err := stdout.Write(schema.Source())
			return exitOK, err
		}
	}
	return runRender(args, stdout, stderr)
}

func runRender(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("immich-render", stderr)
	var f flags
	f.register(fs)
	out := fs.StringP("out", "o", "", "output `DIR` (owned by immich-render: stale files are removed)")
	secretsOut := fs.String("secrets-out", "", "write the plaintext secret files and cloud-init user-data under `SDIR`")
	check := fs.Bool("check", false, "compare with DIR instead of writing; exit 1 on drift")
	exactModes := fs.Bool("exact-modes", false, "with --check: compare every file's mode on disk, not only through the manifest (for a directory written by immich-render rather than checked out of git)")
	force := fs.Bool("force", false, "take over a non-empty DIR that has no immich-render manifest")
	quiet := fs.BoolP("quiet", "q", false, "print nothing on success")
	hosts := fs.StringArray("host", nil, "with a fleet configuration: render or check only host `NAME` (repeatable)")
	version := fs.Bool("version", false, "print the version and exit")
	help := fs.BoolP("help", "h", false, "show this help")
	if err := fs.Parse(args); err != nil {
		return 0, usageError{err.Error()}
	}
	switch {
	case *help:
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK, nil
	case *version:
		fmt.Fprintf(stdout, "immich-render %s\n", Version)
		return exitOK, nil
	case fs.NArg() > 0:
		return 0, usageError{fmt.Sprintf("unexpected argument %q (subcommands are vet, init and schema)", fs.Arg(0))}
	case *out == "":
		return 0, usageError{"-o DIR is required (use 'immich-render vet' to validate without rendering)"}
	}

	inputs, sopts, err := readInputs(f)
	if err != nil {
		return 0, err
	}
	if schema.IsFleet(inputs, sopts) {
		return runFleet(fleetRun{inputs: inputs, opt: sopts, hosts: *hosts, out: *out, secretsOut: *secretsOut,
			check: *check, force: *force, quiet: *quiet}, stdout, stderr)
	}
	if len(*hosts) > 0 {
		return 0, usageError{"--host works with a fleet configuration (top-level hosts:); this one is a single site"}
	}
	cfg, err := load(inputs, sopts)
	if err != nil {
		return 0, err
	}
	res := render.Render(cfg)
	opt := output.Options{Force: *force, DirMode: 0o755, Tool: "immich-render", Version: Version,
		Meta:   map[string]string{"immichVersion": cfg.Immich.Version, "hostGateway": cfg.Immich.HostGateway},
		OnWait: func() { fmt.Fprintf(stderr, "immich-render: waiting for another render of %s to finish\n", *out) }}
	if !*quiet {
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "immich-render: warning: %s\n", w)
		}
		// What the deployed version was is in the manifest of the last render.
		if prev, err := output.ReadManifest(*out); err == nil {
			notes := render.UpgradeNotes(prev.Meta["immichVersion"], cfg.Immich.Version)
			notes = append(notes, render.HostGatewayNotes(prev.Meta["hostGateway"], cfg.Immich.HostGateway)...)
			if notes != nil {
				fmt.Fprintf(stderr, "upgrade notes:\n  %s\n", strings.Join(notes, "\n  "))
			}
		}
	}
	// Git records only 0644 and 0755, so a checkout cannot carry 0640 or
	// 0600: --check compares modes through the manifest, which lists them,
	// unless asked to look at the disk.
	opt.GitModes = *check && !*exactModes
	sopt := opt
	sopt.DirMode = 0o700
	sopt.NoDiffContent = true
	if *secretsOut != "" && overlaps(*out, *secretsOut) {
		return 0, usageError{fmt.Sprintf("-o %s and --secrets-out %s overlap: keep the secrets directory apart, and out of git", *out, *secretsOut)}
	}

	if *check {
		drift, err := output.Check(*out, res.Out, opt)
		if err != nil {
			return 0, err
		}
		code := exitOK
		if !drift.Empty() {
			drift.Format(stdout)
			code = exitDrift
		}
		if *secretsOut != "" {
			sdrift, err := output.Check(*secretsOut, res.Secrets, sopt)
			if err != nil {
				return 0, err
			}
			if !sdrift.Empty() {
				fmt.Fprintf(stdout, "secrets directory %s:\n", *secretsOut)
				sdrift.Format(stdout)
				code = exitDrift
			}
		}
		return code, nil
	}

	// Refuse both directories before changing either.
	if err := output.Preflight(*out, opt); err != nil {
		return 0, err
	}
	if *secretsOut != "" {
		if err := output.Preflight(*secretsOut, sopt); err != nil {
			return 0, err
		}
	}
	rep, err := output.Write(*out, res.Out, opt)
	if err != nil {
		return 0, err
	}
	if !*quiet {
		fmt.Fprintf(stderr, "%s: %s\n", *out, rep)
	}
	if *secretsOut != "" {
		srep, err := output.Write(*secretsOut, res.Secrets, sopt)
		if err != nil {
			return 0, err
		}
		if !*quiet {
			fmt.Fprintf(stderr, "%s: %s\n", *secretsOut, srep)
		}
	}
	return exitOK, nil
}

func runVet(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("immich-render vet", stderr)
	var f flags
	f.register(fs)
	quiet := fs.BoolP("quiet", "q", false, "print nothing on success")
	if err := fs.Parse(args); err != nil {
		return 0, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return 0, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	inputs, sopts, err := readInputs(f)
	if err != nil {
		return 0, err
	}
	if schema.IsFleet(inputs, sopts) {
		_, err = vetFleet(inputs, sopts)
	} else {
		_, err = load(inputs, sopts)
	}
	if err != nil {
		return 0, err
	}
	if !*quiet {
		fmt.Fprintln(stdout, "configuration is valid")
	}
	return exitOK, nil
}

func runInit(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("immich-render init", stderr)
	format := fs.String("format", "cue", "starter format: cue, yaml, json or jsonnet")
	if err := fs.Parse(args); err != nil {
		return 0, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return 0, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	src, ok := schema.Starter(*format)
	if !ok {
		return 0, usageError{fmt.Sprintf("unknown --format %q: want cue, yaml, json or jsonnet", *format)}
	}
	_, err := stdout.Write(src)
	return exitOK, err
}

// readInputs reads the configuration files named by -c, or the default
// names in the working directory, and the Jsonnet variables.
func readInputs(f flags) ([]schema.Input, schema.Options, error) {
	var opt schema.Options
	names := f.configs
	if len(names) == 0 {
		for _, n := range schema.DefaultNames {
			if _, err := os.Stat(n); err == nil {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, opt, usageError{fmt.Sprintf("no configuration: no -c given and none of %s in the working directory; "+
				"start one with 'immich-render init > immich.cue'", strings.Join(schema.DefaultNames, ", "))}
		}
	}
	var inputs []schema.Input
	for _, n := range names {
		if !hasExt(n) {
			return nil, opt, usageError{fmt.Sprintf("%s: unknown configuration format; want a file ending in %s", n, strings.Join(schema.Extensions, ", "))}
		}
		data, err := os.ReadFile(n)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, opt, usageError{fmt.Sprintf("configuration file %s does not exist", n)}
			}
			return nil, opt, fmt.Errorf("reading configuration: %w", err)
		}
		inputs = append(inputs, schema.Input{Name: n, Data: data})
	}
	opt = schema.Options{ExtStr: map[string]string{}, TLAStr: map[string]string{}}
	for _, kv := range f.extStr {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, opt, usageError{fmt.Sprintf("--ext-str %q: want k=v", kv)}
		}
		opt.ExtStr[k] = v
	}
	for _, name := range f.extStrEnv {
		v, ok := os.LookupEnv(name)
		if !ok {
			return nil, opt, usageError{fmt.Sprintf("--ext-str-env %s: environment variable %s is not set", name, name)}
		}
		opt.ExtStr[name] = v
	}
	for _, kv := range f.tlaStr {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, opt, usageError{fmt.Sprintf("--tla-str %q: want k=v", kv)}
		}
		opt.TLAStr[k] = v
	}
	return inputs, opt, nil
}

// load validates a single-site configuration.
func load(inputs []schema.Input, opt schema.Options) (*schema.Config, error) {
	s, err := schema.Compile()
	if err != nil {
		return nil, err
	}
	return s.Load(inputs, opt)
}

// overlaps reports whether one directory is inside the other (or the same).
func overlaps(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	if errA != nil || errB != nil {
		return false
	}
	within := func(x, y string) bool { return x == y || strings.HasPrefix(x, y+string(filepath.Separator)) }
	return within(a, b) || within(b, a)
}

func hasExt(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range schema.Extensions {
		if ext == e {
			return true
		}
	}
	return false
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
