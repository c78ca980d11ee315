package render

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestPostgresRequirements: the table is in order, every row names its
// source, and each Immich version finds its row.
func TestPostgresRequirements(t *testing.T) {
	if !slices.IsSortedFunc(postgresRequirements, func(a, b postgresRequirement) int { return slices.Compare(a.Since[:], b.Since[:]) }) {
		t.Fatal("postgresRequirements is not in ascending order of Since")
	}
	for _, r := range postgresRequirements {
		if !strings.Contains(r.Source, "constants.ts") || r.Postgres < 14 || len(r.Vector) == 0 {
			t.Errorf("row %v: source %q, PostgreSQL %d, %d extensions", r.Since, r.Source, r.Postgres, len(r.Vector))
		}
	}
	for _, tc := range []struct{ version, vchord string }{
		{"v1.137.0", ">= 0.3 and < 0.5"},
		{"v2.0.1", ">= 0.3 and < 0.5"},
		{"v2.1.0", ">= 0.3 and < 0.6"},
		{"v2.5.6", ">= 0.3 and < 0.6"},
		{"v3.0.0", ">= 0.3 and < 2"},
		{"v3.2.2", ">= 0.3 and < 2"},
	} {
		if got := postgresRequirementFor(tc.version).Vector["vchord"].String(); got != tc.vchord {
			t.Errorf("%s: VectorChord %s, want %s", tc.version, got, tc.vchord)
		}
	}
	if _, ok := postgresRequirementFor("v3.1.0").Vector["vectors"]; ok {
		t.Error("v3 accepts pgvecto.rs")
	}
}

// TestVersionRangeSQL runs init.sql's version comparison on a real
// PostgreSQL for versions at and around the bounds, as PostgreSQL reports
// extension versions.
func TestVersionRangeSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	s := startPostgres(t)
	check := vectorCheck{Ext: "vchord", Name: "VectorChord", Range: versionRange{"0.3", "2"}}
	for v, inside := range map[string]bool{
		"0.3": true, "0.3.0": true, "0.4.3": true, "1.9.9": true, "1.0.0-rc1": true,
		"0.2.9": false, "0.2": false, "2": false, "2.0.0": false, "10.0": false, "": false, "latest": false,
	} {
		var b strings.Builder
		if err := initSQLTemplate().ExecuteTemplate(&b, "outside", struct{ Check vectorCheck }{check}); err != nil {
			t.Fatal(err)
		}
		sql := fmt.Sprintf("DO %s", sqlDollar("t", fmt.Sprintf("\nDECLARE\n  v text := %s;\n  n int[];\nBEGIN\n%s\n    RAISE EXCEPTION 'outside';\n  END IF;\nEND\n", sqlLiteral(v), b.String())))
		out, err := s.Cmd(s.SuperuserEnv("postgres"), "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
		if got := err == nil; got != inside {
			t.Errorf("version %q: inside %v, want %v (%s)", v, got, inside, out)
		}
	}
	// A lower bound of three parts compares as PostgreSQL compares arrays.
	if got := sqlIntArray("0.10.0"); got != "ARRAY[0, 10, 0]" {
		t.Errorf("sqlIntArray = %s", got)
	}
}
