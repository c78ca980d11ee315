package render

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/immich-render/immich-render/internal/pgtest"
	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// renderPostgresOnly runs just this file's renderer, so that these tests
// do not depend on the other artifacts.
func renderPostgresOnly(cfg *schema.Config) tree.Tree { return treeOf(renderPostgres(cfg, nil)) }

// postgresInitSQL is cfg's init.sql, rendered alone.
func postgresInitSQL(cfg *schema.Config) []byte { return initSQLFile.render(initSQLInputOf(cfg)) }

// dbInitUnit is cfg's immich-db-init.service, rendered alone.
func dbInitUnit(cfg *schema.Config) []byte { return dbInitUnitFile.render(dbInitInputOf(cfg)) }

func TestPostgresRender(t *testing.T) {
	const pw = "Pg-Secret 'quoted' \\ $x %y #z ü"
	cfg := testenv.Config(t, map[string]string{"IMMICH_POSTGRES_PASSWORD": pw}, `immich: projectDir: "/srv/immich"`)
	out := renderPostgresOnly(cfg)
	want := []string{
		"fragments/postgresql/pg_hba.conf",
		"fragments/postgresql/postgresql.conf",
		"rootfs/etc/systemd/system/immich-db-init.service",
		"rootfs/srv/immich/postgres/init.sql",
	}
	if got := out.Paths(); !slices.Equal(got, want) {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	for _, p := range want {
		f := out[p]
		wantMode, wantOwner := fs.FileMode(0o644), ""
		if strings.HasSuffix(p, "/init.sql") {
			wantMode, wantOwner = 0o640, "root:postgres"
		}
		if f.Mode != wantMode || f.Owner != wantOwner {
			t.Errorf("%s: mode %o owner %q, want %o %q", p, f.Mode, f.Owner, wantMode, wantOwner)
		}
		if bytes.Contains(f.Data, []byte(pw)) || bytes.Contains(f.Data, []byte("Pg-Secret")) {
			t.Errorf("%s contains the plaintext password", p)
		}
		if !bytes.HasSuffix(f.Data, []byte("\n")) || bytes.Contains(f.Data, []byte("\r")) {
			t.Errorf("%s: not LF-terminated lines", p)
		}
	}
	if again := renderPostgresOnly(cfg); !equalTrees(out, again) {
		t.Error("two renders of one configuration differ")
	}
	sql := string(out["rootfs/srv/immich/postgres/init.sql"].Data)
	if v := scramVerifier("immich", pw); !strings.Contains(sql, "PASSWORD '"+v+"'") {
		t.Errorf("init.sql does not set the verifier %s", v)
	}

	// The vector extension decides the extensions and the preloaded library.
	for _, tc := range []struct{ kind, create, preload string }{
		{"vectorchord", `"vector" CASCADE;` + "\n" + `CREATE EXTENSION IF NOT EXISTS "vchord"`, "shared_preload_libraries = 'vchord.so'"},
		{"pgvector", `"vector" CASCADE;` + "\n" + `CREATE EXTENSION IF NOT EXISTS "cube"`, ""},
		{"pgvecto.rs", `"vectors" CASCADE;`, "shared_preload_libraries = 'vectors.so'"},
	} {
		c := *cfg
		c.Immich.Postgres.VectorExtension = tc.kind
		if tc.kind == "pgvecto.rs" {
			c.Immich.Version = "v2.5.6" // v3 removed it
		}
		sql, conf := string(postgresInitSQL(&c)), string(postgresConfFragment(&c))
		if !strings.Contains(sql, "CREATE EXTENSION IF NOT EXISTS "+tc.create) {
			t.Errorf("%s: init.sql lacks %s:\n%s", tc.kind, tc.create, sql)
		}
		if tc.preload == "" && strings.Contains(conf, "\nshared_preload_libraries") || tc.preload != "" && !strings.Contains(conf, "\n"+tc.preload+"\n") {
			t.Errorf("%s: postgresql.conf fragment, want %q:\n%s", tc.kind, tc.preload, conf)
		}
	}
}

func equalTrees(a, b tree.Tree) bool {
	if len(a) != len(b) {
		return false
	}
	for p, f := range a {
		if g, ok := b[p]; !ok || g.Mode != f.Mode || !bytes.Equal(g.Data, f.Data) {
			return false
		}
	}
	return true
}

// TestPostgresUnitVerify runs systemd-analyze verify on the db-init unit,
// strictly: it exits 0 on warnings such as an unknown key, so any output
// fails the test. verify also checks that /usr/bin/psql exists and that
// the units it requires load.
func TestPostgresUnitVerify(t *testing.T) {
	bin := testenv.Binary(t, "systemd-analyze")
	if _, err := os.Stat("/usr/bin/psql"); err != nil {
		testenv.Skip(t, "/usr/bin/psql, which the unit runs, is not installed")
	}
	for name, cue := range map[string]string{
		"default":    ``,
		"odd values": `immich: {projectDir: "/srv/Fotos Familie ü@x+y=z,~", postgres: port: 6543}, host: postgresService: "postgresql@15-main"`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testenv.Config(t, nil, cue)
			dir := t.TempDir()
			unit := filepath.Join(dir, DBInitUnit)
			if err := os.WriteFile(unit, dbInitUnit(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			// Units in the verified file's folder load first: a stand-in
			// for the PostgreSQL service, which may not be installed.
			stub := filepath.Join(dir, cfg.Host.PostgresService+".service")
			if err := os.WriteFile(stub, []byte("[Service]\nType=oneshot\nExecStart=/bin/true\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			// The dump before an upgrade, which the unit requires.
			dumpUnit := filepath.Join(dir, UpgradeDumpUnit)
			if err := os.WriteFile(dumpUnit, upgradeDumpUnit(dumpInputOf(cfg)), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "verify", "--man=no", unit, dumpUnit)
			cmd.Dir = dir
			if got, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(got)) > 0 {
				t.Errorf("systemd-analyze verify: %v\n%s\n%s", err, got, dbInitUnit(cfg))
			}
			argv := unitExecStart(t, dbInitUnit(cfg))
			wantArgv := []string{"/usr/bin/psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", "-w", "-p", strconv.Itoa(cfg.Immich.Postgres.Port), "-d", "postgres", "-f", PostgresInitPath(cfg)}
			if !slices.Equal(argv, wantArgv) {
				t.Errorf("ExecStart = %q, want %q", argv, wantArgv)
			}
		})
	}
}

// unitExecStart returns the ExecStart command of a unit as systemd splits
// it: quoted words with C escapes, then %% and $$ undone.
func unitExecStart(t *testing.T, unit []byte) []string {
	t.Helper()
	var line string
	for l := range strings.Lines(string(unit)) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), "ExecStart="); ok {
			line = s
		}
	}
	var argv []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimLeft(line, " ") {
		var w strings.Builder
		if line[0] == '"' {
			i := 1
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				w.WriteByte(line[i])
			}
			line = line[min(i+1, len(line)):]
		} else {
			end := strings.IndexByte(line, ' ')
			if end < 0 {
				end = len(line)
			}
			w.WriteString(line[:end])
			line = line[end:]
		}
		argv = append(argv, strings.NewReplacer("%%", "%", "$$", "$").Replace(w.String()))
	}
	if len(argv) == 0 {
		t.Fatalf("no ExecStart in\n%s", unit)
	}
	return argv
}

// Hostile strings for the quoting helpers and the password: SQL and psql
// syntax, shell and systemd specials, non-ASCII.
var hostileStrings = []string{
	`plain`,
	`it's`,
	`'; DROP ROLE postgres; --`,
	`x'); DROP TABLE t; --`,
	`back\slash\`,
	`\'`,
	`\\' OR '1'='1`,
	`"double" ""quotes""`,
	`$$dollar$$ $guard$ $1`,
	`:foo :'foo' :"foo" \gexec \! id \q`,
	`%n %% #hash ;semi`,
	"tab\there",
	"new\nline",
	`ü€日本語 🙂`,
	`E'x' U&'\0041'`,
}

// FuzzSQLLiteral checks that sqlLiteral's output reads back as the input
// under PostgreSQL's rules for '...' and E'...' strings.
func FuzzSQLLiteral(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			return
		}
		q := sqlLiteral(s)
		got, rest, ok := readSQLLiteral(q)
		if !ok || rest != "" || got != s {
			t.Fatalf("sqlLiteral(%q) = %s reads back as %q (rest %q, ok %v)", s, q, got, rest, ok)
		}
	})
}

// readSQLLiteral reads one string constant as PostgreSQL does with
// standard_conforming_strings on.
func readSQLLiteral(q string) (val, rest string, ok bool) {
	escape := strings.HasPrefix(q, "E'")
	if escape {
		q = q[1:]
	}
	if !strings.HasPrefix(q, "'") {
		return "", q, false
	}
	var b strings.Builder
	for i := 1; i < len(q); i++ {
		switch c := q[i]; {
		case c == '\'' && i+1 < len(q) && q[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == '\'':
			return b.String(), q[i+1:], true
		case c == '\\' && escape:
			if i+1 >= len(q) || q[i+1] != '\\' && q[i+1] != '\'' {
				return "", "", false // an escape sqlLiteral never writes
			}
			b.WriteByte(q[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// FuzzSQLIdent checks that sqlIdent's output reads back as the input.
func FuzzSQLIdent(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || len(s) > 63 || strings.ContainsRune(s, 0) {
			return
		}
		q := sqlIdent(s)
		inner, ok := strings.CutPrefix(q, `"`)
		inner, ok2 := strings.CutSuffix(inner, `"`)
		if !ok || !ok2 || strings.Contains(strings.ReplaceAll(inner, `""`, ""), `"`) || strings.ReplaceAll(inner, `""`, `"`) != s {
			t.Fatalf("sqlIdent(%q) = %s", s, q)
		}
	})
}

// pgServer is a throwaway PostgreSQL cluster (internal/pgtest) with the
// helpers these tests add.
type pgServer struct{ *pgtest.Server }

func startPostgres(t *testing.T) *pgServer { return &pgServer{pgtest.Start(t)} }

// apply applies a rendered configuration as immich-db-init.service
// would: init.sql written at its host path (under the test's project
// folder), ExecStart run as the unit's user. The unit uses the default
// socket folder; here PGHOST points to the test server's.
func (s *pgServer) apply(t *testing.T, cfg *schema.Config) (stdout, stderr string) {
	t.Helper()
	out := renderPostgresOnly(cfg)
	s.WriteFile(t, PostgresInitPath(cfg), string(out[rootfs(PostgresInitPath(cfg))].Data))
	unit := out[rootfs(unitPath(DBInitUnit))].Data
	argv := unitExecStart(t, unit)
	if !bytes.Contains(unit, []byte("\nUser=postgres\n")) {
		t.Fatalf("the unit does not run as postgres:\n%s", unit)
	}
	c := s.Cmd([]string{"PGHOST=" + s.Dir, "PGAPPNAME=immich-db-init"}, argv[0], argv[1:]...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	if err := c.Run(); err != nil {
		t.Fatalf("applying init.sql (%q): %v\n%s%s", argv, err, o.String(), e.String())
	}
	return o.String(), e.String()
}

// testConfig is a validated configuration for the test server: project
// files under its folder, its port, and the loopback network in place of
// the Podman subnet (the only addresses a test may use), so that the
// rendered pg_hba line is the one that admits the test's logins.
func (s *pgServer) testConfig(t *testing.T, password string, extra ...string) *schema.Config {
	t.Helper()
	env := map[string]string{}
	if password != "" {
		env["IMMICH_POSTGRES_PASSWORD"] = password
	}
	extra = append(extra, fmt.Sprintf("immich: {projectDir: %q, postgres: port: %d}", filepath.Join(s.Dir, "project"), s.Port))
	cfg := testenv.Config(t, env, extra...)
	cfg.Immich.Network.Subnet, cfg.Immich.Network.Gateway = "127.0.0.0/8", "127.0.0.1"
	return cfg
}

// TestPostgres applies init.sql to a real PostgreSQL and checks every
// promise it makes, with the fragments in force.
func TestPostgres(t *testing.T) {
	start := time.Now()
	s := startPostgres(t)
	t.Logf("PostgreSQL (%s) up in %v", s.Bin, time.Since(start).Round(time.Millisecond))

	const password = "Correct-Horse-Battery-9"
	cfg := s.testConfig(t, password)
	pg := cfg.Immich.Postgres

	// pg_hba.conf: the superuser through the socket, then the rendered
	// fragment, then a fallback for the test's other roles.
	s.WriteHBA(t, s.LocalHBA()+string(pgHBAFragment(cfg))+"host all all 127.0.0.1/32 scram-sha-256\n")

	t.Run("fragments", func(t *testing.T) {
		if errs := s.Superuser(t, "postgres", "SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL"); errs != "" {
			t.Fatalf("pg_hba.conf with the fragment has errors: %s", errs)
		}
		// The fragment's line is the first host line, so it is the one
		// that admits the logins below.
		rule := s.Superuser(t, "postgres", "SELECT type, database, user_name, address, netmask, auth_method FROM pg_hba_file_rules WHERE type = 'host' ORDER BY line_number LIMIT 1")
		if want := "host|{immich}|{immich}|127.0.0.0|255.0.0.0|scram-sha-256"; rule != want {
			t.Errorf("first host rule = %s, want %s", rule, want)
		}
		// postgresql.conf: the server parses the fragment after its own
		// configuration and reports the values it would use.
		frag := filepath.Join(s.Dir, "fragment.conf")
		s.WriteFile(t, frag, string(postgresConfFragment(cfg)))
		top := filepath.Join(s.Dir, "with-fragment.conf")
		s.WriteFile(t, top, fmt.Sprintf("include '%s'\ninclude '%s'\n", filepath.Join(s.Data(), "postgresql.conf"), frag))
		for name, want := range map[string]string{
			"listen_addresses":         "localhost," + cfg.Immich.HostGateway,
			"shared_preload_libraries": "vchord.so",
			"password_encryption":      "scram-sha-256",
		} {
			got := s.Run(t, nil, "postgres", "-D", s.Data(), "-c", "config_file="+top, "-C", name)
			if strings.TrimSpace(got) != want {
				t.Errorf("%s = %q with the fragment, want %q", name, got, want)
			}
		}
	})

	// Another role of the shared server, and a role that must survive.
	s.Superuser(t, "postgres", "CREATE ROLE other LOGIN PASSWORD 'other-password-123'; CREATE ROLE canary")

	var first string
	t.Run("apply twice", func(t *testing.T) {
		for i := 1; i <= 2; i++ {
			stdout, stderr := s.apply(t, cfg)
			if stdout != "" || stderr != "" {
				t.Errorf("run %d printed (want nothing, for a quiet journal):\n%s%s", i, stdout, stderr)
			}
			state := dbState(t, s, pg.User, pg.Database)
			if i == 1 {
				first = state
			} else if state != first {
				t.Errorf("the second run changed the state:\n%s\nthen\n%s", first, state)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("role", func(t *testing.T) {
		got := s.Superuser(t, "postgres", "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolvaliduntil FROM pg_authid WHERE rolname = "+sqlLiteral(pg.User))
		if want := "t|f|f|f|f|f|infinity"; got != want {
			t.Errorf("login, super, createdb, createrole, replication, bypassrls, valid until = %s, want %s", got, want)
		}
		// A malformed verifier would be stored as a plaintext password.
		stored := s.Superuser(t, "postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = "+sqlLiteral(pg.User))
		if want := scramVerifier(pg.User, password); stored != want || !strings.HasPrefix(stored, "SCRAM-SHA-256$4096:") {
			t.Errorf("stored password = %q, want the rendered verifier %q", stored, want)
		}
	})

	t.Run("database", func(t *testing.T) {
		got := s.Superuser(t, "postgres", "SELECT pg_get_userbyid(datdba), has_database_privilege('other', oid, 'CONNECT') FROM pg_database WHERE datname = "+sqlLiteral(pg.Database))
		if want := pg.User + "|f"; got != want {
			t.Errorf("owner, can other connect = %s, want %s", got, want)
		}
		exts := s.Superuser(t, pg.Database, "SELECT string_agg(extname || '@' || extnamespace::regnamespace, ' ' ORDER BY extname) FROM pg_extension")
		if want := "cube@public earthdistance@public pg_trgm@public plpgsql@pg_catalog unaccent@public uuid-ossp@public vchord@public vector@public"; exts != want {
			t.Errorf("extensions = %s, want %s", exts, want)
		}
		if owner := s.Superuser(t, pg.Database, "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'public'"); owner != pg.User {
			t.Errorf("public schema owner = %s, want %s", owner, pg.User)
		}
		if _, err := s.Login("other", "other-password-123", pg.Database, "SELECT 1"); err == nil || !strings.Contains(err.Error(), "permission denied for database") {
			t.Errorf("another role connecting to %s: %v, want permission denied", pg.Database, err)
		}
	})

	t.Run("login", func(t *testing.T) {
		got, err := s.Login(pg.User, password, pg.Database, "SELECT current_user, current_database()")
		if err != nil || got != pg.User+"|"+pg.Database {
			t.Fatalf("login with the password: %q, %v", got, err)
		}
		// What Immich's migrations do as the owner of public.
		if _, err := s.Login(pg.User, password, pg.Database, "CREATE TABLE probe (id uuid DEFAULT uuid_generate_v4(), p cube, n text); DROP TABLE probe"); err != nil {
			t.Errorf("creating a table in public: %v", err)
		}
		for _, wrong := range []string{password + "x", strings.ToLower(password), ""} {
			if _, err := s.Login(pg.User, wrong, pg.Database, "SELECT 1"); err == nil || !strings.Contains(err.Error(), "password authentication failed") && !strings.Contains(err.Error(), "no password supplied") {
				t.Errorf("login with the wrong password %q: %v, want password authentication failed", wrong, err)
			}
		}
	})

	t.Run("no more privileges", func(t *testing.T) {
		for sql, want := range map[string]string{
			"CREATE DATABASE stolen":                         "permission denied to create database",
			"CREATE ROLE stolen":                             "permission denied to create role",
			"ALTER ROLE " + sqlIdent(pg.User) + " SUPERUSER": "must be superuser",
			"DROP ROLE canary":                               "permission denied to drop role",
			"CREATE EXTENSION file_fdw":                      "permission denied to create extension",
		} {
			if _, err := s.Login(pg.User, password, pg.Database, sql); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s as %s: %v, want %q", sql, pg.User, err, want)
			}
		}
	})

	t.Run("hostile passwords", func(t *testing.T) {
		logFile := filepath.Join(s.Dir, "server.log")
		logStart, _ := os.ReadFile(logFile)
		prev := password
		for _, pw := range []string{
			`with spaces and "double" and 'single' quotes`,
			`'; DROP ROLE canary; --`,
			`x'; DROP ROLE postgres; DROP ROLE canary; --`,
			`back\slash\\ \'x\gexec`,
			`$dollar$$ $guard$ ${HOME} %h %% #hash`,
			`:foo :'foo' \! touch /tmp/pwned`,
			`pässwörd-日本語-€-🙂`,
		} {
			cfg := s.testConfig(t, pw)
			file := renderPostgresOnly(cfg)[rootfs(PostgresInitPath(cfg))].Data
			if bytes.Contains(file, []byte(pw)) {
				t.Fatalf("init.sql contains the password %q", pw)
			}
			s.apply(t, cfg)
			if stored := s.Superuser(t, "postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = "+sqlLiteral(pg.User)); stored != scramVerifier(pg.User, pw) {
				t.Errorf("password %q: stored %q, want %q", pw, stored, scramVerifier(pg.User, pw))
			}
			if got, err := s.Login(pg.User, pw, pg.Database, "SELECT current_user"); err != nil || got != pg.User {
				t.Errorf("login with %q: %q, %v", pw, got, err)
			}
			for _, wrong := range []string{prev, pw + " ", strings.TrimSuffix(pw, string([]rune(pw)[utf8.RuneCountInString(pw)-1]))} {
				if _, err := s.Login(pg.User, wrong, pg.Database, "SELECT 1"); err == nil {
					t.Errorf("password %q set, but %q logs in too", pw, wrong)
				}
			}
			prev = pw
		}
		// Nothing of any password ran: the roles are there, and the
		// server's statement log has no DROP.
		if got := s.Superuser(t, "postgres", "SELECT string_agg(rolname, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('canary', 'postgres')"); got != "canary postgres" {
			t.Errorf("roles canary and postgres: got %q", got)
		}
		log, _ := os.ReadFile(logFile)
		log = log[len(logStart):]
		if bytes.Contains(bytes.ToUpper(log), []byte("DROP ROLE")) || !bytes.Contains(log, []byte("ALTER ROLE")) {
			t.Errorf("the statement log has a DROP ROLE (or no ALTER ROLE at all):\n%s", log)
		}
	})

	t.Run("hostile names", func(t *testing.T) {
		// Past the schema, which allows only [a-z0-9_]: the quoting alone
		// must carry any role and database name.
		c := *s.testConfig(t, "")
		c.Immich.Postgres.User = `we"ird' \role :foo $guard$`
		c.Immich.Postgres.Database = `d"b' \x=1 :bar $$ ü`
		c.Immich.Postgres.VectorExtension = "pgvecto.rs"
		c.Immich.Version = "v2.5.6" // v3 removed pgvecto.rs
		sql := postgresInitSQL(&c)
		f := filepath.Join(s.Dir, "hostile.sql")
		s.WriteFile(t, f, string(sql))
		for range 2 {
			s.Run(t, s.SuperuserEnv("postgres"), "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", f)
		}
		got := s.Superuser(t, "postgres", "SELECT pg_get_userbyid(datdba) = "+sqlLiteral(c.Immich.Postgres.User)+" FROM pg_database WHERE datname = "+sqlLiteral(c.Immich.Postgres.Database))
		if got != "t" {
			t.Errorf("database %q owned by %q: %q\n%s", c.Immich.Postgres.Database, c.Immich.Postgres.User, got, sql)
		}
		if got, err := s.Login(c.Immich.Postgres.User, c.Immich.Postgres.Password.Value, c.Immich.Postgres.Database, "SELECT current_database()"); err != nil || got != c.Immich.Postgres.Database {
			t.Errorf("login: %q, %v", got, err)
		}
	})

	t.Run("vector extensions", func(t *testing.T) {
		for _, tc := range []struct{ kind, want string }{
			{"pgvector", "cube earthdistance pg_trgm plpgsql unaccent uuid-ossp vector"},
			{"pgvecto.rs", "cube earthdistance pg_trgm plpgsql unaccent uuid-ossp vectors"},
		} {
			name := strings.NewReplacer(".", "_").Replace("immich_" + tc.kind)
			cfg := s.testConfig(t, "", fmt.Sprintf("immich: postgres: {user: %q, database: %q}", name, name))
			cfg.Immich.Postgres.VectorExtension = tc.kind
			if tc.kind == "pgvecto.rs" {
				cfg.Immich.Version = "v2.5.6" // v3 removed it
			}
			s.apply(t, cfg)
			s.apply(t, cfg)
			if got := s.Superuser(t, name, "SELECT string_agg(extname, ' ' ORDER BY extname) FROM pg_extension"); got != tc.want {
				t.Errorf("%s: extensions %s, want %s", tc.kind, got, tc.want)
			}
			if tc.kind == "pgvecto.rs" {
				got, err := s.Login(name, cfg.Immich.Postgres.Password.Value, name, "SHOW search_path; SELECT count(*) FROM pg_vector_index_stat")
				if want := "\"$user\", public, vectors\n0"; err != nil || got != want {
					t.Errorf("pgvecto.rs: search path and index statistics: %q, %v; want %q", got, err, want)
				}
			}
		}
	})

	t.Run("refuses to demote its own superuser", func(t *testing.T) {
		c := *cfg
		c.Immich.Postgres.User = "postgres"
		f := filepath.Join(s.Dir, "demote.sql")
		s.WriteFile(t, f, string(postgresInitSQL(&c)))
		out, err := s.Cmd(s.SuperuserEnv("postgres"), "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", f).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "init.sql must not run as postgres") {
			t.Errorf("init.sql for role postgres, run as postgres: %v\n%s", err, out)
		}
		if got := s.Superuser(t, "postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'"); got != "t" {
			t.Errorf("postgres is no longer a superuser")
		}
	})

	t.Run("quoting round trip", func(t *testing.T) {
		// Each hostile string as a literal and as an identifier, read back
		// by the server (through psql's lexer), with
		// standard_conforming_strings on and off.
		var script, want strings.Builder
		script.WriteString("CREATE TEMP TABLE ids (n int, name name);\n")
		for _, scs := range []string{"on", "off"} {
			fmt.Fprintf(&script, "SET standard_conforming_strings = %s;\n", scs)
			for _, h := range hostileStrings {
				fmt.Fprintf(&script, "SELECT md5(%s);\n", sqlLiteral(h))
				sum := md5.Sum([]byte(h))
				want.WriteString(hex.EncodeToString(sum[:]) + "\n")
			}
		}
		for i, h := range hostileStrings {
			fmt.Fprintf(&script, "CREATE TEMP TABLE %s (x int);\nINSERT INTO ids SELECT %d, relname FROM pg_class WHERE oid = %s::regclass;\n",
				sqlIdent(h), i, sqlLiteral(sqlIdent(h)))
		}
		script.WriteString("SELECT md5(name::text) FROM ids ORDER BY n;\n")
		for _, h := range hostileStrings {
			sum := md5.Sum([]byte(h))
			want.WriteString(hex.EncodeToString(sum[:]) + "\n")
		}
		f := filepath.Join(s.Dir, "quoting.sql")
		s.WriteFile(t, f, script.String())
		got := s.Run(t, s.SuperuserEnv("postgres"), "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", f)
		if got != want.String() {
			t.Errorf("round trip through psql and PostgreSQL:\n%s\nwant\n%s\nscript:\n%s", got, want.String(), script.String())
		}
	})

	t.Run("SCRAM matches PostgreSQL", func(t *testing.T) {
		// PostgreSQL computes a verifier for a plaintext password with its
		// own random salt; ours, given that salt, must be identical.
		for _, pw := range append([]string{"pencil", "pg-secret-0123456789"}, hostileStrings...) {
			stored := s.Superuser(t, "postgres", "SET password_encryption = 'scram-sha-256'; CREATE ROLE scram_probe PASSWORD "+sqlLiteral(pw)+"; SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_probe'; DROP ROLE scram_probe")
			iter, salt, _, _ := scramParts(t, stored)
			if got := scramVerifierWithSalt(pw, salt, iter); got != stored {
				t.Errorf("password %q: PostgreSQL %s, ours %s", pw, stored, got)
			}
		}
		// PostgreSQL (and libpq) normalise a password with SASLprep
		// first; Immich's client does not, so init.sql hashes the raw
		// bytes. They differ only where SASLprep changes the password:
		// fullwidth letters become ASCII.
		const fullwidth, folded = "ｐａｓｓｗｏｒｄ１２３４", "password1234"
		stored := s.Superuser(t, "postgres", "CREATE ROLE scram_probe PASSWORD "+sqlLiteral(fullwidth)+"; SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_probe'; DROP ROLE scram_probe")
		iter, salt, _, _ := scramParts(t, stored)
		if scramVerifierWithSalt(folded, salt, iter) != stored || scramVerifierWithSalt(fullwidth, salt, iter) == stored {
			t.Errorf("PostgreSQL's verifier for %q is not that of %q (SASLprep)", fullwidth, folded)
		}
	})
	t.Logf("TestPostgres took %v", time.Since(start).Round(time.Millisecond))
}

// dbState is what init.sql controls, for comparing two runs.
func dbState(t *testing.T, s *pgServer, role, db string) string {
	t.Helper()
	return strings.Join([]string{
		s.Superuser(t, "postgres", "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolpassword, rolvaliduntil FROM pg_authid WHERE rolname = "+sqlLiteral(role)),
		s.Superuser(t, "postgres", "SELECT datname, pg_get_userbyid(datdba), datacl FROM pg_database WHERE datname = "+sqlLiteral(db)),
		s.Superuser(t, db, "SELECT extname, extversion, extnamespace::regnamespace FROM pg_extension ORDER BY extname"),
		s.Superuser(t, db, "SELECT nspname, nspowner::regrole, nspacl FROM pg_namespace ORDER BY nspname"),
	}, "\n")
}
