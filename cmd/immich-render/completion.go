package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// defineCompletion prints a completion script for bash, zsh or fish,
// generated from the subcommand table and each command's flags.
func defineCompletion(*pflag.FlagSet) runFunc {
	return func(args []string, stdout, stderr io.Writer) (int, error) {
		var script string
		switch args[0] {
		case "bash":
			script = bashCompletion(stderr)
		case "zsh":
			// zsh runs the bash function through its bashcompinit layer.
			script = "autoload -U +X bashcompinit && bashcompinit\n" + bashCompletion(stderr)
		case "fish":
			script = fishCompletion(stderr)
		default:
			return 0, usageError{Msg: fmt.Sprintf("completion %s: want bash, zsh or fish", args[0])}
		}
		_, err := io.WriteString(stdout, script)
		return exitOK, err
	}
}

// completionWords is what a shell may offer after each command: its
// flags and its positional words.
type completionWords struct {
	name  string
	flags []string // "--config", "-c", ...
	args  []string
}

func completions(stderr io.Writer) []completionWords {
	var out []completionWords
	for _, c := range commands() {
		fs, _ := c.flagSet(stderr)
		w := completionWords{name: c.name, args: c.args}
		fs.VisitAll(func(f *pflag.Flag) {
			w.flags = append(w.flags, "--"+f.Name)
			if f.Shorthand != "" {
				w.flags = append(w.flags, "-"+f.Shorthand)
			}
		})
		if c.name == "" {
			w.args = commandNames()
		}
		out = append(out, w)
	}
	return out
}

func bashCompletion(stderr io.Writer) string {
	var b strings.Builder
	b.WriteString(`# bash completion for immich-render; source <(immich-render completion bash)
_immich_render() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd="" words
	if ((COMP_CWORD > 1)); then
		cmd=${COMP_WORDS[1]}
	fi
	case $cmd in
`)
	var root completionWords
	for _, w := range completions(stderr) {
		if w.name == "" {
			root = w
			continue
		}
		fmt.Fprintf(&b, "\t%s) words=%q ;;\n", w.name, strings.Join(append(w.args, w.flags...), " "))
	}
	fmt.Fprintf(&b, "\t*) words=%q ;;\n", strings.Join(append(root.args, root.flags...), " "))
	b.WriteString(`	esac
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _immich_render immich-render
`)
	return b.String()
}

func fishCompletion(stderr io.Writer) string {
	var b strings.Builder
	b.WriteString("# fish completion for immich-render; immich-render completion fish | source\n")
	for _, w := range completions(stderr) {
		cond := "__fish_use_subcommand"
		if w.name != "" {
			cond = "__fish_seen_subcommand_from " + w.name
		}
		if len(w.args) > 0 {
			fmt.Fprintf(&b, "complete -c immich-render -n '%s' -a '%s'\n", cond, strings.Join(w.args, " "))
		}
		for _, f := range w.flags {
			if name, ok := strings.CutPrefix(f, "--"); ok {
				fmt.Fprintf(&b, "complete -c immich-render -n '%s' -l %s\n", cond, name)
			} else {
				fmt.Fprintf(&b, "complete -c immich-render -n '%s' -s %s\n", cond, f[1:])
			}
		}
	}
	return b.String()
}
