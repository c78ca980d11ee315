package render

// Injection, consumer by consumer: every kind of string the schema
// accepts and a renderer writes into a file is driven through a table of
// hostile values, rendered, and read back by the real program that reads
// that file (compose-go, systemd-analyze, nginx, psql, valkey-server,
// sh, cloud-init). A value that arrives changed is a defect of the
// escaper or of the schema rule that let it through. Each test starts
// its server once and feeds it every value.

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/immich-render/immich-render/internal/pgtest"
	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// hostilePathTails are path tails the schema's absolute-path rule
// accepts that still mean something to some consumer: white space, '=',
// ',', '~', '+', '@', leading dashes, dots, non-ASCII letters and
// digits. Each is appended to a directory (a test's temporary one where
// the consumer must find the path on disk).
var hostilePathTails = []string{
	"a b/c  d",
	"x=y,z",
	"~user/+@x",
	"-lead/--dash",
	"фото/日本/ü",
	"ǅ²٣/Ａ", // title-case letter, superscript and Arabic-Indic digits, fullwidth letter
	".hidden/a.b_c",
	"a-/_",
	"100 000",
}

// refusedPaths are what the schema must refuse in every path field: each
// would change meaning in at least one consumer (':' splits a compose
// volume, '%' is a systemd specifier, '$' a variable, quotes and
// backslashes quote or escape, a line break ends a line).
var refusedPaths = []string{
	"/a:b", "/a%b", "/a$b", "/a'b", `/a"b`, `/a\b`, "/a\nb", "/a\u2028b", "/a;b", "/a#b", "/a\tb", "/a b ", "/a/../b", "/a//b", "relative",
}

// injectLoad loads testenv.Minimal without its upload location (the
// tests set their own) and extra CUE, with testenv.Secrets.
func injectLoad(extra string) (*schema.Config, error) {
	s, err := schema.Compile()
	if err != nil {
		return nil, err
	}
	base := strings.Replace(testenv.Minimal, `uploadLocation: "/mnt/storage/immich/upload"`, `uploadLocation: *"/mnt/storage/immich/upload" | _`, 1)
	return s.Load([]schema.Input{{Name: "minimal.cue", Data: []byte(base)}, {Name: "inject.cue", Data: []byte(extra)}},
		schema.Options{LookupEnv: func(k string) (string, bool) { v, ok := testenv.Secrets[k]; return v, ok }})
}

// injectConfig is injectLoad that fails the test on a problem.
func injectConfig(t *testing.T, extra string) *schema.Config {
	t.Helper()
	cfg, err := injectLoad(extra)
	if err != nil {
		t.Fatalf("loading test configuration:\n%v", err)
	}
	return cfg
}

// cueQuote writes s as a CUE string literal, everything beyond printable
// ASCII escaped (CUE refuses a raw byte order mark in a file).
func cueQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestInjectPathsRefused(t *testing.T) {
	for _, p := range refusedPaths {
		for _, field := range []string{"uploadLocation", "projectDir", "backup: directory"} {
			if _, err := injectLoad("immich: " + field + ": " + cueQuote(p)); err == nil {
				t.Errorf("immich.%s: %q is accepted", field, p)
			}
		}
		if _, err := testenv.Load(nil, "immich: externalLibraries: [{hostPath: "+cueQuote(p)+"}]"); err == nil {
			t.Errorf("externalLibraries hostPath: %q is accepted", p)
		}
	}
}

// TestInjectComposeGo renders hostile host and container paths, time
// zones and environment values into the compose file and has compose-go
// read them back.
func TestInjectComposeGo(t *testing.T) {
	var envs []string
	for _, s := range escapeSamples {
		if utf8.ValidString(s) {
			envs = append(envs, s)
		}
	}
	var env strings.Builder
	accepted := map[string]string{}
	for i, s := range envs {
		name := fmt.Sprintf("INJECT_%d", i)
		if _, err := testenv.Load(nil, "immich: environment: "+name+": "+cueQuote(s)); err != nil {
			continue // refused: TestInjectEnvironmentRefusals says which must be
		}
		accepted[name] = s
		fmt.Fprintf(&env, "%s: %s\n", name, cueQuote(s))
	}
	if len(accepted) < len(envs)-3 {
		t.Fatalf("only %d of %d environment values accepted", len(accepted), len(envs))
	}
	for _, tail := range hostilePathTails {
		t.Run(tail, func(t *testing.T) {
			up, lib, inside := "/srv/"+tail+"/upload", "/mnt/"+tail, "/mnt/external/"+tail
			cfg := injectConfig(t, fmt.Sprintf(`immich: {
	uploadLocation: %s
	projectDir: %s
	externalLibraries: [{hostPath: %s, containerPath: %s, readOnly: false}]
	storage: thumbs: %s
	timezone: "America/Argentina/Buenos_Aires"
	environment: {
%s	}
}`, cueQuote(up), cueQuote("/opt/"+tail), cueQuote(lib), cueQuote(inside), cueQuote("/ssd/"+tail), env.String()))
			p := loadCompose(t, cfg)
			srv, err := p.GetService(serverService)
			if err != nil {
				t.Fatal(err)
			}
			mounts := map[string]string{}
			for _, v := range srv.Volumes {
				mounts[v.Target] = v.Source
			}
			for target, source := range map[string]string{"/data": up, inside: lib, "/data/thumbs": "/ssd/" + tail} {
				if mounts[target] != source {
					t.Errorf("compose-go mounts %q on %q, want %q (all: %q)", mounts[target], target, source, mounts)
				}
			}
			for name, want := range accepted {
				if v := srv.Environment[name]; v == nil || *v != want {
					t.Errorf("compose-go reads %s as %v, want %q", name, deref(v), want)
				}
			}
			if v := srv.Environment["TZ"]; v == nil || *v != "America/Argentina/Buenos_Aires" {
				t.Errorf("TZ = %v", deref(v))
			}
			if p.WorkingDir != "/opt/"+tail {
				t.Errorf("working directory %q, want %q", p.WorkingDir, "/opt/"+tail)
			}
		})
	}
}

// systemdCondition asks systemd whether ConditionPathIsDirectory= with
// the value as written in a unit holds.
func systemdCondition(t *testing.T, bin, value string) bool {
	t.Helper()
	out, err := exec.Command(bin, "condition", "ConditionPathIsDirectory="+value).CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return err == nil && strings.Contains(string(out), "succeeded")
}

// TestInjectSystemd renders hostile paths as the project and backup
// directories and asks systemd itself: systemd-analyze verify accepts
// every unit, a WorkingDirectory= value read by systemd's own parser
// names exactly the directory (systemd-analyze condition finds it on
// disk, and not before it exists), and the Exec lines hand the backup
// directory over as one argument.
func TestInjectSystemd(t *testing.T) {
	bin := testenv.Binary(t, "systemd-analyze")
	base := t.TempDir()
	for _, tail := range hostilePathTails {
		t.Run(tail, func(t *testing.T) {
			// The backup directory cannot be in /tmp (the schema keeps it
			// out of system trees and hidden directories); it need not exist here.
			project, backup := filepath.Join(base, "project", tail), "/srv/backup/"+strings.TrimPrefix(tail, ".")
			cfg := injectConfig(t, fmt.Sprintf(`immich: {projectDir: %s, backup: directory: %s}`, cueQuote(project), cueQuote(backup)))
			out := Render(cfg, all).Out
			verifyUnits(t, out)

			unit := string(out["rootfs/etc/systemd/system/"+ImmichUnit].Data)
			var wd string
			for _, line := range strings.Split(unit, "\n") {
				if v, ok := strings.CutPrefix(line, "WorkingDirectory="); ok {
					wd = v
				}
			}
			if wd == "" {
				t.Fatalf("no WorkingDirectory= in %s:\n%s", ImmichUnit, unit)
			}
			if systemdCondition(t, bin, wd) {
				t.Fatalf("WorkingDirectory=%s names a directory that exists before %q is made", wd, project)
			}
			if err := os.MkdirAll(project, 0o755); err != nil {
				t.Fatal(err)
			}
			if !systemdCondition(t, bin, wd) {
				t.Errorf("systemd reads WorkingDirectory=%s as another directory than %q", wd, project)
			}

			var found bool
			for p, f := range out {
				if !strings.HasPrefix(p, "rootfs/etc/systemd/system/") {
					continue
				}
				for _, line := range strings.Split(string(f.Data), "\n") {
					key, v, ok := strings.Cut(line, "=")
					if !ok || !strings.HasPrefix(key, "Exec") || !strings.Contains(line, "immich-backup") && !strings.Contains(line, "install -d") {
						continue
					}
					words, err := systemdExecArgs(strings.TrimLeft(v, "+-@:!"))
					if err != nil {
						t.Fatalf("%s: %s: %v", p, line, err)
					}
					if slices.Contains(words, backup) {
						found = true
					} else {
						t.Errorf("%s: %s splits into %q, none of them %q", p, line, words, backup)
					}
				}
			}
			if !found {
				t.Errorf("no Exec line carries the backup directory %q", backup)
			}
		})
	}
}

// TestInjectNginx renders hostile certificate paths (tls manual) and
// webroots (tls webroot) and has nginx -t load the certificate files: it
// finds them only if it reads the path exactly.
func TestInjectNginx(t *testing.T) {
	bin := testenv.Binary(t, "nginx")
	for _, tail := range hostilePathTails {
		t.Run(tail, func(t *testing.T) {
			p := newNginxPrefix(t)
			dir := filepath.Join(p.dir, tail)
			cert, key := filepath.Join(dir, "full chain.pem"), filepath.Join(dir, "priv key.pem")
			selfSigned(t, cert, key, testHost)
			nginx := fmt.Sprintf(`{enabled: true, hostname: "photos.example.com", tls: "manual", certificate: %s, certificateKey: %s}`, cueQuote(cert), cueQuote(key))
			files := nginxFiles(t, nginxConfig(t, nginx))
			p.add(t, "immich.conf", files["immich.conf"])
			nginxTest(t, bin, p)

			// The same configuration with the file gone must fail: nginx
			// really opened the path above.
			if err := os.Rename(cert, cert+".gone"); err != nil {
				t.Fatal(err)
			}
			conf := p.writeMain(t, false)
			if out, err := exec.Command(bin, "-t", "-q", "-p", p.dir+"/", "-c", conf, "-e", filepath.Join(p.dir, "error.log")).CombinedOutput(); err == nil || !strings.Contains(string(out), cert) {
				t.Errorf("nginx -t without the certificate file: %v\n%s", err, out)
			}
		})
	}
}

// TestInjectPsql has psql and PostgreSQL read every sample written as a
// string literal and as an identifier, and compares the bytes.
func TestInjectPsql(t *testing.T) {
	testenv.ShortSkip(t, "PostgreSQL")
	s := pgtest.Start(t)
	var sql strings.Builder
	var want []string
	sql.WriteString("CREATE TEMP TABLE idents (n int, v text);\n")
	for _, v := range escapeSamples {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			continue // PostgreSQL text holds neither; no renderer writes one
		}
		i := len(want)
		want = append(want, v)
		fmt.Fprintf(&sql, "INSERT INTO idents VALUES (%d, %s);\n", i, sqlLiteral(v))
		if v != "" && len(v) < 64 {
			// An identifier round-trips through a column name.
			fmt.Fprintf(&sql, "CREATE TEMP TABLE t%d (%s int);\n", i, sqlIdent(v))
			fmt.Fprintf(&sql, "INSERT INTO idents SELECT %d, attname::text FROM pg_attribute WHERE attrelid = 't%d'::regclass AND attnum = 1;\n", i+10000, i)
		}
	}
	sql.WriteString("SELECT n, encode(convert_to(v, 'UTF8'), 'hex') FROM idents ORDER BY n;\n")
	cmd := s.Cmd(s.SuperuserEnv("postgres"), "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", " ")
	cmd.Stdin = strings.NewReader(sql.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	got := map[int]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var n int
		var h string
		if _, err := fmt.Sscanf(line, "%d %s", &n, &h); err != nil {
			if _, err := fmt.Sscanf(line, "%d", &n); err != nil {
				t.Fatalf("psql output line %q", line)
			}
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		got[n] = string(b)
	}
	for i, v := range want {
		if g, ok := got[i]; !ok || g != v {
			t.Errorf("sqlLiteral(%q) = %s reads back as %q", v, sqlLiteral(v), g)
		}
		if v != "" && len(v) < 64 {
			if g, ok := got[i+10000]; !ok || g != v {
				t.Errorf("sqlIdent(%q) = %s reads back as %q", v, sqlIdent(v), g)
			}
		}
	}
}

// TestInjectEnvironmentRefusals: of the samples, the schema refuses in
// an environment value exactly those the runtime cannot carry: NUL with
// compose (no process environment holds one), and line breaks too with
// Quadlet (a unit file line cannot).
func TestInjectEnvironmentRefusals(t *testing.T) {
	for _, s := range escapeSamples {
		if !utf8.ValidString(s) {
			continue
		}
		_, err := injectLoad("immich: environment: V: " + cueQuote(s))
		if want := strings.ContainsRune(s, 0); (err != nil) != want {
			t.Errorf("compose: environment value %q: refused %v, want %v (%v)", s, err != nil, want, err)
		}
		_, err = injectLoad(`immich: runtime: "quadlet", immich: environment: V: ` + cueQuote(s))
		if want := strings.ContainsAny(s, "\n\r\x00"); (err != nil) != want {
			t.Errorf("quadlet: environment value %q: refused %v, want %v (%v)", s, err != nil, want, err)
		}
	}
}

// hostileKeyPatterns are key and channel patterns to try: quotes,
// backslashes, glob syntax, rule-like prefixes, non-ASCII. Those the
// schema accepts must reach Valkey unchanged.
var hostileKeyPatterns = []string{
	`paper"less*`, `it's*`, `back\slash*`, `\*literal`, `[abc]x*`, `a?b`, `{x}*`, `x:*:y`,
	`>x*`, `<x*`, `#x*`, `~x*`, `&x*`, `%R~x*`, `+x*`, `-x*`, `(x*`, `x*)`, `on`, `nopass`, `reset`, `allkeys`,
	`ü*`, `日本*`, `%s%n*`, `$HOME*`, "a\u00a0b*", "a\u2028b*", "a\u0085b*", "a\x7fb*", "a\tb*", "a b*",
}

// hostileACLRules are command rules to try, each after "+@read -@dangerous".
var hostileACLRules = []string{
	"+client|setname", "-config|set", "+@pubsub -@dangerous +ping", "%R~x*", "%RW~y*", "(+get ~z*)", "&chan*", "resetkeys ~only*",
	"+get|x", "+GET", "-@all +ping", "on", "nopass", `>pw`, "#" + strings.Repeat("ab", 32), "allchannels", "+ü", "+select\u00a0+ping",
}

// TestInjectValkeyACL renders the hostile patterns and rules the schema
// accepts into users.acl, starts valkey-server on the file once, and
// compares each user Valkey loaded with one set over the protocol from
// the intended words (ACL SETUSER takes them as they are, no file
// syntax in between): the same patterns and commands, or a defect.
func TestInjectValkeyACL(t *testing.T) {
	testenv.Binary(t, "valkey-server")
	type user struct{ name, keys, chans, rules string }
	var users []user
	var src strings.Builder
	src.WriteString("valkey: users: [\n")
	add := func(u user) {
		one := fmt.Sprintf(`{username: %q, password: "user-secret-0123456789", keyPatterns: [%s], channelPatterns: [%s], commands: %s}`,
			u.name, u.keys, u.chans, cueQuote(u.rules))
		if _, err := injectLoad("valkey: users: [" + one + "]"); err != nil {
			t.Logf("refused: %s\n%v", one, err)
			return
		}
		users = append(users, u)
		src.WriteString(one + ",\n")
	}
	for i, p := range hostileKeyPatterns {
		add(user{name: fmt.Sprintf("k%d", i), keys: cueQuote(p), chans: `"c*"`, rules: "+@read -@dangerous"})
		add(user{name: fmt.Sprintf("c%d", i), keys: `"k*"`, chans: cueQuote(p), rules: "+@read -@dangerous"})
	}
	for i, r := range hostileACLRules {
		add(user{name: fmt.Sprintf("r%d", i), keys: `"k*"`, chans: `"c*"`, rules: "+@read -@dangerous " + r})
	}
	src.WriteString("]\n")
	if len(users) < 40 {
		t.Fatalf("only %d of the hostile users are accepted", len(users))
	}
	t.Logf("%d hostile users accepted", len(users))
	cfg := injectConfig(t, src.String())
	s := valkeyServer(t, cfg)
	c := dial(t, s, "admin")
	c.ok("OK", "AUTH", "default", testenv.Secrets["VALKEY_ADMIN_PASSWORD"])
	for _, u := range users {
		var keys, chans []string
		if err := json.Unmarshal([]byte("["+u.keys+"]"), &keys); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte("["+u.chans+"]"), &chans); err != nil {
			t.Fatal(err)
		}
		args := []string{"ACL", "SETUSER", "ref-" + u.name, "reset", "resetchannels", "on", aclPassword("user-secret-0123456789")}
		for _, k := range keys {
			args = append(args, "~"+k)
		}
		for _, ch := range chans {
			args = append(args, "&"+ch)
		}
		args = append(args, strings.Fields(u.rules)...)
		if r := c.do(args...); r != "OK" {
			t.Errorf("%s: ACL SETUSER with the intended words: %v", u.name, r)
			continue
		}
		got, want := fmt.Sprint(c.do("ACL", "GETUSER", u.name)), fmt.Sprint(c.do("ACL", "GETUSER", "ref-"+u.name))
		if got != want {
			t.Errorf("user %s (keys %s, channels %s, rules %q) loads from users.acl as\n%s\nwant\n%s", u.name, u.keys, u.chans, u.rules, got, want)
		}
	}
}

// shellLines are the command lines a rendered file offers to be pasted
// into a shell: the README's sh blocks, line by line, and the commands
// that comments show ("--   psql ... -f FILE", "#   certbot ...").
func shellLines(out map[string][]byte) (lines []string, blocks []string) {
	for p, data := range out {
		text := string(data)
		if strings.HasSuffix(p, "README.md") {
			for _, part := range strings.Split(text, "```sh\n")[1:] {
				block, _, _ := strings.Cut(part, "```")
				blocks = append(blocks, block)
				for _, l := range strings.Split(block, "\n") {
					if l != "" && !strings.HasPrefix(l, "#") {
						lines = append(lines, l)
					}
				}
			}
		}
		for _, l := range strings.Split(text, "\n") {
			for _, cmd := range []string{"psql ", "certbot "} {
				if _, rest, ok := strings.Cut(l, "   "+cmd); ok && (strings.HasPrefix(l, "--") || strings.HasPrefix(l, "#")) {
					lines = append(lines, cmd+rest)
				}
			}
		}
	}
	return lines, blocks
}

// shWords has sh print the words of a simple command (one segment of
// an && list), as the command would receive them.
func shWords(t *testing.T, sh, segment string) []string {
	t.Helper()
	out, err := exec.Command(sh, "-c", `printf '%s\0' `+segment).Output()
	if err != nil {
		t.Fatalf("sh cannot run %q: %v", segment, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// TestInjectShell renders hostile paths into every place a shell command
// is shown, checks each sh block with sh -n, and has sh split every
// command that names a path: the path must arrive inside one word, whole.
// The rendered scripts go through sh -n and shellcheck.
func TestInjectShell(t *testing.T) {
	sh := testenv.Binary(t, "sh")
	shellcheck := testenv.Binary(t, "shellcheck")
	scripts := map[string]bool{}
	dir := t.TempDir()
	for _, tail := range hostilePathTails {
		t.Run(tail, func(t *testing.T) {
			paths := []string{"/opt/" + tail, "/srv/up/" + tail, "/var/backups/" + strings.TrimPrefix(tail, "."), "/var/www/" + tail}
			cfg := injectConfig(t, fmt.Sprintf(`immich: {
	projectDir: %s
	uploadLocation: %s
	backup: directory: %s
	nginx: {enabled: true, hostname: "photos.example.com", tls: "webroot", acme: email: "admin@example.com", webroot: %s}
}`, cueQuote(paths[0]), cueQuote(paths[1]), cueQuote(paths[2]), cueQuote(paths[3])))
			files := map[string][]byte{}
			for p, f := range Render(cfg, all).Out {
				files[p] = f.Data
				if strings.HasPrefix(string(f.Data), "#!/bin/sh\n") && !scripts[string(f.Data)] {
					scripts[string(f.Data)] = true
					name := filepath.Join(dir, fmt.Sprintf("script%d.sh", len(scripts)))
					if err := os.WriteFile(name, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			lines, blocks := shellLines(files)
			if len(blocks) < 3 {
				t.Fatalf("only %d sh blocks in the README", len(blocks))
			}
			for _, b := range blocks {
				if out, err := exec.Command(sh, "-n", "-c", b).CombinedOutput(); err != nil {
					t.Errorf("sh -n refuses a README block: %v\n%s\n%s", err, out, b)
				}
			}
			seen := map[string]bool{}
			for _, l := range lines {
				for _, seg := range strings.Split(l, " && ") {
					for _, p := range paths {
						if !strings.Contains(seg, p) && !strings.Contains(seg, shellPath(p)) {
							continue
						}
						seen[p] = true
						words := shWords(t, sh, seg)
						if !slices.ContainsFunc(words, func(w string) bool { return strings.Contains(w, p) }) {
							t.Errorf("sh splits %q into %q: %q is not in one word", seg, words, p)
						}
					}
				}
			}
			for _, p := range []string{paths[0], paths[2], paths[3]} { // no command names the upload location
				if !seen[p] {
					t.Errorf("no shell command shows %q", p)
				}
			}
		})
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.sh"))
	for _, n := range names {
		if out, err := exec.Command(sh, "-n", n).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", n, err, out)
		}
	}
	if out, err := exec.Command(shellcheck, append([]string{"--shell=sh", "--severity=style", "--format=gcc"}, names...)...).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
	t.Logf("%d different scripts checked", len(names))
}

// TestInjectCloudInit renders hostile paths into the cloud-init
// user-data, has cloud-init validate it, and has PyYAML (cloud-init's
// reader) read back every file path and runcmd word: each is the path
// the trees hold, unchanged.
func TestInjectCloudInit(t *testing.T) {
	bin := testenv.Binary(t, "cloud-init")
	py := testenv.Binary(t, "python3")
	if err := exec.Command(py, "-c", "import yaml").Run(); err != nil {
		testenv.Skip(t, "python3 has no yaml module (Debian package python3-yaml)")
	}
	for _, tail := range hostilePathTails {
		t.Run(tail, func(t *testing.T) {
			cfg := injectConfig(t, fmt.Sprintf(`immich: {
	projectDir: %s
	uploadLocation: %s
	externalLibraries: [{hostPath: %s}]
	nginx: {enabled: true, hostname: "photos.example.com", tls: "webroot", acme: email: "admin@example.com", webroot: %s}
}`, cueQuote("/opt/"+tail), cueQuote("/srv/up/"+tail), cueQuote("/mnt/"+tail), cueQuote("/var/www/"+tail)))
			r := Render(cfg, all)
			f := filepath.Join(t.TempDir(), "user-data")
			if err := os.WriteFile(f, r.Secrets[UserDataPath].Data, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "schema", "-c", f).CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid") {
				t.Fatalf("cloud-init schema: %v\n%s", err, out)
			}
			out, err := exec.Command(py, "-c", `import json, sys, yaml
d = yaml.safe_load(open(sys.argv[1], "rb"))
json.dump({"paths": [w["path"] for w in d["write_files"]], "runcmd": d["runcmd"]}, sys.stdout)`, f).Output()
			if err != nil {
				t.Fatalf("PyYAML: %v", err)
			}
			var got struct {
				Paths  []string
				Runcmd []any // argv lists, and lines of shell
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, src := range []tree.Tree{r.Out, r.Secrets} {
				for _, p := range src.Paths() {
					if rest, ok := strings.CutPrefix(p, "rootfs/"); ok {
						want = append(want, "/"+rest)
					} else if !strings.HasPrefix(p, "cloud-init/") && p != "README.md" { // the user-data leaves the README out
						want = append(want, filepath.Join(StateDir, p))
					}
				}
			}
			slices.Sort(want)
			slices.Sort(got.Paths)
			if !slices.Equal(got.Paths, want) {
				t.Errorf("cloud-init writes\n%q\nwant\n%q", got.Paths, want)
			}
			if !slices.Contains(got.Paths, "/opt/"+tail+"/docker-compose.yml") {
				t.Errorf("no /opt/%s/docker-compose.yml among %q", tail, got.Paths)
			}
			// runcmd lists are argv, which cloud-init quotes word by word:
			// a word quoted for one would arrive with its quotes.
			for _, item := range got.Runcmd {
				argv, _ := item.([]any)
				for _, w := range argv {
					if strings.ContainsAny(fmt.Sprint(w), "'\"\\") {
						t.Errorf("runcmd word %q is quoted for a shell", w)
					}
				}
			}
		})
	}
}
