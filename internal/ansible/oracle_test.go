package ansible_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/format"

	"github.com/immich-render/immich-render/internal/ansible"
	"github.com/immich-render/immich-render/internal/testenv"
)

// Passwords of the test vaults: "default" (1.1) and the vault id "prod"
// (1.2). prod's is given through a script, as Ansible allows.
const (
	defaultVaultPass = "correct horse battery staple"
	prodVaultPass    = "prod-vault-pass-42"
)

// fixture is an inventory written into a temporary directory.
type fixture struct {
	t          *testing.T
	dir        string
	passFile   string // default password, a plain file
	prodScript string // prints the prod password
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	testenv.Binary(t, "ansible-vault")
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, passFile: filepath.Join(dir, "vault-pass"), prodScript: filepath.Join(dir, "prod-pass.sh")}
	f.write("vault-pass", defaultVaultPass+"\n")
	f.write("prod-pass.sh", "#!/bin/sh\necho '"+prodVaultPass+"'\n")
	if err := os.Chmod(f.prodScript, 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) path(rel string) string { return filepath.Join(f.dir, "inv", rel) }

func (f *fixture) write(rel, text string) {
	f.t.Helper()
	p := filepath.Join(f.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// ansibleCmd runs an Ansible program with a clean configuration.
func (f *fixture) ansibleCmd(name string, args ...string) []byte {
	f.t.Helper()
	bin := testenv.Binary(f.t, name)
	cmd := exec.Command(bin, args...)
	cmd.Dir = f.dir
	home := filepath.Join(f.dir, ".home")
	cmd.Env = append(os.Environ(), "HOME="+home, "ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "tmp"),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_LOAD_CALLBACK_PLUGINS=1", "ANSIBLE_STDOUT_CALLBACK=json", "ANSIBLE_CONFIG="+filepath.Join(f.dir, "none.cfg"), "ANSIBLE_DEPRECATION_WARNINGS=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		f.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// encryptString returns "name: !vault |" and the payload, as
// ansible-vault encrypt_string prints it; vaultID "" is the default
// (format 1.1), otherwise format 1.2 with that id.
func (f *fixture) encryptString(name, value, vaultID string) string {
	args := []string{"encrypt_string", "--name", name}
	args = append(args, f.vaultArgs(vaultID)...)
	out := f.ansibleCmd("ansible-vault", append(args, "--", value)...)
	return strings.TrimRight(string(out), "\n") + "\n"
}

func (f *fixture) vaultArgs(vaultID string) []string {
	if vaultID == "" {
		return []string{"--vault-password-file", f.passFile}
	}
	return []string{"--vault-id", vaultID + "@" + f.prodScript}
}

// encryptFile encrypts a file in place with ansible-vault encrypt.
func (f *fixture) encryptFile(rel, vaultID string) {
	args := append([]string{"encrypt"}, f.vaultArgs(vaultID)...)
	f.ansibleCmd("ansible-vault", append(args, filepath.Join(f.dir, rel))...)
}

func (f *fixture) vault() *ansible.Vault {
	var pws [][]byte
	for _, p := range []string{f.passFile, f.prodScript} {
		pw, err := ansible.ReadVaultPassword(p)
		if err != nil {
			f.t.Fatal(err)
		}
		pws = append(pws, pw)
	}
	return ansible.NewVault(pws...)
}

// checkCUE: the file is as CUE's formatter writes it, and every field
// with a value says which variable and file it came from.
func checkCUE(t *testing.T, data []byte) {
	t.Helper()
	formatted, err := format.Source(data)
	if err != nil || !bytes.Equal(formatted, data) {
		t.Errorf("immich.cue is not formatted (%v):\n%s", err, data)
	}
	field := regexp.MustCompile(`^\s*("[^"]+"|[A-Za-z][A-Za-z0-9]*):\s`)
	for i, line := range strings.Split(string(data), "\n") {
		code, _, _ := strings.Cut(line, "//")
		if !field.MatchString(line) || strings.HasSuffix(strings.TrimSpace(code), "{") || strings.HasSuffix(strings.TrimSpace(code), "[") {
			continue
		}
		if !regexp.MustCompile(`// \S+ at \S+:\d+`).MatchString(line) {
			t.Errorf("immich.cue:%d has no comment naming its variable and file: %s", i+1, line)
		}
	}
}

// normalize makes a value comparable with one decoded from Ansible's JSON.
func normalize(t *testing.T, v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkOracle imports inv and compares, for every host and every role
// variable, the value the import used with Ansible's: the variables
// ansible-inventory --host defines (and their raw values where nothing
// needs templating or decrypting), and the values the debug module
// prints after templating and decryption. complex lists variables the
// import leaves to the user.
func checkOracle(t *testing.T, f *fixture, inv string, complexVars ...string) *ansible.Result {
	t.Helper()
	res, err := ansible.Import(ansible.Options{Inventory: inv, Vault: f.vault()})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	checkCUE(t, res.CUE)
	all, err := ansible.ResolveAll(ansible.Options{Inventory: inv, Vault: f.vault()})
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	vaultArgs := []string{"--vault-id", "default@" + f.passFile, "--vault-id", "prod@" + f.prodScript}
	covered := ansible.Covered()
	for host, mine := range res.Resolved {
		rawOut := f.ansibleCmd("ansible-inventory", append([]string{"-i", inv, "--host", host}, vaultArgs...)...)
		var raw map[string]any
		if err := json.Unmarshal(rawOut, &raw); err != nil {
			t.Fatal(err)
		}
		dbgOut := f.ansibleCmd("ansible", append([]string{"-i", inv, host, "-m", "debug", "-a", "var=hostvars[inventory_hostname]"}, vaultArgs...)...)
		var dbg struct {
			Plays []struct {
				Tasks []struct {
					Hosts map[string]map[string]any
				}
			}
		}
		if err := json.Unmarshal(dbgOut, &dbg); err != nil {
			t.Fatalf("ansible debug output: %v\n%s", err, dbgOut)
		}
		rendered := dbg.Plays[0].Tasks[0].Hosts[host]["hostvars[inventory_hostname]"].(map[string]any)
		checked := 0
		for _, name := range covered {
			rawV, inAnsible := raw[name]
			got, inImport := mine[name]
			if slices.Contains(complexVars, name) {
				if inImport {
					t.Errorf("%s %s: imported %v, want it left to the user", host, name, got)
				}
				continue
			}
			if inAnsible != inImport {
				t.Errorf("%s %s: defined for Ansible %v, for the import %v", host, name, inAnsible, inImport)
				continue
			}
			if !inAnsible {
				continue
			}
			want := rendered[name]
			if g := normalize(t, got); !reflect.DeepEqual(g, want) {
				t.Errorf("%s %s: import used %#v, Ansible resolves %#v", host, name, g, want)
			}
			if js, _ := json.Marshal(rawV); !bytes.Contains(js, []byte("{{")) && !bytes.Contains(js, []byte("__ansible_vault")) {
				if g := normalize(t, got); !reflect.DeepEqual(g, rawV) {
					t.Errorf("%s %s: import used %#v, ansible-inventory says %#v", host, name, g, rawV)
				}
			}
			checked++
		}
		if checked == 0 {
			t.Errorf("%s: no role variable compared", host)
		}
		t.Logf("%s: %d role variables equal to Ansible's", host, checked)

		// Every other variable too, wherever the import can resolve it.
		others := 0
		for name, got := range all[host] {
			if slices.Contains(covered, name) {
				continue
			}
			want, ok := rendered[name]
			if !ok {
				t.Errorf("%s %s: the import has %#v, Ansible does not define it", host, name, got)
				continue
			}
			if g := normalize(t, got); !reflect.DeepEqual(g, want) {
				t.Errorf("%s %s: import resolves %#v, Ansible %#v", host, name, g, want)
			}
			others++
		}
		for name := range raw {
			if _, ok := all[host][name]; !ok && !slices.Contains(covered, name) {
				t.Logf("%s %s: not resolved by the import (left to the user)", host, name)
			}
		}
		t.Logf("%s: %d other variables equal to Ansible's", host, others)
	}
	return res
}
