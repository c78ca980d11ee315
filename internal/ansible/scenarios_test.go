package ansible_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/ansible"
	"github.com/immich-render/immich-render/schema"
)

// readmeInventory builds an inventory from the role README's own examples:
// the playbook's vars in group_vars/all.yml, "Complete Example with Valkey
// ACL" in host_vars/yourserver.yml with its passwords encrypted by
// ansible-vault encrypt_string (as the README's Security section says),
// and its nginx example.
func readmeInventory(f *fixture) string {
	f.write("inv/hosts", "[servers]\nyourserver\n")
	f.write("inv/group_vars/all.yml", `# The README's "Example Playbook" vars, moved into the inventory.
immich_postgres_password: "your-secure-postgres-password"
immich_valkey_password: "your-secure-valkey-password"
immich_upload_location: /mnt/storage/immich/upload
immich_timezone: America/New_York
immich_version: v1.140.0

# Enable Nginx reverse proxy
immich_nginx_enabled: true
immich_nginx_hostname: "photos.example.com"
acme_email: "admin@example.com"
`)
	f.write("inv/host_vars/yourserver.yml", `# Podman external networks
podman_external_networks:
  - name: immich
    subnet: 172.20.0.0/16
    gateway: 172.20.0.1

# Valkey admin password
valkey_admin_password: "your-valkey-admin-password"

# Valkey ACL users - register all service users here
valkey_acl_users:
  - username: immich
    password: "{{ immich_valkey_password }}"
    keypattern: "immich_bull* immich_channel*"
    commands: "&* -@dangerous +@read +@write +@pubsub +select +auth +ping +info +eval +evalsha"
  # Add other services here as needed

# Immich passwords
`+f.encryptString("immich_postgres_password", "host-postgres-password-1", "")+
		f.encryptString("immich_valkey_password", "host-valkey-password-22", "prod"))
	// The inventory directory itself, as most playbook repositories pass
	// it; a stray .ini file in it is ignored, as Ansible ignores it.
	f.write("inv/old.ini", "[servers]\nstale-host\n")
	return f.path("")
}

func TestReadmeExamples(t *testing.T) {
	f := newFixture(t)
	inv := readmeInventory(f)
	res := checkOracle(t, f, inv)
	if len(res.Hosts) != 1 || res.Hosts["yourserver"] != "yourserver" {
		t.Errorf("hosts %v, want yourserver only", res.Hosts)
	}
	for _, secret := range []string{"host-postgres-password-1", "host-valkey-password-22", "your-valkey-admin-password"} {
		if bytes.Contains(res.CUE, []byte(secret)) {
			t.Errorf("immich.cue contains a secret:\n%s", res.CUE)
		}
		if !bytes.Contains(res.Env, []byte("'"+secret+"'")) {
			t.Errorf("immich.secrets.env lacks %s:\n%s", secret, res.Env)
		}
	}
	if bytes.Contains(res.Env, []byte("your-secure-postgres-password")) {
		t.Error("the group_vars password won over host_vars")
	}
	warned := strings.Join(res.Warnings, "\n")
	if !strings.Contains(warned, `"&* -@dangerous +@read +@write +@pubsub +select +auth +ping +info +eval +evalsha" -> "&* +@read +@write +@pubsub -@dangerous +select +auth +ping +info +eval +evalsha +client|setname +client|setinfo"`) ||
		!strings.Contains(warned, "FLUSHDB, FLUSHALL") {
		t.Errorf("no warning about the seed's ACL:\n%s", warned)
	}
}

// TestFleetYAML is a two-host YAML inventory with nested groups that
// override each other, group_vars and host_vars as directories, a whole
// vars file encrypted with a vault id, references with white space
// variants and an unsafe ACL for another service.
func TestFleetYAML(t *testing.T) {
	f := newFixture(t)
	f.write("inv/inventory.yml", `all:
  vars:
    immich_version: v1.140.0
    immich_port: 2283
  children:
    nas:
      vars:
        immich_timezone: Europe/Berlin
        immich_upload_location: /srv/immich/upload
        podman_projects_dir: /opt/podman
      hosts:
        nas1:
      children:
        nas_big:
          vars:
            immich_upload_location: /mnt/big/immich/upload
            immich_timezone: "{{tz_big}}"
          hosts:
            NAS-2.example.com:
              immich_port: 2290
              podman_subnet_gateway: 10.89.0.1
`)
	f.write("inv/group_vars/all/10-network.yml", `immich_network_name: immich
podman_external_networks:
  - name: other
    subnet: 10.10.0.0/16
    gateway: 10.10.0.1
  - name: "{{ immich_network_name }}"
    subnet: 172.20.0.0/16
    gateway: 172.20.0.1
tz_big: America/Chicago
`)
	f.write("inv/group_vars/all/20-secrets.yml", `shared_valkey: shared-valkey-password-7
immich_valkey_password: "{{- shared_valkey -}}"
valkey_admin_password: fleet-admin-password-9
paperless_password: paperless-password-55
valkey_acl_users:
  - username: immich
    password: "{{  immich_valkey_password  }}"
    keypattern: "immich_bull* immich_channel*"
    commands: "&* -@dangerous +@read +@write +@pubsub +select +auth +ping +info +eval +evalsha"
  - username: paperless
    password: "{{ paperless_password }}"
    keypattern: "paperless*"
    commands: "&* -@dangerous +@read +@write"
`)
	f.encryptFile("inv/group_vars/all/20-secrets.yml", "prod")
	f.write("inv/group_vars/nas_big.yml", "immich_nginx_enabled: \"yes\"\nimmich_nginx_hostname: big.example.com\nacme_email: ops@example.com\n")
	f.write("inv/host_vars/nas1/main.yml", f.encryptString("immich_postgres_password", "nas1-postgres-password", ""))
	f.write("inv/host_vars/NAS-2.example.com.yml", f.encryptString("immich_postgres_password", "nas2-postgres-password", "prod"))
	res := checkOracle(t, f, f.path("inventory.yml"))
	again, err := ansible.Import(ansible.Options{Inventory: f.path("inventory.yml"), Vault: f.vault()})
	if err != nil || !bytes.Equal(again.CUE, res.CUE) || !bytes.Equal(again.Env, res.Env) || !slices.Equal(again.Warnings, res.Warnings) {
		t.Errorf("a second import differs (%v)", err)
	}
	// The fleet passes vet, with the secrets from the env file.
	out := filepath.Join(f.dir, "site")
	if _, err := ansible.Write(out, res, false); err != nil {
		t.Fatal(err)
	}
	env := loadEnv(t, filepath.Join(out, ansible.EnvFile))
	fl, err := schema.LoadFleet([]schema.Input{{Name: ansible.CUEFile, Data: res.CUE}},
		schema.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}, schema.FleetOptions{})
	if err != nil {
		t.Fatalf("the imported fleet does not pass vet:\n%v\n%s", err, res.CUE)
	}
	if len(fl.Hosts) != 2 || fl.Hosts[0].Config.Immich.Port != 2290 || fl.Hosts[1].Config.Immich.UploadLocation != "/srv/immich/upload" {
		t.Errorf("fleet hosts: %+v", fl.Hosts)
	}
	cue := string(res.CUE)
	for _, want := range []string{"defaults:", "hosts:", `"nas-2-example-com":`, "nas1:",
		`env: "IMMICH_POSTGRES_PASSWORD_NAS1"`, `env: "IMMICH_POSTGRES_PASSWORD_NAS_2_EXAMPLE_COM"`, `env: "IMMICH_VALKEY_PASSWORD"`,
		`"&* +@read +@write -@dangerous" // valkey_acl_users[1].commands`, `projectDir: "/opt/podman/immich"`} {
		if !strings.Contains(cue, want) {
			t.Errorf("immich.cue lacks %s:\n%s", want, cue)
		}
	}
	warned := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"inventory host NAS-2.example.com is named nas-2-example-com",
		`"&* -@dangerous +@read +@write" -> "&* +@read +@write -@dangerous"`} {
		if !strings.Contains(warned, want) {
			t.Errorf("warnings lack %q:\n%s", want, warned)
		}
	}
}

// TestINI is an INI inventory: [all:vars], [group:vars] with quoted and
// numeric values, [group:children], inline host variables, a host range,
// and group_vars/all.yml, which Ansible ranks above the INI file's child
// group variables.
func TestINI(t *testing.T) {
	f := newFixture(t)
	f.write("inv/hosts.ini", `# the role's hosts
[all:vars]
immich_version=v1.140.0
immich_timezone="Europe/Paris"

[photos]
photo[1:2] immich_port=2300
photo3 immich_port='2301' immich_nginx_enabled=True

photo4 a="x y" b=1.5 c=[1,2] d="{'k': 'v'}" e=None f='it''s' g=01 h=-3 # comment

[photos:vars]
c1 = value # trailing
c2="quoted # hash"
c3 = 'x' 'y'
c4 = [1, "two", {'three': 3}]
c5 = 1e3
immich_upload_location = '/data/immich upload'
immich_timezone = Europe/Rome
immich_nginx_enabled = no

[servers:children]
photos

[servers:vars]
immich_valkey_password="{{ vk }}"
`)
	f.write("inv/group_vars/all.yml", "immich_timezone: Asia/Tokyo\nvk: ini-valkey-password-1\n"+
		f.encryptString("immich_postgres_password", "ini-postgres-password", ""))
	f.write("inv/host_vars/photo2.yml", "immich_upload_location: \"{{ inventory_hostname }}-{{immich_version}}\"\nimmich_network_subnet: 172.30.0.0/16\nimmich_network_gateway: 172.30.0.1\n")
	res := checkOracle(t, f, f.path("hosts.ini"))
	if len(res.Resolved) != 4 {
		t.Errorf("hosts %v, want photo1 to photo4", res.Hosts)
	}
}

// TestComplexLeftToUser: an expression is not resolved but reported.
func TestComplexLeftToUser(t *testing.T) {
	f := newFixture(t)
	f.write("inv/hosts.yml", "all:\n  hosts:\n    box:\n      immich_version: v1.140.0\n      immich_timezone: \"{{ lookup('env', 'TZ') }}\"\n      immich_nginx_hostname: \"{{ inventory_hostname | upper }}\"\n      immich_postgres_password: \"pw-{{ 'braces' }}-secret\"\n      immich_extra_option: 1\n")
	res := checkOracle(t, f, f.path("hosts.yml"), "immich_timezone", "immich_nginx_hostname", "immich_postgres_password")
	if !slices.Contains(res.Warnings, f.path("hosts.yml")+":8: immich_extra_option is not a role variable immich-render knows; not imported") {
		t.Errorf("no warning about an unknown role variable:\n%s", strings.Join(res.Warnings, "\n"))
	}
	if strings.Contains(string(res.CUE)+strings.Join(res.Warnings, ""), "braces") {
		t.Errorf("a secret's text is shown:\n%s\n%s", res.CUE, res.Warnings)
	}
	for _, want := range []string{"hosts.yml:5: immich_timezone", "hosts.yml:6: immich_nginx_hostname"} {
		if !strings.Contains(string(res.CUE), want) || !strings.Contains(strings.Join(res.Warnings, "\n"), want) {
			t.Errorf("%q not reported in the file and the warnings:\n%s\n%s", want, res.CUE, strings.Join(res.Warnings, "\n"))
		}
	}
	_ = os.Remove
}

// TestYAMLTypes: YAML 1.1 scalars as PyYAML (and so Ansible) reads them,
// references to them, and INI literals, against Ansible.
func TestYAMLTypes(t *testing.T) {
	f := newFixture(t)
	f.write("inv/hosts", "box immich_version=v1.140.0 n=0x1f s='a b' l=\"[1, 'x']\" t=True u=true\n")
	f.write("inv/host_vars/box.yml", `b1: yes
b2: Off
b3: "yes"
i1: 0x10
i2: 010
i3: 1_000
i4: 12:30
i5: 0b101
i6: 09
f1: .5
f2: 1e3
f3: 1.5e+3
n1: ~
n2:
s1: !unsafe "{{ not templated }}"
s2: 'single ''quoted'''
s3: >
  folded
  text
anchors: &base {a: 1, b: [x, y]}
merged:
  <<: *base
  b: z
r1: "{{ b1 }}"
r2: "{{ i1 }}"
r3: "x{{ i4 }}y"
r4: "{{ anchors }}"
r5: "{{ f1 }}"
r6: "{{ n1 }}"
r7: "{{ s2 }} {{ b2 }}"
r8: "{{ l }}"
sx: "True"
r9: "{{ sx }}"
sz: "[1, 2]"
r10: "{{ sz }}"
r11: " {{ i3 }}"
r12: "{{ i3 }}{{ i3 }}"
`)
	checkOracle(t, f, f.path("hosts"))
}

// TestWarnings: what the import changes or cannot carry over is said,
// never silently dropped, and no warning shows a password.
func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.yml")
	if err := os.WriteFile(inv, []byte(`all:
  hosts:
    box:
      immich_version: v1.140.0
      immich_valkey_password: valkey-password-one
      immich_network_subnet: 172.21.0.0/16
      podman_external_networks:
        - {name: immich, subnet: 172.20.0.0/16, gateway: 172.20.0.1}
      valkey_acl_users:
        - username: immich
          password: other-password-two
          keypattern: "immich_bull* immich_channel* extra*"
          commands: "&* +@read +@write +@pubsub -@dangerous +select +auth +ping +info +eval +evalsha +client|setname +client|setinfo"
        - {username: svc, password: svc-password-three, keypattern: "~svc*", commands: "+@read +@write +keys", channels: x}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ansible.Import(ansible.Options{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	warned := strings.Join(res.Warnings, "\n")
	for _, want := range []string{
		inv + ":6: immich_network_subnet is 172.21.0.0/16 but the podman_external_networks entry says 172.20.0.0/16; the entry is what the podman role creates, so it is used",
		inv + ":11: valkey_acl_users[0].password differs from immich_valkey_password",
		inv + `:14: valkey_acl_users[1].commands (user svc) rewritten: "+@read +@write +keys" -> "+@read +@write -@dangerous +keys": the old rules let svc run FLUSHDB, FLUSHALL`,
		inv + ":14: valkey_acl_users[1].channels is not a field immich-render knows; not imported",
		"host box: immich_postgres_password is not set in the inventory",
	} {
		if !strings.Contains(warned, want) {
			t.Errorf("warnings lack %q:\n%s", want, warned)
		}
	}
	if strings.Contains(warned, "user immich) is not copied") {
		t.Errorf("the immich user's rules equal the default, yet a warning says they are not copied:\n%s", warned)
	}
	for _, secret := range []string{"valkey-password-one", "other-password-two", "svc-password-three"} {
		if strings.Contains(warned, secret) || strings.Contains(string(res.CUE), secret) {
			t.Errorf("%s shown in warnings or immich.cue", secret)
		}
	}
	for _, want := range []string{`keyPatterns: ["immich_bull*", "immich_channel*", "extra*"]`, `keyPatterns: ["svc*"]`, `subnet:  "172.20.0.0/16"`} {
		if !strings.Contains(string(res.CUE), want) {
			t.Errorf("immich.cue lacks %s:\n%s", want, res.CUE)
		}
	}
}

// TestVaultedPlainField: a vaulted value of a field that is no secret in
// immich-render is written in clear, and said so.
func TestVaultedPlainField(t *testing.T) {
	f := newFixture(t)
	f.write("inv/hosts.yml", "all:\n  hosts:\n    box:\n      immich_version: v1.140.0\n")
	f.write("inv/host_vars/box.yml", f.encryptString("immich_nginx_hostname", "hidden.example.com", ""))
	res := checkOracle(t, f, f.path("hosts.yml"))
	if !slices.Contains(res.Warnings, f.path("host_vars/box.yml")+":1: immich_nginx_hostname is vault-encrypted in the inventory, but immich.nginx.hostname is not a secret in immich-render: its value is written into immich.cue in clear") {
		t.Errorf("no warning:\n%s", strings.Join(res.Warnings, "\n"))
	}
}
