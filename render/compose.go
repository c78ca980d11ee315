package render

import (
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
	"go.yaml.in/yaml/v3"
)

// Compose project and service names. The server finds machine learning at
// http://immich-machine-learning:3003, so that service name is fixed.
const (
	serverService = "immich-server"
	mlService     = "immich-machine-learning"
	// ContainerPort is where immich-server listens inside its container.
	ContainerPort = 2283
)

// ComposePath is the host path of the compose file.
func ComposePath(cfg *schema.Config) string {
	return path.Join(cfg.Immich.ProjectDir, "docker-compose.yml")
}

// secretsDir is the host folder of the plaintext secret files.
func secretsDir(cfg *schema.Config) string { return path.Join(cfg.Immich.ProjectDir, "secrets") }

// renderContainers renders how the containers run, by immich.runtime (a
// compose stack and the unit that runs it, or Quadlet files), and the
// files both runtimes mount: the settings file and the secret files.
func renderContainers(cfg *schema.Config) []tree.File {
	var files []tree.File
	if cfg.Immich.Runtime == "quadlet" {
		files = renderQuadlet(cfg)
	} else {
		files = append(renderCompose(cfg), renderImmichUnit(cfg)...)
	}
	if f, ok := settingsFile(cfg); ok {
		files = append(files, f)
	}
	for _, s := range schema.ImmichSecrets() {
		files = append(files, secretFile(rootfs(path.Join(secretsDir(cfg), s.File)), []byte(cfg.SecretAt(s.Path).Value)))
	}
	return files
}

// renderCompose renders the compose file.
func renderCompose(cfg *schema.Config) []tree.File {
	im := cfg.Immich
	doc := yMap(
		"name", "immich",
		"services", yMap(
			serverService, serverServiceNode(cfg),
		),
	)
	services := doc.Content[3]
	if im.MachineLearning.Local() {
		yAdd(services, mlService, mlServiceNode(cfg))
	}
	yAdd(doc, "networks", yMap(
		im.Network.Name, yMap("external", true, "name", im.Network.Name),
	))
	secrets := yMap()
	for _, s := range schema.ImmichSecrets() {
		yAdd(secrets, s.ComposeSecret, yMap("file", path.Join(secretsDir(cfg), s.File)))
	}
	yAdd(doc, "secrets", secrets)

	return []tree.File{file(rootfs(ComposePath(cfg)), yEncode(header("#"), doc), 0o644)}
}

func serverServiceNode(cfg *schema.Config) *yaml.Node {
	im := cfg.Immich
	env := yMap()
	for _, kv := range schema.ServerEnv(cfg) {
		yAdd(env, kv[0], composeValue(kv[1]))
	}

	volumes := []string{bindMount(cfg, im.UploadLocation, schema.MediaLocation, false)}
	for _, m := range schema.StorageMounts(cfg) {
		volumes = append(volumes, bindMount(cfg, m.Host, m.Container, false))
	}
	volumes = append(volumes, bindMount(cfg, "/etc/localtime", "/etc/localtime", true))
	if _, ok := settingsJSON(cfg); ok {
		volumes = append(volumes, bindMount(cfg, SettingsPath(cfg), schema.SettingsContainerPath, true))
	}
	for _, lib := range im.ExternalLibraries {
		volumes = append(volumes, bindMount(cfg, lib.HostPath, lib.ContainerPath, lib.ReadOnly))
	}

	port := strconv.Itoa(im.Port) + ":" + strconv.Itoa(ContainerPort)
	if im.Nginx.Enabled {
		port = "127.0.0.1:" + port
	}

	n := yMap(
		"container_name", "immich_server",
		"image", image("immich-server", im.Version, "", im.ImageDigests.Server),
		"environment", env,
		"secrets", composeSecretNames(),
		"volumes", volumes,
		"ports", append([]string{port}, metricsPorts(cfg)...),
	)
	hw := transcodingHW(cfg)
	hw.add(n)
	yAdd(n, "extra_hosts", []string{"host.containers.internal:" + im.HostGateway})
	yAdd(n, "networks", []string{im.Network.Name})
	yAdd(n, "restart", "always")
	yAdd(n, "healthcheck", healthcheck("immich-healthcheck"))
	return n
}

func mlServiceNode(cfg *schema.Config) *yaml.Node {
	im := cfg.Immich
	hw := mlHW(cfg)
	n := yMap(
		"container_name", "immich_machine_learning",
		"image", image("immich-machine-learning", im.Version, hw.tagSuffix, im.ImageDigests.MachineLearning),
		"environment", mlEnvironment(cfg),
		"volumes", append([]string{bindMount(cfg, im.ModelCache, "/cache", false)}, hw.volumes...),
	)
	hw.volumes = nil
	hw.add(n)
	yAdd(n, "extra_hosts", []string{"host.containers.internal:" + im.HostGateway})
	yAdd(n, "networks", []string{im.Network.Name})
	yAdd(n, "restart", "always")
	yAdd(n, "healthcheck", healthcheck("python3", "healthcheck.py"))
	return n
}

// metricsPorts publishes Immich's Prometheus ports on
// immich.metrics.address, when metrics are on.
func metricsPorts(cfg *schema.Config) []string {
	var out []string
	if cfg.Immich.Metrics.Enabled {
		for _, p := range schema.MetricsPorts {
			out = append(out, cfg.Immich.Metrics.Address+":"+strconv.Itoa(p.Port)+":"+strconv.Itoa(p.Port))
		}
	}
	return out
}

// mlEnvironment is the machine-learning container's environment: the time
// zone, the model-cache variables, then machineLearning.environment.
func mlEnvironment(cfg *schema.Config) *yaml.Node {
	ml := cfg.Immich.MachineLearning
	env := yMap("TZ", cfg.Immich.Timezone)
	for _, kv := range schema.MLCacheEnv {
		yAdd(env, kv[0], kv[1])
	}
	for _, k := range slices.Sorted(maps.Keys(ml.Environment)) {
		yAdd(env, k, composeValue(ml.Environment[k]))
	}
	return env
}

// composeSecretNames are the compose secrets immich-server gets.
func composeSecretNames() []string {
	var out []string
	for _, s := range schema.ImmichSecrets() {
		out = append(out, s.ComposeSecret)
	}
	return out
}

// image names an Immich image by tag, with an optional accelerator suffix
// and pinned digest.
func image(name, version, suffix, digest string) string {
	s := "ghcr.io/immich-app/" + name + ":" + version + suffix
	if digest != "" {
		s += "@" + digest
	}
	return s
}

// healthcheck is explicit because Podman does not run the HEALTHCHECK of
// an image stored in OCI format; start_interval is left out because older
// podman-compose rejects it.
func healthcheck(cmd ...string) *yaml.Node {
	test := yStrs(append([]string{"CMD"}, cmd...))
	test.Style = yaml.FlowStyle
	return yMap(
		"test", test,
		"interval", "30s",
		"timeout", "10s",
		"retries", 3,
		"start_period", "60s",
	)
}

// bindMount is a short-syntax bind mount. The schema keeps ':' and ','
// out of paths, so the short form is unambiguous; it is also the form
// every podman-compose version understands.
func bindMount(cfg *schema.Config, host, container string, readOnly bool) string {
	return composeValue(mountSpec(cfg, host, container, readOnly))
}

// mountSpec is HOST:CONTAINER[:OPTIONS], the bind mount of both runtimes.
func mountSpec(cfg *schema.Config, host, container string, readOnly bool) string {
	var opts []string
	if readOnly {
		opts = append(opts, "ro")
	}
	// Relabelling a system path such as /etc/localtime or /dev would
	// break the host, so only data folders get :z.
	if cfg.Immich.SELinuxRelabel && !strings.HasPrefix(host, "/etc/") && !strings.HasPrefix(host, "/dev/") &&
		!strings.HasPrefix(host, "/lib/") && !strings.HasPrefix(host, "/usr/") {
		opts = append(opts, "z")
	}
	s := host + ":" + container
	if len(opts) > 0 {
		s += ":" + strings.Join(opts, ",")
	}
	return s
}

// composeValue escapes compose interpolation: a literal $ is written $$.
func composeValue(s string) string { return strings.ReplaceAll(s, "$", "$$") }
