package ansible

import (
	"strconv"
	"strings"
)

// pyLiteral converts a value written in an INI inventory as Ansible does:
// Python's ast.literal_eval, and the text itself when that fails. So
// port=2283 is an integer, flag=True a boolean, name="x y" a string and
// enabled=yes the string "yes".
func pyLiteral(s string, pos Pos) *Value {
	p := &pyParser{s: s}
	p.space()
	v, ok := p.value()
	p.space()
	if !ok || p.i != len(p.s) {
		return &Value{Kind: String, Str: s, Pos: pos}
	}
	setPos(v, pos)
	return v
}

func setPos(v *Value, pos Pos) {
	v.Pos = pos
	for _, e := range v.List {
		setPos(e, pos)
	}
	for _, e := range v.Map {
		setPos(e, pos)
	}
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *pyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *pyParser) value() (*Value, bool) {
	p.space()
	c := p.peek()
	switch {
	case c == '\'' || c == '"':
		var b strings.Builder
		for p.peek() == '\'' || p.peek() == '"' { // adjacent literals concatenate
			s, ok := p.str()
			if !ok {
				return nil, false
			}
			b.WriteString(s)
			p.space()
		}
		return &Value{Kind: String, Str: b.String()}, true
	case c == '[' || c == '(':
		end := byte(']')
		if c == '(' {
			end = ')'
		}
		p.i++
		v := &Value{Kind: List}
		for {
			p.space()
			if p.peek() == end {
				p.i++
				return v, true
			}
			e, ok := p.value()
			if !ok {
				return nil, false
			}
			v.List = append(v.List, e)
			p.space()
			switch p.peek() {
			case ',':
				p.i++
			case end:
			default:
				return nil, false
			}
		}
	case c == '{':
		p.i++
		v := &Value{Kind: Map, Map: map[string]*Value{}}
		for {
			p.space()
			if p.peek() == '}' {
				p.i++
				return v, true
			}
			k, ok := p.value()
			if !ok {
				return nil, false
			}
			key, ok := k.pyStr()
			if !ok || k.Kind == Null {
				return nil, false
			}
			p.space()
			if p.peek() != ':' {
				return nil, false // a set: not a mapping Ansible can use here
			}
			p.i++
			e, ok := p.value()
			if !ok {
				return nil, false
			}
			if _, dup := v.Map[key]; !dup {
				v.Keys = append(v.Keys, key)
			}
			v.Map[key] = e
			p.space()
			switch p.peek() {
			case ',':
				p.i++
			case '}':
			default:
				return nil, false
			}
		}
	}
	// A name or a number.
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(" \t,:]})", p.s[p.i]) < 0 {
		p.i++
	}
	word := p.s[start:p.i]
	switch word {
	case "True":
		return &Value{Kind: Bool, Bool: true}, true
	case "False":
		return &Value{Kind: Bool}, true
	case "None":
		return &Value{Kind: Null}, true
	}
	return pyNumber(word)
}

func pyNumber(w string) (*Value, bool) {
	neg := false
	body := w
	for len(body) > 0 && (body[0] == '-' || body[0] == '+') {
		if body[0] == '-' {
			neg = !neg
		}
		body = body[1:]
	}
	if body == "" || strings.Contains(body, "__") || strings.HasSuffix(body, "_") || strings.HasPrefix(body, "_") {
		return nil, false
	}
	clean := strings.ReplaceAll(body, "_", "")
	lower := strings.ToLower(clean)
	base := 10
	switch {
	case strings.HasPrefix(lower, "0x"):
		base, clean = 16, clean[2:]
	case strings.HasPrefix(lower, "0o"):
		base, clean = 8, clean[2:]
	case strings.HasPrefix(lower, "0b"):
		base, clean = 2, clean[2:]
	}
	if base != 10 || strings.IndexFunc(clean, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		if base == 10 && len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
			return nil, false // Python 3 refuses 0123
		}
		n, err := strconv.ParseInt(clean, base, 64)
		if err != nil || clean == "" {
			return nil, false
		}
		if neg {
			n = -n
		}
		return &Value{Kind: Int, Int: n}, true
	}
	if strings.ContainsAny(lower, "abcdfghijklmnopqrstuvwxyz") || strings.Contains(lower, "inf") {
		return nil, false
	}
	f, err := strconv.ParseFloat(clean, 64)
	if err != nil {
		return nil, false
	}
	if neg {
		f = -f
	}
	return &Value{Kind: Float, Float: f}, true
}

// str reads one quoted Python string literal with its escapes.
func (p *pyParser) str() (string, bool) {
	q := p.s[p.i]
	triple := strings.HasPrefix(p.s[p.i:], strings.Repeat(string(q), 3))
	if triple {
		p.i += 3
	} else {
		p.i++
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case triple && strings.HasPrefix(p.s[p.i:], strings.Repeat(string(q), 3)):
			p.i += 3
			return b.String(), true
		case !triple && c == q:
			p.i++
			return b.String(), true
		case c == '\\' && p.i+1 < len(p.s):
			p.i++
			e := p.s[p.i]
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '\'', '"':
				b.WriteByte(e)
			case '0':
				b.WriteByte(0)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			p.i++
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", false
}
