package schema

import (
	"fmt"
	"testing"

	"github.com/immich-render/immich-render/internal/bench/fleetgen"
)

// genFleet is the benchmark fleet of n hosts (internal/bench/fleetgen), which the
// CLI benchmarks of internal/bench/run.sh render too.
func genFleet(n int) []byte { return fleetgen.Fleet(n) }

var benchEnv = Options{LookupEnv: func(k string) (string, bool) {
	v, ok := fleetgen.Env[k]
	return v, ok
}}

// BenchmarkCompile is the embedded schema's parse and build, done once
// per worker.
func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		if _, err := Compile(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadSite is one site's load and validation against a compiled
// schema: the benchmark fleet's first host as a single site.
func BenchmarkLoadSite(b *testing.B) {
	s, err := Compile()
	if err != nil {
		b.Fatal(err)
	}
	in := []Input{{Name: "site.cue", Data: fleetgen.Site()}}
	for b.Loop() {
		if _, err := s.Load(in, benchEnv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadFleet validates fleets of 100 and 1,000 hosts, with
// GOMAXPROCS workers (-cpu 1,2 shows the scaling).
func BenchmarkLoadFleet(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			in := []Input{{Name: "fleet.cue", Data: genFleet(n)}}
			for b.Loop() {
				fl, err := LoadFleet(in, benchEnv, FleetOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if len(fl.Hosts) != n {
					b.Fatalf("%d hosts", len(fl.Hosts))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/host")
		})
	}
}

// BenchmarkLoadSiteSettings is BenchmarkLoadSite with immich.settings,
// which a fresh Schema checks against its version's settings definition,
// compiled on first use: "first" is that cost on a fresh Schema, "again"
// a later load with it compiled.
func BenchmarkLoadSiteSettings(b *testing.B) {
	site := append(fleetgen.Site(), []byte("\nimmich: settings: {ffmpeg: {crf: 23, targetAudioCodec: \"aac\"}, trash: days: 10, oauth: {enabled: true, clientSecret: \"oauth-client-secret\"}}\n")...)
	in := []Input{{Name: "site.cue", Data: site}}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			s, err := Compile()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Load(in, benchEnv); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		s, err := Compile()
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Load(in, benchEnv); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSettingsDefinitions compiles every settings definition, as an
// eager Compile would: the cost a load with settings avoids by compiling
// only its version's.
func BenchmarkSettingsDefinitions(b *testing.B) {
	for b.Loop() {
		s, err := Compile()
		if err != nil {
			b.Fatal(err)
		}
		for _, ss := range settingsSchemas {
			if _, err := s.settingsDef(ss); err != nil {
				b.Fatal(err)
			}
		}
	}
}
