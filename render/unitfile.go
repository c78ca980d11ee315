package render

import (
	"fmt"
	"slices"
	"strings"
)

// unitFile is a systemd unit, or a Podman Quadlet file (the same syntax,
// with a [Container] or [Network] group that Quadlet reads), built group
// by group in the style of Quadlet's own unitFile.Add(group, key, value).
// Every value goes through the systemd escaper of its kind, so a caller
// cannot write an unescaped value, and the text starts with the header
// every rendered file carries. Groups and keys keep the order they were
// first added in: the output is the same for the same calls.
type unitFile struct {
	groups []*unitGroup
	// supported, when set, lists the keys each of its groups may hold
	// (Quadlet's [Container] and [Network]); adding another key to such a
	// group is a renderer bug. Groups it does not list ([Unit], [Service],
	// [Install]) pass through to systemd, which checks them.
	supported map[string][]string
}

type unitGroup struct {
	name  string
	lines []string // "Key=value" and "# comment", escaped
}

func newUnitFile() *unitFile { return &unitFile{} }

func (u *unitFile) group(name string) *unitGroup {
	for _, g := range u.groups {
		if g.name == name {
			return g
		}
	}
	g := &unitGroup{name: name}
	u.groups = append(u.groups, g)
	return g
}

// Comment adds a comment line to group, before the keys added next: it
// says why the next key is there.
func (u *unitFile) Comment(group, text string) {
	if strings.ContainsAny(text, "\n\r") {
		panic(fmt.Sprintf("unitFile.Comment: line break in %q", text))
	}
	g := u.group(group)
	g.lines = append(g.lines, "# "+text)
}

// add appends key=value, value already escaped.
func (u *unitFile) add(group, key, value string) {
	if keys, ok := u.supported[group]; ok && !slices.Contains(keys, key) {
		panic(fmt.Sprintf("unitFile: unsupported key %q in group %q", key, group))
	}
	g := u.group(group)
	g.lines = append(g.lines, key+"="+value)
}

// Add appends key=value to group: a plain setting value (Description=,
// WorkingDirectory=, Image=), with its %-specifiers escaped. A key
// added twice appears twice, as Environment= and Volume= do. Quadlet
// copies the values of its own groups ([Container], [Network]) into the
// ExecStart= line of the unit it generates, as they are: there $ is
// escaped too.
func (u *unitFile) Add(group, key, value string) {
	v := systemdValue(value)
	if _, ok := u.supported[group]; ok {
		v = strings.ReplaceAll(v, "$", "$$")
	}
	u.add(group, key, v)
}

// AddArgs appends key= words that are split like an Exec line, each
// quoted and with % and $ escaped: Quadlet's PodmanArgs= and its
// Environment= (NAME=value words), which it unquotes and copies into the
// generated ExecStart=.
func (u *unitFile) AddArgs(group, key string, words ...string) {
	u.add(group, key, execLine(words))
}

// AddList appends key= a space-separated list of words, such as the unit
// names of After= and Wants=.
func (u *unitFile) AddList(group, key string, words ...string) {
	esc := make([]string, len(words))
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t") {
			panic(fmt.Sprintf("unitFile.AddList: %q is not one word", w))
		}
		esc[i] = systemdValue(w)
	}
	u.add(group, key, strings.Join(esc, " "))
}

// AddExec appends a command line (ExecStart=, ExecStartPre=): each
// argument quoted and with % and $ escaped. prefix is one of systemd's
// special executable prefixes, such as "+" (run with full privileges),
// or "".
func (u *unitFile) AddExec(group, key, prefix string, argv ...string) {
	if strings.Trim(prefix, "@-:+!") != "" {
		panic(fmt.Sprintf("unitFile.AddExec: %q is not an executable prefix", prefix))
	}
	u.add(group, key, prefix+execLine(argv))
}

// AddEnv appends one environment assignment (Environment=NAME=value),
// quoted when the value has anything beyond a safe set, so that white
// space and quotes reach the process as they are.
func (u *unitFile) AddEnv(group, name, value string) {
	u.add(group, "Environment", systemdEnvAssignment(name, value))
}

// Bytes is the file: the header, then each group.
func (u *unitFile) Bytes() []byte {
	var b strings.Builder
	b.WriteString(header("#"))
	for _, g := range u.groups {
		fmt.Fprintf(&b, "[%s]\n", g.name)
		for _, l := range g.lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		if g != u.groups[len(u.groups)-1] {
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// execLine writes argv as the words of an Exec line.
func execLine(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = systemdArg(a)
	}
	return strings.Join(words, " ")
}
