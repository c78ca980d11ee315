package render

import (
	"fmt"
	"path"
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

// UpgradeStep is one of Immich's rules about which release a database may
// come from, and the release that imposes it.
type UpgradeStep struct {
	// Release is the Immich release (or change) that requires the step,
	// and Source where Immich says so.
	Release, Source string
	// Refuses reports whether the rule refuses going from one version to
	// the other.
	Refuses func(from, to [3]int) bool
	// Reason says why Immich would not start; Path what to do instead.
	// Both are formats of the two version tags (from, to).
	Reason, Path string
}

// UpgradeSteps are Immich's required stepping stones: a jump one of them
// refuses is a configuration error, with the path to take. Every row is
// tested on its own (TestUpgradeSteps).
var UpgradeSteps = []UpgradeStep{
	{
		Release: "v1.137.0", Source: "Immich's errors page (#typeorm-upgrade), immich PR #17690",
		Refuses: func(f, t [3]int) bool { return less(f, [3]int{1, 132, 0}) && !less(t, [3]int{1, 137, 0}) },
		Reason:  "Immich v1.137.0 and later refuse to start on a database last run by a version before v1.132.0 (\"Invalid upgrade path\"); this database was last rendered for %[1]s",
		Path:    "start Immich v1.132.3 once on this database first, so that its migrations run (avoid v1.136), then %[2]s",
	},
	{
		Release: "v1.136.0", Source: "immich PR #22033 (docs: avoid v1.136 when coming from before v1.132)",
		Refuses: func(f, t [3]int) bool {
			return less(f, [3]int{1, 132, 0}) && t[0] == 1 && t[1] == 136
		},
		Reason: "Immich v1.136 fails to migrate a database last run by a version before v1.132.0 (multiple primary keys for table \"geodata_places\"); this database was last rendered for %[1]s",
		Path:   "start Immich v1.132.3 once on this database first, then %[2]s",
	},
	{
		Release: "v1.133.0", Source: "Immich's upgrade docs (migrating to VectorChord)",
		Refuses: func(f, t [3]int) bool { return !less(f, [3]int{1, 133, 0}) && less(t, [3]int{1, 133, 0}) },
		Reason:  "a database that Immich v1.133.0 or later moved to VectorChord cannot go back to %[2]s, which predates VectorChord; it was last rendered for %[1]s",
		Path:    "stay on v1.133.0 or later, or restore the database backup taken before the upgrade from %[2]s",
	},
	{
		Release: "every major release", Source: "Immich's upgrade docs: database migrations have no downgrade",
		Refuses: func(f, t [3]int) bool { return t[0] < f[0] },
		Reason:  "this is a downgrade across a major release, from %[1]s to %[2]s: the database was migrated by %[1]s, and Immich's migrations cannot be undone",
		Path:    "stay on %[1]s's major release; or restore the database backup taken before the upgrade to %[1]s, remove .immich-render.json from the output directory and render %[2]s with --force",
	},
}

// UpgradeRefusals lists the steps that refuse going from one Immich version
// to another, with their reasons and paths filled in. Unreadable versions
// (a first render has none) refuse nothing.
func UpgradeRefusals(from, to string) []UpgradeRefusal {
	f, okf := parseVersion(from)
	t, okt := parseVersion(to)
	if !okf || !okt || f == t {
		return nil
	}
	var out []UpgradeRefusal
	for _, s := range UpgradeSteps {
		if s.Refuses(f, t) {
			out = append(out, UpgradeRefusal{Step: s, Reason: fmt.Sprintf(s.Reason, from, to), Path: fmt.Sprintf(s.Path, from, to)})
		}
	}
	return out
}

// UpgradeRefusal is a step that refuses an upgrade.
type UpgradeRefusal struct {
	Step         UpgradeStep
	Reason, Path string
}

// parseVersion reads an Immich release tag (schema.ParseVersion).
func parseVersion(v string) ([3]int, bool) { return schema.ParseVersion(v) }

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
