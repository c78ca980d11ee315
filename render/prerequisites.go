package render

import (
	"fmt"
	"slices"
	"strings"

	"github.com/immich-render/immich-render/schema"
)

// packages are the Debian packages a host needs for a configuration, per
// release, and what the package lists cannot say.
type packages struct {
	Trixie, Bookworm string // apt-get install arguments
	Notes            []string
}

// beforeDeploy is the README's checklist and package lists: what the host
// must have before the first deployment, from the chosen options.
func beforeDeploy(cfg *schema.Config) ([]string, packages) {
	im := cfg.Immich
	var check []string
	add := func(format string, args ...any) { check = append(check, fmt.Sprintf(format, args...)) }

	// Both releases: Podman and a compose provider, PostgreSQL, Valkey's
	// client for immich-verify, rsync and curl.
	trixie := []string{"podman", "podman-compose", "postgresql", "valkey-server", "valkey-tools", "rsync", "curl"}
	bookworm := []string{"podman", "podman-compose", "golang-github-containernetworking-plugin-dnsname", "postgresql", "rsync", "curl"}
	var notes []string
	switch im.Postgres.VectorExtension {
	case "pgvector":
		trixie = append(trixie, "postgresql-17-pgvector")
		notes = append(notes, "pgvector: Debian 13 packages it (`postgresql-17-pgvector`); Debian 12 does not: install "+
			"`postgresql-15-pgvector` from the PostgreSQL project's repository (apt.postgresql.org).")
	case "vectorchord":
		trixie = append(trixie, "postgresql-17-pgvector")
		notes = append(notes, "VectorChord (`vchord`, which needs pgvector): no Debian release packages it. Install the "+
			"`postgresql-<major>-vchord` package of a release from github.com/tensorchord/VectorChord/releases, "+
			"and pgvector (Debian 13: `postgresql-17-pgvector`; Debian 12: `postgresql-15-pgvector` from apt.postgresql.org). "+
			"`fragments/apply.sh` adds `vchord.so` to `shared_preload_libraries`.")
	case "pgvecto.rs":
		notes = append(notes, "pgvecto.rs (`vectors`): install the package for your PostgreSQL major version from "+
			"github.com/tensorchord/pgvecto.rs/releases; `fragments/apply.sh` adds `vectors.so` to `shared_preload_libraries`.")
	}
	if quadlet(cfg) {
		trixie = slices.DeleteFunc(trixie, func(p string) bool { return p == "podman-compose" })
		bookworm = slices.DeleteFunc(bookworm, func(p string) bool { return p == "podman-compose" })
		notes = append(notes, "The Quadlet runtime needs Podman 5.0 or later: Debian 13 has 5.4; Debian 12's Podman 4.3 "+
			"has no Quadlet, so a Debian 12 host needs `immich.runtime: \"compose\"`.")
	} else if im.ComposeCommand == "/usr/bin/podman compose" {
		notes = append(notes, "Debian 12's Podman 4.3 has no `podman compose`, which this configuration runs: set "+
			"`immich.composeCommand: \"/usr/bin/podman-compose\"` for a Debian 12 host.")
	}
	notes = append(notes, "Debian 12: `golang-github-containernetworking-plugin-dnsname` lets the containers find each "+
		"other by name on Podman 4.3's CNI networks; Debian 13's Podman uses netavark and aardvark-dns instead.")

	n := im.Nginx
	if n.Enabled {
		trixie, bookworm = append(trixie, "nginx"), append(bookworm, "nginx")
		switch n.TLS {
		case "acme":
			add("nginx's native ACME module (`ngx_http_acme_module`, nginx 1.27.4 or newer): no Debian release packages it; "+
				"nginx.org's repository does (`nginx-module-acme`). Load it with `load_module modules/ngx_http_acme_module.so;` "+
				"at the top of `/etc/nginx/nginx.conf`, and let port %d reach the host from the internet (HTTP-01).", n.HTTPPort)
		case "webroot":
			trixie, bookworm = append(trixie, "certbot", "openssl"), append(bookworm, "certbot", "openssl")
			add("certbot: the first deployment gets the first certificate for %s before nginx loads the vhost (step 3); "+
				"port %d must reach the host from the internet (HTTP-01).", n.Hostname, n.HTTPPort)
		case "manual":
			add("The certificate and key for %s at `%s` and `%s`: nginx refuses the vhost without them.", n.Hostname, n.Certificate, n.CertificateKey)
		}
		add("DNS: %s resolves to this host.", n.Hostname)
	}

	var ports []string
	if n.Enabled {
		if n.TLS != "off" {
			ports = append(ports, fmt.Sprint(n.HTTPPort), fmt.Sprint(n.HTTPSPort))
		} else {
			ports = append(ports, fmt.Sprint(n.HTTPPort))
		}
	} else {
		ports = append(ports, fmt.Sprint(im.Port))
	}
	add("Firewall: clients reach TCP %s on the host; the Podman network %s reaches TCP %d (PostgreSQL) and %d (Valkey) on %s. "+
		"Nothing else needs to be open; PostgreSQL and Valkey need not be reachable from outside.",
		strings.Join(ports, " and "), im.Network.Subnet, im.Postgres.Port, im.Valkey.Port, im.HostGateway)
	if im.SELinuxRelabel {
		add("SELinux: the bind mounts are relabelled (`:z`, `immich.selinuxRelabel`), so the containers can read them on an enforcing host.")
	} else {
		add("SELinux: on an enforcing host (Fedora, RHEL) set `immich.selinuxRelabel: true`, or the containers cannot read " +
			"their bind mounts. Debian does not enforce SELinux.")
	}
	dirs := []string{"`" + im.UploadLocation + "`"}
	for _, lib := range im.ExternalLibraries {
		dirs = append(dirs, "`"+lib.HostPath+"`")
	}
	if len(dirs) == 1 {
		add("Storage: %s exists, on the disk meant for it (immich-server writes it as root).", dirs[0])
	} else {
		add("Storage: %s exist, on the disks meant for them (immich-server writes the upload location as root).", strings.Join(dirs, ", "))
	}
	if hw := gpuNote(im.MachineLearning.Enabled, im.MachineLearning.Acceleration, im.Transcoding.Acceleration); hw != "" {
		add("%s", hw)
	}
	add("Secrets: `immich-render --secrets-out SDIR` wrote the secret files under `SDIR/rootfs%s/`.", secretsDir(cfg))

	return check, packages{Trixie: strings.Join(trixie, " "), Bookworm: strings.Join(bookworm, " "), Notes: notes}
}

// gpuNote says what the host needs for hardware acceleration, or "".
func gpuNote(ml bool, mlAccel, transcode string) string {
	var need []string
	if ml && mlAccel != "cpu" {
		need = append(need, "machine learning on "+mlAccel)
	}
	if transcode != "cpu" {
		need = append(need, "transcoding with "+transcode)
	}
	if len(need) == 0 {
		return ""
	}
	s := "Hardware: " + strings.Join(need, " and ") + " needs the device's driver on the host"
	if (ml && mlAccel == "cuda") || transcode == "nvenc" {
		s += "; NVIDIA also needs the NVIDIA Container Toolkit and a CDI specification (`nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`)"
	}
	return s + "."
}
