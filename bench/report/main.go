// Command report turns the raw measurements of bench/run.sh into
// BENCHMARKS.md: the machine, the targets beside the medians,
// every measurement, the baselines side by side and the commands, followed
// by bench/analysis.md (what limits the targets that are missed).
package main

import (
	"bufio"
	"cmp"
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
	wall, cpu, rss   float64 // medians
	maxRSS, min, max float64
}

func main() {
	results := flag.String("results", "bench/results.tsv", "raw measurements `FILE`")
	machine := flag.String("machine", "bench/machine.txt", "machine description `FILE`")
	analysis := flag.String("analysis", "bench/analysis.md", "analysis `FILE` appended to the report")
	out := flag.String("o", "BENCHMARKS.md", "report `FILE`")
	flag.Parse()

	samples := map[string][]sample{}
	f, err := os.Open(*results)
	must(err)
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
	f.Close()
	st := map[string]stat{}
	for name, ss := range samples {
		st[name] = summarize(ss)
	}
	m := readMachine(*machine)
	note, err := os.ReadFile(*analysis)
	must(err)

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench-cli` (bench/run.sh, bench/report) on %s. Every figure is the\n", m["date"])
	w("median of several runs of a whole process (%s); CPU is user + system time,\n", runs(m["runs"]))
	w("memory the peak resident set (GNU time). All tools ran in the same run, on the same disk.\n")
	w("The Go benchmarks (`make bench`) measure the same work in memory; see the analysis below.\n\n")

	w("## Machine\n\n| | |\n|---|---|\n")
	for _, k := range []string{"nproc", "cpu", "mem", "disk", "kernel", "go", "cue", "ansible", "python", "load_before", "load_after"} {
		label := map[string]string{"nproc": "CPUs (nproc)", "cpu": "CPU", "mem": "Memory", "disk": "Disk (work directory)", "kernel": "Kernel",
			"go": "Go", "cue": "cue CLI", "ansible": "Ansible", "python": "Python", "load_before": "Load average before", "load_after": "Load average after"}[k]
		w("| %s | %s |\n", label, m[k])
	}
	w("\nThe machine is shared: other work was running (see the load averages), so single runs vary;\n")
	w("the medians and the baselines measured beside them are what to compare.\n\n")

	// The targets.
	type target struct {
		what, goal, measured string
		met                  bool
		ok                   bool // measured at all
	}
	var ts []target
	add := func(what, goal string, measured string, met, ok bool) {
		ts = append(ts, target{what, goal, measured, met, ok})
	}
	single, okSingle := st["single_render"]
	cue1, okCue1 := st["cue_export_1"]
	wf1, okWf1 := st["writefiles_1"]
	if okSingle {
		extra := ""
		if okCue1 && okWf1 {
			extra = fmt.Sprintf(" (cue export %s, bare writer %s)", ms(cue1.wall), ms(wf1.wall))
		}
		add("Cold single render", "≤ 30 ms", ms(single.wall)+extra, single.wall <= 0.030, true)
		if okCue1 {
			r := single.wall / cue1.wall
			add("… relative to `cue export` of the same schema and site", "≤ 1.8× (30 ms vs 17 ms in the issue)", fmt.Sprintf("%.2f×", r), r <= 30.0/17, true)
		}
	}
	f1000, ok1000 := st["fleet_render_1000"]
	if ok1000 {
		add("1,000 hosts, wall", "≤ 2 s", sec(f1000.wall), f1000.wall <= 2, true)
		add("1,000 hosts, per host", "≤ 2 ms", ms(f1000.wall/1000), f1000.wall/1000 <= 0.002, true)
		add("1,000 hosts, peak memory", "≤ 300 MB", mb(f1000.maxRSS), f1000.maxRSS*1024 <= 300e6, true)
	}
	if c, ok := st["fleet_check_1000"]; ok {
		add("`--check` of 1,000 unchanged hosts", "≤ 1.5 s", sec(c.wall), c.wall <= 1.5, true)
	}
	if f500, ok := st["fleet_render_500"]; ok && ok1000 {
		r := f1000.wall / f500.wall
		add("Linear in hosts (500 → 1,000 hosts, on the disk)", "≤ 2.1× time", fmt.Sprintf("%.2f× (%s → %s)", r, sec(f500.wall), sec(f1000.wall)), r <= 2.1, true)
	}
	t500, ok500 := st["fleet_render_tmpfs_500"]
	t1000, okT1000 := st["fleet_render_tmpfs_1000"]
	if ok500 && okT1000 {
		r := t1000.wall / t500.wall
		add("… on tmpfs, where the disk is out of the picture", "≤ 2.1× time", fmt.Sprintf("%.2f× (%s → %s)", r, sec(t500.wall), sec(t1000.wall)), r <= 2.1, true)
	}
	ans200, ansNote := ansible200(st, m["ansible_hosts"])
	if f200, ok := st["fleet_render_200"]; ok && ans200 > 0 {
		r := ans200 / f200.wall
		add("Faster than Ansible's `template` on 200 hosts", "≥ 500×", fmt.Sprintf("%.0f× (%s vs %s, %s)", r, sec(f200.wall), sec(ans200), ansNote), r >= 500, true)
		if t200, ok := st["fleet_render_tmpfs_200"]; ok {
			r := ans200 / t200.wall
			add("… immich-render on tmpfs", "≥ 500×", fmt.Sprintf("%.0f× (%s)", r, sec(t200.wall)), r >= 500, true)
		}
	}
	if wf, ok := st["writefiles_1000"]; ok && ok1000 {
		r := f1000.wall / wf.wall
		add("Within 3× of a bare write-the-files Go program (1,000 hosts)", "≤ 3×", fmt.Sprintf("%.1f× (%s vs %s)", r, sec(f1000.wall), sec(wf.wall)), r <= 3, true)
		if t, ok := st["writefiles_tmpfs_1000"]; ok && okT1000 {
			r := t1000.wall / t.wall
			add("… both on tmpfs", "≤ 3×", fmt.Sprintf("%.1f× (%s vs %s)", r, sec(t1000.wall), sec(t.wall)), r <= 3, true)
		}
		if ws, ok := st["writefiles_sync_1000"]; ok {
			r := f1000.wall / ws.wall
			add("… against the same writer with fsync and rename per file, as immich-render", "(≤ 3×)", fmt.Sprintf("%.1f× (%s vs %s)", r, sec(f1000.wall), sec(ws.wall)), r <= 3, true)
		}
	}
	w("## Targets (issue 9)\n\n| Target | Goal | Measured | Met |\n|---|---|---|---|\n")
	met := 0
	for _, t := range ts {
		mark := "no"
		if t.met {
			mark = "**yes**"
			met++
		}
		w("| %s | %s | %s | %s |\n", t.what, t.goal, t.measured, mark)
	}
	w("\n%d of %d met. The analysis below says what limits the others.\n\n", met, len(ts))

	w("## All measurements\n\n| Measurement | Runs | Median wall | Range | Median CPU | Peak memory |\n|---|---|---|---|---|---|\n")
	names := make([]string, 0, len(st))
	for n := range st {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(order(a), order(b)) })
	for _, n := range names {
		s := st[n]
		w("| %s | %d | %s | %s–%s | %s | %s |\n", describe(n), s.n, dur(s.wall), dur(s.min), dur(s.max), dur(s.cpu), mb(s.maxRSS))
	}
	w("\n")

	w("## Side by side\n\n| Work | immich-render | `cue export` (validation only, one JSON) | bare writer | bare writer, fsync + rename | Ansible `template` |\n|---|---|---|---|---|---|\n")
	row := func(label, ir, cueName, wfName, wfsName, ans string) {
		get := func(n string) string {
			if s, ok := st[n]; ok {
				return dur(s.wall)
			}
			return "–"
		}
		a := "–"
		if ans != "" {
			a = ans
		}
		w("| %s | %s | %s | %s | %s | %s |\n", label, get(ir), get(cueName), get(wfName), get(wfsName), a)
	}
	row("1 host", "single_render", "cue_export_1", "writefiles_1", "writefiles_sync_1", perHost(st, m["ansible_hosts"], 1))
	row("100 hosts", "fleet_render_100", "cue_export_100", "writefiles_100", "", perHost(st, m["ansible_hosts"], 100))
	row("200 hosts", "fleet_render_200", "", "writefiles_200", "", perHost(st, m["ansible_hosts"], 200))
	row("1,000 hosts", "fleet_render_1000", "cue_export_1000", "writefiles_1000", "writefiles_sync_1000", perHost(st, m["ansible_hosts"], 1000))
	w("\nAnsible figures for more hosts than were measured (%s) are extrapolated: %s.\n\n", m["ansible_hosts"], ansNote)

	w("## Commands\n\n```sh\n")
	w("go run ./bench/gen -o GEN -fleets 100,200,500,1000 -cue 1,100,1000 -ansible %s\n", strings.ReplaceAll(m["ansible_hosts"], " ", ","))
	w("immich-render -q -c GEN/site.cue -o DIR                      # single_render (DIR new)\n")
	w("immich-render -q -c GEN/site.cue -o DIR --check              # single_check\n")
	w("immich-render -q -c GEN/fleet-N.cue -o DIR                   # fleet_render_N (DIR new), fleet_rerender_1000 (again)\n")
	w("immich-render -q -c GEN/fleet-1000.cue -o DIR --check        # fleet_check_1000\n")
	w("immich-render vet -q -c GEN/fleet-1000.cue                   # fleet_vet_1000 (and with GOGC=100)\n")
	w("cue export GEN/cue-N/*.cue -e hosts --out json               # cue_export_N (cue %s)\n", strings.TrimPrefix(m["cue"], "cue version "))
	w("writefiles -list LIST -o DIR [-sync file]                    # writefiles[_sync]_N, LIST from the rendered tree\n")
	w("ansible-playbook -f 2 -i GEN/inventory-N.yml bench/ansible/render.yml -e out_dir=DIR   # ansible_N\n")
	w("```\n\n")
	b.Write(note)
	must(os.WriteFile(*out, []byte(b.String()), 0o644))
}

// runs says how many runs each kind of measurement had.
func runs(s string) string {
	f := strings.Split(s, "/")
	if len(f) != 4 {
		return "runs: " + s
	}
	return fmt.Sprintf("%s runs of a single site, %s of fleets up to 500 hosts, %s of 1,000 hosts, %s of Ansible", f[0], f[1], f[2], f[3])
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
		rss: med(func(s sample) float64 { return s.rss }), min: ss[0].wall, max: ss[0].wall}
	for _, x := range ss {
		s.maxRSS = max(s.maxRSS, x.rss)
		s.min = min(s.min, x.wall)
		s.max = max(s.max, x.wall)
	}
	return s
}

// ansibleSizes returns the measured Ansible fleet sizes, ascending.
func ansibleSizes(hosts string) []int {
	var out []int
	for _, f := range strings.Fields(hosts) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// ansibleModel fits t = fixed + perHost × n through the two largest
// measured sizes (or through the origin with one size).
func ansibleModel(st map[string]stat, hosts string) (fixed, perHost float64, note string, ok bool) {
	var ns []int
	for _, n := range ansibleSizes(hosts) {
		if _, ok := st[fmt.Sprintf("ansible_%d", n)]; ok {
			ns = append(ns, n)
		}
	}
	switch len(ns) {
	case 0:
		return 0, 0, "Ansible not measured", false
	case 1:
		t := st[fmt.Sprintf("ansible_%d", ns[0])].wall
		return 0, t / float64(ns[0]), fmt.Sprintf("%s per host from %d hosts", sec(t/float64(ns[0])), ns[0]), true
	}
	a, b := ns[len(ns)-2], ns[len(ns)-1]
	ta, tb := st[fmt.Sprintf("ansible_%d", a)].wall, st[fmt.Sprintf("ansible_%d", b)].wall
	perHost = (tb - ta) / float64(b-a)
	fixed = tb - perHost*float64(b)
	if perHost <= 0 || fixed < 0 {
		// Noise: no fixed cost to speak of.
		perHost, fixed = tb/float64(b), 0
		return fixed, perHost, fmt.Sprintf("%s per host, from %d hosts with 2 forks (%d hosts took %s)", sec(perHost), b, a, sec(ta)), true
	}
	return fixed, perHost, fmt.Sprintf("%s + %s per host, from %d and %d hosts with 2 forks", sec(fixed), sec(perHost), a, b), true
}

func ansible200(st map[string]stat, hosts string) (float64, string) {
	fixed, per, note, ok := ansibleModel(st, hosts)
	if !ok {
		return 0, note
	}
	return fixed + 200*per, "Ansible extrapolated: " + note
}

func perHost(st map[string]stat, hosts string, n int) string {
	for _, m := range ansibleSizes(hosts) {
		if s, ok := st[fmt.Sprintf("ansible_%d", m)]; ok && m == n {
			return dur(s.wall)
		}
	}
	fixed, per, _, ok := ansibleModel(st, hosts)
	if !ok {
		return ""
	}
	return "≈ " + dur(fixed+per*float64(n)) + " (extrapolated)"
}

// order sorts measurements by kind, then size.
func order(name string) string {
	kind, size := name, 0
	if i := strings.LastIndexByte(name, '_'); i >= 0 {
		if n, err := strconv.Atoi(name[i+1:]); err == nil {
			kind, size = name[:i], n
		}
	}
	rank := map[string]string{"single_render": "a", "single_check": "b", "fleet_render": "c", "fleet_rerender": "d", "fleet_check": "e",
		"fleet_vet": "f", "fleet_vet_gogc100": "g", "fleet_render_tmpfs": "h", "cue_export": "i", "writefiles": "j", "writefiles_sync": "k", "writefiles_tmpfs": "ka", "ansible": "l"}[kind]
	if rank == "" {
		rank = "z" + kind
	}
	return fmt.Sprintf("%s%06d", rank, size)
}

func describe(name string) string {
	d := map[string]string{
		"single_render":           "immich-render, single site, new DIR",
		"single_check":            "immich-render --check, single site, unchanged",
		"fleet_render_100":        "immich-render, 100 hosts, new DIR",
		"fleet_render_200":        "immich-render, 200 hosts, new DIR",
		"fleet_render_500":        "immich-render, 500 hosts, new DIR",
		"fleet_render_1000":       "immich-render, 1,000 hosts, new DIR",
		"fleet_rerender_1000":     "immich-render, 1,000 hosts, unchanged DIR",
		"fleet_check_1000":        "immich-render --check, 1,000 hosts, unchanged",
		"fleet_vet_1000":          "immich-render vet, 1,000 hosts (validation only)",
		"fleet_vet_gogc100_1000":  "… with GOGC=100 (Go's default GC)",
		"fleet_render_tmpfs_200":  "immich-render, 200 hosts, new DIR on tmpfs",
		"fleet_render_tmpfs_500":  "immich-render, 500 hosts, new DIR on tmpfs",
		"fleet_render_tmpfs_1000": "immich-render, 1,000 hosts, new DIR on tmpfs",
		"writefiles_tmpfs_1000":   "bare writer, files of 1,000 hosts, on tmpfs",
		"cue_export_1":            "cue export, 1 host",
		"cue_export_100":          "cue export, 100 hosts",
		"cue_export_1000":         "cue export, 1,000 hosts",
		"writefiles_1":            "bare writer, files of 1 host",
		"writefiles_sync_1":       "bare writer with fsync + rename, 1 host",
		"writefiles_100":          "bare writer, files of 100 hosts",
		"writefiles_200":          "bare writer, files of 200 hosts",
		"writefiles_500":          "bare writer, files of 500 hosts",
		"writefiles_1000":         "bare writer, files of 1,000 hosts",
		"writefiles_sync_1000":    "bare writer with fsync + rename, 1,000 hosts",
	}[name]
	if d == "" {
		if n, ok := strings.CutPrefix(name, "ansible_"); ok {
			return "Ansible template, " + n + " hosts, 2 forks"
		}
		return name
	}
	return d
}

func readMachine(path string) map[string]string {
	m := map[string]string{}
	data, err := os.ReadFile(path)
	must(err)
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func ms(s float64) string  { return fmt.Sprintf("%.1f ms", s*1000) }
func sec(s float64) string { return fmt.Sprintf("%.2f s", s) }
func dur(s float64) string {
	if s < 1 {
		return ms(s)
	}
	return sec(s)
}
func mb(kib float64) string { return fmt.Sprintf("%.0f MB", kib*1024/1e6) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}
