package render

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// deploySteps are the lines of the sh blocks of the README's "First
// deployment": the deployment, one command per line, in order.
func deploySteps(t *testing.T, readme string) []string {
	t.Helper()
	_, sec, ok := strings.Cut(readme, "\n### First deployment\n")
	if !ok {
		t.Fatal("no First deployment section")
	}
	sec, _, _ = strings.Cut(sec, "\n### ")
	var lines []string
	for {
		_, rest, ok := strings.Cut(sec, "\n```sh\n")
		if !ok {
			return lines
		}
		block, after, _ := strings.Cut(rest, "\n```\n")
		lines = append(lines, strings.Split(block, "\n")...)
		sec = after
	}
}

// The first deployment keeps the convention the rehearsal relies on: only
// commands (no comments, blank lines or continuations), each valid for
// sh and shellcheck, in the order rsync, apply.sh, the units, the check.
func TestReadmeDeploySteps(t *testing.T) {
	for name, extra := range map[string][]string{
		"minimal": nil,
		"webroot": {`immich: nginx: {enabled: true, hostname: "photos.example.com", tls: "webroot", acme: email: "a@example.com"}`},
		"acme":    {`immich: {nginx: {enabled: true, hostname: "photos.example.com", acme: email: "a@example.com"}, projectDir: "/srv/immich here"}`},
	} {
		t.Run(name, func(t *testing.T) {
			r := Render(testenv.Config(t, nil, extra...), all)
			steps := deploySteps(t, string(r.Out["README.md"].Data))
			order := []string{"rsync -rlp --mkpath out/fragments/", "rsync -rlp out/rootfs/", "fragments/apply.sh", "systemctl enable --now immich.service", VerifyScript}
			at := 0
			for _, l := range steps {
				if l == "" || strings.HasPrefix(l, "#") || strings.HasSuffix(l, "\\") {
					t.Errorf("not one command: %q", l)
				}
				if at < len(order) && strings.Contains(l, order[at]) {
					at++
				}
			}
			if at < len(order) {
				t.Errorf("steps miss %q (in order):\n%s", order[at], strings.Join(steps, "\n"))
			}
			script := filepath.Join(t.TempDir(), "steps.sh")
			os.WriteFile(script, []byte("#!/bin/sh\n"+strings.Join(steps, "\n")+"\n"), 0o644)
			if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
				t.Errorf("sh -n: %v\n%s", err, out)
			}
			if sc, err := exec.LookPath("shellcheck"); err == nil {
				if out, err := exec.Command(sc, "-s", "sh", script).CombinedOutput(); err != nil {
					t.Errorf("shellcheck: %v\n%s", err, out)
				}
			} else {
				testenv.Skip(t, "shellcheck is not installed")
			}
		})
	}
}
