package render

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/schema"
)

// loadCompose loads the rendered compose file the way docker compose does.
func loadCompose(t *testing.T, cfg *schema.Config) *types.Project {
	t.Helper()
	r := Render(cfg, all)
	f, ok := r.Out[rootfs(ComposePath(cfg))]
	if !ok {
		t.Fatalf("no compose file in %v", r.Out.Paths())
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  cfg.Immich.ProjectDir,
		ConfigFiles: []types.ConfigFile{{Filename: "docker-compose.yml", Content: f.Data}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SkipResolveEnvironment = true
		o.SkipConsistencyCheck = false
	})
	if err != nil {
		t.Fatalf("compose-go refuses the compose file: %v\n%s", err, f.Data)
	}
	return p
}

func TestComposeLoadsInComposeGo(t *testing.T) {
	hostile := `quote"s 'single' back\slash $HOME ${X} $$ % ; # ü 日本 {a: b} - [x]`
	cfg := testenv.Config(t, nil, `immich: {
		environment: {IMMICH_LOG_LEVEL: "log", HOSTILE: `+strconvQuote(hostile)+`, NUMBERISH: "0600", BOOLISH: "no", TIMEISH: "22:22"}
		externalLibraries: [{hostPath: "/mnt/photos"}, {hostPath: "/srv/family videos", readOnly: false, containerPath: "/mnt/media/family"}]
	}`)
	p := loadCompose(t, cfg)
	if p.Name != "immich" {
		t.Errorf("project name = %q, want immich", p.Name)
	}
	srv, err := p.GetService("immich-server")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"HOSTILE": hostile, "NUMBERISH": "0600", "BOOLISH": "no", "TIMEISH": "22:22",
		"DB_PASSWORD_FILE": "/run/secrets/immich_db_password", "REDIS_PASSWORD_FILE": "/run/secrets/immich_redis_password",
		"DB_VECTOR_EXTENSION": "vectorchord", "DB_PORT": "5432", "REDIS_DBINDEX": "0", "TZ": "Etc/UTC",
	} {
		if got := srv.Environment[k]; got == nil || *got != want {
			t.Errorf("environment %s = %v, want %q", k, deref(got), want)
		}
	}
	for _, k := range []string{"DB_PASSWORD", "REDIS_PASSWORD"} {
		if _, ok := srv.Environment[k]; ok {
			t.Errorf("%s must only be passed as a _FILE secret", k)
		}
	}
	if srv.Image != "ghcr.io/immich-app/immich-server:v3.1.0" || srv.Restart != "always" {
		t.Errorf("image %q restart %q", srv.Image, srv.Restart)
	}
	mounts := map[string]types.ServiceVolumeConfig{}
	for _, v := range srv.Volumes {
		mounts[v.Target] = v
	}
	if m := mounts["/data"]; m.Source != "/mnt/storage/immich/upload" || m.ReadOnly {
		t.Errorf("/data mount = %+v", m)
	}
	if m := mounts["/mnt/external/photos"]; m.Source != "/mnt/photos" || !m.ReadOnly {
		t.Errorf("library mount = %+v", m)
	}
	if m := mounts["/mnt/media/family"]; m.Source != "/srv/family videos" || m.ReadOnly {
		t.Errorf("library mount with a space = %+v", m)
	}
	if m := mounts["/etc/localtime"]; !m.ReadOnly {
		t.Errorf("/etc/localtime must be read-only: %+v", m)
	}
	if len(srv.Ports) != 1 || srv.Ports[0].Published != "2283" || srv.Ports[0].Target != 2283 || srv.Ports[0].HostIP != "" {
		t.Errorf("ports = %+v, want 2283 on all addresses without nginx", srv.Ports)
	}
	if got := srv.ExtraHosts["host.containers.internal"]; len(got) != 1 || got[0] != "172.20.0.1" {
		t.Errorf("extra_hosts = %v", srv.ExtraHosts)
	}
	if srv.HealthCheck == nil || len(srv.HealthCheck.Test) == 0 {
		t.Errorf("immich-server needs an explicit healthcheck for podman")
	}
	if len(srv.Secrets) != 2 {
		t.Errorf("secrets = %+v", srv.Secrets)
	}
	for name, s := range p.Secrets {
		if !strings.HasPrefix(s.File, "/opt/podman/immich/secrets/") {
			t.Errorf("secret %s file %q not under <projectDir>/secrets", name, s.File)
		}
	}
	ml, err := p.GetService("immich-machine-learning")
	if err != nil {
		t.Fatal(err)
	}
	if ml.Image != "ghcr.io/immich-app/immich-machine-learning:v3.1.0" || ml.Volumes[0].Target != "/cache" || ml.Volumes[0].Source != "/opt/podman/immich/model-cache" {
		t.Errorf("machine learning = %s %+v", ml.Image, ml.Volumes)
	}
	net := p.Networks["immich"]
	if !bool(net.External) || net.Name != "immich" {
		t.Errorf("network = %+v, want external immich", net)
	}
}

func TestComposeVariants(t *testing.T) {
	cases := map[string]struct {
		cue   string
		check func(t *testing.T, p *types.Project)
	}{
		"nginx publishes on loopback": {`immich: nginx: {enabled: true, hostname: "photos.example.com", acme: email: "a@example.com"}`, func(t *testing.T, p *types.Project) {
			srv, _ := p.GetService("immich-server")
			if srv.Ports[0].HostIP != "127.0.0.1" {
				t.Errorf("ports = %+v, want 127.0.0.1", srv.Ports)
			}
			if v := srv.Environment["IMMICH_TRUSTED_PROXIES"]; v == nil || *v == "" {
				t.Errorf("IMMICH_TRUSTED_PROXIES unset behind nginx")
			}
		}},
		"no machine learning": {`immich: machineLearning: enabled: false`, func(t *testing.T, p *types.Project) {
			if _, err := p.GetService("immich-machine-learning"); err == nil {
				t.Errorf("machine learning rendered although disabled")
			}
		}},
		"cuda cdi": {`immich: {machineLearning: acceleration: "cuda", transcoding: acceleration: "nvenc"}`, func(t *testing.T, p *types.Project) {
			ml, _ := p.GetService("immich-machine-learning")
			srv, _ := p.GetService("immich-server")
			if !strings.HasSuffix(ml.Image, ":v3.1.0-cuda") || len(ml.Devices) != 1 || ml.Devices[0].Source != "nvidia.com/gpu=all" {
				t.Errorf("ml = %s %+v", ml.Image, ml.Devices)
			}
			if len(srv.Devices) != 1 || srv.Devices[0].Source != "nvidia.com/gpu=all" {
				t.Errorf("server devices = %+v", srv.Devices)
			}
		}},
		"cuda deploy": {`immich: {gpuMode: "deploy", machineLearning: acceleration: "cuda", transcoding: acceleration: "nvenc"}`, func(t *testing.T, p *types.Project) {
			srv, _ := p.GetService("immich-server")
			d := srv.Deploy.Resources.Reservations.Devices
			if len(d) != 1 || d[0].Driver != "nvidia" || strings.Join(d[0].Capabilities, ",") != "gpu,compute,video" {
				t.Errorf("server reservation = %+v", d)
			}
		}},
		"openvino": {`immich: machineLearning: acceleration: "openvino"`, func(t *testing.T, p *types.Project) {
			ml, _ := p.GetService("immich-machine-learning")
			if len(ml.DeviceCgroupRules) != 1 || ml.DeviceCgroupRules[0] != "c 189:* rmw" || len(ml.Volumes) != 2 {
				t.Errorf("openvino = %+v %+v", ml.DeviceCgroupRules, ml.Volumes)
			}
		}},
		"armnn": {`immich: machineLearning: acceleration: "armnn"`, func(t *testing.T, p *types.Project) {
			ml, _ := p.GetService("immich-machine-learning")
			if len(ml.Devices) != 1 || len(ml.Volumes) != 3 || !ml.Volumes[1].ReadOnly {
				t.Errorf("armnn = %+v %+v", ml.Devices, ml.Volumes)
			}
		}},
		"rknn": {`immich: machineLearning: acceleration: "rknn"`, func(t *testing.T, p *types.Project) {
			ml, _ := p.GetService("immich-machine-learning")
			if len(ml.SecurityOpt) != 2 {
				t.Errorf("rknn = %+v", ml.SecurityOpt)
			}
		}},
		"rocm": {`immich: machineLearning: acceleration: "rocm"`, func(t *testing.T, p *types.Project) {
			ml, _ := p.GetService("immich-machine-learning")
			if len(ml.GroupAdd) != 1 || len(ml.Devices) != 2 {
				t.Errorf("rocm = %+v %+v", ml.GroupAdd, ml.Devices)
			}
		}},
		"quicksync": {`immich: transcoding: acceleration: "quicksync"`, func(t *testing.T, p *types.Project) {
			srv, _ := p.GetService("immich-server")
			if len(srv.Devices) != 1 || srv.Devices[0].Source != "/dev/dri" {
				t.Errorf("quicksync = %+v", srv.Devices)
			}
		}},
		"vaapi": {`immich: transcoding: acceleration: "vaapi"`, func(t *testing.T, p *types.Project) {
			srv, _ := p.GetService("immich-server")
			if len(srv.Devices) != 1 {
				t.Errorf("vaapi = %+v", srv.Devices)
			}
		}},
		"rkmpp": {`immich: transcoding: acceleration: "rkmpp"`, func(t *testing.T, p *types.Project) {
			srv, _ := p.GetService("immich-server")
			if len(srv.Devices) != 4 || len(srv.SecurityOpt) != 2 || len(srv.GroupAdd) != 1 {
				t.Errorf("rkmpp = %+v %+v %+v", srv.Devices, srv.SecurityOpt, srv.GroupAdd)
			}
		}},
		"selinux and digests": {`immich: {selinuxRelabel: true, imageDigests: server: "sha256:` + strings.Repeat("ab", 32) + `"}`, func(t *testing.T, p *types.Project) {
			srv, _ := p.GetService("immich-server")
			if !strings.HasSuffix(srv.Image, "@sha256:"+strings.Repeat("ab", 32)) {
				t.Errorf("image = %s", srv.Image)
			}
			for _, v := range srv.Volumes {
				relabel := v.Bind != nil && v.Bind.SELinux == "z"
				if relabel == (v.Source == "/etc/localtime") {
					t.Errorf("volume %s relabel = %v", v.Source, relabel)
				}
			}
		}},
	}
	cases["separate storage"] = struct {
		cue   string
		check func(t *testing.T, p *types.Project)
	}{`immich: storage: {thumbs: "/srv/ssd/thumbs", encodedVideo: "/srv/ssd/encoded video", backups: "/srv/backup/immich"}`, func(t *testing.T, p *types.Project) {
		srv, _ := p.GetService("immich-server")
		got := map[string]string{}
		for _, v := range srv.Volumes {
			got[v.Target] = v.Source
		}
		for target, source := range map[string]string{"/data": "/mnt/storage/immich/upload", "/data/thumbs": "/srv/ssd/thumbs", "/data/encoded-video": "/srv/ssd/encoded video", "/data/backups": "/srv/backup/immich"} {
			if got[target] != source {
				t.Errorf("%s mounted from %q, want %q", target, got[target], source)
			}
		}
		if _, ok := got["/data/profile"]; ok {
			t.Errorf("profile mounted although not set")
		}
	}}
	cases["metrics"] = struct {
		cue   string
		check func(t *testing.T, p *types.Project)
	}{`immich: metrics: {enabled: true, address: "192.168.1.5"}`, func(t *testing.T, p *types.Project) {
		srv, _ := p.GetService("immich-server")
		if v := srv.Environment["IMMICH_TELEMETRY_INCLUDE"]; v == nil || *v != "all" {
			t.Errorf("IMMICH_TELEMETRY_INCLUDE = %v", deref(v))
		}
		var ports []string
		for _, p := range srv.Ports {
			ports = append(ports, fmt.Sprintf("%s:%s:%d", p.HostIP, p.Published, p.Target))
		}
		if want := []string{":2283:2283", "192.168.1.5:8081:8081", "192.168.1.5:8082:8082"}; !slices.Equal(ports, want) {
			t.Errorf("ports = %q, want %q", ports, want)
		}
	}}
	cases["machine learning settings"] = struct {
		cue   string
		check func(t *testing.T, p *types.Project)
	}{`immich: machineLearning: environment: {MACHINE_LEARNING_WORKERS: "2", MACHINE_LEARNING_MODEL_TTL: "0"}`, func(t *testing.T, p *types.Project) {
		ml, _ := p.GetService("immich-machine-learning")
		for k, want := range map[string]string{"MACHINE_LEARNING_WORKERS": "2", "MACHINE_LEARNING_MODEL_TTL": "0", "TRANSFORMERS_CACHE": "/cache", "HF_XET_CACHE": "/cache/huggingface-xet", "MPLCONFIGDIR": "/cache/matplotlib-config", "TZ": "Etc/UTC"} {
			if got := ml.Environment[k]; got == nil || *got != want {
				t.Errorf("%s = %v, want %q", k, deref(got), want)
			}
		}
	}}
	cases["machine learning elsewhere"] = struct {
		cue   string
		check func(t *testing.T, p *types.Project)
	}{`immich: machineLearning: url: "http://gpu-host:3003"`, func(t *testing.T, p *types.Project) {
		if _, err := p.GetService("immich-machine-learning"); err == nil {
			t.Errorf("a local machine-learning container although it runs elsewhere")
		}
		srv, _ := p.GetService("immich-server")
		if v := srv.Environment["IMMICH_MACHINE_LEARNING_URL"]; v == nil || *v != "http://gpu-host:3003" {
			t.Errorf("IMMICH_MACHINE_LEARNING_URL = %v", deref(v))
		}
	}}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			c.check(t, loadCompose(t, testenv.Config(t, nil, c.cue)))
		})
	}
}

// TestComposePodmanCompose has Debian 12's podman-compose (PyYAML, YAML
// 1.1) read the file: its dry run prints the podman commands it would run.
func TestComposePodmanCompose(t *testing.T) {
	bin := testenv.Binary(t, "podman-compose")
	hostile := `quote"s back\slash $HOME % ; # ü no`
	cfg := testenv.Config(t, nil, `immich: environment: {HOSTILE: `+strconvQuote(hostile)+`, BOOLISH: "no"}`)
	r := Render(cfg, all)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), r.Out[rootfs(ComposePath(cfg))].Data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range schema.ImmichSecrets() {
		os.MkdirAll(filepath.Join(dir, "secrets"), 0o700)
		os.WriteFile(filepath.Join(dir, "secrets", s.File), []byte("x"), 0o600)
	}
	// A stand-in podman: podman-compose asks it for its version and
	// whether the external network exists, even in a dry run.
	stub := filepath.Join(dir, "podman-stub")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\ncase \"$*\" in *version*) echo 'podman version 4.3.1';; esac\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--podman-path", stub, "--dry-run", "up", "-d")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("podman-compose --dry-run: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"BOOLISH=no", "immich-server:v3.1.0", "/run/secrets/immich_db_password", "--net immich", "host.containers.internal:172.20.0.1", "-e HOSTILE=" + hostile + " -v"} {
		if !strings.Contains(s, want) {
			t.Errorf("podman-compose dry run lacks %q:\n%s", want, s)
		}
	}
}

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func strconvQuote(s string) string {
	b, _ := jsonMarshal(s)
	return string(b)
}

var jsonMarshal = func(v any) ([]byte, error) { return json.Marshal(v) }

// TestComposeManagedEnvironment: for every combination of the switches
// that decide which managed variables are set (nginx, settings) and of a
// user value for each variable immich.environment may set, compose-go
// loads the file, every managed variable is there exactly as the table
// says, and a user value replaces the rendered one. Every other managed
// variable is refused by the schema, naming the field to set instead.
func TestComposeManagedEnvironment(t *testing.T) {
	var replaceable []string
	for _, v := range schema.ManagedEnv {
		if v.Replaceable {
			replaceable = append(replaceable, v.Name)
		}
	}
	for mask := range 1 << (2 + len(replaceable)) {
		nginx, settings := mask&1 != 0, mask&2 != 0
		user := map[string]string{"IMMICH_LOG_LEVEL": "verbose"}
		for i, name := range replaceable {
			if mask&(4<<i) != 0 {
				user[name] = "10.9.8.7/32,$literal"
			}
		}
		var snippets []string
		if nginx {
			snippets = append(snippets, `immich: nginx: {enabled: true, hostname: "photos.example.com", acme: email: "a@example.com"}`)
		}
		if settings {
			snippets = append(snippets, `immich: settings: ffmpeg: crf: 30`)
		}
		envCUE := "immich: environment: {"
		for _, k := range slices.Sorted(maps.Keys(user)) {
			envCUE += fmt.Sprintf("%s: %s, ", k, strconvQuote(user[k]))
		}
		snippets = append(snippets, envCUE+"}")
		name := fmt.Sprintf("nginx=%v,settings=%v,user=%v", nginx, settings, slices.Sorted(maps.Keys(user)))
		t.Run(name, func(t *testing.T) {
			cfg := testenv.Config(t, nil, snippets...)
			p := loadCompose(t, cfg)
			srv, _ := p.GetService("immich-server")
			want := map[string]string{}
			for _, v := range schema.ManagedEnv {
				if v.Value == nil {
					if _, set := srv.Environment[v.Name]; set {
						t.Errorf("%s is set although immich-render only refuses it", v.Name)
					}
					continue
				}
				if val, ok := v.Value(cfg); ok {
					want[v.Name] = val
				}
			}
			for k, v := range user {
				want[k] = v
			}
			if len(srv.Environment) != len(want) {
				t.Errorf("%d variables, want %d: %v", len(srv.Environment), len(want), srv.Environment)
			}
			for k, v := range want {
				if got := srv.Environment[k]; got == nil || *got != v {
					t.Errorf("%s = %v, want %q", k, deref(got), v)
				}
			}
			if nginx && user["IMMICH_TRUSTED_PROXIES"] == "" && !strings.Contains(*srv.Environment["IMMICH_TRUSTED_PROXIES"], cfg.Immich.Network.Gateway) {
				t.Errorf("behind nginx, IMMICH_TRUSTED_PROXIES lacks the gateway")
			}
		})
	}
	for _, v := range schema.ManagedEnv {
		if v.Replaceable {
			continue
		}
		_, err := testenv.Load(nil, fmt.Sprintf(`immich: environment: %s: "x"`, v.Name))
		if err == nil || !strings.Contains(err.Error(), "immich.environment."+v.Name+": "+v.Name+" is set by immich-render") ||
			!strings.Contains(err.Error(), "set "+v.Field+" instead") {
			t.Errorf("%s in immich.environment: %v", v.Name, err)
		}
	}
}
