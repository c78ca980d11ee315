package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// runFunc runs a command once its flags are parsed; args are its
// positional arguments.
type runFunc func(args []string, stdout, stderr io.Writer) (int, error)

// command is one row of the subcommand table. The usage, every --help,
// `immich-render help` and the shell completions are generated from it.
type command struct {
	name     string   // the first argument; "" for the render and check
	synopsis []string // usage lines, after "immich-render "
	summary  string   // a few words beside the first synopsis line
	doc      string   // the paragraph --help prints after the synopsis
	// args completes the positional arguments (shell words); minArgs and
	// maxArgs bound how many there are.
	args             []string
	minArgs, maxArgs int
	// define registers the command's flags and returns what runs it.
	define func(fs *pflag.FlagSet) runFunc
}

// commands is the subcommand table, the render first. It is a function
// so that the commands that print it (help, completion) can refer to it.
func commands() []command {
	return []command{
		{
			synopsis: []string{
				"[-c CONFIG ...] -o DIR [--secrets-out SDIR]",
				"[-c CONFIG ...] -o DIR --check [-q] [--format text|json|stat|names]",
			},
			summary: "render; or check for drift, writing nothing",
			doc: `Renders the configuration into DIR (owned by immich-render: stale files
are removed), and the plaintext secrets and cloud-init user-data into SDIR.
With --check, compares DIR with the render instead and exits 1 on drift.
Both say which units and host services must be restarted or reloaded.

Without -c, every immich.cue, immich.json, immich.yaml, immich.yml and
immich.jsonnet in the working directory is read and unified. A configuration
with a top-level hosts: is a fleet: one directory per host under DIR.`,
			define: defineRender,
		},
		{
			name:     "vet",
			synopsis: []string{"vet [-c CONFIG ...] [--secrets] [--format text|json]"},
			summary:  "validate only (works without the secret values)",
			doc: `Validates the configuration without rendering it. Secrets whose variable
or file is missing are listed, not refused, unless --secrets asks for them.`,
			define: defineVet,
		},
		{
			name:     "init",
			synopsis: []string{"init [--format cue|yaml|json|jsonnet]"},
			summary:  "print a commented starter configuration",
			define:   defineInit,
		},
		{
			name:     "import",
			synopsis: []string{"import ansible -i INVENTORY [--host NAME ...] [--vault-password-file F] [-o DIR]"},
			summary:  "write immich.cue from the Ansible role's inventory",
			doc: `Reads the inventory of the Ansible role (an INI or YAML file or directory,
with group_vars/ and host_vars/) and writes DIR/immich.cue (one host: a
site; several: a fleet) and DIR/immich.secrets.env (mode 0600, the
secrets, to keep out of git). Edited files are not overwritten without
--force.`,
			args: []string{"ansible"}, minArgs: 1, maxArgs: 1,
			define: defineImport,
		},
		{
			name:     "schema",
			synopsis: []string{"schema [--format cue|jsonschema]"},
			summary:  "print the schema (CUE, or a JSON Schema for editors)",
			define:   defineSchema,
		},
		{
			name:     "explain",
			synopsis: []string{"explain FIELD.PATH"},
			summary:  "one field's documentation, type, default and hint",
			doc:      `Prints what the schema says about one field, for example immich.nginx.tls.`,
			minArgs:  1, maxArgs: 1,
			define: defineExplain,
		},
		{
			name:     "help",
			synopsis: []string{"help [COMMAND]"},
			summary:  "this usage, or one command's",
			args:     commandNames(), maxArgs: 1,
			define: defineHelp,
		},
		{
			name:     "completion",
			synopsis: []string{"completion bash|zsh|fish"},
			summary:  "print a shell completion script",
			doc: `Prints a completion script. For bash: source <(immich-render completion bash);
for zsh: source <(immich-render completion zsh); for fish:
immich-render completion fish | source.`,
			args: []string{"bash", "zsh", "fish"}, minArgs: 1, maxArgs: 1,
			define: defineCompletion,
		},
	}
}

// commandNames lists the subcommands, for help's completion. It cannot
// read the table (help is in it), so a test keeps the two equal.
func commandNames() []string {
	return []string{"vet", "init", "import", "schema", "explain", "help", "completion"}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// exitCodes is said in the usage and in docs/cli.md.
const exitCodes = `Exit codes: 0 done or no drift, 1 drift found by --check, 2 invalid
configuration or usage, 3 I/O or internal error.`

// usage is the synopsis of every command, as --help and help print it.
func usage() string {
	var b strings.Builder
	b.WriteString("immich-render renders a self-hosted Immich deployment from one typed configuration.\n\nUsage:\n")
	for _, c := range commands() {
		for _, s := range c.synopsis {
			fmt.Fprintf(&b, "  immich-render %s\n", s)
		}
		fmt.Fprintf(&b, "        %s\n", c.summary)
	}
	b.WriteString("  immich-render --version | --help\n        -h and --help work on every command\n")
	b.WriteString("\nRun 'immich-render help COMMAND' for a command's flags.\n\n")
	b.WriteString(exitCodes)
	b.WriteString("\n")
	return b.String()
}

// commandHelp is one command's --help: its synopsis, its paragraph and
// its flags.
func commandHelp(c command, fs *pflag.FlagSet) string {
	var b strings.Builder
	if c.name == "" {
		b.WriteString(usage())
	} else {
		b.WriteString("Usage:\n")
		for _, s := range c.synopsis {
			fmt.Fprintf(&b, "  immich-render %s\n", s)
		}
		fmt.Fprintf(&b, "\n%s.\n", upperFirst(c.summary))
	}
	if c.doc != "" {
		fmt.Fprintf(&b, "\n%s\n", c.doc)
	}
	if flags := fs.FlagUsages(); flags != "" {
		b.WriteString("\nFlags:\n")
		b.WriteString(flags)
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// flagSet returns c's flags, -h/--help among them, and what runs c.
func (c command) flagSet(stderr io.Writer) (*pflag.FlagSet, runFunc) {
	name := "immich-render"
	if c.name != "" {
		name += " " + c.name
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // Main prints the help, on stdout
	fs.SortFlags = false
	run := c.define(fs)
	fs.BoolP("help", "h", false, "show this help")
	return fs, run
}

// execute parses args for c and runs it: --help prints c's help and exits
// 0, a flag mistake or a wrong number of arguments is a usage error.
func (c command) execute(args []string, stdout, stderr io.Writer) (int, error) {
	fs, run := c.flagSet(stderr)
	if err := fs.Parse(args); err != nil {
		return 0, usageError{Msg: err.Error()}
	}
	if help, _ := fs.GetBool("help"); help {
		_, err := io.WriteString(stdout, commandHelp(c, fs))
		return exitOK, err
	}
	pos := fs.Args()
	switch {
	case len(pos) > c.maxArgs:
		extra := pos[c.maxArgs]
		if c.name == "" {
			return 0, usageError{Msg: fmt.Sprintf("unexpected argument %q (the commands are %s)", extra, strings.Join(commandNames(), ", "))}
		}
		return 0, usageError{Msg: fmt.Sprintf("unexpected argument %q; usage: immich-render %s", extra, c.synopsis[0])}
	case len(pos) < c.minArgs:
		return 0, usageError{Msg: fmt.Sprintf("%s needs an argument; usage: immich-render %s", c.name, c.synopsis[0])}
	}
	return run(pos, stdout, stderr)
}

// defineHelp is 'immich-render help [COMMAND]'.
func defineHelp(*pflag.FlagSet) runFunc {
	return func(args []string, stdout, stderr io.Writer) (int, error) {
		name := ""
		if len(args) == 1 && args[0] != "render" {
			name = args[0]
		}
		c, ok := lookup(name)
		if !ok {
			return 0, usageError{Msg: fmt.Sprintf("help %s: no such command; the commands are %s", name, strings.Join(commandNames(), ", "))}
		}
		if len(args) == 0 {
			_, err := io.WriteString(stdout, usage())
			return exitOK, err
		}
		fs, _ := c.flagSet(stderr)
		_, err := io.WriteString(stdout, commandHelp(c, fs))
		return exitOK, err
	}
}
