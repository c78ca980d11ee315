package schema

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the same zone list on every machine
)

// locator returns the input positions of a config path.
type locator func(path string) []string

// checkRules runs the rules that need Go after the schema has passed:
// lookups in tables and checks across list elements. Each adds Problems in
// the schema's format.
func checkRules(c *Config, at locator) Problems {
	var ps Problems
	add := func(path, reason, hint string) {
		ps = append(ps, Problem{Path: path, Reason: reason, Hint: hint, Pos: at(path)})
	}
	if _, err := time.LoadLocation(c.Immich.Timezone); err != nil || c.Immich.Timezone == "Local" {
		add("immich.timezone", fmt.Sprintf("%q is not a known IANA time zone", c.Immich.Timezone), "an IANA time zone name such as \"Europe/Berlin\" or \"Etc/UTC\"")
	}
	for _, k := range sortedKeys(c.Immich.Environment) {
		if field := managedEnv(k); field != "" {
			add("immich.environment."+k, fmt.Sprintf("%s is set by immich-render", k), "set "+field+" instead, and remove "+k+" from immich.environment")
		}
	}
	seen := map[string]int{}
	for i, lib := range c.Immich.ExternalLibraries {
		path := fmt.Sprintf("immich.externalLibraries.%d.containerPath", i)
		if j, dup := seen[lib.ContainerPath]; dup {
			add(path, fmt.Sprintf("%s is also the container path of externalLibraries[%d]", lib.ContainerPath, j), "a distinct containerPath for each library")
		}
		seen[lib.ContainerPath] = i
		if lib.ContainerPath == "/data" || strings.HasPrefix(lib.ContainerPath, "/data/") {
			add(path, "libraries may not be mounted inside /data, Immich's upload location", "a path such as /mnt/external/photos")
		}
	}
	ps = append(ps, checkValkey(c, at)...)
	return ps
}

// managedEnv returns the config field that owns an environment variable
// immich-render renders itself, or "" if the variable is free to set.
func managedEnv(k string) string {
	owners := map[string]string{
		"TZ":                    "immich.timezone",
		"DB_HOSTNAME":           "immich.postgres.host",
		"DB_PORT":               "immich.postgres.port",
		"DB_USERNAME":           "immich.postgres.user",
		"DB_PASSWORD":           "immich.postgres.password",
		"DB_DATABASE_NAME":      "immich.postgres.database",
		"DB_VECTOR_EXTENSION":   "immich.postgres.vectorExtension",
		"DB_URL":                "immich.postgres (its fields)",
		"REDIS_HOSTNAME":        "immich.valkey.host",
		"REDIS_PORT":            "immich.valkey.port",
		"REDIS_USERNAME":        "immich.valkey.user",
		"REDIS_PASSWORD":        "immich.valkey.password",
		"REDIS_DBINDEX":         "immich.valkey.db",
		"REDIS_URL":             "immich.valkey (its fields)",
		"REDIS_SOCKET":          "immich.valkey (its fields)",
		"IMMICH_CONFIG_FILE":    "immich.settings",
		"IMMICH_PORT":           "immich.port (the published port; the container always listens on 2283)",
		"UPLOAD_LOCATION":       "immich.uploadLocation",
		"IMMICH_MEDIA_LOCATION": "immich.uploadLocation",
	}
	if f, ok := owners[k]; ok {
		return f
	}
	if strings.HasSuffix(k, "_FILE") && (strings.HasPrefix(k, "DB_") || strings.HasPrefix(k, "REDIS_")) {
		return "the matching immich.postgres or immich.valkey field"
	}
	return ""
}

var _ = slices.Contains[[]string]
