package immichredis

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/valkeytest"
	"github.com/immich-render/immich-render/render"
)

// TestImmichRedisClients runs check.mjs as the Immich user against the
// rendered users.acl, and against one without +evalsha, which must fail.
// Afterwards the server's ACL LOG, read as the admin user, must be empty:
// a refusal the clients swallow (BullMQ's CLIENT SETNAME) is still noise
// there that hides the refusal that matters. Without +client|setname the
// log must show it, so the check can fail.
func TestImmichRedisClients(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: installs npm packages and runs node")
	}
	redis := testenv.Binary(t, "valkey-server") // Valkey 8: it knows CLIENT SETINFO, which redis 7.0 does not
	node := testenv.Binary(t, "node")
	installModules(t)

	cfg := testenv.Config(t, nil)
	acl := render.Render(cfg, render.Options{Secrets: true}).Out["rootfs/etc/valkey/users.acl"].Data
	for _, tc := range []struct {
		name    string
		acl     []byte
		wantErr string
		wantLog string // a command the ACL LOG must show refused; "" for an empty log
	}{
		{"rendered", acl, "", ""},
		{"without evalsha", bytes.Replace(acl, []byte(" +evalsha"), nil, 1), "NOPERM", "evalsha"},
		{"without client setname", bytes.Replace(acl, []byte(" +client|setname"), nil, 1), "", "client|setname"},
		{"without client setinfo", bytes.Replace(acl, []byte(" +client|setinfo"), nil, 1), "", "client|setinfo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantErr != "" && bytes.Equal(tc.acl, acl) {
				t.Fatal("the mutation changed nothing")
			}
			aclFile := filepath.Join(t.TempDir(), "users.acl")
			if err := os.WriteFile(aclFile, tc.acl, 0o600); err != nil {
				t.Fatal(err)
			}
			port, err := valkeytest.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			srv, err := valkeytest.Start(valkeytest.Options{Binary: redis, TCPPort: port, Args: []string{"--aclfile", aclFile}})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			cmd := exec.Command(node, "check.mjs")
			cmd.Env = append(os.Environ(),
				"REDIS_HOSTNAME=127.0.0.1", "REDIS_PORT="+strconv.Itoa(port), "REDIS_DBINDEX="+strconv.Itoa(cfg.Immich.Valkey.DB),
				"REDIS_USERNAME="+cfg.Immich.Valkey.User, "REDIS_PASSWORD="+cfg.Immich.Valkey.Password.Value)
			out, err := cmd.CombinedOutput()
			t.Logf("node check.mjs:\n%s", out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Immich's Redis clients failed with the rendered ACL: %v", err)
			case tc.wantErr == "" && strings.Contains(string(out), "NOPERM"):
				t.Errorf("NOPERM with the rendered ACL")
			case tc.wantErr != "" && err == nil:
				t.Errorf("the clients ran through; want a failure with %s", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(string(out), tc.wantErr):
				t.Errorf("the clients failed without %s", tc.wantErr)
			}
			log := aclLog(t, srv, cfg.Valkey.AdminPassword.Value)
			t.Logf("ACL LOG: %d entries\n%s", len(log), strings.Join(log, "\n"))
			switch {
			case tc.wantLog == "" && len(log) > 0:
				t.Errorf("ACL LOG after Immich's workload is not empty:\n%s", strings.Join(log, "\n"))
			case tc.wantLog != "" && !slices.ContainsFunc(log, func(e string) bool { return strings.Contains(e, "object="+tc.wantLog+" ") }):
				t.Errorf("ACL LOG does not show %s refused:\n%s", tc.wantLog, strings.Join(log, "\n"))
			}
		})
	}
}

// aclLog reads the server's ACL LOG as the admin (default) user, one line
// per entry ("reason=command object=client|setname username=immich ...").
func aclLog(t *testing.T, srv *valkeytest.Server, adminPassword string) []string {
	t.Helper()
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Do("AUTH", "default", adminPassword); err != nil || r != "OK" {
		t.Fatalf("AUTH as default: %v %v", r, err)
	}
	reply, err := c.Do("ACL", "LOG")
	if err != nil {
		t.Fatalf("ACL LOG: %v", err)
	}
	entries, ok := reply.([]any)
	if !ok {
		t.Fatalf("ACL LOG: %T %v", reply, reply)
	}
	var out []string
	for _, e := range entries {
		kv, _ := e.([]any)
		var b strings.Builder
		for i := 0; i+1 < len(kv); i += 2 {
			if k := fmt.Sprint(kv[i]); k == "reason" || k == "object" || k == "username" || k == "context" || k == "count" {
				fmt.Fprintf(&b, "%s=%v ", k, kv[i+1])
			}
		}
		out = append(out, b.String())
	}
	return out
}

// installModules runs npm ci once per checkout (package-lock.json pins
// every version), under a lock against a parallel test run.
func installModules(t *testing.T) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "immich-render-npm.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat("node_modules/.package-lock.json"); err == nil {
		return
	}
	npm := testenv.Binary(t, "npm")
	if out, err := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts").CombinedOutput(); err != nil {
		testenv.Skip(t, "npm ci failed (is the npm registry reachable?): "+err.Error()+"\n"+string(out))
	}
}
