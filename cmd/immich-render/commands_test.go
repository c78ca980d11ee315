package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// commandNames, which help's completion and the messages use, lists the
// table's commands.
func TestCommandNames(t *testing.T) {
	var names []string
	for _, c := range commands() {
		if c.name != "" {
			names = append(names, c.name)
		}
	}
	if !slices.Equal(names, commandNames()) {
		t.Errorf("commandNames() = %v, the table has %v", commandNames(), names)
	}
}

// The command-line blocks of README.md and docs/cli.md are the usage
// --help prints.
func TestReadmeUsage(t *testing.T) {
	_, want, _ := strings.Cut(usage(), "Usage:\n")
	want, _, _ = strings.Cut(want, "\n\n")
	want = strings.ReplaceAll("\n"+want+"\n", "\n  ", "\n")[1:]
	for name, heading := range map[string]string{"../../README.md": "## The command line", "../../docs/cli.md": "# The command line"} {
		doc, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		_, block, ok := strings.Cut(string(doc), heading+"\n\n```\n")
		block, _, _ = strings.Cut(block, "```")
		if !ok || block != want {
			t.Errorf("%s's command line block:\n%s\nwant (immich-render --help):\n%s", name, block, want)
		}
	}
}
