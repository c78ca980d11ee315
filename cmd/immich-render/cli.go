package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/immich-render/immich-render/internal/output"
	"github.com/immich-render/immich-render/internal/pipeline"
	"github.com/immich-render/immich-render/schema"
)

// Version is the tool version recorded in every manifest. Release builds
// set it with -ldflags "-X main.Version=...".
var Version = "0.1.0"

// Exit codes, as the README documents them.
const (
	exitOK      = 0
	exitDrift   = 1
	exitInvalid = 2 // invalid configuration or usage
	exitIO      = 3 // I/O or internal error
)

// usageError is a command-line mistake: exit 2 with a hint.
type usageError struct{ Msg string }

func (e usageError) Error() string { return e.Msg }

// asUsage words, in the command line's terms, a library error that means
// the command was called wrongly rather than the configuration is wrong.
func asUsage(err error) (usageError, bool) {
	var uerr usageError
	var overlap *pipeline.OverlapError
	var unknown *schema.UnknownHostsError
	switch {
	case errors.As(err, &uerr):
		return uerr, true
	case errors.As(err, &overlap):
		return usageError{fmt.Sprintf("-o %s and --secrets-out %s overlap: keep the secrets directory apart, and out of git", overlap.Out, overlap.SecretsOut)}, true
	case errors.Is(err, schema.ErrHostsOnSite):
		return usageError{"--host works with a fleet configuration (top-level hosts:); this one is a single site"}, true
	case errors.As(err, &unknown):
		what := "no host"
		if len(unknown.Unknown) > 1 {
			what = "no hosts"
		}
		return usageError{fmt.Sprintf("--host %s: the configuration has %s of that name; its hosts are %s",
			strings.Join(unknown.Unknown, ", "), what, pipeline.ListHosts(unknown.Known, pipeline.MaxHostsListed))}, true
	}
	return usageError{}, false
}

// Main runs the command line and returns the exit code; main only exits.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd, _ := lookup("")
	if len(args) > 0 && args[0] != "" {
		if sub, ok := lookup(args[0]); ok {
			cmd, args = sub, args[1:]
		}
	}
	code, err := cmd.execute(args, stdout, stderr)
	if err == nil {
		return code
	}
	var probs schema.Problems
	uerr, isUsage := asUsage(err)
	switch {
	case errors.As(err, &probs):
		fmt.Fprintln(stderr, probs.Error())
		fmt.Fprintf(stderr, "immich-render: %s in the configuration; nothing was written\n", plural(len(probs), "problem"))
		return exitInvalid
	case isUsage:
		fmt.Fprintf(stderr, "immich-render: %s\n", uerr.Msg)
		fmt.Fprintln(stderr, "Run 'immich-render --help' for usage.")
		return exitInvalid
	default:
		var notOwned *output.NotOwnedError
		if errors.As(err, &notOwned) {
			fmt.Fprintf(stderr, "immich-render: %s\n", notOwned.Explain("pass --force"))
			return exitIO
		}
		fmt.Fprintf(stderr, "immich-render: %v\n", err)
		return exitIO
	}
}

// inputFlags are the options that say what to read, shared by render and vet.
type inputFlags struct {
	configs   []string
	extStr    []string
	extStrEnv []string
	tlaStr    []string
	jpath     []string
}

func (f *inputFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&f.configs, "config", "c", nil, "configuration `FILE` (.cue, .json, .yaml, .yml, .jsonnet, .libsonnet); repeat to unify several")
	fs.StringArrayVar(&f.extStr, "ext-str", nil, "Jsonnet external variable `k=v` (std.extVar)")
	fs.StringArrayVar(&f.extStrEnv, "ext-str-env", nil, "Jsonnet external variable `NAME` taken from the environment")
	fs.StringArrayVar(&f.tlaStr, "tla-str", nil, "Jsonnet top-level string argument `k=v`")
	fs.StringArrayVarP(&f.jpath, "jpath", "J", nil, "another `DIR` Jsonnet imports may read (besides the configuration files' own directories)")
}

// read reads the configuration files named by -c, or the default names in
// the working directory, and the Jsonnet variables.
func (f inputFlags) read() ([]schema.Input, schema.Options, error) {
	var opt schema.Options
	names := f.configs
	if len(names) == 0 {
		for _, n := range schema.DefaultNames {
			if _, err := os.Stat(n); err == nil {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, opt, usageError{Msg: fmt.Sprintf("no configuration: no -c given and none of %s in the working directory; "+
				"start one with 'immich-render init > immich.cue'", strings.Join(schema.DefaultNames, ", "))}
		}
	}
	var inputs []schema.Input
	for _, n := range names {
		if !slices.Contains(schema.Extensions, strings.ToLower(filepath.Ext(n))) {
			return nil, opt, usageError{Msg: fmt.Sprintf("%s: unknown configuration format; want a file ending in %s", n, strings.Join(schema.Extensions, ", "))}
		}
		data, err := os.ReadFile(n)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, opt, usageError{Msg: fmt.Sprintf("configuration file %s does not exist", n)}
			}
			return nil, opt, fmt.Errorf("reading configuration: %w", err)
		}
		inputs = append(inputs, schema.Input{Name: n, Data: data})
	}
	opt = schema.Options{ExtStr: map[string]string{}, TLAStr: map[string]string{}, JPaths: f.jpath}
	kv := func(flag string, pairs []string, into map[string]string) error {
		for _, pair := range pairs {
			k, v, ok := strings.Cut(pair, "=")
			if !ok || k == "" {
				return usageError{Msg: fmt.Sprintf("%s %q: want k=v", flag, pair)}
			}
			into[k] = v
		}
		return nil
	}
	if err := kv("--ext-str", f.extStr, opt.ExtStr); err != nil {
		return nil, opt, err
	}
	for _, name := range f.extStrEnv {
		v, ok := os.LookupEnv(name)
		if !ok {
			return nil, opt, usageError{Msg: fmt.Sprintf("--ext-str-env %s: environment variable %s is not set", name, name)}
		}
		opt.ExtStr[name] = v
	}
	if err := kv("--tla-str", f.tlaStr, opt.TLAStr); err != nil {
		return nil, opt, err
	}
	return inputs, opt, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
