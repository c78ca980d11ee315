package valkeyacl_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/valkeyacl"
	"github.com/immich-render/immich-render/internal/valkeytest"
)

// These tests are an external package because testenv imports schema,
// which imports valkeyacl.

const seedRules = "&* -@dangerous +@read +@write +@pubsub +select +auth +ping +info +eval +evalsha"

// servers are the real consumers: valkey-server 8, whose COMMAND INFO
// commands.json holds, and Debian 12's redis-server 7.0, which lacks the
// commands Valkey added and must agree on every one it has.
var servers = []string{"valkey-server", "redis-server"}

// eachServer runs f against a throwaway server of each kind.
func eachServer(t *testing.T, f func(t *testing.T, c *valkeytest.Conn, table bool)) {
	for _, name := range servers {
		t.Run(name, func(t *testing.T) { f(t, startServer(t, name), name == servers[0]) })
	}
}

// startServer starts a throwaway server for the test.
func startServer(t *testing.T, name string) *valkeytest.Conn {
	t.Helper()
	bin := testenv.Binary(t, name)
	s, err := valkeytest.Start(valkeytest.Options{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dryrunArgs builds an ACL DRYRUN command line for a leaf command with
// just enough arguments for its arity.
func dryrunArgs(user string, c *valkeyacl.Command) []string {
	args := append([]string{"ACL", "DRYRUN", user}, strings.Split(c.Name, "|")...)
	n := c.Arity
	if n < 0 {
		n = -n
	}
	for len(args)-3 < n {
		args = append(args, "0")
	}
	return args
}

// ruleCorpus is hand-picked rule strings plus random ones from a fixed
// seed: categories, containers and subcommands granted and revoked in
// every order.
func ruleCorpus(tab *valkeyacl.Table) []string {
	corpus := []string{
		seedRules,
		"&* +@read +@write +@pubsub -@dangerous +select +auth +ping +info +eval +evalsha",
		"-@dangerous +@slow",
		"+@all -@dangerous",
		"+@admin -config",
		"+client -client|kill",
		"+@connection -@dangerous +client|list",
		"-@all +@read -keys +@keyspace",
		"+config|get -@admin +@slow -config",
		"+@dangerous -flushdb",
		"allcommands nocommands +get",
		"+@all",
		"",
	}
	rng := rand.New(rand.NewPCG(3, 7))
	pool := []string{"+@all", "-@all", "allcommands", "nocommands"}
	for _, c := range tab.Categories {
		pool = append(pool, "+@"+c, "-@"+c)
	}
	for _, n := range []string{"config", "config|get", "config|set", "client", "client|kill", "client|list", "acl", "acl|list", "flushdb", "info", "keys", "sort", "get", "eval", "debug", "object", "object|encoding", "memory|usage", "pubsub", "script|flush", "function"} {
		pool = append(pool, "+"+n, "-"+n)
	}
	for range 300 {
		var rules []string
		for range 1 + rng.IntN(8) {
			rules = append(rules, pool[rng.IntN(len(pool))])
		}
		corpus = append(corpus, strings.Join(rules, " "))
	}
	return corpus
}

// TestEvaluateMatchesServer checks Evaluate against real servers: for
// every rule string of the corpus and every command and subcommand, ACL
// DRYRUN must allow exactly what Allowed allows. On a server other than
// the table's, a command it does not know (or counts arguments of
// differently) is left out.
func TestEvaluateMatchesServer(t *testing.T) { eachServer(t, evaluateMatchesServer) }

func evaluateMatchesServer(t *testing.T, c *valkeytest.Conn, table bool) {
	unknown := map[string]bool{}
	tab := valkeyacl.Commands()
	leaves := tab.Leaves()
	if !table {
		leaves = sameCategories(t, c, tab, leaves, unknown)
	}
	for _, rules := range ruleCorpus(tab) {
		rs, errs := tab.Parse(valkeyacl.Split(rules))
		if len(errs) > 0 {
			t.Fatalf("Parse(%q): %v", rules, errs)
		}
		p, errs := tab.Evaluate(rs)
		if len(errs) > 0 {
			t.Fatalf("Evaluate(%q): %v", rules, errs)
		}
		if r, err := c.Do(append([]string{"ACL", "SETUSER", "t", "reset", "resetchannels"}, valkeyacl.Split(rules)...)...); err != nil || r != "OK" {
			t.Fatalf("ACL SETUSER t %s: %v %v", rules, r, err)
		}
		for _, n := range leaves {
			c.Send(dryrunArgs("t", tab.Lookup(n))...)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		var diffs []string
		for _, n := range leaves {
			r, err := c.Receive()
			if err != nil {
				t.Fatal(err)
			}
			var server bool
			switch r := r.(type) {
			case string:
				server = r == "OK" || !strings.Contains(r, "no permissions to run")
			case valkeytest.Error:
				if !table && (strings.Contains(string(r), "nknown") || strings.Contains(string(r), "not found") || strings.Contains(string(r), "wrong number of arguments")) {
					unknown[n] = true
					continue
				}
				t.Fatalf("ACL DRYRUN t %s after %q: %v", n, rules, r)
			}
			if server != p.Allowed(n) {
				diffs = append(diffs, fmt.Sprintf("%s (server %v)", n, server))
			}
		}
		if diffs != nil {
			t.Errorf("rules %q: Evaluate and the server disagree on %s", rules, strings.Join(diffs, ", "))
		}
	}
	if len(unknown) > 0 {
		names := slices.Sorted(maps.Keys(unknown))
		t.Logf("%d of %d commands left out, unknown to this server or in other categories: %s", len(names), len(tab.Leaves()), strings.Join(names, ", "))
		if len(names) > len(leaves)/10 {
			t.Errorf("the server knows too few of the table's commands (%d left out of %d)", len(names), len(leaves))
		}
	}
}

// sameCategories leaves out the top-level commands whose ACL categories
// on this server differ from the table's (WAIT is @blocking only since
// Valkey 8), recording them in differ.
func sameCategories(t *testing.T, c *valkeytest.Conn, tab *valkeyacl.Table, leaves []string, differ map[string]bool) []string {
	t.Helper()
	var kept []string
	for _, n := range leaves {
		if strings.Contains(n, "|") {
			kept = append(kept, n)
			continue
		}
		r, err := c.Do("COMMAND", "INFO", n)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := r.([]any)
		entry, _ := info[0].([]any) // nil: unknown here
		if len(entry) < 7 {
			differ[n] = true
			continue
		}
		var cats []string
		for _, c := range entry[6].([]any) {
			cats = append(cats, strings.TrimPrefix(c.(string), "@"))
		}
		if !slices.Equal(slices.Sorted(slices.Values(cats)), slices.Sorted(slices.Values(tab.Lookup(n).Categories))) {
			differ[n] = true
			continue
		}
		kept = append(kept, n)
	}
	return kept
}

// TestParseMatchesServer checks that what Parse and Evaluate accept, the
// server accepts, and what the server refuses, they refuse. (<pw is left
// out: whether the server accepts it depends on the user's passwords.)
func TestParseMatchesServer(t *testing.T) { eachServer(t, parseMatchesServer) }

func parseMatchesServer(t *testing.T, c *valkeytest.Conn, _ bool) {
	tab := valkeyacl.Commands()
	for _, rules := range []string{
		"+get", "+GET", "+flushd", "+@dangerus", "+@DANGEROUS", "+config|get", "+config|sett", "+config|get|x",
		"+config|", "-config|get", "-select|0", "+select|0", "+debug|object", "-@all", "nocommands", "allcommands",
		"~a ~b", "~* ~a", "~a ~*", "allkeys ~a", "resetkeys ~* resetkeys ~a", "%R~a", "%W~a", "%RW~a", "%WR~a",
		"%X~a", "%R~", "%~a", "%RR~a", "&a &b", "&* &a", "&a &*", "allchannels &a", "&* resetchannels &a",
		"get", "+", "-", "+@", "(~a +get)", "(~a +get", "~a (+get) +set", "#abc",
		"#" + strings.Repeat("ab", 32), "#" + strings.Repeat("AB", 32), ">pw", "on", "off", "reset",
		"nopass", "resetpass", "clearselectors", "sanitize-payload", "skip-sanitize-payload", "ON", "Allkeys",
	} {
		words := valkeyacl.Split(rules)
		rs, perrs := tab.Parse(words)
		ours := len(perrs) == 0
		if ours {
			_, eerrs := tab.Evaluate(rs)
			for _, e := range eerrs {
				ours = ours && e.Unsupported
			}
		}
		r, err := c.Do(append([]string{"ACL", "SETUSER", "p", "reset", "resetchannels"}, words...)...)
		if err != nil {
			t.Fatal(err)
		}
		server := r == "OK"
		if ours != server {
			t.Errorf("rules %q: we accept = %v, server accepts = %v (%v; ours %v)", rules, ours, server, r, perrs)
		}
	}
}

// TestMatchMatchesServer checks the glob matcher against the server's
// key-permission checks. (~* is left out: the server reads it as
// allkeys, which matches even the empty key name, without globbing.)
func TestMatchMatchesServer(t *testing.T) { eachServer(t, matchMatchesServer) }

func matchMatchesServer(t *testing.T, c *valkeytest.Conn, _ bool) {
	patterns := []string{"immich_bull*", "a?c", "[abc]x", "[^abc]x", "[a-c]x", "[c-a]x", "a\\*", "[\\]]", "[ab",
		"**x", "a*b*c", "**", "?*", "*?", "\\", "[", "x[^]", "a[", "[a-]x", "é*", "\xff?"}
	keys := slices.Concat([]string{"a", "Z", "0", "_", ":", "-", ".", "/", "*", "?", "[", "]", "\\", "^", "~", "&", "%",
		"x y", "é", "\xff", "\x00", "immich_bull:thumbnail:wait", "paperless:session:1"}, []string{"", "abc", "ac", "bx", "dx", "a*", "ab", "]", "yyx", "aXXbYYc", "aXXbYY",
		"immich_bull", "immich_bul", "-x", "x^", "a[", "éa", "\xffa"})
	for _, pat := range patterns {
		if r, err := c.Do("ACL", "SETUSER", "k", "reset", "+get", "~"+pat); err != nil || r != "OK" {
			t.Fatalf("ACL SETUSER k ~%s: %v %v", pat, r, err)
		}
		for _, key := range keys {
			r, err := c.Do("ACL", "DRYRUN", "k", "get", key)
			if err != nil {
				t.Fatal(err)
			}
			if server := r == "OK"; server != valkeyacl.Match(pat, key) {
				t.Errorf("valkeyacl.Match(%q, %q) = %v, server %v (%v)", pat, key, !server, server, r)
			}
		}
	}
}
