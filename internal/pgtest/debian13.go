package pgtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// Debian13 is PostgreSQL 17 with the real pgvector (Debian 13's
// postgresql-17 and postgresql-17-pgvector), run from a Debian 13 root
// filesystem in a plain chroot: no namespaces and no mounts, so nothing
// can outlive the test but the server process, which the cleanup stops.
// The server listens on a socket in the test folder and on a free
// loopback port. Every client program runs from the root filesystem too,
// so pg_dump and psql match the server's version as they do in Immich's
// image. The server is started with pg_ctl and stopped with it: without a
// PID namespace its postmaster.pid holds its real process ID.
type Debian13 struct {
	Root string // host path of the root filesystem, removed after the test
	Dir  string // the test folder inside the root: data, socket, log
	Port int
	uid  int // of the postgres user inside the root
	gid  int
}

// Debian13Bin is the folder of the PostgreSQL 17 programs inside the root.
const Debian13Bin = "/usr/lib/postgresql/17/bin"

// StartDebian13 extracts a Debian 13 root filesystem with
// scripts/debian13-rootfs.sh (cached after its first run), starts
// PostgreSQL 17 in it and stops it when the test ends. It needs root.
func StartDebian13(t testing.TB) *Debian13 {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "PostgreSQL 17 in a Debian 13 chroot needs root (chroot, and files owned by its postgres user)")
	}
	script := filepath.Join(repoRoot(t), "scripts", "debian13-rootfs.sh")
	if _, err := os.Stat(script); err != nil {
		testenv.Skip(t, "scripts/debian13-rootfs.sh is missing: "+err.Error())
	}
	parent, err := os.MkdirTemp("", "immich-render-deb13-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	d := &Debian13{Root: filepath.Join(parent, "root"), Dir: "/srv/pgtest"}
	if out, err := exec.Command("bash", script, d.Root).CombinedOutput(); err != nil {
		testenv.Skip(t, fmt.Sprintf("building the Debian 13 root filesystem: %v\n%s", err, out))
	}
	d.uid, d.gid = lookupUser(t, filepath.Join(d.Root, "etc", "passwd"), "postgres")
	if err := os.MkdirAll(d.Host(d.Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d.Host(d.Dir), d.uid, d.gid); err != nil {
		t.Fatal(err)
	}
	d.Port = FreePort(t)
	data := d.Dir + "/data"
	d.Run(t, nil, Debian13Bin+"/initdb", "-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C", "-A", "reject", "--no-sync")
	d.WriteFile(t, data+"/pg_hba.conf", "local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n")
	// log_statement shows what init.sql ran; mmap shared memory needs no
	// /dev/shm in the chroot.
	d.AppendFile(t, data+"/postgresql.conf", fmt.Sprintf(
		"listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nlog_statement = 'all'\nfsync = off\ndynamic_shared_memory_type = mmap\nlogging_collector = off\n",
		d.Port, d.Dir))
	logFile := d.Dir + "/server.log"
	if out, err := d.Cmd(nil, Debian13Bin+"/pg_ctl", "-D", data, "-l", logFile, "-w", "-t", "120", "start").CombinedOutput(); err != nil {
		logText, _ := os.ReadFile(d.Host(logFile))
		t.Fatalf("starting PostgreSQL 17: %v\n%s\n%s", err, out, logText)
	}
	t.Cleanup(func() {
		// pg_ctl waits until the server and all its backends are gone.
		if out, err := d.Cmd(nil, Debian13Bin+"/pg_ctl", "-D", data, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
			t.Errorf("stopping PostgreSQL 17: %v\n%s", err, out)
		}
	})
	return d
}

// Host is the host path of a path inside the root.
func (d *Debian13) Host(inner string) string { return filepath.Join(d.Root, inner) }

// Cmd runs prog inside the root as its postgres user, with a clean
// environment plus env.
func (d *Debian13) Cmd(env []string, prog string, args ...string) *exec.Cmd {
	c := exec.Command("chroot", append([]string{"--userspec=" + strconv.Itoa(d.uid) + ":" + strconv.Itoa(d.gid), d.Root, prog}, args...)...)
	c.Dir = "/"
	c.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + d.Dir, "LC_ALL=C", "PGCLIENTENCODING=UTF8", "PGPASSFILE=/nonexistent", "PGCONNECT_TIMEOUT=10"}, env...)
	return c
}

// Run runs a program inside the root and fails the test if it fails.
func (d *Debian13) Run(t testing.TB, env []string, prog string, args ...string) string {
	t.Helper()
	out, err := d.Cmd(env, prog, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", prog, args, err, out)
	}
	return string(out)
}

// SuperuserEnv connects as the postgres superuser through the socket.
func (d *Debian13) SuperuserEnv(db string) []string {
	return []string{"PGHOST=" + d.Dir, "PGPORT=" + strconv.Itoa(d.Port), "PGUSER=postgres", "PGDATABASE=" + db}
}

// LoginEnv connects as role over TCP with its password, as Immich does.
func (d *Debian13) LoginEnv(role, password, db string) []string {
	return []string{"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(d.Port), "PGSSLMODE=disable",
		"PGUSER=" + role, "PGDATABASE=" + db, "PGPASSWORD=" + password}
}

// Superuser runs SQL as the superuser and returns its unaligned output.
func (d *Debian13) Superuser(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := d.Cmd(d.SuperuserEnv(db), Debian13Bin+"/psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql as postgres in %s: %s: %v\n%s", db, sql, err, out)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// Psql runs psql inside the root with env and args, feeding it stdin,
// and returns its combined output.
func (d *Debian13) Psql(env []string, stdin []byte, args ...string) (string, error) {
	c := d.Cmd(env, Debian13Bin+"/psql", append([]string{"-X"}, args...)...)
	c.Stdin = bytes.NewReader(stdin)
	out, err := c.CombinedOutput()
	return string(out), err
}

// WriteFile writes a file inside the root, owned by its postgres user.
func (d *Debian13) WriteFile(t testing.TB, inner, content string) {
	t.Helper()
	name := d.Host(inner)
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(name, d.uid, d.gid); err != nil {
		t.Fatal(err)
	}
}

// Mkdir makes a folder inside the root, owned by its postgres user.
func (d *Debian13) Mkdir(t testing.TB, inner string, mode os.FileMode) {
	t.Helper()
	name := d.Host(inner)
	if err := os.Mkdir(name, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(name, d.uid, d.gid); err != nil {
		t.Fatal(err)
	}
}

// AppendFile appends to a file inside the root.
func (d *Debian13) AppendFile(t testing.TB, inner, content string) {
	t.Helper()
	old, err := os.ReadFile(d.Host(inner))
	if err != nil {
		t.Fatal(err)
	}
	d.WriteFile(t, inner, string(old)+content)
}

// Log returns the server's log so far.
func (d *Debian13) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(d.Host(d.Dir + "/server.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lookupUser reads a user's uid and gid from a passwd file.
func lookupUser(t testing.TB, passwd, name string) (uid, gid int) {
	t.Helper()
	f, err := os.Open(passwd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for s := bufio.NewScanner(f); s.Scan(); {
		fields := strings.Split(s.Text(), ":")
		if len(fields) > 3 && fields[0] == name {
			uid, err1 := strconv.Atoi(fields[2])
			gid, err2 := strconv.Atoi(fields[3])
			if err1 == nil && err2 == nil {
				return uid, gid
			}
		}
	}
	t.Fatalf("no user %s in %s", name, passwd)
	return 0, 0
}

// repoRoot is the folder of go.mod above the test's working folder.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}
