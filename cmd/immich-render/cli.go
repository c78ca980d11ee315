package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/immich-render/immich-render/internal/budget"
	"github.com/immich-render/immich-render/internal/group"
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
		if overlap.ResolvedOut != "" {
			return usageError{fmt.Sprintf("-o %s and --secrets-out %s overlap once symbolic links are followed (%s and %s): keep the secrets directory apart, and out of git",
				overlap.Out, overlap.SecretsOut, overlap.ResolvedOut, overlap.ResolvedSecretsOut)}, true
		}
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
		fmt.Fprintf(stderr, "immich-render: %s in the configuration; nothing was written\n", group.Plural(len(probs), "problem"))
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
	limits    budget.Limits
}

func (f *inputFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&f.configs, "config", "c", nil, "configuration `FILE` (.cue, .json, .yaml, .yml, .jsonnet, .libsonnet); repeat to unify several")
	fs.StringArrayVar(&f.extStr, "ext-str", nil, "Jsonnet external variable `k=v` (std.extVar)")
	fs.StringArrayVar(&f.extStrEnv, "ext-str-env", nil, "Jsonnet external variable `NAME` taken from the environment")
	fs.StringArrayVar(&f.tlaStr, "tla-str", nil, "Jsonnet top-level string argument `k=v`")
	fs.StringArrayVarP(&f.jpath, "jpath", "J", nil, "another `DIR` Jsonnet imports may read (besides the configuration files' own directories)")
	f.limits = budget.Default
	f.limits.Register(fs)
}

// watch starts the run's budget over the inputs; the returned function
// stops it.
func (f inputFlags) watch(inputs []schema.Input) (stop func()) {
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
	}
	limits := f.limits
	if os.Getenv("GOMEMLIMIT") == "" {
		limits.HeapFloor = fleetMemoryLimit
	}
	return limits.Watch(names, budget.Exit)
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
	var total int64
	for _, n := range names {
		if !slices.Contains(schema.Extensions, strings.ToLower(filepath.Ext(n))) {
			return nil, opt, usageError{Msg: fmt.Sprintf("%s: unknown configuration format; want a file ending in %s", n, strings.Join(schema.Extensions, ", "))}
		}
		left := int64(f.limits.Input) - total
		if f.limits.Input == 0 {
			left = math.MaxInt64 - 1
		}
		data, err := schema.ReadRegular(n, max(left, 0))
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, opt, usageError{Msg: fmt.Sprintf("configuration file %s does not exist", n)}
		case errors.Is(err, schema.ErrTooLarge):
			return nil, opt, usageError{Msg: fmt.Sprintf("configuration file %s takes the configuration past the input limit of %v; "+
				"if it really is that large, raise it with --max-input", n, f.limits.Input)}
		case errors.Is(err, schema.ErrNotRegular):
			return nil, opt, usageError{Msg: fmt.Sprintf("configuration file %s: %v", n, err)}
		case err != nil:
			return nil, opt, fmt.Errorf("reading configuration: %w", err)
		}
		total += int64(len(data))
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
