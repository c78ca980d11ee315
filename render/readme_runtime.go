package render

import (
	"fmt"
	"path"
	"strings"

	"github.com/immich-render/immich-render/schema"
)

// What the output README says differently for each runtime. The README
// renderer calls these where the runtime shows.

func quadlet(cfg *schema.Config) bool { return cfg.Immich.Runtime == "quadlet" }

// runtimeRow is the "At a glance" row that says how the containers run.
func runtimeRow(cfg *schema.Config) glanceRow {
	if quadlet(cfg) {
		return glanceRow{"Runtime", fmt.Sprintf("Podman Quadlet units in `%s` (Podman >= 5.0)", QuadletDir)}
	}
	return glanceRow{"Compose project", fmt.Sprintf("`%s`", ComposePath(cfg))}
}

// hostMapping says which file maps host.containers.internal, and how.
func hostMapping(cfg *schema.Config) string {
	if quadlet(cfg) {
		return "the Quadlet files map to **" + cfg.Immich.HostGateway + "** (`AddHost=`)"
	}
	return "the compose file maps to **" + cfg.Immich.HostGateway + "** (`extra_hosts`)"
}

// secretReader says how immich-server reads a secret file.
func secretReader(cfg *schema.Config, s schema.SecretField) string {
	if quadlet(cfg) {
		return "immich-server, mounted read-only at `" + s.ContainerPath() + "`"
	}
	return "immich-server, as compose secret `" + s.ComposeSecret + "`"
}

// describeRuntime says what a file of the runtime is, or "".
func describeRuntime(cfg *schema.Config, p string) string {
	switch {
	case strings.HasSuffix(p, "/"+networkQuadlet):
		return "Quadlet: the Podman network (`immich-network.service` creates it)"
	case strings.HasSuffix(p, "/"+serverQuadlet):
		return "Quadlet: `" + ServerUnit + "`, started after the database init" + mlClause(cfg, " and a healthy machine learning")
	case strings.HasSuffix(p, "/"+mlQuadlet):
		return "Quadlet: `" + MachineLearningUnit + "`, started when its health check passes"
	case strings.HasSuffix(p, "/"+ImmichUnit) && quadlet(cfg):
		return "starts, stops and restarts the containers together (they are `PartOf` it)"
	case strings.HasSuffix(p, "/"+ImmichUnit):
		return "starts the compose stack after the database init; stops it with `down`"
	case strings.HasSuffix(p, "/docker-compose.yml"):
		return "the compose stack: immich-server and immich-machine-learning"
	}
	return ""
}

func mlClause(cfg *schema.Config, s string) string {
	if cfg.Immich.MachineLearning.Enabled {
		return s
	}
	return ""
}

// runtimeDeployNote is said before the first deployment's host commands.
func runtimeDeployNote(cfg *schema.Config) string {
	if !quadlet(cfg) {
		return ""
	}
	units := "`immich-network.service`"
	for _, u := range quadletContainers(cfg) {
		units += ", `" + u + "`"
	}
	order := "in order.\n"
	if cfg.Immich.MachineLearning.Enabled {
		order = "in order, machine learning first:\n   it is ready only when healthy (`Notify=healthy`).\n"
	}
	note := "   The containers are Podman Quadlet units, which need Podman 5.0 or later (Debian 13\n" +
		"   has 5.4). `systemctl daemon-reload` runs Podman's generator: it turns the files in\n" +
		"   `" + QuadletDir + "` into the units\n" +
		"   " + units + ".\n" +
		"   `immich.service` starts them " + order
	if libs := cfg.Immich.ExternalLibraries; len(libs) > 0 {
		var paths []string
		for _, l := range libs {
			paths = append(paths, "`"+l.HostPath+"`")
		}
		note += "   The external libraries (" + strings.Join(paths, ", ") + ") must exist: Podman does not\n" +
			"   create a missing one, and the server does not start without it.\n"
	}
	return note
}

// manageCommands are the day-to-day commands for the stack.
func manageCommands(cfg *schema.Config) []string {
	im := cfg.Immich
	if quadlet(cfg) {
		cmds := []string{
			"systemctl status immich " + strings.Join(quadletContainers(cfg), " "),
			"journalctl -u " + ServerUnit + " -f   # the server's log",
		}
		if im.MachineLearning.Enabled {
			cmds = append(cmds, "journalctl -u "+MachineLearningUnit)
		}
		return append(cmds, "systemctl restart immich   # both containers, in order")
	}
	dir := shellPath(im.ProjectDir)
	return []string{
		"systemctl status immich",
		"cd " + dir + " && " + im.ComposeCommand + " logs -f immich-server",
		"cd " + dir + " && " + im.ComposeCommand + " pull && systemctl restart immich",
	}
}

// runtimeSwitchNote is the upgrade step for a Quadlet host that ran the
// compose stack before ("" for compose: a render that switches back says
// what to do in its upgrade notes).
func runtimeSwitchNote(cfg *schema.Config) string {
	if !quadlet(cfg) {
		return ""
	}
	return "   A host that ran the compose stack before: `systemctl stop immich.service` first (the\n" +
		"   old unit runs `down`), then copy, and remove `" + path.Join(cfg.Immich.ProjectDir, "docker-compose.yml") + "`.\n"
}
