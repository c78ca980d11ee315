package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/bench/fleetgen"
)

// cpuTime is the process's user and system time so far: on a shared
// machine the steadier measure.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFleetScale is the whole CLI, in process and with the process's
// GC settings (tuneGC, the budget's soft limit that follows the live
// heap), at two fleet sizes: its µs/host (and cpu-µs/host, user and system
// time) should be about the same at both.
// Before the soft limit followed the live heap, vet's cost per host at
// 5,000 hosts was twice that at 1,000 (and 4x at 10,000). Render writes
// into a temporary directory (on tmpfs when TMPDIR is one):
//
//	go test -run '^$' -bench FleetScale -benchtime 1x ./cmd/immich-render
func BenchmarkFleetScale(b *testing.B) {
	for k, v := range fleetgen.Env {
		b.Setenv(k, v)
	}
	defer tuneGC()()
	for _, cmd := range []string{"vet", "render"} {
		for _, n := range []int{1000, 5000} {
			b.Run(fmt.Sprintf("%s/hosts=%d", cmd, n), func(b *testing.B) {
				dir := b.TempDir()
				fleet := filepath.Join(dir, "fleet.cue")
				if err := os.WriteFile(fleet, fleetgen.Fleet(n), 0o644); err != nil {
					b.Fatal(err)
				}
				cpu0 := cpuTime(b)
				for i := 0; b.Loop(); i++ {
					args := []string{"vet", "-q", "-c", fleet}
					if cmd == "render" {
						args = []string{"-q", "-c", fleet, "-o", filepath.Join(dir, fmt.Sprint("out", i))}
					}
					var stderr bytes.Buffer
					if code := Main(args, &bytes.Buffer{}, &stderr); code != 0 {
						b.Fatalf("exit %d: %s", code, stderr.String())
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/host")
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N*n), "cpu-µs/host")
			})
		}
	}
}
