package render

import (
	"fmt"
	"strconv"
	"strings"
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
