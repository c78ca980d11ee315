package render

import "fmt"

// versionRange is a half-open range of dotted versions, [Min, Max); Max ""
// has no upper bound. Immich writes these as semver ranges (">=0.3 <2").
type versionRange struct{ Min, Max string }

func (r versionRange) String() string {
	if r.Max == "" {
		return ">= " + r.Min
	}
	return fmt.Sprintf(">= %s and < %s", r.Min, r.Max)
}

// postgresRequirement is what one range of Immich versions accepts from
// the server: Immich checks these when it starts and refuses to run
// outside them. init.sql checks the same before it changes anything, so a
// mismatch stops immich-db-init.service, and Immich with it, with the
// reason in the journal.
type postgresRequirement struct {
	Since    [3]int // the first Immich version of the row; a row holds until the next
	Source   string // where upstream states it
	Postgres int    // the lowest PostgreSQL major version (POSTGRES_VERSION_RANGE)
	// The accepted versions of each vector extension, by extension name;
	// an extension that is missing here is not supported at all.
	Vector map[string]versionRange
}

// postgresRequirements is the one table of Immich's database ranges, in
// ascending order of Since: POSTGRES_VERSION_RANGE, VECTORCHORD_VERSION_RANGE,
// VECTOR_VERSION_RANGE and VECTORS_VERSION_RANGE of Immich's
// server/src/constants.ts in the releases named. The schema renders
// v1.137.0 and newer. Where a boundary between releases is uncertain, the
// row takes the wider range: init.sql must never stop what Immich accepts.
var postgresRequirements = []postgresRequirement{
	{
		Since:    [3]int{1, 137, 0},
		Source:   "server/src/constants.ts, v1.135.0 to v2.0.x",
		Postgres: 14,
		Vector: map[string]versionRange{
			"vchord":  {"0.3", "0.5"},
			"vectors": {"0.2", "0.4"},
			"vector":  {"0.5", "1"},
		},
	},
	{
		Since:    [3]int{2, 1, 0},
		Source:   "server/src/constants.ts, v2.1.0 to v2.x",
		Postgres: 14,
		Vector: map[string]versionRange{
			"vchord":  {"0.3", "0.6"},
			"vectors": {"0.2", "0.4"},
			"vector":  {"0.5", "1"},
		},
	},
	{
		Since:    [3]int{3, 0, 0},
		Source:   "server/src/constants.ts since v3.0.0",
		Postgres: 14,
		Vector: map[string]versionRange{
			"vchord": {"0.3", "2"},
			"vector": {"0.5", "1"},
		},
	},
}

// postgresRequirementFor returns the row for an Immich version: the last
// whose Since it has reached, or the first for a version older than all.
func postgresRequirementFor(version string) postgresRequirement {
	v, _ := parseVersion(version)
	row := postgresRequirements[0]
	for _, r := range postgresRequirements {
		if !less(v, r.Since) {
			row = r
		}
	}
	return row
}

// vectorCheck is one extension init.sql checks: its name in
// pg_available_extensions, the product name for messages, and the range.
type vectorCheck struct {
	Ext, Name string
	Range     versionRange
}

// checkedExtension is the extension whose version Immich checks for
// immich.postgres.vectorExtension (for VectorChord, vchord: the vector it
// needs is not range-checked by Immich, only required).
var checkedExtension = map[string]struct{ ext, name string }{
	"vectorchord": {"vchord", "VectorChord"},
	"pgvector":    {"vector", "pgvector"},
	"pgvecto.rs":  {"vectors", "pgvecto.rs"},
}

// vectorCheckOf returns the version check of the vector extension kind
// in a row. ok is false when the row's Immich versions do not support the
// extension at all (the schema refuses that already).
func vectorCheckOf(req postgresRequirement, kind string) (vectorCheck, bool) {
	c := checkedExtension[kind]
	r, ok := req.Vector[c.ext]
	return vectorCheck{Ext: c.ext, Name: c.name, Range: r}, ok
}
