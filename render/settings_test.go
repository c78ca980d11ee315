package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/schema"
)

func TestSettingsFile(t *testing.T) {
	cfg := testenv.Config(t, nil, `immich: {
		settings: {ffmpeg: crf: 30, machineLearning: clip: enabled: false, server: publicUsers: false}
		nginx: {enabled: true, hostname: "photos.example.com", acme: email: "a@example.com"}
	}`)
	r := Render(cfg, all)
	f, ok := r.Out[rootfs(SettingsPath(cfg))]
	if !ok {
		t.Fatal("no settings file")
	}
	var got map[string]any
	if err := json.Unmarshal(f.Data, &got); err != nil {
		t.Fatal(err)
	}
	ml := got["machineLearning"].(map[string]any)
	if urls := ml["urls"].([]any); len(urls) != 1 || urls[0] != "http://immich-machine-learning:3003" {
		t.Errorf("ml urls = %v", ml["urls"])
	}
	if ml["clip"].(map[string]any)["enabled"] != false {
		t.Errorf("user's machineLearning.clip lost in the merge: %v", ml)
	}
	server := got["server"].(map[string]any)
	if server["externalDomain"] != "https://photos.example.com" || server["publicUsers"] != false {
		t.Errorf("server = %v", server)
	}
	if got["ffmpeg"].(map[string]any)["crf"] != float64(30) {
		t.Errorf("ffmpeg = %v", got["ffmpeg"])
	}
	srv, _ := loadCompose(t, cfg).GetService("immich-server")
	if v := srv.Environment["IMMICH_CONFIG_FILE"]; v == nil || *v != "/config/immich.json" {
		t.Errorf("IMMICH_CONFIG_FILE = %v", v)
	}
	mounted := false
	for _, v := range srv.Volumes {
		mounted = mounted || (v.Target == "/config/immich.json" && v.ReadOnly && v.Source == SettingsPath(cfg))
	}
	if !mounted {
		t.Errorf("settings file not mounted read-only: %+v", srv.Volumes)
	}

	// The user's externalDomain wins; without settings nothing is rendered.
	cfg = testenv.Config(t, nil, `immich: settings: server: externalDomain: "https://elsewhere.example"`)
	if !strings.Contains(string(Render(cfg, all).Out[rootfs(SettingsPath(cfg))].Data), `"externalDomain": "https://elsewhere.example"`) {
		t.Error("user's externalDomain overridden")
	}
	cfg = testenv.Config(t, nil)
	if _, ok := Render(cfg, all).Out[rootfs(SettingsPath(cfg))]; ok {
		t.Error("settings file rendered without settings: it would lock Immich's settings page")
	}
}

// TestSettingsSecrets: secret settings resolve into a settings file that
// is itself a secret file (only in the secrets tree, 0600, mounted
// read-only), and nothing under -o holds their values.
func TestSettingsSecrets(t *testing.T) {
	cfg, err := testenv.Load(map[string]string{"OAUTH": "oauth-client-secret-value"},
		`immich: settings: {notifications: smtp: transport: password: "smtp-password-value", oauth: {enabled: true, clientSecret: {env: "OAUTH"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	r := Render(cfg, all)
	p := rootfs(SettingsPath(cfg))
	if p != "rootfs/opt/podman/immich/secrets/immich.json" {
		t.Errorf("settings with secrets at %s", p)
	}
	f, ok := r.Secrets[p]
	if !ok || f.Mode != 0o600 {
		t.Fatalf("settings file not in the secrets tree with mode 0600: %v %v", ok, f.Mode)
	}
	for _, want := range []string{`"clientSecret": "oauth-client-secret-value"`, `"password": "smtp-password-value"`} {
		if !strings.Contains(string(f.Data), want) {
			t.Errorf("settings file lacks %s:\n%s", want, f.Data)
		}
	}
	for path, f := range r.Out {
		if strings.Contains(string(f.Data), "oauth-client-secret-value") || strings.Contains(string(f.Data), "smtp-password-value") {
			t.Errorf("%s under -o holds a secret setting", path)
		}
	}
	if cfg.Immich.Settings["oauth"].(map[string]any)["clientSecret"].(map[string]any)["env"] != "OAUTH" {
		t.Error("rendering changed the configuration's settings")
	}
	srv, _ := loadCompose(t, cfg).GetService("immich-server")
	mounted := false
	for _, v := range srv.Volumes {
		mounted = mounted || (v.Target == "/config/immich.json" && v.ReadOnly && v.Source == SettingsPath(cfg))
	}
	if !mounted {
		t.Errorf("settings file not mounted read-only: %+v", srv.Volumes)
	}
	if _, ok := Render(cfg, Options{}).Secrets[p]; ok {
		t.Error("settings file with secrets rendered without --secrets-out")
	}
}

func TestUpgradeNotes(t *testing.T) {
	for _, c := range []struct {
		from, to string
		want     []string
	}{
		{"v3.1.0", "v3.1.0", nil},
		{"v2.5.0", "v3.1.0", []string{"major version (v3)", "removed pgvecto.rs", "back up"}},
		{"v1.132.0", "v1.140.0", []string{"VectorChord", "/data", "back up"}},
		{"v3.1.0", "v2.0.0", []string{"downgrade", "restore"}},
		{"", "v3.1.0", nil},
	} {
		got := strings.Join(UpgradeNotes(c.from, c.to), "\n")
		if c.want == nil && got != "" {
			t.Errorf("%s→%s: unexpected notes %q", c.from, c.to, got)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s→%s: notes lack %q:\n%s", c.from, c.to, w, got)
			}
		}
	}
}

// TestSettingsFileMatchesImmich: the settings file immich-render writes,
// with everything it fills in itself, passes the settings definition of
// every Immich minor that has one: a default Immich no longer knows would
// make Immich refuse or ignore the file.
func TestSettingsFileMatchesImmich(t *testing.T) {
	s, err := schema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	env := schema.Options{LookupEnv: func(k string) (string, bool) { v, ok := testenv.Secrets[k]; return v, ok }}
	site := func(version, settings string) []schema.Input {
		return []schema.Input{
			{Name: "site.cue", Data: []byte(strings.Replace(testenv.Minimal, `"v3.1.0"`, `"`+version+`"`, 1))},
			{Name: "settings.cue", Data: []byte(`immich: settings: ` + settings)},
			{Name: "nginx.cue", Data: []byte(`immich: nginx: {enabled: true, hostname: "photos.example.com", acme: email: "a@example.com"}`)},
		}
	}
	for _, version := range []string{"v1.138.1", "v2.2.3", "v2.3.1", "v2.4.0", "v2.7.5", "v3.0.3", "v3.1.0", "v3.2.2"} {
		cfg, err := s.Load(site(version, `{trash: days: 10}`), env)
		if err != nil {
			t.Fatalf("%s: %v", version, err)
		}
		data := Render(cfg, all).Out[rootfs(SettingsPath(cfg))].Data
		if len(data) == 0 {
			t.Fatalf("%s: no settings file", version)
		}
		// Read back as the settings of the same version.
		if _, err := s.Load(site(version, string(data)), env); err != nil {
			t.Errorf("%s: the rendered settings file does not pass Immich's settings types:\n%v\n%s", version, err, data)
		}
	}
}
