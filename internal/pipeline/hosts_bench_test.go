package pipeline

import (
	"fmt"
	"testing"

	"github.com/immich-render/immich-render/internal/bench/fleetgen"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
)

var benchEnv = schema.Options{LookupEnv: func(k string) (string, bool) {
	v, ok := fleetgen.Env[k]
	return v, ok
}}

// BenchmarkSite is one host end to end in memory: load and validate
// against a compiled schema, then render every file.
func BenchmarkSite(b *testing.B) {
	s, err := schema.Compile()
	if err != nil {
		b.Fatal(err)
	}
	in := []schema.Input{{Name: "site.cue", Data: fleetgen.Site()}}
	for b.Loop() {
		cfg, err := s.Load(in, benchEnv)
		if err != nil {
			b.Fatal(err)
		}
		render.Render(cfg, render.Options{})
	}
}

// BenchmarkFleet is a fleet end to end in memory: load, validate and
// render 100 and 1,000 hosts in parallel, and build the index.
func BenchmarkFleet(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			in := []schema.Input{{Name: "fleet.cue", Data: fleetgen.Fleet(n)}}
			for b.Loop() {
				dep, err := schema.LoadDeployment(in, benchEnv, schema.FleetOptions{})
				if err != nil {
					b.Fatal(err)
				}
				res := renderHosts(dep.Hosts, renderOptions{})
				res.Out.Add(IndexName, Index(res.Summaries, nil), 0o644)
				if len(res.Hosts) != n {
					b.Fatalf("%d hosts", len(res.Hosts))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/host")
		})
	}
}
