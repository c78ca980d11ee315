package render

import (
	"fmt"
	"strings"
)

// systemdValue escapes a string for a unit file setting's value: systemd
// expands %-specifiers everywhere and $VARIABLES in Exec lines, so both are
// doubled. Newlines cannot be represented and are a renderer bug: the
// schema refuses them in every field that reaches a unit.
func systemdValue(s string) string {
	if strings.ContainsAny(s, "\n\r\x00") {
		panic(fmt.Sprintf("systemdValue: control character in %q", s))
	}
	return strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
}

// systemdArg quotes one argument of an Exec line: systemd splits on white
// space and understands C-style escapes inside double quotes, so an
// argument is quoted when it has anything beyond a safe set.
func systemdArg(s string) string {
	v := systemdValue(s)
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-=:,+@%$", r))
	}) < 0 {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}
