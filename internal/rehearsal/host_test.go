package rehearsal

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/pgtest"
	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/internal/valkeytest"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
	"go.yaml.in/yaml/v3"
)

// Mutations: each breaks one thing of a rendered deployment.
const (
	// The gateway the seed used: Podman's default bridge, absent here.
	mutateGateway = "legacy-gateway"
	// pg_hba.conf without the fragment's line.
	mutateHBA = "no-pg_hba-line"
	// users.acl without +eval for the Immich user.
	mutateACL = "acl-without-eval"
	// The Valkey password file not copied to the host.
	mutateSecret = "secret-file-left-out"
)

// host is one deployment on a fresh host (TestHelperHost).
type host struct {
	t       *testing.T
	sc      scenario
	work    string // this host's temporary folder
	standin string // the stand-in binary
	res     result
	// lastOutput is what the last unit command line printed.
	lastOutput string

	root    string // the temporary root of the rendered host paths
	cfg     *schema.Config
	out     tree.Tree
	secrets tree.Tree
	pg      *pgtest.Server
	valkey  *valkeytest.Server
	nginx   *exec.Cmd
}

// step runs one step of the deployment and records its time; the first
// failure ends the deployment.
func (h *host) step(name string, f func() (string, error)) bool {
	if h.res.Failed != "" {
		return false
	}
	start := time.Now()
	detail, err := f()
	s := stepResult{Name: name, Ms: time.Since(start).Milliseconds(), OK: err == nil, Detail: detail}
	if err != nil {
		s.Detail = err.Error()
		h.res.Failed = name
	}
	h.res.Steps = append(h.res.Steps, s)
	h.t.Logf("step %-34s %6d ms ok=%v %s", name, s.Ms, s.OK, s.Detail)
	return err == nil
}

func (h *host) writeResult() {
	data, _ := json.MarshalIndent(h.res, "", "  ")
	if err := os.WriteFile(filepath.Join(h.work, "result.json"), data, 0o644); err != nil {
		h.t.Error(err)
	}
}

// deploy follows the rendered README: merge the fragments, start the host
// services as at boot, copy the files, run the units' command lines.
func (h *host) deploy() {
	ok := h.step("fresh host", h.freshHost) &&
		h.step("private /etc and Podman storage", h.privateFiles) &&
		h.step("PostgreSQL 15 cluster", h.startPostgres) &&
		h.step("render "+h.sc.Example+" "+h.sc.Host, h.render) &&
		h.step("stand-in images", h.images) &&
		h.step("fragments/apply.sh", h.apply) &&
		h.step("copy rootfs and secrets", h.copyFiles) &&
		h.step("boot: PostgreSQL and Valkey", h.boot) &&
		h.step("nginx", h.startNginx) &&
		h.step("immich-db-init.service ExecStart", func() (string, error) { return h.unitLines(render.DBInitUnit, "ExecStart") }) &&
		h.step("immich.service ExecStartPre", func() (string, error) { return h.unitLines(render.ImmichUnit, "ExecStartPre") }) &&
		h.step("immich.service ExecStart", func() (string, error) { return h.unitLines(render.ImmichUnit, "ExecStart") }) &&
		h.step("compose created the containers", h.checkContainers) &&
		h.standinSteps() &&
		h.step("upload in uploadLocation", h.checkUpload) &&
		h.step("HTTP on the published port", h.checkPublished) &&
		h.step("nginx proxies HTTP and a websocket", h.checkNginx) &&
		h.step("immich.service ExecStop", func() (string, error) { return h.unitLines(render.ImmichUnit, "ExecStop") }) &&
		h.step("no container left", h.noContainers)
	_ = ok
}

// run runs a command, returning its combined output in the error.
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// freshHost makes this network namespace look like a machine that has
// just booted: loopback up, an uplink with a default route (where packets
// to an address the host does not have go, as on a real host), no Podman
// bridge and no sysctl of ours.
func (h *host) freshHost() (string, error) {
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(h.work, "netns"), []byte(ns), 0o644); err != nil {
		return "", err
	}
	if host, _ := os.Readlink("/proc/1/ns/net"); host == ns {
		return "", errors.New("not in a network namespace of its own")
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1"},
		{"addr", "add", "192.0.2.10/24", "dev", "uplink0"},
		{"link", "set", "uplink0", "up"},
		{"link", "set", "uplink1", "up"},
		{"route", "add", "default", "via", "192.0.2.1"},
	} {
		if _, err := run("ip", args...); err != nil {
			return "", err
		}
	}
	links, err := run("ip", "-o", "link", "show")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(links, "\n") {
		if f := strings.Fields(l); len(f) > 1 && (strings.HasPrefix(f[1], "cni-podman") || strings.HasPrefix(f[1], "podman")) {
			if _, err := run("ip", "link", "delete", strings.TrimSuffix(f[1], ":")); err != nil {
				return "", err
			}
		}
	}
	nl, _ := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind")
	return fmt.Sprintf("netns %s, no Podman bridge, ip_nonlocal_bind=%s", ns, strings.TrimSpace(string(nl))), nil
}

// privateFiles gives the host its own /etc (an overlay of the machine's on
// a tmpfs), its own Podman storage and CNI state, so that apply.sh and
// the units write where they would on a host without touching this one.
func (h *host) privateFiles() (string, error) {
	if err := os.Chmod(h.work, 0o755); err != nil { // PostgreSQL's user reads init.sql below it
		return "", err
	}
	ovl := filepath.Join(h.work, "etc-overlay")
	if err := os.MkdirAll(ovl, 0o755); err != nil {
		return "", err
	}
	if err := syscall.Mount("tmpfs", ovl, "tmpfs", 0, "mode=0755"); err != nil {
		return "", fmt.Errorf("tmpfs on %s: %w", ovl, err)
	}
	for _, d := range []string{"upper", "work"} {
		if err := os.Mkdir(filepath.Join(ovl, d), 0o755); err != nil {
			return "", err
		}
	}
	opts := fmt.Sprintf("lowerdir=/etc,upperdir=%s/upper,workdir=%s/work", ovl, ovl)
	if err := syscall.Mount("overlay", "/etc", "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("overlay on /etc: %w", err)
	}
	// /run likewise, for apply.sh's lock and what the services keep there.
	for _, d := range []string{"run-upper", "run-work"} {
		if err := os.Mkdir(filepath.Join(ovl, d), 0o755); err != nil {
			return "", err
		}
	}
	opts = fmt.Sprintf("lowerdir=/run,upperdir=%s/run-upper,workdir=%s/run-work", ovl, ovl)
	if err := syscall.Mount("overlay", "/run", "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("overlay on /run: %w", err)
	}
	// Empty folders the host's services and Podman keep state in.
	// /etc/valkey too: this host's Valkey is redis-server, configured in
	// /etc/redis, and apply.sh prefers a valkey.conf the machine may have.
	for _, d := range []string{"/etc/postgresql", "/etc/valkey", "/etc/nginx/conf.d", "/etc/cni/net.d", "/var/lib/cni", "/run/containers", "/run/netns"} {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		if err := syscall.Mount("tmpfs", d, "tmpfs", 0, "mode=0755"); err != nil {
			return "", fmt.Errorf("tmpfs on %s: %w", d, err)
		}
	}
	// apply.sh keeps the host's original files there, for --undo.
	if err := os.MkdirAll("/var/lib/immich-render", 0o755); err != nil {
		return "", err
	}
	if err := syscall.Mount("tmpfs", "/var/lib/immich-render", "tmpfs", 0, "mode=0755"); err != nil {
		return "", fmt.Errorf("tmpfs on /var/lib/immich-render: %w", err)
	}
	h.t.Cleanup(h.teardown)
	for _, d := range []string{"/etc/valkey", "/etc/containers"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	storage := filepath.Join(h.work, "containers")
	// This machine kind runs rootful containers with runc and lower
	// default ulimits (crun fails on its cgroups and raising rlimits).
	files := map[string]string{
		"/etc/containers/containers.conf": fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "%[1]s/events.log"
tmp_dir = "%[1]s/libpod-tmp"
`, storage),
		"/etc/containers/storage.conf": fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = "%[1]s/storage"
runroot = "%[1]s/run"
`, storage),
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return "/etc is an overlay, Podman storage in " + storage, nil
}

// startPostgres makes the host's PostgreSQL: a cluster whose configuration
// folder is /etc/postgresql/15/main, as on Debian (which also includes conf.d).
func (h *host) startPostgres() (string, error) {
	h.pg = pgtest.Start(h.t)
	h.pg.AppendFile(h.t, filepath.Join(h.pg.Data(), "postgresql.conf"), "include_dir = 'conf.d'\n")
	if err := os.MkdirAll("/etc/postgresql/15", 0o755); err != nil {
		return "", err
	}
	return "port " + strconv.Itoa(h.pg.Port), os.Symlink(h.pg.Data(), "/etc/postgresql/15/main")
}

// loadExample loads an example (or a fleet example's host) as the CLI does,
// with extra inputs (CUE unified with the example's files) after its own.
func loadExample(name, hostName string, extra ...schema.Input) (*schema.Config, error) {
	return loadExampleEdited(name, hostName, nil, extra...)
}

// loadExampleEdited is loadExample with each of the example's files
// passed through edit first (when not nil).
func loadExampleEdited(name, hostName string, edit func([]byte) []byte, extra ...schema.Input) (*schema.Config, error) {
	dir := filepath.Join("..", "..", "examples", name)
	files, _ := filepath.Glob(filepath.Join(dir, "immich.*"))
	var inputs []schema.Input
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if edit != nil {
			data = edit(data)
		}
		inputs = append(inputs, schema.Input{Name: f, Data: data})
	}
	inputs = append(inputs, extra...)
	env := map[string]string{}
	data, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			env[k] = v
		}
	}
	opt := schema.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	if hostName != "" {
		fl, err := schema.LoadFleet(inputs, opt, schema.FleetOptions{Hosts: []string{hostName}})
		if err != nil {
			return nil, err
		}
		return fl.Hosts[0].Config, nil
	}
	s, err := schema.Compile()
	if err != nil {
		return nil, err
	}
	return s.Load(inputs, opt)
}

// render renders the example with its host paths under a temporary root,
// the test cluster's port, and Debian 12's compose command.
func (h *host) render() (string, error) {
	cfg, err := loadExample(h.sc.Example, h.sc.Host)
	if err != nil {
		return "", err
	}
	h.root = filepath.Join(h.work, "root")
	im := &cfg.Immich
	im.ProjectDir = h.root + im.ProjectDir
	im.UploadLocation = h.root + im.UploadLocation
	im.ModelCache = h.root + im.ModelCache
	for i := range im.ExternalLibraries {
		im.ExternalLibraries[i].HostPath = h.root + im.ExternalLibraries[i].HostPath
		if err := os.MkdirAll(im.ExternalLibraries[i].HostPath, 0o755); err != nil {
			return "", err
		}
	}
	for _, d := range []string{im.UploadLocation, im.ModelCache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	im.Postgres.Port = h.pg.Port
	im.ComposeCommand = "/usr/bin/podman-compose"
	if h.sc.Mutate == mutateGateway {
		im.HostGateway = render.LegacyHostGateway
	}
	h.cfg = cfg
	res := render.Render(cfg, render.Options{Secrets: true})
	h.out, h.secrets = res.Out, res.Secrets
	if h.sc.Mutate == mutateACL {
		p := "rootfs/etc/valkey/users.acl"
		f := h.out[p]
		edited := bytes.Replace(f.Data, []byte(" +eval "), []byte(" "), 1)
		if bytes.Equal(edited, f.Data) {
			return "", errors.New("users.acl has no +eval to remove")
		}
		f.Data = edited
		h.out[p] = f
	}
	for dir, tr := range map[string]tree.Tree{"out": h.out, "secrets": h.secrets} {
		for _, p := range tr.Paths() {
			name := filepath.Join(h.work, dir, p)
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return "", err
			}
			if err := os.WriteFile(name, tr[p].Data, tr[p].Mode); err != nil {
				return "", err
			}
		}
	}
	return fmt.Sprintf("%d files, %d secret files; hostGateway %s", len(h.out), len(h.secrets), im.HostGateway), nil
}

// images imports the stand-in as every image the compose file names,
// tagged exactly so, from a tar holding the static binary.
func (h *host) images() (string, error) {
	var doc struct {
		Services map[string]struct{ Image string }
	}
	if err := yaml.Unmarshal(h.out[rootfsPath(render.ComposePath(h.cfg))].Data, &doc); err != nil {
		return "", err
	}
	var tags []string
	for name, svc := range doc.Services {
		mode := "server"
		if name == "immich-machine-learning" {
			mode = "ml"
		}
		tarball, err := h.imageTar()
		if err != nil {
			return "", err
		}
		if _, err := run("podman", "import",
			"--change", `ENTRYPOINT ["/usr/local/bin/standin", "`+mode+`"]`,
			"--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin",
			"--change", "WORKDIR /usr/src",
			tarball, svc.Image); err != nil {
			return "", err
		}
		tags = append(tags, svc.Image)
	}
	slices.Sort(tags)
	return strings.Join(tags, ", "), nil
}

// imageTar writes the stand-in image's root: the binary under the names
// the compose healthchecks call, and the folders a container needs.
func (h *host) imageTar() (string, error) {
	bin, err := os.ReadFile(h.standin)
	if err != nil {
		return "", err
	}
	name := filepath.Join(h.work, "standin.tar")
	f, err := os.Create(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/", "usr/bin/", "usr/src/", "tmp/", "etc/", "data/", "cache/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: mode}); err != nil {
			return "", err
		}
	}
	for _, p := range []string{"usr/local/bin/standin", "usr/local/bin/immich-healthcheck", "usr/bin/python3"} {
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(bin); err != nil {
			return "", err
		}
	}
	return name, tw.Close()
}

func rootfsPath(hostPath string) string { return tree.Rooted("rootfs", hostPath) }

// apply runs fragments/apply.sh as the README says, after giving the host
// the Valkey configuration it owns.
func (h *host) apply() (string, error) {
	conf := fmt.Sprintf("daemonize no\nsave \"\"\nappendonly no\nlogfile \"\"\ndir %s\n", h.work)
	if err := os.WriteFile("/etc/valkey/valkey.conf", []byte(conf), 0o644); err != nil {
		return "", err
	}
	out, err := run(filepath.Join(h.work, "out", "fragments", "apply.sh"))
	if err != nil {
		return "", err
	}
	// The vector extensions here are pgtest's empty stand-ins, without a
	// library to preload: the one line of the merged settings left out.
	dropIn := filepath.Join(h.pg.Data(), "conf.d", "immich-render.conf")
	merged, err := os.ReadFile(dropIn)
	if err != nil {
		return "", err
	}
	merged = regexp.MustCompile(`(?m)^shared_preload_libraries`).ReplaceAll(merged, []byte("#shared_preload_libraries"))
	if err := os.WriteFile(dropIn, merged, 0o644); err != nil {
		return "", err
	}
	if h.sc.Mutate == mutateHBA {
		hba := filepath.Join(h.pg.Data(), "pg_hba.conf")
		data, err := os.ReadFile(hba)
		if err != nil {
			return "", err
		}
		lines := strings.Split(string(data), "\n")
		kept := slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, h.cfg.Immich.Network.Subnet) })
		if len(kept) == len(lines) {
			return "", errors.New("pg_hba.conf has no line for the network to remove")
		}
		if err := os.WriteFile(hba, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
			return "", err
		}
	}
	nl, _ := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind")
	return strings.TrimSpace(out + " ip_nonlocal_bind=" + strings.TrimSpace(string(nl))), nil
}

// boot starts PostgreSQL (again, with the merged configuration) and
// Valkey, before the Immich network or its bridge exist, as at boot.
func (h *host) boot() (string, error) {
	if addrs, _ := run("ip", "-o", "addr", "show"); strings.Contains(addrs, " "+h.cfg.Immich.HostGateway+"/") {
		return "", fmt.Errorf("the host already has %s before boot:\n%s", h.cfg.Immich.HostGateway, addrs)
	}
	if _, err := h.pg.Cmd(nil, "pg_ctl", "-D", h.pg.Data(), "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		return "", err
	}
	if err := h.pg.StartServer(); err != nil {
		log, _ := os.ReadFile(filepath.Join(h.pg.Dir, "server.log"))
		return "", fmt.Errorf("%v\n%s", err, log)
	}
	listen := h.pg.Superuser(h.t, "postgres", "SHOW listen_addresses")
	vk, err := valkeytest.Start(valkeytest.Options{Binary: "/usr/bin/valkey-server", ConfigFile: "/etc/valkey/valkey.conf",
		NoListenArgs: true, Network: "tcp", Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(h.cfg.Immich.Valkey.Port))})
	if err != nil {
		return "", err
	}
	h.valkey = vk
	h.t.Cleanup(vk.Close)
	return fmt.Sprintf("PostgreSQL listen_addresses=%s; Valkey on :%d", listen, h.cfg.Immich.Valkey.Port), nil
}

// copyFiles puts rootfs/ and the secrets' rootfs/ in place, as the
// README's rsync lines do, file by file (an rsync of the tree to / would
// also reset the modes of the temporary root's parents), then the chown
// lines.
func (h *host) copyFiles() (string, error) {
	n := 0
	for dir, tr := range map[string]tree.Tree{"out": h.out, "secrets": h.secrets} {
		for _, p := range tr.Paths() {
			hostPath, ok := strings.CutPrefix(p, "rootfs/")
			if !ok {
				continue
			}
			hostPath = "/" + hostPath
			if h.sc.Mutate == mutateSecret && strings.HasSuffix(hostPath, "/secrets/redis_password") {
				continue
			}
			dirMode := os.FileMode(0o755)
			if dir == "secrets" {
				dirMode = 0o700
			}
			if err := os.MkdirAll(filepath.Dir(hostPath), dirMode); err != nil {
				return "", err
			}
			if err := os.WriteFile(hostPath, tr[p].Data, tr[p].Mode); err != nil {
				return "", err
			}
			if owner := tr[p].Owner; owner != "" {
				if err := chown(hostPath, owner); err != nil {
					return "", err
				}
			}
			n++
		}
	}
	return fmt.Sprintf("%d files", n), nil
}

// chown gives a file to user:group; a group this machine lacks stays
// root's.
func chown(name, owner string) error {
	u, g, _ := strings.Cut(owner, ":")
	uu, err := user.Lookup(u)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(uu.Uid)
	gid := 0
	if gg, err := user.LookupGroup(g); err == nil {
		gid, _ = strconv.Atoi(gg.Gid)
	}
	return os.Chown(name, uid, gid)
}

// startNginx runs nginx with the rendered vhost from /etc/nginx/conf.d,
// and for tls manual a test certificate where the configuration says.
func (h *host) startNginx() (string, error) {
	ng := h.cfg.Immich.Nginx
	if !ng.Enabled {
		return "not enabled", nil
	}
	if ng.TLS == "manual" {
		if err := os.MkdirAll(filepath.Dir(ng.Certificate), 0o755); err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Dir(ng.CertificateKey), 0o700); err != nil {
			return "", err
		}
		if _, err := run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-days", "2", "-subj", "/CN="+ng.Hostname, "-addext", "subjectAltName=DNS:"+ng.Hostname,
			"-keyout", ng.CertificateKey, "-out", ng.Certificate); err != nil {
			return "", err
		}
	}
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
events {}
http {
	access_log off;
	client_body_temp_path %[1]s/nginx-body;
	proxy_temp_path %[1]s/nginx-proxy;
	include /etc/nginx/conf.d/*.conf;
}
`, h.work)
	if err := os.WriteFile("/etc/nginx/nginx.conf", []byte(main), 0o644); err != nil {
		return "", err
	}
	if _, err := run("nginx", "-t", "-q"); err != nil {
		return "", err
	}
	// Its own process group, so that the workers go with the master.
	h.nginx = exec.Command("nginx", "-g", "daemon off;")
	h.nginx.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := h.nginx.Start(); err != nil {
		return "", err
	}
	h.t.Cleanup(func() { syscall.Kill(-h.nginx.Process.Pid, syscall.SIGKILL); h.nginx.Wait() })
	return "tls " + ng.TLS, nil
}

// unitLines runs the command lines of a key of a rendered unit, as
// systemd would: in its WorkingDirectory, as its User, with its
// Environment. The one addition is PGHOST, the test cluster's socket
// folder, where the unit relies on Debian's default /run/postgresql.
func (h *host) unitLines(unit, key string) (string, error) {
	u, err := parseUnit(h.out[rootfsPath("/etc/systemd/system/"+unit)].Data)
	if err != nil {
		return "", err
	}
	var outputs []string
	for _, line := range u[key] {
		argv, err := execArgs(line)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", key, line, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = "/"
		if wd := u["WorkingDirectory"]; len(wd) > 0 {
			cmd.Dir = unescapeValue(wd[0])
		}
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
		for _, e := range u["Environment"] {
			cmd.Env = append(cmd.Env, unescapeValue(e))
		}
		if users := u["User"]; len(users) > 0 {
			uu, err := user.Lookup(users[0])
			if err != nil {
				return "", err
			}
			uid, _ := strconv.Atoi(uu.Uid)
			gid, _ := strconv.Atoi(uu.Gid)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			cmd.Env = append(cmd.Env, "HOME="+uu.HomeDir, "USER="+uu.Username, "PGHOST="+h.pg.Dir)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%q: %v\n%s", argv, err, out)
		}
		h.lastOutput = string(out)
		outputs = append(outputs, fmt.Sprintf("%q", argv))
	}
	if len(outputs) == 0 {
		return "", fmt.Errorf("%s has no %s line", unit, key)
	}
	return strings.Join(outputs, "; "), nil
}

// standinSteps waits for the immich-server stand-in to report its start-up
// steps (or its first failure), and records each as a step.
func (h *host) standinSteps() bool {
	if h.res.Failed != "" {
		return false
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(90 * time.Second)
	lineRE := regexp.MustCompile(`^rehearsal step=(\S+) ok=(true|false) ms=(\d+) detail=(".*")$`)
	for {
		logs, _ := exec.Command("podman", "logs", "immich_server").CombinedOutput()
		ready := false
		for _, l := range strings.Split(string(logs), "\n") {
			if l == "rehearsal ready" {
				ready = true
			}
			m := lineRE.FindStringSubmatch(l)
			if m == nil || seen[m[1]] {
				continue
			}
			seen[m[1]] = true
			ms, _ := strconv.ParseInt(m[3], 10, 64)
			detail, _ := strconv.Unquote(m[4])
			s := stepResult{Name: "standin:" + m[1], Ms: ms, OK: m[2] == "true", Detail: detail}
			h.res.Steps = append(h.res.Steps, s)
			h.t.Logf("step %-34s %6d ms ok=%v %s", s.Name, s.Ms, s.OK, s.Detail)
			if !s.OK {
				h.res.Failed = s.Name
				h.dumpContainers()
				return false
			}
		}
		if ready {
			return true
		}
		if time.Now().After(deadline) {
			h.dumpContainers()
			return h.step("standin: start-up", func() (string, error) {
				return "", fmt.Errorf("the stand-in did not report ready within 90s:\n%s", logs)
			})
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (h *host) dumpContainers() {
	for _, args := range [][]string{{"ps", "-eo", "pid,args"}, {"podman", "network", "inspect", h.cfg.Immich.Network.Name}, {"sh", "-c", "cat /run/containers/storage/overlay-containers/*/userdata/resolv.conf; find /run/containers -name '*.conf' | head; cat " + h.work + "/containers/run/overlay-containers/*/userdata/resolv.conf"}} {
		out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
		h.t.Logf("%q:\n%s", args, out)
	}
	ss, _ := exec.Command("ss", "-ltnup").CombinedOutput()
	h.t.Logf("listening sockets:\n%s", ss)
	if h.valkey != nil {
		h.t.Logf("Valkey exited: %v; log:\n%s", h.valkey.Exited(), h.valkey.Log())
	}
	for _, c := range []string{"immich_server", "immich_machine_learning"} {
		out, _ := exec.Command("podman", "logs", c).CombinedOutput()
		h.t.Logf("podman logs %s:\n%s", c, out)
	}
}

func (h *host) checkUpload() (string, error) {
	name := filepath.Join(h.cfg.Immich.UploadLocation, "rehearsal", "standin.txt")
	data, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %q", name, strings.TrimSpace(string(data))), nil
}

// checkPublished asks the server through the port compose publishes.
func (h *host) checkPublished() (string, error) {
	url := fmt.Sprintf("http://127.0.0.1:%d/api/server/ping", h.cfg.Immich.Port)
	body, err := httpGet(http.DefaultClient, url, "")
	if err != nil {
		return "", err
	}
	return url + ": " + body, nil
}

func httpGet(c *http.Client, url, hostHeader string) (string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return "", err
	}
	if hostHeader != "" {
		req.Host = hostHeader
	}
	var last error
	for range 20 {
		resp, err := c.Do(req)
		if err != nil {
			last = err
			time.Sleep(250 * time.Millisecond)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"res":"pong"`) {
			return "", fmt.Errorf("GET %s: %s %s", url, resp.Status, body)
		}
		return string(body), nil
	}
	return "", last
}

// checkNginx sends a request and a websocket upgrade through nginx.
func (h *host) checkNginx() (string, error) {
	ng := h.cfg.Immich.Nginx
	if !ng.Enabled {
		return "not enabled", nil
	}
	scheme, port := "http", ng.HTTPPort
	var tlsConf *tls.Config
	if ng.TLS != "off" {
		scheme, port = "https", ng.HTTPSPort
		tlsConf = &tls.Config{ServerName: ng.Hostname, InsecureSkipVerify: true}
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	url := fmt.Sprintf("%s://127.0.0.1:%d/api/server/ping", scheme, port)
	body, err := httpGet(c, url, ng.Hostname)
	if err != nil {
		return "", err
	}
	if !strings.Contains(body, `"forwardedFor":"127.0.0.1"`) {
		return "", fmt.Errorf("nginx did not pass X-Forwarded-For: %s", body)
	}
	frame, err := websocketThrough(fmt.Sprintf("127.0.0.1:%d", port), ng.Hostname, tlsConf)
	if err != nil {
		return "", fmt.Errorf("websocket through nginx: %w", err)
	}
	return fmt.Sprintf("%s: %s; websocket: %q", url, body, frame), nil
}

// websocketThrough upgrades /api/socket.io/ through nginx and reads the
// stand-in's first frame.
func websocketThrough(addr, hostname string, tlsConf *tls.Config) (string, error) {
	var conn net.Conn
	var err error
	if tlsConf != nil {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tlsConf)
	} else {
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /api/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", hostname)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		return "", fmt.Errorf("upgrade answered %s %v", resp.Status, resp.Header)
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		return "", err
	}
	payload := make([]byte, head[1]&0x7f)
	if _, err := io.ReadFull(br, payload); err != nil {
		return "", err
	}
	return string(payload), nil
}

func (h *host) noContainers() (string, error) {
	out, err := run("podman", "ps", "-a", "--format", "{{.Names}}")
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(out) != "" {
		return "", fmt.Errorf("containers left after the stop line: %s", out)
	}
	return "podman ps -a is empty", nil
}

// teardown removes what a failed deployment left: its containers and the
// network (the bridge goes with it). Whatever still runs in the namespace
// afterwards, runHost kills.
func (h *host) teardown() {
	if out, err := exec.Command("podman", "rm", "-af", "-t", "0").CombinedOutput(); err != nil {
		h.t.Logf("podman rm -af: %v\n%s", err, out)
	}
	if h.cfg != nil {
		name := h.cfg.Immich.Network.Name
		if exec.Command("podman", "network", "exists", name).Run() == nil {
			if out, err := exec.Command("podman", "network", "rm", "-f", name).CombinedOutput(); err != nil {
				h.t.Errorf("podman network rm %s: %v\n%s", name, err, out)
			}
		}
	}
}

// checkContainers checks that compose created every container: Debian
// 12's podman-compose exits 0 even when a container cannot be created (a
// secret file missing), and immich.service then looks started.
func (h *host) checkContainers() (string, error) {
	out, err := run("podman", "ps", "-a", "--format", "{{.Names}}")
	if err != nil {
		return "", err
	}
	want := []string{"immich_server"}
	if h.cfg.Immich.MachineLearning.Enabled {
		want = append(want, "immich_machine_learning")
	}
	have := strings.Fields(out)
	for _, name := range want {
		if !slices.Contains(have, name) {
			return "", fmt.Errorf("no container %s after compose up (which exited 0); it printed:\n%s", name, h.lastOutput)
		}
	}
	return strings.Join(have, ", "), nil
}
