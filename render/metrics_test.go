package render

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
)

// TestPrometheusFragment merges the fragment into a prometheus.yml as its
// header says and has Prometheus's own promtool check it.
func TestPrometheusFragment(t *testing.T) {
	bin := testenv.Binary(t, "promtool")
	for _, addr := range []string{"127.0.0.1", "0.0.0.0", "192.168.1.5"} {
		cfg := testenv.Config(t, nil, `immich: metrics: {enabled: true, address: "`+addr+`"}`)
		out := treeOf(renderMetrics(cfg))
		frag, ok := out[PrometheusFragment]
		if !ok {
			t.Fatalf("no %s", PrometheusFragment)
		}
		conf := filepath.Join(t.TempDir(), "prometheus.yml")
		if err := os.WriteFile(conf, append([]byte("global:\n  scrape_interval: 30s\nscrape_configs:\n"), frag.Data...), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := exec.Command(bin, "check", "config", "--syntax-only", conf).CombinedOutput()
		if err != nil || !strings.Contains(string(got), "SUCCESS") {
			t.Errorf("promtool check config (%s): %v\n%s\n%s", addr, err, got, frag.Data)
		}
		want := addr
		if addr == "0.0.0.0" {
			want = "127.0.0.1"
		}
		for _, target := range []string{want + ":8081", want + ":8082"} {
			if !strings.Contains(string(frag.Data), `"`+target+`"`) {
				t.Errorf("%s: no target %s:\n%s", addr, target, frag.Data)
			}
		}
	}
	if got := treeOf(renderMetrics(testenv.Config(t, nil))); len(got) != 0 {
		t.Errorf("metrics off rendered %q", got.Paths())
	}
}
