package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// SettingsPath is the host path of the rendered Immich settings file. A
// file that carries a secret setting (OAuth client secret, SMTP password)
// is a secret file: it lives with the other secrets, and only --secrets-out
// writes it.
func SettingsPath(cfg *schema.Config) string {
	if settingsSecret(cfg) {
		return path.Join(secretsDir(cfg), "immich.json")
	}
	return path.Join(cfg.Immich.ProjectDir, "config", "immich.json")
}

// settingsSecret reports whether the settings file carries a secret.
func settingsSecret(cfg *schema.Config) bool { return len(cfg.SettingSecrets()) > 0 }

// settingsFile is the settings file, if there are settings.
func settingsFile(cfg *schema.Config) (tree.File, bool) {
	data, ok := settingsJSON(cfg)
	if !ok {
		return tree.File{}, false
	}
	if settingsSecret(cfg) {
		return secretFile(rootfs(SettingsPath(cfg)), data), true
	}
	return file(rootfs(SettingsPath(cfg)), data, 0o644), true
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
	// The secret settings are {env}/{file} references (or literals from an
	// uncommitted file) in the configuration: the file gets their values.
	for _, ns := range cfg.SettingSecrets() {
		merged = setJSON(merged, strings.Split(ns.Path, "."), ns.Secret.Value)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(merged); err != nil {
		panic("settings: " + err.Error()) // validated JSON values always encode
	}
	return b.Bytes(), true
}

// settingsWarnings says when immich.settings was checked against the
// settings types of an older Immich release than the one deployed.
func settingsWarnings(cfg *schema.Config) []string {
	if cfg.Immich.Settings == nil {
		return nil
	}
	sdk, minor, newer, ok := schema.SettingsSchemaFor(cfg.Immich.Version)
	if !ok || !newer {
		return nil
	}
	return []string{fmt.Sprintf("immich.settings: the settings types of Immich %s are not known; they were checked against the newest known before it, v%d.%d's (@immich/sdk %s), "+
		"so a setting added since is refused as unknown",
		cfg.Immich.Version, minor[0], minor[1], sdk)}
}

// setJSON sets the value at a path, copying the objects on the way so that
// the configuration's own maps stay as they were.
func setJSON(m map[string]any, path []string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, x := range m {
		out[k] = x
	}
	if len(path) == 1 {
		out[path[0]] = v
		return out
	}
	sub, _ := out[path[0]].(map[string]any)
	out[path[0]] = setJSON(sub, path[1:], v)
	return out
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
