package valkeyacl

import (
	"slices"
	"strings"
	"testing"
)

// The seed Ansible role's rule string for the Immich user.
const seedRules = "&* -@dangerous +@read +@write +@pubsub +select +auth +ping +info +eval +evalsha"

func mustEval(t *testing.T, rules string) *Perms {
	t.Helper()
	tab := Commands()
	rs, errs := tab.Parse(Split(rules))
	if len(errs) > 0 {
		t.Fatalf("Parse(%q): %v", rules, errs)
	}
	p, errs := tab.Evaluate(rs)
	if len(errs) > 0 {
		t.Fatalf("Evaluate(%q): %v", rules, errs)
	}
	return p
}

func TestTable(t *testing.T) {
	tab := Commands()
	if !strings.HasPrefix(tab.Server(), "valkey 8.") {
		t.Errorf("Server() = %q, want the Valkey 8 table", tab.Server())
	}
	for name, cats := range map[string][]string{
		"flushdb":    {"write", "dangerous"},
		"keys":       {"read", "dangerous"},
		"sort":       {"write", "dangerous"},
		"info":       {"dangerous"},
		"config|set": {"admin", "dangerous"},
		"get":        {"read", "string"},
	} {
		c := tab.Lookup(name)
		if c == nil {
			t.Fatalf("Lookup(%q) = nil", name)
		}
		for _, cat := range cats {
			if !c.In(cat) {
				t.Errorf("%s is not @%s; categories %v", name, cat, c.Categories)
			}
		}
	}
	cfg := tab.Lookup("CONFIG")
	if cfg.Leaf() || !slices.Contains(cfg.Subcommands(), "config|get") || tab.Lookup("config|get").Parent() != "config" {
		t.Errorf("CONFIG is not a container of config|get: %+v", cfg)
	}
	if !tab.Lookup("auth").NoAuth() || tab.Lookup("get").NoAuth() {
		t.Error("no_auth flags wrong")
	}
	if !tab.HasCategory("ALL") || !tab.HasCategory("dangerous") || tab.HasCategory("nope") {
		t.Error("HasCategory wrong")
	}
}

func TestSplit(t *testing.T) {
	for in, want := range map[string][]string{
		"":                        nil,
		"  +get   +set ":          {"+get", "+set"},
		"+get (~a* +set) -@all":   {"+get", "(~a* +set)", "-@all"},
		"(~a* +set":               {"(~a* +set"},
		"(+get) &*":               {"(+get)", "&*"},
		"+get\u00a0+set +ping":    {"+get\u00a0+set", "+ping"},
		"~immich_bull* &channel*": {"~immich_bull*", "&channel*"},
	} {
		if got := Split(in); !slices.Equal(got, want) {
			t.Errorf("Split(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	tab := Commands()
	ok := map[string]Rule{
		"+GET":                         {Kind: CommandRule, Allow: true, Name: "get"},
		"-config|set":                  {Kind: CommandRule, Name: "config|set"},
		"+Config|Get":                  {Kind: CommandRule, Allow: true, Name: "config|get"},
		"+select|0":                    {Kind: FirstArgRule, Allow: true, Name: "select|0"},
		"+@Write":                      {Kind: CategoryRule, Allow: true, Name: "write"},
		"allcommands":                  {Kind: CategoryRule, Allow: true, Name: "all"},
		"-@ALL":                        {Kind: CategoryRule, Name: "all"},
		"nocommands":                   {Kind: CategoryRule, Name: "all"},
		"~app:*":                       {Kind: KeyRule, Name: "app:*", Perm: "RW"},
		"%R~ro:*":                      {Kind: KeyRule, Name: "ro:*", Perm: "R"},
		"%wr~rw:*":                     {Kind: KeyRule, Name: "rw:*", Perm: "RW"},
		"~*":                           {Kind: AllKeysRule},
		"ALLKEYS":                      {Kind: AllKeysRule},
		"&*":                           {Kind: AllChannelsRule},
		"&news.*":                      {Kind: ChannelRule, Name: "news.*"},
		"resetchannels":                {Kind: ResetChannelsRule},
		"resetkeys":                    {Kind: ResetKeysRule},
		">secret":                      {Kind: UserRule, Name: ">"},
		"nopass":                       {Kind: UserRule, Name: "nopass"},
		"On":                           {Kind: UserRule, Name: "on"},
		"(~a +get)":                    {Kind: SelectorRule, Name: "~a +get"},
		"#" + strings.Repeat("ab", 32): {Kind: UserRule, Name: "#"},
	}
	for text, want := range ok {
		got, err := tab.ParseRule(text)
		want.Text = text
		if err != nil || got != want {
			t.Errorf("ParseRule(%q) = %+v, %v; want %+v", text, got, err, want)
		}
	}
	bad := map[string]string{
		"+flushd":                      "did you mean FLUSHDB?",
		"+@dangerus":                   "@dangerus is not a category",
		"+config|sett":                 "CONFIG has no subcommand \"sett\"",
		"+config|get|x":                "already a subcommand",
		"+config|":                     "nothing after the |",
		"-select|0":                    "SELECT|0 is not a command",
		"%X~a":                         "%R~pattern",
		"#ABC":                         "64 lowercase hexadecimal",
		"get":                          "not an ACL rule",
		"(~a +get":                     "no closing one",
		"+":                            "must be followed by a command",
		"#" + strings.Repeat("AB", 32): "64 lowercase hexadecimal",
	}
	for text, want := range bad {
		_, err := tab.ParseRule(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRule(%q) error = %v, want one containing %q", text, err, want)
		}
	}
}

// The seed role's string refuses nothing it means to refuse: +@read and
// +@write come after -@dangerous and re-grant what it removed.
func TestSeedRulesRegrant(t *testing.T) {
	p := mustEval(t, seedRules)
	for cmd, rule := range map[string]int{"flushdb": 3, "flushall": 3, "swapdb": 3, "sort": 3, "migrate": 3, "restore": 3, "keys": 2, "sort_ro": 2} {
		g, ok := p.Grant(cmd)
		if !ok {
			t.Errorf("%s is refused; the seed string allows it", cmd)
			continue
		}
		if g.Rule != rule || g.Undid != 1 || g.Named {
			t.Errorf("Grant(%s) = %+v, want rule %d undoing rule 1, not named", cmd, g, rule)
		}
	}
	for _, cmd := range []string{"config|get", "config|set", "shutdown", "monitor", "acl|list", "debug"} {
		if p.Allowed(cmd) {
			t.Errorf("%s allowed; only @read/@write dangerous commands come back", cmd)
		}
	}
	if g, _ := p.Grant("info"); !g.Named || g.Rule != 8 {
		t.Errorf("Grant(info) = %+v, want named by rule 8", g)
	}
	if _, all := p.Channels(); all != 0 {
		t.Errorf("all channels from rule %d, want 0", all)
	}
}

func TestEvaluateOrder(t *testing.T) {
	// Reordered, the same rules refuse every dangerous command but INFO.
	p := mustEval(t, "&* +@read +@write +@pubsub -@dangerous +select +auth +ping +info +eval +evalsha")
	var dangerous []string
	for _, c := range p.Commands() {
		if Commands().Lookup(c).Dangerous() {
			dangerous = append(dangerous, c)
		}
	}
	if !slices.Equal(dangerous, []string{"info"}) {
		t.Errorf("dangerous commands allowed: %v, want [info]", dangerous)
	}
	for _, c := range []string{"get", "set", "eval", "evalsha", "publish", "subscribe", "select", "ping", "auth", "hello"} {
		if !p.Allowed(c) {
			t.Errorf("%s refused", c)
		}
	}

	// A container in a category brings every subcommand along.
	p = mustEval(t, "-@dangerous +@slow")
	if g, ok := p.Grant("config|set"); !ok || g.Rule != 1 || g.Undid != 0 {
		t.Errorf("-@dangerous +@slow: Grant(config|set) = %+v, %v; want re-granted by rule 1 through CONFIG", g, ok)
	}
	// Naming a container names its subcommands.
	p = mustEval(t, "+@read -@dangerous +client")
	if g, ok := p.Grant("client|kill"); !ok || !g.Named {
		t.Errorf("+client: Grant(client|kill) = %+v, %v; want named", g, ok)
	}
	// -@all is a fresh start, not a denial that a later grant undoes.
	p = mustEval(t, "+flushdb -@all +@write")
	if g, _ := p.Grant("flushdb"); g.Undid != -1 || !g.Named {
		t.Errorf("after -@all: Grant(flushdb) = %+v, want Undid -1 (named earlier)", g)
	}
	if !mustEval(t, "+@all").AllCommands() || mustEval(t, "+@all -ping").AllCommands() || !mustEval(t, "-@all allcommands").AllCommands() {
		t.Error("AllCommands wrong")
	}
	// reset clears everything.
	p = mustEval(t, "+@all ~* &* reset +get")
	if keys, all := p.Keys(); all != -1 || keys != nil || p.Allowed("set") || !p.Allowed("get") {
		t.Errorf("reset did not clear: keys %v all %d", keys, all)
	}
}

func TestEvaluateErrors(t *testing.T) {
	tab := Commands()
	for rules, want := range map[string]string{
		"~* ~a":               "rule 2 (~a): a key pattern after allkeys",
		"allkeys %R~a":        "rule 2 (%R~a): a key pattern after allkeys",
		"allchannels &a":      "rule 2 (&a): a channel pattern after allchannels",
		"+get +select|0":      "rule 2 (+select|0): first-argument rules",
		"+get (~a +flushall)": "rule 2 ((~a +flushall)): selectors",
	} {
		rs, errs := tab.Parse(Split(rules))
		if len(errs) > 0 {
			t.Fatalf("Parse(%q): %v", rules, errs)
		}
		_, errs = tab.Evaluate(rs)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("Evaluate(%q) = %v, want one error containing %q", rules, errs, want)
		}
	}
	for _, rules := range []string{"~a allkeys", "resetkeys ~* resetkeys ~a", "&a allchannels", "&* resetchannels &a"} {
		rs, _ := tab.Parse(Split(rules))
		if _, errs := tab.Evaluate(rs); len(errs) > 0 {
			t.Errorf("Evaluate(%q): %v", rules, errs)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"immich_bull*", "immich_bull:thumb:wait", true},
		{"immich_bull*", "immich_bul", false},
		{"immich_bull*", "immich_bull", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[abc]x", "bx", true},
		{"[^abc]x", "bx", false},
		{"[a-c]x", "bx", true},
		{"[c-a]x", "bx", true},
		{"a\\*", "a*", true},
		{"a\\*", "ab", false},
		{"[\\]]", "]", true},
		{"*", "", false},
		{"", "", true},
		{"[ab", "a", true},
		{"**x", "yyx", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
	} {
		if got := Match(c.p, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
	for p, want := range map[string]bool{"*": true, "**": true, "?*": true, "*?": true, "*?*": true, "a*": false, "[^x]*": false, "immich*": false, "": false} {
		if got := Universal(p); got != want {
			t.Errorf("Universal(%q) = %v, want %v", p, got, want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range []string{"a*", "[a-", "\\", "[^]", "*?*", "[\\"} {
		f.Add(s, "abc")
	}
	// quote escapes every byte, so that the pattern matches s literally.
	quote := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
		return b.String()
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		_ = Match(p, s) // must not panic or hang on any pattern
		if !Match(quote(s), s) {
			t.Fatalf("Match(%q, %q) = false for the quoted name", quote(s), s)
		}
		// (The server's glob never matches the empty name, not even with *.)
		if p+s != "" && !Match(quote(p)+"*", p+s) {
			t.Fatalf("Match(%q, %q) = false for a prefix pattern", quote(p)+"*", p+s)
		}
	})
}
