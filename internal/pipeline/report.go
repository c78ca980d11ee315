package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/immich-render/immich-render/internal/group"
	"github.com/immich-render/immich-render/internal/output"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// CheckFormats are the values of --check --format: text (diffs), json
// (CheckReport), stat (one line per file) and names (one path per line).
var CheckFormats = []string{"text", "json", "stat", "names"}

// CheckReport is what --check --format json prints; docs/cli.md describes
// it field by field, and a testscript pins it.
type CheckReport struct {
	Drift bool `json:"drift"`
	// ToolVersion is set when a directory was rendered by another
	// immich-render version that produced the same files: no drift.
	ToolVersion *ToolVersion `json:"toolVersion,omitempty"`
	Directories []DirDrift   `json:"directories"`
	Hosts       []HostDrift  `json:"hosts,omitempty"` // a fleet's hosts that drifted
	Actions     []Action     `json:"actions"`
}

// ToolVersion is the version a manifest records and the running one.
type ToolVersion struct {
	Recorded string `json:"recorded"`
	Running  string `json:"running"`
}

// DirDrift is the drift of one owned directory.
type DirDrift struct {
	Dir   string      `json:"dir"`  // as given on the command line
	Role  string      `json:"role"` // "out" (-o) or "secrets" (--secrets-out)
	Files []FileDrift `json:"files"`
}

// FileDrift is one path that differs.
type FileDrift struct {
	Path string `json:"path"`           // relative to the directory
	Host string `json:"host,omitempty"` // the fleet host it belongs to
	// Status is "added", "changed", "removed" or "mode" (the bytes are
	// the same, only the mode differs).
	Status       string `json:"status"`
	OldMode      string `json:"oldMode,omitempty"`
	NewMode      string `json:"newMode,omitempty"`
	LinesAdded   int    `json:"linesAdded"`
	LinesRemoved int    `json:"linesRemoved"`
}

// HostDrift counts one fleet host's files by status.
type HostDrift struct {
	Name    string `json:"name"`
	Added   int    `json:"added"`
	Changed int    `json:"changed"`
	Removed int    `json:"removed"`
	Mode    int    `json:"mode"`
}

// fileDrifts lists a drift's paths with their status.
func fileDrifts(d output.Drift, fleet bool) []FileDrift {
	var out []FileDrift
	host := func(p string) string {
		if fleet {
			return HostOf(p)
		}
		return ""
	}
	for _, c := range d.Changed {
		f := FileDrift{Path: c.Path, Host: host(c.Path), Status: "changed"}
		if c.OldMode != c.NewMode {
			f.OldMode, f.NewMode = fmt.Sprintf("%04o", c.OldMode), fmt.Sprintf("%04o", c.NewMode)
		}
		if !c.Content && c.Disk == "" {
			f.Status = "mode"
		}
		f.LinesAdded, f.LinesRemoved = diffLines(c.Diff)
		out = append(out, f)
	}
	for _, p := range d.New {
		out = append(out, FileDrift{Path: p, Host: host(p), Status: "added"})
	}
	for _, p := range d.Removed {
		out = append(out, FileDrift{Path: p, Host: host(p), Status: "removed"})
	}
	slices.SortStableFunc(out, func(a, b FileDrift) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// diffLines counts the added and removed lines of a unified diff.
func diffLines(diff string) (added, removed int) {
	for _, l := range strings.Split(diff, "\n") {
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
		case strings.HasPrefix(l, "+"):
			added++
		case strings.HasPrefix(l, "-"):
			removed++
		}
	}
	return added, removed
}

// hostDrifts counts the files of every host that drifted.
func hostDrifts(dirs []DirDrift) []HostDrift {
	by := map[string]*HostDrift{}
	for _, d := range dirs {
		for _, f := range d.Files {
			if f.Host == "" {
				continue
			}
			h := by[f.Host]
			if h == nil {
				h = &HostDrift{Name: f.Host}
				by[f.Host] = h
			}
			switch f.Status {
			case "added":
				h.Added++
			case "changed":
				h.Changed++
			case "removed":
				h.Removed++
			case "mode":
				h.Mode++
			}
		}
	}
	out := make([]HostDrift, 0, len(by))
	for _, h := range by {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(a, b HostDrift) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// writeCheck prints a check's report in a format other than text.
func writeCheck(w io.Writer, format string, r CheckReport) error {
	switch format {
	case "json":
		if r.Directories == nil {
			r.Directories = []DirDrift{}
		}
		if r.Actions == nil {
			r.Actions = []Action{}
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "names":
		var b strings.Builder
		for _, d := range r.Directories {
			for _, f := range d.Files {
				fmt.Fprintln(&b, filepath.ToSlash(filepath.Join(d.Dir, f.Path)))
			}
		}
		_, err := io.WriteString(w, b.String())
		return err
	case "stat":
		var b strings.Builder
		for _, d := range r.Directories {
			for _, f := range d.Files {
				name := filepath.ToSlash(filepath.Join(d.Dir, f.Path))
				switch {
				case f.Status == "mode":
					fmt.Fprintf(&b, "%-8s %s (%s -> %s)\n", f.Status, name, f.OldMode, f.NewMode)
				case f.LinesAdded+f.LinesRemoved > 0:
					fmt.Fprintf(&b, "%-8s %s (+%d -%d)\n", f.Status, name, f.LinesAdded, f.LinesRemoved)
				default:
					fmt.Fprintf(&b, "%-8s %s\n", f.Status, name)
				}
			}
		}
		for _, h := range r.Hosts {
			fmt.Fprintf(&b, "host %s: %d changed, %d added, %d removed, %d mode only\n", h.Name, h.Changed, h.Added, h.Removed, h.Mode)
		}
		fmt.Fprint(&b, statSummary(r))
		formatActions(&b, r.Actions)
		_, err := io.WriteString(w, b.String())
		return err
	}
	return fmt.Errorf("unknown check format %q", format)
}

func statSummary(r CheckReport) string {
	n := map[string]int{}
	for _, d := range r.Directories {
		for _, f := range d.Files {
			n[f.Status]++
		}
	}
	s := fmt.Sprintf("%d changed, %d added, %d removed, %d mode only", n["changed"], n["added"], n["removed"], n["mode"])
	if len(r.Hosts) > 0 {
		s += ", on " + group.Plural(len(r.Hosts), "host")
	}
	return s + "\n"
}

// formatActions prints the host impact for a person: one block per set of
// hosts that need the same actions, so that a fleet's version bump is a
// few lines, not one block per host.
func formatActions(b *strings.Builder, acts []Action) {
	if len(acts) == 0 {
		return
	}
	type hostGroup struct {
		hosts []string
		acts  []Action
	}
	var groups []*hostGroup
	byKey := map[string]*hostGroup{}
	var order []string
	perHost := map[string][]Action{}
	for _, a := range acts {
		if _, ok := perHost[a.Host]; !ok {
			order = append(order, a.Host)
		}
		perHost[a.Host] = append(perHost[a.Host], a)
	}
	for _, h := range order {
		var key strings.Builder
		for _, a := range perHost[h] {
			fmt.Fprintf(&key, "%s\x00%s\x00%s\x00", a.Command, a.Reason, strings.Join(a.Paths, ","))
		}
		g := byKey[key.String()]
		if g == nil {
			g = &hostGroup{acts: perHost[h]}
			byKey[key.String()] = g
			groups = append(groups, g)
		}
		g.hosts = append(g.hosts, h)
	}
	for _, g := range groups {
		switch {
		case len(g.hosts) == 1 && g.hosts[0] == "":
			b.WriteString("on the host, for the changes to take effect:\n")
		case len(g.hosts) == 1:
			fmt.Fprintf(b, "on host %s, for the changes to take effect:\n", g.hosts[0])
		default:
			fmt.Fprintf(b, "on %s (%s), for the changes to take effect:\n", group.Plural(len(g.hosts), "host"), ListHosts(g.hosts, MaxHostsListed))
		}
		for _, a := range g.acts {
			why := strings.Join(a.Paths, ", ")
			if a.Reason != "" {
				why = a.Reason + ": " + why
			}
			fmt.Fprintf(b, "  %-42s # %s\n", a.Command, why)
		}
	}
}

// hostImpact is the host actions for changed paths of a whole deployment,
// paths relative to the owned directory. old reads a path's bytes on disk.
func (p *plan) hostImpact(changed []changedFile, trees []tree.Tree) []Action {
	cfgs := map[string]*schema.Config{}
	for _, h := range p.dep.Hosts {
		cfgs[h.Name] = h.Config
	}
	paths := map[string]map[string]bool{}
	for _, t := range trees {
		for q := range t {
			h, rel := p.splitHost(q)
			if paths[h] == nil {
				paths[h] = map[string]bool{}
			}
			paths[h][rel] = true
		}
	}
	byHost := map[string][]changedFile{}
	var hosts []string
	for _, f := range changed {
		h, rel := p.splitHost(f.path)
		if cfgs[h] == nil {
			continue // the fleet index and the manifest
		}
		if _, ok := byHost[h]; !ok {
			hosts = append(hosts, h)
		}
		f.path = rel
		byHost[h] = append(byHost[h], f)
	}
	slices.Sort(hosts)
	var out []Action
	for _, h := range hosts {
		out = append(out, impact(h, byHost[h], cfgs[h], paths[h])...)
	}
	return out
}

// splitHost splits a path of the owned directory into its host and the
// path inside the host's directory.
func (p *plan) splitHost(q string) (host, rel string) {
	if !p.dep.Fleet {
		return "", q
	}
	h, rel, ok := strings.Cut(q, "/")
	if !ok {
		return "", q
	}
	return h, rel
}

// readOld reads the bytes on disk of those of paths whose impact depends
// on their old contents; a missing file reads as nil.
func readOld(dir string, paths iter.Seq[string], hostRel func(string) string) (map[string][]byte, error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, nil // the write or check reports it
	}
	defer root.Close()
	old := map[string][]byte{}
	for q := range paths {
		if !needsOld(hostRel(q)) {
			continue
		}
		data, err := root.ReadFile(filepath.FromSlash(q))
		if err == nil {
			old[q] = data
		}
	}
	return old, nil
}
