package schema

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the same zone list on every machine

	"cuelang.org/go/cue/token"
)

// locator returns the input positions of a config path.
type locator func(path []string) []token.Pos

// rule is a check that needs Go, and the config sections it reads.
type rule struct {
	sections []string
	check    func(c *Config, add addFunc)
}

type addFunc func(path, reason, hint string)

// rules are the checks that need Go after the schema: lookups in tables
// and checks across list elements. Each reports in the schema's format.
var rules = []rule{
	{[]string{"immich.timezone"}, func(c *Config, add addFunc) {
		if _, err := time.LoadLocation(c.Immich.Timezone); err != nil || c.Immich.Timezone == "Local" {
			add("immich.timezone", fmt.Sprintf("%q is not a known IANA time zone", c.Immich.Timezone), "an IANA time zone name such as \"Europe/Berlin\" or \"Etc/UTC\"")
		}
	}},
	{[]string{"immich.environment"}, func(c *Config, add addFunc) {
		for _, k := range slices.Sorted(maps.Keys(c.Immich.Environment)) {
			if v := managedEnv(k); v != nil && !v.Replaceable {
				reason, hint := refusedEnvReason(v)
				add("immich.environment."+k, reason, hint)
			} else if strings.ContainsRune(c.Immich.Environment[k], 0) {
				add("immich.environment."+k, "the value contains a NUL byte, which no process environment can hold (podman-compose refuses it)", "a value without NUL bytes")
			}
		}
	}},
	{[]string{"immich.externalLibraries"}, func(c *Config, add addFunc) {
		seen := map[string]int{}
		for i, lib := range c.Immich.ExternalLibraries {
			path := fmt.Sprintf("immich.externalLibraries.%d.containerPath", i)
			if j, dup := seen[lib.ContainerPath]; dup {
				add(path, fmt.Sprintf("%s is also the container path of externalLibraries[%d]", lib.ContainerPath, j), "a distinct containerPath for each library")
			}
			seen[lib.ContainerPath] = i
			if lib.ContainerPath == "/data" || strings.HasPrefix(lib.ContainerPath, "/data/") {
				add(path, "libraries may not be mounted inside /data, Immich's upload location", "a path such as /mnt/external/photos")
			} else if reason := mountCollision(lib.ContainerPath); reason != "" {
				add(path, reason, "a path such as /mnt/external/photos")
			}
		}
	}},
	quadletRule,
	{[]string{"immich.backup.schedule"}, checkBackupSchedule},
	{[]string{"immich.backup"}, checkBackupDirectory},
	{[]string{"immich.settings"}, checkBackupSetting},
	{[]string{"valkey"}, checkACLMode},
	{[]string{"immich.storage"}, checkStorage},
	{[]string{"immich.metrics", "immich.port"}, checkMetrics},
	{[]string{"immich.machineLearning"}, checkRemoteML},
	{[]string{"immich.valkey", "valkey"}, func(c *Config, add addFunc) {
		for _, p := range checkValkey(c, func([]string) []token.Pos { return nil }) {
			add(p.PathString(), p.Reason, p.Hint)
		}
	}},
}

// ownMounts are the container paths immich-server gets from immich-render
// itself, and systemTrees of the container image: a library mounted at,
// over or inside one of them would make Podman refuse the container
// ("duplicate mount destination") or hide what Immich needs.
var (
	ownMounts          = []string{"/etc/localtime", SettingsContainerPath, "/run/secrets"}
	containerSystemDir = []string{"/bin", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/tmp", "/usr"}
)

// mountCollision says why a library cannot be mounted at containerPath, or "".
func mountCollision(p string) string {
	for _, m := range ownMounts {
		switch {
		case p == m:
			return fmt.Sprintf("%s is where immich-render mounts its own file into immich-server", m)
		case strings.HasPrefix(m, p+"/") || p == "/":
			return fmt.Sprintf("a library at %s would cover %s, which immich-render mounts into immich-server", p, m)
		case strings.HasPrefix(p, m+"/"):
			return fmt.Sprintf("%s is inside %s, which immich-render mounts into immich-server", p, m)
		}
	}
	for _, d := range containerSystemDir {
		if p == d || strings.HasPrefix(p, d+"/") {
			return fmt.Sprintf("%s is in the container's %s, which belongs to the image", p, d)
		}
	}
	return ""
}

// checkRules runs every rule on a valid configuration.
func (s *Schema) checkRules(c *Config, l *loaded) Problems {
	return s.runRules(l, func(r rule, add addFunc) { r.check(c, add) })
}

// runRules calls run with each rule of rules and fieldRules and the
// function its problems go to, and returns the problems.
func (s *Schema) runRules(l *loaded, run func(r rule, add addFunc)) Problems {
	var ps Problems
	adder := func(at locator) addFunc {
		return func(path, reason, hint string) {
			p := splitPath(path)
			if hint == schemaHint {
				hint = s.hintIn(l, p)
			}
			ps = append(ps, ProblemAt(p, KindInvalid, reason, hint, at(p)...))
		}
	}
	for _, r := range rules {
		run(r, adder(l.locate))
	}
	for _, r := range fieldRules {
		at := l.locate
		if r.valuePos {
			at = l.locateValue
		}
		run(r.rule, adder(at))
	}
	return ps
}

// checkPartial runs the rules whose sections are valid on their own in a
// configuration that failed elsewhere, so that one run reports every
// problem, not the schema's first and the rules' next time.
func (s *Schema) checkPartial(l *loaded, secrets map[string]Secret) Problems {
	return s.runRules(l, func(r rule, add addFunc) {
		var c Config
		ok := true
		for _, sec := range r.sections {
			ok = ok && l.decodeSection(sec, &c)
		}
		if !ok {
			return
		}
		// A rule that reads secrets runs only when they all resolved.
		resolved := true
		for _, ns := range c.Secrets() {
			s, found := secrets[ns.Path]
			*ns.Secret = s
			// An invalid secret is already reported; the rule must not see it.
			resolved = resolved && found && checkSecret(s.Value) == ""
		}
		if resolved || !slices.Contains(r.sections, "valkey") {
			r.check(&c, add)
		}
	})
}

// checkACLMode refuses other services' users where immich-render does not
// own the users file: they would be silently left out.
func checkACLMode(c *Config, add addFunc) {
	if c.Valkey.ACLMode == ACLModeUser && len(c.Valkey.Users) > 0 {
		add("valkey.users", `valkey.aclMode is "user": immich-render sets only Immich's user, and these users would not be created`,
			`leave valkey.users out and manage those users where the host's aclfile is managed, or set valkey.aclMode to "file"`)
	}
}
