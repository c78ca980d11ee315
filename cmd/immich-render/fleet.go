package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/immich-render/immich-render/fleet"
	"github.com/immich-render/immich-render/output"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
	"github.com/immich-render/immich-render/tree"
)

// fleetRun is a render or check of a fleet configuration (top-level hosts:).
type fleetRun struct {
	inputs     []schema.Input
	opt        schema.Options
	hosts      []string // --host: only these hosts
	out        string
	secretsOut string
	check      bool
	force      bool
	quiet      bool
}

// runFleet renders or checks a fleet: every host (or those of --host)
// validated and rendered in parallel, then written as one owned directory
// with DIR/<name>/ per host and an index README.md. A partial render keeps
// the other hosts' files as they are; a partial check reports only the
// selected hosts and the index.
func runFleet(r fleetRun, stdout, stderr io.Writer) (int, error) {
	defer tuneGC()()
	prog := newProgress(stderr, r.quiet)
	defer prog.finish()

	fl, err := schema.LoadFleet(r.inputs, r.opt, schema.FleetOptions{Hosts: r.hosts, Progress: prog.step("validated")})
	if err != nil {
		return 0, fleetError(err)
	}
	res := fleet.Render(fl.Hosts, fleet.Options{Secrets: r.secretsOut != "", Progress: prog.step("rendered")})
	renderedSet := make(map[string]bool, len(res.Hosts))
	for _, h := range res.Hosts {
		renderedSet[h] = true
	}
	rendered := func(h string) bool { return renderedSet[h] }
	partial := len(r.hosts) > 0

	prev, err := output.ReadManifest(r.out)
	hasPrev := err == nil
	sums := res.Summaries
	var keptHosts []string
	if partial && hasPrev {
		prog.stage("reading the other hosts")
		others, err := r.others(prev, rendered, res.Out)
		if err != nil {
			return 0, err
		}
		for _, s := range others {
			keptHosts = append(keptHosts, s.Name)
		}
		sums = append(slices.Clone(sums), others...)
		slices.SortFunc(sums, func(a, b fleet.Summary) int { return strings.Compare(a.Name, b.Name) })
	}
	res.Out.Add(fleet.IndexName, fleet.Index(sums, pending(fl.Names, sums)), 0o644)

	opt := output.Options{Force: r.force, DirMode: 0o755, Tool: "immich-render", Version: Version,
		Meta:   fleet.Meta(sums),
		OnWait: func() { prog.printf("immich-render: waiting for another render of %s to finish\n", r.out) }}
	sopt := opt
	sopt.DirMode = 0o700
	sopt.NoDiffContent = true
	sopt.Meta = nil
	sopt.OnWait = func() { prog.printf("immich-render: waiting for another render of %s to finish\n", r.secretsOut) }

	if !r.quiet {
		// A clean --check prints nothing: warnings are the render's.
		for _, line := range groupWarnings(res.Warnings) {
			if !r.check {
				prog.printf("immich-render: warning: %s\n", line)
			}
		}
		if hasPrev {
			for _, block := range upgradeNotes(fl.Hosts, prev.Meta) {
				prog.printf("%s", block)
			}
		}
	}

	if r.check {
		prog.stage("checking")
		drift, err := output.Check(r.out, res.Out, opt)
		if err != nil {
			return 0, err
		}
		if partial {
			drift = fleet.Scope(drift, rendered)
		}
		code := exitOK
		if !drift.Empty() {
			prog.finish()
			drift.Format(stdout)
			code = exitDrift
		}
		if r.secretsOut != "" {
			sdrift, err := output.Check(r.secretsOut, res.Secrets, sopt)
			if err != nil {
				return 0, err
			}
			if partial {
				sdrift = fleet.Scope(sdrift, rendered)
			}
			if !sdrift.Empty() {
				prog.finish()
				fmt.Fprintf(stdout, "secrets directory %s:\n", r.secretsOut)
				sdrift.Format(stdout)
				code = exitDrift
			}
		}
		return code, nil
	}

	prog.stage(fmt.Sprintf("writing %d files", len(res.Out)))
	rep, err := output.Write(r.out, res.Out, opt)
	if err != nil {
		return 0, err
	}
	if !r.quiet {
		prog.printf("%s: %s (%s)\n", r.out, rep, hostCount(len(res.Hosts), len(keptHosts)))
	}
	if r.secretsOut != "" {
		if partial {
			if sprev, err := output.ReadManifest(r.secretsOut); err == nil {
				kept, err := fleet.KeptSecrets(r.secretsOut, sprev, keptHosts)
				if err != nil {
					return 0, err
				}
				for p, f := range kept {
					res.Secrets[p] = f
				}
			}
		}
		prog.stage(fmt.Sprintf("writing %d secret files", len(res.Secrets)))
		srep, err := output.Write(r.secretsOut, res.Secrets, sopt)
		if err != nil {
			return 0, err
		}
		if !r.quiet {
			prog.printf("%s: %s\n", r.secretsOut, srep)
		}
	}
	return exitOK, nil
}

// others returns the index rows of the hosts a partial run leaves alone,
// from the previous manifest. A render also puts their files, as they are
// on disk, into out, so that writing it keeps them; a check compares the
// selected hosts only and needs the rows alone.
func (r fleetRun) others(prev output.Manifest, rendered func(string) bool, out tree.Tree) ([]fleet.Summary, error) {
	if r.check {
		var others []fleet.Summary
		for _, s := range fleet.FromMeta(prev.Meta) {
			if !rendered(s.Name) {
				others = append(others, s)
			}
		}
		return others, nil
	}
	kept, others, err := fleet.Kept(r.out, prev, rendered)
	if err != nil {
		return nil, err
	}
	for p, f := range kept {
		out[p] = f
	}
	return others, nil
}

// pending lists the hosts of the configuration that the index has no row
// for: a partial render never rendered them.
func pending(names []string, sums []fleet.Summary) []string {
	listed := make(map[string]bool, len(sums))
	for _, s := range sums {
		listed[s.Name] = true
	}
	var out []string
	for _, name := range names {
		if !listed[name] {
			out = append(out, name)
		}
	}
	return out
}

// vetFleet validates every host of a fleet.
func vetFleet(inputs []schema.Input, opt schema.Options) (int, error) {
	defer tuneGC()()
	if _, err := schema.LoadFleet(inputs, opt, schema.FleetOptions{}); err != nil {
		return 0, fleetError(err)
	}
	return exitOK, nil
}

// fleetGCPercent and fleetMemoryLimit tune the garbage collector for a
// fleet run, which allocates a great deal (CUE evaluation, rendering) and
// keeps little of it: fewer, larger collections cost about a fifth less
// CPU than Go's default GOGC=100, and the memory limit keeps the heap
// bounded whatever the fleet's size (past it, collections are frequent
// again). See BENCHMARKS.md.
const (
	fleetGCPercent   = 400
	fleetMemoryLimit = 256 << 20
)

// tuneGC applies the fleet GC settings unless the user set GOGC or
// GOMEMLIMIT, and returns the function that restores the previous ones.
func tuneGC() (restore func()) {
	var undo []func()
	if os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(fleetGCPercent)
		undo = append(undo, func() { debug.SetGCPercent(old) })
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		old := debug.SetMemoryLimit(fleetMemoryLimit)
		undo = append(undo, func() { debug.SetMemoryLimit(old) })
	}
	return func() {
		for _, f := range undo {
			f()
		}
	}
}

// maxHostsListed is how many host names a message lists before "and N more".
const maxHostsListed = 30

// fleetError turns a --host naming no host into a usage error.
func fleetError(err error) error {
	var uh *schema.UnknownHostsError
	if !errors.As(err, &uh) {
		return err
	}
	what := "no host"
	if len(uh.Unknown) > 1 {
		what = "no hosts"
	}
	return usageError{fmt.Sprintf("--host %s: the configuration has %s of that name; its hosts are %s",
		strings.Join(uh.Unknown, ", "), what, listHosts(uh.Known, maxHostsListed))}
}

// listHosts joins host names, at most max of them.
func listHosts(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

func hostCount(rendered, kept int) string {
	s := plural(rendered, "host") + " rendered"
	if kept > 0 {
		s += fmt.Sprintf(", %s kept", plural(kept, "other host"))
	}
	return s
}

// groupWarnings prints each warning once, with the hosts it concerns.
func groupWarnings(ws []fleet.Warning) []string {
	var order []string
	hosts := map[string][]string{}
	for _, w := range ws {
		if _, ok := hosts[w.Text]; !ok {
			order = append(order, w.Text)
		}
		hosts[w.Text] = append(hosts[w.Text], w.Host)
	}
	var out []string
	for _, text := range order {
		h := hosts[text]
		if len(h) == 1 {
			out = append(out, h[0]+": "+text)
		} else {
			out = append(out, fmt.Sprintf("%s (hosts %s)", text, listHosts(h, 10)))
		}
	}
	return out
}

// upgradeNotes compares each host's Immich version with the one the last
// render recorded, and says what each change crosses, once per change.
func upgradeNotes(hosts []schema.FleetHost, prevMeta map[string]string) []string {
	var order []string
	byNotes := map[string][]string{}
	for _, h := range hosts {
		notes := render.UpgradeNotes(prevMeta["hosts."+h.Name+".immichVersion"], h.Config.Immich.Version)
		if notes == nil {
			continue
		}
		key := strings.Join(notes, "\n  ")
		if _, ok := byNotes[key]; !ok {
			order = append(order, key)
		}
		byNotes[key] = append(byNotes[key], h.Name)
	}
	var out []string
	for _, key := range order {
		out = append(out, fmt.Sprintf("upgrade notes for %s:\n  %s\n", listHosts(byNotes[key], 10), key))
	}
	return out
}

// progress shows, on a terminal only, how far a long fleet run is: a
// status line on stderr, redrawn ten times a second once the run has
// taken more than a second. Everything else the run prints to stderr goes
// through printf, which clears the line first. Without a terminal, or with
// --quiet, it prints nothing of its own.
type progress struct {
	w       io.Writer
	enabled bool
	start   time.Time

	mu                sync.Mutex
	label             string
	done, total       int
	shown, stopped    bool
	stop              chan struct{}
	wg                sync.WaitGroup
	progressInterval  time.Duration
	progressThreshold time.Duration
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, start: time.Now(), progressInterval: 100 * time.Millisecond, progressThreshold: time.Second}
	if quiet || !isTerminal(w) {
		return p
	}
	p.enabled = true
	p.label = "validating"
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go p.loop()
	return p
}

// isTerminal reports whether w is a terminal (a character device; TERM is
// not "dumb").
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func (p *progress) loop() {
	defer p.wg.Done()
	t := time.NewTicker(p.progressInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if time.Since(p.start) < p.progressThreshold {
				continue
			}
			p.mu.Lock()
			line := "immich-render: " + p.label
			if p.total > 0 {
				line += fmt.Sprintf(" %d/%d hosts", p.done, p.total)
			}
			fmt.Fprintf(p.w, "\r%s\x1b[K", line)
			p.shown = true
			p.mu.Unlock()
		}
	}
}

// step returns a callback for a stage counted in hosts, or nil when
// nothing is shown.
func (p *progress) step(label string) func(done, total int) {
	if !p.enabled {
		return nil
	}
	return func(done, total int) {
		p.mu.Lock()
		p.label, p.done, p.total = label, done, total
		p.mu.Unlock()
	}
}

// stage names a stage that is not counted.
func (p *progress) stage(label string) {
	p.mu.Lock()
	p.label, p.done, p.total = label, 0, 0
	p.mu.Unlock()
}

// printf prints a message, clearing the status line first.
func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format, args...)
}

func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// finish stops the status line and clears it. It may be called again.
func (p *progress) finish() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.stop)
	p.wg.Wait()
	p.mu.Lock()
	p.clear()
	p.mu.Unlock()
}
