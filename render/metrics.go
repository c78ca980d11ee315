package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// PrometheusFragment is the scrape configuration of Immich's metrics.
const PrometheusFragment = "fragments/prometheus/immich.yml"

// renderMetrics renders the Prometheus scrape jobs for immich.metrics.
func renderMetrics(cfg *schema.Config) []tree.File {
	if !cfg.Immich.Metrics.Enabled {
		return nil
	}
	return []tree.File{file(PrometheusFragment, prometheusFragment(cfg), 0o644)}
}

// metricsTarget is where a Prometheus on this host reaches a port.
func metricsTarget(cfg *schema.Config, port int) string {
	addr := cfg.Immich.Metrics.Address
	if addr == "0.0.0.0" {
		addr = "127.0.0.1"
	}
	return addr + ":" + strconv.Itoa(port)
}

// prometheusFragment is one scrape job per Immich worker, as a list to
// put under scrape_configs. The values are fixed names and addresses, so
// they need no YAML quoting beyond the one used here.
func prometheusFragment(cfg *schema.Config) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `%s# A fragment for Prometheus.
#
# Add these jobs under scrape_configs: in prometheus.yml (Debian:
# /etc/prometheus/prometheus.yml), then reload Prometheus. The targets are
# for a Prometheus on this host; from another machine, use this host's
# address (immich.metrics.address must then be one it can reach).
`, header("#"))
	for _, p := range schema.MetricsPorts {
		fmt.Fprintf(&b, "- job_name: %q\n  static_configs:\n    - targets: [%q]\n", "immich_"+p.Worker, metricsTarget(cfg, p.Port))
	}
	return []byte(b.String())
}

// metricsSection is the output README's Metrics section: the ports to
// open for a Prometheus elsewhere.
func metricsSection(cfg *schema.Config) string {
	m := cfg.Immich.Metrics
	if !m.Enabled {
		return ""
	}
	var b strings.Builder
	b.WriteString("## Metrics\n\n")
	fmt.Fprintf(&b, "immich-server serves Prometheus metrics (`IMMICH_TELEMETRY_INCLUDE`), published on %s:\n\n", m.Address)
	b.WriteString("| Port | Worker |\n|---|---|\n")
	for _, p := range schema.MetricsPorts {
		fmt.Fprintf(&b, "| %d/tcp | %s |\n", p.Port, p.Worker)
	}
	fmt.Fprintf(&b, "\nOpen them in the firewall only for the Prometheus that scrapes them; `%s`\n", PrometheusFragment)
	b.WriteString("holds its scrape jobs.\n\n")
	return b.String()
}
