package render

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/immich-render/immich-render/internal/parallel"
	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// sharedFleet has pairs of hosts that agree on every input of the shared
// files and hosts that differ from the others in one input each, so that
// a key missing an input would give one of them another host's file.
const sharedFleet = `
	a1: {}
	a2: immich: network: {subnet: "172.21.0.0/16", gateway: "172.21.0.1"}
	dir: immich: backup: directory: "/srv/dumps"
	keep: immich: backup: keep: 3
	sched: immich: backup: schedule: "Mon *-*-* 02:00:00"
	nobackup: immich: backup: enabled: false
	port: immich: postgres: port: 5433
	db: immich: postgres: database: "photos"
	role: immich: postgres: user: "photos"
	pw1: immich: postgres: password: {env: "OTHER_PASSWORD"}
	pw2: immich: postgres: password: {env: "OTHER_PASSWORD"}
	vector: immich: postgres: vectorExtension: "pgvector"
	old: immich: version: "v2.5.0"
	service: host: postgresService: "postgresql@17-main"
	project: immich: projectDir: "/srv/immich"
`

// TestSharedSameBytes renders a fleet's hosts in parallel through one
// Shared and compares every file with the host's render without it; hosts
// whose inputs agree share one copy of the shared files.
func TestSharedSameBytes(t *testing.T) {
	dep, err := schema.LoadDeployment([]schema.Input{{Name: "fleet.cue", Data: []byte(testenv.Fleet(sharedFleet))}},
		schema.Options{LookupEnv: func(k string) (string, bool) {
			if k == "OTHER_PASSWORD" {
				return "other-secret-0123456789", true
			}
			v, ok := testenv.Secrets[k]
			return v, ok
		}}, schema.FleetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := NewShared()
	shared := make([]Result, len(dep.Hosts))
	parallel.ForEach(len(dep.Hosts), 4, func(_, i int) {
		shared[i] = Render(dep.Hosts[i].Config, Options{Secrets: true, Shared: s})
	}, nil)
	byHost := map[string]Result{}
	for i, h := range dep.Hosts {
		alone := Render(h.Config, Options{Secrets: true})
		for _, trees := range [][2]map[string][]byte{
			{bytesOf(alone.Out), bytesOf(shared[i].Out)},
			{bytesOf(alone.Secrets), bytesOf(shared[i].Secrets)},
		} {
			want, got := trees[0], trees[1]
			if len(want) != len(got) {
				t.Errorf("%s: %d files with a Shared, %d without", h.Name, len(got), len(want))
			}
			for p, data := range want {
				if !bytes.Equal(got[p], data) {
					t.Errorf("%s: %s differs with a Shared:\n%s\nwant:\n%s", h.Name, p, got[p], data)
				}
			}
		}
		byHost[h.Name] = shared[i]
	}

	// The pairs that agree share the files' memory; the others do not.
	same := func(a, b, p string) bool {
		x, y := byHost[a].Out[p].Data, byHost[b].Out[p].Data
		return len(x) > 0 && len(y) > 0 && unsafe.SliceData(x) == unsafe.SliceData(y)
	}
	initSQL := rootfs("/opt/podman/immich/postgres/init.sql")
	for _, p := range []string{initSQL, rootfs(unitPath(DBInitUnit)), rootfs(unitPath(BackupUnit)), rootfs(unitPath(BackupTimer)),
		rootfs(BackupScript), rootfs(UpgradeDumpScript), rootfs(unitPath(UpgradeDumpUnit))} {
		if !same("a1", "a2", p) {
			t.Errorf("a1 and a2 do not share %s", p)
		}
	}
	if !same("pw1", "pw2", initSQL) {
		t.Errorf("pw1 and pw2 do not share %s", initSQL)
	}
	if same("a1", "pw1", initSQL) {
		t.Errorf("a1 and pw1, with different passwords, share %s", initSQL)
	}
	if got := byHost["a1"].Out[initSQL].Data; cap(got) != len(got) {
		t.Errorf("a shared file has spare capacity (%d > %d): an append would write into the other hosts' copy", cap(got), len(got))
	}
}

func bytesOf(t tree.Tree) map[string][]byte {
	out := map[string][]byte{}
	for p, f := range t {
		out[p] = f.Data
	}
	return out
}
