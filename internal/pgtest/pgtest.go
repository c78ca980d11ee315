// Package pgtest starts throwaway PostgreSQL clusters for tests: their own
// data folder and socket in a temporary folder, TCP on a free loopback port,
// stopped when the test ends. Tests that need a real PostgreSQL (init.sql,
// backups, the deploy rehearsal) share it.
package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// Server is a throwaway PostgreSQL cluster: its own data folder, its
// socket in that folder, TCP on a free loopback port. The server and the
// superuser's psql run as the postgres system user when the test runs as
// root (PostgreSQL refuses root), else as the current user.
type Server struct {
	Bin  string // folder of initdb, pg_ctl, postgres, psql
	Dir  string // data, socket, log and project files
	Port int
	// cred is the postgres system user when running as root, else nil.
	cred *syscall.Credential
}

// FindBin returns the folder of the PostgreSQL server programs:
// IMMICH_RENDER_PG_BINDIR, or Debian's /usr/lib/postgresql/<newest>/bin.
func FindBin(t testing.TB) string {
	t.Helper()
	testenv.ShortSkip(t, "postgres")
	if d := os.Getenv("IMMICH_RENDER_PG_BINDIR"); d != "" {
		return d
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	slices.SortFunc(found, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	if len(found) == 0 {
		testenv.Skip(t, "PostgreSQL server programs not found in /usr/lib/postgresql/*/bin (Debian package postgresql-15); set IMMICH_RENDER_PG_BINDIR elsewhere")
	}
	return filepath.Dir(found[len(found)-1])
}

// Start starts a cluster for the test and stops it afterwards.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{Bin: FindBin(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Skip(t, "running as root, but there is no postgres system user to run PostgreSQL as (Debian's postgresql package creates it)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	dir, err := os.MkdirTemp("", "immich-render-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.Dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	s.Port = FreePort(t)
	installVectorStandIns(t, s.Bin)

	s.Run(t, nil, "initdb", "-D", s.Data(), "-U", "postgres", "-E", "UTF8", "--locale=C", "-A", "reject", "--no-sync")
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nlog_statement = 'all'\nfsync = off\n", s.Port, s.Dir)
	s.AppendFile(t, filepath.Join(s.Data(), "postgresql.conf"), conf)
	s.WriteFile(t, filepath.Join(s.Data(), "pg_hba.conf"), s.LocalHBA())
	if err := s.StartServer(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.Dir, "server.log"))
		t.Fatalf("starting PostgreSQL: %v\n%s", err, log)
	}
	t.Cleanup(func() {
		if out, err := s.Cmd(nil, "pg_ctl", "-D", s.Data(), "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
			t.Errorf("stopping PostgreSQL: %v\n%s", err, out)
		}
	})
	return s
}

func (s *Server) Data() string { return filepath.Join(s.Dir, "data") }

// LocalHBA admits the superuser through the socket: by peer
// authentication as on Debian when the test runs as root (so as the
// postgres system user), else by trust.
func (s *Server) LocalHBA() string {
	if s.cred != nil {
		return "local all postgres peer\n"
	}
	return "local all postgres trust\n"
}

func (s *Server) StartServer() error {
	out, err := s.Cmd(nil, "pg_ctl", "-D", s.Data(), "-l", filepath.Join(s.Dir, "server.log"), "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// WriteHBA replaces pg_hba.conf and reloads the server if it runs.
func (s *Server) WriteHBA(t testing.TB, content string) {
	t.Helper()
	s.WriteFile(t, filepath.Join(s.Data(), "pg_hba.conf"), content)
	s.Superuser(t, "postgres", "SELECT pg_reload_conf()")
}

// cmd is a command of the server's folder (or psql, /usr/bin/...) with a
// clean environment, as the server's system user.
func (s *Server) Cmd(env []string, name string, args ...string) *exec.Cmd {
	prog := name
	if !strings.HasPrefix(name, "/") {
		prog = filepath.Join(s.Bin, name)
	}
	c := exec.Command(prog, args...)
	c.Dir = s.Dir
	c.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + s.Dir, "LC_ALL=C", "PGCLIENTENCODING=UTF8", "PGPASSFILE=/nonexistent", "PGCONNECT_TIMEOUT=10"}, env...)
	if s.cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return c
}

// run runs a server program and fails the test if it fails.
func (s *Server) Run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := s.Cmd(env, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// SuperuserEnv connects as the postgres superuser through the socket.
func (s *Server) SuperuserEnv(db string) []string {
	return []string{"PGHOST=" + s.Dir, "PGPORT=" + strconv.Itoa(s.Port), "PGUSER=postgres", "PGDATABASE=" + db}
}

// superuser runs SQL as the superuser and returns its unaligned output.
func (s *Server) Superuser(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := s.Cmd(s.SuperuserEnv(db), "psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql as postgres in %s: %s: %v\n%s", db, sql, err, out)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// login runs SQL as role over TCP with a password, as Immich connects.
func (s *Server) Login(role, password, db, sql string) (string, error) {
	c := exec.Command(filepath.Join(s.Bin, "psql"), "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql)
	c.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "PGCLIENTENCODING=UTF8", "PGPASSFILE=/nonexistent", "PGCONNECT_TIMEOUT=10",
		"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(s.Port), "PGSSLMODE=disable",
		"PGUSER=" + role, "PGDATABASE=" + db, "PGPASSWORD=" + password}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

func (s *Server) WriteFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.cred != nil {
		if err := os.Chown(name, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *Server) AppendFile(t testing.TB, name, content string) {
	t.Helper()
	old, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s.WriteFile(t, name, string(old)+content)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StandInMarker is in every file of a stand-in extension.
const StandInMarker = "immich-render test stand-in, not the real extension"

// installVectorStandIns makes CREATE EXTENSION vector, vchord and vectors
// work where the real pgvector, VectorChord and pgvecto.rs are not
// installed (Debian 12 packages none of them): it puts clearly labelled
// EMPTY extensions with those names into the server's extension folder,
// and removes them once no test (of any process) uses them. The real
// extensions are used where present. vectors keeps the one object
// init.sql grants on.
//
// Test binaries of several packages run at once and share the folder, so
// every user holds a shared flock on standInLock while its cluster runs;
// installing takes it exclusively, and the last user out removes the files.
func installVectorStandIns(t testing.TB, bin string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "pg_config"), "--sharedir").Output()
	if err != nil {
		t.Fatalf("pg_config --sharedir: %v", err)
	}
	extDir := filepath.Join(strings.TrimSpace(string(out)), "extension")
	lock, err := os.OpenFile(standInLock, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("opening %s: %v", standInLock, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("locking %s: %v", standInLock, err)
	}
	var installed []string
	// Their versions are ones every Immich version immich-render renders
	// accepts (init.sql checks them).
	for _, ext := range []struct{ name, version, control, script string }{
		{"vector", "0.8.0", "relocatable = true\n", ""},
		{"vchord", "0.4.3", "relocatable = true\nrequires = 'vector'\n", ""},
		{"vectors", "0.3.0", "relocatable = false\nschema = vectors\n", "CREATE VIEW pg_vector_index_stat AS SELECT NULL::text AS indexname WHERE false;\n"},
	} {
		control := filepath.Join(extDir, ext.name+".control")
		script := filepath.Join(extDir, ext.name+"--"+ext.version+".sql")
		old, err := os.ReadFile(control)
		if err == nil && !bytes.Contains(old, []byte(StandInMarker)) {
			t.Logf("using the installed extension %s (%s)", ext.name, control)
			continue
		}
		installed = append(installed, control, script)
		if err == nil {
			continue // another test's stand-in, still in use
		}
		t.Logf("installing an EMPTY stand-in for the extension %s into %s: %s", ext.name, extDir, StandInMarker)
		files := map[string]string{
			control: "# " + StandInMarker + ".\n# Installed by immich-render's tests (internal/pgtest) so that init.sql's\n# CREATE EXTENSION lines run unchanged; removed after the tests.\n" +
				"comment = '" + StandInMarker + "'\ndefault_version = '" + ext.version + "'\n" + ext.control,
			script: "-- " + StandInMarker + ": it provides nothing.\n" + ext.script,
		}
		for name, content := range files {
			if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
				syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
				lock.Close()
				testenv.Skip(t, fmt.Sprintf("the extension %s is not installed and its test stand-in cannot be written: %v", ext.name, err))
			}
		}
	}
	// Keep using them: a shared lock until the test ends.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatalf("locking %s: %v", standInLock, err)
	}
	t.Cleanup(func() {
		defer lock.Close()
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		// The last user removes them; anyone else still holds a shared lock.
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			return
		}
		for _, name := range installed {
			os.Remove(name)
		}
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	})
}

// standInLock is held shared by every test that uses the stand-ins.
const standInLock = "/tmp/immich-render-pg-standins.lock"
