package rehearsal

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/immich-render/immich-render/render"
	"go.yaml.in/yaml/v3"
)

// mutateAclfileElsewhere moves the tenant's Valkey users to an aclfile of
// its own, which apply.sh refuses to take over: cloud-init's runcmd must
// stop there.
const mutateAclfileElsewhere = "valkey-aclfile-elsewhere"

// deployFirst is the first deployment: the README's steps, or for a
// cloud-init scenario what cloud-init does with the user-data.
func (h *d13host) deployFirst() bool {
	if !h.sc.CloudInit {
		return h.readmeSteps("## Deploy", "### First")
	}
	return h.step("cloud-init write_files", h.writeFiles) &&
		h.step("cloud-init runcmd", h.runcmd)
}

// userData is the user-data's part the host needs.
type userData struct {
	WriteFiles []struct {
		Path, Owner, Permissions, Encoding, Content string
	} `yaml:"write_files"`
}

// writeFiles does what cloud-init's write_files does with the user-data:
// each file with its content, mode and owner.
func (h *d13host) writeFiles() (string, error) {
	var doc userData
	if err := yaml.Unmarshal(h.secrets[render.UserDataPath].Data, &doc); err != nil {
		return "", err
	}
	var chown []string
	for _, f := range doc.WriteFiles {
		data := []byte(f.Content)
		if f.Encoding != "" {
			raw, err := base64.StdEncoding.DecodeString(f.Content)
			if err != nil {
				return "", fmt.Errorf("%s: %w", f.Path, err)
			}
			data = raw
			if f.Encoding == "gzip+b64" {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					return "", fmt.Errorf("%s: %w", f.Path, err)
				}
				if data, err = io.ReadAll(zr); err != nil {
					return "", fmt.Errorf("%s: %w", f.Path, err)
				}
			}
		}
		mode, err := strconv.ParseUint(f.Permissions, 8, 32)
		if err != nil {
			return "", fmt.Errorf("%s: permissions %q: %w", f.Path, f.Permissions, err)
		}
		name := filepath.Join(h.m.root, f.Path)
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(name, data, os.FileMode(mode)); err != nil {
			return "", err
		}
		if err := os.Chmod(name, os.FileMode(mode)); err != nil {
			return "", err
		}
		if f.Owner != "" && f.Owner != "root:root" {
			chown = append(chown, "chown "+f.Owner+" "+f.Path)
		}
	}
	// By name, as the host knows its service users.
	if len(chown) > 0 {
		if _, err := h.m.shell(strings.Join(chown, "\n")); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%d files, %d owned by a service user", len(doc.WriteFiles), len(chown)), nil
}

// runcmd runs the script cloud-init makes of the user-data's runcmd (with
// cloud-init's own shellify, on this machine) on the host, as root, as
// cloud-init's final stage does. When it fails, Immich must not be
// running.
func (h *d13host) runcmd() (string, error) {
	f := filepath.Join(h.t.TempDir(), "user-data")
	if err := os.WriteFile(f, h.secrets[render.UserDataPath].Data, 0o600); err != nil {
		return "", err
	}
	ci, err := exec.LookPath("cloud-init")
	if err != nil {
		return "", errors.New("no cloud-init here to turn runcmd into its script (Debian package cloud-init)")
	}
	head, err := os.ReadFile(ci)
	if err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(string(head), "\n")
	py, ok := strings.CutPrefix(first, "#!")
	if !ok {
		return "", fmt.Errorf("%s starts %q, not a #! line naming its python", ci, first)
	}
	script, err := exec.Command(py, "-c", `import sys, yaml
from cloudinit import util
d = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
sys.stdout.write(util.shellify(d["runcmd"]))`, f).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("shellify: %v\n%s", err, script)
	}
	const where = "/var/lib/cloud/instance/scripts/runcmd"
	name := filepath.Join(h.m.root, where)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(name, script, 0o700); err != nil {
		return "", err
	}
	_, err = h.m.enter(10*time.Minute, where)
	if err != nil {
		state, _ := h.m.enter(time.Minute, "systemctl", "is-active", render.ImmichUnit)
		if strings.TrimSpace(state) != "inactive" {
			return "", fmt.Errorf("the runcmd failed, and %s is %s: %v", render.ImmichUnit, strings.TrimSpace(state), err)
		}
		return "", fmt.Errorf("%s\n%s after the failure: inactive", strings.TrimSpace(err.Error()), render.ImmichUnit)
	}
	return fmt.Sprintf("ran to its end, %d steps", strings.Count(string(script), "\n'step' ")+strings.Count(string(script), "\n  step ")), nil
}
