package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/output"
	"github.com/immich-render/immich-render/internal/testenv"
)

var testFleet = testenv.Fleet(`
	nas001: immich: port: PORT1
	nas002: immich: port: PORT2
	nas003: immich: machineLearning: enabled: false`)

// fleetDir writes the test fleet with the given ports and returns its path.
func fleetConfig(t *testing.T, dir, port1, port2 string) string {
	t.Helper()
	p := filepath.Join(dir, "fleet.cue")
	src := strings.NewReplacer("PORT1", port1, "PORT2", port2).Replace(testFleet)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func setSecrets(t *testing.T) {
	t.Setenv("IMMICH_POSTGRES_PASSWORD", "test-postgres-password")
	t.Setenv("IMMICH_VALKEY_PASSWORD", "test-valkey-password")
	t.Setenv("VALKEY_ADMIN_PASSWORD", "test-valkey-admin-password")
}

// runMain runs the CLI in-process.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(args, &o, &e)
	return code, o.String(), e.String()
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runMain(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
	}
	return stderr
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFleetRenderLayout(t *testing.T) {
	setSecrets(t)
	dir := t.TempDir()
	cfg := fleetConfig(t, dir, "2283", "2284")
	out, sec := filepath.Join(dir, "out"), filepath.Join(dir, "sec")
	stderr := mustRun(t, "-c", cfg, "-o", out, "--secrets-out", sec)
	if !strings.Contains(stderr, "(3 hosts rendered)") {
		t.Errorf("stderr: %s", stderr)
	}
	for _, h := range []string{"nas001", "nas002", "nas003"} {
		for _, p := range []string{"README.md", "rootfs/opt/podman/immich/docker-compose.yml", "rootfs/etc/valkey/users.acl", "fragments/postgresql/pg_hba.conf"} {
			if _, err := os.Stat(filepath.Join(out, h, p)); err != nil {
				t.Error(err)
			}
		}
		for _, p := range []string{"rootfs/opt/podman/immich/secrets/db_password", "cloud-init/user-data"} {
			if _, err := os.Stat(filepath.Join(sec, h, p)); err != nil {
				t.Error(err)
			}
		}
	}
	// One manifest at the top, none per host.
	m, err := output.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "nas001", output.ManifestName)); err == nil {
		t.Error("a manifest per host")
	}
	if m.Meta["hosts.nas002.immichVersion"] != "v3.1.0" || m.Meta["hosts.nas003.machineLearning"] != "off" {
		t.Errorf("meta %v", m.Meta)
	}
	index := read(t, filepath.Join(out, "README.md"))
	for _, want := range []string{
		"# Immich fleet: 3 hosts",
		"| [nas002](nas002/README.md) | v3.1.0 | port 2284, no proxy | cpu | cpu | immich-server, immich-machine-learning |",
		"| [nas003](nas003/README.md) | v3.1.0 | port 2283, no proxy | off | cpu | immich-server |",
	} {
		if !strings.Contains(index, want) {
			t.Errorf("index lacks %q:\n%s", want, index)
		}
	}
	// No plaintext secret under -o.
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(read(t, p), "test-postgres-password") {
			t.Errorf("%s holds a secret", p)
		}
		return err
	})
	// vet says it is valid.
	if code, stdout, _ := runMain(t, "vet", "-c", cfg); code != 0 || stdout != "configuration is valid\n" {
		t.Errorf("vet: %d %q", code, stdout)
	}

	// A host removed from the configuration is removed from DIR.
	src := strings.Replace(read(t, cfg), "nas003: immich: machineLearning: enabled: false\n", "", 1)
	os.WriteFile(cfg, []byte(src), 0o644)
	mustRun(t, "-c", cfg, "-o", out, "--secrets-out", sec)
	for _, d := range []string{out, sec} {
		if _, err := os.Stat(filepath.Join(d, "nas003")); !os.IsNotExist(err) {
			t.Errorf("%s/nas003 is still there: %v", d, err)
		}
	}
}

func TestFleetCheck(t *testing.T) {
	setSecrets(t)
	dir := t.TempDir()
	cfg := fleetConfig(t, dir, "2283", "2284")
	out := filepath.Join(dir, "out")
	mustRun(t, "-c", cfg, "-o", out, "--quiet")
	if code, stdout, stderr := runMain(t, "-c", cfg, "-o", out, "--check"); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("clean check: %d\n%s%s", code, stdout, stderr)
	}
	compose := filepath.Join(out, "nas002/rootfs/opt/podman/immich/docker-compose.yml")
	os.WriteFile(compose, []byte("edited\n"), 0o644)
	code, stdout, _ := runMain(t, "-c", cfg, "-o", out, "--check")
	if code != 1 || !strings.Contains(stdout, "+++ b/nas002/rootfs/opt/podman/immich/docker-compose.yml") {
		t.Fatalf("drift: %d\n%s", code, stdout)
	}
	// A check limited to another host does not see it.
	if code, stdout, _ := runMain(t, "-c", cfg, "-o", out, "--check", "--host", "nas001"); code != 0 {
		t.Fatalf("--host nas001: %d\n%s", code, stdout)
	}
	if code, _, _ := runMain(t, "-c", cfg, "-o", out, "--check", "--host", "nas002"); code != 1 {
		t.Fatalf("--host nas002: %d", code)
	}
}

// TestFleetHostFlag: --host renders and checks some hosts only; the
// others' files stay exactly as they are (bytes, mode, mtime), and the
// index describes them as they were rendered.
func TestFleetHostFlag(t *testing.T) {
	setSecrets(t)
	dir := t.TempDir()
	cfg := fleetConfig(t, dir, "2283", "2284")
	out, sec := filepath.Join(dir, "out"), filepath.Join(dir, "sec")
	mustRun(t, "-c", cfg, "-o", out, "--secrets-out", sec, "--quiet")
	before := snapshot(t, out)
	secBefore := snapshot(t, sec)
	old := filepath.Join(out, "nas002/rootfs/opt/podman/immich/docker-compose.yml")
	past := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(old, past, past)

	// Both hosts change; only nas001 is rendered.
	fleetConfig(t, dir, "3001", "3002")
	stderr := mustRun(t, "-c", cfg, "-o", out, "--secrets-out", sec, "--host", "nas001")
	if !strings.Contains(stderr, "(1 host rendered, 2 other hosts kept)") {
		t.Errorf("stderr: %s", stderr)
	}
	after := snapshot(t, out)
	for p, v := range before {
		switch {
		case strings.HasPrefix(p, "nas001/rootfs/opt") || p == "nas001/rootfs/usr/local/lib/immich-render/immich-verify" ||
			p == "nas001/README.md" || p == "README.md" || p == output.ManifestName:
			// rendered again
		case after[p] != v:
			t.Errorf("%s changed", p)
		}
	}
	if !strings.Contains(read(t, filepath.Join(out, "nas001/rootfs/opt/podman/immich/docker-compose.yml")), `"3001:2283"`) {
		t.Error("nas001 not rendered")
	}
	if fi, _ := os.Stat(old); !fi.ModTime().Equal(past) {
		t.Errorf("nas002's compose file was rewritten: %v", fi.ModTime())
	}
	index := read(t, filepath.Join(out, "README.md"))
	if !strings.Contains(index, "| [nas001](nas001/README.md) | v3.1.0 | port 3001, no proxy |") ||
		!strings.Contains(index, "| [nas002](nas002/README.md) | v3.1.0 | port 2284, no proxy |") {
		t.Errorf("index:\n%s", index)
	}
	m, _ := output.ReadManifest(out)
	if len(m.Files) != len(before)-countDirs(before)-1 {
		t.Errorf("manifest lists %d files, want %d", len(m.Files), len(before)-countDirs(before)-1)
	}
	for p, v := range secBefore {
		if strings.HasPrefix(p, "nas002/") || strings.HasPrefix(p, "nas003/") {
			if snapshot(t, sec)[p] != v {
				t.Errorf("secrets %s changed", p)
			}
		}
	}

	// The partial check of nas001 is clean, of nas002 is not; the full
	// check sees nas002's drift.
	if code, stdout, _ := runMain(t, "-c", cfg, "-o", out, "--check", "--host", "nas001"); code != 0 {
		t.Errorf("check nas001: %d\n%s", code, stdout)
	}
	code, stdout, _ := runMain(t, "-c", cfg, "-o", out, "--check", "--host", "nas002")
	if code != 1 || strings.Contains(stdout, "a/nas001/") || !strings.Contains(stdout, "nas002/rootfs/opt/podman/immich/docker-compose.yml") {
		t.Errorf("check nas002: %d\n%s", code, stdout)
	}
	if code, _, _ := runMain(t, "-c", cfg, "-o", out, "--check"); code != 1 {
		t.Errorf("full check: %d", code)
	}
	mustRun(t, "-c", cfg, "-o", out, "--host", "nas002", "--host", "nas003", "--quiet")
	if code, stdout, _ := runMain(t, "-c", cfg, "-o", out, "--check"); code != 0 {
		t.Errorf("after rendering every host: %d\n%s", code, stdout)
	}

	// An unknown host is a usage error naming the hosts.
	code, _, stderrText := runMain(t, "-c", cfg, "-o", out, "--host", "nas009")
	if code != 2 || !strings.Contains(stderrText, "--host nas009: the configuration has no host of that name; its hosts are nas001, nas002, nas003") {
		t.Errorf("unknown host: %d %s", code, stderrText)
	}
}

// TestFleetHostIntoEmptyDir: --host into a new DIR renders those hosts and
// lists the others as not rendered yet.
func TestFleetHostIntoEmptyDir(t *testing.T) {
	setSecrets(t)
	dir := t.TempDir()
	cfg := fleetConfig(t, dir, "2283", "2284")
	out := filepath.Join(dir, "out")
	mustRun(t, "-c", cfg, "-o", out, "--host", "nas002", "--quiet")
	if _, err := os.Stat(filepath.Join(out, "nas001")); !os.IsNotExist(err) {
		t.Errorf("nas001 rendered: %v", err)
	}
	index := read(t, filepath.Join(out, "README.md"))
	if !strings.Contains(index, "# Immich fleet: 1 host\n") || !strings.Contains(index, "## Not rendered yet") || !strings.Contains(index, "- nas001\n- nas003\n") {
		t.Errorf("index:\n%s", index)
	}
}

func countDirs(snap map[string]string) int {
	n := 0
	for p := range snap {
		if strings.HasSuffix(p, "/") {
			n++
		}
	}
	return n
}

// TestFleetDeterministicAcrossGOMAXPROCS: one worker or four, the same
// bytes and modes.
func TestFleetDeterministicAcrossGOMAXPROCS(t *testing.T) {
	setSecrets(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "fleet.cue")
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "\th%02d: immich: port: %d\n", i, 3000+i)
	}
	os.WriteFile(cfg, []byte(testenv.Fleet(b.String())), 0o644)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var snaps []map[string]string
	for _, procs := range []int{1, 4} {
		runtime.GOMAXPROCS(procs)
		out, sec := filepath.Join(dir, fmt.Sprint("out", procs)), filepath.Join(dir, fmt.Sprint("sec", procs))
		mustRun(t, "-c", cfg, "-o", out, "--secrets-out", sec, "--quiet")
		snap := snapshot(t, out)
		for k, v := range snapshot(t, sec) {
			snap["secrets/"+k] = v
		}
		snaps = append(snaps, snap)
	}
	if len(snaps[0]) < 40*10 {
		t.Fatalf("only %d files", len(snaps[0]))
	}
	for k, v := range snaps[0] {
		if snaps[1][k] != v {
			t.Errorf("%s differs between GOMAXPROCS 1 and 4", k)
		}
	}
	if len(snaps[0]) != len(snaps[1]) {
		t.Errorf("%d files with GOMAXPROCS 1, %d with 4", len(snaps[0]), len(snaps[1]))
	}
}
