package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/valkeytest"
	"github.com/immich-render/immich-render/schema"
)

// seedValkeyRules is the seed Ansible role's rule string for Immich.
const seedValkeyRules = "&* -@dangerous +@read +@write +@pubsub +select +auth +ping +info +eval +evalsha"

// paperlessUser is another service's user with its own rules.
const paperlessUser = `valkey: users: [{
	username: "paperless"
	password: {env: "PAPERLESS_VALKEY_PASSWORD"}
	keyPatterns: ["paperless*"]
	channelPatterns: ["paperless:*"]
	commands: "+@read +@write +@pubsub -@dangerous +ping"
}]`

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestValkeyACLFile(t *testing.T) {
	env := map[string]string{"PAPERLESS_VALKEY_PASSWORD": "paperless-secret-0123"}
	cfg := testenv.Config(t, env, paperlessUser)
	r := Render(cfg, all)
	f, ok := r.Out["rootfs/etc/valkey/users.acl"]
	if !ok {
		t.Fatalf("no users.acl in %v", r.Out.Paths())
	}
	if f.Mode != 0o640 || f.Owner != "root:valkey" {
		t.Errorf("users.acl mode %o owner %q, want 0640 root:valkey", f.Mode, f.Owner)
	}
	want := "user default reset on #" + sha(testenv.Secrets["VALKEY_ADMIN_PASSWORD"]) + " ~* &* +@all\n" +
		"user immich reset resetchannels on #" + sha(testenv.Secrets["IMMICH_VALKEY_PASSWORD"]) +
		" ~immich_bull* ~immich_channel* &* +@read +@write +@pubsub -@dangerous +select +auth +ping +info +eval +evalsha +client|setname +client|setinfo\n" +
		"user paperless reset resetchannels on #" + sha(env["PAPERLESS_VALKEY_PASSWORD"]) +
		" ~paperless* &paperless:* +@read +@write +@pubsub -@dangerous +ping\n"
	if string(f.Data) != want {
		t.Errorf("users.acl:\n%s\nwant:\n%s", f.Data, want)
	}
	if again := Render(cfg, all).Out["rootfs/etc/valkey/users.acl"]; !bytes.Equal(again.Data, f.Data) {
		t.Error("users.acl differs between two renders")
	}
	frag, ok := r.Out["fragments/valkey/valkey.conf"]
	if !ok || frag.Mode != 0o644 {
		t.Fatalf("fragments/valkey/valkey.conf missing or mode %o", frag.Mode)
	}
	for _, line := range []string{"aclfile /etc/valkey/users.acl\n", "bind 127.0.0.1 -::1 172.20.0.1\n", "port 6379\n"} {
		if !bytes.Contains(frag.Data, []byte(line)) {
			t.Errorf("fragment lacks %q:\n%s", line, frag.Data)
		}
	}
	// No plaintext secret anywhere under -o.
	secrets := []string{env["PAPERLESS_VALKEY_PASSWORD"]}
	for _, v := range testenv.Secrets {
		secrets = append(secrets, v)
	}
	for _, p := range r.Out.Paths() {
		for _, s := range secrets {
			if bytes.Contains(r.Out[p].Data, []byte(s)) {
				t.Errorf("%s contains a plaintext secret", p)
			}
		}
	}
}

func TestValkeyACLEscaping(t *testing.T) {
	for _, bad := range []string{"", "a b", "a\tb", "a\nb", "a\u00a0b", "a\rb"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("aclToken(%q) did not panic", bad)
				}
			}()
			aclToken(bad)
		}()
	}
	if got := aclPassword("pass word"); got != "#"+sha("pass word") {
		t.Errorf("aclPassword = %s", got)
	}
}

func FuzzValkeyACLPassword(f *testing.F) {
	for _, s := range []string{"", "pass word", ">x", "#" + strings.Repeat("a", 64), "ünï", "a\nb"} {
		f.Add(s)
	}
	hash := regexp.MustCompile(`^#[0-9a-f]{64}$`)
	f.Fuzz(func(t *testing.T, pw string) {
		if pw == "" {
			return // refused by the schema, and a panic here
		}
		h := aclPassword(pw)
		if !hash.MatchString(h) || aclToken(h) != h {
			t.Fatalf("aclPassword(%q) = %q", pw, h)
		}
	})
}

func FuzzValkeyACLToken(f *testing.F) {
	for _, s := range []string{"~a*", "&*", "a b", "+@read", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		defer func() { _ = recover() }() // refusing is fine; writing a broken token is not
		out := aclToken(s)
		if out == "" || strings.ContainsAny(out, " \t\r\n") {
			t.Fatalf("aclToken(%q) = %q", s, out)
		}
	})
}

// valkeyServer writes the rendered users.acl and starts valkey-server with it.
func valkeyServer(t *testing.T, cfg *schema.Config) *valkeytest.Server {
	t.Helper()
	bin := testenv.Binary(t, "valkey-server")
	acl := filepath.Join(t.TempDir(), "users.acl")
	if err := os.WriteFile(acl, Render(cfg, all).Out["rootfs/etc/valkey/users.acl"].Data, 0o640); err != nil {
		t.Fatal(err)
	}
	// DEBUG is off by default; switched on, a refusal can only be the ACL's.
	return startValkey(t, bin, valkeytest.Options{Args: []string{"--aclfile", acl, "--enable-debug-command", "yes"}})
}

func startValkey(t *testing.T, bin string, o valkeytest.Options) *valkeytest.Server {
	t.Helper()
	o.Binary = bin
	s, err := valkeytest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// vkClient is a connection with assertions.
type vkClient struct {
	t    *testing.T
	c    *valkeytest.Conn
	name string
}

func dial(t *testing.T, s *valkeytest.Server, name string) *vkClient {
	t.Helper()
	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &vkClient{t: t, c: c, name: name}
}

func (c *vkClient) do(args ...string) any {
	c.t.Helper()
	r, err := c.c.Do(args...)
	if err != nil {
		c.t.Fatalf("%s: %s: %v", c.name, strings.Join(args, " "), err)
	}
	return r
}

// ok runs a command and fails unless the reply is not an error (and,
// when want is given, equals it).
func (c *vkClient) ok(want any, args ...string) any {
	c.t.Helper()
	r := c.do(args...)
	if e, isErr := r.(valkeytest.Error); isErr {
		c.t.Errorf("%s: %s refused: %v", c.name, strings.Join(args, " "), e)
	} else if want != nil && r != want {
		c.t.Errorf("%s: %s = %#v, want %#v", c.name, strings.Join(args, " "), r, want)
	}
	return r
}

// refused runs a command and fails unless the server answers with the
// error code (NOPERM, NOAUTH, WRONGPASS).
func (c *vkClient) refused(code string, args ...string) {
	c.t.Helper()
	r := c.do(args...)
	if e, isErr := r.(valkeytest.Error); !isErr || e.Code() != code {
		c.t.Errorf("%s: %s = %#v, want a %s error", c.name, strings.Join(args, " "), r, code)
	}
}

// hostilePasswords are passwords that break naive ACL files, shells and
// config formats. Each is a valid secret (12+ characters, no surrounding
// white space, no control characters).
var hostilePasswords = []struct{ name, immich, admin, paperless string }{
	{"plain", "valkey-secret-0123456789", "admin-secret-0123456789", "paperless-secret-0123"},
	{"spaces", "pass with  spaces 1", "admin pass word 2", "p a p e r l e s s 3"},
	{"quotes", `quo"te'd "pass" 'w'`, `"admin'"quoted"'`, `'paper"less'xx`},
	{"gt", ">looks-like-a-rule", "> admin-gt-rule", "<less-than-rule"},
	{"hash", "#not-a-real-hash-123", "#" + strings.Repeat("ab", 32), "# comment-like line"},
	{"dollar", "$HOME$(id)${x}$$", "$1$salt$hash-admin", "$$paperless$$$"},
	{"percent", "%s%d%n%%-immich-x", "%i%%admin%H%", "100%-paperless-%"},
	{"backslash", `back\slash\\n\x00\`, `C:\admin\path\"q`, `\\paperless\\\\`},
	{"nonascii", "pässwörd-密码-пароль", "ádmín-🔑-пароль-12", "日本語のパスワードです12"},
	{"everything", `a b">#$%\é'` + "`~&*", `~* &* +@all on >x`, `user x on nopass`},
}

// TestValkeyACLOnRealServer starts valkey-server with the rendered
// users.acl and proves what it promises, for plain and hostile passwords.
func TestValkeyACLOnRealServer(t *testing.T) {
	testenv.Binary(t, "valkey-server")
	for _, pw := range hostilePasswords {
		t.Run(pw.name, func(t *testing.T) {
			cfg := testenv.Config(t, map[string]string{
				"IMMICH_VALKEY_PASSWORD":    pw.immich,
				"VALKEY_ADMIN_PASSWORD":     pw.admin,
				"PAPERLESS_VALKEY_PASSWORD": pw.paperless,
			}, paperlessUser)
			s := valkeyServer(t, cfg)
			checkValkeyServer(t, s, pw.admin, pw.immich, pw.paperless)
		})
	}
}

func checkValkeyServer(t *testing.T, s *valkeytest.Server, adminPW, immichPW, paperlessPW string) {
	// Nobody gets in without a password: the file has a default line.
	anon := dial(t, s, "anonymous")
	anon.refused("NOAUTH", "GET", "immich_bull:x")
	anon.refused("NOAUTH", "FLUSHALL")
	anon.refused("WRONGPASS", "AUTH", "default", adminPW+"x")
	anon.refused("WRONGPASS", "AUTH", "immich", adminPW)

	// The admin has every right, with the admin password.
	admin := dial(t, s, "default")
	admin.ok("OK", "AUTH", adminPW)
	admin.ok("OK", "AUTH", "default", adminPW)
	admin.ok(nil, "CONFIG", "GET", "port")
	admin.ok("OK", "SET", "other:secret", "not-immich")
	sha1, _ := admin.ok(nil, "SCRIPT", "LOAD", "return 1").(string)

	// The Immich user: what BullMQ and socket.io need ...
	im := dial(t, s, "immich")
	im.ok("OK", "AUTH", "immich", immichPW)
	im.ok("PONG", "PING")
	im.ok("OK", "SELECT", "0")
	if info, _ := im.ok(nil, "INFO", "server").(string); !strings.Contains(info, "redis_version:") {
		t.Errorf("INFO server = %q", info)
	}
	im.ok("OK", "SET", "immich_bull:x", "v")
	im.ok("v", "GET", "immich_bull:x")
	im.ok(int64(1), "RPUSH", "immich_bull:list", "1")
	im.ok(int64(1), "EVAL", "return 1", "0")
	im.ok(int64(1), "EVALSHA", sha1, "0")
	im.ok("v", "EVAL", "return redis.call('get', KEYS[1])", "1", "immich_bull:x")
	sub := dial(t, s, "immich subscriber")
	sub.ok("OK", "AUTH", "immich", immichPW)
	if r, _ := sub.ok(nil, "SUBSCRIBE", "immich_channel:events").([]any); len(r) != 3 || r[0] != "subscribe" {
		t.Errorf("SUBSCRIBE = %#v", r)
	}
	im.ok(int64(1), "PUBLISH", "immich_channel:events", "hello")
	if msg, err := sub.c.Receive(); err != nil || fmt.Sprint(msg) != "[message immich_channel:events hello]" {
		t.Errorf("subscriber received %#v, %v", msg, err)
	}

	// ... and nothing that could hurt the other services or the server.
	for _, cmd := range [][]string{
		{"FLUSHDB"}, {"FLUSHALL"}, {"SWAPDB", "0", "1"}, {"KEYS", "*"}, {"SORT", "immich_bull:list"},
		{"SORT_RO", "immich_bull:list"}, {"CONFIG", "GET", "port"}, {"CONFIG", "SET", "maxmemory", "1"},
		{"ACL", "LIST"}, {"ACL", "SETUSER", "immich", "+@all"}, {"SHUTDOWN", "NOSAVE"}, {"MONITOR"}, {"DEBUG", "SLEEP", "0"},
		{"MIGRATE", "127.0.0.1", "1", "immich_bull:x", "0", "1"}, {"CLIENT", "KILL", "ID", "1"}, {"SAVE"}, {"REPLICAOF", "NO", "ONE"},
		{"GET", "other:secret"}, {"SET", "other:secret", "x"}, {"DEL", "other:secret"},
	} {
		im.refused("NOPERM", cmd...)
	}
	// Scripts run with the caller's rights (Redis 7.0 says so with ERR,
	// Valkey 8 with NOPERM).
	for _, cmd := range [][]string{
		{"EVAL", "return redis.call('flushdb')", "0"},
		{"EVAL", "return redis.call('keys', '*')", "0"},
		{"EVAL", "return redis.call('get', KEYS[1])", "1", "other:secret"},
	} {
		r := im.do(cmd...)
		if e, isErr := r.(valkeytest.Error); !isErr || !strings.Contains(string(e), "can't run this command") && !strings.Contains(strings.ToLower(string(e)), "no permissions") {
			t.Errorf("immich: %s = %#v, want a refusal", strings.Join(cmd, " "), r)
		}
	}
	if s.Exited() {
		t.Fatalf("the server exited: SHUTDOWN was not refused\n%s", s.Log())
	}
	admin.ok("v", "GET", "immich_bull:x")
	admin.ok("not-immich", "GET", "other:secret")

	// Another service's user gets its own rules and nothing of Immich's.
	pl := dial(t, s, "paperless")
	pl.refused("WRONGPASS", "AUTH", "paperless", immichPW)
	pl.ok("OK", "AUTH", "paperless", paperlessPW)
	pl.ok("PONG", "PING")
	pl.ok("OK", "SET", "paperless:1", "doc")
	pl.ok("doc", "GET", "paperless:1")
	pl.ok(int64(0), "PUBLISH", "paperless:events", "x")
	for _, cmd := range [][]string{
		{"GET", "immich_bull:x"}, {"PUBLISH", "immich_channel:events", "x"}, {"FLUSHDB"}, {"KEYS", "*"},
		{"EVAL", "return 1", "0"}, {"INFO"}, {"CONFIG", "GET", "port"},
	} {
		pl.refused("NOPERM", cmd...)
	}
}

// TestValkeySeedRulesLetFlushdbThrough shows why the schema refuses the
// seed role's rule string: on a real server, the user it describes can
// flush the whole database and list every key.
func TestValkeySeedRulesLetFlushdbThrough(t *testing.T) {
	bin := testenv.Binary(t, "valkey-server")
	_, err := testenv.Load(nil, `immich: valkey: commands: "`+seedValkeyRules+`"`)
	if err == nil || !strings.Contains(err.Error(), "re-grants FLUSHDB, FLUSHALL, SWAPDB") {
		t.Fatalf("the schema does not refuse the seed's rules: %v", err)
	}

	acl := filepath.Join(t.TempDir(), "users.acl")
	lines := "user default reset on #" + sha("admin-secret-0123") + " ~* &* +@all\n" +
		"user seed reset on #" + sha("seed-secret-01234") + " ~immich_bull* ~immich_channel* " + seedValkeyRules + "\n"
	if err := os.WriteFile(acl, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startValkey(t, bin, valkeytest.Options{Args: []string{"--aclfile", acl}})
	admin := dial(t, s, "default")
	admin.ok("OK", "AUTH", "admin-secret-0123")
	admin.ok("OK", "SET", "other:data", "precious")
	seed := dial(t, s, "seed")
	seed.ok("OK", "AUTH", "seed", "seed-secret-01234")
	if keys, _ := seed.ok(nil, "KEYS", "*").([]any); len(keys) != 1 || keys[0] != "other:data" {
		t.Errorf("KEYS * = %#v, want another service's key", keys)
	}
	seed.ok("OK", "FLUSHDB")
	admin.ok(int64(0), "EXISTS", "other:data")
	seed.ok("OK", "FLUSHALL")
	seed.ok("OK", "SWAPDB", "0", "1")
}

// TestValkeyFragmentOnRealServer starts valkey-server from the rendered
// fragment (with the ACL file's path changed to a temporary one) and logs
// in over TCP on the address and port it binds.
func TestValkeyFragmentOnRealServer(t *testing.T) {
	bin := testenv.Binary(t, "valkey-server")
	port, err := valkeytest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testenv.Config(t, nil, `immich: hostGateway: "127.0.0.1"`, `immich: valkey: port: `+strconv.Itoa(port))
	r := Render(cfg, all)
	dir := t.TempDir()
	acl, conf := filepath.Join(dir, "users.acl"), filepath.Join(dir, "valkey.conf")
	if err := os.WriteFile(acl, r.Out["rootfs/etc/valkey/users.acl"].Data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, r.Out["fragments/valkey/valkey.conf"].Data, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	start := time.Now()
	s := startValkey(t, bin, valkeytest.Options{ConfigFile: conf, NoListenArgs: true, Network: "tcp", Addr: addr, Args: []string{"--aclfile", acl}})
	t.Logf("server up on %s in %v", addr, time.Since(start))
	c := dial(t, s, "immich")
	c.refused("NOAUTH", "GET", "immich_bull:x")
	c.ok("OK", "AUTH", "immich", testenv.Secrets["IMMICH_VALKEY_PASSWORD"])
	c.refused("NOPERM", "FLUSHALL")
	admin := dial(t, s, "default")
	admin.ok("OK", "AUTH", testenv.Secrets["VALKEY_ADMIN_PASSWORD"])
	for param, want := range map[string]string{"port": strconv.Itoa(port), "aclfile": acl} {
		if r, _ := admin.ok(nil, "CONFIG", "GET", param).([]any); len(r) != 2 || r[1] != want {
			t.Errorf("CONFIG GET %s = %#v, want %s", param, r, want)
		}
	}
	if r, _ := admin.ok(nil, "CONFIG", "GET", "bind").([]any); len(r) != 2 || !strings.HasPrefix(fmt.Sprint(r[1]), "127.0.0.1") {
		t.Errorf("CONFIG GET bind = %#v", r)
	}
}
