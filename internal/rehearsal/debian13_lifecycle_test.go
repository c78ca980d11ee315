package rehearsal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
)

// What the Debian 13 host checks of a deployment's life after its first
// start: the server's first call to machine learning, an upgrade to a
// newer Immich by the README (with its dump before the new version
// starts), and, for Quadlet, a missing secret failing the start loudly.

// writeSite writes out/ and secrets/ as the operator's checkout has them,
// replacing what an earlier render wrote.
func (h *d13host) writeSite() error {
	for dir, tr := range map[string]tree.Tree{"out": h.out, "secrets": h.secrets} {
		if err := os.RemoveAll(filepath.Join(h.work, dir)); err != nil {
			return err
		}
		for _, p := range tr.Paths() {
			name := filepath.Join(h.work, dir, p)
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(name, tr[p].Data, tr[p].Mode); err != nil {
				return err
			}
		}
	}
	h.readme = string(h.out["README.md"].Data)
	return nil
}

func (h *d13host) quadlet() bool { return h.cfg.Immich.Runtime == "quadlet" }

// standinStepRE is one start-up step the stand-in reports.
var standinStepRE = regexp.MustCompile(`(?m)^rehearsal step=(\S+) ok=(true|false) ms=(\d+) detail=(".*")$`)

// mlFirstCall reads the server's first machine-learning step since the
// host booted first: with Quadlet the server starts once machine learning
// is healthy, so its first call succeeds at once (no retry); with machine
// learning off the server must not call it at all. Compose starts both
// together: its number of attempts is only reported.
func (h *d13host) mlFirstCall() (string, error) {
	var logs string
	var err error
	if h.quadlet() {
		logs, err = h.m.enter(time.Minute, "journalctl", "--no-pager", "-o", "cat", "-u", render.ServerUnit)
	} else {
		var name string
		if name, err = h.serverContainer(); err == nil {
			logs, err = h.m.enter(time.Minute, "podman", "logs", name)
		}
	}
	if err != nil {
		return "", err
	}
	detail := ""
	for _, m := range standinStepRE.FindAllStringSubmatch(logs, -1) {
		if m[1] == "machine-learning" {
			detail, _ = strconv.Unquote(m[4])
			break
		}
	}
	ml := h.cfg.Immich.MachineLearning
	switch {
	case detail == "":
		return "", fmt.Errorf("the server's log has no machine-learning step:\n%s", logs)
	case !ml.Enabled:
		if !strings.HasPrefix(detail, "off (IMMICH_MACHINE_LEARNING_ENABLED=false)") {
			return "", fmt.Errorf("machine learning is off, and the server says: %s", detail)
		}
	case h.quadlet() && ml.Local() && !strings.Contains(detail, " at attempt 1 "):
		return "", fmt.Errorf("the server retried machine learning although it starts after it is healthy: %s", detail)
	}
	return detail, nil
}

// secretLeftOut removes a secret file, as a copy that missed it would, and
// expects systemctl start immich to fail with the server's unit failed
// (compose would report success with nothing running). The file comes
// back afterwards.
func (h *d13host) secretLeftOut() bool {
	if !h.quadlet() {
		return true
	}
	var secret string
	for _, p := range h.secrets.Paths() {
		if strings.HasPrefix(p, "rootfs/") && strings.HasSuffix(p, "/secrets/redis_password") {
			secret = strings.TrimPrefix(p, "rootfs")
		}
	}
	return h.step("a secret file left out: systemctl start immich fails", func() (string, error) {
		if secret == "" {
			return "", errors.New("the secrets tree has no redis_password")
		}
		if _, err := h.m.enter(time.Minute, "mv", secret, secret+".away"); err != nil {
			return "", err
		}
		defer h.m.enter(time.Minute, "/bin/sh", "-c", "mv "+secret+".away "+secret+"; systemctl stop immich.service; systemctl reset-failed")
		out, err := h.m.enter(5*time.Minute, "systemctl", "start", "immich.service")
		if err == nil {
			return "", fmt.Errorf("systemctl start immich succeeded without %s:\n%s", secret, out)
		}
		// Restart=always tries again until the start limit: wait for the
		// unit to give up (each try fails at once).
		var state string
		for start := time.Now(); time.Since(start) < 2*time.Minute; time.Sleep(250 * time.Millisecond) {
			state, _ = h.m.enter(time.Minute, "systemctl", "show", "-p", "ActiveState", "-p", "Result", render.ServerUnit)
			if strings.Contains(state, "ActiveState=failed") {
				break
			}
		}
		if !strings.Contains(state, "ActiveState=failed") {
			return "", fmt.Errorf("%s is not failed without %s: %s", render.ServerUnit, secret, state)
		}
		why, _ := h.m.enter(time.Minute, "/bin/sh", "-c", "journalctl --no-pager -o cat -u "+render.ServerUnit+" | grep -m1 -i 'no such file'")
		return fmt.Sprintf("%s; %s %s; %s", firstLine(err.Error()), render.ServerUnit, strings.Join(strings.Fields(state), " "), strings.TrimSpace(why)), nil
	})
}

// upgrade renders the same site with a newer Immich and deploys it as the
// README's upgrade steps say; the upgrade-dump unit must dump the
// database before the new server starts, and a plain restart afterwards
// must not dump again.
func (h *d13host) upgrade() bool {
	if h.sc.Upgrade == "" || h.res.Failed != "" {
		return h.res.Failed == ""
	}
	from := h.cfg.Immich.Version
	first := shBlocks(h.readme, "## Deploy", "### First")
	return h.step("render with immich.version "+h.sc.Upgrade, func() (string, error) {
		cfg, err := loadDebian13SiteVersion(h.sc, from, h.sc.Upgrade)
		if err != nil {
			return "", err
		}
		if cfg.Immich.Version != h.sc.Upgrade {
			return "", fmt.Errorf("the site renders %s, want %s", cfg.Immich.Version, h.sc.Upgrade)
		}
		h.cfg = cfg
		res := render.Render(cfg, render.Options{Secrets: true})
		h.out, h.secrets = res.Out, res.Secrets
		return fmt.Sprintf("%s to %s; %d files", from, cfg.Immich.Version, len(h.out)), h.writeSite()
	}) &&
		h.step("stand-in images of "+h.sc.Upgrade+" (podman import)", h.images) &&
		// "Run the same rsync commands again, then on the host the
		// commands below".
		h.step("README upgrade: the same rsync commands", func() (string, error) {
			var done []string
			for _, b := range first {
				if b.local() {
					out, err := h.runBlock(b, nil)
					if err != nil {
						return "", err
					}
					done = append(done, out)
				}
			}
			if len(done) == 0 {
				return "", errors.New("the first deployment has no rsync block")
			}
			return strings.Join(done, "; "), nil
		}) &&
		h.readmeSteps("## Deploy", "### Upgrades") &&
		h.standinReady("stand-in started after the upgrade") &&
		h.step("upgrade dump written before the new server started", func() (string, error) { return h.checkUpgradeDump(from) }) &&
		h.step("systemctl restart immich after the upgrade", func() (string, error) {
			return h.m.enter(5*time.Minute, "systemctl", "restart", "immich.service")
		}) &&
		h.standinReady("stand-in started after that restart") &&
		h.step("no second dump after a plain restart", func() (string, error) {
			dumps, err := h.upgradeDumps()
			if err != nil {
				return "", err
			}
			if len(dumps) != 1 {
				return "", fmt.Errorf("upgrade dumps after the restart: %q, want the one before the upgrade", dumps)
			}
			said, _ := h.m.enter(time.Minute, "/bin/sh", "-c", "journalctl --no-pager -o cat -u "+render.UpgradeDumpUnit+" | tail -n 3")
			return strings.Join(dumps, ", ") + "; the unit's last run: " + lastLine(said), nil
		})
}

// upgradeDumps lists the upgrade dumps in the backup folder.
func (h *d13host) upgradeDumps() ([]string, error) {
	out, err := h.m.enter(time.Minute, "/bin/sh", "-c", "cd "+h.cfg.Immich.Backup.Directory+" && ls -A")
	if err != nil {
		return nil, err
	}
	var dumps []string
	for _, f := range strings.Fields(out) {
		if strings.Contains(f, "-before-") {
			dumps = append(dumps, f)
		}
	}
	return dumps, nil
}

// checkUpgradeDump finds the dump of the database as the old version left
// it: named for both versions, finished before the new server's unit
// started, and holding no trace of the new version (Immich's version
// history in it ends at the old one).
func (h *d13host) checkUpgradeDump(from string) (string, error) {
	pg := h.cfg.Immich.Postgres
	want := fmt.Sprintf("%s-%s-before-%s.dump", pg.Database, from, h.cfg.Immich.Version)
	dumps, err := h.upgradeDumps()
	if err != nil {
		return "", err
	}
	if len(dumps) != 1 || dumps[0] != want {
		return "", fmt.Errorf("upgrade dumps in %s: %q, want %s\n%s", h.cfg.Immich.Backup.Directory, dumps, want, h.journal())
	}
	serverUnit := render.ImmichUnit // compose: immich.service runs the stack
	if h.quadlet() {
		serverUnit = render.ServerUnit
	}
	show := func(unit string, props ...string) (map[string]string, error) {
		args := []string{"systemctl", "show", unit}
		for _, p := range props {
			args = append(args, "-p", p)
		}
		out, err := h.m.enter(time.Minute, args...)
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		for _, l := range strings.Fields(out) {
			if k, v, ok := strings.Cut(l, "="); ok {
				m[k] = v
			}
		}
		return m, nil
	}
	dump, err := show(render.UpgradeDumpUnit, "ExecMainExitTimestampMonotonic", "ExecMainStatus", "Result")
	if err != nil {
		return "", err
	}
	server, err := show(serverUnit, "ExecMainStartTimestampMonotonic")
	if err != nil {
		return "", err
	}
	dumpDone, _ := strconv.ParseInt(dump["ExecMainExitTimestampMonotonic"], 10, 64)
	serverStart, _ := strconv.ParseInt(server["ExecMainStartTimestampMonotonic"], 10, 64)
	if dump["Result"] != "success" || dump["ExecMainStatus"] != "0" || dumpDone == 0 || serverStart <= dumpDone {
		return "", fmt.Errorf("%s %v, %s %v: want the dump to succeed before the server starts", render.UpgradeDumpUnit, dump, serverUnit, server)
	}
	history, err := h.m.sysrun([]string{"User=postgres"}, "pg_restore", "--data-only", "--table=version_history", "--file=-", filepath.Join(h.cfg.Immich.Backup.Directory, want))
	if err != nil {
		return "", err
	}
	if !strings.Contains(history, from) || strings.Contains(history, h.cfg.Immich.Version) {
		return "", fmt.Errorf("the dump's version_history should hold %s and not %s:\n%s", from, h.cfg.Immich.Version, history)
	}
	said, _ := h.m.enter(time.Minute, "/bin/sh", "-c", "journalctl --no-pager -o cat -u "+render.UpgradeDumpUnit+" | grep -m1 ' replaces '")
	return fmt.Sprintf("%s, done %.1fs before %s started; its version_history ends at %s; %s",
		want, float64(serverStart-dumpDone)/1e6, serverUnit, from, strings.TrimSpace(said)), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// loadDebian13SiteVersion loads the scenario's site with the example's
// immich.version from replaced by to.
func loadDebian13SiteVersion(sc scenario, from, to string) (*schema.Config, error) {
	re := regexp.MustCompile(`(version:\s*)"` + regexp.QuoteMeta(from) + `"`)
	edit := func(b []byte) []byte { return re.ReplaceAll(b, []byte(`${1}"`+to+`"`)) }
	site := d13Site
	if sc.Host != "" {
		site = "defaults: {\n" + site + "}\n"
	}
	return loadExampleEdited(sc.Example, sc.Host, edit, schema.Input{Name: "debian13-site.cue", Data: []byte(site)})
}
