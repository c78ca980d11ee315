package render

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// TestUpgradeDumpShellcheck runs shellcheck on the rendered script, as
// /bin/sh (dash) runs it. It reads no value of the configuration: the
// unit passes them as arguments.
func TestUpgradeDumpShellcheck(t *testing.T) {
	bin := testenv.Binary(t, "shellcheck")
	f := filepath.Join(t.TempDir(), "immich-upgrade-dump")
	if err := os.WriteFile(f, upgradeDumpScript(struct{}{}), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--shell=sh", "--severity=style", f).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// TestUpgradeDumpUnit checks the unit against systemd-analyze verify
// (with stand-ins for the units it names) and its command against the
// script's arguments.
func TestUpgradeDumpUnit(t *testing.T) {
	bin := testenv.Binary(t, "systemd-analyze")
	cfg := testenv.Config(t, nil, `immich: backup: directory: "/srv/Sicherung ü@x+y=z,~"`)
	dir := t.TempDir()
	unit := filepath.Join(dir, UpgradeDumpUnit)
	files := map[string][]byte{
		unit: upgradeDumpUnit(dumpInputOf(cfg)),
		filepath.Join(dir, cfg.Host.PostgresService+".service"): []byte("[Service]\nType=oneshot\nExecStart=/bin/true\n"),
		filepath.Join(dir, DBInitUnit):                          []byte("[Service]\nType=oneshot\nExecStart=/bin/true\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "verify", "--man=no", unit)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s\n%s", err, out, files[unit])
	}
	lines := unitExecLines(t, files[unit], "ExecStart")
	if len(lines) != 1 || len(lines[0].argv) != 6 || lines[0].argv[2] != cfg.Immich.Backup.Directory {
		t.Errorf("ExecStart = %q, want %q", lines, upgradeDumpExecStart(dumpInputOf(cfg)))
	}
}
