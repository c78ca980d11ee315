package pipeline

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"cuelang.org/go/cue/token"

	"github.com/immich-render/immich-render/internal/output"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
)

// digestKeys are the manifest metadata keys (after "hosts.<name>." in a
// fleet) of the image digests a render pinned, with their config paths:
// a version change that keeps one deploys the old image.
var digestKeys = []struct{ key, path, image string }{
	{"imageDigests.machineLearning", "immich.imageDigests.machineLearning", "immich-machine-learning"},
	{"imageDigests.server", "immich.imageDigests.server", "immich-server"},
}

func digestOf(cfg *schema.Config, key string) string {
	if key == "imageDigests.server" {
		return cfg.Immich.ImageDigests.Server
	}
	return cfg.Immich.ImageDigests.MachineLearning
}

// recordDigests adds the pinned digests of the rendered hosts, and those
// the last render recorded for the hosts a partial render keeps, to the
// manifest metadata.
func recordDigests(meta map[string]string, hosts []schema.FleetHost, kept []string, prev map[string]string) {
	for _, h := range hosts {
		for _, d := range digestKeys {
			if v := digestOf(h.Config, d.key); v != "" {
				meta[metaKey(h.Name, d.key)] = v
			}
		}
	}
	for _, name := range kept {
		for _, d := range digestKeys {
			if v := prev[metaKey(name, d.key)]; v != "" {
				meta[metaKey(name, d.key)] = v
			}
		}
	}
}

// upgradeProblems compares each host's Immich version and image digests
// with those the last render recorded in out's manifest: a jump Immich
// refuses (render.UpgradeSteps), and a digest kept across a version
// change, are configuration problems.
func upgradeProblems(hosts []schema.FleetHost, prev map[string]string, out string) schema.Problems {
	manifest := filepath.Join(out, output.ManifestName)
	var probs schema.Problems
	for _, h := range hosts {
		cfg := h.Config
		from, to := prev[metaKey(h.Name, "immichVersion")], cfg.Immich.Version
		if from == "" || from == to {
			continue
		}
		at := func(path string) []token.Pos {
			return append(slices.Clip(h.Positions(path)), schema.PosAt(fmt.Sprintf("%s (the last render, for Immich %s)", manifest, from), 0, 0))
		}
		for _, r := range render.UpgradeRefusals(from, to) {
			probs = append(probs, upgradeProblem(h.Name, "immich.version", r.Reason+" (source: "+r.Step.Source+")", r.Path, at("immich.version")))
		}
		for _, d := range digestKeys {
			if v := digestOf(cfg, d.key); v != "" && v == prev[metaKey(h.Name, d.key)] {
				probs = append(probs, upgradeProblem(h.Name, d.path,
					fmt.Sprintf("unchanged while immich.version changes from %s to %s: it pins the image of %s, so %s would not be deployed", from, to, from, to),
					fmt.Sprintf("the digest of ghcr.io/immich-app/%s:%s, or no digest", d.image, to), at(d.path)))
			}
		}
	}
	return probs
}

// upgradeProblem is a problem with a host's upgrade, at a dotted site
// path.
func upgradeProblem(host, path, reason, hint string, pos []token.Pos) schema.Problem {
	elems := strings.Split(path, ".")
	if host != "" {
		elems = append([]string{"hosts", host}, elems...)
	}
	return schema.ProblemAt(elems, schema.KindInvalid, reason, hint, pos...)
}
