package schema

import (
	"bytes"
	"maps"
	"net/netip"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	cuejson "cuelang.org/go/encoding/json"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// The plain-data path. Most configurations are data written out: structs,
// lists, strings, whole numbers and booleans, as YAML and JSON always are
// and most CUE files are. For those, unifying with the CUE schema only
// checks each value and fills in defaults, and it was most of a render:
// compiling the schema, then 1.3 ms per fleet host, against 0.3 ms to
// render it. plainConfig does the same in Go, reading the plain data
// straight from the syntax.
//
// It only ever accepts. Anything it does not know for certain (a
// reference, a constraint, a comprehension, null, a float, a field the
// schema does not have, any value the schema or the Go rules refuse,
// immich.settings, whose types are per Immich version) sends the
// configuration down the CUE path, which alone reports problems, so
// every message, position and hint stays CUE's. The CUE schema stays the
// contract, and a change to it is a change here too: TestPlainMutations
// sets every schema field to values at and across its constraints and
// fails where this file reads a field differently from CUE, or not at
// all; TestPlainMatchesCUE and TestPlainFleetMatchesCUE hold both paths
// to the same Config and positions over the examples and fleets;
// TestPlainPatternsMatchSchema compares the patterns with the schema's
// source.

// plainNode is a value of plain data, with where it is written.
type plainNode struct {
	kind   plainKind
	str    string
	num    int64
	fields []plainField   // of a struct, in order
	index  map[string]int // of fields by name, once there are more than a few
	elems  []*plainNode   // of a list
	pos    token.Pos      // of the value
}

// plainIndexed is how many fields a struct has before field looks them up
// in an index: a map of thousands of entries is merged one field at a time.
const plainIndexed = 16

type plainKind uint8

const (
	plainStruct plainKind = iota
	plainList
	plainString
	plainInt
	plainBool
)

type plainField struct {
	name  string
	label token.Pos // of the field's label
	value *plainNode
}

func (n *plainNode) field(name string) *plainField {
	if n == nil {
		return nil
	}
	if n.index != nil {
		if i, ok := n.index[name]; ok {
			return &n.fields[i]
		}
		return nil
	}
	for i := range n.fields {
		if n.fields[i].name == name {
			return &n.fields[i]
		}
	}
	return nil
}

// plainInput reads one input as plain data, or reports false. It parses
// as compile does, so positions are the same.
func plainInput(in Input) (*plainNode, bool) {
	var n ast.Node
	switch strings.ToLower(filepath.Ext(in.Name)) {
	case ".cue":
		f, err := parser.ParseFile(in.Name, in.Data)
		if err != nil {
			return nil, false
		}
		n = f
	case ".json":
		x, err := cuejson.Extract(in.Name, in.Data)
		if err != nil {
			return nil, false
		}
		n = x
	case ".yaml", ".yml":
		data := bytes.ReplaceAll(bytes.ReplaceAll(in.Data, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
		f, err := cueyaml.Extract(in.Name, data)
		if err != nil {
			return nil, false
		}
		n = f
	case ".jsonnet", ".libsonnet":
		if in.jsonnetOut == nil {
			return nil, false
		}
		x, err := cuejson.Extract(in.Name, in.jsonnetOut)
		if err != nil {
			return nil, false
		}
		n = x
	default:
		return nil, false
	}
	return plainSyntax(n)
}

// plainSyntax converts syntax that is plain data, or reports false.
func plainSyntax(n ast.Node) (*plainNode, bool) {
	switch x := n.(type) {
	case *ast.File:
		return plainDecls(x.Decls, token.NoPos)
	case *ast.StructLit:
		return plainDecls(x.Elts, x.Lbrace)
	case *ast.ListLit:
		if len(x.Elts) > MaxListLength {
			return nil, false
		}
		l := &plainNode{kind: plainList, pos: x.Lbrack, elems: make([]*plainNode, 0, len(x.Elts))}
		for _, e := range x.Elts {
			v, ok := plainSyntax(e)
			if !ok {
				return nil, false
			}
			l.elems = append(l.elems, v)
		}
		return l, true
	case *ast.BasicLit:
		switch x.Kind {
		case token.STRING:
			if strings.HasPrefix(x.Value, "'") || strings.HasPrefix(x.Value, "#") {
				return nil, false // bytes, or a raw string: leave them to CUE
			}
			s, err := literal.Unquote(x.Value)
			if err != nil {
				return nil, false
			}
			return &plainNode{kind: plainString, str: s, pos: x.ValuePos}, true
		case token.INT:
			if !plainDecimal(x.Value) {
				return nil, false
			}
			i, err := strconv.ParseInt(x.Value, 10, 64)
			if err != nil {
				return nil, false
			}
			return &plainNode{kind: plainInt, num: i, pos: x.ValuePos}, true
		case token.TRUE, token.FALSE:
			b := int64(0)
			if x.Kind == token.TRUE {
				b = 1
			}
			return &plainNode{kind: plainBool, num: b, pos: x.ValuePos}, true
		}
	}
	return nil, false
}

// plainDecimal reports whether an integer literal is a plain decimal.
func plainDecimal(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// plainDecls converts the fields of a file or struct; a field given twice
// is merged as CUE unifies plain data.
func plainDecls(decls []ast.Decl, pos token.Pos) (*plainNode, bool) {
	s := &plainNode{kind: plainStruct, pos: pos}
	for _, d := range decls {
		switch f := d.(type) {
		case *ast.Package, *ast.CommentGroup:
			continue
		case *ast.Field:
			if f.Constraint != token.ILLEGAL || len(f.Attrs) > 0 || f.Value == nil {
				return nil, false
			}
			name, ok := plainLabel(f.Label)
			if !ok {
				return nil, false
			}
			v, ok := plainSyntax(f.Value)
			if !ok || !s.add(plainField{name, f.Label.Pos(), v}) {
				return nil, false
			}
		case *ast.EmbedDecl:
			// YAML's and JSON's top level: a struct embedded in the file.
			inner, ok := plainSyntax(f.Expr)
			if !ok || inner.kind != plainStruct {
				return nil, false
			}
			if !s.pos.IsValid() {
				s.pos = inner.pos
			}
			for _, g := range inner.fields {
				if !s.add(g) {
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	return s, true
}

// plainLabel is a field's name, for a regular field only.
func plainLabel(l ast.Label) (string, bool) {
	switch x := l.(type) {
	case *ast.Ident:
		if strings.HasPrefix(x.Name, "#") || strings.HasPrefix(x.Name, "_") || x.Name == "" {
			return "", false
		}
		return x.Name, true
	case *ast.BasicLit:
		if x.Kind != token.STRING || strings.HasPrefix(x.Value, "#") || strings.HasPrefix(x.Value, "'") {
			return "", false
		}
		s, err := literal.Unquote(x.Value)
		return s, err == nil
	}
	return "", false
}

// add merges a field into struct s: structs field by field, equal
// scalars once; anything else is left to CUE.
func (s *plainNode) add(f plainField) bool {
	old := s.field(f.name)
	if old == nil {
		s.fields = append(s.fields, f)
		switch {
		case s.index != nil:
			s.index[f.name] = len(s.fields) - 1
		case len(s.fields) > plainIndexed:
			s.index = make(map[string]int, 2*len(s.fields))
			for i, g := range s.fields {
				s.index[g.name] = i
			}
		}
		return true
	}
	if old.value.kind != plainStruct {
		// Two conjuncts: cue.Value.Pos is no longer the field's.
		old.label = token.NoPos
	}
	return old.value.merge(f.value)
}

func (n *plainNode) merge(m *plainNode) bool {
	switch {
	case n.kind != m.kind:
		return false
	case n.kind == plainStruct:
		for _, f := range m.fields {
			if !n.add(f) {
				return false
			}
		}
		return true
	case n.kind == plainList:
		return false
	case n.str != m.str || n.num != m.num:
		return false
	}
	return true
}

// plainMerge unifies the inputs' plain data, in order.
func plainMerge(ns []*plainNode) (*plainNode, bool) {
	if len(ns) == 0 || ns[0].kind != plainStruct {
		return nil, false
	}
	root := &plainNode{kind: plainStruct, pos: ns[0].pos}
	for _, n := range ns {
		if n.kind != plainStruct || !root.merge(n.clone()) {
			return nil, false
		}
	}
	return root, true
}

// clone copies the structs of n, which a merge adds fields to.
func (n *plainNode) clone() *plainNode {
	if n.kind != plainStruct {
		return n
	}
	c := *n
	c.index = maps.Clone(n.index)
	c.fields = make([]plainField, len(n.fields))
	for i, f := range n.fields {
		f.value = f.value.clone()
		c.fields[i] = f
	}
	return &c
}

// plainReader reads a struct of plain data as the schema describes it,
// noting any value the schema would not take. Every field read is
// remembered, so that done can refuse the fields the schema does not
// have (every definition is closed).
type plainReader struct {
	bad bool
}

type plainObj struct {
	r    *plainReader
	n    *plainNode // nil: the struct is not given
	read []string
}

func (r *plainReader) obj(f *plainField) plainObj {
	o := plainObj{r: r}
	if f != nil {
		if f.value.kind != plainStruct {
			r.bad = true
		} else {
			o.n = f.value
		}
	}
	return o
}

func (o *plainObj) get(name string) *plainField {
	o.read = append(o.read, name)
	return o.n.field(name)
}

// done refuses a field the schema does not have.
func (o *plainObj) done() {
	if o.n == nil {
		return
	}
	for _, f := range o.n.fields {
		known := false
		for _, r := range o.read {
			known = known || r == f.name
		}
		if !known {
			o.r.bad = true
			return
		}
	}
}

func (o *plainObj) sub(name string) plainObj { return o.r.obj(o.get(name)) }

// str reads a string field: def when it is not given, else a value that
// ok accepts. required: not given is refused.
func (o *plainObj) str(name, def string, required bool, ok func(string) bool) string {
	f := o.get(name)
	if f == nil {
		o.r.bad = o.r.bad || required
		return def
	}
	if f.value.kind != plainString || !ok(f.value.str) {
		o.r.bad = true
		return ""
	}
	return f.value.str
}

func (o *plainObj) integer(name string, def, lo, hi int64) int {
	f := o.get(name)
	if f == nil {
		return int(def)
	}
	if f.value.kind != plainInt || f.value.num < lo || f.value.num > hi {
		o.r.bad = true
		return 0
	}
	return int(f.value.num)
}

func (o *plainObj) boolean(name string, def bool) bool {
	f := o.get(name)
	if f == nil {
		return def
	}
	if f.value.kind != plainBool {
		o.r.bad = true
		return false
	}
	return f.value.num == 1
}

func (o *plainObj) enum(name, def string, values ...string) string {
	return o.str(name, def, false, func(s string) bool {
		for _, v := range values {
			if s == v {
				return true
			}
		}
		return false
	})
}

// list reads a list field's elements; nil elements and ok false when it
// is not given.
func (o *plainObj) list(name string) ([]*plainNode, bool) {
	f := o.get(name)
	if f == nil {
		return nil, false
	}
	if f.value.kind != plainList {
		o.r.bad = true
		return nil, false
	}
	return f.value.elems, true
}

func (o *plainObj) strings(name string, def []string, required bool, ok func(string) bool) []string {
	elems, given := o.list(name)
	if !given {
		o.r.bad = o.r.bad || required
		if def == nil {
			return []string{}
		}
		return append([]string{}, def...)
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		if e.kind != plainString || !ok(e.str) {
			o.r.bad = true
			return nil
		}
		out = append(out, e.str)
	}
	return out
}

// stringMap reads a struct of strings whose names key accepts.
func (o *plainObj) stringMap(name string, key func(string) bool) map[string]string {
	f := o.get(name)
	out := map[string]string{}
	if f == nil {
		return out
	}
	if f.value.kind != plainStruct {
		o.r.bad = true
		return out
	}
	for _, g := range f.value.fields {
		if !key(g.name) || g.value.kind != plainString {
			o.r.bad = true
			return out
		}
		out[g.name] = g.value.str
	}
	return out
}

// secret reads a #Secret, which every secret field requires: a string,
// {env: NAME} or {file: PATH}.
func (o *plainObj) secret(name string) Secret {
	f := o.get(name)
	var s Secret
	switch {
	case f == nil:
		o.r.bad = true
	case f.value.kind == plainString:
		lit := f.value.str
		s.ref = secretRef{Literal: &lit}
	case f.value.kind == plainStruct && len(f.value.fields) == 1:
		g := f.value.fields[0]
		switch {
		case g.value.kind != plainString:
			o.r.bad = true
		case g.name == "env" && matches(reEnvName, g.value.str):
			s.ref.Env = g.value.str
		case g.name == "file" && absPath(g.value.str):
			s.ref.File = g.value.str
		default:
			o.r.bad = true
		}
	default:
		o.r.bad = true
	}
	return s
}

// The schema's patterns (cue/*.cue; TestPlainPatternsMatchSchema reads
// them from there and compares), each compiled when first used: a site
// needs a few of them, and compiling them all was a tenth of its render.
var plainPatterns = func() map[string]func() *regexp.Regexp {
	m := map[string]func() *regexp.Regexp{}
	for name, src := range plainPatternSource {
		m[name] = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(src) })
	}
	return m
}()

const (
	reVersion      = "#Version"
	reAbsPath      = "#AbsPath"
	reAbsPathDots  = "#AbsPath!1"
	reAbsPathSlash = "#AbsPath!2"
	reAbsPathSpace = "#AbsPath!3"
	reName         = "#Name"
	rePGName       = "#PGName"
	reEnvName      = "#EnvName"
	reUnitName     = "#UnitName"
	reCommand      = "#Command"
	reTimeZone     = "#TimeZone"
	reDigest       = "#Digest"
	reIPv4         = "#IPv4"
	reCIDR4        = "#CIDR4"
	reHostname     = "#Hostname"
	reEmail        = "#Email"
	reACLUser      = "#ACLUser"
	reACLUserNot   = "#ACLUser!1"
	reACLRules     = "#ACLRules"
	reMLEnvName    = "#MLEnvName"
	reIssuer       = "#NginxIssuerName"
	reHTTPSURL     = "#NginxHTTPSURL"
	reNginxIP      = "#NginxIP"
	reNginxAddress = "#NginxAddress"
	reBodySize     = "#Nginx.maxBodySize"
	reMLURL        = "#MachineLearningExtra.url"
)

var plainPatternSource = map[string]string{
	reVersion:      `^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`,
	reAbsPath:      `^/[\p{L}\p{N}._@+=,~ /-]*$`,
	reAbsPathDots:  `(^|/)\.\.?(/|$)`,
	reAbsPathSlash: `//`,
	reAbsPathSpace: ` $`,
	reName:         `^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`,
	rePGName:       `^[a-z_][a-z0-9_]{0,62}$`,
	reEnvName:      `^[A-Za-z_][A-Za-z0-9_]*$`,
	reUnitName:     `^[A-Za-z0-9][A-Za-z0-9_.@-]{0,200}$`,
	reCommand:      `^/[A-Za-z0-9._/+-]+( [A-Za-z0-9._=/+-]+)*$`,
	reTimeZone:     `^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`,
	reDigest:       `^sha256:[0-9a-f]{64}$`,
	reIPv4:         `^[0-9.]+$`,
	reCIDR4:        `^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$`,
	reHostname:     `^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`,
	reEmail:        `^[A-Za-z0-9._+-]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`,
	reACLUser:      `^[A-Za-z_][A-Za-z0-9_-]{0,62}$`,
	reACLUserNot:   `^(?i)default$`,
	reACLRules:     `^[^\p{Cc}]*$`,
	reMLEnvName:    `^MACHINE_LEARNING_[A-Z0-9_]+$`,
	reIssuer:       `^[a-z0-9][a-z0-9_-]{0,62}$`,
	reHTTPSURL:     `^https://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~/%+-]*)?$`,
	reNginxIP:      `^[0-9a-fA-F:.]+$`,
	reNginxAddress: `^[0-9a-fA-F:.]+(/[0-9]{1,3})?$`,
	reBodySize:     `^[1-9][0-9]{0,9}[kKmMgG]?$`,
	reMLURL:        `^https?://[^\s/?#]+(:[0-9]+)?/?$`,
}

func matches(name, s string) bool { return plainPatterns[name]().MatchString(s) }

// The schema's definitions, as predicates.
func absPath(s string) bool {
	return matches(reAbsPath, s) && !matches(reAbsPathDots, s) && !matches(reAbsPathSlash, s) && !matches(reAbsPathSpace, s)
}

func ipv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4() && matches(reIPv4, s)
}

func cidr4(s string) bool {
	_, err := netip.ParsePrefix(s)
	return err == nil && matches(reCIDR4, s)
}

func hostname(s string) bool {
	return matches(reHostname, s) && utf8.RuneCountInString(s) <= 253
}

func hostOrIPv4(s string) bool { return hostname(s) || ipv4(s) }

func email(s string) bool { return matches(reEmail, s) && utf8.RuneCountInString(s) <= 254 }

func aclUser(s string) bool { return matches(reACLUser, s) && !matches(reACLUserNot, s) }

func nginxIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.IsValid() && matches(reNginxIP, s)
}

func nginxAddress(s string) bool {
	if !matches(reNginxAddress, s) {
		return false
	}
	if a, err := netip.ParseAddr(s); err == nil && a.IsValid() {
		return true
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

func pattern(name string) func(string) bool { return func(s string) bool { return matches(name, s) } }

func anyString(string) bool { return true }

// plainConfig reads a site configuration of plain data as #Config does,
// defaults applied, or reports false.
func plainConfig(root *plainNode) (*Config, bool) {
	r := &plainReader{}
	top := r.obj(&plainField{value: root})
	c := &Config{}
	im := top.sub("immich")
	plainImmich(&im, &c.Immich)
	im.done()

	vs := top.sub("valkey")
	c.Valkey.AdminPassword = vs.secret("adminPassword")
	c.Valkey.Users = []ValkeyUser{}
	if elems, ok := vs.list("users"); ok {
		for _, e := range elems {
			uo := r.obj(&plainField{value: e})
			u := ValkeyUser{
				Username: uo.str("username", "", true, aclUser),
				Password: uo.secret("password"),
			}
			u.KeyPatterns = uo.strings("keyPatterns", nil, true, anyString)
			u.ChannelPatterns = uo.strings("channelPatterns", nil, false, anyString)
			u.Commands = uo.str("commands", "", true, pattern(reACLRules))
			uo.done()
			c.Valkey.Users = append(c.Valkey.Users, u)
		}
	}
	c.Valkey.ACLMode = vs.enum("aclMode", ACLModeFile, ACLModeFile, ACLModeUser)
	vs.done()

	h := top.sub("host")
	c.Host = Host{
		ValkeyService:   h.str("valkeyService", "valkey-server", false, pattern(reUnitName)),
		NginxService:    h.str("nginxService", "nginx", false, pattern(reUnitName)),
		PostgresService: h.str("postgresService", "postgresql", false, pattern(reUnitName)),
		ValkeyGroup:     h.str("valkeyGroup", "valkey", false, pattern(reName)),
	}
	h.done()
	top.done()
	if r.bad {
		return nil, false
	}
	return c, true
}

func plainImmich(o *plainObj, im *Immich) {
	im.Version = o.str("version", "", true, pattern(reVersion))
	im.Port = o.integer("port", 2283, 1, 65535)
	im.Timezone = o.str("timezone", "Etc/UTC", false, pattern(reTimeZone))
	im.UploadLocation = o.str("uploadLocation", "", true, absPath)
	im.ProjectDir = o.str("projectDir", "/opt/podman/immich", false, absPath)
	im.ModelCache = o.str("modelCache", im.ProjectDir+"/model-cache", false, absPath)
	im.ComposeCommand = o.str("composeCommand", "/usr/bin/podman compose", false, pattern(reCommand))
	im.Runtime = o.enum("runtime", "compose", "compose", "quadlet")

	n := o.sub("network")
	im.Network = Network{
		Name:    n.str("name", "immich", false, pattern(reName)),
		Subnet:  n.str("subnet", "", true, cidr4),
		Gateway: n.str("gateway", "", true, ipv4),
	}
	n.done()
	im.HostGateway = o.str("hostGateway", im.Network.Gateway, false, ipv4)

	pg := o.sub("postgres")
	im.Postgres = ImmichPostgres{
		Host:            pg.str("host", "host.containers.internal", false, hostOrIPv4),
		Port:            pg.integer("port", 5432, 1, 65535),
		Database:        pg.str("database", "immich", false, pattern(rePGName)),
		User:            pg.str("user", "immich", false, pattern(rePGName)),
		Password:        pg.secret("password"),
		VectorExtension: pg.enum("vectorExtension", "vectorchord", "vectorchord", "pgvector", "pgvecto.rs"),
	}
	pg.done()

	vk := o.sub("valkey")
	im.Valkey = ImmichValkey{
		Host:        vk.str("host", "host.containers.internal", false, hostOrIPv4),
		Port:        vk.integer("port", 6379, 1, 65535),
		DB:          vk.integer("db", 0, 0, 15),
		User:        vk.str("user", "immich", false, aclUser),
		Password:    vk.secret("password"),
		KeyPatterns: vk.strings("keyPatterns", immichKeyPatterns, false, anyString),
		Commands:    vk.str("commands", "", false, func(s string) bool { return s != "" && matches(reACLRules, s) }),
	}
	vk.done()

	ml := o.sub("machineLearning")
	im.MachineLearning = MachineLearning{
		Environment:  ml.stringMap("environment", pattern(reMLEnvName)),
		URL:          ml.str("url", "", false, pattern(reMLURL)),
		Enabled:      ml.boolean("enabled", true),
		Acceleration: ml.enum("acceleration", "cpu", "cpu", "cuda", "openvino", "armnn", "rknn", "rocm"),
	}
	ml.done()

	st := o.sub("storage")
	im.Storage = Storage{
		Thumbs:       st.str("thumbs", "", false, absPath),
		EncodedVideo: st.str("encodedVideo", "", false, absPath),
		Profile:      st.str("profile", "", false, absPath),
		Backups:      st.str("backups", "", false, absPath),
	}
	st.done()

	me := o.sub("metrics")
	im.Metrics = Metrics{
		Enabled: me.boolean("enabled", false),
		Address: me.str("address", "127.0.0.1", false, ipv4),
	}
	me.done()

	tr := o.sub("transcoding")
	im.Transcoding.Acceleration = tr.enum("acceleration", "cpu", "cpu", "nvenc", "quicksync", "vaapi", "rkmpp")
	tr.done()

	im.GPUMode = o.enum("gpuMode", "cdi", "cdi", "deploy")
	im.SELinuxRelabel = o.boolean("selinuxRelabel", false)

	im.ExternalLibraries = []ExternalLibrary{}
	if elems, ok := o.list("externalLibraries"); ok {
		for _, e := range elems {
			lo := o.r.obj(&plainField{value: e})
			var lib ExternalLibrary
			lib.HostPath = lo.str("hostPath", "", true, absPath)
			lib.ContainerPath = lo.str("containerPath", path.Join("/mnt/external", path.Base(lib.HostPath)), false, absPath)
			lib.ReadOnly = lo.boolean("readOnly", true)
			lo.done()
			im.ExternalLibraries = append(im.ExternalLibraries, lib)
		}
	}
	im.Environment = o.stringMap("environment", pattern(reEnvName))

	dg := o.sub("imageDigests")
	im.ImageDigests = ImageDigests{
		Server:          dg.str("server", "", false, pattern(reDigest)),
		MachineLearning: dg.str("machineLearning", "", false, pattern(reDigest)),
	}
	dg.done()

	// Immich's settings are checked against the types of its version:
	// CUE's work.
	if o.get("settings") != nil {
		o.r.bad = true
	}

	ng := o.sub("nginx")
	plainNginx(&ng, &im.Nginx)
	ng.done()

	bk := o.sub("backup")
	im.Backup = Backup{
		Enabled:   bk.boolean("enabled", true),
		Schedule:  bk.str("schedule", "daily", false, anyString),
		Keep:      bk.integer("keep", 14, 1, 10000),
		Directory: bk.str("directory", "/var/backups/immich", false, absPath),
		ImmichJob: bk.boolean("immichJob", false),
	}
	bk.done()
}

func plainNginx(o *plainObj, ng *Nginx) {
	ng.Enabled = o.boolean("enabled", false)
	ng.Hostname = o.str("hostname", "", false, hostname)
	ng.TLS = o.enum("tls", "acme", "acme", "webroot", "manual", "off")

	a := o.sub("acme")
	ng.ACME.Email = a.str("email", "", false, email)
	ng.ACME.RenderIssuer = a.boolean("renderIssuer", true)
	ng.ACME.Staging = a.boolean("staging", false)
	issuer := "letsencrypt"
	if ng.ACME.Staging {
		issuer = "letsencrypt-staging"
	}
	ng.ACME.Issuer = a.str("issuer", issuer, false, pattern(reIssuer))
	ng.ACME.Directory = a.str("directory", "", false, pattern(reHTTPSURL))
	ng.ACME.Resolver = a.strings("resolver", []string{"1.1.1.1", "9.9.9.9"}, false, nginxIP)
	ng.ACME.StatePath = a.str("statePath", "/var/cache/nginx/acme-"+ng.ACME.Issuer, false, absPath)
	if ng.ACME.Staging && a.n.field("directory") != nil {
		o.r.bad = true
	}
	a.done()

	ng.MaxBodySize = o.str("maxBodySize", "50000M", false, pattern(reBodySize))
	ng.HTTPPort = o.integer("httpPort", 80, 1, 65535)
	ng.HTTPSPort = o.integer("httpsPort", 443, 1, 65535)
	ng.IPv6 = o.boolean("ipv6", false)
	http2 := "off"
	if ng.TLS == "acme" {
		http2 = "on"
	}
	ng.HTTP2 = o.enum("http2", http2, "off", "on", "listen")

	hs := o.sub("hsts")
	ng.HSTS.Enabled = hs.boolean("enabled", false)
	ng.HSTS.MaxAge = hs.integer("maxAge", 31536000, 1, 315360000)
	ng.HSTS.IncludeSubDomains = hs.boolean("includeSubDomains", false)
	hs.done()

	ng.Webroot = o.str("webroot", "/var/www/letsencrypt", false, absPath)
	cert, key := o.n.field("certificate") != nil, o.n.field("certificateKey") != nil
	ng.Certificate = o.str("certificate", "", false, absPath)
	ng.CertificateKey = o.str("certificateKey", "", false, absPath)
	ng.RealIPFrom = o.strings("realIpFrom", nil, false, nginxAddress)

	// The schema's conditions, as its comprehensions state them.
	bad := &o.r.bad
	if ng.Enabled {
		*bad = *bad || o.n.field("hostname") == nil
		if ng.TLS == "manual" && (!cert || !key) {
			*bad = true
		}
		if (ng.TLS == "webroot" || ng.TLS == "acme" && ng.ACME.RenderIssuer) && a.n.field("email") == nil {
			*bad = true
		}
	}
	if ng.TLS != "manual" && (cert || key) {
		*bad = true
	}
	if ng.TLS == "off" && (ng.HTTP2 != "off" || ng.HSTS.Enabled) {
		*bad = true
	}
}

// plainInputs are the inputs read as plain data: each on its own, and
// unified (a site's only: fleet says that some input has hosts: or
// defaults:, and LoadFleet reads it).
type plainInputs struct {
	each  []*plainNode
	fleet bool
	*plainNode
}

// readPlain reads every input as plain data and, for a site, unifies
// them, or reports false.
func readPlain(inputs []Input) (p plainInputs, ok bool) {
	if plainOff {
		return p, false
	}
	defer func() {
		if r := recover(); r != nil {
			p, ok = plainInputs{}, false // the CUE path reports it
		}
	}()
	for _, in := range inputs {
		n, plain := plainInput(in)
		if !plain {
			return p, false
		}
		p.each = append(p.each, n)
		p.fleet = p.fleet || n.field(fleetHosts) != nil || n.field(fleetDefaults) != nil
	}
	if p.fleet {
		return p, true
	}
	p.plainNode, ok = plainMerge(p.each)
	return p, ok
}

// loadPlain loads a site whose inputs are all plain data without the CUE
// schema, or reports false: the CUE path then loads it, and says what is
// wrong if anything is.
func loadPlain(inputs []Input, opt Options) (FleetHost, bool) {
	p, ok := readPlain(inputs)
	if !ok || p.fleet {
		return FleetHost{}, false
	}
	return p.load(inputs, opt)
}

// load validates the plain inputs of a site.
func (p plainInputs) load(inputs []Input, opt Options) (host FleetHost, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			host, ok = FleetHost{}, false
		}
	}()
	l := &loaded{names: map[string]bool{}, noLine: map[string]bool{}}
	for _, in := range inputs {
		l.names[in.Name] = true
		switch strings.ToLower(filepath.Ext(in.Name)) {
		case ".jsonnet", ".libsonnet":
			l.noLine[in.Name] = true
		}
	}
	return l.plainHost(p.each, p.plainNode, opt)
}

// plainHost finishes a host read as plain data: its secrets, the Go
// rules, the positions a host keeps. inputs are the inputs on their own,
// for positions; root is them merged.
func (l *loaded) plainHost(inputs []*plainNode, root *plainNode, opt Options) (FleetHost, bool) {
	cfg, ok := plainConfig(root)
	if !ok {
		return FleetHost{}, false
	}
	secrets, probs := l.resolveConfigSecrets(cfg, opt)
	if len(probs) > 0 {
		return FleetHost{}, false
	}
	for _, ns := range cfg.Secrets() {
		*ns.Secret = secrets[ns.Path]
	}
	if !rulesPass(cfg) {
		return FleetHost{}, false
	}
	positions := map[string][]token.Pos{}
	for _, p := range positionsKept {
		var out []token.Pos
		for _, in := range inputs {
			if f := in.at(splitPath(p)); f != nil {
				// As cue.Value.Pos: the field's, else its value's.
				pos := f.label
				if !pos.IsValid() {
					pos = f.value.pos
				}
				out = addPos(out, l.position(pos))
			}
		}
		if out != nil {
			positions[p] = out
		}
	}
	return FleetHost{Config: cfg, positions: positions}, true
}

// at is the field at a config path, or nil.
func (n *plainNode) at(path []string) *plainField {
	var f *plainField
	for _, elem := range path {
		if f = n.field(elem); f == nil {
			return nil
		}
		n = f.value
	}
	return f
}

// rulesPass reports whether every Go rule passes.
func rulesPass(c *Config) bool {
	ok := true
	add := func(string, string, string) { ok = false }
	for _, r := range rules {
		r.check(c, add)
	}
	for _, r := range fieldRules {
		r.check(c, add)
	}
	return ok
}

// immichKeyPatterns are the default of immich.valkey.keyPatterns.
var immichKeyPatterns = []string{"immich_bull*", "immich_channel*"}

// plainFleetHost validates a fleet host's merged configuration as plain
// data, or reports false.
func plainFleetHost(expr ast.Expr, names, noLine map[string]bool, opt Options) (r hostResult, ok bool) {
	if plainOff {
		return hostResult{}, false
	}
	defer func() {
		if recover() != nil {
			r, ok = hostResult{}, false
		}
	}()
	n, plain := plainSyntax(expr)
	if !plain || n.kind != plainStruct {
		return hostResult{}, false
	}
	l := &loaded{names: names, noLine: noLine}
	h, valid := l.plainHost([]*plainNode{n}, n, opt)
	if !valid {
		return hostResult{}, false
	}
	plainTaken.Add(1)
	return hostResult{cfg: h.Config, positions: h.positions}, true
}

// For tests: plainOff sends everything down the CUE path; plainTaken
// counts the fleet hosts the plain path took.
var (
	plainOff   bool
	plainTaken atomic.Int64
)
