package schema

import (
	"fmt"
	"maps"
	"slices"
)

// MediaLocation is where immich-server has the upload location.
const MediaLocation = "/data"

// Storage is immich.storage: host paths of folders of the upload location.
type Storage struct {
	Thumbs       string `json:"thumbs,omitempty"`
	EncodedVideo string `json:"encodedVideo,omitempty"`
	Profile      string `json:"profile,omitempty"`
	Backups      string `json:"backups,omitempty"`
}

// Metrics is immich.metrics: Immich's Prometheus endpoints.
type Metrics struct {
	Enabled bool   `json:"enabled"`
	Address string `json:"address"`
}

// StorageFolder is a folder of Immich's media location that may be
// mounted from its own host path: one table for every renderer.
type StorageFolder struct {
	Field  string // under immich.storage
	Folder string // under /data, Immich's StorageFolder name
	Host   func(*Storage) string
}

// StorageFolders are the folders upstream documents for separate storage.
var StorageFolders = []StorageFolder{
	{"thumbs", "thumbs", func(s *Storage) string { return s.Thumbs }},
	{"encodedVideo", "encoded-video", func(s *Storage) string { return s.EncodedVideo }},
	{"profile", "profile", func(s *Storage) string { return s.Profile }},
	{"backups", "backups", func(s *Storage) string { return s.Backups }},
}

// Mount is a host path mounted into a container.
type Mount struct{ Host, Container string }

// StorageMounts are the mounts of immich.storage, in table order.
func StorageMounts(c *Config) []Mount {
	var out []Mount
	for _, f := range StorageFolders {
		if h := f.Host(&c.Immich.Storage); h != "" {
			out = append(out, Mount{h, MediaLocation + "/" + f.Folder})
		}
	}
	return out
}

// BackupsFolder is the host folder of Immich's own database dumps.
func BackupsFolder(c *Config) string {
	if c.Immich.Storage.Backups != "" {
		return c.Immich.Storage.Backups
	}
	return c.Immich.UploadLocation + "/backups"
}

// MetricsPorts are immich-server's Prometheus ports: the api worker's and
// the microservices worker's.
var MetricsPorts = []struct {
	Worker string
	Port   int
}{{"api", 8081}, {"microservices", 8082}}

// MLCacheEnv are the model-cache variables Immich's Helm chart sets on the
// machine-learning container, so that libraries that write caches of
// their own keep them in the model cache volume (and work as non-root).
var MLCacheEnv = [][2]string{
	{"TRANSFORMERS_CACHE", "/cache"},
	{"HF_XET_CACHE", "/cache/huggingface-xet"},
	{"MPLCONFIGDIR", "/cache/matplotlib-config"},
}

// checkStorage refuses a storage path that is another's or the upload
// location itself: the mounts would overlap.
func checkStorage(c *Config, add addFunc) {
	seen := map[string]string{}
	for _, f := range StorageFolders {
		h := f.Host(&c.Immich.Storage)
		if h == "" {
			continue
		}
		field := "immich.storage." + f.Field
		switch {
		case h == c.Immich.UploadLocation:
			add(field, h+" is immich.uploadLocation itself; it would be mounted over its own "+f.Folder+" folder",
				"a host path of its own, such as \"/srv/ssd/immich/"+f.Folder+"\"")
		case seen[h] != "":
			add(field, h+" is also immich.storage."+seen[h], "a host path for each folder")
		}
		seen[h] = f.Field
	}
}

// checkMetrics refuses a metrics port that is also Immich's published port.
func checkMetrics(c *Config, add addFunc) {
	if !c.Immich.Metrics.Enabled {
		return
	}
	for _, p := range MetricsPorts {
		if p.Port == c.Immich.Port {
			add("immich.port", fmt.Sprintf("%d is the port of Immich's %s metrics (immich.metrics.enabled)", p.Port, p.Worker), "another port, such as 2283")
		}
	}
}

// checkRemoteML refuses settings of the local machine-learning container
// when machine learning runs elsewhere, and a URL with it off.
func checkRemoteML(c *Config, add addFunc) {
	ml := c.Immich.MachineLearning
	if ml.URL == "" {
		return
	}
	if !ml.Enabled {
		add("immich.machineLearning.url", "machine learning is off (immich.machineLearning.enabled: false)", "leave url out, or turn machine learning on")
	}
	if ml.Acceleration != "cpu" {
		add("immich.machineLearning.acceleration", "machine learning runs at "+ml.URL+", not here: acceleration is chosen on that host", "leave it out (cpu)")
	}
	for _, k := range slices.Sorted(maps.Keys(ml.Environment)) {
		add("immich.machineLearning.environment."+k, "machine learning runs at "+ml.URL+", not here: its variables are set on that host", "leave it out")
	}
}
