package schema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/valkeyacl"
	"github.com/immich-render/immich-render/schema"
)

// seedRules is the seed Ansible role's rule string for the Immich user.
const seedRules = "&* -@dangerous +@read +@write +@pubsub +select +auth +ping +info +eval +evalsha"

// user is a valkey.users entry with a literal password.
func user(name, keys, commands string) string {
	return `valkey: users: [{username: "` + name + `", password: "service-secret-0123", keyPatterns: ` + keys + `, commands: "` + commands + `"}]`
}

// problems loads a configuration and returns its problems (nil if valid).
func problems(t *testing.T, extra ...string) schema.Problems {
	t.Helper()
	_, err := testenv.Load(nil, extra...)
	if err == nil {
		return nil
	}
	var ps schema.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load: %v", err)
	}
	return ps
}

// find returns the problem at path whose reason contains every part.
func find(ps schema.Problems, path string, parts ...string) *schema.Problem {
next:
	for i, p := range ps {
		if p.PathString() != path {
			continue
		}
		for _, s := range parts {
			if !strings.Contains(p.Reason, s) {
				continue next
			}
		}
		return &ps[i]
	}
	return nil
}

func TestValkeyDefaultRulesPass(t *testing.T) {
	cfg := testenv.Config(t, nil)
	if cfg.Immich.Valkey.Commands != "" || cfg.Immich.Valkey.Rules() != schema.ImmichValkeyDefaultCommands {
		t.Errorf("Rules() = %q, want the default", cfg.Immich.Valkey.Rules())
	}
	// The default as the user's own string, and as another service's.
	if ps := problems(t, `immich: valkey: commands: "`+schema.ImmichValkeyDefaultCommands+`"`); ps != nil {
		t.Errorf("the default rules fail their own check:\n%v", ps)
	}
	if ps := problems(t, user("svc", `["svc*"]`, schema.ImmichValkeyDefaultCommands)); ps != nil {
		t.Errorf("the default rules fail as a service user's:\n%v", ps)
	}
	// What the default grants: the seed's intent, and no @dangerous
	// command but INFO.
	tab := valkeyacl.Commands()
	rs, errs := tab.Parse(valkeyacl.Split(schema.ImmichValkeyDefaultCommands))
	p, errs2 := tab.Evaluate(rs)
	if errs != nil || errs2 != nil {
		t.Fatal(errs, errs2)
	}
	for _, c := range p.Commands() {
		if tab.Lookup(c).Dangerous() && c != "info" {
			t.Errorf("the default grants @dangerous %s", c)
		}
	}
	for _, c := range []string{"get", "set", "select", "auth", "ping", "info", "eval", "evalsha", "publish", "subscribe", "psubscribe"} {
		if !p.Allowed(c) {
			t.Errorf("the default refuses %s", c)
		}
	}
}

func TestValkeySeedRulesRejected(t *testing.T) {
	wantReason := []string{
		"+@read (rule 3) re-grants KEYS, SORT_RO",
		"+@write (rule 4) re-grants FLUSHDB, FLUSHALL, SWAPDB, SORT, MIGRATE, RESTORE, RESTORE-ASKING, PFDEBUG",
		"which -@dangerous (rule 2) removed; put -@dangerous after +@write",
	}
	wantHint := `"&* +@read +@write +@pubsub -@dangerous +select +auth +ping +info +eval +evalsha"`
	for path, extra := range map[string]string{
		"immich.valkey.commands":  `immich: valkey: commands: "` + seedRules + `"`,
		"valkey.users.0.commands": user("paperless", `["paperless*"]`, seedRules),
	} {
		ps := problems(t, extra)
		p := find(ps, path, wantReason...)
		if p == nil {
			t.Errorf("%s: the seed's rules are not refused as expected:\n%v", path, ps)
			continue
		}
		if !strings.Contains(p.Hint, wantHint) {
			t.Errorf("%s: hint %q lacks the reordered rules %s", path, p.Hint, wantHint)
		}
		if len(p.Pos) != 1 || p.Pos[0].Filename() != "extra0.cue" || p.Pos[0].Line() != 1 {
			t.Errorf("%s: positions %v, want extra0.cue:1:*", path, p.Pos)
		}
	}
	// The reordered string the hint suggests passes.
	if ps := problems(t, user("paperless", `["paperless*"]`, strings.Trim(wantHint, `"`))); ps != nil {
		t.Errorf("the suggested order fails:\n%v", ps)
	}
}

func TestValkeyUserRules(t *testing.T) {
	for _, c := range []struct {
		name, extra, path string
		want              []string
	}{
		{"all commands", user("a", `["a*"]`, "+@all"), "valkey.users.0.commands", []string{"grant every command"}},
		{"allcommands", user("a", `["a*"]`, "allcommands"), "valkey.users.0.commands", []string{"grant every command"}},
		{"all but one", user("a", `["a*"]`, "+@all -ping"), "valkey.users.0.commands", []string{"+@all (rule 1) grants FLUSHDB, FLUSHALL, SWAPDB", "and 65 more without naming them", "add -@dangerous after +@all"}},
		{"admin category", user("a", `["a*"]`, "+@read -@dangerous +@admin"), "valkey.users.0.commands", []string{"+@admin (rule 3) re-grants CONFIG|SET, CONFIG|GET, SHUTDOWN", "which -@dangerous (rule 2) removed; put -@dangerous after +@admin"}},
		{"container through @slow", user("a", `["a*"]`, "-@dangerous +@slow"), "valkey.users.0.commands", []string{"+@slow (rule 2) re-grants FLUSHDB, FLUSHALL, KEYS, SORT, SORT_RO, CONFIG|SET, CONFIG|GET, SHUTDOWN", "put -@dangerous after +@slow"}},
		{"single revoke undone", user("a", `["a*"]`, "+get -flushdb +@write"), "valkey.users.0.commands", []string{"+@write (rule 3) re-grants FLUSHDB, which -flushdb (rule 2) removed"}},
		{"all keys in commands", user("a", `["a*"]`, "+get ~*"), "valkey.users.0.commands", []string{"~* (rule 2) grants every key"}},
		{"allkeys", user("a", `[]`, "allkeys +get"), "valkey.users.0.commands", []string{"allkeys (rule 1) grants every key"}},
		{"universal pattern in commands", user("a", `[]`, "~?* +get"), "valkey.users.0.commands", []string{"~?* (rule 1) matches every key"}},
		{"star key pattern", user("a", `["*"]`, "+get"), "valkey.users.0.keyPatterns.0", []string{`"*" matches every key`}},
		{"universal key pattern", user("a", `["a*", "**"]`, "+get"), "valkey.users.0.keyPatterns.1", []string{`"**" matches every key`}},
		{"white space in pattern", user("a", `["a b"]`, "+get"), "valkey.users.0.keyPatterns.0", []string{"contains white space"}},
		{"no-break space in pattern", user("a", `["a\u00a0b"]`, "+get"), "valkey.users.0.keyPatterns.0", []string{"contains white space"}},
		{"empty pattern", user("a", `[""]`, "+get"), "valkey.users.0.keyPatterns.0", []string{"empty key pattern"}},
		{"pattern after allkeys", user("a", `["a*"]`, "+get allkeys ~b"), "valkey.users.0.commands", []string{"~b (rule 3) comes after allkeys (rule 2)"}},
		{"channel after all channels", `valkey: users: [{username: "a", password: "service-secret-0123", keyPatterns: ["a*"], channelPatterns: ["*"], commands: "+get &x"}]`, "valkey.users.0.commands", []string{"&x (rule 2) comes after &* (channelPatterns.0)"}},
		{"unknown command", user("a", `["a*"]`, "+get +flushd"), "valkey.users.0.commands", []string{"+flushd (rule 2): FLUSHD is not a command", "did you mean FLUSHDB?"}},
		{"unknown category", user("a", `["a*"]`, "+@raed"), "valkey.users.0.commands", []string{"+@raed (rule 1): @raed is not a category"}},
		{"bad token", user("a", `["a*"]`, "+get get"), "valkey.users.0.commands", []string{"get (rule 2): not an ACL rule"}},
		{"password", user("a", `["a*"]`, "+get >hunter2-secret"), "valkey.users.0.commands", []string{">… (rule 2): passwords are not set in commands"}},
		{"nopass", user("a", `["a*"]`, "nopass +get"), "valkey.users.0.commands", []string{"nopass (rule 1): passwords are not set"}},
		{"hash", user("a", `["a*"]`, "+get #"+strings.Repeat("0", 64)), "valkey.users.0.commands", []string{"#… (rule 2): passwords"}},
		{"on", user("a", `["a*"]`, "on +get"), "valkey.users.0.commands", []string{"on (rule 1): immich-render switches every user on"}},
		{"off", user("a", `["a*"]`, "+get off"), "valkey.users.0.commands", []string{"off (rule 2)"}},
		{"reset", user("a", `["a*"]`, "reset +get"), "valkey.users.0.commands", []string{"reset (rule 1): every user line already starts with reset"}},
		{"selector", user("a", `["a*"]`, "+get (~b* +set)"), "valkey.users.0.commands", []string{"(~b* +set) (rule 2): selectors"}},
		{"first arg", user("a", `["a*"]`, "+get +select|0"), "valkey.users.0.commands", []string{"+select|0 (rule 2): first-argument rules"}},
		{"skip sanitize", user("a", `["a*"]`, "+get skip-sanitize-payload"), "valkey.users.0.commands", []string{"RESTORE"}},
		{"reserved name", user("default", `["a*"]`, "+get"), "valkey.users.0.username", nil},
		{"reserved name in caps", user("DEFAULT", `["a*"]`, "+get"), "valkey.users.0.username", nil},
		{"immich name", user("immich", `["a*"]`, "+get"), "valkey.users.0.username", []string{"immich is already the Immich user (immich.valkey.user)"}},
		{"bad name", user("a b", `["a*"]`, "+get"), "valkey.users.0.username", nil},
		{"immich rules refuse Lua", `immich: valkey: commands: "&* +@read +@write -@dangerous"`, "immich.valkey.commands", []string{"refuse EVAL and EVALSHA"}},
		{"immich keys miss the queues", `immich: valkey: keyPatterns: ["immich_channel*"]`, "immich.valkey.keyPatterns", []string{"no key pattern covers immich_bull:"}},
		{"immich seed-like all keys", `immich: valkey: keyPatterns: ["*"]`, "immich.valkey.keyPatterns.0", []string{"matches every key"}},
		{"immich empty commands", `immich: valkey: commands: ""`, "immich.valkey.commands", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := problems(t, c.extra)
			if p := find(ps, c.path, c.want...); p == nil {
				t.Errorf("no problem at %s containing %q; got:\n%v", c.path, c.want, ps)
			} else if len(p.Pos) == 0 {
				t.Errorf("problem without a position: %v", p)
			}
			if strings.Contains(ps.Error(), "hunter2-secret") {
				t.Errorf("a message shows the password:\n%v", ps)
			}
		})
	}
}

func TestValkeyUserNames(t *testing.T) {
	two := `valkey: users: [
	{username: "svc", password: "service-secret-0123", keyPatterns: ["a*"], commands: "+get"},
	{username: "svc", password: "service-secret-0123", keyPatterns: ["b*"], commands: "+get"},
	{username: "Svc", password: "service-secret-0123", keyPatterns: ["c*"], commands: "+get"},
]`
	ps := problems(t, two)
	if find(ps, "valkey.users.1.username", "svc is already the user of valkey.users.0") == nil ||
		find(ps, "valkey.users.2.username", "Svc differs only in case from the user of valkey.users.0") == nil {
		t.Errorf("duplicate names not refused as expected:\n%v", ps)
	}
	if find(ps, "valkey.users.0.username") != nil {
		t.Errorf("the first user of a name is blamed:\n%v", ps)
	}
	ps = problems(t, `valkey: users: [
	{username: "Svc", password: "service-secret-0123", keyPatterns: ["a*"], commands: "+get"},
	{username: "svc", password: "service-secret-0123", keyPatterns: ["b*"], commands: "+get"},
]`)
	if find(ps, "valkey.users.1.username", "svc differs only in case from the user of valkey.users.0") == nil {
		t.Errorf("a name differing in case not refused as expected:\n%v", ps)
	}
}

// Rules that name the dangerous commands they grant pass, as do
// category-only rules in an order that works.
func TestValkeyUserRulesPass(t *testing.T) {
	for _, rules := range []string{
		"+@read +@write -@dangerous",
		"+@read -@dangerous +keys +info",
		"-@all +get +set +del +expire",
		"+@read +@write -@dangerous +client",
		"&svc:* +@pubsub +@read -@dangerous",
		"+@hash +@string -@dangerous %R~shared:* sanitize-payload",
		"nocommands +@read -@dangerous",
	} {
		if ps := problems(t, user("svc", `["svc*"]`, rules)); ps != nil {
			t.Errorf("rules %q refused:\n%v", rules, ps)
		}
	}
}
