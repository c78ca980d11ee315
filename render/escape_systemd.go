package render

import (
	"fmt"
	"strings"
)

// systemdValue escapes a plain setting value (Description=, WorkingDirectory=):
// systemd expands %-specifiers there, so % is doubled; $ is literal outside
// Exec lines and stays as it is. What systemd cannot keep (line breaks,
// white space at either end, which it strips, a trailing backslash, which
// joins the next line) is a renderer bug: the schema refuses it.
func systemdValue(s string) string {
	if strings.ContainsAny(s, "\n\r\x00") || strings.Trim(s, " \t") != s || strings.HasSuffix(s, `\`) {
		panic(fmt.Sprintf("systemdValue: %q cannot be written as a unit value", s))
	}
	return strings.ReplaceAll(s, "%", "%%")
}

// systemdArg quotes one argument of an Exec line: systemd expands % and $
// there, so both are doubled, splits on white space and understands
// C-style escapes inside double quotes, so an argument is quoted when it
// has anything beyond a safe set.
func systemdArg(s string) string {
	if strings.ContainsAny(s, "\n\r\x00") {
		panic(fmt.Sprintf("systemdArg: control character in %q", s))
	}
	v := systemdExpansions.Replace(s)
	if v != "" && strings.IndexFunc(v, systemdUnsafe) < 0 {
		return v
	}
	return `"` + cQuoteEscapes.Replace(v) + `"`
}

// systemdExpansions doubles the characters systemd expands in Exec lines.
// The replacers are built once, on first use, and safe for concurrent use:
// building one costs more than a unit's worth of replacing.
var systemdExpansions = strings.NewReplacer("%", "%%", "$", "$$")

// cQuoteEscapes escapes what ends or escapes a C-style double-quoted string.
var cQuoteEscapes = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// systemdUnsafe reports whether r is outside what systemd keeps unquoted.
func systemdUnsafe(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-=:,+@%$", r))
}

// systemdEnvAssignment writes one assignment of Environment=: systemd splits that
// value on white space, honours double quotes and C-style escapes inside
// them and expands %-specifiers, but not $. The assignment is quoted when
// the value has anything beyond a safe set.
func systemdEnvAssignment(name, value string) string {
	s := name + "=" + value
	if strings.ContainsAny(s, "\n\r\x00") {
		panic(fmt.Sprintf("systemdEnv: control character in %q", s))
	}
	s = strings.ReplaceAll(s, "%", "%%")
	if s != "" && strings.IndexFunc(s, systemdUnsafe) < 0 {
		return s
	}
	return `"` + cQuoteEscapes.Replace(s) + `"`
}
