package rehearsal

import (
	"slices"
	"testing"
)

// TestExecArgs checks the Exec line splitter the rehearsal runs the
// rendered units' command lines with.
func TestExecArgs(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{`/usr/bin/podman-compose up -d`, []string{"/usr/bin/podman-compose", "up", "-d"}},
		{`/bin/sh -c "/usr/bin/podman network exists immich || /usr/bin/podman network create immich"`,
			[]string{"/bin/sh", "-c", "/usr/bin/podman network exists immich || /usr/bin/podman network create immich"}},
		{`/usr/bin/psql -f "/srv/Fotos Familie 100%% $$HOME \"q\" \\x"`, []string{"/usr/bin/psql", "-f", `/srv/Fotos Familie 100% $HOME "q" \x`}},
		{`/bin/echo 'single quoted' a%%b`, []string{"/bin/echo", "single quoted", "a%b"}},
	} {
		got, err := execArgs(tc.line)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("execArgs(%s) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{`/bin/echo %n`, `/bin/echo $HOME`, `/bin/echo "open`, `-/bin/false`, ``} {
		if got, err := execArgs(bad); err == nil {
			t.Errorf("execArgs(%s) = %q, want an error", bad, got)
		}
	}
}
