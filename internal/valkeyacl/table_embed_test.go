package valkeyacl

import (
	_ "embed"
	"slices"
	"testing"
)

//go:embed commands.json
var commandsJSON []byte

// TestEmbeddedTableMatchesJSON: the generated commands_table.go is
// commands.json, command for command (go generate writes both).
func TestEmbeddedTableMatchesJSON(t *testing.T) {
	want, err := ParseTable(commandsJSON)
	if err != nil {
		t.Fatal(err)
	}
	got := Commands()
	if got.Source != want.Source || !slices.Equal(got.Categories, want.Categories) || !slices.Equal(got.names, want.names) {
		t.Fatalf("commands_table.go differs from commands.json (source, categories or names): run go generate in internal/valkeyacl")
	}
	for _, name := range want.names {
		g, w := got.byName[name], want.byName[name]
		if g.Arity != w.Arity || !slices.Equal(g.Flags, w.Flags) || !slices.Equal(g.Categories, w.Categories) ||
			g.parent != w.parent || !slices.Equal(g.subs, w.subs) {
			t.Errorf("%s: commands_table.go has %+v, commands.json %+v: run go generate in internal/valkeyacl", name, *g, *w)
		}
	}
	if len(want.names) < 200 {
		t.Fatalf("only %d commands in commands.json", len(want.names))
	}
}
