package render

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/pgtest"
	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/schema"
)

// TestPostgresDebian13 applies init.sql to Debian 13's PostgreSQL 17 with
// the real pgvector 0.8 (a chroot of the Debian 13 root filesystem):
// twice without a change, then across a change of pgvector's version
// (the indexes are rebuilt, and only then), and with a version outside
// Immich's range (it stops with the reason and changes nothing). Newer
// pgvector versions are stand-in update scripts added to that copy of
// the root filesystem, the only way to have a second version of a
// packaged extension.
func TestPostgresDebian13(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL 17 in a Debian 13 chroot")
	}
	d := pgtest.StartDebian13(t)
	cfg := debian13Config(t, d, "pgvector")
	apply := func(t *testing.T, cfg *schema.Config) (string, error) {
		t.Helper()
		f := d.Dir + "/init.sql"
		d.WriteFile(t, f, string(postgresInitSQL(cfg)))
		return d.Psql(append(d.SuperuserEnv("postgres"), "PGAPPNAME=immich-db-init"), nil, "-v", "ON_ERROR_STOP=1", "-q", "-w", "-f", f)
	}
	mustApply := func(t *testing.T, cfg *schema.Config) string {
		t.Helper()
		out, err := apply(t, cfg)
		if err != nil {
			t.Fatalf("init.sql: %v\n%s", err, out)
		}
		return out
	}
	version := func(t *testing.T) string {
		return d.Superuser(t, "immich", "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
	}
	// The files of the two vector indexes, which REINDEX replaces.
	filenodes := func(t *testing.T) string {
		return d.Superuser(t, "immich", "SELECT pg_relation_filenode('face_index') || ' ' || pg_relation_filenode('clip_index')")
	}
	// A newer pgvector: an update script from the current default version,
	// and the control file pointing at it.
	control := d.Host("/usr/share/postgresql/17/extension/vector.control")
	original, err := os.ReadFile(control)
	if err != nil {
		t.Fatal(err)
	}
	offer := func(t *testing.T, from, to string) {
		t.Helper()
		script := filepath.Join(filepath.Dir(control), "vector--"+from+"--"+to+".sql")
		if err := os.WriteFile(script, []byte("-- immich-render test: pgvector "+to+" is "+from+" renamed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for l := range strings.Lines(string(original)) {
			if strings.HasPrefix(l, "default_version") {
				l = "default_version = '" + to + "'\n"
			}
			b.WriteString(l)
		}
		if err := os.WriteFile(control, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	mustApply(t, cfg)
	if got := version(t); got != "0.8.0" {
		t.Fatalf("pgvector %s installed; Debian 13 ships 0.8.0", got)
	}
	// Immich's own tables and vector indexes, as its migrations create
	// them, as its role.
	if out, err := d.Psql(d.LoginEnv("immich", cfg.Immich.Postgres.Password.Value, "immich"), nil, "-v", "ON_ERROR_STOP=1", "-q", "-c", `
CREATE TABLE smart_search ("assetId" uuid PRIMARY KEY DEFAULT uuid_generate_v4(), embedding vector(3) NOT NULL);
CREATE INDEX clip_index ON smart_search USING hnsw (embedding vector_cosine_ops);
CREATE TABLE face_search ("faceId" uuid PRIMARY KEY DEFAULT uuid_generate_v4(), embedding vector(3) NOT NULL);
CREATE INDEX face_index ON face_search USING hnsw (embedding vector_cosine_ops);
INSERT INTO smart_search (embedding) SELECT ARRAY[i, 1, 0]::vector FROM generate_series(1, 50) i;
INSERT INTO face_search (embedding) SELECT ARRAY[0, i, 1]::vector FROM generate_series(1, 50) i;`); err != nil {
		t.Fatalf("Immich's vector indexes as its role: %v\n%s", err, out)
	}
	before := filenodes(t)

	t.Run("unchanged version: no reindex", func(t *testing.T) {
		out := mustApply(t, cfg)
		if got := filenodes(t); got != before || strings.Contains(out, "rebuilding") {
			t.Errorf("indexes rebuilt without a version change (files %s, were %s):\n%s", got, before, out)
		}
	})

	t.Run("changed version: reindex once", func(t *testing.T) {
		offer(t, "0.8.0", "0.8.1")
		out := mustApply(t, cfg)
		if got := version(t); got != "0.8.1" {
			t.Fatalf("pgvector %s after init.sql, want 0.8.1", got)
		}
		after := filenodes(t)
		if after == before {
			t.Errorf("face_index and clip_index not rebuilt (files %s)", after)
		}
		if want := "WARNING:  vector changed from 0.8.0 to 0.8.1: rebuilding Immich's vector indexes"; !strings.Contains(out, want) {
			t.Errorf("init.sql's output lacks %q:\n%s", want, out)
		}
		log := d.Log(t)
		for _, idx := range []string{"face_index", "clip_index"} {
			if !strings.Contains(log, "statement: REINDEX INDEX "+idx) {
				t.Errorf("the server log has no REINDEX INDEX %s", idx)
			}
		}
		// Applied again, nothing changes: no second rebuild.
		if out := mustApply(t, cfg); filenodes(t) != after || strings.Contains(out, "rebuilding") {
			t.Errorf("a second run rebuilt the indexes again:\n%s", out)
		}
		if n, err := d.Psql(d.LoginEnv("immich", cfg.Immich.Postgres.Password.Value, "immich"), nil, "-q", "-A", "-t", "-c",
			"SET enable_seqscan = off; SELECT count(*) FROM (SELECT 1 FROM smart_search ORDER BY embedding <=> '[1,1,0]' LIMIT 5) s"); err != nil || strings.TrimSpace(n) != "5" {
			t.Errorf("a search through the rebuilt clip_index: %q, %v", n, err)
		}
	})

	t.Run("available version outside Immich's range: stops, changes nothing", func(t *testing.T) {
		offer(t, "0.8.1", "1.0.0")
		out, err := apply(t, cfg)
		want := "ERROR:  Immich v3.1.0 needs pgvector (extension vector) >= 0.5 and < 1, and this server has 1.0.0: install a version in that range before deploying this Immich version"
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("init.sql with pgvector 1.0.0 available: %v, want %q in\n%s", err, want, out)
		}
		if got := version(t); got != "0.8.1" {
			t.Errorf("pgvector %s installed after the refusal, want 0.8.1 unchanged", got)
		}
		offer(t, "0.8.0", "0.8.1") // back in range
		mustApply(t, cfg)
	})

	t.Run("Immich's own backup and restore", func(t *testing.T) {
		testImmichBackup(t, d, cfg, mustApply)
	})

	t.Run("dump before an upgrade", func(t *testing.T) {
		testUpgradeDump(t, d, cfg)
	})

	t.Run("PostgreSQL older than Immich needs: stops", func(t *testing.T) {
		// A row that asks for more than the server is: the check is one
		// comparison, so the next major version stands in for a real
		// server older than 14.
		req := postgresRequirementFor(cfg.Immich.Version)
		req.Postgres = 18
		f := d.Dir + "/init-pg18.sql"
		d.WriteFile(t, f, string(initSQL(initSQLInputOf(cfg), req)))
		out, err := d.Psql(d.SuperuserEnv("postgres"), nil, "-v", "ON_ERROR_STOP=1", "-q", "-w", "-f", f)
		if want := "ERROR:  Immich v3.1.0 needs PostgreSQL 18 or newer, and this server is PostgreSQL 17."; err == nil || !strings.Contains(out, want) {
			t.Errorf("init.sql asking for PostgreSQL 18: %v, want %q in\n%s", err, want, out)
		}
	})

	t.Run("vector extension not installed: stops", func(t *testing.T) {
		c := *cfg
		c.Immich.Postgres.VectorExtension = "vectorchord" // Debian 13 has no VectorChord package
		out, err := apply(t, &c)
		if want := "ERROR:  VectorChord (extension vchord) is not installed on this server, and Immich v3.1.0 needs it"; err == nil || !strings.Contains(out, want) {
			t.Errorf("init.sql for VectorChord without it: %v, want %q in\n%s", err, want, out)
		}
	})
}

// debian13Config is a validated configuration for the Debian 13 server:
// its port, loopback in place of the Podman subnet.
func debian13Config(t *testing.T, d *pgtest.Debian13, vector string) *schema.Config {
	t.Helper()
	cfg := testenv.Config(t, map[string]string{"IMMICH_POSTGRES_PASSWORD": "Debian13-Immich-pw"},
		fmt.Sprintf(`immich: {version: "v3.1.0", postgres: {port: %d, vectorExtension: %q}}`, d.Port, vector))
	cfg.Immich.Network.Subnet, cfg.Immich.Network.Gateway = "127.0.0.0/8", "127.0.0.1"
	return cfg
}

// testImmichBackup runs the commands Immich v2.5.0 and newer run for its
// own database backup and restore (server/src/utils/backups.ts:
// buildPostgresLaunchArguments, createBackup, restoreBackup) as the
// rendered role, then the README's restore of such a dump.
func testImmichBackup(t *testing.T, d *pgtest.Debian13, cfg *schema.Config, apply func(*testing.T, *schema.Config) string) {
	pg := cfg.Immich.Postgres
	port := fmt.Sprint(d.Port)
	state := func(t *testing.T, db string) string {
		return d.Superuser(t, db, `SELECT (SELECT count(*) || ' ' || md5(string_agg(embedding::text, ',' ORDER BY embedding::text)) FROM smart_search)
			|| ' | ' || (SELECT string_agg(extname, ' ' ORDER BY extname) FROM pg_extension)
			|| ' | ' || (SELECT string_agg(c.relname || ':' || pg_get_userbyid(c.relowner), ' ' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public')
			|| ' | ' || (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public')`)
	}
	before := state(t, pg.Database)

	// The dump: pg_dump of the one database, --clean --if-exists, with the
	// role's password, gzipped (gzip --rsyncable in Immich).
	dump := d.Cmd([]string{"PGPASSWORD=" + pg.Password.Value}, pgtest.Debian13Bin+"/pg_dump",
		"--username", pg.User, "--host", "127.0.0.1", "--port", port, pg.Database, "--clean", "--if-exists")
	var stderr strings.Builder
	dump.Stderr = &stderr
	sql, err := dump.Output()
	if err != nil || stderr.Len() > 0 || !strings.Contains(string(sql), "CREATE TABLE public.smart_search") {
		t.Fatalf("Immich's pg_dump as %s: %v\n%s\n%.2000s", pg.User, err, stderr.String(), sql)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(sql)
	zw.Close()
	name := d.Dir + "/immich-db-backup-20260101T020000-v3.1.0-pg17.sql.gz"
	d.WriteFile(t, name, gz.String())
	t.Logf("Immich's dump as %s: %d bytes of SQL", pg.User, len(sql))

	// Immich's restore, as the role: its preamble, then the dump, through
	// psql in one transaction. It fails where the dump creates extensions
	// only a superuser may create, and rolls back.
	preamble := `
        -- drop all other database connections
        SELECT pg_terminate_backend(pid)
        FROM pg_stat_activity
        WHERE datname = current_database()
          AND pid <> pg_backend_pid();

        -- re-create the default schema
        DROP SCHEMA public CASCADE;
        CREATE SCHEMA public;

        -- restore access to schema
        GRANT ALL ON SCHEMA public TO postgres;
        GRANT ALL ON SCHEMA public TO public;
      `
	out, err := d.Psql([]string{"PGPASSWORD=" + pg.Password.Value}, append([]byte(preamble), sql...),
		"--username", pg.User, "--host", "127.0.0.1", "--port", port, "--dbname", pg.Database,
		"--single-transaction", "--set", "ON_ERROR_STOP=on", "--output=/dev/null")
	if want := `ERROR:  permission denied to create extension "earthdistance"`; err == nil || !strings.Contains(out, want) {
		t.Errorf("Immich's restore as %s: %v, want it to fail with %q (if it works now, the README's superuser step is no longer needed):\n%s", pg.User, err, want, out)
	}
	if got := state(t, pg.Database); got != before {
		t.Fatalf("the failed restore changed the database:\n  before: %s\n  after:  %s", before, got)
	}

	// The README's steps for Immich's dumps, as root: systemctl steps
	// stand in for the units, the others run as written, as postgres, in
	// the Debian 13 root.
	readme := backupSection(cfg, false)
	for i, st := range restoreSteps(cfg, true) {
		if cmd := restoreCommand(st); !strings.Contains(readme, cmd) {
			t.Errorf("step %d (%s) is not in the README:\n%s", i+1, cmd, readme)
		}
		switch {
		case !st.postgres && slices.Equal(st.argv, []string{"systemctl", "restart", DBInitUnit}):
			apply(t, cfg)
		case !st.postgres:
			// stopping and starting Immich: nothing runs here
		default:
			c := d.Cmd([]string{"PGHOST=" + d.Dir}, "/usr/bin/"+st.argv[0], st.argv[1:]...)
			if st.gunzip { // gunzip -c "$dump" |
				unzipped, err := d.Cmd(nil, "/bin/gunzip", "-c", name).Output()
				if err != nil || !bytes.Equal(unzipped, sql) {
					t.Fatalf("gunzip -c %s: %v", name, err)
				}
				c.Stdin = bytes.NewReader(unzipped)
			}
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("step %d %q: %v\n%s", i+1, st.argv, err, out)
			}
		}
	}
	if got, was := state(t, pg.Database), state(t, asideDatabase(cfg)); got != was {
		t.Errorf("restored database differs from the one kept aside:\n  restored: %s\n  before:   %s", got, was)
	}
	if n, err := d.Psql(d.LoginEnv(pg.User, pg.Password.Value, pg.Database), nil, "-q", "-A", "-t", "-c",
		"SET enable_seqscan = off; SELECT count(*) FROM (SELECT 1 FROM smart_search ORDER BY embedding <=> '[1,1,0]' LIMIT 5) s; CREATE TABLE after_restore (n int)"); err != nil || strings.TrimSpace(n) != "5" {
		t.Errorf("Immich's role after the restore: %q, %v", n, err)
	}
	// Back to one database for the tests that follow.
	d.Superuser(t, "postgres", "DROP DATABASE "+sqlIdent(asideDatabase(cfg)))
	apply(t, cfg)
}

// testUpgradeDump runs immich-upgrade-dump.service's command as the unit
// does (as postgres, through the socket) against the database and
// Immich's own upgrade history, version_history.
func testUpgradeDump(t *testing.T, d *pgtest.Debian13, cfg *schema.Config) {
	c := *cfg
	c.Immich.Backup.Directory = d.Dir + "/backups"
	pg := c.Immich.Postgres
	script := d.Dir + "/immich-upgrade-dump"
	d.WriteFile(t, script, string(upgradeDumpScript(struct{}{})))
	d.Mkdir(t, c.Immich.Backup.Directory, 0o700) // as the unit's install -d -m 0700 -o postgres
	run := func(t *testing.T, c *schema.Config) string {
		t.Helper()
		argv := upgradeDumpExecStart(dumpInputOf(c))
		argv[1] = script
		if !slices.Equal(unitExecLines(t, upgradeDumpUnit(dumpInputOf(c)), "ExecStart")[0].argv, upgradeDumpExecStart(dumpInputOf(c))) {
			t.Fatalf("the unit's ExecStart is not upgradeDumpExecStart")
		}
		return d.Run(t, []string{"PGHOST=" + d.Dir, "PGAPPNAME=immich-upgrade-dump"}, argv[0], argv[1:]...)
	}
	dumps := func(t *testing.T) []string {
		entries, err := os.ReadDir(d.Host(c.Immich.Backup.Directory))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	immich := func(t *testing.T, sql string) {
		t.Helper()
		if out, err := d.Psql(d.LoginEnv(pg.User, pg.Password.Value, pg.Database), nil, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql); err != nil {
			t.Fatalf("%s: %v\n%s", sql, err, out)
		}
	}

	noDB := c
	noDB.Immich.Postgres.Database = "not_yet_created"
	if out := run(t, &noDB); !strings.Contains(out, "no database not_yet_created yet: nothing to dump") {
		t.Errorf("first deploy: %q", out)
	}
	if out := run(t, &c); !strings.Contains(out, "no Immich version history yet") {
		t.Errorf("a database Immich has not started on: %q", out)
	}
	// Immich's table, as its migrations create it; v3.0.0 ran last.
	immich(t, `CREATE TABLE version_history (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "createdAt" timestamptz NOT NULL DEFAULT now(), version character varying NOT NULL);
INSERT INTO version_history (version, "createdAt") VALUES ('2.7.2', now() - interval '2 days'), ('3.0.0', now() - interval '1 day')`)
	want := "immich-v3.0.0-before-v3.1.0.dump"
	out := run(t, &c)
	if got := dumps(t); !slices.Equal(got, []string{want}) || !strings.Contains(out, "Immich v3.1.0 replaces v3.0.0: wrote "+c.Immich.Backup.Directory+"/"+want) {
		t.Fatalf("upgrade from v3.0.0: files %q, output %q", got, out)
	}
	st, err := os.Stat(d.Host(c.Immich.Backup.Directory + "/" + want))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, mode %v, want 0600", want, err, st.Mode().Perm())
	}
	if list := d.Run(t, nil, pgtest.Debian13Bin+"/pg_restore", "--list", c.Immich.Backup.Directory+"/"+want); !strings.Contains(list, "TABLE DATA public version_history") || !strings.Contains(list, "TABLE DATA public smart_search") {
		t.Errorf("the dump lacks Immich's tables:\n%s", list)
	}
	// A restart before the new version recorded itself: the dump taken
	// before its migrations is kept, not replaced.
	if out := run(t, &c); !strings.Contains(out, "exists: the dump before this upgrade was taken") || len(dumps(t)) != 1 {
		t.Errorf("second start: %q, files %q", out, dumps(t))
	}
	// Once v3.1.0 has started it is in the history: nothing more to do.
	immich(t, `INSERT INTO version_history (version) VALUES ('3.1.0')`)
	if out := run(t, &c); !strings.Contains(out, "last run by Immich v3.1.0: no dump needed") || len(dumps(t)) != 1 {
		t.Errorf("after the upgrade: %q, files %q", out, dumps(t))
	}
	immich(t, `DROP TABLE version_history`)
}
