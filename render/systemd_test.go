package render

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
)

// verifyUnits runs systemd-analyze verify on every unit of a tree. It exits
// 0 on mere warnings (an unknown key, a bad specifier), so any output at
// all fails the test.
func verifyUnits(t *testing.T, out tree.Tree) {
	t.Helper()
	bin := testenv.Binary(t, "systemd-analyze")
	dir := t.TempDir()
	var units []string
	for _, p := range out.Paths() {
		rel, ok := strings.CutPrefix(p, "rootfs/etc/systemd/system/")
		if !ok {
			continue
		}
		f := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, out[p].Data, 0o644); err != nil {
			t.Fatal(err)
		}
		// A drop-in (immich.service.d/*.conf) is read with its unit.
		if !strings.Contains(rel, ".d/") {
			units = append(units, f)
		}
	}
	if len(units) == 0 {
		t.Fatal("no units rendered")
	}
	// Units that ours require but that belong to the host (postgresql,
	// valkey): stand-ins next to ours, so the check does not depend on
	// what this machine has installed.
	for _, u := range units {
		data, _ := os.ReadFile(u)
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "Requires="); ok {
				for _, dep := range strings.Fields(rest) {
					stub := filepath.Join(dir, dep)
					if _, err := os.Stat(stub); os.IsNotExist(err) {
						os.WriteFile(stub, []byte("[Service]\nType=oneshot\nExecStart=/bin/true\n"), 0o644)
					}
				}
			}
		}
	}
	cmd := exec.Command(bin, append([]string{"verify", "--man=no"}, units...)...)
	cmd.Dir = dir
	got, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(got))) > 0 {
		t.Errorf("systemd-analyze verify %v: %v\n%s", units, err, got)
	}
}

func TestUnitsVerify(t *testing.T) {
	for name, cue := range map[string]string{
		"minimal": ``,
		"odd paths and podman-compose": `immich: {
			projectDir: "/srv/podman/Fotos Familie ü@x+y=z,~"
			composeCommand: "/usr/bin/podman-compose"
		}`,
		"valkey aclMode user": `valkey: aclMode: "user"`,
	} {
		t.Run(name, func(t *testing.T) {
			verifyUnits(t, Render(testenv.Config(t, nil, cue), all).Out)
		})
	}
}

// TestUnitsVerifyCatchesErrors makes sure the check above can fail.
func TestUnitsVerifyCatchesErrors(t *testing.T) {
	bin := testenv.Binary(t, "systemd-analyze")
	f := filepath.Join(t.TempDir(), "bad.service")
	os.WriteFile(f, []byte("[Service]\nExecStart=/usr/bin/podman up\nBogus=1\nWorkingDirectory=/a%z\n"), 0o644)
	got, _ := exec.Command(bin, "verify", "--man=no", f).CombinedOutput()
	if !strings.Contains(string(got), "Bogus") {
		t.Errorf("systemd-analyze did not report an unknown key:\n%s", got)
	}
}

func TestSystemdEscaping(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/a 100% b": "/srv/a 100%% b",
		"$HOME%i":       "$HOME%%i",
		"plain":         "plain",
	} {
		if got := systemdValue(in); got != want {
			t.Errorf("systemdValue(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"/usr/bin/podman": "/usr/bin/podman",
		"a b":             `"a b"`,
		`say "hi" \ 50%`:  `"say \"hi\" \\ 50%%"`,
	} {
		if got := systemdArg(in); got != want {
			t.Errorf("systemdArg(%q) = %q, want %q", in, got, want)
		}
	}
}
