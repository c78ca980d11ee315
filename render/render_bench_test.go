package render

import (
	"fmt"
	"testing"

	"github.com/immich-render/immich-render/internal/bench/fleetgen"
	"github.com/immich-render/immich-render/schema"
)

var benchEnv = schema.Options{LookupEnv: func(k string) (string, bool) {
	v, ok := fleetgen.Env[k]
	return v, ok
}}

// BenchmarkRender renders the benchmark's single site, configuration
// loaded once: the render alone, the SCRAM verifier memoised after the
// first run as in a fleet.
func BenchmarkRender(b *testing.B) {
	s, err := schema.Compile()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := s.Load([]schema.Input{{Name: "site.cue", Data: fleetgen.Site()}}, benchEnv)
	if err != nil {
		b.Fatal(err)
	}
	for _, secrets := range []bool{false, true} {
		b.Run(fmt.Sprintf("secrets=%v", secrets), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Render(cfg, Options{Secrets: secrets})
			}
		})
	}
}

// BenchmarkRenderFleet renders the 200 hosts of the benchmark fleet one
// after the other, configurations loaded once, as a fleet's render shares
// what its hosts have in common.
func BenchmarkRenderFleet(b *testing.B) {
	dep, err := schema.LoadDeployment([]schema.Input{{Name: "fleet.cue", Data: fleetgen.Fleet(200)}}, benchEnv, schema.FleetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewShared() // one per fleet render, as in pipeline
		for _, h := range dep.Hosts {
			Render(h.Config, Options{Shared: s})
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(dep.Hosts)), "µs/host")
}
