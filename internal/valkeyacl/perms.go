package valkeyacl

import "slices"

// Perms is what a list of rules effectively grants, evaluated left to
// right from a user without permissions (the state after "reset
// resetchannels"), the way the server applies them.
type Perms struct {
	t        *Table
	cmds     map[string]*cmdState
	keys     []Pattern
	allKeys  int // index of the rule that granted all keys, or -1
	channels []Pattern
	allChans int // index of the rule that granted all channels, or -1
}

// Pattern is a key or channel pattern and the rule that added it.
type Pattern struct {
	Pattern string
	Perm    string // keys: "RW", "R" or "W"; channels: ""
	Rule    int
}

type cmdState struct {
	allowed    bool
	grant      int  // the rule that last allowed it, or -1
	undid      int  // the rule whose denial that grant undid, or -1
	lastRevoke int  // the last rule that denied it, other than -@all, or -1
	named      bool // a +command rule named it (or its container)
}

// Grant says how a command came to be allowed.
type Grant struct {
	Rule  int  // index of the rule that last allowed it
	Undid int  // index of an earlier rule that denied it and that Rule undid, or -1
	Named bool // some +command rule named it (or its container command)
}

// Evaluate applies rules in order. Rules that cannot be evaluated
// (selectors, first-argument rules) and rules the server would refuse in
// that position (a pattern after allkeys or allchannels) are Errors; the
// rest are still applied, so one mistake does not hide the next.
func (t *Table) Evaluate(rules []Rule) (*Perms, []*Error) {
	p := &Perms{t: t, cmds: map[string]*cmdState{}, allKeys: -1, allChans: -1}
	for _, n := range t.names {
		p.cmds[n] = &cmdState{grant: -1, undid: -1, lastRevoke: -1}
	}
	var errs []*Error
	conflict := func(i, with int, msg string) {
		errs = append(errs, &Error{Index: i, Rule: rules[i].Text, Msg: msg, Conflict: with})
	}
	unsupported := func(i int, msg string) {
		errs = append(errs, &Error{Index: i, Rule: rules[i].Text, Msg: msg, Unsupported: true, Conflict: -1})
	}
	for i, r := range rules {
		switch r.Kind {
		case CommandRule:
			p.changeCommand(t.Lookup(r.Name), r.Allow, i, true)
		case CategoryRule:
			p.changeCategory(r.Name, r.Allow, i)
		case FirstArgRule:
			unsupported(i, "first-argument rules (such as +select|0) are deprecated and immich-render cannot check what they grant")
		case SelectorRule:
			unsupported(i, "selectors grant permissions beside the user's own, and immich-render cannot check them")
		case AllKeysRule:
			p.allKeys, p.keys = i, nil
		case ResetKeysRule:
			p.allKeys, p.keys = -1, nil
		case KeyRule:
			if p.allKeys >= 0 {
				conflict(i, p.allKeys, "a key pattern after allkeys (or ~*) is refused by the server; use resetkeys first")
				continue
			}
			p.keys = append(p.keys, Pattern{Pattern: r.Name, Perm: r.Perm, Rule: i})
		case AllChannelsRule:
			p.allChans, p.channels = i, nil
		case ResetChannelsRule:
			p.allChans, p.channels = -1, nil
		case ChannelRule:
			if p.allChans >= 0 {
				conflict(i, p.allChans, "a channel pattern after allchannels (or &*) is refused by the server; use resetchannels first")
				continue
			}
			p.channels = append(p.channels, Pattern{Pattern: r.Name, Rule: i})
		case UserRule:
			if r.Name == "reset" {
				// reset is resetpass resetkeys resetchannels off
				// clearselectors -@all (acl-pubsub-default resetchannels,
				// the default since Redis 7.0).
				p.changeCategory("all", false, i)
				p.allKeys, p.keys, p.allChans, p.channels = -1, nil, -1, nil
			}
		}
	}
	return p, errs
}

// changeCommand sets a command and, for a container, all its
// subcommands (ACLChangeSelectorPerm).
func (p *Perms) changeCommand(c *Command, allow bool, rule int, named bool) {
	p.set(c.Name, allow, rule, named)
	for _, s := range c.subs {
		p.set(s, allow, rule, named)
	}
}

// changeCategory sets every command in a category, walking subcommands
// too: a container in the category changes all of its subcommands, as
// ACLSetSelectorCommandBitsForCategory does (so +@slow re-grants
// CONFIG|SET through CONFIG, which is @slow).
func (p *Perms) changeCategory(cat string, allow bool, rule int) {
	for _, n := range p.t.names {
		c := p.t.byName[n]
		if c.parent != "" {
			continue
		}
		if cat == "all" || c.In(cat) {
			p.changeCommand(c, allow, rule, false)
		}
		for _, s := range c.subs {
			if sc := p.t.byName[s]; cat == "all" || sc.In(cat) {
				p.set(s, allow, rule, false)
			}
		}
	}
	if cat == "all" && !allow {
		for _, st := range p.cmds {
			st.lastRevoke = -1 // a fresh start is not a denial to undo
		}
	}
}

func (p *Perms) set(name string, allow bool, rule int, named bool) {
	st := p.cmds[name]
	if allow {
		if !st.allowed {
			st.undid = st.lastRevoke
		}
		st.allowed, st.grant = true, rule
		st.named = st.named || named
		return
	}
	st.allowed, st.lastRevoke = false, rule
}

// Allowed reports whether the user may run a command ("get",
// "config|get"). Commands the server runs for anyone (AUTH, HELLO) are
// always allowed.
func (p *Perms) Allowed(name string) bool {
	c := p.t.Lookup(name)
	if c == nil {
		return false
	}
	return c.NoAuth() || p.cmds[c.Name].allowed
}

// Grant says how an allowed command was granted; ok is false if the
// command is not allowed by the rules.
func (p *Perms) Grant(name string) (g Grant, ok bool) {
	c := p.t.Lookup(name)
	if c == nil || !p.cmds[c.Name].allowed {
		return Grant{}, false
	}
	st := p.cmds[c.Name]
	return Grant{Rule: st.grant, Undid: st.undid, Named: st.named}, true
}

// Commands lists the allowed commands clients run (leaves), sorted.
func (p *Perms) Commands() []string {
	var out []string
	for _, n := range p.t.Leaves() {
		if p.Allowed(n) {
			out = append(out, n)
		}
	}
	return out
}

// AllCommands reports whether every command is allowed, as with +@all.
func (p *Perms) AllCommands() bool {
	for _, n := range p.t.Leaves() {
		if !p.Allowed(n) {
			return false
		}
	}
	return true
}

// Keys returns the key patterns, and the index of the rule that granted
// every key (allkeys, ~*), or -1.
func (p *Perms) Keys() ([]Pattern, int) { return slices.Clone(p.keys), p.allKeys }

// Channels returns the channel patterns, and the index of the rule that
// granted every channel (allchannels, &*), or -1.
func (p *Perms) Channels() ([]Pattern, int) { return slices.Clone(p.channels), p.allChans }

// KeyAllowed reports whether some key rule lets the user at key (with
// any permission).
func (p *Perms) KeyAllowed(key string) bool {
	if p.allKeys >= 0 {
		return true
	}
	for _, k := range p.keys {
		if Match(k.Pattern, key) {
			return true
		}
	}
	return false
}
