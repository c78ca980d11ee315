package render

import (
	"encoding/json"
	"maps"
	"path"
	"slices"
	"strconv"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// Quadlet files, under QuadletDir on the host. The generator turns
// NAME.container into NAME.service and NAME.network into
// NAME-network.service at every daemon-reload.
const (
	QuadletDir          = "/etc/containers/systemd"
	networkQuadlet      = "immich.network"
	serverQuadlet       = serverService + ".container"
	mlQuadlet           = mlService + ".container"
	ServerUnit          = serverService + ".service"
	MachineLearningUnit = mlService + ".service"
)

// quadletKeys are the keys each Quadlet group may hold, as Podman's own
// quadlet.go keeps a table of supported keys per group: only these can be
// rendered (unitFile panics on another), and a test renders every one of
// them through Podman 5.4's generator, which refuses a key it does not
// know. [Unit], [Service] and [Install] pass through to systemd.
var quadletKeys = map[string][]string{
	"Container": {
		"AddDevice", "AddHost", "ContainerName", "Environment", "GroupAdd",
		"HealthCmd", "HealthInterval", "HealthRetries", "HealthStartPeriod", "HealthTimeout",
		"Image", "Network", "Notify", "PodmanArgs", "PublishPort", "Volume",
	},
	"Network": {"NetworkName", "Subnet", "Gateway"},
}

func newQuadletFile() *unitFile {
	u := newUnitFile()
	u.supported = quadletKeys
	return u
}

// quadletPath is the host path of a Quadlet file.
func quadletPath(name string) string { return path.Join(QuadletDir, name) }

// renderQuadlet renders the containers as Quadlet files and immich.service
// as the one unit that starts, stops and restarts them together: each
// container is PartOf it, and it requires both, so a container that fails
// to start fails `systemctl start immich` too.
func renderQuadlet(cfg *schema.Config) []tree.File {
	files := []tree.File{
		file(rootfs(quadletPath(networkQuadlet)), quadletNetwork(cfg), 0o644),
		file(rootfs(quadletPath(serverQuadlet)), quadletServer(cfg), 0o644),
	}
	if cfg.Immich.MachineLearning.Local() {
		files = append(files, file(rootfs(quadletPath(mlQuadlet)), quadletML(cfg), 0o644))
	}
	return append(files, file(rootfs(unitPath(ImmichUnit)), quadletStackUnit(cfg), 0o644))
}

// quadletContainers are the units of the containers, server first.
func quadletContainers(cfg *schema.Config) []string {
	if cfg.Immich.MachineLearning.Local() {
		return []string{ServerUnit, MachineLearningUnit}
	}
	return []string{ServerUnit}
}

// quadletStackUnit is immich.service on a Quadlet host: it runs nothing
// itself, so that the seed's `systemctl start|stop|restart immich` still
// act on the whole stack.
func quadletStackUnit(cfg *schema.Config) []byte {
	containers := quadletContainers(cfg)
	u := newUnitFile()
	u.Add("Unit", "Description", "Immich photo server (Podman Quadlet containers, "+QuadletDir+")")
	u.Add("Unit", "Documentation", "https://immich.app/docs/overview/introduction")
	u.Comment("Unit", "The containers are PartOf this unit: stop and restart reach them too.")
	u.AddList("Unit", "Requires", containers...)
	u.AddList("Unit", "After", containers...)

	u.Add("Service", "Type", "oneshot")
	u.Add("Service", "RemainAfterExit", "yes")
	u.AddExec("Service", "ExecStart", "", "/bin/true")

	u.Add("Install", "WantedBy", "multi-user.target")
	return u.Bytes()
}

// quadletNetwork is the Immich network, created by the generated
// immich-network.service before either container starts.
func quadletNetwork(cfg *schema.Config) []byte {
	n := cfg.Immich.Network
	u := newQuadletFile()
	u.Add("Unit", "Description", "Immich Podman network "+n.Name+" ("+n.Subnet+")")
	u.Add("Network", "NetworkName", n.Name)
	u.Add("Network", "Subnet", n.Subnet)
	u.Add("Network", "Gateway", n.Gateway)
	return u.Bytes()
}

// quadletCommon is what both containers have: the network, the host
// gateway, a health check, the restart policy and their place in the
// stack.
func quadletCommon(cfg *schema.Config, u *unitFile, name, image string, health []string) {
	u.Add("Unit", "PartOf", ImmichUnit)
	u.Add("Container", "ContainerName", name)
	u.Add("Container", "Image", image)
	u.Add("Container", "Network", networkQuadlet)
	u.Add("Container", "AddHost", "host.containers.internal:"+cfg.Immich.HostGateway)
	// Explicit, because Podman does not run the HEALTHCHECK of an image
	// stored in OCI format; the JSON form runs the command without a shell.
	u.Add("Container", "HealthCmd", jsonArray(health))
	u.Add("Container", "HealthInterval", "30s")
	u.Add("Container", "HealthTimeout", "10s")
	u.Add("Container", "HealthRetries", "3")
	u.Add("Container", "HealthStartPeriod", "60s")
}

// quadletService is the [Service] group both containers share. dirs are
// the data folders the container mounts: compose creates a missing one,
// podman run refuses to start, so the unit creates them first.
func quadletService(u *unitFile, dirs ...string) {
	u.Comment("Service", "Podman does not create a missing folder to mount, as compose does.")
	u.AddExec("Service", "ExecStartPre", "", append([]string{"/usr/bin/mkdir", "-p"}, dirs...)...)
	u.Add("Service", "Restart", "always")
	u.Comment("Service", "A container stopped with SIGTERM exits 143 (128 + 15): a clean stop, not a failure.")
	u.Add("Service", "SuccessExitStatus", "143")
	u.Comment("Service", "The first start pulls the image.")
	u.Add("Service", "TimeoutStartSec", "900")
}

func quadletML(cfg *schema.Config) []byte {
	im := cfg.Immich
	hw := mlHW(cfg)
	u := newQuadletFile()
	u.Add("Unit", "Description", "Immich machine learning")
	u.AddList("Unit", "After", hostServices(cfg)...)
	// The server finds machine learning at http://immich-machine-learning:3003:
	// the container name is its name on the network.
	quadletCommon(cfg, u, mlService, image("immich-machine-learning", im.Version, hw.tagSuffix, im.ImageDigests.MachineLearning),
		[]string{"python3", "healthcheck.py"})
	u.Comment("Container", "Started means healthy (Podman >= 5.0): the server, ordered after it, never waits for it.")
	u.Add("Container", "Notify", "healthy")
	u.AddArgs("Container", "Environment", "TZ="+im.Timezone)
	for _, kv := range schema.MLCacheEnv {
		u.AddArgs("Container", "Environment", kv[0]+"="+kv[1])
	}
	for _, k := range slices.Sorted(maps.Keys(im.MachineLearning.Environment)) {
		u.AddArgs("Container", "Environment", k+"="+im.MachineLearning.Environment[k])
	}
	u.Add("Container", "Volume", mountSpec(cfg, im.ModelCache, "/cache", false))
	hw.addQuadlet(u)
	quadletService(u, im.ModelCache)
	return u.Bytes()
}

func quadletServer(cfg *schema.Config) []byte {
	im := cfg.Immich
	u := newQuadletFile()
	u.Add("Unit", "Description", "Immich server")
	u.Add("Unit", "Documentation", "https://immich.app/docs/overview/introduction")
	after := hostServices(cfg)
	requires := []string{DBInitUnit}
	if im.MachineLearning.Local() {
		after = append(after, MachineLearningUnit)
		requires = append(requires, MachineLearningUnit)
	}
	u.AddList("Unit", "Requires", requires...)
	u.AddList("Unit", "After", after...)
	quadletCommon(cfg, u, serverService, image("immich-server", im.Version, "", im.ImageDigests.Server),
		[]string{"immich-healthcheck"})
	for _, kv := range schema.ServerEnv(cfg) {
		u.AddArgs("Container", "Environment", kv[0]+"="+kv[1])
	}
	// Quadlet reads a Volume= value as it is (quotes would be part of the
	// path); the schema keeps ':' out of paths.
	u.Add("Container", "Volume", mountSpec(cfg, im.UploadLocation, schema.MediaLocation, false))
	dirs := []string{im.UploadLocation}
	for _, m := range schema.StorageMounts(cfg) {
		u.Add("Container", "Volume", mountSpec(cfg, m.Host, m.Container, false))
		dirs = append(dirs, m.Host)
	}
	u.Add("Container", "Volume", mountSpec(cfg, "/etc/localtime", "/etc/localtime", true))
	if _, ok := settingsJSON(cfg); ok {
		u.Add("Container", "Volume", mountSpec(cfg, SettingsPath(cfg), schema.SettingsContainerPath, true))
	}
	for _, lib := range im.ExternalLibraries {
		u.Add("Container", "Volume", mountSpec(cfg, lib.HostPath, lib.ContainerPath, lib.ReadOnly))
	}
	u.Comment("Container", "The secrets, read-only from "+secretsDir(cfg)+": no value is in this file.")
	for _, s := range schema.ImmichSecrets() {
		u.Add("Container", "Volume", mountSpec(cfg, path.Join(secretsDir(cfg), s.File), s.ContainerPath(), true))
	}
	port := strconv.Itoa(im.Port) + ":" + strconv.Itoa(ContainerPort)
	if im.Nginx.Enabled {
		port = "127.0.0.1:" + port
	}
	u.Add("Container", "PublishPort", port)
	for _, p := range metricsPorts(cfg) {
		u.Add("Container", "PublishPort", p)
	}
	transcodingHW(cfg).addQuadlet(u)
	quadletService(u, dirs...)
	return u.Bytes()
}

// addQuadlet writes the accelerator's keys into a container: devices (CDI
// names for NVIDIA, whatever immich.gpuMode says: Quadlet has no compose
// device reservations), groups, and what has no key of its own through
// PodmanArgs.
func (h hw) addQuadlet(u *unitFile) {
	devices := h.devices
	if len(h.nvidiaCaps) > 0 {
		devices = append(devices, nvidiaCDI)
	}
	for _, d := range devices {
		u.Add("Container", "AddDevice", d)
	}
	for _, r := range h.cgroupRules {
		u.AddArgs("Container", "PodmanArgs", "--device-cgroup-rule="+r)
	}
	for _, g := range h.groups {
		u.Add("Container", "GroupAdd", g)
	}
	for _, o := range h.securityOpts {
		u.AddArgs("Container", "PodmanArgs", "--security-opt="+o)
	}
	for _, v := range h.volumes {
		u.Add("Container", "Volume", v)
	}
}

// jsonArray writes words as a JSON array of strings, the exec form of
// HealthCmd=.
func jsonArray(words []string) string {
	b, err := json.Marshal(words)
	if err != nil {
		panic("jsonArray: " + err.Error()) // strings always encode
	}
	return string(b)
}
