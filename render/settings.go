package render

import (
	"bytes"
	"encoding/json"
	"path"
	"strings"

	"github.com/immich-render/immich-render/schema"
)

// SettingsPath is the host path of the rendered Immich settings file.
func SettingsPath(cfg *schema.Config) string {
	return path.Join(cfg.Immich.ProjectDir, "config", "immich.json")
}

// settingsJSON is immich.settings with what immich-render knows filled in
// where the user left it out: the machine-learning URL (the server no
// longer reads it from the environment) and the external domain from the
// nginx host name. The user's values win. Immich locks the settings page
// while a config file is in use, so nothing is rendered without settings.
func settingsJSON(cfg *schema.Config) ([]byte, bool) {
	im := cfg.Immich
	if im.Settings == nil {
		return nil, false
	}
	ml := map[string]any{"enabled": im.MachineLearning.Enabled}
	if im.MachineLearning.URL != "" {
		ml["urls"] = []any{im.MachineLearning.URL}
	} else if im.MachineLearning.Enabled {
		ml["urls"] = []any{"http://" + mlService + ":3003"}
	}
	defaults := map[string]any{"machineLearning": ml}
	// Immich's own database backup runs as immich.backup.immichJob says
	// (the schema refuses it before v2.5.0, where it ran pg_dumpall, which
	// needs the superuser Immich's role is not).
	defaults["backup"] = map[string]any{"database": map[string]any{"enabled": im.Backup.ImmichJob}}
	if im.Nginx.Enabled {
		defaults["server"] = map[string]any{"externalDomain": strings.TrimSuffix(publicURL(cfg), "/")}
	}
	merged := mergeJSON(defaults, im.Settings)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(merged); err != nil {
		panic("settings: " + err.Error()) // validated JSON values always encode
	}
	return b.Bytes(), true
}

// mergeJSON merges objects recursively; everything else in over replaces
// what base has.
func mergeJSON(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bo, ok := out[k].(map[string]any); ok {
			if oo, ok := v.(map[string]any); ok {
				out[k] = mergeJSON(bo, oo)
				continue
			}
		}
		out[k] = v
	}
	return out
}
