package pipeline

import (
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// The impact table, case by case: what each changed path asks of the host.
func TestImpact(t *testing.T) {
	cfg := testenv.Config(t, nil)
	tree := map[string]bool{
		"rootfs/etc/systemd/system/immich-backup.service": true,
		"rootfs/etc/systemd/system/immich-backup.timer":   true,
	}
	conf := func(s string) []byte { return []byte("# x\nlisten_addresses = 'localhost'\n" + s + "\n") }
	for name, c := range map[string]struct {
		files []changedFile
		want  string
	}{
		"postgresql.conf, only a setting a reload applies": {
			[]changedFile{{path: "fragments/postgresql/postgresql.conf", old: conf("password_encryption = 'md5'"), new: conf("password_encryption = 'scram-sha-256'")}},
			"fragments/apply.sh|systemctl reload postgresql",
		},
		"postgresql.conf, preloaded libraries": {
			[]changedFile{{path: "fragments/postgresql/postgresql.conf", old: conf("shared_preload_libraries = 'vchord.so'"), new: conf("")}},
			"fragments/apply.sh|systemctl restart postgresql",
		},
		"a service its timer starts, and the timer": {
			[]changedFile{{path: "rootfs/etc/systemd/system/immich-backup.service"}, {path: "rootfs/etc/systemd/system/immich-backup.timer"}},
			"systemctl daemon-reload|systemctl restart immich-backup.timer",
		},
		"a removed unit": {
			[]changedFile{{path: "rootfs/etc/systemd/system/immich-old.service", removed: true}},
			"systemctl daemon-reload",
		},
		"order: host services before the database init before Immich": {
			[]changedFile{{path: "rootfs/opt/podman/immich/docker-compose.yml"}, {path: "rootfs/opt/podman/immich/postgres/init.sql"},
				{path: "rootfs/etc/valkey/users.acl"}, {path: "rootfs/etc/nginx/conf.d/immich.conf"}, {path: "README.md"}},
			"systemctl reload nginx|valkey-cli ACL LOAD|systemctl restart immich-db-init.service|systemctl restart immich.service",
		},
		"a restart makes the reload of the same service needless": {
			[]changedFile{{path: "fragments/postgresql/pg_hba.conf"}, {path: "fragments/postgresql/postgresql.conf", new: conf("shared_preload_libraries = 'vchord.so'")}},
			"fragments/apply.sh|systemctl restart postgresql",
		},
		"nothing for the README, apply.sh and the verify script": {
			[]changedFile{{path: "README.md"}, {path: "fragments/apply.sh"}, {path: "rootfs/usr/local/lib/immich-render/immich-verify"}},
			"",
		},
	} {
		var got []string
		for _, a := range impact("", c.files, cfg, tree) {
			got = append(got, a.Command)
		}
		if s := strings.Join(got, "|"); s != c.want {
			t.Errorf("%s:\n got %s\nwant %s", name, s, c.want)
		}
	}
}
