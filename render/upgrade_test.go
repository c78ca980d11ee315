package render

import (
	"strings"
	"testing"
)

// TestUpgradeSteps tests every row of UpgradeSteps on its own: the jumps
// it refuses, and the ones just past its edges that it lets through. A
// row without cases here fails the test.
func TestUpgradeSteps(t *testing.T) {
	cases := map[string]struct{ refused, allowed [][2]string }{
		"v1.137.0": {
			refused: [][2]string{{"v1.131.0", "v1.137.0"}, {"v1.120.2", "v3.1.0"}, {"v1.131.9", "v2.0.0"}},
			allowed: [][2]string{{"v1.132.0", "v1.137.0"}, {"v1.132.3", "v3.1.0"}, {"v1.131.0", "v1.132.3"}, {"v1.131.0", "v1.135.3"}},
		},
		"v1.136.0": {
			refused: [][2]string{{"v1.131.0", "v1.136.0"}, {"v1.100.0", "v1.136.9"}},
			allowed: [][2]string{{"v1.132.0", "v1.136.0"}, {"v1.131.0", "v1.135.0"}, {"v1.131.0", "v1.132.3"}},
		},
		"v1.133.0": {
			refused: [][2]string{{"v1.133.0", "v1.132.3"}, {"v3.1.0", "v1.132.0"}},
			allowed: [][2]string{{"v1.132.3", "v1.133.0"}, {"v1.133.1", "v1.133.0"}, {"v1.132.3", "v1.131.0"}},
		},
		"every major release": {
			refused: [][2]string{{"v3.0.0", "v2.7.5"}, {"v2.0.0", "v1.138.1"}, {"v3.1.0", "v1.140.0"}},
			allowed: [][2]string{{"v3.1.0", "v3.0.0"}, {"v2.7.5", "v3.0.0"}, {"v2.7.5", "v2.2.3"}},
		},
	}
	for _, step := range UpgradeSteps {
		c, ok := cases[step.Release]
		if !ok || len(c.refused) == 0 || len(c.allowed) == 0 {
			t.Errorf("row %s has no test cases", step.Release)
			continue
		}
		if step.Source == "" || step.Reason == "" || step.Path == "" {
			t.Errorf("row %s: Source, Reason and Path are required", step.Release)
		}
		for _, j := range c.refused {
			f, _ := parseVersion(j[0])
			to, _ := parseVersion(j[1])
			if !step.Refuses(f, to) {
				t.Errorf("row %s lets %s -> %s through", step.Release, j[0], j[1])
			}
		}
		for _, j := range c.allowed {
			f, _ := parseVersion(j[0])
			to, _ := parseVersion(j[1])
			if step.Refuses(f, to) {
				t.Errorf("row %s refuses %s -> %s", step.Release, j[0], j[1])
			}
		}
	}
	if len(cases) != len(UpgradeSteps) {
		t.Errorf("%d rows have cases, the table has %d rows", len(cases), len(UpgradeSteps))
	}
}

// TestUpgradeRefusals: the reasons and paths name both versions, and the
// jumps a render meets refuse nothing when Immich allows them.
func TestUpgradeRefusals(t *testing.T) {
	for _, c := range []struct {
		from, to string
		rows     []string
	}{
		{"", "v3.1.0", nil},         // a first render
		{"v3.1.0", "v3.1.0", nil},   // no change
		{"v1.137.0", "v3.2.2", nil}, // any upgrade from a renderable version
		{"v3.1.0", "v3.0.3", nil},   // a downgrade within a major: only a note
		{"garbage", "v3.1.0", nil},  // an unreadable manifest entry
		{"v1.131.0", "v3.1.0", []string{"v1.137.0"}},
		{"v1.131.0", "v1.136.0", []string{"v1.136.0"}},
		{"v3.0.0", "v2.7.5", []string{"every major release"}},
		{"v2.0.0", "v1.132.0", []string{"v1.133.0", "every major release"}},
	} {
		got := UpgradeRefusals(c.from, c.to)
		var rows []string
		for _, r := range got {
			rows = append(rows, r.Step.Release)
			if !strings.Contains(r.Reason+r.Path, c.from) || !strings.Contains(r.Reason+r.Path, c.to) {
				t.Errorf("%s -> %s: %q / %q do not name both versions", c.from, c.to, r.Reason, r.Path)
			}
			if strings.Contains(r.Reason+r.Path, "%!") {
				t.Errorf("%s -> %s: bad format: %q / %q", c.from, c.to, r.Reason, r.Path)
			}
		}
		if strings.Join(rows, ",") != strings.Join(c.rows, ",") {
			t.Errorf("%s -> %s: refused by %v, want %v", c.from, c.to, rows, c.rows)
		}
	}
}
