// Package pipeline is the one path every render and drift check takes,
// for a single site and for a fleet alike (a site is a fleet of one host
// named "", whose files sit at the top of the output directory):
//
//	resolve and validate (schema.LoadDeployment)
//	  -> render every host in parallel (renderHosts); a fleet --check
//	     compares each host with the disk as it is rendered, keeping
//	     only the bytes that differ (output.Checking)
//	  -> plan the owned directories: overlap refused, --host keeps the
//	     other hosts' files, the fleet index, manifest metadata
//	  -> check both directories, or preflight both and then write both
//	  -> warnings, upgrade notes and the summary, grouped by host
//
// Each guarantee lives in exactly one function here or in output, and
// both shapes of configuration reach it through Run.
package pipeline

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/immich-render/immich-render/internal/gitcheck"
	"github.com/immich-render/immich-render/internal/group"
	"github.com/immich-render/immich-render/internal/output"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
)

// Request is one render or check.
type Request struct {
	Inputs  []schema.Input
	Options schema.Options
	Hosts   []string // --host: only these hosts of a fleet

	Out        string // -o
	SecretsOut string // --secrets-out, or ""
	Check      bool   // compare instead of writing
	ExactModes bool   // with Check: compare modes on disk, not through the manifest
	Force      bool   // take over a non-empty directory without a manifest
	Quiet      bool   // print nothing on success; with Check, nothing at all
	Format     string // with Check: one of CheckFormats ("" is text)

	Tool, Version string // recorded in the manifests

	Stdout, Stderr io.Writer
}

// OverlapError is a request whose output and secrets directories
// overlap: the secrets would end up in the committed tree, or the other
// way round.
type OverlapError struct {
	Out, SecretsOut string
	// ResolvedOut and ResolvedSecretsOut are set when the two overlap
	// only once symbolic links are followed: where each leads.
	ResolvedOut, ResolvedSecretsOut string
}

func (e *OverlapError) Error() string {
	if e.ResolvedOut != "" {
		return fmt.Sprintf("the output directory %s and the secrets directory %s overlap once symbolic links are followed (%s and %s)",
			e.Out, e.SecretsOut, e.ResolvedOut, e.ResolvedSecretsOut)
	}
	return fmt.Sprintf("the output directory %s and the secrets directory %s overlap", e.Out, e.SecretsOut)
}

// Run renders or checks a deployment. It reports whether Check found
// drift; a configuration with problems is a schema.Problems error, and
// nothing is written unless everything could be. A request that cannot be
// carried out as asked is an *OverlapError, schema.ErrHostsOnSite or a
// *schema.UnknownHostsError, for the caller to word.
func Run(req Request) (drift bool, err error) {
	if err := checkOverlap(req.Out, req.SecretsOut); err != nil {
		return false, err
	}
	prog := newProgress(req.Stderr, req.Quiet)
	defer prog.finish()

	// CUE evaluates on one core: the templates parse on the other.
	go render.Prepare()
	dep, err := schema.LoadDeployment(req.Inputs, req.Options, schema.FleetOptions{Hosts: req.Hosts, Progress: prog.step("validated")})
	if err != nil {
		return false, err
	}
	p := &plan{req: req, dep: dep, rendered: map[string]bool{}}
	ropt := renderOptions{Secrets: req.SecretsOut != "", Progress: prog.step("rendered")}
	if req.Check && dep.Fleet {
		// A fleet's rendered trees are most of what a check would hold:
		// each host's files are compared as soon as it is rendered, and
		// only the bytes of those that differ are kept.
		p.early = p.beginCheck()
		defer p.endCheck()
		ropt.Rendered = p.compareHost
	}
	res := renderHosts(dep.Hosts, ropt)
	p.res = res
	for _, h := range res.Hosts {
		p.rendered[h] = true
	}
	if !req.Check {
		// Hold both directories from before they are read until both are
		// written: --host writes back the other hosts' files as they are
		// on disk, so a concurrent --host render of other hosts would be
		// lost, and two renders could otherwise leave -o of one and
		// --secrets-out of the other.
		release, err := p.hold(prog)
		if err != nil {
			return false, err
		}
		defer release()
	}
	if err := p.build(prog); err != nil {
		return false, err
	}
	if p.prev != nil {
		if probs := upgradeProblems(dep.Hosts, p.prev.Meta, req.Out); len(probs) > 0 {
			return false, probs
		}
	}
	if !req.Quiet {
		// A clean --check prints nothing: warnings are the render's.
		for _, line := range formatWarnings(res.Warnings) {
			if !req.Check {
				prog.printf("immich-render: warning: %s\n", line)
			}
		}
		if p.prev != nil {
			for _, block := range upgradeNotes(dep.Hosts, p.prev.Meta) {
				prog.printf("%s", block)
			}
		}
	}
	if req.Check {
		return p.check(prog)
	}
	return false, p.write(prog)
}

// plan is a run's two owned directories and what goes into them.
type plan struct {
	req      Request
	dep      *schema.Deployment
	res      rendered
	rendered map[string]bool  // the hosts this run rendered
	prev     *output.Manifest // -o's manifest from the last render, if any
	kept     []string         // hosts of a fleet that --host leaves as they are
	targets  []target         // -o, then --secrets-out
	held     []*output.Held   // the locked directories of a render, as targets
	// early is a fleet check's, as targets: each host is compared as it
	// is rendered (compareHost), and the rest at the end.
	early []*output.Checking
}

// target is one owned directory and the tree that belongs in it.
type target struct {
	dir    string
	tree   tree.Tree
	opt    output.Options
	header string // printed before its drift
}

func (p *plan) partial() bool { return len(p.req.Hosts) > 0 }

// build completes the trees (the hosts --host keeps, the fleet index) and
// the options of both directories.
func (p *plan) build(prog *progress) error {
	req, res := p.req, &p.res
	if prev, err := output.ReadManifest(req.Out); err == nil {
		p.prev = &prev
	}
	sums := res.Summaries
	if p.partial() && p.prev != nil {
		prog.stage("reading the other hosts")
		for _, s := range FromMeta(p.prev.Meta) {
			if !p.rendered[s.Name] {
				p.kept = append(p.kept, s.Name)
				sums = append(sums, s)
			}
		}
		slices.SortFunc(sums, func(a, b Summary) int { return strings.Compare(a.Name, b.Name) })
	}
	meta := map[string]string{"immichVersion": ""}
	if p.dep.Fleet {
		res.Out.Add(IndexName, Index(sums, pending(p.dep.Names, sums)), 0o644)
		meta = Meta(sums)
	} else {
		meta["immichVersion"] = p.dep.Hosts[0].Config.Immich.Version
		meta["hostGateway"] = p.dep.Hosts[0].Config.Immich.HostGateway
		meta["runtime"] = p.dep.Hosts[0].Config.Immich.Runtime
	}
	var prevMeta map[string]string
	if p.prev != nil {
		prevMeta = p.prev.Meta
	}
	recordDigests(meta, p.dep.Hosts, p.kept, prevMeta)

	opts := p.options(prog)
	for i := range opts {
		opts[i].Meta = meta
	}
	p.targets = []target{{dir: req.Out, tree: res.Out, opt: opts[0]}}
	if req.SecretsOut != "" {
		// Plaintext secrets: git, if SDIR is in a work tree, leaves them
		// (and this file) alone.
		res.Secrets.Add(SecretsIgnore, []byte("*\n"), 0o600)
		p.targets = append(p.targets, target{dir: req.SecretsOut, tree: res.Secrets, opt: opts[1],
			header: fmt.Sprintf("secrets directory %s:\n", req.SecretsOut)})
	}

	// A partial render writes the other hosts' files back as they are on
	// disk, so that the write, which owns and prunes the whole
	// directory, keeps them. A check compares the selected hosts only.
	if p.partial() && !req.Check && len(p.kept) > 0 {
		for i := range p.targets {
			t := &p.targets[i]
			prev, err := output.ReadManifest(t.dir)
			if err != nil {
				continue
			}
			kept, err := readHostFiles(t.dir, prev, p.kept)
			if err != nil {
				return err
			}
			for path, f := range kept {
				t.tree[path] = f
			}
		}
	}
	return nil
}

// options are the output options of -o and, with --secrets-out, of
// SDIR, without the manifest metadata.
func (p *plan) options(prog *progress) []output.Options {
	req := p.req
	onWait := func(dir string) func() {
		if req.Quiet {
			return nil
		}
		return func() { prog.printf("immich-render: waiting for another render of %s to finish\n", dir) }
	}
	opt := output.Options{Force: req.Force, DirMode: 0o755, Tool: req.Tool, Version: req.Version,
		// Git records only 0644 and 0755, so a checkout cannot carry
		// 0640 or 0600: --check compares modes through the manifest,
		// which lists them, unless asked to look at the disk.
		GitModes: req.Check && !req.ExactModes,
		OnWait:   onWait(req.Out)}
	opts := []output.Options{opt}
	if req.SecretsOut != "" {
		sopt := opt
		sopt.DirMode = 0o700
		sopt.RootMode = true      // SDIR itself is 0700, not only what is in it
		sopt.NoDiffContent = true // the same metadata: it is the same deployment
		sopt.OnWait = onWait(req.SecretsOut)
		opts = append(opts, sopt)
	}
	return opts
}

// hold preflights both directories, then locks them, -o first (every
// render takes them in that order, so two cannot wait for each other).
func (p *plan) hold(prog *progress) (release func(), err error) {
	dirs := []string{p.req.Out, p.req.SecretsOut}
	opts := p.options(prog)
	for i, opt := range opts {
		if err := output.Preflight(dirs[i], opt); err != nil {
			return nil, err
		}
	}
	release = func() {
		for _, h := range p.held {
			h.Close()
		}
		p.held = nil
	}
	for i, opt := range opts {
		h, err := output.Hold(dirs[i], opt)
		if err != nil {
			release()
			return nil, err
		}
		p.held = append(p.held, h)
	}
	return release, nil
}

// beginCheck locks both directories for a check (shared), before the
// hosts are rendered, if no render holds them: it never waits (check
// finishes -o before it waits for --secrets-out, as it always did).
func (p *plan) beginCheck() []*output.Checking {
	out := []*output.Checking{output.BeginCheck(p.req.Out)}
	if p.req.SecretsOut != "" {
		out = append(out, output.BeginCheck(p.req.SecretsOut))
	}
	return out
}

// compareHost compares a host's files, as it is rendered, with its
// directories in -o and --secrets-out, dropping the bytes that match.
func (p *plan) compareHost(host string, out, secrets tree.Tree) {
	p.early[0].CompareDir(host, out)
	if len(p.early) > 1 {
		p.early[1].CompareDir(host, secrets)
	}
}

// endCheck releases what beginCheck holds, if check has not.
func (p *plan) endCheck() {
	for _, c := range p.early {
		c.Close()
	}
}

// check compares both directories with the trees and prints the drift
// and what it means on the host.
func (p *plan) check(prog *progress) (bool, error) {
	prog.stage("checking")
	var rep CheckReport
	var changed []changedFile
	var trees []tree.Tree
	text := p.req.Format == "" || p.req.Format == "text"
	for i, t := range p.targets {
		var d output.Drift
		var err error
		if p.early != nil {
			d, err = p.early[i].Finish(t.tree, t.opt)
		} else {
			d, err = output.Check(t.dir, t.tree, t.opt)
		}
		if err != nil {
			return false, err
		}
		if p.partial() {
			d = Scope(d, func(h string) bool { return p.rendered[h] })
		}
		if d.RecordedVersion != "" && rep.ToolVersion == nil {
			rep.ToolVersion = &ToolVersion{Recorded: d.RecordedVersion, Running: p.req.Version}
		}
		trees = append(trees, t.tree)
		if d.Empty() {
			continue
		}
		rep.Drift = true
		role := "out"
		if i > 0 {
			role = "secrets"
		}
		rep.Directories = append(rep.Directories, DirDrift{Dir: t.dir, Role: role, Files: fileDrifts(d, p.dep.Fleet)})
		if p.prev != nil {
			// A check changes nothing: only the changed files' old
			// contents are read, after the comparison.
			paths := func(yield func(string) bool) {
				for _, c := range d.Changed {
					if !yield(c.Path) {
						return
					}
				}
			}
			old, err := readOld(t.dir, paths, p.relPath)
			if err != nil {
				return false, err
			}
			changed = append(changed, changedFiles(d, t.tree, old)...)
		}
		if text && !p.req.Quiet {
			prog.finish()
			fmt.Fprint(p.req.Stdout, t.header)
			d.Format(p.req.Stdout)
		}
	}
	if p.dep.Fleet {
		rep.Hosts = hostDrifts(rep.Directories)
	}
	rep.Actions = p.hostImpact(changed, trees)
	if p.req.Quiet {
		return rep.Drift, nil
	}
	prog.finish()
	if !text {
		return rep.Drift, writeCheck(p.req.Stdout, p.req.Format, rep)
	}
	var b strings.Builder
	formatActions(&b, rep.Actions)
	fmt.Fprint(p.req.Stdout, b.String())
	if tv := rep.ToolVersion; tv != nil && !rep.Drift {
		fmt.Fprintf(p.req.Stderr, "immich-render: no drift: %s was rendered by immich-render %s, and %s renders the same files (a render records the new version)\n", p.req.Out, tv.Recorded, tv.Running)
	}
	return rep.Drift, nil
}

// relPath is q's path inside its host's directory.
func (p *plan) relPath(q string) string {
	_, rel := p.splitHost(q)
	return rel
}

// changedFiles lists the paths of a drift whose bytes differ, for the host
// impact (a mode-only change needs no action).
func changedFiles(d output.Drift, t tree.Tree, old map[string][]byte) []changedFile {
	var out []changedFile
	for _, c := range d.Changed {
		if c.Content || c.Disk != "" {
			out = append(out, changedFile{path: c.Path, old: old[c.Path], new: t[c.Path].Data})
		}
	}
	for _, q := range d.New {
		out = append(out, changedFile{path: q, new: t[q].Data})
	}
	for _, q := range d.Removed {
		if !strings.HasSuffix(q, "/") {
			out = append(out, changedFile{path: q, removed: true})
		}
	}
	return out
}

// SecretsIgnore is the .gitignore of --secrets-out: "*".
const SecretsIgnore = ".gitignore"

// write refuses both directories before changing either, then writes
// them, and says what the changes mean on the host.
func (p *plan) write(prog *progress) (err error) {
	if p.held == nil {
		for _, t := range p.targets {
			if err := output.Preflight(t.dir, t.opt); err != nil {
				return err
			}
		}
	}
	// Whether git would have committed the secrets as they were: an
	// earlier render's, with its .gitignore removed, is exposed even
	// though this one writes the file again.
	var exposed string
	if sdir := p.req.SecretsOut; sdir != "" && !p.req.Quiet {
		if _, err := os.Stat(filepath.Join(sdir, output.ManifestName)); err == nil {
			exposed = gitcheck.Exposed(sdir)
		}
		defer func() {
			if err != nil {
				return
			}
			if exposed == "" {
				exposed = gitcheck.Exposed(sdir)
			}
			if exposed != "" {
				prog.printf("immich-render: warning: %s\n", secretsInGit(sdir, exposed))
			}
		}()
	}
	var changed []changedFile
	var trees []tree.Tree
	for i, t := range p.targets {
		old, err := readOld(t.dir, maps.Keys(t.tree), p.relPath)
		if err != nil {
			return err
		}
		prog.stage(fmt.Sprintf("writing %d files", len(t.tree)))
		var rep output.Report
		var werr error
		if p.held != nil {
			rep, werr = p.held[i].Write(t.tree, t.opt)
		} else {
			rep, werr = output.Write(t.dir, t.tree, t.opt)
		}
		if werr != nil {
			return werr
		}
		trees = append(trees, t.tree)
		for _, q := range rep.Written {
			changed = append(changed, changedFile{path: q, old: old[q], new: t.tree[q].Data})
		}
		for _, q := range rep.Removed {
			if !strings.HasSuffix(q, "/") {
				changed = append(changed, changedFile{path: q, removed: true})
			}
		}
		if p.req.Quiet {
			continue
		}
		line := rep.String()
		if i == 0 && p.dep.Fleet {
			line += " (" + hostCount(len(p.res.Hosts), len(p.kept)) + ")"
		}
		prog.printf("%s: %s\n", t.dir, line)
		if rep.Method == output.InPlace {
			prog.printf("%s: %s\n", t.dir, inPlaceNote(rep.InPlace))
		}
	}
	// A first render has nothing deployed to act on: README.md says how
	// to deploy it.
	if p.req.Quiet || p.prev == nil {
		return nil
	}
	var b strings.Builder
	formatActions(&b, p.hostImpact(changed, trees))
	if b.Len() > 0 {
		prog.printf("%s", b.String())
	}
	return nil
}

// inPlaceNote says that a write replaced DIR's files one by one rather
// than swapping the whole tree, and why: a render killed there leaves
// every file whole, but some old and some new.
func inPlaceNote(why string) string {
	if why == "" {
		why = "it cannot be swapped"
	}
	return "files replaced one by one, not as one tree (" + why + "): a render cut short there leaves some files old and some new"
}

// secretsInGit is the warning for a --secrets-out that git does not ignore.
func secretsInGit(sdir, worktree string) string {
	return fmt.Sprintf("--secrets-out %s holds plaintext secrets and is inside the git work tree %s, which does not ignore it "+
		"(is %s missing, or are its files tracked?): `git add -A` would commit them. "+
		"Keep the secrets outside the repository, or check `git status` and `git rm -r --cached %s`",
		sdir, worktree, filepath.Join(sdir, SecretsIgnore), sdir)
}

// pending lists the hosts of the configuration that the index has no row
// for: a partial render never rendered them.
func pending(names []string, sums []Summary) []string {
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

func hostCount(rendered, kept int) string {
	s := group.Plural(rendered, "host") + " rendered"
	if kept > 0 {
		s += fmt.Sprintf(", %s kept", group.Plural(kept, "other host"))
	}
	return s
}
