package schema

import (
	"errors"
	"path/filepath"
	"strings"
)

// Deployment is a validated configuration: a fleet of hosts, or a single
// site, which is a fleet of one host whose name is "" (its files go at
// the top of the output directory rather than under DIR/<name>/).
// Everything after loading treats both alike.
type Deployment struct {
	Fleet bool        // the configuration has a top-level hosts: (or defaults:)
	Names []string    // every host of the configuration, sorted; [""] for a site
	Hosts []FleetHost // the validated hosts (all, or those selected), sorted by name
}

// ErrHostsOnSite is a selection of hosts on a single site.
var ErrHostsOnSite = errors.New("a selection of hosts needs a fleet configuration (top-level hosts:); this one is a single site")

// LoadDeployment reads the inputs once, decides whether they describe a
// fleet or a single site, and validates them accordingly. Every problem is
// returned at once as Problems; a selection the configuration cannot
// satisfy is ErrHostsOnSite or an *UnknownHostsError.
func LoadDeployment(inputs []Input, opt Options, sel FleetOptions) (*Deployment, error) {
	inputs = evalJsonnetOnce(inputs, opt)
	// Plain data is read once, and says itself whether it is a fleet.
	plain, isPlain := readPlain(inputs)
	if isPlain && !plain.fleet || !isPlain && !isFleet(inputs, opt) {
		if len(sel.Hosts) > 0 {
			return nil, ErrHostsOnSite
		}
		var host FleetHost
		ok := false
		if isPlain {
			host, ok = plain.load(inputs, opt.withDefaults())
		}
		if !ok {
			s, err := Compile()
			if err != nil {
				return nil, err
			}
			if host, err = s.load(inputs, opt); err != nil {
				return nil, err
			}
		}
		if sel.Progress != nil {
			sel.Progress(1, 1)
		}
		return &Deployment{Names: []string{""}, Hosts: []FleetHost{host}}, nil
	}
	fl, err := LoadFleet(inputs, opt, sel)
	if err != nil {
		return nil, err
	}
	return &Deployment{Fleet: true, Names: fl.Names, Hosts: fl.Hosts}, nil
}

// evalJsonnetOnce evaluates each Jsonnet input once, so that telling a
// fleet from a site and loading it do not run the program twice. An input
// that fails keeps its source: loading it reports why.
func evalJsonnetOnce(inputs []Input, opt Options) []Input {
	out := make([]Input, len(inputs))
	for i, in := range inputs {
		out[i] = in
		switch strings.ToLower(filepath.Ext(in.Name)) {
		case ".jsonnet", ".libsonnet":
			if in.jsonnetOut != nil {
				continue
			}
			if js, err := evalJsonnet(in, opt, inputs); err == nil {
				out[i].jsonnetOut = []byte(js)
			}
		}
	}
	return out
}
