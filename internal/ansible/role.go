package ansible

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/immich-render/immich-render/internal/valkeyacl"
	"github.com/immich-render/immich-render/schema"
)

// field is one configuration field the import sets, with where its value
// came from (the comment in the CUE file).
type field struct {
	path  string // "immich.postgres.password"
	value any    // string, int64, bool, envRef, []string or []object
	from  string // "immich_port at group_vars/all.yml:3"
}

// envRef is a secret: {env: NAME} in the configuration.
type envRef struct{ Name string }

// object is a list element with its own commented fields (valkey.users).
type object []field

// hostImport is what one host's variables give.
type hostImport struct {
	name     string // the immich-render host name
	invName  string // the inventory host name
	fields   []field
	secrets  map[string]string // env name -> value
	warnings []string
	todo     []string       // values left for the user, for the file's header
	resolved map[string]any // role variable -> value used, for the oracle test
	problems schema.Problems
}

// scalar role variables and where they go.
var scalarVars = []struct {
	name, path string
	kind       string // "string", "port", "bool", "secret", "projects"
	env        string
}{
	{"immich_version", "immich.version", "string", ""},
	{"immich_port", "immich.port", "port", ""},
	{"immich_timezone", "immich.timezone", "string", ""},
	{"immich_upload_location", "immich.uploadLocation", "string", ""},
	{"podman_projects_dir", "immich.projectDir", "projects", ""},
	{"podman_subnet_gateway", "immich.hostGateway", "string", ""},
	{"immich_postgres_password", "immich.postgres.password", "secret", "IMMICH_POSTGRES_PASSWORD"},
	{"immich_valkey_password", "immich.valkey.password", "secret", "IMMICH_VALKEY_PASSWORD"},
	{"immich_nginx_enabled", "immich.nginx.enabled", "bool", ""},
	{"immich_nginx_hostname", "immich.nginx.hostname", "string", ""},
	{"acme_email", "immich.nginx.acme.email", "string", ""},
	{"valkey_admin_password", "valkey.adminPassword", "secret", "VALKEY_ADMIN_PASSWORD"},
}

// secretVars hold passwords: their text never appears in a message.
var secretVars = []string{"immich_postgres_password", "immich_valkey_password", "valkey_admin_password", "valkey_acl_users"}

// Network variables of the role: immich_network_name names the entry of
// podman_external_networks that Immich joins.
var networkVars = []string{"immich_network_name", "immich_network_subnet", "immich_network_gateway"}

// Covered lists every role variable the import understands.
func Covered() []string {
	var out []string
	for _, s := range scalarVars {
		out = append(out, s.name)
	}
	out = append(out, networkVars...)
	return append(out, "podman_external_networks", "valkey_acl_users")
}

// rolePrefixes mark variables of the role and its dependencies that the
// import should know; an unknown one gets its own warning.
var rolePrefixes = []string{"immich_", "podman_", "valkey_", "acme_"}

var ansibleTrue = []string{"yes", "on", "true", "1", "y", "t"}
var ansibleFalse = []string{"no", "off", "false", "0", "n", "f"}

// importHost maps one host's variables onto immich-render's configuration.
func importHost(invName string, groups []string, vars map[string]*Value, vault *Vault) *hostImport {
	hi := &hostImport{invName: invName, secrets: map[string]string{}, resolved: map[string]any{}}
	r := newResolver(invName, groups, vars, vault)

	// get resolves a role variable; a value left to the user is noted and
	// reported as absent.
	get := func(name string) *Value {
		v, err := r.Lookup(name)
		switch {
		case err == nil:
			if v != nil {
				hi.resolved[name] = v.Interface()
			}
			return v
		case isComplex(err):
			c := err.(errComplex)
			if slices.Contains(secretVars, name) {
				// The text may be a password with braces in it: never shown.
				c.Expr = "(not shown: it holds a secret)"
			}
			hi.todo = append(hi.todo, fmt.Sprintf("%s at %s: %s", name, c.Pos, c.Expr))
			hi.warnings = append(hi.warnings, c.Error())
		default:
			if ps := (schema.Problems)(nil); errors.As(err, &ps) {
				hi.problems = append(hi.problems, ps...)
			} else {
				hi.problems = append(hi.problems, problem(vars[name].Pos, name, err.Error()))
			}
		}
		return nil
	}
	bad := func(name string, v *Value, want string) {
		hi.problems = append(hi.problems, problem(v.Pos, name, fmt.Sprintf("is %s; want %s", v.Kind, want)))
	}
	from := func(name string, v *Value) string { return fmt.Sprintf("%s at %s", name, v.Pos) }

	for _, s := range scalarVars {
		v := get(s.name)
		if v == nil {
			continue
		}
		if v.Secret && s.kind != "secret" {
			hi.warnings = append(hi.warnings, fmt.Sprintf("%s: %s is vault-encrypted in the inventory, but %s is not a secret in immich-render: its value is written into %s in clear", v.Pos, s.name, s.path, CUEFile))
		}
		switch s.kind {
		case "string", "projects":
			if v.Kind != String {
				bad(s.name, v, "a string")
				continue
			}
			val := v.Str
			if s.kind == "projects" {
				val = path.Join(val, "immich")
			}
			hi.fields = append(hi.fields, field{s.path, val, from(s.name, v)})
		case "port":
			n, ok := int64(0), false
			switch v.Kind {
			case Int:
				n, ok = v.Int, true
			case String:
				if x, err := strconv.ParseInt(strings.TrimSpace(v.Str), 10, 64); err == nil {
					n, ok = x, true
				}
			}
			if !ok {
				bad(s.name, v, "a port number")
				continue
			}
			hi.fields = append(hi.fields, field{s.path, n, from(s.name, v)})
		case "bool":
			b, ok := false, false
			switch v.Kind {
			case Bool:
				b, ok = v.Bool, true
			case Int:
				b, ok = v.Int != 0, v.Int == 0 || v.Int == 1
			case String:
				l := strings.ToLower(strings.TrimSpace(v.Str))
				b, ok = slices.Contains(ansibleTrue, l), slices.Contains(ansibleTrue, l) || slices.Contains(ansibleFalse, l)
			}
			if !ok {
				bad(s.name, v, "true or false")
				continue
			}
			hi.fields = append(hi.fields, field{s.path, b, from(s.name, v)})
		case "secret":
			pw, ok := secretText(v)
			if !ok {
				bad(s.name, v, "a password string")
				continue
			}
			hi.secrets[s.env] = pw
			hi.fields = append(hi.fields, field{s.path, envRef{s.env}, from(s.name, v)})
		}
	}
	hi.network(get, bad, from)
	hi.acl(get, bad)

	// Unknown variables are listed, never dropped silently.
	known := Covered()
	var others []string
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if slices.Contains(known, name) {
			continue
		}
		role := false
		for _, p := range rolePrefixes {
			role = role || strings.HasPrefix(name, p)
		}
		if role {
			hi.warnings = append(hi.warnings, fmt.Sprintf("%s: %s is not a role variable immich-render knows; not imported", vars[name].Pos, name))
		} else {
			others = append(others, name)
		}
	}
	if len(others) > 0 {
		hi.warnings = append(hi.warnings, fmt.Sprintf("not imported, not variables of the immich role: %s", strings.Join(others, ", ")))
	}
	for _, req := range []string{"immich_version", "immich_upload_location", "immich_postgres_password", "immich_valkey_password", "valkey_admin_password"} {
		if _, fromACL := hi.secrets["IMMICH_VALKEY_PASSWORD"]; req == "immich_valkey_password" && fromACL {
			continue
		}
		if _, set := vars[req]; !set {
			hi.warnings = append(hi.warnings, fmt.Sprintf("host %s: %s is not set in the inventory (the role's defaults/main.yml or the playbook may set it); fill it in", invName, req))
			hi.todo = append(hi.todo, req+": not set in the inventory")
		}
	}
	return hi
}

// secretText accepts a string or a number as a password (Ansible would
// template a number into its text).
func secretText(v *Value) (string, bool) {
	switch v.Kind {
	case String, Int:
		s, _ := v.pyStr()
		return s, true
	}
	return "", false
}

// network maps the Immich network: the entry of podman_external_networks
// named immich_network_name (default immich), else immich_network_*.
func (hi *hostImport) network(get func(string) *Value, bad func(string, *Value, string), from func(string, *Value) string) {
	netName := "immich"
	if v := get("immich_network_name"); v != nil {
		if v.Kind != String {
			bad("immich_network_name", v, "a string")
		} else {
			netName = v.Str
			if netName != "immich" {
				hi.fields = append(hi.fields, field{"immich.network.name", netName, from("immich_network_name", v)})
			}
		}
	}
	set := map[string]bool{}
	if nets := get("podman_external_networks"); nets != nil {
		if nets.Kind != List {
			bad("podman_external_networks", nets, "a list of networks with name, subnet and gateway")
		} else {
			found := false
			for i, n := range nets.List {
				label := fmt.Sprintf("podman_external_networks[%d]", i)
				if n.Kind != Map {
					bad(label, n, "a mapping with name, subnet and gateway")
					continue
				}
				nm := n.Map["name"]
				if nm == nil || nm.Kind != String || nm.Str != netName {
					continue
				}
				found = true
				for _, k := range []string{"subnet", "gateway"} {
					e := n.Map[k]
					if e == nil {
						continue
					}
					if e.Kind != String {
						bad(label+"."+k, e, "a string")
						continue
					}
					hi.fields = append(hi.fields, field{"immich.network." + k, e.Str, fmt.Sprintf("%s.%s at %s", label, k, e.Pos)})
					set[k] = true
				}
				break
			}
			if !found {
				hi.warnings = append(hi.warnings, fmt.Sprintf("%s: podman_external_networks has no entry named %q, the network Immich joins", nets.Pos, netName))
			}
		}
	}
	for _, k := range []string{"subnet", "gateway"} {
		name := "immich_network_" + k
		v := get(name)
		if v == nil {
			continue
		}
		if v.Kind != String {
			bad(name, v, "a string")
			continue
		}
		if set[k] {
			for _, f := range hi.fields {
				if f.path == "immich.network."+k && f.value != v.Str {
					hi.warnings = append(hi.warnings, fmt.Sprintf("%s: %s is %s but the podman_external_networks entry says %s; the entry is what the podman role creates, so it is used", v.Pos, name, v.Str, f.value))
				}
			}
			continue
		}
		hi.fields = append(hi.fields, field{"immich.network." + k, v.Str, from(name, v)})
	}
}

// aclEnvName is the environment variable of a service user's password.
func aclEnvName(user string) string {
	return "VALKEY_USER_" + strings.ToUpper(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(user, "_")) + "_PASSWORD"
}

// acl maps valkey_acl_users: the Immich user's entry becomes immich.valkey
// (with immich-render's safe rules, not the role's), the others
// valkey.users, with rules that re-grant dangerous commands rewritten.
func (hi *hostImport) acl(get func(string) *Value, bad func(string, *Value, string)) {
	users := get("valkey_acl_users")
	if users == nil {
		return
	}
	if users.Kind != List {
		bad("valkey_acl_users", users, "a list of users with username, password, keypattern and commands")
		return
	}
	var out []object
	for i, u := range users.List {
		label := fmt.Sprintf("valkey_acl_users[%d]", i)
		if u.Kind != Map {
			bad(label, u, "a mapping with username, password, keypattern and commands")
			continue
		}
		str := func(k string) (*Value, bool) {
			e := u.Map[k]
			if e == nil {
				return nil, true
			}
			if k == "password" {
				if _, ok := secretText(e); ok {
					return e, true
				}
				bad(label+"."+k, e, "a password string")
				return nil, false
			}
			if e.Kind != String {
				bad(label+"."+k, e, "a string")
				return nil, false
			}
			return e, true
		}
		name, ok1 := str("username")
		pw, ok2 := str("password")
		kp, ok3 := str("keypattern")
		cmds, ok4 := str("commands")
		if !ok1 || !ok2 || !ok3 || !ok4 {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(u.Map)) {
			if !slices.Contains([]string{"username", "password", "keypattern", "commands"}, k) {
				hi.warnings = append(hi.warnings, fmt.Sprintf("%s: %s.%s is not a field immich-render knows; not imported", u.Map[k].Pos, label, k))
			}
		}
		if name == nil {
			hi.problems = append(hi.problems, problem(u.Pos, label, "has no username"))
			continue
		}
		at := func(k string, e *Value) string { return fmt.Sprintf("%s.%s at %s", label, k, e.Pos) }
		var patterns []string
		if kp != nil {
			for _, p := range strings.Fields(kp.Str) {
				patterns = append(patterns, strings.TrimPrefix(p, "~"))
			}
		}
		if name.Str == "immich" {
			if pw != nil {
				text, _ := secretText(pw)
				if have, ok := hi.secrets["IMMICH_VALKEY_PASSWORD"]; !ok {
					hi.secrets["IMMICH_VALKEY_PASSWORD"] = text
					hi.fields = append(hi.fields, field{"immich.valkey.password", envRef{"IMMICH_VALKEY_PASSWORD"}, at("password", pw)})
				} else if have != text {
					hi.warnings = append(hi.warnings, fmt.Sprintf("%s: %s.password differs from immich_valkey_password, so Immich could not log in with the role; immich-render uses immich_valkey_password for both", pw.Pos, label))
				}
			}
			if kp != nil && !slices.Equal(patterns, []string{"immich_bull*", "immich_channel*"}) {
				hi.fields = append(hi.fields, field{"immich.valkey.keyPatterns", patterns, at("keypattern", kp)})
			}
			if cmds != nil && strings.Join(strings.Fields(cmds.Str), " ") != schema.ImmichValkeyDefaultCommands {
				why := "immich-render's default is used instead"
				if granted := unnamedDangerous(patterns, cmds.Str); len(granted) > 0 {
					why = fmt.Sprintf("on a real server it lets Immich run %s; immich-render's default denies @dangerous last", list(granted))
				}
				hi.warnings = append(hi.warnings, fmt.Sprintf("%s: %s.commands (user immich) is not copied: %q -> %q: %s",
					cmds.Pos, label, cmds.Str, schema.ImmichValkeyDefaultCommands, why))
			}
			continue
		}
		obj := object{{"username", name.Str, at("username", name)}}
		if pw != nil {
			text, _ := secretText(pw)
			env := aclEnvName(name.Str)
			hi.secrets[env] = text
			obj = append(obj, field{"password", envRef{env}, at("password", pw)})
		}
		if kp != nil {
			obj = append(obj, field{"keyPatterns", patterns, at("keypattern", kp)})
		}
		if cmds != nil {
			rules := cmds.Str
			if granted := unnamedDangerous(patterns, rules); len(granted) > 0 {
				fixed := denyDangerousLast(rules)
				if left := unnamedDangerous(patterns, fixed); len(left) == 0 {
					hi.warnings = append(hi.warnings, fmt.Sprintf("%s: %s.commands (user %s) rewritten: %q -> %q: the old rules let %s run %s; -@dangerous now comes after the categories that re-grant them",
						cmds.Pos, label, name.Str, rules, fixed, name.Str, list(granted)))
					rules = fixed
				}
			}
			obj = append(obj, field{"commands", rules, at("commands", cmds)})
		}
		out = append(out, obj)
	}
	if len(out) > 0 {
		hi.fields = append(hi.fields, field{"valkey.users", out, fmt.Sprintf("valkey_acl_users at %s", users.Pos)})
	}
}

// unnamedDangerous lists the @dangerous commands that key patterns and
// rules grant without naming them, evaluated left to right over the
// command table of a real server. Rules that do not parse give nil:
// immich-render vet reports them.
func unnamedDangerous(patterns []string, rules string) []string {
	tab := valkeyacl.Commands()
	var texts []string
	for _, p := range patterns {
		texts = append(texts, "~"+p)
	}
	texts = append(texts, valkeyacl.Split(rules)...)
	parsed, errs := tab.Parse(texts)
	if len(errs) > 0 {
		return nil
	}
	perms, evalErrs := tab.Evaluate(parsed)
	if len(evalErrs) > 0 {
		return nil
	}
	var out []string
	for _, n := range perms.Commands() {
		c := tab.Lookup(n)
		if g, _ := perms.Grant(n); c.Dangerous() && !g.Named && !c.NoAuth() {
			out = append(out, c.Display())
		}
	}
	return out
}

// denyDangerousLast moves -@dangerous after the last category grant
// (adding it when missing), keeping single commands named after it.
func denyDangerousLast(rules string) string {
	words := valkeyacl.Split(rules)
	var kept []string
	for _, w := range words {
		if !strings.EqualFold(w, "-@dangerous") {
			kept = append(kept, w)
		}
	}
	last := -1
	for i, w := range kept {
		if strings.HasPrefix(w, "+@") || strings.EqualFold(w, "allcommands") {
			last = i
		}
	}
	out := slices.Insert(slices.Clone(kept), last+1, "-@dangerous")
	return strings.Join(out, " ")
}

// list shows command names, the best known harms first, at most ten.
func list(names []string) string {
	rank := func(n string) int {
		if i := slices.Index([]string{"FLUSHDB", "FLUSHALL", "SWAPDB", "KEYS", "SORT", "MIGRATE", "RESTORE"}, n); i >= 0 {
			return i
		}
		return 100
	}
	names = slices.Clone(names)
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b)) })
	if len(names) > 10 {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:10], ", "), len(names)-10)
	}
	return strings.Join(names, ", ")
}
