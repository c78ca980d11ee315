package rehearsal

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// parseUnit reads a unit file's keys and their values, in order (enough
// for the rendered units: no line continuations, no drop-ins).
func parseUnit(data []byte) (map[string][]string, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("empty unit")
	}
	keys := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' || l[0] == '[' {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			return nil, fmt.Errorf("line continuation in %q", l)
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("not a key=value line: %q", l)
		}
		keys[strings.TrimSpace(k)] = append(keys[strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return keys, sc.Err()
}

// unescapeValue undoes systemd's specifier escape in a plain value.
func unescapeValue(v string) string { return strings.ReplaceAll(v, "%%", "%") }

// execArgs splits an Exec line as systemd does: words separated by white
// space, double or single quotes, C-style escapes, "%%" for "%" and "$$"
// for "$". A specifier or a variable reference, which would need systemd
// itself to expand, is an error.
func execArgs(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t'):
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		case quote == 0 && (c == '"' || c == '\'') && !inWord:
			quote, inWord = c, true
			continue
		case quote != 0 && c == quote:
			quote = 0
			args = append(args, cur.String())
			cur.Reset()
			inWord = false
			continue
		case c == '\\' && quote != '\'':
			i++
			if i == len(line) {
				return nil, fmt.Errorf("trailing backslash")
			}
			switch e := line[i]; e {
			case 'n':
				cur.WriteByte('\n')
			case 't':
				cur.WriteByte('\t')
			case '\\', '"', '\'', ' ':
				cur.WriteByte(e)
			default:
				return nil, fmt.Errorf("escape \\%c not handled", e)
			}
		case c == '%' || c == '$':
			if i+1 < len(line) && line[i+1] == c {
				i++
				cur.WriteByte(c)
			} else {
				return nil, fmt.Errorf("%c%s needs systemd to expand", c, line[i+1:min(i+3, len(line))])
			}
		default:
			cur.WriteByte(c)
		}
		inWord = true
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		args = append(args, cur.String())
	}
	if len(args) > 0 && strings.ContainsAny(args[0][:1], "-@+!:") {
		return nil, fmt.Errorf("prefix %q not handled", args[0][:1])
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("empty command line")
	}
	return args, nil
}
