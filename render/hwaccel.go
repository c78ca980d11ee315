package render

import (
	"github.com/immich-render/immich-render/schema"
	"go.yaml.in/yaml/v3"
)

// hw is what a hardware accelerator adds to a service, after upstream's
// hwaccel.ml.yml and hwaccel.transcoding.yml.
type hw struct {
	tagSuffix    string   // machine-learning image tag suffix, such as "-cuda"
	devices      []string // host:container device paths, or CDI names
	cgroupRules  []string
	groups       []string
	securityOpts []string
	volumes      []string
	nvidiaCaps   []string // for gpuMode "deploy": device reservation capabilities
}

// add writes the accelerator's keys into a service mapping.
func (h hw) add(svc *yaml.Node) {
	if len(h.devices) > 0 {
		yAdd(svc, "devices", h.devices)
	}
	if len(h.cgroupRules) > 0 {
		yAdd(svc, "device_cgroup_rules", h.cgroupRules)
	}
	if len(h.groups) > 0 {
		yAdd(svc, "group_add", h.groups)
	}
	if len(h.securityOpts) > 0 {
		yAdd(svc, "security_opt", h.securityOpts)
	}
	if len(h.volumes) > 0 {
		// The service already has a volumes key: extend it.
		for i := 0; i < len(svc.Content); i += 2 {
			if svc.Content[i].Value == "volumes" {
				for _, v := range h.volumes {
					svc.Content[i+1].Content = append(svc.Content[i+1].Content, yStr(v))
				}
			}
		}
	}
	if len(h.nvidiaCaps) > 0 {
		yAdd(svc, "deploy", yMap("resources", yMap("reservations", yMap("devices", ySeq(
			yMap("driver", "nvidia", "count", 1, "capabilities", h.nvidiaCaps),
		)))))
	}
}

// nvidia passes NVIDIA GPUs the way the configuration asks: CDI on Podman,
// a compose device reservation for Docker.
func nvidia(cfg *schema.Config, caps ...string) hw {
	if cfg.Immich.GPUMode == "deploy" {
		return hw{nvidiaCaps: caps}
	}
	return hw{devices: []string{nvidiaCDI}}
}

// nvidiaCDI is the CDI name of every NVIDIA GPU of the host.
const nvidiaCDI = "nvidia.com/gpu=all"

var unconfined = []string{"systempaths=unconfined", "apparmor=unconfined"}

func mlHW(cfg *schema.Config) hw {
	var h hw
	switch cfg.Immich.MachineLearning.Acceleration {
	case "cuda":
		h = nvidia(cfg, "gpu")
	case "openvino":
		h = hw{devices: []string{"/dev/dri:/dev/dri"}, cgroupRules: []string{"c 189:* rmw"},
			volumes: []string{"/dev/bus/usb:/dev/bus/usb"}}
	case "armnn":
		h = hw{devices: []string{"/dev/mali0:/dev/mali0"},
			volumes: []string{"/lib/firmware/mali_csffw.bin:/lib/firmware/mali_csffw.bin:ro", "/usr/lib/libmali.so:/usr/lib/libmali.so:ro"}}
	case "rknn":
		h = hw{devices: []string{"/dev/dri:/dev/dri"}, securityOpts: unconfined}
	case "rocm":
		h = hw{devices: []string{"/dev/dri:/dev/dri", "/dev/kfd:/dev/kfd"}, groups: []string{"video"}}
	}
	if a := cfg.Immich.MachineLearning.Acceleration; a != "cpu" {
		h.tagSuffix = "-" + a
	}
	return h
}

func transcodingHW(cfg *schema.Config) hw {
	switch cfg.Immich.Transcoding.Acceleration {
	case "nvenc":
		return nvidia(cfg, "gpu", "compute", "video")
	case "quicksync", "vaapi":
		return hw{devices: []string{"/dev/dri:/dev/dri"}}
	case "rkmpp":
		return hw{devices: []string{"/dev/rga:/dev/rga", "/dev/dri:/dev/dri", "/dev/dma_heap:/dev/dma_heap", "/dev/mpp_service:/dev/mpp_service"},
			groups: []string{"video"}, securityOpts: unconfined}
	}
	return hw{}
}
