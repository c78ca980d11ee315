package render

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// nginxTok is one token of an nginx configuration file, ready to print.
// Renderers write directive arguments as nginxToks: a Go string constant
// converts implicitly (our own syntax, such as "$host"), but a string
// variable does not, so a value from the configuration only becomes a
// token through nginxToken, and cannot reach the file unquoted by mistake.
type nginxTok string

// nginxToken returns s as one nginx token that nginx reads back as exactly
// s: bare when s has only characters nginx's tokenizer treats as plain,
// otherwise in double quotes with '"' and '\' escaped, which also makes
// ';', '{', '}', '#', quotes and white space literal.
//
// Some things cannot be said in an nginx file at all, and the schema must
// have refused them already, so finding one is a renderer bug and panics:
//   - '$': nginx expands variables in every directive that takes them
//     (root, return, ssl_certificate, add_header, ...), inside quotes too,
//     and has no escape for a literal dollar;
//   - control characters, line breaks included, and invalid UTF-8;
//   - the empty string, which no directive of ours takes.
//
// The token's meaning inside a directive (a leading '~' is a regular
// expression to server_name, for instance) is the schema's business: this
// function guarantees only that a value stays one token.
func nginxToken(s string) nginxTok {
	if s == "" {
		panic("nginxToken: empty value")
	}
	if !utf8.ValidString(s) {
		panic(fmt.Sprintf("nginxToken: invalid UTF-8 in %q", s))
	}
	if strings.ContainsRune(s, '$') {
		panic(fmt.Sprintf("nginxToken: '$' in %q would be expanded as a variable", s))
	}
	if strings.IndexFunc(s, nginxControl) >= 0 {
		panic(fmt.Sprintf("nginxToken: control character in %q", s))
	}
	if strings.IndexFunc(s, func(r rune) bool { return !nginxPlain(r) }) < 0 {
		return nginxTok(s)
	}
	return nginxTok(`"` + cQuoteEscapes.Replace(s) + `"`)
}

// nginxPlain reports whether r may appear in a bare token. Everything else
// (white space, quotes, ';', '{', '}', '#', '\', non-ASCII) is quoted.
func nginxPlain(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._/:@+=,~%-[]", r)
}

// nginxComment returns text as a comment line's text. A comment runs to
// the end of the line, so only a line break could end it early; text with
// a control character is a renderer bug and panics.
func nginxComment(text string) string {
	if !utf8.ValidString(text) || strings.IndexFunc(text, nginxControl) >= 0 {
		panic(fmt.Sprintf("nginxComment: control character in %q", text))
	}
	return "# " + text
}

// nginxControl reports whether r is a control character or a line or
// paragraph separator: nothing a configuration value needs, and a line
// break would end a comment or split a directive across lines.
func nginxControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
}
