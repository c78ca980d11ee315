// Command profile runs immich-render's pipeline (load and validate, render,
// write or check) in one process under the CPU profiler, so that a render
// can be profiled as a whole without a profiling flag in the CLI. It does
// what `immich-render -q -c FILE -o DIR [--check]` does for a single site
// or a whole fleet, minus the CLI's messages, and prints how long each
// stage took on stderr.
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
	"os"
	"runtime/pprof"
	"time"

	"github.com/immich-render/immich-render/fleet"
	"github.com/immich-render/immich-render/output"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
	"github.com/immich-render/immich-render/tree"
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

func run(inputs []schema.Input, opt schema.Options, out string, check bool) {
	start := time.Now()
	stage := func(name string) {
		fmt.Fprintf(os.Stderr, "%-9s %6.1f ms\n", name, float64(time.Since(start).Microseconds())/1000)
		start = time.Now()
	}
	var t tree.Tree
	meta := map[string]string{}
	if schema.IsFleet(inputs, opt) {
		fl, err := schema.LoadFleet(inputs, opt, schema.FleetOptions{})
		must(err)
		stage("load")
		res := fleet.Render(fl.Hosts, fleet.Options{})
		res.Out.Add(fleet.IndexName, fleet.Index(res.Summaries, nil), 0o644)
		t, meta = res.Out, fleet.Meta(res.Summaries)
		stage("render")
	} else {
		s, err := schema.Compile()
		must(err)
		stage("compile")
		cfg, err := s.Load(inputs, opt)
		must(err)
		stage("load")
		t = render.Render(cfg).Out
		meta["immichVersion"] = cfg.Immich.Version
		stage("render")
	}
	o := output.Options{DirMode: 0o755, Tool: "immich-render", Version: "profile", Meta: meta}
	if check {
		_, err := output.Check(out, t, o)
		must(err)
		stage("check")
		return
	}
	_, err := output.Write(out, t, o)
	must(err)
	stage("write")
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}
