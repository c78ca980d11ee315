package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/immich-render/immich-render/internal/parallel"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
)

// IndexName is the index README at the top of a fleet directory.
const IndexName = "README.md"

// renderOptions tune renderHosts.
type renderOptions struct {
	// Workers is the number of hosts rendered at once; zero means GOMAXPROCS.
	Workers int
	// Secrets keeps each host's secrets tree; without it they are dropped
	// as soon as a host is rendered, to hold less in memory.
	Secrets bool
	// Progress, when set, is called after each host with the number done
	// and the total, from the worker goroutines.
	Progress func(done, total int)
	// Rendered, when set, is given each host's trees as soon as it is
	// rendered, from the worker goroutines, paths relative to the host's
	// directory. It may drop files' bytes (output.Checking.CompareDir);
	// the trees then go into the result as it leaves them.
	Rendered func(host string, out, secrets tree.Tree)
}

// rendered is the render of every host of a deployment. Out and Secrets
// hold each host's trees under prefix(host) (a site's at the top).
type rendered struct {
	Out       tree.Tree
	Secrets   tree.Tree
	Summaries []Summary     // one per host, in name order
	Warnings  []hostMessage // in host order
	Hosts     []string      // the rendered hosts, in name order
}

// prefix is where a host's files go in the output: DIR/<name>/ for a
// fleet host, the top of DIR for a site (the host named "").
func prefix(host string) string {
	if host == "" {
		return ""
	}
	return host + "/"
}

// renderHosts renders every host, in parallel, into one pair of trees.
func renderHosts(hosts []schema.FleetHost, opt renderOptions) rendered {
	results := make([]render.Result, len(hosts))
	// Hosts whose inputs agree render each shareable file once.
	shared := render.NewShared()
	parallel.ForEach(len(hosts), opt.Workers, func(_, i int) {
		r := render.Render(hosts[i].Config, render.Options{Secrets: opt.Secrets, Shared: shared})
		if !opt.Secrets {
			r.Secrets = nil
		}
		if opt.Rendered != nil {
			opt.Rendered(hosts[i].Name, r.Out, r.Secrets)
		}
		results[i] = r
	}, func(done int) {
		if opt.Progress != nil {
			opt.Progress(done, len(hosts))
		}
	})

	res := rendered{Out: tree.Tree{}, Secrets: tree.Tree{}}
	for i, h := range hosts {
		r := results[i]
		for p, f := range r.Out {
			res.Out[prefix(h.Name)+p] = f
		}
		for p, f := range r.Secrets {
			res.Secrets[prefix(h.Name)+p] = f
		}
		for _, w := range r.Warnings {
			res.Warnings = append(res.Warnings, hostMessage{h.Name, w})
		}
		res.Summaries = append(res.Summaries, Summarize(h.Name, h.Config))
		res.Hosts = append(res.Hosts, h.Name)
		results[i] = render.Result{}
	}
	return res
}

// HostOf returns the host a path of a fleet tree belongs to, or "" for the
// files at the top (the index and the manifest).
func HostOf(p string) string {
	host, _, ok := strings.Cut(p, "/")
	if !ok {
		return ""
	}
	return host
}

// Summary is what the index says about one host. It is also recorded in
// the manifest (see Meta), so that a partial render can list the hosts it
// did not render as they are on disk.
type Summary struct {
	Name            string
	Version         string // the Immich version
	URL             string // where users reach it
	MachineLearning string // the acceleration, or "off"
	Transcoding     string // the acceleration
	Runtime         string // compose or quadlet
	Runs            string // what the host runs, in a few words
}

// Summarize describes a host's configuration for the index.
func Summarize(name string, cfg *schema.Config) Summary {
	im := cfg.Immich
	s := Summary{Name: name, Version: im.Version, MachineLearning: "off", Transcoding: im.Transcoding.Acceleration, Runtime: im.Runtime}
	runs := []string{"immich-server"}
	if im.MachineLearning.Enabled {
		s.MachineLearning = im.MachineLearning.Acceleration
		runs = append(runs, "immich-machine-learning")
	}
	if im.Nginx.Enabled {
		scheme := "https"
		if im.Nginx.TLS == "off" {
			scheme = "http"
		}
		s.URL = fmt.Sprintf("%s://%s/", scheme, im.Nginx.Hostname)
		runs = append(runs, "nginx (TLS "+im.Nginx.TLS+")")
	} else {
		s.URL = fmt.Sprintf("port %d, no proxy", im.Port)
	}
	switch n := len(im.ExternalLibraries); n {
	case 0:
	case 1:
		runs = append(runs, "1 external library")
	default:
		runs = append(runs, fmt.Sprintf("%d external libraries", n))
	}
	s.Runs = strings.Join(runs, ", ")
	if im.Runtime == "quadlet" {
		s.Runs = "Quadlet: " + s.Runs
	}
	return s
}

// metaKeys are the manifest metadata keys of a summary, after
// "hosts.<name>.".
var metaKeys = []string{"immichVersion", "url", "machineLearning", "transcoding", "runs", "runtime"}

func (s *Summary) fields() []*string {
	return []*string{&s.Version, &s.URL, &s.MachineLearning, &s.Transcoding, &s.Runs, &s.Runtime}
}

// Meta returns the manifest metadata of the summaries: for each host,
// hosts.<name>.immichVersion and .runtime (read back for upgrade notes),
// .url, .machineLearning, .transcoding and .runs.
func Meta(sums []Summary) map[string]string {
	m := map[string]string{}
	for _, s := range sums {
		for i, f := range s.fields() {
			m[metaKey(s.Name, metaKeys[i])] = *f
		}
	}
	return m
}

// metaKey is the manifest metadata key of a host's value: hosts.<name>.key
// for a fleet host, key itself for a site (the host named "").
func metaKey(host, key string) string {
	if host == "" {
		return key
	}
	return "hosts." + host + "." + key
}

// FromMeta reads back the summaries a manifest's metadata records, in name
// order. A single-site manifest has none.
func FromMeta(meta map[string]string) []Summary {
	byName := map[string]*Summary{}
	for k, v := range meta {
		rest, ok := strings.CutPrefix(k, "hosts.")
		if !ok {
			continue
		}
		dot := strings.LastIndexByte(rest, '.')
		if dot < 0 || !schema.ValidHostName(rest[:dot]) {
			continue
		}
		name, key := rest[:dot], rest[dot+1:]
		i := slices.Index(metaKeys, key)
		if i < 0 {
			continue
		}
		s := byName[name]
		if s == nil {
			s = &Summary{Name: name}
			byName[name] = s
		}
		*s.fields()[i] = v
	}
	out := make([]Summary, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.Name, b.Name) })
	return out
}
