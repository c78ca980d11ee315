package render

// Fuzz targets for the escaping helpers that have no fuzz target of their
// own elsewhere (SQL: postgres_test.go; nginx: nginx_test.go; ACL:
// valkey_test.go), and a property test of whole renders built from fuzzed
// free text. Each helper either gives back exactly its input once its
// consumer has read the output, or panics for an input its doc comment
// says it cannot carry. The consumers are modelled in Go here (the
// fuzzer runs them millions of times); the seeds also go through the real
// programs where they are installed (PyYAML, sh).
//
// Run one with: go test -run '^$' -fuzz '^FuzzYAMLScalar$' -fuzztime 60s ./render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/template"
	"go.yaml.in/yaml/v3"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/schema"
)

// escapeSamples are hostile strings every target starts from.
var escapeSamples = []string{
	"", " ", "plain", "/opt/podman/immich", "v3.1.0", "immich.service",
	"yes", "No", "ON", "off", "y", "n", "~", "null", "Null", "true", "FALSE", ".inf", "-.Inf", ".NaN", "<<", "=",
	"0", "0600", "0o17", "0x1F", "0b101", "1_000", "1e3", "12:30:45", "190:20:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
	"-", "- x", "? x", ": x", "a: b", "a #b", "#x", "&anchor", "*alias", "!tag", "%YAML", "@x", "`x", "|", ">", "[x]", "{x}", ",",
	`quote"s`, `'single'`, `back\slash`, `\`, `a\`, `\\`, `\"`, `"`,
	"$HOME", "${X}", "$$", "$", "a$", "%", "%%", "%n", "a%", "100%",
	"; rm -rf /", "a;b", "a&&b", "a|b", "$(id)", "`id`", "a b", " lead", "trail ", "\ttab", "a\tb",
	"new\nline", "cr\rlf", "\r\n", "nul\x00", "\x07bell", "\x1b[31m", "\x7f", "\u0085", "\u00a0", "\u2028", "\u2029", "\ufeff", "\ufffd",
	"ü", "日本", "фото", "😀", "\xff", "\xc3\x28", "a\xedb",
	strings.Repeat("long ", 40), strings.Repeat("x", 200),
}

// ---------------------------------------------------------------------------
// YAML: yStr and yEncode.

// yaml11 matches the plain scalars YAML 1.1 (PyYAML, podman-compose,
// cloud-init) resolves to something other than a string, from the type
// repository at yaml.org/type: bool, null, int, float, merge, value and
// timestamp.
var yaml11 = regexp.MustCompile(`^(?:` +
	`y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF` +
	`|~|null|Null|NULL|` +
	`|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+` +
	`|[-+]?(?:[0-9][0-9_]*)?\.[0-9.]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)` +
	`|<<|=` +
	`|[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]` +
	`|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*Z|[-+][0-9][0-9]?(?::[0-9][0-9])?)?` +
	`)$`)

// yamlCarrier renders s in every place a renderer puts a string: a map
// value, a map key and a sequence item, in two documents.
func yamlCarrier(s string) []byte {
	doc := yMap("value", s, "seq", []string{s, "after"})
	return append(yEncode("# header\n", doc), yEncode("---\n", yMap(s, "v"))...)
}

// yamlScalars decodes the documents of yamlCarrier with yaml.v3 and
// returns the three scalar nodes that carry the string.
func yamlScalars(t *testing.T, out []byte) []*yaml.Node {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(out))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("yaml.v3 cannot read the output: %v\n%s", err, out)
		}
		docs = append(docs, &n)
	}
	if len(docs) != 2 {
		t.Fatalf("want 2 documents, got %d:\n%s", len(docs), out)
	}
	m1, m2 := docs[0].Content[0], docs[1].Content[0]
	if m1.Kind != yaml.MappingNode || len(m1.Content) != 4 || m2.Kind != yaml.MappingNode || len(m2.Content) != 2 {
		t.Fatalf("unexpected document shape:\n%s", out)
	}
	seq := m1.Content[3]
	if seq.Kind != yaml.SequenceNode || len(seq.Content) != 2 || seq.Content[1].Value != "after" {
		t.Fatalf("the sequence item swallowed its neighbour:\n%s", out)
	}
	return []*yaml.Node{m1.Content[1], seq.Content[0], m2.Content[0]}
}

// checkYAMLScalar is the YAML property: the output is clean text, yaml.v3
// reads s back as the string s everywhere, and a scalar left plain is a
// string for YAML 1.1 readers too.
func checkYAMLScalar(t *testing.T, s string) {
	if !utf8.ValidString(s) {
		// Config strings come from CUE, JSON, YAML or Jsonnet, all of
		// which hold only valid UTF-8; yaml.v3 writes such bytes out
		// unchanged, so there is nothing to read back.
		return
	}
	out := yamlCarrier(s)
	if !utf8.Valid(out) || bytes.ContainsAny(out, "\r\x00") || !bytes.HasSuffix(out, []byte("\n")) {
		t.Fatalf("yStr(%q): output is not clean UTF-8 text with LF endings:\n%q", s, out)
	}
	for _, n := range yamlScalars(t, out) {
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" || n.Value != s {
			t.Fatalf("yStr(%q) reads back as %s %q:\n%s", s, n.ShortTag(), n.Value, out)
		}
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 && yaml11.MatchString(s) {
			t.Fatalf("yStr(%q) is written plain, and YAML 1.1 reads it as another type:\n%s", s, out)
		}
	}
}

// plainSafeRE is the pattern plainSafe implements by hand.
var plainSafeRE = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./@+-]*$`)

// FuzzPlainSafe holds plainSafe to the regular expression it replaced.
func FuzzPlainSafe(f *testing.F) {
	for _, s := range escapeSamples {
		f.Add(s)
	}
	f.Add("a0./@+-_Z")
	f.Add("0a")
	f.Add("-a")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := plainSafe(s), plainSafeRE.MatchString(s); got != want {
			t.Fatalf("plainSafe(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}

func FuzzYAMLScalar(f *testing.F) {
	for _, s := range escapeSamples {
		f.Add(s)
	}
	f.Fuzz(checkYAMLScalar)
}

// TestYAMLScalarPyYAML has PyYAML (YAML 1.1; podman-compose and
// cloud-init read the files with it) read every sample back.
func TestYAMLScalarPyYAML(t *testing.T) {
	py := testenv.Binary(t, "python3")
	if err := exec.Command(py, "-c", "import yaml").Run(); err != nil {
		testenv.Skip(t, "python3 has no yaml module (Debian package python3-yaml)")
	}
	var samples []string
	for _, s := range escapeSamples {
		if utf8.ValidString(s) {
			samples = append(samples, s)
		}
	}
	doc := yMap("items", samples)
	for i, s := range samples {
		yAdd(doc, fmt.Sprintf("k%d", i), yMap(s, i))
	}
	src := yEncode("", doc)
	cmd := exec.Command(py, "-c", `import json, sys, yaml
d = yaml.safe_load(sys.stdin.buffer)
keys = [list(d["k%d" % i].keys())[0] for i in range(len(d["items"]))]
json.dump({"items": d["items"], "keys": keys}, sys.stdout)`)
	cmd.Stdin = bytes.NewReader(src)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("PyYAML cannot read the output: %v\n%s", err, src)
	}
	var got struct{ Items, Keys []any }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for i, s := range samples {
		if got.Items[i] != s {
			t.Errorf("PyYAML reads item %q back as %#v", s, got.Items[i])
		}
		if got.Keys[i] != s {
			t.Errorf("PyYAML reads key %q back as %#v", s, got.Keys[i])
		}
	}
}

// ---------------------------------------------------------------------------
// Compose: composeValue.

// checkComposeValue: after YAML and compose's interpolation, which reads
// $$ as $ and substitutes $VAR and ${VAR}, the value is the original and
// no variable was looked up.
func checkComposeValue(t *testing.T, s string) {
	if !utf8.ValidString(s) {
		return // see checkYAMLScalar
	}
	out := yEncode("", yMap("environment", yMap("V", composeValue(s))))
	var m struct{ Environment map[string]string }
	if err := yaml.Unmarshal(out, &m); err != nil {
		t.Fatalf("composeValue(%q): %v\n%s", s, err, out)
	}
	got, err := template.Substitute(m.Environment["V"], func(name string) (string, bool) {
		t.Fatalf("composeValue(%q) = %q: compose substitutes the variable %q", s, composeValue(s), name)
		return "", false
	})
	if err != nil || got != s {
		t.Fatalf("composeValue(%q) = %q: compose reads %q (%v)", s, composeValue(s), got, err)
	}
}

func FuzzComposeValue(f *testing.F) {
	for _, s := range escapeSamples {
		f.Add(s)
	}
	f.Fuzz(checkComposeValue)
}

// ---------------------------------------------------------------------------
// systemd: systemdValue and systemdArg.

// systemdWhitespace is what systemd's parser strips and splits on.
const systemdWhitespace = " \t\n\r"

// systemdLine models what systemd makes of one "Key=value" line: the
// value with the white space around it stripped, refusing a line that a
// trailing backslash would join with the next.
func systemdLine(v string) (string, error) {
	v = strings.Trim(v, systemdWhitespace)
	n := 0
	for i := len(v) - 1; i >= 0 && v[i] == '\\'; i-- {
		n++
	}
	if n%2 == 1 {
		return "", fmt.Errorf("the line ends in a backslash and continues on the next line")
	}
	return v, nil
}

// systemdSpecifiers expands %-specifiers: %% is %, anything else after %
// is a specifier this model refuses (the helpers never write one).
func systemdSpecifiers(v string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 < len(v) && v[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		return "", fmt.Errorf("specifier %q", v[i:min(i+2, len(v))])
	}
	return b.String(), nil
}

// systemdEnv expands environment variables in an Exec argument: $$ is $;
// $NAME and ${NAME} are substitutions this model refuses.
func systemdEnv(v string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 < len(v) && v[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		return "", fmt.Errorf("variable substitution at %q", v[i:])
	}
	return b.String(), nil
}

// systemdExecArgs models config_parse_exec: words split on white space,
// double and single quotes, C escapes (only \\ and \" are modelled:
// systemdArg writes no other), then specifiers, then (at run time)
// environment variables, word by word.
func systemdExecArgs(line string) ([]string, error) {
	line, err := systemdLine(line)
	if err != nil {
		return nil, err
	}
	var words []string
	for i := 0; i < len(line); {
		if strings.IndexByte(systemdWhitespace, line[i]) >= 0 {
			i++
			continue
		}
		var w strings.Builder
		var quote byte
	word:
		for ; i < len(line); i++ {
			c := line[i]
			switch {
			case c == '\\':
				if i+1 >= len(line) || (line[i+1] != '\\' && line[i+1] != '"' && line[i+1] != '\'') {
					return nil, fmt.Errorf("escape %q not modelled", line[i:min(i+2, len(line))])
				}
				w.WriteByte(line[i+1])
				i++
			case quote != 0 && c == quote:
				quote = 0
			case quote != 0:
				w.WriteByte(c)
			case c == '"' || c == '\'':
				quote = c
			case strings.IndexByte(systemdWhitespace, c) >= 0:
				break word
			case c == ';' && w.Len() == 0 && (i+1 == len(line) || line[i+1] == ' '):
				return nil, fmt.Errorf("a lone ';' separates commands")
			default:
				w.WriteByte(c)
			}
		}
		if quote != 0 {
			return nil, fmt.Errorf("unbalanced quote")
		}
		v, err := systemdSpecifiers(w.String())
		if err != nil {
			return nil, err
		}
		if v, err = systemdEnv(v); err != nil {
			return nil, err
		}
		words = append(words, v)
	}
	return words, nil
}

// systemdRefused reports whether the systemd helpers document a panic for s.
func systemdRefused(s string) bool { return strings.ContainsAny(s, "\n\r\x00") }

// recoverPanic runs f and returns what it panicked with, or nil.
func recoverPanic(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// checkSystemdArg: two arguments written by systemdArg read back as
// exactly those two words of an Exec line.
func checkSystemdArg(t *testing.T, a, b string) {
	if systemdRefused(a) || systemdRefused(b) {
		for _, s := range []string{a, b} {
			if systemdRefused(s) && recoverPanic(func() { systemdArg(s) }) == nil {
				t.Fatalf("systemdArg(%q) = %q, want a panic", s, systemdArg(s))
			}
		}
		return
	}
	line := systemdArg(a) + " " + systemdArg(b)
	got, err := systemdExecArgs(line)
	if err != nil || len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("ExecStart=%s reads back as %q (%v), want [%q %q]", line, got, err, a, b)
	}
}

func FuzzSystemdArg(f *testing.F) {
	for _, s := range escapeSamples {
		f.Add(s, "x")
	}
	f.Fuzz(checkSystemdArg)
}

// checkSystemdValue: a value written by systemdValue after "Key=" reads
// back as exactly s in a setting that is not an Exec line (Description=,
// WorkingDirectory=, After=: where the renderers use it), in which
// systemd expands %-specifiers but no $VARIABLES.
func checkSystemdValue(t *testing.T, s string) {
	if systemdRefused(s) || strings.Trim(s, " \t") != s || strings.HasSuffix(s, `\`) {
		if recoverPanic(func() { systemdValue(s) }) == nil {
			t.Fatalf("systemdValue(%q) = %q, want a panic", s, systemdValue(s))
		}
		return
	}
	var v string
	if p := recoverPanic(func() { v = systemdValue(s) }); p != nil {
		t.Fatalf("systemdValue(%q) panicked, and its doc comment promises no panic for it: %v", s, p)
	}
	got, err := systemdLine(v)
	if err == nil {
		got, err = systemdSpecifiers(got)
	}
	if err != nil || got != s {
		t.Fatalf("Key=%s reads back as %q (%v), want %q", v, got, err, s)
	}
}

func FuzzSystemdValue(f *testing.F) {
	for _, s := range escapeSamples {
		f.Add(s)
	}
	f.Fuzz(checkSystemdValue)
}

// systemdEnvironWords models Environment=: words split and unquoted as on
// an Exec line, with specifiers, but a $ is literal there; doubling every
// $ first lets the Exec model read it so.
func systemdEnvironWords(line string) ([]string, error) {
	return systemdExecArgs(strings.ReplaceAll(line, "$", "$$"))
}

// checkSystemdEnv: two assignments written by systemdEnvAssignment read
// back as exactly those two words of Environment=.
func checkSystemdEnv(t *testing.T, v string) {
	if systemdRefused(v) {
		if recoverPanic(func() { systemdEnvAssignment("A", v) }) == nil {
			t.Fatalf("systemdEnvAssignment(A, %q) = %q, want a panic", v, systemdEnvAssignment("A", v))
		}
		return
	}
	line := systemdEnvAssignment("A", v) + " " + systemdEnvAssignment("B", "x")
	got, err := systemdEnvironWords(line)
	if err != nil || len(got) != 2 || got[0] != "A="+v || got[1] != "B=x" {
		t.Fatalf("Environment=%s reads back as %q (%v), want [%q B=x]", line, got, err, "A="+v)
	}
}

func FuzzSystemdEnv(f *testing.F) {
	for _, s := range escapeSamples {
		f.Add(s)
	}
	f.Fuzz(checkSystemdEnv)
}

// ---------------------------------------------------------------------------
// Shell: shellQuote and shellPath (the README's commands).

// shellSafe are the bytes a POSIX shell takes literally in an unquoted word.
func shellSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/._-+@=,", c) >= 0
}

// shellWord models how a POSIX shell reads one word made of unquoted safe
// characters, '...' (no escapes inside) and \' outside quotes; anything
// else, and anything after the word, is an error.
func shellWord(w string) (string, error) {
	if w == "" {
		return "", fmt.Errorf("an empty word is no argument at all")
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c == '\'':
			j := strings.IndexByte(w[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("unterminated quote")
			}
			b.WriteString(w[i+1 : i+1+j])
			i += j + 1
		case c == '\\' && i+1 < len(w) && w[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case shellSafe(c):
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("unquoted %q", c)
		}
	}
	return b.String(), nil
}

// checkShell: shellQuote and shellPath give one word that reads back as s.
// A shell cannot hold a NUL in a word; neither helper says so, and no
// renderer passes one (the schema refuses control characters in paths).
func checkShell(t *testing.T, s string) {
	if strings.ContainsRune(s, 0) {
		return
	}
	for name, q := range map[string]string{"shellQuote": shellQuote(s), "shellPath": shellPath(s)} {
		got, err := shellWord(q)
		if err != nil || got != s {
			t.Fatalf("%s(%q) = %q reads back as %q (%v)", name, s, q, got, err)
		}
	}
}

func FuzzShellQuote(f *testing.F) {
	for _, s := range escapeSamples {
		f.Add(s)
	}
	f.Fuzz(checkShell)
}

// TestShellQuoteSh has a real sh print every sample, quoted both ways.
func TestShellQuoteSh(t *testing.T) {
	sh := testenv.Binary(t, "sh")
	var words, want []string
	for _, s := range escapeSamples {
		if s == "" || strings.ContainsRune(s, 0) {
			continue // see checkShell; "" is checked below
		}
		words = append(words, shellQuote(s), shellPath(s))
		want = append(want, s, s)
	}
	out, err := exec.Command(sh, "-c", `printf '%s\0' `+strings.Join(words, " ")).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(want) {
		t.Fatalf("sh printed %d words, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s reads back in sh as %q, want %q", words[i], got[i], want[i])
		}
	}
	if out, _ := exec.Command(sh, "-c", `printf '[%s]' `+shellQuote("")).Output(); string(out) != "[]" {
		t.Errorf("shellQuote(\"\") in sh gives %q, want one empty argument", out)
	}
}

// ---------------------------------------------------------------------------
// Whole renders from fuzzed free text.

// renderSchema is compiled once: a fuzz execution must stay fast.
var renderSchema *schema.Schema

// freeTextConfig loads testenv.Minimal plus fuzzed free text (an
// environment value and a settings string) and fuzzed passwords from the
// environment, as testenv.Load does but with the schema compiled once. It
// returns the schema's problems for inputs the schema refuses.
func freeTextConfig(text string, pw [4]string) (*schema.Config, error) {
	extra, err := json.Marshal(map[string]any{
		"immich": map[string]any{
			"environment": map[string]string{"FUZZ_TEXT": text},
			"settings":    map[string]any{"server": map[string]any{"loginPageMessage": text}},
			"nginx":       map[string]any{"enabled": true, "hostname": "photos.example.com", "acme": map[string]any{"email": "admin@example.com"}},
		},
		"valkey": map[string]any{"users": []any{map[string]any{
			"username": "paperless", "password": map[string]string{"env": "FUZZ_USER_PASSWORD"},
			"keyPatterns": []string{"paperless*"}, "commands": "+@read +@write -@dangerous",
		}}},
	})
	if err != nil {
		return nil, err
	}
	env := map[string]string{
		"IMMICH_POSTGRES_PASSWORD": pw[0],
		"IMMICH_VALKEY_PASSWORD":   pw[1],
		"VALKEY_ADMIN_PASSWORD":    pw[2],
		"FUZZ_USER_PASSWORD":       pw[3],
	}
	return renderSchema.Load([]schema.Input{
		{Name: "minimal.cue", Data: []byte(testenv.Minimal)},
		{Name: "extra0.json", Data: extra},
	}, schema.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
}

// otherPassword is a valid password of the same length that differs from
// pw in every character.
func otherPassword(pw string) string {
	n := utf8.RuneCountInString(pw)
	if strings.ContainsRune(pw, 'q') {
		return strings.Repeat("z", n)
	}
	return strings.Repeat("q", n)
}

// FuzzRenderFreeText: whatever free text and passwords the schema
// accepts, every rendered file is UTF-8 text with LF line endings and a
// final newline, the free text reaches compose and the settings file
// byte-exact, and no password appears under Out.
func FuzzRenderFreeText(f *testing.F) {
	s, err := schema.Compile()
	if err != nil {
		f.Fatal(err)
	}
	renderSchema = s
	pw := [4]string{"pg-secret-0123456789", "valkey-secret-0123456789", "admin-secret-0123456789", "user-secret-0123456789"}
	for _, text := range escapeSamples {
		f.Add(text, pw[0], pw[1], pw[2], pw[3])
	}
	for _, p := range []string{`quote"s 'and' back\slash`, "$HOME ${X} %n %% $$", "; DROP ROLE x; --", "#comment-like-pw", "ünïcödé-pässwörd", "a\u2028b-line-sep-x", "tab\tinside-password"} {
		f.Add("x", p, p+"-vk", p+"-adm", p+"-usr")
	}
	f.Fuzz(func(t *testing.T, text, pg, vk, adm, usr string) {
		if !utf8.ValidString(text) {
			t.Skip("no input format carries invalid UTF-8 (JSON turns it into U+FFFD)")
		}
		pws := [4]string{pg, vk, adm, usr}
		cfg, err := freeTextConfig(text, pws)
		if err != nil {
			if _, ok := err.(schema.Problems); !ok {
				t.Fatalf("Load returned %T: %v", err, err)
			}
			t.Skip("refused by the schema")
		}
		res := Render(cfg, all)
		for p, file := range res.Out {
			d := file.Data
			if !utf8.Valid(d) || bytes.Contains(d, []byte("\r")) || !bytes.HasSuffix(d, []byte("\n")) {
				t.Fatalf("%s is not UTF-8 text with LF endings and a final newline:\n%q", p, d)
			}
		}
		if ci, ok := res.Secrets["cloud-init/user-data"]; ok {
			if d := ci.Data; !utf8.Valid(d) || bytes.Contains(d, []byte("\r")) || !bytes.HasSuffix(d, []byte("\n")) {
				t.Fatalf("cloud-init/user-data is not UTF-8 text with LF endings and a final newline")
			}
		}
		for i, want := range []string{pg, vk} {
			p := rootfs(path.Join(secretsDir(cfg), schema.ImmichSecrets()[i].File))
			if got := string(res.Secrets[p].Data); got != want {
				t.Fatalf("%s holds %q, want %q", p, got, want)
			}
		}

		// The free text reaches its consumers unchanged.
		var compose struct {
			Services map[string]struct{ Environment map[string]string }
		}
		if err := yaml.Unmarshal(res.Out[rootfs(ComposePath(cfg))].Data, &compose); err != nil {
			t.Fatal(err)
		}
		v := compose.Services[serverService].Environment["FUZZ_TEXT"]
		if got, err := template.Substitute(v, func(string) (string, bool) { return "", false }); err != nil || got != text {
			t.Fatalf("compose reads FUZZ_TEXT as %q (%v), want %q", got, err, text)
		}
		var settings struct {
			Server struct{ LoginPageMessage string }
		}
		if err := json.Unmarshal(res.Out[rootfs(SettingsPath(cfg))].Data, &settings); err != nil || settings.Server.LoginPageMessage != text {
			t.Fatalf("settings loginPageMessage = %q (%v), want %q", settings.Server.LoginPageMessage, err, text)
		}

		// No password under Out. A password may be a word the files use
		// anyway ("immich-server"): it leaks only if the file changes
		// with it.
		for i, secret := range pws {
			if strings.Contains(text, secret) {
				continue // the user put it into the free text
			}
			for p, file := range res.Out {
				if !bytes.Contains(file.Data, []byte(secret)) {
					continue
				}
				alt := pws
				alt[i] = otherPassword(secret)
				cfg2, err := freeTextConfig(text, alt)
				if err != nil {
					t.Fatalf("password %d found in %s; the same configuration with another password is refused: %v", i, p, err)
				}
				if !bytes.Contains(Render(cfg2, all).Out[p].Data, []byte(secret)) {
					t.Fatalf("%s contains the password %q", p, secret)
				}
			}
		}
	})
}
