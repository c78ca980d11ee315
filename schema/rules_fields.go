package schema

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Rules between fields that the schema's CUE once stated as comprehensions
// (if the version is older than..., if the gateway is not inside the
// subnet...). CUE evaluated each comprehension, and the unifications that
// guarded it, for every site and every fleet host: about a sixth of a
// host's unification. Here they are a few string comparisons, with the
// same messages, hints (the field's @hint) and positions; each runs on
// the fields it reads once those are valid on their own, as CUE's
// guards did, whatever else is wrong.
//
// CUE placed some of these problems at the field and others at its value
// (valuePos); each rule keeps the place its comprehension had.
var fieldRules = []fieldRule{
	{rule{[]string{"immich.version"}, checkVersionSupported}, false},
	{rule{[]string{"immich.version", "immich.postgres.vectorExtension"}, checkVectorExtension}, true},
	{rule{[]string{"immich.postgres.user"}, checkPostgresRole}, true},
	{rule{[]string{"immich.postgres.database"}, checkPostgresDatabase}, true},
	{rule{[]string{"immich.network.subnet", "immich.network.gateway"}, checkNetwork}, false},
}

// fieldRule is a rule of fieldRules, and whether its problems point at
// the value rather than at the field.
type fieldRule struct {
	rule
	valuePos bool
}

// schemaHint, as a rule's hint, is the field's own @hint in the schema.
const schemaHint = "\x00schema hint"

// versionNumbers is an Immich version's numbers, as the schema read them
// with strconv.Atoi (ParseVersion caps them for settings lookups).
func versionNumbers(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// checkVersionSupported refuses a version before v1.137.0.
func checkVersionSupported(c *Config, add addFunc) {
	v, ok := versionNumbers(c.Immich.Version)
	if ok && (v[0] < 1 || v[0] == 1 && v[1] < 137) {
		add("immich.version", fmt.Sprintf("Immich %s is older than v1.137.0, which moved the media path to /data; immich-render renders v1.137.0 and newer", c.Immich.Version), schemaHint)
	}
}

// checkVectorExtension refuses pgvecto.rs from Immich v3.0.0 on.
func checkVectorExtension(c *Config, add addFunc) {
	v, ok := versionNumbers(c.Immich.Version)
	if ok && v[0] >= 3 && c.Immich.Postgres.VectorExtension == "pgvecto.rs" {
		add("immich.postgres.vectorExtension", fmt.Sprintf("Immich %s no longer supports pgvecto.rs (removed in v3.0.0); use \"vectorchord\"", c.Immich.Version), schemaHint)
	}
}

// checkPostgresRole refuses a role that is not Immich's own: init.sql
// takes superuser and every other privilege from it.
func checkPostgresRole(c *Config, add addFunc) {
	switch u := c.Immich.Postgres.User; {
	case u == "postgres":
		add("immich.postgres.user", `"postgres" is the server's administrator; init.sql would take its superuser away: use a role of Immich's own such as "immich"`, schemaHint)
	case strings.HasPrefix(u, "pg_") || u == "public" || u == "none":
		add("immich.postgres.user", fmt.Sprintf(`PostgreSQL reserves the role name "%s" ("public", "none" and names starting with "pg_"): use another, such as "immich"`, u), schemaHint)
	}
}

// checkPostgresDatabase refuses PostgreSQL's own databases: init.sql
// hands the database to Immich's role.
func checkPostgresDatabase(c *Config, add addFunc) {
	if d := c.Immich.Postgres.Database; d == "postgres" || d == "template0" || d == "template1" {
		add("immich.postgres.database", fmt.Sprintf(`"%s" is one of PostgreSQL's own databases; init.sql would hand it to Immich's role: use a database of Immich's own such as "immich"`, d), schemaHint)
	}
}

// checkNetwork refuses a subnet with host bits set, and then a gateway
// outside the subnet or at its network or broadcast address.
func checkNetwork(c *Config, add addFunc) {
	n := c.Immich.Network
	prefix, err := netip.ParsePrefix(n.Subnet)
	if err != nil || !prefix.Addr().Is4() {
		return
	}
	network := prefix.Masked()
	if network.String() != n.Subnet {
		add("immich.network.subnet", fmt.Sprintf("%s has host bits set; the network is %s", n.Subnet, network), schemaHint)
		return // the gateway is checked against a subnet that is right
	}
	gw, err := netip.ParseAddr(n.Gateway)
	if err != nil {
		return
	}
	if !prefix.Contains(gw) {
		add("immich.network.gateway", fmt.Sprintf("%s is not inside subnet %s", n.Gateway, n.Subnet), schemaHint)
	}
	if n.Gateway == network.Addr().String() {
		add("immich.network.gateway", fmt.Sprintf("%s is the network address of %s, not a usable gateway", n.Gateway, n.Subnet), schemaHint)
	}
	if n.Gateway == broadcast(network).String() {
		add("immich.network.gateway", fmt.Sprintf("%s is the broadcast address of %s, not a usable gateway", n.Gateway, n.Subnet), schemaHint)
	}
}

// broadcast is the last address of an IPv4 network.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	for i := range a {
		if bits := p.Bits() - 8*i; bits < 8 {
			a[i] |= byte(0xFF) >> max(bits, 0)
		}
	}
	return netip.AddrFrom4(a)
}
