package schema

import (
	"fmt"
	"maps"
	"slices"

	"strconv"
	"strings"

	"cuelang.org/go/cue"
)

// This file holds the domain facts that several parts of immich-render
// need, each stated once: which fields are secrets, and which environment
// variables of immich-server immich-render sets itself. The schema refuses
// and resolves from these tables, and the renderers render from them.

// SecretField is a configuration field that holds a secret.
type SecretField struct {
	// Path is the field's config path; "*" stands for every element of a list.
	Path string
	// ComposeSecret, File and EnvFile say how Immich gets the secret, for
	// the secrets Immich reads itself: the compose secret's name (mounted
	// at /run/secrets/<name>), its file under <projectDir>/secrets/, and
	// the _FILE variable that points Immich at it.
	ComposeSecret, File, EnvFile string
	// Setting marks a secret inside immich.settings, which another system
	// issues (an OAuth provider, a mail server): it goes into the settings
	// file, which is then a secret file itself, and no length rule applies.
	// The settings definitions generated from Immich's SDK say which
	// settings take one; TestSettingsSecretFields keeps this table in step.
	Setting bool

	// in gives the secrets of a configuration at this field, one per
	// list element where Path has a "*".
	in func(*Config) []*Secret
}

// SecretFields lists every secret of a configuration. Resolution,
// redaction of messages, the compose secrets and their files all read it.
var SecretFields = []SecretField{
	{Path: "immich.postgres.password", ComposeSecret: "immich_db_password", File: "db_password", EnvFile: "DB_PASSWORD_FILE",
		in: func(c *Config) []*Secret { return []*Secret{&c.Immich.Postgres.Password} }},
	{Path: "immich.valkey.password", ComposeSecret: "immich_redis_password", File: "redis_password", EnvFile: "REDIS_PASSWORD_FILE",
		in: func(c *Config) []*Secret { return []*Secret{&c.Immich.Valkey.Password} }},
	{Path: "valkey.adminPassword",
		in: func(c *Config) []*Secret { return []*Secret{&c.Valkey.AdminPassword} }},
	{Path: "valkey.users.*.password", in: func(c *Config) []*Secret {
		out := make([]*Secret, len(c.Valkey.Users))
		for i := range c.Valkey.Users {
			out[i] = &c.Valkey.Users[i].Password
		}
		return out
	}},
	{Path: "immich.settings.notifications.smtp.transport.password", Setting: true, in: settingSecret("notifications.smtp.transport.password")},
	{Path: "immich.settings.oauth.clientSecret", Setting: true, in: settingSecret("oauth.clientSecret")},
}

// ContainerPath is where immich-server reads the secret.
func (f SecretField) ContainerPath() string { return "/run/secrets/" + f.ComposeSecret }

// ImmichSecrets are the secrets Immich reads from files.
func ImmichSecrets() []SecretField {
	var out []SecretField
	for _, f := range SecretFields {
		if f.ComposeSecret != "" {
			out = append(out, f)
		}
	}
	return out
}

// expandSecretPaths lists the concrete secret paths, given the length of
// each list a path ranges over ("valkey.users").
func expandSecretPaths(listLen func(list string) int) []string {
	var out []string
	for _, f := range SecretFields {
		list, rest, ok := strings.Cut(f.Path, ".*.")
		if !ok {
			out = append(out, f.Path)
			continue
		}
		for i := range listLen(list) {
			out = append(out, list+"."+strconv.Itoa(i)+"."+rest)
		}
	}
	return out
}

// secretPathsIn lists the concrete secret paths of a configuration value.
func secretPathsIn(v cue.Value) []string {
	return expandSecretPaths(func(list string) int {
		n := 0
		if it, err := v.LookupPath(cue.ParsePath(list)).List(); err == nil {
			for it.Next() {
				n++
			}
		}
		return n
	})
}

// isSecretPath reports whether a config path (valkey users 3 password),
// or a fleet path to one (hosts nas001 valkey ...; defaults valkey ...),
// is a secret field. The fields of a reference ({env: NAME}) are not
// secrets: they say where the secret is.
func isSecretPath(p []string) bool {
	_, ok := secretField(p)
	return ok
}

// secretField is the SecretFields row of a config path, as isSecretPath
// matches it.
func secretField(p []string) (SecretField, bool) {
	switch {
	case len(p) > 2 && p[0] == fleetHosts:
		p = p[2:]
	case len(p) > 1 && p[0] == fleetDefaults:
		p = p[1:]
	}
	for _, f := range SecretFields {
		pattern := splitPath(f.Path)
		if len(p) != len(pattern) {
			continue
		}
		match := true
		for i, elem := range pattern {
			if elem != p[i] && (elem != "*" || !isIndex(p[i])) {
				match = false
				break
			}
		}
		if match {
			return f, true
		}
	}
	return SecretField{}, false
}

// isIndex reports whether a path element is a list index.
func isIndex(elem string) bool {
	_, err := index(elem)
	return err == nil
}

// SettingsContainerPath is where immich-server reads immich.settings.
const SettingsContainerPath = "/config/immich.json"

// EnvVar is an environment variable of immich-server that immich-render
// manages: it sets it from a configuration field, or refuses it because
// it would bypass one.
type EnvVar struct {
	Name  string
	Field string // the configuration field that controls it, for messages
	// Value is what the compose file sets, and whether it sets it for
	// this configuration; nil for a variable that is only refused.
	Value func(c *Config) (string, bool)
	// Replaceable variables may be set in immich.environment, and the
	// user's value replaces the rendered one; all others are refused there.
	Replaceable bool
}

func always(f func(c *Config) string) func(*Config) (string, bool) {
	return func(c *Config) (string, bool) { return f(c), true }
}

// ManagedEnv is every variable immich-render manages, in the order the
// compose file sets them.
var ManagedEnv = []EnvVar{
	{Name: "TZ", Field: "immich.timezone", Value: always(func(c *Config) string { return c.Immich.Timezone })},
	{Name: "DB_HOSTNAME", Field: "immich.postgres.host", Value: always(func(c *Config) string { return c.Immich.Postgres.Host })},
	{Name: "DB_PORT", Field: "immich.postgres.port", Value: always(func(c *Config) string { return strconv.Itoa(c.Immich.Postgres.Port) })},
	{Name: "DB_USERNAME", Field: "immich.postgres.user", Value: always(func(c *Config) string { return c.Immich.Postgres.User })},
	{Name: "DB_DATABASE_NAME", Field: "immich.postgres.database", Value: always(func(c *Config) string { return c.Immich.Postgres.Database })},
	{Name: "DB_PASSWORD_FILE", Field: "immich.postgres.password", Value: always(func(*Config) string { return SecretFields[0].ContainerPath() })},
	{Name: "DB_VECTOR_EXTENSION", Field: "immich.postgres.vectorExtension", Value: always(func(c *Config) string { return c.Immich.Postgres.VectorExtension })},
	{Name: "REDIS_HOSTNAME", Field: "immich.valkey.host", Value: always(func(c *Config) string { return c.Immich.Valkey.Host })},
	{Name: "REDIS_PORT", Field: "immich.valkey.port", Value: always(func(c *Config) string { return strconv.Itoa(c.Immich.Valkey.Port) })},
	{Name: "REDIS_USERNAME", Field: "immich.valkey.user", Value: always(func(c *Config) string { return c.Immich.Valkey.User })},
	{Name: "REDIS_PASSWORD_FILE", Field: "immich.valkey.password", Value: always(func(*Config) string { return SecretFields[1].ContainerPath() })},
	{Name: "REDIS_DBINDEX", Field: "immich.valkey.db", Value: always(func(c *Config) string { return strconv.Itoa(c.Immich.Valkey.DB) })},
	// nginx reaches the published port on loopback; rootful Podman
	// forwards it from the network's gateway. Immich's documentation
	// tells reverse-proxy users to set this themselves, so a value in
	// immich.environment replaces this one rather than being refused.
	{Name: "IMMICH_TRUSTED_PROXIES", Field: "immich.nginx.enabled", Replaceable: true, Value: func(c *Config) (string, bool) {
		return "127.0.0.1," + c.Immich.Network.Gateway, c.Immich.Nginx.Enabled
	}},
	{Name: "IMMICH_CONFIG_FILE", Field: "immich.settings", Value: func(c *Config) (string, bool) {
		return SettingsContainerPath, c.Immich.Settings != nil
	}},
	// A machine-learning service elsewhere; Immich's default settings
	// read it, and the rendered settings file names it too.
	{Name: "IMMICH_MACHINE_LEARNING_URL", Field: "immich.machineLearning.url", Value: func(c *Config) (string, bool) {
		return c.Immich.MachineLearning.URL, c.Immich.MachineLearning.URL != ""
	}},
	// Prometheus metrics on MetricsPorts. Which metrics: all, or what
	// immich.environment says (Immich reads a list such as "api,host").
	{Name: "IMMICH_TELEMETRY_INCLUDE", Field: "immich.metrics.enabled", Replaceable: true, Value: func(c *Config) (string, bool) {
		return "all", c.Immich.Metrics.Enabled
	}},
	{Name: "DB_PASSWORD", Field: "immich.postgres.password"},
	{Name: "DB_URL", Field: "immich.postgres (its fields)"},
	{Name: "REDIS_PASSWORD", Field: "immich.valkey.password"},
	{Name: "REDIS_URL", Field: "immich.valkey (its fields)"},
	{Name: "REDIS_SOCKET", Field: "immich.valkey (its fields)"},
	{Name: "IMMICH_PORT", Field: "immich.port (the published port; the container always listens on 2283)"},
	{Name: "UPLOAD_LOCATION", Field: "immich.uploadLocation"},
	{Name: "IMMICH_MEDIA_LOCATION", Field: "immich.uploadLocation"},
}

// managedEnv returns the variable's entry, or nil when users may set it
// freely. Any other DB_*_FILE or REDIS_*_FILE would point Immich at a
// secret immich-render does not render, so those are managed too.
func managedEnv(name string) *EnvVar {
	for i := range ManagedEnv {
		if ManagedEnv[i].Name == name {
			return &ManagedEnv[i]
		}
	}
	if strings.HasSuffix(name, "_FILE") && (strings.HasPrefix(name, "DB_") || strings.HasPrefix(name, "REDIS_")) {
		return &EnvVar{Name: name, Field: "the matching immich.postgres or immich.valkey field"}
	}
	return nil
}

// ServerEnv is immich-server's environment: the managed variables this
// configuration sets, in table order (a Replaceable one with the user's
// value when immich.environment has it), then the rest of
// immich.environment, sorted. Every name appears once.
func ServerEnv(c *Config) [][2]string {
	var out [][2]string
	seen := map[string]bool{}
	for _, v := range ManagedEnv {
		if v.Value == nil {
			continue
		}
		val, ok := v.Value(c)
		if user, set := c.Immich.Environment[v.Name]; set && v.Replaceable {
			val, ok = user, true
		}
		if ok {
			out = append(out, [2]string{v.Name, val})
			seen[v.Name] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Immich.Environment)) {
		if !seen[k] {
			out = append(out, [2]string{k, c.Immich.Environment[k]})
		}
	}
	return out
}

// refusedEnvReason is the message for a managed variable in immich.environment.
func refusedEnvReason(v *EnvVar) (reason, hint string) {
	return fmt.Sprintf("%s is set by immich-render", v.Name), "set " + v.Field + " instead, and remove " + v.Name + " from immich.environment"
}
