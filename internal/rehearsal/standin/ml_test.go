package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMLConfig checks that the stand-in learns machine learning's settings
// as Immich does: its defaults from the environment, the settings file
// over them.
func TestMLConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "immich.json")
	for _, tc := range []struct {
		name, enabled, url, settings string
		wantEnabled                  bool
		wantURL                      string
	}{
		{name: "defaults", wantEnabled: true, wantURL: "http://immich-machine-learning:3003"},
		{name: "off by the environment", enabled: "false", wantURL: "http://immich-machine-learning:3003"},
		{name: "only false turns it off", enabled: "0", wantEnabled: true, wantURL: "http://immich-machine-learning:3003"},
		{name: "URL from the environment", url: "http://ml.lan:3003", wantEnabled: true, wantURL: "http://ml.lan:3003"},
		{name: "settings file wins", enabled: "false", settings: `{"machineLearning": {"enabled": true, "urls": ["http://a:3003", "http://b:3003"]}}`,
			wantEnabled: true, wantURL: "http://a:3003"},
		{name: "settings file turns it off", settings: `{"machineLearning": {"enabled": false}}`, wantURL: "http://immich-machine-learning:3003"},
		{name: "settings file without machine learning", enabled: "false", settings: `{"server": {}}`, wantURL: "http://immich-machine-learning:3003"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("IMMICH_MACHINE_LEARNING_ENABLED", tc.enabled)
			t.Setenv("IMMICH_MACHINE_LEARNING_URL", tc.url)
			t.Setenv("IMMICH_CONFIG_FILE", "")
			if tc.settings != "" {
				if err := os.WriteFile(file, []byte(tc.settings), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Setenv("IMMICH_CONFIG_FILE", file)
			}
			ml, err := mlConfig()
			if err != nil {
				t.Fatal(err)
			}
			if ml.Enabled != tc.wantEnabled || !slices.Equal(ml.URLs[:1], []string{tc.wantURL}) {
				t.Errorf("got %+v, want enabled %v at %s", ml, tc.wantEnabled, tc.wantURL)
			}
		})
	}
	t.Setenv("IMMICH_CONFIG_FILE", filepath.Join(t.TempDir(), "missing.json"))
	if _, err := mlConfig(); err == nil {
		t.Error("a settings file that cannot be read: no error")
	}
}
