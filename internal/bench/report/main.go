// Command report turns the raw measurements of bench/run.sh into
// BENCHMARKS.md: the performance issue's table (immich-render beside its
// reference, the ratio, the target and whether it is met), immich-render
// beside Ansible's template module, every measurement with its median,
// min and max, the machine and the commit, followed by bench/analysis.md
// (what limits the targets that are missed).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// sample is one timed run.
type sample struct {
	wall, cpu float64 // seconds
	rss       float64 // KiB
}

// stat is the summary of a measurement's runs.
type stat struct {
	n                int
	wall, cpu        float64 // medians
	min, max, maxRSS float64
}

func main() {
	results := flag.String("results", "internal/bench/results.tsv", "raw measurements `FILE`")
	machine := flag.String("machine", "internal/bench/machine.txt", "machine description `FILE`")
	analysis := flag.String("analysis", "internal/bench/analysis.md", "analysis `FILE` appended to the report")
	out := flag.String("o", "BENCHMARKS.md", "report `FILE`")
	flag.Parse()

	st := read(*results)
	m := readMachine(*machine)
	note, err := os.ReadFile(*analysis)
	must(err)

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench-cli` (internal/bench/run.sh, internal/bench/report) on %s at commit %s", m["date"], m["commit"])
	if m["quick"] != "" {
		w(", in the quick mode (`BENCH_QUICK=1`: fewer runs, Ansible on fewer hosts)")
	}
	w(".\nEvery figure is a whole process: the median of its runs (%s), with min and max.\n", runs(m["runs"]))
	w("CPU is user + system time (the shell's `time`, to the millisecond), memory the peak resident set\n")
	w("(GNU time). Each immich-render\n")
	w("run and its reference ran side by side, alternating, in the same run on the same disk;\n")
	w("the ratios are what to compare, the machine being shared.\n\n")

	w("## Targets\n\n| Work | immich-render | Reference | Ratio | Target | Met |\n|---|---|---|---|---|---|\n")
	met, total := 0, 0
	row := func(work, ir, ref, ratio, target string, ok, measured bool) {
		mark := "–"
		if measured {
			total++
			mark = "no"
			if ok {
				met++
				mark = "**yes**"
			}
		}
		w("| %s | %s | %s | %s | %s | %s |\n", work, ir, ref, ratio, target, mark)
	}
	pair := func(work, irName, refName, refLabel string, maxRatio float64, maxWall float64) {
		ir, okIR := st[irName]
		ref, okRef := st[refName]
		if !okIR {
			row(work, "not measured", "", "", target(maxRatio, maxWall), false, false)
			return
		}
		refCell, ratioCell, ok := "–", "–", true
		if okRef {
			r := ir.wall / ref.wall
			refCell = refLabel + ": " + cell(ref)
			ratioCell = fmt.Sprintf("%.2f×", r)
			ok = maxRatio == 0 || r <= maxRatio
		} else if maxRatio > 0 {
			ok = false
		}
		if maxWall > 0 {
			ok = ok && ir.wall <= maxWall
		}
		if okRef {
			refCell += ", CPU " + dur(ref.cpu)
		}
		row(work, cell(ir)+", CPU "+dur(ir.cpu), refCell, ratioCell, target(maxRatio, maxWall), ok, true)
	}
	pair("one site, re-render into an unchanged directory", "single_rerender", "cue_compose_1", "`cue export` of a compose-only module for 1 host", 1.0, 0.030)
	pair("200-host fleet, re-render unchanged", "fleet_rerender_200", "cue_compose_200", "`cue export` of 200 hosts' compose", 1.5, 0)
	pair("200-host fleet into an empty directory", "fleet_render_200", "writefiles_200", "a Go program writing the same files with `os.WriteFile`", 3, 0)
	pair("1,000 hosts into an empty directory", "fleet_render_1000", "writefiles_1000", "the same Go writer", 3, 0)
	pair("1,000 hosts into an empty directory on tmpfs (/dev/shm)", "fleet_render_tmpfs_1000", "writefiles_tmpfs_1000", "the same Go writer, on tmpfs", 3, 2)
	// Peak memory: the largest of every 1,000-host run (render, on disk
	// and on tmpfs, and check).
	peak, peakOK := 0.0, false
	for _, n := range []string{"fleet_render_1000", "fleet_render_tmpfs_1000", "fleet_check_1000", "fleet_check_tmpfs_1000"} {
		if f, ok := st[n]; ok {
			peak, peakOK = max(peak, f.maxRSS), true
		}
	}
	if peakOK {
		row("1,000 hosts, peak memory", mb(peak)+" (largest of every 1,000-host run)", "", "", "≤ 150 MB", peak*1024 <= 150e6, true)
	}
	if _, ok := st["fleet_check_tmpfs_1000"]; ok {
		pair("`--check` of 1,000 hosts, unchanged, tmpfs", "fleet_check_tmpfs_1000", "", "", 0, 1.5)
	} else {
		pair("`--check` of 1,000 hosts", "fleet_check_1000", "", "", 0, 1.5)
	}
	// Growth, beside the Go writer's over the same files: on disk, where
	// the file system's own costs grow with the tree, the writer's growth
	// says how much of it is the disk's.
	growth := func(at, ir200, ir1000, wf200, wf1000 string) (string, string, float64, bool) {
		a, okA := st[ir200]
		b, okB := st[ir1000]
		if !okA || !okB {
			return "", "", 0, false
		}
		ref := ""
		if c, okC := st[wf200]; okC {
			if d, okD := st[wf1000]; okD {
				ref = fmt.Sprintf("the Go writer%s: %s → %s, %.2f×", at, dur(c.wall), dur(d.wall), d.wall/c.wall)
			}
		}
		return fmt.Sprintf("%s → %s", dur(a.wall), dur(b.wall)), ref, b.wall / a.wall, true
	}
	if ir, ref, r, ok := growth("", "fleet_render_200", "fleet_render_1000", "writefiles_200", "writefiles_1000"); ok {
		row("cost growth 200 → 1,000 hosts (into an empty directory)", ir, ref, fmt.Sprintf("%.2f×", r), "≤ 5.5×", r <= 5.5, true)
	}
	w("\n%d of %d targets met.\n\n", met, total)
	if ir, ref, r, ok := growth(", on tmpfs", "fleet_render_tmpfs_200", "fleet_render_tmpfs_1000", "writefiles_tmpfs_200", "writefiles_tmpfs_1000"); ok {
		w("Not a target, for the growth row: the same renders into tmpfs (/dev/shm), where the disk is out of\n")
		w("the picture, grow %s, %.2f× (%s).\n\n", ir, r, ref)
	}

	w("## Beside Ansible's `template`\n\n")
	w("bench/ansible/render.yml renders the same files per host with Ansible's `template` module\n")
	w("(local connection, %s forks); immich-render renders the hosts as one fleet into a new directory.\n\n", m["nproc"])
	w("| Hosts | immich-render | Ansible `template` | Ansible / immich-render |\n|---|---|---|---|\n")
	var measuredHosts []int
	for _, f := range strings.Fields(m["ansible_hosts"]) {
		n, err := strconv.Atoi(f)
		must(err)
		measuredHosts = append(measuredHosts, n)
	}
	slices.Sort(measuredHosts)
	for _, n := range []int{1, 50, 200} {
		irName := fmt.Sprintf("fleet_render_%d", n)
		if n == 1 {
			irName = "single_render"
		}
		ir, okIR := st[irName]
		a, okA := st[fmt.Sprintf("ansible_%d", n)]
		ansCell := "–"
		ansWall := 0.0
		switch {
		case okA:
			ansCell, ansWall = cell(a), a.wall
		case len(measuredHosts) > 0:
			// Extrapolated from the largest measured fleet, per host.
			k := measuredHosts[len(measuredHosts)-1]
			if base, ok := st[fmt.Sprintf("ansible_%d", k)]; ok {
				ansWall = base.wall / float64(k) * float64(n)
				ansCell = fmt.Sprintf("~%s (extrapolated from %d host%s)", dur(ansWall), k, plural(k))
			}
		}
		irCell, ratio := "not measured", "–"
		if okIR {
			irCell = cell(ir)
			if ansWall > 0 {
				ratio = fmt.Sprintf("%.0f×", ansWall/ir.wall)
			}
		}
		w("| %d | %s | %s | %s |\n", n, irCell, ansCell, ratio)
	}
	w("\n")

	w("## All measurements\n\n| Measurement | Runs | Median wall | Min | Max | Median CPU | Peak memory |\n|---|---|---|---|---|---|---|\n")
	names := make([]string, 0, len(st))
	for n := range st {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(order(a), order(b)) })
	for _, n := range names {
		s := st[n]
		w("| %s | %d | %s | %s | %s | %s | %s |\n", describe(n), s.n, dur(s.wall), dur(s.min), dur(s.max), dur(s.cpu), mb(s.maxRSS))
	}
	w("\n")

	w("## Machine\n\n| | |\n|---|---|\n")
	for _, k := range []string{"nproc", "cpu", "mem", "disk", "kernel", "go", "cue", "ansible", "commit", "load_before", "load_after"} {
		label := map[string]string{"nproc": "CPUs (nproc)", "cpu": "CPU", "mem": "Memory", "disk": "Disk (work directory)", "kernel": "Kernel",
			"go": "Go", "cue": "cue CLI", "ansible": "Ansible", "commit": "Commit", "load_before": "Load average before", "load_after": "Load average after"}[k]
		w("| %s | %s |\n", label, m[k])
	}
	w("\n## Commands\n\n```sh\n")
	w("go run ./internal/bench/gen -o GEN -fleets 200,1000,... -compose 1,200 -ansible 1,50,200\n")
	w("immich-render -q -c GEN/site.cue -o DIR                 # single_render (DIR new), single_rerender (again)\n")
	w("immich-render -q -c GEN/site.cue -o DIR --check         # single_check\n")
	w("immich-render -q -c GEN/fleet-N.cue -o DIR              # fleet_render_N (DIR new), fleet_rerender_N (again)\n")
	w("immich-render -q -c GEN/fleet-1000.cue -o DIR --check   # fleet_check_1000 (fleet_check_tmpfs_1000: DIR on tmpfs)\n")
	w("cue export GEN/compose-N.cue -e compose --out yaml      # cue_compose_N (%s)\n", m["cue"])
	w("writefiles -list LIST -o DIR                            # writefiles_N, LIST from the rendered tree\n")
	w("ansible-playbook -f %s -i GEN/inventory-N.yml internal/bench/ansible/render.yml -e out_dir=DIR   # ansible_N\n", m["nproc"])
	w("```\n\n")
	b.Write(note)
	must(os.WriteFile(*out, []byte(b.String()), 0o644))
}

func read(path string) map[string]stat {
	samples := map[string][]sample{}
	f, err := os.Open(path)
	must(err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			continue
		}
		var v [4]float64
		for i := range v {
			v[i], err = strconv.ParseFloat(fs[i+1], 64)
			must(err)
		}
		samples[fs[0]] = append(samples[fs[0]], sample{wall: v[0], cpu: v[1] + v[2], rss: v[3]})
	}
	must(sc.Err())
	st := map[string]stat{}
	for name, ss := range samples {
		st[name] = summarize(ss)
	}
	return st
}

func summarize(ss []sample) stat {
	med := func(f func(sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	s := stat{n: len(ss), wall: med(func(s sample) float64 { return s.wall }), cpu: med(func(s sample) float64 { return s.cpu }),
		min: ss[0].wall, max: ss[0].wall}
	for _, x := range ss {
		s.maxRSS = max(s.maxRSS, x.rss)
		s.min = min(s.min, x.wall)
		s.max = max(s.max, x.wall)
	}
	return s
}

// cell is "median (min–max)".
func cell(s stat) string {
	if s.n == 1 {
		return dur(s.wall) + " (1 run)"
	}
	return fmt.Sprintf("%s (%s–%s)", dur(s.wall), dur(s.min), dur(s.max))
}

func target(maxRatio, maxWall float64) string {
	var t []string
	if maxRatio > 0 {
		t = append(t, fmt.Sprintf("≤ %.1f×", maxRatio))
	}
	if maxWall > 0 {
		t = append(t, "≤ "+dur(maxWall))
	}
	return strings.Join(t, ", and ")
}

// runs says how many runs each kind of measurement had.
func runs(s string) string {
	f := strings.Split(s, "/")
	if len(f) != 4 {
		return s
	}
	return fmt.Sprintf("%s of one site, %s of 200 hosts, %s of 1,000 hosts, %s of Ansible", f[0], f[1], f[2], f[3])
}

// order sorts the measurements: one site, then fleets by size, references
// after immich-render.
func order(name string) string {
	i := strings.LastIndexByte(name, '_')
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		n = 1
	}
	kind := 0
	switch {
	case strings.HasPrefix(name, "cue_"):
		kind = 1
	case strings.HasPrefix(name, "writefiles"):
		kind = 2
	case strings.HasPrefix(name, "ansible"):
		kind = 3
	}
	return fmt.Sprintf("%06d %d %s", n, kind, name)
}

func describe(name string) string {
	i := strings.LastIndexByte(name, '_')
	n := name[i+1:]
	if len(n) > 3 {
		n = n[:len(n)-3] + "," + n[len(n)-3:]
	}
	hosts := n + " hosts"
	if n == "1" {
		hosts = "1 host"
	}
	switch {
	case name == "single_render":
		return "immich-render, one site, new DIR"
	case name == "single_rerender":
		return "immich-render, one site, unchanged DIR"
	case name == "single_check":
		return "immich-render --check, one site, unchanged"
	case strings.HasPrefix(name, "fleet_render_tmpfs_"):
		return "immich-render, " + hosts + ", new DIR on tmpfs"
	case strings.HasPrefix(name, "fleet_render_"):
		return "immich-render, " + hosts + ", new DIR"
	case strings.HasPrefix(name, "fleet_rerender_"):
		return "immich-render, " + hosts + ", unchanged DIR"
	case strings.HasPrefix(name, "fleet_check_tmpfs_"):
		return "immich-render --check, " + hosts + ", unchanged, on tmpfs"
	case strings.HasPrefix(name, "fleet_check_"):
		return "immich-render --check, " + hosts + ", unchanged"
	case strings.HasPrefix(name, "cue_compose_"):
		return "cue export, compose-only module, " + hosts
	case strings.HasPrefix(name, "writefiles_tmpfs_"):
		return "Go writer (os.WriteFile), files of " + hosts + ", on tmpfs"
	case strings.HasPrefix(name, "writefiles_"):
		return "Go writer (os.WriteFile), files of " + hosts
	case strings.HasPrefix(name, "ansible_"):
		return "Ansible template, " + hosts
	}
	return name
}

func readMachine(path string) map[string]string {
	m := map[string]string{}
	data, err := os.ReadFile(path)
	must(err)
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func dur(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1f ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}

func mb(kib float64) string { return fmt.Sprintf("%.0f MB", kib*1024/1e6) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}
