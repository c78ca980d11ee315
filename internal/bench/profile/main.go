// Command profile runs immich-render's pipeline (pipeline.Run: load and
// validate, render, write or check) in one process under the CPU profiler,
// so that a render can be profiled as a whole without a profiling flag in
// the CLI. It does what `immich-render -q -c FILE -o DIR [--check]` does,
// for a single site or a whole fleet, and prints how long each run took.
//
//	go run ./bench/profile -c GEN/fleet-200.cue -o DIR -cpuprofile cpu.out
//	go tool pprof -top cpu.out
//
// Start-up (package initialisation) is outside the profile: measure it with
// GODEBUG=inittrace=1 on the immich-render binary.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/immich-render/immich-render/internal/pipeline"
	"github.com/immich-render/immich-render/schema"
)

func main() {
	config := flag.String("c", "", "configuration `FILE` (.cue)")
	out := flag.String("o", "", "output `DIR`")
	check := flag.Bool("check", false, "check DIR instead of writing it")
	cpu := flag.String("cpuprofile", "", "write a CPU profile to `FILE`")
	mem := flag.String("memprofile", "", "write an allocation profile to `FILE`")
	count := flag.Int("n", 1, "run the pipeline `N` times (the profile covers all)")
	flag.Parse()
	if *config == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: profile -c FILE -o DIR [-check] [-cpuprofile FILE] [-memprofile FILE] [-n N]")
		os.Exit(2)
	}
	data, err := os.ReadFile(*config)
	must(err)
	inputs := []schema.Input{{Name: *config, Data: data}}
	opt := schema.Options{LookupEnv: os.LookupEnv, ReadFile: os.ReadFile}
	if *cpu != "" {
		f, err := os.Create(*cpu)
		must(err)
		must(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	for range *count {
		run(inputs, opt, *out, *check)
	}
	if *mem != "" {
		f, err := os.Create(*mem)
		must(err)
		must(pprof.Lookup("allocs").WriteTo(f, 0))
		f.Close()
	}
}

// run is one render or check through the pipeline the command uses.
func run(inputs []schema.Input, opt schema.Options, out string, check bool) {
	start := time.Now()
	_, err := pipeline.Run(pipeline.Request{Inputs: inputs, Options: opt, Out: out, Check: check, Quiet: true,
		Tool: "immich-render", Version: "profile", Stdout: io.Discard, Stderr: os.Stderr})
	must(err)
	fmt.Fprintf(os.Stderr, "run %6.1f ms\n", float64(time.Since(start).Microseconds())/1000)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}
