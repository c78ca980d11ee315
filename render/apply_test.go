package render

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/pgtest"
	"github.com/immich-render/immich-render/internal/testenv"
)

// fakeHost is a Debian host's configuration under a root folder, for
// apply.sh with IMMICH_RENDER_ROOT: PostgreSQL 15's /etc/postgresql/15/main
// (data elsewhere) and Valkey's /etc/valkey/valkey.conf. apply.sh reads
// PostgreSQL's settings with the real postgres -C, as the postgres user.
type fakeHost struct {
	t    *testing.T
	root string
	out  string // the rendered -o tree's fragments
}

func newFakeHost(t *testing.T, files map[string]string, extra ...string) *fakeHost {
	t.Helper()
	pgtest.FindBin(t)
	if os.Geteuid() == 0 {
		testenv.Binary(t, "runuser")
	}
	dir, err := os.MkdirTemp("", "immich-render-apply-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The postgres user reads the configuration.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{t: t, root: filepath.Join(dir, "root"), out: filepath.Join(dir, "out")}
	h.render(extra...)
	// /run, for apply.sh's lock.
	if err := os.MkdirAll(filepath.Join(h.root, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		h.write(filepath.Join(h.root, p), strings.ReplaceAll(content, "$ROOT", h.root), 0o644)
	}
	return h
}

// render writes the fragments of the configuration into h.out.
func (h *fakeHost) render(extra ...string) {
	h.t.Helper()
	r := Render(testenv.Config(h.t, nil, extra...), Options{})
	for _, p := range r.Out.Paths() {
		if strings.HasPrefix(p, "fragments/") {
			h.write(filepath.Join(h.out, p), string(r.Out[p].Data), r.Out[p].Mode)
		}
	}
}

func (h *fakeHost) write(p, content string, mode fs.FileMode) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		h.t.Fatal(err)
	}
}

// apply runs apply.sh with args and returns its output and exit code.
func (h *fakeHost) apply(args ...string) (string, int) {
	h.t.Helper()
	cmd := exec.Command("sh", append([]string{filepath.Join(h.out, ApplyScript)}, args...)...)
	cmd.Env = append(os.Environ(), "IMMICH_RENDER_ROOT="+h.root)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			h.t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return strings.ReplaceAll(string(out), h.root, "$ROOT"), code
}

// snapshot is every file under the root with its mode, the root's own
// path written $ROOT. It leaves out /run's files (apply.sh's lock), which
// the host empties at boot.
func (h *fakeHost) snapshot() map[string]string {
	h.t.Helper()
	snap := map[string]string{}
	filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			h.t.Fatal(err)
		}
		info, _ := d.Info()
		rel, _ := filepath.Rel(h.root, p)
		if filepath.Dir(rel) == "run" {
			return nil
		}
		if d.IsDir() {
			snap[rel+"/"] = info.Mode().String()
			return nil
		}
		data, _ := os.ReadFile(p)
		snap[rel] = info.Mode().String() + " " + strings.ReplaceAll(string(data), h.root, "$ROOT")
		return nil
	})
	return snap
}

func (h *fakeHost) read(p string) string {
	data, _ := os.ReadFile(filepath.Join(h.root, p))
	return string(data)
}

func sameSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %s is\n%s\nwant\n%s", what, p, got[p], w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s was left behind", what, p)
		}
	}
}

const (
	debianPG = `data_directory = '$ROOT/var/lib/postgresql/15/main'
hba_file = '$ROOT/etc/postgresql/15/main/pg_hba.conf'
port = 5432
listen_addresses = '10.1.2.3'		# the other tenant's address
shared_preload_libraries = 'pg_stat_statements'
include_dir = 'conf.d'
`
	debianHBA    = "local all postgres peer\nhost tenant tenant 10.1.2.0/24 scram-sha-256\n"
	debianValkey = "bind 10.1.2.3\nport 6379\n"
)

// debianFirstRun is apply.sh's output on debianHost.
const debianFirstRun = `apply.sh: /etc/postgresql/15/main/conf.d/immich-render.conf: listen_addresses = '10.1.2.3,localhost,172.20.0.1' (the host's: '10.1.2.3')
apply.sh: /etc/postgresql/15/main/conf.d/immich-render.conf: shared_preload_libraries = 'pg_stat_statements,vchord.so' (the host's: 'pg_stat_statements')
apply.sh: /etc/postgresql/15/main/pg_hba.conf: added at the top: host	"immich"	"immich"	172.20.0.0/16	scram-sha-256
apply.sh: /etc/valkey/immich-render.conf: bind 10.1.2.3 127.0.0.1 -::1 172.20.0.1 (the host's: 10.1.2.3)
apply.sh: /etc/valkey/immich-render.conf: aclfile /etc/valkey/users.acl (the host had none)
apply.sh: /etc/valkey/valkey.conf: include /etc/valkey/immich-render.conf, at the end
apply.sh: /etc/sysctl.d/60-immich-render.conf: net.ipv4.ip_nonlocal_bind = 1
apply.sh: restart PostgreSQL and Valkey for the new settings to take effect
`

func debianHost() map[string]string {
	return map[string]string{
		"etc/postgresql/15/main/postgresql.conf": debianPG,
		"etc/postgresql/15/main/pg_hba.conf":     debianHBA,
		"etc/postgresql/15/main/conf.d/.keep":    "",
		"var/lib/postgresql/15/main/.keep":       "",
		"etc/valkey/valkey.conf":                 debianValkey,
	}
}

// TestApplyMerges runs apply.sh on a host whose PostgreSQL already
// listens on another address and preloads another library, and whose
// Valkey binds another address: the first run merges and says so line by
// line, the second changes nothing, --dry-run changes nothing, and --undo
// puts every file back byte for byte.
func TestApplyMerges(t *testing.T) {
	h := newFakeHost(t, debianHost())
	// Debian's pg_hba.conf is 0640; apply.sh keeps a file's mode.
	os.Chmod(filepath.Join(h.root, "etc/postgresql/15/main/pg_hba.conf"), 0o640)
	before := h.snapshot()

	out, code := h.apply("--dry-run")
	if code != 0 || !strings.Contains(out, "would change /etc/postgresql/15/main/conf.d/immich-render.conf: listen_addresses") {
		t.Fatalf("--dry-run (exit %d):\n%s", code, out)
	}
	sameSnapshot(t, "after --dry-run", h.snapshot(), before)

	out, code = h.apply()
	t.Logf("first run:\n%s", out)
	if code != 0 || out != debianFirstRun {
		t.Fatalf("first run (exit %d):\n%s\nwant\n%s", code, out, debianFirstRun)
	}
	if got := h.read("etc/postgresql/15/main/pg_hba.conf"); got != "host\t\"immich\"\t\"immich\"\t172.20.0.0/16\tscram-sha-256\n"+debianHBA {
		t.Errorf("pg_hba.conf:\n%s", got)
	}
	if info, _ := os.Stat(filepath.Join(h.root, "etc/postgresql/15/main/pg_hba.conf")); info.Mode().Perm() != 0o640 {
		t.Errorf("pg_hba.conf's mode became %v", info.Mode())
	}
	if got := h.read("etc/valkey/valkey.conf"); got != debianValkey+"include /etc/valkey/immich-render.conf\n" {
		t.Errorf("valkey.conf:\n%s", got)
	}

	out, code = h.apply()
	t.Logf("second run:\n%s", out)
	if code != 0 || out != "apply.sh: no change\n" {
		t.Fatalf("second run (exit %d):\n%s", code, out)
	}

	out, code = h.apply("--undo")
	t.Logf("undo:\n%s", out)
	if code != 0 {
		t.Fatalf("--undo (exit %d):\n%s", code, out)
	}
	sameSnapshot(t, "after --undo", h.snapshot(), before)
	if out, _ := h.apply("--undo"); !strings.Contains(out, "nothing to undo") {
		t.Errorf("a second --undo:\n%s", out)
	}
}

// TestApplyRefuses: where the host's configuration cannot be merged,
// apply.sh exits 1 with a message saying why and changes nothing.
func TestApplyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		extra []string
		want  string
	}{
		{"aclfile elsewhere", map[string]string{"etc/valkey/valkey.conf": "bind 127.0.0.1\naclfile /etc/valkey/tenants.acl\n"}, nil,
			`reads its users from aclfile /etc/valkey/tenants.acl, and immich-render renders the whole of /etc/valkey/users.acl: set valkey.aclMode to "user"`},
		{"users in valkey.conf", map[string]string{"etc/valkey/valkey.conf": "bind 127.0.0.1\nuser tenant on >x ~t* +get\n"}, nil,
			`defines users itself (user lines)`},
		{"no aclfile in user mode", nil, []string{`valkey: aclMode: "user"`},
			`has no aclfile, which valkey.aclMode "user" needs`},
		{"another Valkey port", map[string]string{"etc/valkey/valkey.conf": "port 6380\n"}, nil,
			`sets port 6380, but immich.valkey.port is 6379`},
		{"no cluster on the port", map[string]string{"etc/postgresql/15/main/postgresql.conf": strings.Replace(debianPG, "port = 5432", "port = 5433", 1)}, nil,
			`no PostgreSQL cluster in $ROOT/etc/postgresql/*/* uses port 5432`},
		{"ALTER SYSTEM wins", map[string]string{"var/lib/postgresql/15/main/postgresql.auto.conf": "listen_addresses = '10.9.9.9'\n"}, nil,
			`PostgreSQL computes listen_addresses = '10.9.9.9' after the merge, not '10.9.9.9,localhost,172.20.0.1'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := debianHost()
			for p, c := range tc.files {
				files[p] = c
			}
			h := newFakeHost(t, files, tc.extra...)
			before := h.snapshot()
			out, code := h.apply()
			if code != 1 || !strings.Contains(out, tc.want) || !strings.HasSuffix(out, "apply.sh: nothing changed\n") {
				t.Errorf("exit %d, output:\n%s\nwant exit 1 and %q", code, out, tc.want)
			}
			sameSnapshot(t, "after a refusal", h.snapshot(), before)
		})
	}
}

// TestApplyCoveredAndUpgrade: a host that listens everywhere needs no
// listen_addresses, and the drop-in a previous apply.sh wrote whole is
// replaced by the merge (and put back by --undo).
func TestApplyCoveredAndUpgrade(t *testing.T) {
	files := debianHost()
	files["etc/postgresql/15/main/postgresql.conf"] = strings.Replace(debianPG, "'10.1.2.3'", "'*'", 1)
	files["etc/postgresql/15/main/conf.d/immich-render.conf"] = "listen_addresses = 'localhost,172.20.0.1'\nshared_preload_libraries = 'vchord.so'\n"
	files["etc/valkey/valkey.conf"] = "bind * -::*\n"
	h := newFakeHost(t, files)
	before := h.snapshot()
	out, code := h.apply()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "listen_addresses =") || strings.Contains(out, ": bind") || !strings.Contains(out, ": listen_addresses back to the host's own\n") {
		t.Errorf("a host on every address got new addresses, or the old drop-in's stayed:\n%s", out)
	}
	if got := h.read("etc/postgresql/15/main/conf.d/immich-render.conf"); !strings.Contains(got, "\nshared_preload_libraries = 'pg_stat_statements,vchord.so'\n") || strings.Contains(got, "listen_addresses") {
		t.Errorf("drop-in:\n%s", got)
	}
	if out, _ := h.apply(); out != "apply.sh: no change\n" {
		t.Errorf("second run:\n%s", out)
	}
	if out, code := h.apply("--undo"); code != 0 {
		t.Fatalf("--undo exit %d:\n%s", code, out)
	}
	sameSnapshot(t, "after --undo", h.snapshot(), before)
}

// TestApplyUndoRefusesLaterEdits: --undo does not overwrite a file that
// changed since apply.sh wrote it.
func TestApplyUndoRefusesLaterEdits(t *testing.T) {
	h := newFakeHost(t, debianHost())
	if out, code := h.apply(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	hba := filepath.Join(h.root, "etc/postgresql/15/main/pg_hba.conf")
	data, _ := os.ReadFile(hba)
	os.WriteFile(hba, append(data, "host other other 10.0.0.0/8 scram-sha-256\n"...), 0o644)
	edited := h.snapshot()
	out, code := h.apply("--undo")
	if code != 1 || !strings.Contains(out, "/etc/postgresql/15/main/pg_hba.conf changed since apply.sh wrote it") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	sameSnapshot(t, "after a refused --undo", h.snapshot(), edited)
	if !bytes.Contains([]byte(out), []byte("nothing changed")) {
		t.Errorf("no 'nothing changed':\n%s", out)
	}
}

// TestApplyUnion: the merged lists keep the host's items first and add
// only what they do not already cover.
func TestApplyUnion(t *testing.T) {
	for _, tc := range []struct{ listen, bind, wantListen, wantBind string }{
		{"10.1.2.3", "10.1.2.3", "'10.1.2.3,localhost,172.20.0.1'", "10.1.2.3 127.0.0.1 -::1 172.20.0.1"},
		{"127.0.0.1", "127.0.0.1 -::1", "'127.0.0.1,172.20.0.1'", "127.0.0.1 -::1 172.20.0.1"},
		{"localhost, 10.0.0.5", "0.0.0.0", "'localhost,10.0.0.5,172.20.0.1'", "0.0.0.0 -::1"},
		{"", "* -::*", "'localhost,172.20.0.1'", ""},
		{"0.0.0.0", "-10.9.9.9", "", "-10.9.9.9 127.0.0.1 -::1 172.20.0.1"},
		{"*", "127.0.0.1 172.20.0.1", "", "127.0.0.1 172.20.0.1 -::1"},
	} {
		files := debianHost()
		files["etc/postgresql/15/main/postgresql.conf"] = strings.Replace(debianPG, "'10.1.2.3'", "'"+tc.listen+"'", 1)
		files["etc/valkey/valkey.conf"] = "bind " + tc.bind + "\n"
		h := newFakeHost(t, files)
		if out, code := h.apply(); code != 0 {
			t.Fatalf("listen %q, bind %q: exit %d\n%s", tc.listen, tc.bind, code, out)
		}
		pg, vk := h.read("etc/postgresql/15/main/conf.d/immich-render.conf"), h.read("etc/valkey/immich-render.conf")
		if got := settingOf(pg, "listen_addresses = "); got != tc.wantListen {
			t.Errorf("host listen_addresses %q: merged %s, want %s", tc.listen, got, tc.wantListen)
		}
		if got := settingOf(vk, "bind "); got != tc.wantBind {
			t.Errorf("host bind %q: merged %q, want %q", tc.bind, got, tc.wantBind)
		}
	}
}

// settingOf returns the rest of the line of conf that starts with prefix.
func settingOf(conf, prefix string) string {
	for _, l := range strings.Split(conf, "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return ""
}

// TestApplyChangedNetwork: after the gateway and the role change, the next run
// replaces the pg_hba.conf line it added and the addresses it merged, and
// --undo still restores the host's files as they were before the first.
func TestApplyChangedNetwork(t *testing.T) {
	h := newFakeHost(t, debianHost())
	before := h.snapshot()
	if out, code := h.apply(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	h.render(`immich: hostGateway: "172.20.0.5"`, `immich: postgres: user: "photos"`)
	out, code := h.apply()
	t.Logf("after the move:\n%s", out)
	want := `apply.sh: /etc/postgresql/15/main/conf.d/immich-render.conf: listen_addresses = '10.1.2.3,localhost,172.20.0.5' (the host's: '10.1.2.3')
apply.sh: /etc/postgresql/15/main/pg_hba.conf: added at the top: host	"immich"	"photos"	172.20.0.0/16	scram-sha-256
apply.sh: /etc/postgresql/15/main/pg_hba.conf: removed, no longer rendered: host	"immich"	"immich"	172.20.0.0/16	scram-sha-256
apply.sh: /etc/valkey/immich-render.conf: bind 10.1.2.3 127.0.0.1 -::1 172.20.0.5 (the host's: 10.1.2.3)
apply.sh: restart PostgreSQL and Valkey for the new settings to take effect
`
	if code != 0 || out != want {
		t.Errorf("exit %d:\n%s\nwant\n%s", code, out, want)
	}
	if got := h.read("etc/postgresql/15/main/pg_hba.conf"); got != "host\t\"immich\"\t\"photos\"\t172.20.0.0/16\tscram-sha-256\n"+debianHBA {
		t.Errorf("pg_hba.conf:\n%s", got)
	}
	if out, _ := h.apply(); out != "apply.sh: no change\n" {
		t.Errorf("third run:\n%s", out)
	}
	if out, code := h.apply("--undo"); code != 0 {
		t.Fatalf("--undo exit %d:\n%s", code, out)
	}
	sameSnapshot(t, "after --undo", h.snapshot(), before)
}

// TestApplyReadsIncludes: the host's values are the ones the servers
// compute through their includes, later lines winning.
func TestApplyReadsIncludes(t *testing.T) {
	files := debianHost()
	files["etc/postgresql/15/main/conf.d/10-tenant.conf"] = "listen_addresses = '10.7.7.7'\n"
	files["etc/valkey/valkey.conf"] = "bind 127.0.0.1\ninclude /etc/valkey/conf.d/*.conf\n"
	files["etc/valkey/conf.d/tenant.conf"] = "bind 10.5.5.5\n"
	h := newFakeHost(t, files)
	out, code := h.apply()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if got := settingOf(h.read("etc/postgresql/15/main/conf.d/immich-render.conf"), "listen_addresses = "); got != "'10.7.7.7,localhost,172.20.0.1'" {
		t.Errorf("listen_addresses %s, want the conf.d file's value first", got)
	}
	if got := settingOf(h.read("etc/valkey/immich-render.conf"), "bind "); got != "10.5.5.5 127.0.0.1 -::1 172.20.0.1" {
		t.Errorf("bind %q, want the included file's value first", got)
	}

	// A conf.d file read after apply.sh's wins over it: refused, undone.
	files["etc/postgresql/15/main/conf.d/zz-late.conf"] = "listen_addresses = '10.8.8.8'\n"
	h = newFakeHost(t, files)
	before := h.snapshot()
	out, code = h.apply()
	if code != 1 || !strings.Contains(out, "PostgreSQL computes listen_addresses = '10.8.8.8' after the merge") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	sameSnapshot(t, "after a refusal", h.snapshot(), before)
}
