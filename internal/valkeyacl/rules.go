package valkeyacl

import (
	"fmt"
	"strings"

	"github.com/immich-render/immich-render/internal/editdist"
)

// Kind is what a rule acts on.
type Kind int

// The kinds of rule, as the server's ACL SETUSER understands them.
const (
	// CommandRule is +cmd, -cmd, +cmd|sub or -cmd|sub. Name is the command.
	CommandRule Kind = iota + 1
	// CategoryRule is +@cat or -@cat; allcommands is +@all and nocommands
	// is -@all. Name is the category.
	CategoryRule
	// FirstArgRule is +cmd|arg for a command without subcommands (+select|0),
	// a deprecated form that Evaluate does not model. Name is "cmd|arg".
	FirstArgRule
	// KeyRule is ~pat, %R~pat, %W~pat or %RW~pat. Name is the pattern.
	KeyRule
	// AllKeysRule is allkeys or ~*.
	AllKeysRule
	// ResetKeysRule is resetkeys.
	ResetKeysRule
	// ChannelRule is &pat. Name is the pattern.
	ChannelRule
	// AllChannelsRule is allchannels or &*.
	AllChannelsRule
	// ResetChannelsRule is resetchannels.
	ResetChannelsRule
	// UserRule is a rule about the user rather than its permissions: on, off,
	// reset, nopass, resetpass, clearselectors, sanitize-payload,
	// skip-sanitize-payload (Name is the keyword, lowercase), or a password
	// rule >pw, <pw, #hash, !hash (Name is the first character).
	UserRule
	// SelectorRule is a parenthesised selector, (~key* +get). Name is the text
	// inside the parentheses.
	SelectorRule
)

// Rule is one parsed ACL rule.
type Rule struct {
	Text  string // as written
	Kind  Kind
	Allow bool   // "+" rather than "-" (Command, Category, FirstArg)
	Name  string // see Kind; commands and categories in lowercase
	Perm  string // for KeyPattern: "RW", "R" or "W"
}

// Error is a rule the server would refuse, or that cannot be evaluated.
type Error struct {
	Index int    // the rule's index in the list given, from 0
	Rule  string // the rule as written
	Msg   string // what is wrong, in plain words
	// Unsupported marks a rule the server accepts but Evaluate cannot
	// model (selectors, first-argument rules).
	Unsupported bool
	// Conflict is the index of the earlier rule this one cannot follow
	// (the allkeys before a key pattern), or -1.
	Conflict int
}

func (e *Error) Error() string { return fmt.Sprintf("rule %d (%s): %s", e.Index+1, e.Rule, e.Msg) }

// Split splits a rule string into rules. Rules are separated by spaces
// (runs of spaces count as one), and a selector in parentheses is one rule
// even though it holds spaces, as in the server's ACL file loader.
func Split(s string) []string {
	var out []string
	var sel []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }) {
		switch {
		case sel != nil:
			sel = append(sel, f)
			if strings.HasSuffix(f, ")") {
				out = append(out, strings.Join(sel, " "))
				sel = nil
			}
		case strings.HasPrefix(f, "(") && !strings.HasSuffix(f, ")"):
			sel = []string{f}
		default:
			out = append(out, f)
		}
	}
	if sel != nil {
		out = append(out, strings.Join(sel, " ")) // unterminated: Parse says so
	}
	return out
}

// Parse parses rules given one per element (see Split). It returns every
// rule it could parse, and an Error for each it could not.
func (t *Table) Parse(rules []string) ([]Rule, []*Error) {
	var out []Rule
	var errs []*Error
	for i, text := range rules {
		r, msg := t.parseRule(text)
		if msg != "" {
			errs = append(errs, &Error{Index: i, Rule: text, Msg: msg, Conflict: -1})
			continue
		}
		out = append(out, r)
	}
	return out, errs
}

// ParseRule parses one rule.
func (t *Table) ParseRule(text string) (Rule, error) {
	r, msg := t.parseRule(text)
	if msg != "" {
		return Rule{}, &Error{Rule: text, Msg: msg, Conflict: -1}
	}
	return r, nil
}

// parseRule follows ACLSetUser and ACLSetSelector of Redis 7.0: keywords
// are case-insensitive, the "all" forms are checked before the patterns.
func (t *Table) parseRule(text string) (Rule, string) {
	r := Rule{Text: text}
	lower := strings.ToLower(text)
	switch lower {
	case "on", "off", "reset", "nopass", "resetpass", "clearselectors", "sanitize-payload", "skip-sanitize-payload":
		r.Kind, r.Name = UserRule, lower
		return r, ""
	case "allkeys", "~*":
		r.Kind = AllKeysRule
		return r, ""
	case "resetkeys":
		r.Kind = ResetKeysRule
		return r, ""
	case "allchannels", "&*":
		r.Kind = AllChannelsRule
		return r, ""
	case "resetchannels":
		r.Kind = ResetChannelsRule
		return r, ""
	case "allcommands", "+@all":
		r.Kind, r.Allow, r.Name = CategoryRule, true, "all"
		return r, ""
	case "nocommands", "-@all":
		r.Kind, r.Allow, r.Name = CategoryRule, false, "all"
		return r, ""
	}
	if text == "" {
		return r, "empty rule"
	}
	switch c := text[0]; c {
	case '>', '<':
		r.Kind, r.Name = UserRule, string(c)
		return r, ""
	case '#', '!':
		r.Kind, r.Name = UserRule, string(c)
		if !isSHA256Hex(text[1:]) {
			return r, "a password hash must be exactly 64 lowercase hexadecimal characters"
		}
		return r, ""
	case '(':
		if !strings.HasSuffix(text, ")") {
			return r, "a selector's opening parenthesis has no closing one"
		}
		r.Kind, r.Name = SelectorRule, text[1:len(text)-1]
		return r, ""
	case '~', '%':
		r.Kind, r.Perm = KeyRule, "RW"
		rest := text[1:]
		if c == '%' {
			perm, pat, ok := strings.Cut(rest, "~")
			p := strings.ToUpper(perm)
			if !ok || (p != "R" && p != "W" && p != "RW" && p != "WR") {
				return r, "a key pattern with permissions is written %R~pattern, %W~pattern or %RW~pattern"
			}
			r.Perm, rest = map[string]string{"R": "R", "W": "W", "RW": "RW", "WR": "RW"}[p], pat
		}
		r.Name = rest
		return r, ""
	case '&':
		r.Kind, r.Name = ChannelRule, text[1:]
		return r, ""
	case '+', '-':
		r.Allow = c == '+'
		name := lower[1:]
		if cat, ok := strings.CutPrefix(name, "@"); ok {
			if !t.HasCategory(cat) {
				return r, fmt.Sprintf("@%s is not a category; the categories are @%s and @all", cat, strings.Join(t.Categories, ", @"))
			}
			r.Kind, r.Name = CategoryRule, cat
			return r, ""
		}
		return t.parseCommand(r, name)
	}
	return r, "not an ACL rule (a rule starts with + - ~ % & or is a keyword such as allchannels)"
}

// parseCommand parses the name of a +/- command rule.
func (t *Table) parseCommand(r Rule, name string) (Rule, string) {
	r.Kind, r.Name = CommandRule, name
	if !strings.Contains(name, "|") || !r.Allow {
		if t.Lookup(name) == nil {
			return r, unknownCommand(t, name)
		}
		return r, ""
	}
	i := strings.LastIndexByte(name, '|')
	base, sub := name[:i], name[i+1:]
	cmd := t.Lookup(base)
	switch {
	case cmd == nil:
		return r, unknownCommand(t, name)
	case cmd.Parent() != "":
		return r, fmt.Sprintf("%s is already a subcommand; a rule names a command or one subcommand, such as +%s", cmd.Display(), cmd.Name)
	case sub == "":
		return r, fmt.Sprintf("nothing after the | ; write +%s for the whole command or +%s|<subcommand>", base, base)
	case len(cmd.subs) > 0:
		if t.Lookup(name) == nil {
			return r, fmt.Sprintf("%s has no subcommand %q; its subcommands are %s", cmd.Display(), sub, strings.Join(cmd.subs, ", "))
		}
		return r, ""
	}
	r.Kind = FirstArgRule
	return r, ""
}

func unknownCommand(t *Table, name string) string {
	if name == "" {
		return "a + or - must be followed by a command or an @category"
	}
	msg := fmt.Sprintf("%s is not a command (checked against the command table of %s)", strings.ToUpper(name), t.Server())
	if near := t.closest(name); near != "" {
		msg += fmt.Sprintf("; did you mean %s?", strings.ToUpper(near))
	}
	return msg
}

// closest returns the command nearest to name by edit distance, if near.
func (t *Table) closest(name string) string {
	best, bestD := "", len(name)/3+1
	for _, n := range t.names {
		if d := editdist.Levenshtein(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
