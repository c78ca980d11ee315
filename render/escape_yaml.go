package render

import (
	"bytes"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The YAML files we write are read by YAML 1.2 parsers (compose-go,
// cloud-init's PyYAML in 1.1 mode) and by podman-compose's PyYAML, which
// follows YAML 1.1: there `no`, `on` and `y` are booleans and `22:22` is a
// base-60 number. So a string is written plain only when both readings
// agree that it is that string; anything else is double-quoted, and the
// encoder escapes it. The node helpers below keep key order as written.

// plainSafe reports whether every YAML reader takes s, written plain, as
// the same string: s matches ^[A-Za-z_/][A-Za-z0-9_./@+-]*$ (a loop, not
// a regexp: it runs for every scalar, and a regexp compiles at start-up).
func plainSafe(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_', c == '/':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '@' || c == '+' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// yaml11Words are plain scalars that YAML 1.1 resolves to a non-string.
var yaml11Words = map[string]bool{
	"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true,
	"true": true, "false": true, "null": true, "nan": true, "inf": true,
}

// yStr is a string scalar.
func yStr(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if !plainSafe(s) || yaml11Words[strings.ToLower(s)] || strings.HasPrefix(strings.ToLower(s), ".") {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// yInt is an integer scalar.
func yInt(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

// yBool is a boolean scalar.
func yBool(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

// yMap is a mapping whose keys keep the order given: key, value, key, value...
func yMap(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i < len(kv); i += 2 {
		n.Content = append(n.Content, yStr(kv[i].(string)), yNode(kv[i+1]))
	}
	return n
}

// ySeq is a sequence.
func ySeq(items ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, it := range items {
		n.Content = append(n.Content, yNode(it))
	}
	return n
}

// yStrs is a sequence of strings.
func yStrs(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, it := range items {
		n.Content = append(n.Content, yStr(it))
	}
	return n
}

func yNode(v any) *yaml.Node {
	switch x := v.(type) {
	case *yaml.Node:
		return x
	case string:
		return yStr(x)
	case int:
		return yInt(x)
	case bool:
		return yBool(x)
	case []string:
		return yStrs(x)
	}
	panic("yNode: unsupported value")
}

// yAdd appends key: value to a mapping.
func yAdd(m *yaml.Node, key string, v any) {
	m.Content = append(m.Content, yStr(key), yNode(v))
}

// yEncode writes a document with 2-space indentation and a final newline.
func yEncode(header string, doc *yaml.Node) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		panic("yaml encode: " + err.Error()) // only a renderer bug gets here
	}
	enc.Close()
	return b.Bytes()
}
