package ansible

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"cuelang.org/go/cue/token"

	"github.com/immich-render/immich-render/schema"
	"go.yaml.in/yaml/v3"
)

// Pos is where a value was written: a file and a line (0 when unknown).
type Pos struct {
	File string
	Line int // from 1; 0 for the whole file
	Col  int // from 1; 0 when only the line is known
}

// token is the position as problems carry it: a line without a column
// is its first column.
func (p Pos) token() token.Pos {
	if p.Line == 0 {
		return schema.PosAt(p.File, 0, 0)
	}
	return schema.PosAt(p.File, p.Line, max(p.Col, 1))
}

func (p Pos) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}

// Kind is the type of a Value, as Ansible (Python) sees it.
type Kind int

const (
	Null Kind = iota
	String
	Int
	Float
	Bool
	List
	Map
)

// Value is one variable's value as read from the inventory, with where
// it was written. Vault-encrypted strings stay encrypted until used.
type Value struct {
	Kind  Kind
	Str   string
	Int   int64
	Float float64
	Bool  bool
	List  []*Value
	Keys  []string // map keys in written order
	Map   map[string]*Value
	Pos   Pos

	Unsafe bool   // tagged !unsafe: never templated
	Vault  []byte // tagged !vault: the payload, decrypted on use
	Secret bool   // came out of a vault
}

// Interface returns the value as JSON would carry it: string, int64,
// float64, bool, nil, []any or map[string]any. Vault payloads must be
// decrypted first.
func (v *Value) Interface() any {
	switch v.Kind {
	case String:
		return v.Str
	case Int:
		return v.Int
	case Float:
		return v.Float
	case Bool:
		return v.Bool
	case List:
		out := make([]any, len(v.List))
		for i, e := range v.List {
			out[i] = e.Interface()
		}
		return out
	case Map:
		out := make(map[string]any, len(v.Map))
		for k, e := range v.Map {
			out[k] = e.Interface()
		}
		return out
	}
	return nil
}

// pyStr is Python's str() of a scalar, which Jinja uses when a value is
// put into a string.
func (v *Value) pyStr() (string, bool) {
	switch v.Kind {
	case String:
		return v.Str, true
	case Int:
		return strconv.FormatInt(v.Int, 10), true
	case Float:
		return pyFloat(v.Float), true
	case Bool:
		if v.Bool {
			return "True", true
		}
		return "False", true
	case Null:
		return "None", true
	}
	return "", false
}

func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

// kindName names a kind for messages.
func (k Kind) String() string {
	return [...]string{"null", "a string", "an integer", "a number", "a boolean", "a list", "a mapping"}[k]
}

// YAML 1.1 plain scalars, as PyYAML (and so Ansible) resolves them.
var (
	yamlBool  = lazyRegexp(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlNull  = lazyRegexp(`^(?:~|null|Null|NULL|)$`)
	yamlInt   = lazyRegexp(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlFloat = lazyRegexp(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
)

// yamlValue converts a YAML node to a Value with YAML 1.1 typing.
func yamlValue(n *yaml.Node, file string) (*Value, error) {
	pos := Pos{file, n.Line, n.Column}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &Value{Kind: Null, Pos: pos}, nil
		}
		return yamlValue(n.Content[0], file)
	case yaml.AliasNode:
		return yamlValue(n.Alias, file)
	case yaml.SequenceNode:
		v := &Value{Kind: List, Pos: pos}
		for _, c := range n.Content {
			e, err := yamlValue(c, file)
			if err != nil {
				return nil, err
			}
			v.List = append(v.List, e)
		}
		return v, nil
	case yaml.MappingNode:
		v := &Value{Kind: Map, Pos: pos, Map: map[string]*Value{}}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" || k.Value == "<<" && k.Style == 0 {
				base, err := yamlValue(val, file)
				if err != nil {
					return nil, err
				}
				for _, b := range mergeSources(base) {
					for _, bk := range b.Keys {
						if _, ok := v.Map[bk]; !ok {
							v.Keys = append(v.Keys, bk)
						}
						v.Map[bk] = b.Map[bk]
					}
				}
				continue
			}
			kv, err := yamlValue(k, file)
			if err != nil {
				return nil, err
			}
			key, ok := kv.pyStr()
			if !ok {
				return nil, fmt.Errorf("%s: a mapping key must be a scalar", Pos{file, k.Line, k.Column})
			}
			e, err := yamlValue(val, file)
			if err != nil {
				return nil, err
			}
			e.Pos = Pos{file, k.Line, k.Column}
			if _, dup := v.Map[key]; !dup {
				v.Keys = append(v.Keys, key)
			}
			v.Map[key] = e
		}
		return v, nil
	}
	// Scalars.
	v := &Value{Pos: pos}
	// yaml.v3 resolves plain scalars with YAML 1.2 rules and records the
	// result as the tag; only a tag written in the file counts here.
	tag := ""
	if n.Style&yaml.TaggedStyle != 0 {
		tag = n.Tag
	}
	switch tag {
	case "!vault":
		v.Kind, v.Vault = String, []byte(n.Value)
		return v, nil
	case "!unsafe":
		v.Kind, v.Str, v.Unsafe = String, n.Value, true
		return v, nil
	case "!!str", "!!binary":
		v.Kind, v.Str = String, n.Value
		return v, nil
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		v.Kind, v.Str = String, n.Value
		return v, nil
	}
	s := n.Value
	switch {
	case tag == "!!null" || yamlNull().MatchString(s):
		v.Kind = Null
	case tag == "!!bool" || yamlBool().MatchString(s):
		v.Kind = Bool
		switch strings.ToLower(s) {
		case "yes", "true", "on":
			v.Bool = true
		}
	case yamlInt().MatchString(s):
		i, ok := yaml11Int(s)
		if !ok {
			v.Kind, v.Str = String, s
			break
		}
		v.Kind, v.Int = Int, i
	case yamlFloat().MatchString(s):
		f, ok := yaml11Float(s)
		if !ok {
			v.Kind, v.Str = String, s
			break
		}
		v.Kind, v.Float = Float, f
	default:
		v.Kind, v.Str = String, s
	}
	return v, nil
}

func mergeSources(v *Value) []*Value {
	if v.Kind == Map {
		return []*Value{v}
	}
	var out []*Value
	if v.Kind == List {
		for i := len(v.List) - 1; i >= 0; i-- {
			if v.List[i].Kind == Map {
				out = append(out, v.List[i])
			}
		}
	}
	return out
}

func yaml11Int(s string) (int64, bool) {
	s = strings.ReplaceAll(s, "_", "")
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n int64
	var err error
	switch {
	case strings.HasPrefix(s, "0b"):
		n, err = strconv.ParseInt(s[2:], 2, 64)
	case strings.HasPrefix(s, "0x"):
		n, err = strconv.ParseInt(s[2:], 16, 64)
	case strings.Contains(s, ":"):
		for _, d := range strings.Split(s, ":") {
			x, e := strconv.ParseInt(d, 10, 64)
			if e != nil {
				return 0, false
			}
			n = n*60 + x
		}
	case len(s) > 1 && s[0] == '0':
		n, err = strconv.ParseInt(s[1:], 8, 64)
	default:
		n, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

func yaml11Float(s string) (float64, bool) {
	s = strings.ReplaceAll(s, "_", "")
	switch strings.ToLower(strings.TrimLeft(s, "+")) {
	case ".inf":
		return math.Inf(1), true
	case "-.inf":
		return math.Inf(-1), true
	case ".nan":
		return math.NaN(), true
	}
	if strings.Contains(s, ":") {
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimLeft(s, "+-")
		var f float64
		for _, d := range strings.Split(s, ":") {
			x, err := strconv.ParseFloat(d, 64)
			if err != nil {
				return 0, false
			}
			f = f*60 + x
		}
		if neg {
			f = -f
		}
		return f, true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
