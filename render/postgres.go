package render

import (
	"bytes"
	_ "embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// Paths of the PostgreSQL fragments in the output; a fragment is merged
// into a file the host owns rather than copied over it.
const (
	PgHBAFragment        = "fragments/postgresql/pg_hba.conf"
	PostgresConfFragment = "fragments/postgresql/postgresql.conf"
)

// PostgresInitPath is the host path of the database init SQL.
func PostgresInitPath(cfg *schema.Config) string {
	return path.Join(cfg.Immich.ProjectDir, "postgres", "init.sql")
}

// vectorExtensions returns the extensions to create for
// immich.postgres.vectorExtension, in creation order, and the library the
// server must preload for them ("" for none).
func vectorExtensions(kind string) (exts []string, preload string) {
	switch kind {
	case "vectorchord":
		// vchord stores pgvector's types: it needs vector.
		return []string{"vector", "vchord"}, "vchord.so"
	case "pgvector":
		return []string{"vector"}, ""
	case "pgvecto.rs":
		return []string{"vectors"}, "vectors.so"
	}
	panic(fmt.Sprintf("vectorExtensions: unknown vector extension %q", kind))
}

// renderPostgres renders the database init SQL, its oneshot unit and the
// pg_hba / postgresql.conf fragments.
func renderPostgres(cfg *schema.Config, s *Shared) []tree.File {
	return []tree.File{
		// The verifier is not the password, but it allows an offline guess:
		// only root and the postgres user that runs the file read it.
		ownedFile(rootfs(PostgresInitPath(cfg)), initSQLFile.of(s, initSQLInputOf(cfg)), 0o640, "root:postgres"),
		file(rootfs(unitPath(DBInitUnit)), dbInitUnitFile.of(s, dbInitInputOf(cfg)), 0o644),
		file(PgHBAFragment, pgHBAFragment(cfg), 0o644),
		file(PostgresConfFragment, postgresConfFragment(cfg), 0o644),
	}
}

// init.sql is a psql script, run by a superuser on every start, that
// converges the server to what Immich needs: the role with exactly
// these attributes and password, the database it owns and nobody else may
// connect to, the extensions a non-superuser cannot create, and the public
// schema owned by the role. Every statement is idempotent; the ones that
// cannot be written so (CREATE ROLE, CREATE DATABASE) run through \gexec
// only when the object is missing. It stops before changing anything when
// the server or the vector extension is outside what Immich accepts, and
// rebuilds Immich's vector indexes after a vector extension changed.
// initSQLFile renders it for the requirements of the Immich version.
var initSQLFile = &sharedRenderer[initSQLInput]{render: func(in initSQLInput) []byte {
	return initSQL(in, postgresRequirementFor(in.Version))
}}

// initSQLInput is everything init.sql reads: the role's password only as
// its verifier.
type initSQLInput struct {
	Version, Path                             string
	User, Database, Verifier, VectorExtension string
}

func initSQLInputOf(cfg *schema.Config) initSQLInput {
	pg := cfg.Immich.Postgres
	return initSQLInput{Version: cfg.Immich.Version, Path: PostgresInitPath(cfg),
		User: pg.User, Database: pg.Database, Verifier: scramVerifier(pg.User, pg.Password.Value), VectorExtension: pg.VectorExtension}
}

// initSQL is init.sql checking the server against req.
func initSQL(pg initSQLInput, req postgresRequirement) []byte {
	vector, _ := vectorExtensions(pg.VectorExtension)
	check, ok := vectorCheckOf(req, pg.VectorExtension)
	if !ok {
		panic(fmt.Sprintf("init.sql: Immich %s does not support %s, which the schema refuses", pg.Version, pg.VectorExtension))
	}
	type required struct{ Ext, Name string }
	var reqs []required
	for _, e := range vector {
		reqs = append(reqs, required{e, extensionNames[e]})
	}
	data := struct {
		Version, Unit, Path, Source string
		User, Database, Verifier    string
		Postgres                    int
		Check                       vectorCheck
		Required                    []required
		Vector, Extensions, Indexes []string
		PgvectoRS                   bool
	}{
		Version: pg.Version, Unit: DBInitUnit, Path: pg.Path, Source: req.Source,
		User: pg.User, Database: pg.Database, Verifier: pg.Verifier,
		Postgres: req.Postgres, Check: check, Required: reqs,
		Vector: vector,
		// The others Immich's migrations create, all from PostgreSQL's
		// contrib, in creation order (earthdistance needs cube).
		Extensions: append(slices.Clone(vector), "cube", "earthdistance", "unaccent", "uuid-ossp", "pg_trgm"),
		// Immich's vector indexes, in the order of its documentation.
		Indexes:   []string{"public.face_index", "public.clip_index"},
		PgvectoRS: pg.VectorExtension == "pgvecto.rs",
	}
	var b bytes.Buffer
	if err := initSQLTemplate().Execute(&b, data); err != nil {
		panic("init.sql: " + err.Error()) // the template and its data are fixed
	}
	return b.Bytes()
}

// sqlIntArray writes a dotted version such as "0.3" as the int array
// ARRAY[0, 3]; anything but digits and dots is a bug in the table.
func sqlIntArray(version string) string {
	parts := strings.Split(version, ".")
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			panic(fmt.Sprintf("sqlIntArray: invalid version %q", version))
		}
	}
	return "ARRAY[" + strings.Join(parts, ", ") + "]"
}

// extensionNames are the vector extensions' product names, for messages.
var extensionNames = map[string]string{"vector": "pgvector", "vchord": "VectorChord", "vectors": "pgvecto.rs"}

//go:embed sql/init.sql.tmpl
var initSQLSource string

// initSQLTemplate writes init.sql; every value passes one of the SQL
// escapers (escape_sql.go). It is parsed on first use.
var initSQLTemplate = sync.OnceValue(func() *template.Template { return sqlTemplate("init.sql", initSQLSource) })

// sqlTemplate parses an SQL template with the escapers as functions:
// ident and lit quote an identifier or string constant, connect writes a
// psql \connect line, and do dollar-quotes a DO block (do TAG BLOCK DATA
// executes the template BLOCK).
func sqlTemplate(name, src string) *template.Template {
	t := template.New(name)
	t.Funcs(template.FuncMap{
		"ident":   sqlIdent,
		"lit":     sqlLiteral,
		"connect": psqlConnect,
		"array":   sqlIntArray,
		"header":  header,
		"sh":      shellPath,
		"do": func(tag, block string, data any) (string, error) {
			var b strings.Builder
			if err := t.ExecuteTemplate(&b, block, data); err != nil {
				return "", err
			}
			return sqlDollar(tag, b.String()), nil
		},
	})
	return template.Must(t.Parse(src))
}

// dbInitInput is everything immich-db-init.service reads.
type dbInitInput struct {
	PostgresService string // without ".service"
	Port            int
	InitPath        string
}

func dbInitInputOf(cfg *schema.Config) dbInitInput {
	return dbInitInput{PostgresService: cfg.Host.PostgresService, Port: cfg.Immich.Postgres.Port, InitPath: PostgresInitPath(cfg)}
}

// dbInitUnitFile is the oneshot that applies init.sql before Immich
// starts. immich.service wants it and orders itself after it; PartOf
// makes `systemctl restart immich` run it again, so a changed password or
// a new extension package applies without a reboot. It requires the dump
// before an upgrade, which runs first.
var dbInitUnitFile = &sharedRenderer[dbInitInput]{render: func(in dbInitInput) []byte {
	pgService := in.PostgresService + ".service"
	u := newUnitFile()
	u.Add("Unit", "Description", "Immich database init (role, database and extensions in the host PostgreSQL)")
	u.Add("Unit", "Documentation", "https://docs.immich.app/administration/postgres-standalone")
	u.AddList("Unit", "Requires", pgService, UpgradeDumpUnit)
	u.AddList("Unit", "After", pgService, UpgradeDumpUnit)
	u.Add("Unit", "PartOf", ImmichUnit)

	u.Add("Service", "Type", "oneshot")
	u.Add("Service", "RemainAfterExit", "yes")
	u.Comment("Service", "The postgres superuser through the local socket (peer authentication):")
	u.Comment("Service", "no password for the administrator anywhere.")
	u.Add("Service", "User", "postgres")
	u.AddEnv("Service", "PGAPPNAME", "immich-db-init")
	u.AddExec("Service", "ExecStart", "", "/usr/bin/psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", "-w",
		"-p", strconv.Itoa(in.Port), "-d", "postgres", "-f", in.InitPath)
	u.Add("Service", "TimeoutStartSec", "300")
	return u.Bytes()
}}

// pgHBAFragment is the pg_hba.conf line that lets Immich's containers in,
// and nothing else.
func pgHBAFragment(cfg *schema.Config) []byte {
	im := cfg.Immich
	return fmt.Appendf(nil, `%s# A fragment for pg_hba.conf.
#
# Merge this line into the host PostgreSQL's pg_hba.conf (Debian:
# /etc/postgresql/<version>/main/pg_hba.conf), then reload PostgreSQL.
# It is a fragment because that file belongs to the host and its other
# clients. The first matching line wins: put it above any broader "host"
# line or reject rule that would match the same address.
#
# Immich's containers (Podman network %s, %s) may reach
# only the database %s, only as the role %s,
# only with its SCRAM-SHA-256 password.
# TYPE  DATABASE  USER  ADDRESS  METHOD
host	%s	%s	%s	scram-sha-256
`,
		header("#"), im.Network.Name, im.Network.Subnet, im.Postgres.Database, im.Postgres.User,
		hbaName(im.Postgres.Database), hbaName(im.Postgres.User), im.Network.Subnet)
}

// pgListen is the listen_addresses Immich needs: loopback for the host,
// and the address the containers reach the host at.
func pgListen(cfg *schema.Config) string { return "localhost," + cfg.Immich.HostGateway }

// postgresConfFragment holds the server settings Immich needs.
func postgresConfFragment(cfg *schema.Config) []byte {
	im := cfg.Immich
	var b strings.Builder
	fmt.Fprintf(&b, `%s# A fragment for postgresql.conf.
#
# Merge these settings into the host PostgreSQL's configuration and restart
# it (both listen_addresses and shared_preload_libraries need a restart).
# It is a fragment because that configuration belongs to the host and its
# other databases: a value set later replaces, not extends, the one set
# before, so the host's own addresses and libraries must stay in the lists.
# fragments/apply.sh does that merge on Debian: it reads the host's values
# as PostgreSQL computes them and writes their union with these to
# /etc/postgresql/<version>/main/conf.d/immich-render.conf.

# The containers reach the host as host.containers.internal = %s%s.
# PostgreSQL binds its addresses only when it starts, before any container:
# with the sysctl net.ipv4.ip_nonlocal_bind=1 (apply.sh sets it) it binds
# this one before the bridge that carries it exists, and accepts
# connections on it from the moment the bridge comes up.
listen_addresses = %s
`, header("#"), im.HostGateway, gatewayNote(cfg), confString(pgListen(cfg)))
	if _, preload := vectorExtensions(im.Postgres.VectorExtension); preload != "" {
		fmt.Fprintf(&b, `
# The vector search extension (%s) must be loaded at server start.
shared_preload_libraries = %s
`, im.Postgres.VectorExtension, confString(preload))
	}
	fmt.Fprintf(&b, `
# Store passwords as SCRAM-SHA-256 verifiers (the default since PostgreSQL 14);
# init.sql sets a verifier itself, so this matters only for passwords set by hand.
password_encryption = %s
`, confString("scram-sha-256"))
	return []byte(b.String())
}
