package schema

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// quadletRule refuses what the Quadlet runtime cannot carry, which the
// compose runtime can.
var quadletRule = rule{
	[]string{"immich.runtime", "immich.gpuMode", "immich.uploadLocation", "immich.projectDir", "immich.modelCache", "immich.externalLibraries", "immich.environment", "immich.storage", "immich.machineLearning.environment"},
	checkQuadlet,
}

func checkQuadlet(c *Config, add addFunc) {
	im := c.Immich
	if im.Runtime != "quadlet" {
		return
	}
	if im.GPUMode == "deploy" {
		add("immich.gpuMode", `"deploy" (compose device reservations) does not apply to runtime "quadlet"`,
			`"cdi": Quadlet passes NVIDIA GPUs to the containers with CDI (nvidia.com/gpu=all)`)
	}
	paths := [][2]string{
		{"immich.uploadLocation", im.UploadLocation},
		{"immich.projectDir", im.ProjectDir},
		{"immich.modelCache", im.ModelCache},
	}
	for i, lib := range im.ExternalLibraries {
		paths = append(paths, [2]string{fmt.Sprintf("immich.externalLibraries.%d.hostPath", i), lib.HostPath})
	}
	for _, f := range StorageFolders {
		if h := f.Host(&im.Storage); h != "" {
			paths = append(paths, [2]string{"immich.storage." + f.Field, h})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(im.MachineLearning.Environment)) {
		if strings.ContainsAny(im.MachineLearning.Environment[k], "\n\r\x00") {
			add("immich.machineLearning.environment."+k, `the value has a line break or NUL, which runtime "quadlet" cannot write into a unit file`,
				`a value on one line, or runtime "compose"`)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(im.Environment)) {
		if strings.ContainsAny(im.Environment[k], "\n\r\x00") {
			add("immich.environment."+k, `the value has a line break or NUL, which runtime "quadlet" cannot write into a unit file`,
				`a value on one line, or runtime "compose"`)
		}
	}
	for _, p := range paths {
		if strings.Contains(p[1], " ") {
			add(p[0], fmt.Sprintf(`%q has a space, which runtime "quadlet" cannot mount: Podman's Quadlet writes a mounted path unquoted into RequiresMountsFor=, where systemd splits it`, p[1]),
				`a path without spaces, or runtime "compose"`)
		}
	}
}
