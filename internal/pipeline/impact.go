package pipeline

import (
	"bufio"
	"bytes"
	"path"
	"slices"
	"strings"

	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
)

// Action is one thing the host must do for a change to take effect, such
// as "systemctl restart immich.service", and the rendered paths that call
// for it. It is what a render and --check print under "on the host", and
// the "actions" of --check --format json.
type Action struct {
	Host    string   `json:"host,omitempty"` // a fleet's host; "" for a site
	Verb    string   `json:"action"`         // see the verbs below
	Target  string   `json:"target"`         // a systemd unit, or "systemd"
	Command string   `json:"command"`        // what to run on the host
	Reason  string   `json:"reason,omitempty"`
	Paths   []string `json:"paths"` // the changed paths, relative to the host's directory

	step int // when it is done: see the steps below
}

// The steps, in the order an operator takes them: merge the fragments,
// reload systemd, the host's shared services, the database init, the
// remaining units, Immich last (it needs the others).
const (
	stepMerge = iota
	stepDaemonReload
	stepHostService
	stepDBInit
	stepUnit
	stepImmich
)

// The verbs, in the order they are to be done.
const (
	VerbMerge        = "merge"         // run fragments/apply.sh
	VerbDaemonReload = "daemon-reload" // systemctl daemon-reload
	VerbRestart      = "restart"
	VerbReload       = "reload"
)

// changedFile is a path whose bytes a render changes (added, changed or
// removed), relative to its host's directory. old is what is on disk, read
// only for the paths whose rule looks at the contents (see needsOld).
type changedFile struct {
	path     string
	old, new []byte
	removed  bool
}

// impactRule maps rendered paths to actions: the one table of what a
// change means on the host. pattern is a path.Match pattern, or a suffix
// when it starts with "*/" (projectDir moves the compose file).
type impactRule struct {
	pattern string
	actions func(f changedFile, cfg *schema.Config, tree map[string]bool) []Action
}

var impactRules = []impactRule{
	{"rootfs/etc/systemd/system/*", unitChanged},
	{"rootfs/etc/containers/systemd/*", func(f changedFile, _ *schema.Config, _ map[string]bool) []Action {
		// Podman's generator makes the units again at daemon-reload.
		return []Action{daemonReload(), restart(render.ImmichUnit, "")}
	}},
	{"*/docker-compose.yml", restartImmich},
	{"*/secrets/*", restartImmich},
	{"*/config/*", restartImmich},
	{"*/postgres/init.sql", func(changedFile, *schema.Config, map[string]bool) []Action {
		return []Action{restart(render.DBInitUnit, "applies init.sql again (it is idempotent)")}
	}},
	{"rootfs/etc/valkey/users.acl", func(_ changedFile, cfg *schema.Config, _ map[string]bool) []Action {
		return []Action{{Verb: VerbReload, Target: cfg.Host.ValkeyService, Command: "valkey-cli ACL LOAD", Reason: "Valkey reads users.acl again on ACL LOAD", step: stepHostService}}
	}},
	{"rootfs/etc/nginx/*", nginxReload},
	{"rootfs/etc/nginx/*/*", nginxReload},
	{"fragments/postgresql/postgresql.conf", func(f changedFile, cfg *schema.Config, _ map[string]bool) []Action {
		svc := cfg.Host.PostgresService
		if keys := changedSettings(f, "shared_preload_libraries", "listen_addresses"); len(keys) > 0 {
			return []Action{merge(), {Verb: VerbRestart, Target: svc, Command: "systemctl restart " + svc,
				Reason: strings.Join(keys, " and ") + " changed; PostgreSQL reads them only at start", step: stepHostService}}
		}
		return []Action{merge(), {Verb: VerbReload, Target: svc, Command: "systemctl reload " + svc, step: stepHostService}}
	}},
	{"fragments/postgresql/pg_hba.conf", func(_ changedFile, cfg *schema.Config, _ map[string]bool) []Action {
		svc := cfg.Host.PostgresService
		return []Action{merge(), {Verb: VerbReload, Target: svc, Command: "systemctl reload " + svc, step: stepHostService}}
	}},
	{"fragments/valkey/*", func(_ changedFile, cfg *schema.Config, _ map[string]bool) []Action {
		svc := cfg.Host.ValkeyService
		return []Action{merge(), {Verb: VerbRestart, Target: svc, Command: "systemctl restart " + svc, Reason: "Valkey binds its addresses only at start", step: stepHostService}}
	}},
}

// needsOld reports whether the rule for p compares the old contents.
func needsOld(p string) bool {
	return p == "fragments/postgresql/postgresql.conf"
}

func (r impactRule) matches(p string) bool {
	if suffix, ok := strings.CutPrefix(r.pattern, "*/"); ok {
		if !strings.HasPrefix(p, "rootfs/") {
			return false
		}
		ok, _ := path.Match("*/"+suffix, p)
		if ok {
			return true
		}
		for i := 0; i < len(p); i++ {
			if p[i] == '/' {
				if ok, _ := path.Match(suffix, p[i+1:]); ok {
					return true
				}
			}
		}
		return false
	}
	ok, _ := path.Match(r.pattern, p)
	return ok
}

func daemonReload() Action {
	return Action{Verb: VerbDaemonReload, Target: "systemd", Command: "systemctl daemon-reload", step: stepDaemonReload}
}

func merge() Action {
	return Action{Verb: VerbMerge, Target: "fragments/apply.sh", Command: "fragments/apply.sh", Reason: "merges the fragments into the host's configuration", step: stepMerge}
}

func restart(unit, reason string) Action {
	step := stepUnit
	switch unit {
	case render.DBInitUnit:
		step = stepDBInit
	case render.ImmichUnit:
		step = stepImmich
	}
	return Action{Verb: VerbRestart, Target: unit, Command: "systemctl restart " + unit, Reason: reason, step: step}
}

func restartImmich(changedFile, *schema.Config, map[string]bool) []Action {
	return []Action{restart(render.ImmichUnit, "")}
}

func nginxReload(_ changedFile, cfg *schema.Config, _ map[string]bool) []Action {
	svc := cfg.Host.NginxService
	return []Action{{Verb: VerbReload, Target: svc, Command: "systemctl reload " + svc, step: stepHostService}}
}

// unitChanged: every changed unit needs a daemon-reload; a service a
// timer starts takes effect at its next run, anything else restarts.
func unitChanged(f changedFile, _ *schema.Config, tree map[string]bool) []Action {
	unit := path.Base(f.path)
	acts := []Action{daemonReload()}
	if f.removed {
		return acts
	}
	if base, ok := strings.CutSuffix(unit, ".service"); ok && tree[path.Dir(f.path)+"/"+base+".timer"] {
		return acts
	}
	return append(acts, restart(unit, ""))
}

// changedSettings returns which of keys have another value in new than in
// old (a missing file has none).
func changedSettings(f changedFile, keys ...string) []string {
	oldV, newV := settings(f.old), settings(f.new)
	var out []string
	for _, k := range keys {
		if oldV[k] != newV[k] {
			out = append(out, k)
		}
	}
	return out
}

// settings reads "key = value" lines of a postgresql.conf.
func settings(data []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// impact returns the actions for one host's changed files, deduplicated
// (one action per verb and target, with every path that calls for it) and
// in the order they are to be done. tree is the host's rendered paths.
func impact(host string, files []changedFile, cfg *schema.Config, tree map[string]bool) []Action {
	var out []Action
	for _, f := range files {
		for _, r := range impactRules {
			if !r.matches(f.path) {
				continue
			}
			for _, a := range r.actions(f, cfg, tree) {
				i := slices.IndexFunc(out, func(b Action) bool { return b.Verb == a.Verb && b.Target == a.Target })
				if i < 0 {
					a.Host = host
					out = append(out, a)
					i = len(out) - 1
				}
				if a.Reason != "" && out[i].Reason == "" {
					out[i].Reason = a.Reason
				}
				if !slices.Contains(out[i].Paths, f.path) {
					out[i].Paths = append(out[i].Paths, f.path)
				}
			}
			break
		}
	}
	// A restart makes a reload of the same unit needless.
	for _, a := range out {
		if a.Verb != VerbReload {
			continue
		}
		if i := slices.IndexFunc(out, func(b Action) bool { return b.Verb == VerbRestart && b.Target == a.Target }); i >= 0 {
			for _, p := range a.Paths {
				if !slices.Contains(out[i].Paths, p) {
					out[i].Paths = append(out[i].Paths, p)
				}
			}
		}
	}
	out = slices.DeleteFunc(out, func(a Action) bool {
		return a.Verb == VerbReload && slices.ContainsFunc(out, func(b Action) bool { return b.Verb == VerbRestart && b.Target == a.Target })
	})
	slices.SortStableFunc(out, func(a, b Action) int {
		if d := a.step - b.step; d != 0 {
			return d
		}
		return strings.Compare(a.Target, b.Target)
	})
	for i := range out {
		slices.Sort(out[i].Paths)
	}
	return out
}
