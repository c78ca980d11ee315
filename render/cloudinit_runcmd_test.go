package render

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// runcmdScript is the script cloud-init makes of the user-data's runcmd,
// written by cloud-init's own code (cloudinit.util.shellify, as its
// runcmd module does).
func runcmdScript(t *testing.T, userData []byte) string {
	t.Helper()
	// cloud-init's own interpreter, from its #! line.
	ci, err := os.ReadFile(testenv.Binary(t, "cloud-init"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(ci), "\n")
	py, ok := strings.CutPrefix(first, "#!")
	if !ok || strings.Contains(py, " ") {
		t.Fatalf("cloud-init starts %q, not a #! line naming its python", first)
	}
	f := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(f, userData, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", `import sys, yaml
from cloudinit import util
d = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
sys.stdout.write(util.shellify(d["runcmd"]))`, f).CombinedOutput()
	if err != nil {
		t.Fatalf("shellify: %v\n%s", err, out)
	}
	return string(out)
}

// runcmdHost runs a user-data's runcmd script on a stand-in host: the
// paths it names (the state folder, /etc/letsencrypt, the webroot) moved
// into a temporary folder, the rendered fragments in place, systemctl and
// certbot stand-ins that log their calls, and nginx -t, the real one, on
// the rendered vhost each time systemctl (re)starts nginx, as the real
// start would.
type runcmdHost struct {
	t                     *testing.T
	dir, state, le, www   string
	log                   string
	script                string
	nginx                 string
	nginxPrefix, nginxCfg string
}

// newRuncmdHost renders the default configuration, or with webroot the
// webroot TLS mode, its webroot in the test's folder ending in webroot.
func newRuncmdHost(t *testing.T, webroot string) *runcmdHost {
	t.Helper()
	dir := t.TempDir()
	h := &runcmdHost{t: t, dir: dir, state: filepath.Join(dir, "state"), le: filepath.Join(dir, "letsencrypt"),
		www: filepath.Join(dir, "www", webroot), log: filepath.Join(dir, "calls")}
	var cue []string
	if webroot != "" {
		cue = append(cue, fmt.Sprintf(`immich: nginx: {enabled: true, hostname: %q, tls: "webroot", acme: email: "admin@example.com", webroot: %q}`, testHost, h.www))
	}
	cfg := testenv.Config(t, nil, cue...)
	r := Render(cfg, all)
	for _, p := range r.Out.Paths() {
		if strings.HasPrefix(p, "fragments/") {
			writeFile(t, filepath.Join(h.state, p), string(r.Out[p].Data), r.Out[p].Mode)
		}
	}
	h.script = runcmdScript(t, r.Secrets[UserDataPath].Data)
	n := cfg.Immich.Nginx
	for old, nw := range map[string]string{StateDir: h.state, "/etc/letsencrypt": h.le} {
		h.script = strings.ReplaceAll(h.script, old, nw)
	}
	if n.Enabled && n.TLS == "webroot" {
		h.nginx = testenv.Binary(t, "nginx")
		p := newNginxPrefix(t)
		files := nginxFiles(t, cfg)
		p.add(t, "immich.conf", letsEncryptLive(t, files["immich.conf"], filepath.Join(h.le, "live", testHost)))
		h.nginxPrefix, h.nginxCfg = p.dir, p.writeMain(t, false)
	}
	for _, s := range []string{StateDir, "/etc/letsencrypt", "/var/www"} {
		if strings.Contains(h.script, s) {
			t.Fatalf("the script still names %s:\n%s", s, h.script)
		}
	}
	// apply.sh on a host with /run but no PostgreSQL: it refuses.
	os.MkdirAll(filepath.Join(dir, "root/run"), 0o755)
	return h
}

func writeFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// stubApply replaces apply.sh with one that succeeds.
func (h *runcmdHost) stubApply() {
	writeFile(h.t, filepath.Join(h.state, ApplyScript), "#!/bin/sh\necho 'apply.sh: no change'\n", 0o755)
}

// run runs the script; fail is a systemctl or certbot command line that
// fails (exit 3). It returns the output, the calls made and the exit code.
func (h *runcmdHost) run(fail string) (out string, calls []string, code int) {
	h.t.Helper()
	bin := filepath.Join(h.dir, "bin")
	os.RemoveAll(bin)
	os.Remove(h.log)
	nginxT := "true"
	if h.nginx != "" {
		nginxT = fmt.Sprintf("%s -t -q -p %s -c %s -e %s", shellQuote(h.nginx), shellQuote(h.nginxPrefix+"/"), shellQuote(h.nginxCfg), shellQuote(filepath.Join(h.nginxPrefix, "error.log")))
	}
	live := shellQuote(filepath.Join(h.le, "live", testHost))
	stub := func(name, body string) {
		writeFile(h.t, filepath.Join(bin, name), fmt.Sprintf(`#!/bin/sh
echo %[1]s "$*" >>%[2]s
[ "%[1]s $*" != %[3]s ] || exit 3
%[4]s
`, name, shellQuote(h.log), shellQuote(fail), body), 0o755)
	}
	stub("systemctl", `case " $* " in *" nginx.service "*) `+nginxT+` ;; esac`)
	// certbot refuses an existing live/ folder; it issues into a new one.
	stub("certbot", `[ ! -e `+live+` ] || { echo "certbot: live/ exists" >&2; exit 1; }
[ -d `+shellQuote(h.www)+` ] || { echo "certbot: no webroot" >&2; exit 1; }
mkdir -p `+live+` && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=`+testHost+` -keyout `+live+`/privkey.pem -out `+live+`/fullchain.pem 2>/dev/null`)
	script := filepath.Join(h.dir, "runcmd")
	writeFile(h.t, script, h.script, 0o700)
	cmd := exec.Command("sh", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "IMMICH_RENDER_ROOT="+filepath.Join(h.dir, "root"))
	b, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			h.t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(h.log)
	if s := strings.TrimSuffix(string(data), "\n"); s != "" {
		calls = strings.Split(s, "\n")
	}
	return strings.ReplaceAll(string(b), h.dir, "$DIR"), calls, cmd.ProcessState.ExitCode()
}

// TestCloudInitStopsAtFirstFailure runs the runcmd script cloud-init makes
// of the user-data: when apply.sh refuses, nothing after it runs (no
// service restarted, no certificate asked for, Immich not started) and
// the output says which step failed; the same for a failing step further
// on. The script passes sh -n and shellcheck.
func TestCloudInitStopsAtFirstFailure(t *testing.T) {
	shellcheck := testenv.Binary(t, "shellcheck")
	h := newRuncmdHost(t, "")
	script := filepath.Join(t.TempDir(), "runcmd")
	writeFile(t, script, h.script, 0o644)
	if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, out)
	}
	if out, err := exec.Command(shellcheck, "--shell=sh", "--severity=style", "--format=gcc", script).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s\n%s", err, out, h.script)
	}

	out, calls, code := h.run("")
	want := `apply.sh: no PostgreSQL cluster in $DIR/root/etc/postgresql/*/* uses port 5432 (immich.postgres.port): merge fragments/postgresql by hand
apply.sh: nothing changed
immich-render: sh $DIR/state/fragments/apply.sh failed (exit 1): the steps after it did not run, and Immich was not started
`
	if code != 1 || out != want || len(calls) != 0 {
		t.Errorf("apply.sh refusing: exit %d, calls %q, output\n%s\nwant exit 1, no calls and\n%s", code, calls, out, want)
	}

	h.stubApply()
	out, calls, code = h.run("")
	start := []string{
		"systemctl daemon-reload",
		"systemctl restart valkey-server.service",
		"systemctl restart postgresql.service",
		"systemctl restart immich-db-init.service",
		"systemctl enable --now immich-backup.timer",
		"systemctl enable --now immich.service",
	}
	if code != 0 || strings.Join(calls, "\n") != strings.Join(start, "\n") {
		t.Errorf("exit %d, calls\n%s\nwant\n%s\noutput:\n%s", code, strings.Join(calls, "\n"), strings.Join(start, "\n"), out)
	}

	out, calls, code = h.run("systemctl restart postgresql.service")
	want = "apply.sh: no change\nimmich-render: systemctl restart postgresql.service failed (exit 3): the steps after it did not run, and Immich was not started\n"
	if code != 3 || out != want || strings.Join(calls, "\n") != strings.Join(start[:3], "\n") {
		t.Errorf("PostgreSQL failing to start: exit %d, calls %q, output\n%s\nwant exit 3, calls %q and\n%s", code, calls, out, start[:3], want)
	}
}

// TestCloudInitFirstCertificate: with the webroot TLS mode, a fresh host
// has no certificate, and nginx -t (the real one) refuses the rendered
// vhost until it has one, so the start commands alone cannot bring nginx
// up. The runcmd gets the first certificate before nginx is started: a
// placeholder lets nginx load the vhost, certbot (a stand-in here, which
// refuses an existing live/ folder as certbot does) then issues into a new
// one. A host that has a certificate keeps it. A failing certbot stops the
// sequence before Immich starts.
func TestCloudInitFirstCertificate(t *testing.T) {
	testenv.Binary(t, "openssl")
	shellcheck := testenv.Binary(t, "shellcheck")
	start := []string{
		"systemctl daemon-reload",
		"systemctl restart valkey-server.service",
		"systemctl restart postgresql.service",
		"systemctl reload-or-restart nginx.service",
		"systemctl restart immich-db-init.service",
		"systemctl enable --now immich-backup.timer",
		"systemctl enable --now immich.service",
	}
	// The webroot's path arrives whole, whatever it holds.
	for i, tail := range append([]string{"letsencrypt"}, hostilePathTails...) {
		h := newRuncmdHost(t, tail)
		h.stubApply()
		if i == 0 {
			// What a fresh host has before the runcmd: no certificate,
			// and nginx refuses the vhost.
			if out, err := exec.Command(h.nginx, "-t", "-q", "-p", h.nginxPrefix+"/", "-c", h.nginxCfg, "-e", filepath.Join(h.nginxPrefix, "error.log")).CombinedOutput(); err == nil ||
				!strings.Contains(string(out), "cannot load certificate") {
				t.Fatalf("nginx -t without a certificate: %v\n%s", err, out)
			}
		}
		script := filepath.Join(t.TempDir(), "runcmd")
		writeFile(t, script, h.script, 0o644)
		if out, err := exec.Command(shellcheck, "--shell=sh", "--severity=style", "--format=gcc", script).CombinedOutput(); err != nil {
			t.Errorf("webroot %q: shellcheck: %v\n%s\n%s", tail, err, out, h.script)
		}

		certbot := "certbot certonly --non-interactive --agree-tos -m admin@example.com --webroot -w " + h.www + " -d " + testHost + " --deploy-hook systemctl reload nginx.service"
		out, calls, code := h.run("")
		want := append([]string{"systemctl restart nginx.service", certbot}, start...)
		if code != 0 || strings.Join(calls, "\n") != strings.Join(want, "\n") {
			t.Fatalf("webroot %q, fresh host: exit %d, calls\n%s\nwant\n%s\noutput:\n%s", tail, code, strings.Join(calls, "\n"), strings.Join(want, "\n"), out)
		}
		cert, err := os.ReadFile(filepath.Join(h.le, "live", testHost, "fullchain.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			continue
		}

		// Run again, as on a host that has its certificate: it stays.
		out, calls, code = h.run("")
		if code != 0 || strings.Join(calls, "\n") != strings.Join(start, "\n") {
			t.Errorf("a host with a certificate: exit %d, calls\n%s\nwant\n%s\noutput:\n%s", code, strings.Join(calls, "\n"), strings.Join(start, "\n"), out)
		}
		if again, _ := os.ReadFile(filepath.Join(h.le, "live", testHost, "fullchain.pem")); string(again) != string(cert) {
			t.Errorf("the host's certificate was replaced")
		}

		os.RemoveAll(h.le)
		out, calls, code = h.run(certbot)
		// (openssl's progress comes between the two.)
		wantOut := "\nimmich-render: " + strings.ReplaceAll(certbot, h.dir, "$DIR") + " failed (exit 3): the steps after it did not run, and Immich was not started\n"
		if code != 3 || !strings.HasPrefix(out, "apply.sh: no change\n") || !strings.HasSuffix(out, wantOut) || strings.Join(calls, "\n") != "systemctl restart nginx.service\n"+certbot {
			t.Errorf("certbot failing: exit %d, calls %q, output\n%s\nwant exit 3 and\n%s", code, calls, out, wantOut)
		}
	}
}
