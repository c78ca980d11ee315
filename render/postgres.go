package render

import (
	"fmt"
	"path"
	"strings"

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
func renderPostgres(cfg *schema.Config) []tree.File {
	return []tree.File{
		// The verifier is not the password, but it allows an offline guess:
		// only root and the postgres user that runs the file read it.
		ownedFile(rootfs(PostgresInitPath(cfg)), postgresInitSQL(cfg), 0o640, "root:postgres"),
		file(rootfs(unitPath(DBInitUnit)), dbInitUnit(cfg), 0o644),
		file(PgHBAFragment, pgHBAFragment(cfg), 0o644),
		file(PostgresConfFragment, postgresConfFragment(cfg), 0o644),
	}
}

// postgresInitSQL is a psql script, run by a superuser on every start,
// that converges the server to what Immich needs: the role with exactly
// these attributes and password, the database it owns and nobody else may
// connect to, the extensions a non-superuser cannot create, and the public
// schema owned by the role. Every statement is idempotent; the ones that
// cannot be written so (CREATE ROLE, CREATE DATABASE) run through \gexec
// only when the object is missing.
func postgresInitSQL(cfg *schema.Config) []byte {
	pg := cfg.Immich.Postgres
	role, db := sqlIdent(pg.User), sqlIdent(pg.Database)
	exts, _ := vectorExtensions(pg.VectorExtension)
	// The others Immich's migrations create, all from PostgreSQL's contrib,
	// in creation order (earthdistance needs cube).
	exts = append(exts, "cube", "earthdistance", "unaccent", "uuid-ossp", "pg_trgm")

	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w(`%s--
-- Prepares the host PostgreSQL for Immich without making Immich a
-- superuser: the role, the database it owns, and the extensions Immich's
-- migrations need, which only a superuser can create.
-- Idempotent: %s runs it on every start of Immich,
-- as the postgres superuser through the local socket:
--   psql -v ON_ERROR_STOP=1 -X -q -f %s
-- The password is stored as a SCRAM-SHA-256 verifier; this file does not
-- contain it.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- Taking superuser from the role that runs this file would lock the
-- server's administrator out.
DO %s;

-- The role: created when missing, then given exactly these attributes and
-- this password on every run, whatever was changed by hand.
SELECT %s
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = %s)\gexec
ALTER ROLE %s WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  VALID UNTIL %s
  PASSWORD %s;

-- The database, owned by the role. CREATE DATABASE cannot run in a
-- transaction or a DO block, hence \gexec.
SELECT %s
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = %s)\gexec
ALTER DATABASE %s OWNER TO %s;
-- Other roles of this shared server may not even connect to it.
REVOKE ALL ON DATABASE %s FROM PUBLIC;

%s
SET client_min_messages = warning;

-- Extensions Immich needs in its database. ALTER EXTENSION ... UPDATE moves
-- each to the version of the installed package after an upgrade, which
-- Immich cannot do without superuser.
`,
		header("--"), DBInitUnit, PostgresInitPath(cfg),
		sqlDollar("guard", fmt.Sprintf(`
BEGIN
  IF current_user = %s THEN
    RAISE EXCEPTION %s, current_user;
  END IF;
END
`, sqlLiteral(pg.User), sqlLiteral("init.sql must not run as %, the role it restricts: run it as another superuser such as postgres"))),
		sqlLiteral("CREATE ROLE "+role), sqlLiteral(pg.User),
		role, sqlLiteral("infinity"), sqlLiteral(scramVerifier(pg.User, pg.Password.Value)),
		sqlLiteral("CREATE DATABASE "+db+" OWNER "+role), sqlLiteral(pg.Database),
		db, role, db,
		psqlConnect(pg.Database))
	for _, e := range exts {
		w("CREATE EXTENSION IF NOT EXISTS %s CASCADE;\n", sqlIdent(e))
	}
	for _, e := range exts {
		w("ALTER EXTENSION %s UPDATE;\n", sqlIdent(e))
	}
	if pg.VectorExtension == "pgvecto.rs" {
		w(`
-- pgvecto.rs keeps its objects in the schema vectors: Immich needs it on
-- the search path, and to read its index statistics.
ALTER DATABASE %s SET search_path TO %s, %s, %s;
ALTER SCHEMA %s OWNER TO %s;
GRANT SELECT ON TABLE %s.%s TO %s;
`, db, sqlIdent("$user"), sqlIdent("public"), sqlIdent("vectors"),
			sqlIdent("vectors"), role,
			sqlIdent("vectors"), sqlIdent("pg_vector_index_stat"), role)
	}
	w(`
-- Immich creates its tables in the public schema.
ALTER SCHEMA %s OWNER TO %s;
`, sqlIdent("public"), role)
	return []byte(b.String())
}

// dbInitUnit is the oneshot that applies init.sql before Immich starts.
// immich.service wants it and orders itself after it; PartOf makes
// `systemctl restart immich` run it again, so a changed password or a new
// extension package applies without a reboot.
func dbInitUnit(cfg *schema.Config) []byte {
	pgService := cfg.Host.PostgresService + ".service"
	u := newUnitFile()
	u.Add("Unit", "Description", "Immich database init (role, database and extensions in the host PostgreSQL)")
	u.Add("Unit", "Documentation", "https://docs.immich.app/administration/postgres-standalone")
	u.Add("Unit", "Requires", pgService)
	u.Add("Unit", "After", pgService)
	u.Add("Unit", "PartOf", ImmichUnit)

	u.Add("Service", "Type", "oneshot")
	u.Add("Service", "RemainAfterExit", "yes")
	u.Comment("Service", "The postgres superuser through the local socket (peer authentication):")
	u.Comment("Service", "no password for the administrator anywhere.")
	u.Add("Service", "User", "postgres")
	u.AddEnv("Service", "PGAPPNAME", "immich-db-init")
	u.AddExec("Service", "ExecStart", "", "/usr/bin/psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", "-w",
		"-p", fmt.Sprint(cfg.Immich.Postgres.Port), "-d", "postgres", "-f", PostgresInitPath(cfg))
	u.Add("Service", "TimeoutStartSec", "300")
	return u.Bytes()
}

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

// postgresConfFragment holds the server settings Immich needs.
func postgresConfFragment(cfg *schema.Config) []byte {
	im := cfg.Immich
	var b strings.Builder
	fmt.Fprintf(&b, `%s# A fragment for postgresql.conf.
#
# Merge these settings into the host PostgreSQL's configuration and restart
# it (both listen_addresses and shared_preload_libraries need a restart).
# It is a fragment because that configuration belongs to the host and its
# other databases. On Debian the file can go to
# /etc/postgresql/<version>/main/conf.d/immich.conf, which postgresql.conf
# includes last: a value here then replaces, not extends, the one set
# before, so merge the lists by hand if you already listen on other
# addresses or preload other libraries.

# The containers reach the host as host.containers.internal = %s%s.
# PostgreSQL binds its addresses only when it starts, before any container:
# with the sysctl net.ipv4.ip_nonlocal_bind=1 (apply.sh sets it) it binds
# this one before the bridge that carries it exists, and accepts
# connections on it from the moment the bridge comes up.
listen_addresses = %s
`, header("#"), im.HostGateway, gatewayNote(cfg), confString("localhost,"+im.HostGateway))
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
