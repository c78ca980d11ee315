package render

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/immich-render/immich-render/schema"
)

// UpgradeNotes says what a change of Immich version crosses, for the
// operator who is about to deploy it. It returns nil when the version
// does not change or either version cannot be read.
func UpgradeNotes(from, to string) []string {
	f, okf := parseVersion(from)
	t, okt := parseVersion(to)
	if !okf || !okt || f == t {
		return nil
	}
	notes := []string{fmt.Sprintf("Immich changes from %s to %s.", from, to)}
	if less(t, f) {
		return append(notes,
			"This is a downgrade. Immich's database migrations have no downgrade: restore the database backup taken before the upgrade to "+from+", or the server will not start.")
	}
	crossed := func(v [3]int) bool { return less(f, v) && !less(t, v) }
	if t[0] > f[0] {
		notes = append(notes, fmt.Sprintf("A new major version (v%d): read the release notes for breaking changes before you deploy.", t[0]))
	}
	if crossed([3]int{1, 133, 0}) {
		notes = append(notes, "v1.133.0 moved vector search from pgvecto.rs to VectorChord: install VectorChord in PostgreSQL first (immich.postgres.vectorExtension).")
	}
	if crossed([3]int{1, 137, 0}) {
		notes = append(notes, "v1.137.0 moved the media path inside the container to /data; immich-render already mounts the upload location there.")
	}
	if crossed([3]int{3, 0, 0}) {
		notes = append(notes, "v3.0.0 removed pgvecto.rs support: the database must use VectorChord (or pgvector) before this upgrade.")
	}
	return append(notes,
		"Database migrations run when the new server starts and cannot be undone: back up the database and the upload location first.")
}

func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 || !strings.HasPrefix(v, "v") {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// RuntimeNotes says what a change of immich.runtime needs on a host that
// runs the old one: its containers must stop before the new files arrive,
// and the files of the old runtime must go (rsync does not delete them).
// from is the runtime the last render recorded ("" for no render: nothing
// to say).
func RuntimeNotes(from string, cfg *schema.Config) []string {
	to := cfg.Immich.Runtime
	if from == "" || from == to {
		return nil
	}
	if to == "quadlet" {
		return []string{
			"immich.runtime changes from compose to quadlet (Podman >= 5.0).",
			"Before copying the new files, stop the compose stack with the old unit: systemctl stop immich.service (it runs compose down), so that its containers free the published port.",
			"Then copy, remove " + ComposePath(cfg) + ", and run systemctl daemon-reload (Podman's generator makes " + strings.Join(quadletContainers(cfg), " and ") + ") and systemctl restart " + DBInitUnit + " " + ImmichUnit + ".",
		}
	}
	return []string{
		"immich.runtime changes from quadlet to compose.",
		"Before copying the new files, stop the Quadlet containers: systemctl stop immich.service (they are PartOf it).",
		"Then copy, remove " + path.Join(QuadletDir, serverQuadlet) + ", " + path.Join(QuadletDir, mlQuadlet) + " and " + path.Join(QuadletDir, networkQuadlet) + ", and run systemctl daemon-reload and systemctl restart " + DBInitUnit + " " + ImmichUnit + ".",
	}
}
