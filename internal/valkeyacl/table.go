// Package valkeyacl knows what a Valkey/Redis ACL rule string really grants.
//
// ACL rules apply left to right, and a command belongs to several
// categories at once, so a string that reads safely can grant what it
// seems to refuse: in "-@dangerous +@write", +@write re-grants FLUSHDB,
// FLUSHALL and SWAPDB, which are @write as well as @dangerous. This
// package parses rules as the server does (Redis 7.0, the syntax Valkey
// 7.2 and 8.x share), evaluates them over the server's own command table
// and says, per command, which rule granted it and which earlier rule it
// undid. Tests check the evaluator against a real server with ACL DRYRUN.
//
// The command table (commands.json) comes from a real server's COMMAND
// INFO, cross-checked with ACL CAT <category>. To regenerate it, run
// `go generate` in this folder with valkey-server 8 on PATH (Debian 12:
// bookworm-backports; see internal/gencommands for other servers).
package valkeyacl

//go:generate go run ./internal/gencommands -server valkey-server -o commands.json
//go:generate go run ./internal/gentable -i commands.json -o commands_table.go

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Command is one command or subcommand of the server.
type Command struct {
	Name       string   `json:"name"`       // lowercase; "config|get" for a subcommand
	Arity      int      `json:"arity"`      // COMMAND INFO arity, counting the name
	Flags      []string `json:"flags"`      // such as "no_auth", "readonly"
	Categories []string `json:"categories"` // without "@", such as "write", "dangerous"

	parent string   // "config" for "config|get"
	subs   []string // subcommand names of a container command, sorted
}

// Parent is the container of a subcommand ("config" for "config|get"), or "".
func (c *Command) Parent() string { return c.parent }

// Subcommands lists a container command's subcommands, sorted.
func (c *Command) Subcommands() []string { return slices.Clone(c.subs) }

// Leaf reports whether the command is what a client runs: a command
// without subcommands, or a subcommand. ACL checks apply to leaves.
func (c *Command) Leaf() bool { return len(c.subs) == 0 }

// In reports whether the command belongs to a category.
func (c *Command) In(category string) bool { return slices.Contains(c.Categories, category) }

// Dangerous reports whether the command is in @dangerous.
func (c *Command) Dangerous() bool { return c.In("dangerous") }

// NoAuth reports whether the server runs the command for anyone, whatever
// the ACL (AUTH, HELLO).
func (c *Command) NoAuth() bool { return slices.Contains(c.Flags, "no_auth") }

// Display is the command as messages show it: FLUSHDB, CONFIG|SET.
func (c *Command) Display() string { return strings.ToUpper(c.Name) }

// Table is a server's command table. It is read-only once built.
type Table struct {
	Source     string   // which server it was taken from
	Categories []string // every category, as ACL CAT lists them (without "all")

	byName map[string]*Command
	names  []string // every command and subcommand, sorted
}

// Commands returns the embedded table of Redis 7.0 commands.
func Commands() *Table { return embedded() }

// embedded is commands.json as laid out by the linker (commands_table.go,
// generated from it), which saves decoding the JSON in every process.
var embedded = sync.OnceValue(func() *Table {
	cmds := make([]*Command, len(embeddedCommands))
	for i := range embeddedCommands {
		cmds[i] = &embeddedCommands[i]
	}
	t, err := newTable(embeddedSource, embeddedCategories, cmds)
	if err != nil {
		panic("valkeyacl: embedded commands.json: " + err.Error())
	}
	return t
})

// ParseTable reads a table in the format of commands.json.
func ParseTable(data []byte) (*Table, error) {
	var raw struct {
		Source     string     `json:"source"`
		Categories []string   `json:"categories"`
		Commands   []*Command `json:"commands"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	return newTable(raw.Source, raw.Categories, raw.Commands)
}

// newTable checks and indexes a table's commands.
func newTable(source string, categories []string, commands []*Command) (*Table, error) {
	t := &Table{Source: source, Categories: categories, byName: map[string]*Command{}}
	for _, c := range commands {
		if c.Name == "" || c.Name != strings.ToLower(c.Name) {
			return nil, fmt.Errorf("bad command name %q", c.Name)
		}
		if _, dup := t.byName[c.Name]; dup {
			return nil, fmt.Errorf("command %q listed twice", c.Name)
		}
		t.byName[c.Name] = c
		t.names = append(t.names, c.Name)
	}
	for _, c := range commands {
		if parent, _, ok := strings.Cut(c.Name, "|"); ok {
			p := t.byName[parent]
			if p == nil {
				return nil, fmt.Errorf("subcommand %q without its command", c.Name)
			}
			c.parent = parent
			p.subs = append(p.subs, c.Name)
		}
		for _, cat := range c.Categories {
			if !slices.Contains(t.Categories, cat) {
				return nil, fmt.Errorf("command %q has unknown category %q", c.Name, cat)
			}
		}
	}
	slices.Sort(t.names)
	for _, c := range t.byName {
		slices.Sort(c.subs)
	}
	return t, nil
}

// Server names the server the table was taken from, such as "redis 7.0.15".
func (t *Table) Server() string {
	s, _, _ := strings.Cut(t.Source, " (")
	return s
}

// Lookup finds a command or subcommand ("config|get") by name, in any case.
func (t *Table) Lookup(name string) *Command { return t.byName[strings.ToLower(name)] }

// Names lists every command and subcommand, sorted.
func (t *Table) Names() []string { return slices.Clone(t.names) }

// Leaves lists the commands clients run (see Command.Leaf), sorted.
func (t *Table) Leaves() []string {
	var out []string
	for _, n := range t.names {
		if t.byName[n].Leaf() {
			out = append(out, n)
		}
	}
	return out
}

// HasCategory reports whether name (without "@", any case) is a category,
// counting "all".
func (t *Table) HasCategory(name string) bool {
	name = strings.ToLower(name)
	return name == "all" || slices.Contains(t.Categories, name)
}
