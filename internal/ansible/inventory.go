package ansible

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/token"

	"github.com/immich-render/immich-render/schema"
	"go.yaml.in/yaml/v3"
)

// problem is something wrong with the inventory, at a place in it and
// about a variable (or "" for none), reported as the configuration's
// problems are.
func problem(at Pos, variable, msg string) schema.Problem {
	p := schema.Problem{Kind: schema.KindInvalid, Reason: msg, Pos: []token.Pos{at.token()}}
	if variable != "" {
		p.Path = []string{variable}
	}
	return p
}

func ptr(p schema.Problem) *schema.Problem { return &p }

// Group is an inventory group with the variables its inventory file sets.
type Group struct {
	Name     string
	Vars     map[string]*Value
	Children []string
	Parents  []string
	Hosts    []string
	depth    int
}

// Host is an inventory host with the variables its inventory file sets
// and the groups it belongs to.
type Host struct {
	Name   string
	Vars   map[string]*Value
	groups []string
}

// Inventory is a parsed inventory and the group_vars and host_vars next
// to it.
type Inventory struct {
	Source  string // as given with -i
	baseDir string // where group_vars/ and host_vars/ are
	groups  map[string]*Group
	hosts   map[string]*Host
	order   []string // host names in the order first seen
	vault   *Vault
}

// Ansible ignores these extensions among the files of an inventory
// directory (INVENTORY_IGNORE_EXTS).
var ignoreExts = []string{".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".ini", ".cfg", ".retry"}

// Load reads an inventory file or directory as Ansible does.
func Load(source string, vault *Vault) (*Inventory, error) {
	inv := &Inventory{Source: source, groups: map[string]*Group{}, hosts: map[string]*Host{}, vault: vault}
	inv.group("all")
	inv.group("ungrouped")
	st, err := os.Stat(source)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, schema.Problems{problem(Pos{File: source}, "", "the inventory does not exist")}
		}
		return nil, err
	}
	var ps schema.Problems
	if st.IsDir() {
		inv.baseDir = source
		var files []string
		err := filepath.WalkDir(source, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if p != source && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if p != source && (name == "group_vars" || name == "host_vars") {
					return filepath.SkipDir
				}
				return nil
			}
			for _, e := range ignoreExts {
				if strings.HasSuffix(name, e) {
					return nil
				}
			}
			files = append(files, p)
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(files)
		for _, f := range files {
			ps = append(ps, inv.parseFile(f)...)
		}
	} else {
		inv.baseDir = filepath.Dir(source)
		ps = append(ps, inv.parseFile(source)...)
	}
	if len(ps) > 0 {
		return nil, ps
	}
	inv.finish()
	return inv, nil
}

func (inv *Inventory) group(name string) *Group {
	g := inv.groups[name]
	if g == nil {
		g = &Group{Name: name, Vars: map[string]*Value{}}
		inv.groups[name] = g
	}
	return g
}

func (inv *Inventory) host(name string) *Host {
	h := inv.hosts[name]
	if h == nil {
		h = &Host{Name: name, Vars: map[string]*Value{}}
		inv.hosts[name] = h
		inv.order = append(inv.order, name)
	}
	return h
}

func (inv *Inventory) addHost(group, name string) *Host {
	h := inv.host(name)
	g := inv.group(group)
	if !slices.Contains(g.Hosts, name) {
		g.Hosts = append(g.Hosts, name)
	}
	return h
}

func (inv *Inventory) addChild(parent, child string) {
	p, c := inv.group(parent), inv.group(child)
	if !slices.Contains(p.Children, child) {
		p.Children = append(p.Children, child)
	}
	if !slices.Contains(c.Parents, parent) {
		c.Parents = append(c.Parents, parent)
	}
}

// readSource reads a file, decrypting it when it is a vault.
func (inv *Inventory) readSource(path string) ([]byte, *schema.Problem) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ptr(problem(Pos{File: path}, "", "cannot read: "+pathErr(err).Error()))
	}
	if isVault(data) {
		plain, err := inv.vault.Decrypt(data)
		if err != nil {
			return nil, ptr(problem(Pos{File: path, Line: 1, Col: 1}, "", "this file "+err.Error()))
		}
		return plain, nil
	}
	return data, nil
}

// parseFile parses one inventory file: YAML when its extension says so or
// its content is a YAML mapping, INI otherwise (Ansible tries its yaml
// plugin before its ini plugin).
func (inv *Inventory) parseFile(path string) schema.Problems {
	data, p := inv.readSource(path)
	if p != nil {
		return schema.Problems{*p}
	}
	ext := strings.ToLower(filepath.Ext(path))
	var doc yaml.Node
	yerr := yaml.Unmarshal(data, &doc)
	isYAML := ext == ".yml" || ext == ".yaml" || ext == ".json"
	if !isYAML && ext == "" && yerr == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		isYAML = true
	}
	if isYAML {
		if yerr != nil {
			return schema.Problems{yamlProblem(path, yerr)}
		}
		return inv.parseYAML(path, &doc)
	}
	return inv.parseINI(path, string(data))
}

var yamlLine = lazyRegexp(`^yaml: line (\d+): (.*)$`)

func yamlProblem(path string, err error) schema.Problem {
	msg := err.Error()
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return problem(Pos{path, n, 1}, "", "not valid YAML: "+m[2])
	}
	return problem(Pos{File: path}, "", "not valid YAML: "+strings.TrimPrefix(msg, "yaml: "))
}

// parseYAML reads Ansible's YAML inventory: top-level groups, each with
// hosts, vars and children.
func (inv *Inventory) parseYAML(path string, doc *yaml.Node) schema.Problems {
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return schema.Problems{problem(Pos{path, root.Line, root.Column}, "", "a YAML inventory is a mapping of groups, such as all: {hosts: ..., children: ...}")}
	}
	var ps schema.Problems
	var walkGroup func(name string, n *yaml.Node)
	walkGroup = func(name string, n *yaml.Node) {
		inv.group(name)
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.MappingNode {
			ps = append(ps, problem(Pos{path, n.Line, n.Column}, "", fmt.Sprintf("group %s: want a mapping with hosts, vars and children", name)))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
				continue
			}
			switch key.Value {
			case "hosts":
				if val.Kind != yaml.MappingNode {
					ps = append(ps, problem(Pos{path, val.Line, val.Column}, "", fmt.Sprintf("group %s: hosts must be a mapping of host names", name)))
					continue
				}
				for j := 0; j+1 < len(val.Content); j += 2 {
					hk, hv := val.Content[j], val.Content[j+1]
					names, err := expandHostPattern(hk.Value)
					if err != nil {
						ps = append(ps, problem(Pos{path, hk.Line, hk.Column}, "", err.Error()))
						continue
					}
					vars, perr := inv.yamlVars(path, hv)
					if perr != nil {
						ps = append(ps, *perr)
						continue
					}
					for _, hn := range names {
						h := inv.addHost(name, hn.name)
						if hn.port != "" {
							h.Vars["ansible_port"] = &Value{Kind: Int, Int: atoi(hn.port), Pos: Pos{path, hk.Line, hk.Column}}
						}
						for k, v := range vars {
							h.Vars[k] = v
						}
					}
				}
			case "vars":
				vars, perr := inv.yamlVars(path, val)
				if perr != nil {
					ps = append(ps, *perr)
					continue
				}
				g := inv.group(name)
				for k, v := range vars {
					g.Vars[k] = v
				}
			case "children":
				if val.Kind != yaml.MappingNode {
					ps = append(ps, problem(Pos{path, val.Line, val.Column}, "", fmt.Sprintf("group %s: children must be a mapping of groups", name)))
					continue
				}
				for j := 0; j+1 < len(val.Content); j += 2 {
					inv.addChild(name, val.Content[j].Value)
					walkGroup(val.Content[j].Value, val.Content[j+1])
				}
			default:
				ps = append(ps, problem(Pos{path, key.Line, key.Column}, "", fmt.Sprintf("group %s: unknown key %q; a group has hosts, vars and children", name, key.Value)))
			}
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		name := root.Content[i].Value
		if name != "all" {
			inv.addChild("all", name)
		}
		walkGroup(name, root.Content[i+1])
	}
	return ps
}

func atoi(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

// yamlVars converts a mapping of variables.
func (inv *Inventory) yamlVars(path string, n *yaml.Node) (map[string]*Value, *schema.Problem) {
	out := map[string]*Value{}
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, ptr(problem(Pos{path, n.Line, n.Column}, "", "variables must be a mapping of names to values"))
	}
	v, err := yamlValue(n, path)
	if err != nil {
		return nil, ptr(problem(Pos{File: path}, "", err.Error()))
	}
	for k, e := range v.Map {
		out[k] = e
	}
	return out, nil
}

var (
	iniSection = lazyRegexp(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)
	iniGroup   = lazyRegexp(`^([^:\]\s]+)\s*(?:#.*)?$`)
)

// parseINI reads Ansible's INI inventory: [group], [group:vars] and
// [group:children] sections, hosts with inline key=value variables, and
// hosts before any section in "ungrouped".
func (inv *Inventory) parseINI(path, text string) schema.Problems {
	var ps schema.Problems
	group, state := "ungrouped", "hosts"
	for i, raw := range strings.Split(text, "\n") {
		pos := Pos{path, i + 1, 1}
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			m := iniSection().FindStringSubmatch(line)
			if m == nil {
				ps = append(ps, problem(pos, "", fmt.Sprintf("invalid section %q", line)))
				continue
			}
			group, state = m[1], cmp.Or(m[2], "hosts")
			switch state {
			case "hosts", "vars", "children":
			default:
				ps = append(ps, problem(pos, "", fmt.Sprintf("section [%s:%s] has unknown type %q; want vars or children", group, state, state)))
				continue
			}
			inv.group(group)
			if group != "all" && group != "ungrouped" {
				if g := inv.groups[group]; len(g.Parents) == 0 {
					inv.addChild("all", group)
				}
			}
			continue
		}
		switch state {
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				ps = append(ps, problem(pos, "", fmt.Sprintf("expected key=value in [%s:vars], got %q", group, line)))
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			inv.group(group).Vars[k] = pyLiteral(v, pos)
		case "children":
			m := iniGroup().FindStringSubmatch(line)
			if m == nil {
				ps = append(ps, problem(pos, "", fmt.Sprintf("invalid group name %q in [%s:children]", line, group)))
				continue
			}
			if all := inv.groups["all"]; slices.Contains(all.Children, m[1]) {
				// A group declared at the top level and now a child: it
				// leaves all's direct children, as in Ansible.
				all.Children = slices.DeleteFunc(all.Children, func(c string) bool { return c == m[1] })
				c := inv.group(m[1])
				c.Parents = slices.DeleteFunc(c.Parents, func(p string) bool { return p == "all" })
			}
			inv.addChild(group, m[1])
		default:
			tokens, err := shlexSplit(line)
			if err != nil {
				ps = append(ps, problem(pos, "", err.Error()))
				continue
			}
			if len(tokens) == 0 {
				continue
			}
			names, err := expandHostPattern(tokens[0])
			if err != nil {
				ps = append(ps, problem(pos, "", err.Error()))
				continue
			}
			vars := map[string]*Value{}
			for _, t := range tokens[1:] {
				k, v, ok := strings.Cut(t, "=")
				if !ok {
					ps = append(ps, problem(pos, "", fmt.Sprintf("expected key=value host variable, got %q", t)))
					continue
				}
				vars[k] = pyLiteral(v, pos)
			}
			for _, hn := range names {
				h := inv.addHost(group, hn.name)
				if hn.port != "" {
					h.Vars["ansible_port"] = &Value{Kind: Int, Int: atoi(hn.port), Pos: pos}
				}
				for k, v := range vars {
					h.Vars[k] = v
				}
			}
		}
	}
	return ps
}

// shlexSplit splits a host line as Python's shlex.split(comments=True).
func shlexSplit(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			if inWord {
				out = append(out, b.String())
				b.Reset()
				inWord = false
			}
		case c == '#':
			if inWord {
				out = append(out, b.String())
			}
			return out, nil
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("no closing quotation in %q", s)
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("no closing quotation in %q", s)
			}
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		default:
			inWord = true
			b.WriteByte(c)
		}
	}
	if inWord {
		out = append(out, b.String())
	}
	return out, nil
}

type hostName struct{ name, port string }

var (
	hostPort  = lazyRegexp(`^((?:[^:\[\]]|\[[^\]]*\])+):(\d+)$`)
	hostRange = lazyRegexp(`\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\]`)
)

// expandHostPattern expands "web[01:03].example.com" and strips ":port".
func expandHostPattern(p string) ([]hostName, error) {
	port := ""
	if m := hostPort().FindStringSubmatch(p); m != nil {
		p, port = m[1], m[2]
	} else if strings.HasPrefix(p, "[") {
		if end := strings.Index(p, "]:"); end > 0 && !strings.Contains(p[1:end], ":") {
			p, port = p[1:end], p[end+2:]
		}
	}
	m := hostRange().FindStringSubmatchIndex(p)
	if m == nil {
		return []hostName{{p, port}}, nil
	}
	lo, hi := p[m[2]:m[3]], p[m[4]:m[5]]
	step := 1
	if m[6] >= 0 {
		step, _ = strconv.Atoi(p[m[6]:m[7]])
		if step < 1 {
			return nil, fmt.Errorf("host range %s: the step must be at least 1", p[m[0]:m[1]])
		}
	}
	var items []string
	if a, err1 := strconv.Atoi(lo); err1 == nil {
		b, err2 := strconv.Atoi(hi)
		if err2 != nil || b < a {
			return nil, fmt.Errorf("host range %s: want [start:end] with start <= end", p[m[0]:m[1]])
		}
		for i := a; i <= b; i += step {
			s := strconv.Itoa(i)
			if len(lo) > 1 && lo[0] == '0' {
				s = fmt.Sprintf("%0*d", len(lo), i)
			}
			items = append(items, s)
		}
	} else if len(lo) == 1 && len(hi) == 1 && lo <= hi {
		for c := lo[0]; c <= hi[0]; c += byte(step) {
			items = append(items, string(c))
			if int(c)+step > 255 {
				break
			}
		}
	} else {
		return nil, fmt.Errorf("host range %s: want numbers or single letters", p[m[0]:m[1]])
	}
	var out []hostName
	for _, it := range items {
		rest, err := expandHostPattern(p[:m[0]] + it + p[m[1]:])
		if err != nil {
			return nil, err
		}
		for _, r := range rest {
			out = append(out, hostName{r.name, port})
		}
	}
	return out, nil
}

// finish puts hosts in ungrouped and computes every group's depth and every
// host's groups, as Ansible's inventory does after parsing.
func (inv *Inventory) finish() {
	all := inv.groups["all"]
	for name, g := range inv.groups {
		if name != "all" && len(g.Parents) == 0 {
			inv.addChild("all", name)
		}
	}
	var setDepth func(g *Group, d int, seen map[string]bool)
	setDepth = func(g *Group, d int, seen map[string]bool) {
		if seen[g.Name] {
			return
		}
		if d > g.depth {
			g.depth = d
		}
		seen[g.Name] = true
		for _, c := range g.Children {
			setDepth(inv.groups[c], d+1, seen)
		}
		delete(seen, g.Name)
	}
	setDepth(all, 0, map[string]bool{})
	for _, hn := range inv.order {
		h := inv.hosts[hn]
		var direct []string
		for gn, g := range inv.groups {
			if slices.Contains(g.Hosts, hn) {
				direct = append(direct, gn)
			}
		}
		slices.Sort(direct)
		seen := map[string]bool{}
		var add func(n string)
		add = func(n string) {
			if seen[n] {
				return
			}
			seen[n] = true
			h.groups = append(h.groups, n)
			for _, p := range inv.groups[n].Parents {
				add(p)
			}
		}
		for _, d := range direct {
			add(d)
		}
		add("all")
		if len(direct) == 0 || (len(direct) == 1 && direct[0] == "all") {
			inv.group("ungrouped").Hosts = append(inv.group("ungrouped").Hosts, hn)
			add("ungrouped")
		}
		if slices.Contains(direct, "ungrouped") && len(direct) > 1 {
			// Ansible removes a host from ungrouped once it joins a group.
			h.groups = slices.DeleteFunc(h.groups, func(g string) bool { return g == "ungrouped" })
		}
	}
}

// Hosts returns the inventory's host names in the order first seen.
func (inv *Inventory) Hosts() []string { return slices.Clone(inv.order) }

// Has reports whether the inventory has the host.
func (inv *Inventory) Has(name string) bool { return inv.hosts[name] != nil }

// sortedGroups orders a host's groups as Ansible's sort_groups: by depth,
// then ansible_group_priority, then name; "all" is left out.
func (inv *Inventory) sortedGroups(h *Host) []*Group {
	var gs []*Group
	for _, n := range h.groups {
		if n != "all" {
			gs = append(gs, inv.groups[n])
		}
	}
	prio := func(g *Group) int64 {
		if v := g.Vars["ansible_group_priority"]; v != nil && v.Kind == Int {
			return v.Int
		}
		return 1
	}
	slices.SortFunc(gs, func(a, b *Group) int {
		return cmp.Or(cmp.Compare(a.depth, b.depth), cmp.Compare(prio(a), prio(b)), strings.Compare(a.Name, b.Name))
	})
	return gs
}

// Vars returns a host's variables after Ansible's inventory precedence,
// lowest first: the all group's inventory variables, the other groups'
// inventory variables, group_vars/all, group_vars of the other groups,
// the host's inventory variables, host_vars of the host. Later sources
// replace a variable whole (hash_behaviour=replace).
func (inv *Inventory) Vars(host string) (map[string]*Value, error) {
	h := inv.hosts[host]
	if h == nil {
		return nil, fmt.Errorf("host %s is not in the inventory", host)
	}
	out := map[string]*Value{}
	merge := func(m map[string]*Value) {
		for k, v := range m {
			out[k] = v
		}
	}
	groups := inv.sortedGroups(h)
	merge(inv.groups["all"].Vars)
	for _, g := range groups {
		merge(g.Vars)
	}
	var ps schema.Problems
	load := func(dir, name string) {
		m, p := inv.varsFiles(filepath.Join(inv.baseDir, dir), name)
		ps = append(ps, p...)
		merge(m)
	}
	load("group_vars", "all")
	for _, g := range groups {
		load("group_vars", g.Name)
	}
	merge(h.Vars)
	load("host_vars", host)
	if len(ps) > 0 {
		return nil, ps
	}
	return out, nil
}

// varsFiles loads dir/name, dir/name.yml, .yaml or .json (the first that
// exists), or every file under the directory dir/name in sorted order.
func (inv *Inventory) varsFiles(dir, name string) (map[string]*Value, schema.Problems) {
	var files []string
	for _, ext := range []string{"", ".yml", ".yaml", ".json"} {
		p := filepath.Join(dir, name+ext)
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.IsDir() {
			files = dirVarsFiles(p)
		} else {
			files = []string{p}
		}
		break
	}
	out := map[string]*Value{}
	var ps schema.Problems
	for _, f := range files {
		data, p := inv.readSource(f)
		if p != nil {
			ps = append(ps, *p)
			continue
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			ps = append(ps, yamlProblem(f, err))
			continue
		}
		if len(doc.Content) == 0 {
			continue
		}
		vars, perr := inv.yamlVars(f, doc.Content[0])
		if perr != nil {
			ps = append(ps, *perr)
			continue
		}
		for k, v := range vars {
			out[k] = v
		}
	}
	return out, ps
}

func dirVarsFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries { // ReadDir sorts by name
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			out = append(out, dirVarsFiles(p)...)
			continue
		}
		switch filepath.Ext(e.Name()) {
		case "", ".yml", ".yaml", ".json":
			out = append(out, p)
		}
	}
	return out
}
