package schema

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/immich-render/immich-render/internal/valkeyacl"
)

// ImmichValkeyDefaultCommands are the Immich user's ACL rules when
// immich.valkey.commands is unset. They grant the seed role's intent (all
// channels, @read, @write, @pubsub, SELECT, AUTH, PING, INFO, EVAL,
// EVALSHA) in an order that works left to right: -@dangerous comes after
// the categories that would otherwise re-grant FLUSHDB, FLUSHALL, SWAPDB,
// KEYS, SORT, MIGRATE and RESTORE, and +info after -@dangerous, which also
// removes INFO (BullMQ reads the server version from it). CLIENT SETNAME,
// and no other CLIENT subcommand, because BullMQ names every connection it
// opens: refused, the client goes on, but the server's ACL LOG records
// each refusal and the one that matters drowns in them.
const ImmichValkeyDefaultCommands = "&* +@read +@write +@pubsub -@dangerous +select +auth +ping +info +eval +evalsha +client|setname +client|setinfo"

// immichQueueKey is a key of Immich's job queues: BullMQ with the prefix
// immich_bull. The Immich user's key patterns must cover it.
const immichQueueKey = "immich_bull:thumbnailGeneration:1"

// Rules returns the Immich user's ACL rules: its own, or the default.
func (v ImmichValkey) Rules() string { return cmp.Or(v.Commands, ImmichValkeyDefaultCommands) }

// serviceUser is a Valkey user other than default, as checkValkey sees it.
type serviceUser struct {
	path            string // "immich.valkey" or "valkey.users.N"
	keyPatterns     []string
	channelPatterns []string
	commands        string // the rules as given; "" when the default applies
	immich          bool
}

// checkValkey applies the Valkey ACL rules that need the command table:
// user names are unique, and no service user may effectively gain every
// command, every key or a @dangerous command it did not name. Rules are
// evaluated left to right over the command table of a real server, so a
// rule string that reads safely but re-grants what it removed is caught.
func checkValkey(c *Config, at locator) Problems {
	var ps Problems
	add := func(path, reason, hint string) {
		ps = append(ps, ProblemAt(splitPath(path), KindInvalid, reason, hint, at(splitPath(path))...))
	}

	// One line per user: Valkey refuses a file that names a user twice,
	// and names that differ only in case are two users easy to mix up.
	owners := map[string]string{"default": "the admin user (valkey.adminPassword)"} // by lowercase name
	exact := map[string]bool{"default": true}
	claim := func(path, name, owner string) {
		key := strings.ToLower(name)
		if prev, taken := owners[key]; taken {
			how := "is already"
			if !exact[name] {
				how = "differs only in case from"
			}
			add(path, fmt.Sprintf("%s %s %s; every Valkey user needs its own name", name, how, prev), "a user name no other Valkey user has")
			return
		}
		owners[key], exact[name] = owner, true
	}
	claim("immich.valkey.user", c.Immich.Valkey.User, "the Immich user (immich.valkey.user)")
	for i, u := range c.Valkey.Users {
		claim(fmt.Sprintf("valkey.users.%d.username", i), u.Username, fmt.Sprintf("the user of valkey.users.%d", i))
	}

	// A password that never got resolved would render as the hash of "",
	// a password anyone can guess. Secret resolution must not miss one.
	for _, ns := range c.Secrets() {
		if strings.HasPrefix(ns.Path, "valkey.") || strings.HasPrefix(ns.Path, "immich.valkey.") {
			if !ns.Secret.Unresolved && (ns.Secret.Source == "" || checkSecret(ns.Secret.Value) != "") {
				add(ns.Path, "internal error: this secret was not resolved or not checked (an immich-render bug; please report it)", "")
			}
		}
	}

	users := []serviceUser{{
		path:        "immich.valkey",
		keyPatterns: c.Immich.Valkey.KeyPatterns,
		commands:    c.Immich.Valkey.Commands,
		immich:      true,
	}}
	for i, u := range c.Valkey.Users {
		users = append(users, serviceUser{
			path:            fmt.Sprintf("valkey.users.%d", i),
			keyPatterns:     u.KeyPatterns,
			channelPatterns: u.ChannelPatterns,
			commands:        u.Commands,
		})
	}
	for _, u := range users {
		for _, f := range checkServiceUserOnce(u) {
			add(f.path, f.reason, f.hint)
		}
	}
	return ps
}

// finding is one problem checkServiceUser found, before it has positions.
type finding struct{ path, reason, hint string }

// serviceUserMemo holds checkServiceUser's findings by user: a fleet's
// hosts mostly share their Valkey users, and evaluating a user's rules
// over the command table costs ~0.2 ms. The findings are a function of
// the user alone; positions are added per host, by the caller. At most
// maxServiceUserMemo users are kept, so a hostile fleet cannot grow it
// without bound.
var serviceUserMemo = struct {
	sync.Mutex
	m map[string][]finding
}{m: map[string][]finding{}}

const maxServiceUserMemo = 1024

// defaultImmichUser is Immich's Valkey user as most configurations leave
// it: the default key patterns and rules. It has no findings
// (TestDefaultImmichUserSeeded), which the memo holds from the start: its
// evaluation was 0.4 ms, a twentieth of a single site's render.
var defaultImmichUser = serviceUser{path: "immich.valkey", keyPatterns: immichKeyPatterns, immich: true}

func init() { serviceUserMemo.m[serviceUserKey(defaultImmichUser)] = nil }

// serviceUserKey is u's key in serviceUserMemo: everything its findings
// depend on.
func serviceUserKey(u serviceUser) string {
	var key strings.Builder
	for _, s := range append(append([]string{u.path, u.commands, strconv.FormatBool(u.immich), strconv.Itoa(len(u.keyPatterns))}, u.keyPatterns...), u.channelPatterns...) {
		key.WriteString(strconv.Quote(s))
	}
	return key.String()
}

// checkServiceUserOnce is checkServiceUser through serviceUserMemo.
func checkServiceUserOnce(u serviceUser) []finding {
	k := serviceUserKey(u)
	serviceUserMemo.Lock()
	fs, ok := serviceUserMemo.m[k]
	serviceUserMemo.Unlock()
	if ok {
		return fs
	}
	checkServiceUser(u, func(path, reason, hint string) { fs = append(fs, finding{path, reason, hint}) })
	serviceUserMemo.Lock()
	if len(serviceUserMemo.m) < maxServiceUserMemo {
		serviceUserMemo.m[k] = fs
	}
	serviceUserMemo.Unlock()
	return fs
}

// origin is where an evaluated rule came from, for messages.
type origin struct {
	path  string // config path of the field
	label string // "+@write (rule 3)" or "~foo* (keyPatterns.0)"
	text  string // the rule as written
}

// checkServiceUser checks one user's patterns and rules, and what they
// grant together.
func checkServiceUser(u serviceUser, add func(path, reason, hint string)) {
	tab := valkeyacl.Commands()
	rules := u.commands
	if u.immich && rules == "" {
		rules = ImmichValkeyDefaultCommands
	}
	cmdPath := u.path + ".commands"

	// The user's line is "reset resetchannels on #hash", then one rule per
	// key pattern and channel pattern, then the rule string.
	var texts []string
	var from []origin
	patternsOK := true
	for _, f := range []struct {
		field, prefix, what string
		patterns            []string
	}{{"keyPatterns", "~", "key", u.keyPatterns}, {"channelPatterns", "&", "channel", u.channelPatterns}} {
		for i, p := range f.patterns {
			path := fmt.Sprintf("%s.%s.%d", u.path, f.field, i)
			switch {
			case p == "":
				add(path, "an empty "+f.what+" pattern matches nothing", "a pattern such as \"paperless*\"")
				patternsOK = false
				continue
			case strings.IndexFunc(p, unicode.IsSpace) >= 0:
				add(path, fmt.Sprintf("%q contains white space; Valkey would split it into two rules", p), "a pattern without white space")
				patternsOK = false
				continue
			case strings.IndexFunc(p, unicode.IsControl) >= 0:
				add(path, fmt.Sprintf("%q contains a control character, which a users.acl line cannot carry", p), "a pattern of printable characters")
				patternsOK = false
				continue
			case f.what == "key" && valkeyacl.Universal(p):
				add(path, fmt.Sprintf("%q matches every key, like ~*: this user could read and change every other service's data", p), "a prefix of this service's own keys, such as \"paperless*\"")
			}
			texts = append(texts, f.prefix+p)
			from = append(from, origin{path: path, label: fmt.Sprintf("%s%s (%s.%d)", f.prefix, p, f.field, i), text: f.prefix + p})
		}
	}

	words := valkeyacl.Split(rules)
	parsed := make([]valkeyacl.Rule, 0, len(words))
	ok := patternsOK
	for i, w := range words {
		r, err := tab.ParseRule(w)
		if err != nil {
			add(cmdPath, fmt.Sprintf("%s (rule %d): %s", shown(w), i+1, err.(*valkeyacl.Error).Msg), "")
			ok = false
			continue
		}
		if reason, hint := refused(r); reason != "" {
			add(cmdPath, fmt.Sprintf("%s (rule %d): %s", shown(w), i+1, reason), hint)
			ok = false
		}
		parsed = append(parsed, r)
	}
	if !ok {
		return // evaluating rules that are wrong on their own would only add noise
	}
	for i, w := range words {
		texts = append(texts, w)
		from = append(from, origin{path: cmdPath, label: fmt.Sprintf("%s (rule %d)", w, i+1), text: w})
	}
	all, _ := tab.Parse(texts)
	perms, errs := tab.Evaluate(all)
	for _, e := range errs {
		o := from[e.Index]
		if e.Conflict >= 0 {
			c := from[e.Conflict]
			add(o.path, fmt.Sprintf("%s comes after %s, which already grants every key or channel; the server refuses a pattern there and would not start", o.label, c.label), "remove one of the two, or put resetkeys (resetchannels for channels) between them")
			continue
		}
		add(o.path, fmt.Sprintf("%s: %s", o.label, e.Msg), "")
	}
	if len(errs) > 0 {
		return
	}

	if perms.AllCommands() {
		add(cmdPath, "these rules grant every command, like +@all, including FLUSHALL, CONFIG and SHUTDOWN", "the categories and commands this service needs, such as \"+@read +@write -@dangerous\"")
	} else if reason := regrants(tab, perms, from, cmdPath); reason != "" {
		hint := "name each dangerous command this service really needs after -@dangerous, such as \"+@read +@write -@dangerous +info\""
		if fixed := reorder(parsed); fixed != rules && cleanRules(tab, texts[:len(texts)-len(words)], fixed) {
			hint = fmt.Sprintf("the same rules in an order that keeps them refused: %q", fixed)
		}
		add(cmdPath, reason, hint)
	}
	keys, allKeys := perms.Keys()
	if allKeys >= 0 {
		o := from[allKeys]
		add(o.path, o.label+" grants every key: this user could read and change every other service's data", "key patterns for this service's own keys, such as \"paperless*\" in keyPatterns")
	}
	for _, k := range keys {
		if o := from[k.Rule]; o.path == cmdPath && valkeyacl.Universal(k.Pattern) {
			add(o.path, o.label+" matches every key, like ~*: this user could read and change every other service's data", "key patterns for this service's own keys, such as \"paperless*\" in keyPatterns")
		}
	}

	if u.immich {
		if !perms.KeyAllowed(immichQueueKey) {
			add(u.path+".keyPatterns", fmt.Sprintf("no key pattern covers %s: Immich's job queues (BullMQ) keep their keys under immich_bull", immichQueueKey), "keep \"immich_bull*\" among the key patterns")
		}
		var missing []string
		for _, need := range []string{"eval", "evalsha"} {
			if !perms.Allowed(need) {
				missing = append(missing, strings.ToUpper(need))
			}
		}
		if missing != nil {
			add(cmdPath, fmt.Sprintf("these rules refuse %s, which Immich's job queues (BullMQ) need for their Lua scripts", strings.Join(missing, " and ")), "add +eval +evalsha at the end, or leave commands out for the default")
		}
	}
}

// refused says why a rule that the server accepts does not belong in a
// service user's commands, or "".
func refused(r valkeyacl.Rule) (reason, hint string) {
	switch r.Kind {
	case valkeyacl.UserRule:
		switch r.Name {
		case ">", "<", "#", "!", "nopass", "resetpass":
			return "passwords are not set in commands; immich-render writes the password field's SHA-256 hash", "remove this rule and set the password field"
		case "on", "off":
			return "immich-render switches every user on; a service that should not log in needs no entry", "remove this rule"
		case "reset", "clearselectors":
			return "every user line already starts with reset; another one here would throw away the key patterns and rules before it", "remove this rule"
		case "skip-sanitize-payload":
			return "lets RESTORE load payloads the server does not check", "remove this rule"
		}
	case valkeyacl.SelectorRule:
		return "selectors grant permissions beside the user's own, and immich-render cannot check what they grant", "give this service the rules it needs directly, or a second user"
	case valkeyacl.FirstArgRule:
		return "first-argument rules (such as +select|0) are deprecated and immich-render cannot check what they grant", "+" + strings.SplitN(r.Name, "|", 2)[0] + " for the whole command"
	case valkeyacl.KeyRule:
		if r.Name == "" {
			return "an empty key pattern matches nothing", "a pattern such as ~paperless*"
		}
	case valkeyacl.ChannelRule:
		if r.Name == "" {
			return "an empty channel pattern matches nothing", "a pattern such as &paperless*"
		}
	}
	return "", ""
}

// shown is a rule as messages may show it: a password rule shows only its
// first character, so that an error never prints a password.
func shown(rule string) string {
	if rule != "" && strings.ContainsRune("><#!", rune(rule[0])) {
		return rule[:1] + "…"
	}
	return rule
}

// regrants describes the @dangerous commands the user gets without naming
// them, and which rule brought each back, or returns "".
func regrants(tab *valkeyacl.Table, perms *valkeyacl.Perms, from []origin, cmdPath string) string {
	type key struct{ grant, undid int }
	groups := map[key][]string{}
	for _, n := range perms.Commands() {
		c := tab.Lookup(n)
		g, _ := perms.Grant(n)
		if !c.Dangerous() || g.Named || c.NoAuth() {
			continue
		}
		k := key{g.Rule, g.Undid}
		groups[k] = append(groups[k], c.Display())
	}
	if len(groups) == 0 {
		return ""
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.undid, b.undid), cmp.Compare(a.grant, b.grant)) })

	var clauses []string
	for i := 0; i < len(keys); {
		undid := keys[i].undid
		var parts []string
		last := -1
		for ; i < len(keys) && keys[i].undid == undid; i++ {
			k := keys[i]
			verb := "grants"
			if undid >= 0 {
				verb = "re-grants"
			}
			parts = append(parts, fmt.Sprintf("%s %s %s", from[k.grant].label, verb, list(groups[k])))
			last = k.grant
		}
		if undid >= 0 {
			clauses = append(clauses, fmt.Sprintf("%s, which %s removed; put %s after %s",
				strings.Join(parts, " and "), from[undid].label, from[undid].text, from[last].text))
		} else {
			clauses = append(clauses, fmt.Sprintf("%s without naming them, and they are @dangerous; add -@dangerous after %s",
				strings.Join(parts, " and "), from[last].text))
		}
	}
	return strings.Join(clauses, "; ")
}

// list shows up to ten command names, the best known harms first.
func list(names []string) string {
	rank := func(n string) int {
		if i := slices.Index(notorious, n); i >= 0 {
			return i
		}
		return len(notorious)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b)) })
	if len(names) > 10 {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:10], ", "), len(names)-10)
	}
	return strings.Join(names, ", ")
}

// notorious are the @dangerous commands an operator recognises first.
var notorious = []string{
	"FLUSHDB", "FLUSHALL", "SWAPDB", "KEYS", "SORT", "SORT_RO", "CONFIG|SET", "CONFIG|GET", "SHUTDOWN",
	"ACL|SETUSER", "ACL|LIST", "MONITOR", "DEBUG", "MIGRATE", "RESTORE", "RESTORE-ASKING", "REPLICAOF",
	"SLAVEOF", "MODULE|LOAD", "CLIENT|KILL",
}

// reorder suggests the same rules in an order that works left to right:
// pattern rules first, then -@all, category grants, category denials,
// and single commands last, each group in its written order.
func reorder(rules []valkeyacl.Rule) string {
	rank := func(r valkeyacl.Rule) int {
		switch {
		case r.Kind != valkeyacl.CategoryRule && r.Kind != valkeyacl.CommandRule:
			return 0
		case r.Kind == valkeyacl.CategoryRule && r.Name == "all" && !r.Allow:
			return 1
		case r.Kind == valkeyacl.CategoryRule && r.Allow:
			return 2
		case r.Kind == valkeyacl.CategoryRule:
			return 3
		}
		return 4
	}
	sorted := slices.Clone(rules)
	slices.SortStableFunc(sorted, func(a, b valkeyacl.Rule) int { return cmp.Compare(rank(a), rank(b)) })
	texts := make([]string, len(sorted))
	for i, r := range sorted {
		texts[i] = r.Text
	}
	return strings.Join(texts, " ")
}

// cleanRules reports whether rules, after the pattern rules before them,
// grant neither every command nor an unnamed @dangerous command.
func cleanRules(tab *valkeyacl.Table, before []string, rules string) bool {
	rs, errs := tab.Parse(append(slices.Clone(before), valkeyacl.Split(rules)...))
	if len(errs) > 0 {
		return false
	}
	p, evalErrs := tab.Evaluate(rs)
	if len(evalErrs) > 0 || p.AllCommands() {
		return false
	}
	for _, n := range p.Commands() {
		if g, _ := p.Grant(n); tab.Lookup(n).Dangerous() && !g.Named {
			return false
		}
	}
	return true
}
