package render

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// renderBackupOnly runs just the backup renderer.
func renderBackupOnly(cfg *schema.Config) tree.Tree { return treeOf(renderBackup(cfg, nil)) }

func TestBackupRender(t *testing.T) {
	cfg := testenv.Config(t, nil)
	out := renderBackupOnly(cfg)
	want := []string{
		"rootfs/etc/systemd/system/immich-backup.service",
		"rootfs/etc/systemd/system/immich-backup.timer",
		"rootfs/usr/local/lib/immich-render/immich-backup",
	}
	if got := out.Paths(); !slices.Equal(got, want) {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	if m := out[rootfs(BackupScript)].Mode; m != 0o755 {
		t.Errorf("script mode %o, want 0755", m)
	}
	timer := string(out[rootfs(unitPath(BackupTimer))].Data)
	for _, line := range []string{"OnCalendar=daily", "Persistent=true", "RandomizedDelaySec=30min", "WantedBy=timers.target"} {
		if !strings.Contains(timer, "\n"+line+"\n") {
			t.Errorf("timer lacks %s:\n%s", line, timer)
		}
	}
	// Off: no files, no timer in the deploy steps.
	off := testenv.Config(t, nil, `immich: backup: enabled: false`)
	if got := renderBackupOnly(off); len(got) != 0 {
		t.Errorf("backups off rendered %q", got.Paths())
	}
	if slices.Contains(startCommands(off), "systemctl enable --now "+BackupTimer) || !slices.Contains(startCommands(cfg), "systemctl enable --now "+BackupTimer) {
		t.Errorf("start commands: on %q, off %q", startCommands(cfg), startCommands(off))
	}
}

// TestBackupUnitsVerify runs systemd-analyze verify on both units, with
// values that need escaping; any output fails.
func TestBackupUnitsVerify(t *testing.T) {
	for name, cue := range map[string]string{
		"default": ``,
		"odd values": `immich: backup: {directory: "/srv/Sicherung ü@x+y=z,~", keep: 3, schedule: "Mon..Fri *-*-* 02:30:00 Europe/Berlin"}
			host: postgresService: "postgresql@15-main"`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testenv.Config(t, nil, cue)
			out := renderBackupOnly(cfg)
			verifyUnits(t, out)
			argv := unitExecLines(t, out[rootfs(unitPath(BackupUnit))].Data, "ExecStart")
			if len(argv) != 1 || !slices.Equal(argv[0].argv, backupExecStart(dumpInputOf(cfg))) {
				t.Errorf("ExecStart = %q, want %q", argv, backupExecStart(dumpInputOf(cfg)))
			}
		})
	}
}

// execLine is one Exec line of a unit, split as systemd does.
type unitExec struct {
	argv []string
	root bool // the "+" prefix: full privileges, not User=
}

func (e unitExec) String() string { return fmt.Sprintf("%q", e.argv) }

// unitExecLines returns the unit's lines for key (ExecStartPre,
// ExecStart) in order.
func unitExecLines(t *testing.T, unit []byte, key string) []unitExec {
	t.Helper()
	var out []unitExec
	for l := range strings.Lines(string(unit)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+"="); ok {
			e := unitExec{}
			if rest, ok := strings.CutPrefix(v, "+"); ok {
				e.root, v = true, rest
			}
			e.argv = unitExecStart(t, []byte("ExecStart="+v))
			out = append(out, e)
		}
	}
	return out
}

// unitEnv returns the unit's Environment= assignments.
func unitEnv(unit []byte) []string {
	var env []string
	for l := range strings.Lines(string(unit)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Environment="); ok {
			env = append(env, strings.Fields(v)...)
		}
	}
	return env
}

// backupRig runs the rendered backup unit's own Exec lines against a test
// server: ExecStartPre with full privileges, ExecStart as the unit's
// User= (postgres), with the script from the rendered tree.
type backupRig struct {
	s      *pgServer
	cfg    *schema.Config
	pre    []unitExec
	start  unitExec
	env    []string
	script string
}

func newBackupRig(t *testing.T, s *pgServer, cfg *schema.Config) *backupRig {
	t.Helper()
	out := renderBackupOnly(cfg)
	unit := out[rootfs(unitPath(BackupUnit))].Data
	if !bytes.Contains(unit, []byte("\nUser=postgres\n")) {
		t.Fatalf("the unit does not run as postgres:\n%s", unit)
	}
	r := &backupRig{s: s, cfg: cfg, pre: unitExecLines(t, unit, "ExecStartPre"), env: unitEnv(unit)}
	starts := unitExecLines(t, unit, "ExecStart")
	if len(starts) != 1 || starts[0].root || len(r.pre) != 1 || !r.pre[0].root {
		t.Fatalf("want one privileged ExecStartPre and one ExecStart:\n%s", unit)
	}
	r.start = starts[0]
	// The script is the rendered file, at a path of the test's.
	r.script = filepath.Join(s.Dir, "immich-backup")
	s.WriteFile(t, r.script, string(out[rootfs(BackupScript)].Data))
	if i := slices.Index(r.start.argv, BackupScript); i < 0 {
		t.Fatalf("ExecStart %q does not run %s", r.start.argv, BackupScript)
	} else {
		r.start.argv[i] = r.script
	}
	return r
}

// command is the ExecStart process, not started; ExecStartPre has run.
func (r *backupRig) command(t *testing.T) *exec.Cmd {
	t.Helper()
	for _, pre := range r.pre {
		argv := slices.Clone(pre.argv)
		if os.Geteuid() != 0 {
			// Without root, the test's own user stands in for postgres.
			u, _ := user.Current()
			g, _ := user.LookupGroupId(u.Gid)
			for i := 1; i < len(argv); i++ {
				if argv[i-1] == "-o" {
					argv[i] = u.Username
				} else if argv[i-1] == "-g" {
					argv[i] = g.Name
				}
			}
		}
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("ExecStartPre %q: %v\n%s", argv, err, out)
		}
	}
	// The script finds pg_dump on PATH: the test server's own first, as
	// Debian's pg_wrapper picks the server's version.
	env := append([]string{"PGHOST=" + r.s.Dir, "PATH=" + r.s.Bin + ":/usr/bin:/bin"}, r.env...)
	c := r.s.Cmd(env, r.start.argv[0], r.start.argv[1:]...)
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Its own process group, as systemd's control group: a stop signals all.
	c.SysProcAttr.Setpgid = true
	return c
}

// run runs the unit once, as `systemctl start` would.
func (r *backupRig) run(t *testing.T) (string, error) {
	t.Helper()
	out, err := r.command(t).CombinedOutput()
	return string(out), err
}

// dumps lists the backup directory: name → SHA-256 of the content.
func dumpFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		files[e.Name()] = hex.EncodeToString(sum[:])
	}
	return files
}

func sortedNames(m map[string]string) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// nextSecond waits for the wall clock's next second: dumps are named by
// the second.
func nextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 10*time.Millisecond).Sub(now))
}

// TestBackupRestore runs the rendered backup unit against a real
// PostgreSQL prepared by init.sql, more times than it keeps, then restores
// the newest dump with the output README's procedure and compares; then
// makes dumps fail and get killed, and checks what they leave behind.
func TestBackupRestore(t *testing.T) {
	start := time.Now()
	s := startPostgres(t)
	const password = "Backup-Test-Password-1"
	dir := filepath.Join(s.Dir, "backups", "immich")
	const keep = 2
	cfg := s.testConfig(t, password, fmt.Sprintf("immich: backup: {keep: %d}", keep))
	// The schema refuses a directory under /tmp (another user could have
	// made it, or a link in its place); the test's own is set after it.
	cfg.Immich.Backup.Directory = dir
	pg := cfg.Immich.Postgres
	s.WriteHBA(t, s.LocalHBA()+string(pgHBAFragment(cfg)))
	s.apply(t, cfg)

	// What Immich would have: tables owned by its role, using the
	// extensions, and some rows.
	const rows = 20000
	if _, err := s.Login(pg.User, password, pg.Database, fmt.Sprintf(`
CREATE TABLE assets (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), n int UNIQUE, name text, place earth, box cube);
CREATE INDEX assets_name ON assets USING gin (name gin_trgm_ops);
INSERT INTO assets (n, name, place, box)
  SELECT i, 'Fotó ' || i || ' ' || md5(i::text), ll_to_earth(i %% 90, i %% 180), cube(array[i, i * 2])
  FROM generate_series(1, %d) i;
CREATE TABLE runs (n int, at timestamptz DEFAULT now());`, rows)); err != nil {
		t.Fatalf("creating Immich's stand-in tables: %v", err)
	}

	r := newBackupRig(t, s, cfg)
	// A directory that exists, too open and root's, is made postgres's own.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A dump kept by hand under another name is never rotated away.
	manual := "immich-before-upgrade.dump"

	var names []string // the dumps in the order they were made
	t.Run("rotation", func(t *testing.T) {
		for i := 1; i <= keep+2; i++ {
			if _, err := s.Login(pg.User, password, pg.Database, fmt.Sprintf("INSERT INTO runs (n) VALUES (%d)", i)); err != nil {
				t.Fatal(err)
			}
			nextSecond()
			t0 := time.Now()
			out, err := r.run(t)
			if err != nil {
				t.Fatalf("run %d: %v\n%s", i, err, out)
			}
			if i == 1 {
				st, _ := os.Stat(dir)
				t.Logf("dump of %d rows: %v", rows, time.Since(t0).Round(time.Millisecond))
				if st.Mode().Perm() != 0o700 {
					t.Errorf("backup directory mode %o, want 0700", st.Mode().Perm())
				}
				if pgUser, err := user.Lookup("postgres"); err == nil && os.Geteuid() == 0 {
					if uid := fmt.Sprint(st.Sys().(*syscall.Stat_t).Uid); uid != pgUser.Uid {
						t.Errorf("backup directory owned by uid %s, want postgres (%s)", uid, pgUser.Uid)
					}
				}
				s.WriteFile(t, filepath.Join(dir, manual), "kept by hand\n")
			}
			files := dumpFiles(t, dir)
			delete(files, manual)
			got := sortedNames(files)
			newest := got[len(got)-1]
			if !strings.Contains(out, "wrote "+filepath.Join(dir, newest)) {
				t.Errorf("run %d printed %q, want it to name %s", i, out, newest)
			}
			names = append(names, newest)
			want := names[max(0, len(names)-keep):]
			if !slices.Equal(got, want) {
				t.Errorf("after run %d the directory holds %q, want the newest %d: %q", i, got, keep, want)
			}
			for _, n := range got {
				if !strings.HasPrefix(n, pg.Database+"-") || !strings.HasSuffix(n, "Z.dump") {
					t.Errorf("unexpected file %s", n)
				}
				st, _ := os.Stat(filepath.Join(dir, n))
				if st.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %o, want 0600", n, st.Mode().Perm())
				}
			}
		}
		if _, ok := dumpFiles(t, dir)[manual]; !ok {
			t.Errorf("rotation deleted %s", manual)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	newest := filepath.Join(dir, names[len(names)-1])
	st, _ := os.Stat(newest)
	t.Logf("newest dump: %s, %d bytes", filepath.Base(newest), st.Size())

	t.Run("restore", func(t *testing.T) {
		// The README's steps, in order: systemctl steps stand in for
		// the units, the others run as written, as postgres.
		steps := restoreSteps(cfg, false)
		readme := backupSection(cfg, false)
		var restoreTime time.Duration
		for i, st := range steps {
			cmd := restoreCommand(st)
			if !strings.Contains(readme, cmd) {
				t.Errorf("step %d (%s) is not in the README:\n%s", i+1, cmd, readme)
			}
			if !st.postgres {
				switch cmd {
				case "systemctl stop " + ImmichUnit, "systemctl start " + ImmichUnit:
					if (i == 0) != strings.Contains(cmd, "stop") || (i == len(steps)-1) != strings.Contains(cmd, "start") {
						t.Errorf("step %d: %s out of place", i+1, cmd)
					}
				case "systemctl restart " + DBInitUnit:
					s.apply(t, cfg)
				default:
					t.Fatalf("step %d: no stand-in for %s", i+1, cmd)
				}
				continue
			}
			argv := slices.Clone(st.argv)
			for j, a := range argv {
				if a == DumpVar {
					argv[j] = newest
				}
			}
			t0 := time.Now()
			out, err := s.Cmd([]string{"PGHOST=" + s.Dir}, argv[0], argv[1:]...).CombinedOutput()
			if argv[0] == "pg_restore" {
				restoreTime = time.Since(t0)
			}
			// pg_restore says nothing when all went well.
			if err != nil || argv[0] == "pg_restore" && len(bytes.TrimSpace(out)) > 0 {
				t.Fatalf("step %d %q: %v\n%s", i+1, argv, err, out)
			}
		}
		t.Logf("restore of %d rows: %v", rows, restoreTime.Round(time.Millisecond))
		aside := asideDatabase(cfg)
		for _, q := range []string{
			"SELECT count(*), md5(string_agg(a::text, ',' ORDER BY n)) FROM assets a",
			"SELECT string_agg(n::text, ',' ORDER BY n) FROM runs",
			"SELECT string_agg(extname, ' ' ORDER BY extname) FROM pg_extension",
			"SELECT string_agg(c.relname || ':' || pg_get_userbyid(c.relowner), ' ' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
			"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()",
		} {
			was, now := s.Superuser(t, aside, q), s.Superuser(t, pg.Database, q)
			if was != now {
				t.Errorf("%s\n  before: %s\n  restored: %s", q, was, now)
			}
		}
		// Immich logs in with its password and reads and writes as before.
		if got, err := s.Login(pg.User, password, pg.Database, "SELECT count(*) FROM assets WHERE name % 'Foto 17'; INSERT INTO runs (n) VALUES (99)"); err != nil {
			t.Errorf("Immich's role after the restore: %q, %v", got, err)
		}
	})

	before := dumpFiles(t, dir)
	noPartial := func(t *testing.T) {
		t.Helper()
		for n := range dumpFiles(t, dir) {
			if strings.Contains(n, "partial") {
				t.Errorf("a partial file is left: %s", n)
			}
		}
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		if got := dumpFiles(t, dir); !equalMaps(got, before) {
			t.Errorf("the backup directory changed:\n%q\nwant\n%q", got, before)
		}
	}

	t.Run("database missing", func(t *testing.T) {
		c := *cfg
		c.Immich.Postgres.Database = "no_such_database"
		nextSecond()
		out, err := newBackupRig(t, s, &c).run(t)
		if err == nil || !strings.Contains(out, `database "no_such_database" does not exist`) {
			t.Errorf("backup of a missing database: %v\n%s", err, out)
		}
		noPartial(t)
		unchanged(t)
	})

	// A dump blocked on a lock is stopped the way systemd stops a unit
	// (SIGTERM to every process of it), or killed outright.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run("interrupted by "+sig.String(), func(t *testing.T) {
			lock := s.Cmd(s.SuperuserEnv(pg.Database), "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1")
			in, _ := lock.StdinPipe()
			stdout, _ := lock.StdoutPipe()
			if err := lock.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { in.Close(); lock.Wait() }()
			io.WriteString(in, "BEGIN; LOCK TABLE assets IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
			if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
				t.Fatalf("taking the lock: %q", line)
			}
			nextSecond()
			c := r.command(t)
			var out bytes.Buffer
			c.Stdout, c.Stderr = &out, &out
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until pg_dump has its partial file and waits for the lock.
			deadline := time.Now().Add(30 * time.Second)
			for {
				partial := false
				for n := range dumpFiles(t, dir) {
					partial = partial || strings.HasSuffix(n, ".partial")
				}
				waiting := s.Superuser(t, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'immich-backup' AND wait_event_type = 'Lock'") == "1"
				if partial && waiting {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the dump never blocked with a partial file (partial %v, waiting %v)\n%s", partial, waiting, out.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			syscall.Kill(-c.Process.Pid, sig)
			if err := c.Wait(); err == nil {
				t.Errorf("an interrupted backup exited 0:\n%s", out.String())
			}
			io.WriteString(in, "ROLLBACK;\n")
			if sig == syscall.SIGTERM {
				noPartial(t)
				unchanged(t)
				return
			}
			// SIGKILL leaves the partial file (nothing can run on
			// SIGKILL); the dumps are untouched, and the next run
			// removes it.
			var partials []string
			for n := range dumpFiles(t, dir) {
				if strings.HasSuffix(n, ".partial") {
					partials = append(partials, n)
				}
			}
			if len(partials) != 1 {
				t.Errorf("after SIGKILL: partial files %q, want one", partials)
			}
			for n, sum := range before {
				if dumpFiles(t, dir)[n] != sum {
					t.Errorf("%s changed", n)
				}
			}
			s.Run(t, s.SuperuserEnv("postgres"), "psql", "-X", "-q", "-c", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'immich-backup'")
			nextSecond()
			if out, err := r.run(t); err != nil {
				t.Fatalf("the run after SIGKILL: %v\n%s", err, out)
			}
			noPartial(t)
		})
	}
	t.Logf("TestBackupRestore took %v", time.Since(start).Round(time.Millisecond))
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
