package schema

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
)

const fleetBase = `defaults: {
	immich: {
		version:        "v3.1.0"
		uploadLocation: "/mnt/storage/immich/upload"
		network: {subnet: "172.20.0.0/16", gateway: "172.20.0.1"}
		postgres: password: {env: "PG"}
		valkey: password: {env: "VK"}
		environment: {IMMICH_LOG_LEVEL: "log", A: "1"}
		externalLibraries: [{hostPath: "/mnt/a"}, {hostPath: "/mnt/b"}]
		nginx: {hostname: "photos.example.com", acme: email: "admin@example.com", maxBodySize: "10G"}
	}
	valkey: adminPassword: {env: "ADM"}
}
hosts: {
	nas001: {}
	nas002: immich: {
		network: {subnet: "172.21.0.0/16", gateway: "172.21.0.1"}
		environment: {A: "2", B: "3"}
		externalLibraries: [{hostPath: "/mnt/c"}]
		port: 3000
		postgres: password: {file: "/run/secrets/pg"}
		nginx: {enabled: true, hostname: "nas002.example.com"}
	}
}
`

var fleetEnv = map[string]string{"PG": "postgres-password", "PG2": "postgres-password-2", "VK": "valkey-password!", "ADM": "admin-password!!"}

func fleetOptions() Options {
	return Options{
		LookupEnv: func(k string) (string, bool) { v, ok := fleetEnv[k]; return v, ok },
		ReadFile: func(p string) ([]byte, error) {
			if p == "/run/secrets/pg" {
				return []byte("file-postgres-password\n"), nil
			}
			return nil, os.ErrNotExist
		},
	}
}

// loadFleet loads files named ina.cue, inb.cue, ... (or with the given
// names when a file starts with "name:").
func loadFleet(t *testing.T, fo FleetOptions, files ...string) (*Fleet, Problems) {
	t.Helper()
	var inputs []Input
	for i, f := range files {
		name := "in" + string(rune('a'+i)) + ".cue"
		if n, rest, ok := strings.Cut(f, "\n"); ok && strings.HasPrefix(n, "name:") {
			name, f = strings.TrimPrefix(n, "name:"), rest
		}
		inputs = append(inputs, Input{Name: name, Data: []byte(f)})
	}
	fl, err := LoadFleet(inputs, fleetOptions(), fo)
	if err != nil {
		var ps Problems
		if !errors.As(err, &ps) {
			t.Fatalf("LoadFleet returned %T: %v", err, err)
		}
		return nil, ps
	}
	return fl, nil
}

func host(t *testing.T, fl *Fleet, name string) *Config {
	t.Helper()
	for _, h := range fl.Hosts {
		if h.Name == name {
			return h.Config
		}
	}
	t.Fatalf("no host %s in %v", name, fl.Names)
	return nil
}

// TestFleetMergeRules: a host gets every default it does not set; structs
// and maps merge field by field; lists and secrets are replaced whole;
// scalars set by the host win.
func TestFleetMergeRules(t *testing.T) {
	fl, ps := loadFleet(t, FleetOptions{}, fleetBase)
	if ps != nil {
		t.Fatal(ps)
	}
	if !slices.Equal(fl.Names, []string{"nas001", "nas002"}) {
		t.Fatalf("names %v", fl.Names)
	}
	a, b := host(t, fl, "nas001"), host(t, fl, "nas002")

	// nas001 sets nothing: everything is the defaults, then the schema's.
	if a.Immich.Version != "v3.1.0" || a.Immich.Port != 2283 || a.Immich.Network.Subnet != "172.20.0.0/16" {
		t.Errorf("nas001 did not get the defaults: %+v", a.Immich)
	}
	if !reflect.DeepEqual(a.Immich.Environment, map[string]string{"IMMICH_LOG_LEVEL": "log", "A": "1"}) {
		t.Errorf("nas001 environment %v", a.Immich.Environment)
	}
	if len(a.Immich.ExternalLibraries) != 2 || a.Immich.Nginx.Enabled {
		t.Errorf("nas001 libraries %v, nginx %v", a.Immich.ExternalLibraries, a.Immich.Nginx.Enabled)
	}
	if a.Immich.Postgres.Password.Value != "postgres-password" {
		t.Errorf("nas001 password from %s", a.Immich.Postgres.Password.Source)
	}

	// Scalars: the host wins.
	if b.Immich.Port != 3000 || b.Immich.Network.Gateway != "172.21.0.1" {
		t.Errorf("nas002 port %d gateway %s", b.Immich.Port, b.Immich.Network.Gateway)
	}
	// Maps merge: the host's keys win, the defaults' others stay.
	if want := map[string]string{"IMMICH_LOG_LEVEL": "log", "A": "2", "B": "3"}; !reflect.DeepEqual(b.Immich.Environment, want) {
		t.Errorf("nas002 environment %v, want %v", b.Immich.Environment, want)
	}
	// Lists are replaced, not appended to.
	if len(b.Immich.ExternalLibraries) != 1 || b.Immich.ExternalLibraries[0].HostPath != "/mnt/c" {
		t.Errorf("nas002 libraries %+v", b.Immich.ExternalLibraries)
	}
	// Secrets are replaced whole: {file} does not merge with {env}.
	if b.Immich.Postgres.Password.Value != "file-postgres-password" || b.Immich.Postgres.Password.Source != "file /run/secrets/pg" {
		t.Errorf("nas002 password from %s", b.Immich.Postgres.Password.Source)
	}
	// Structs merge at every depth: nginx keeps the defaults' email and
	// body size, takes the host's hostname and enabled.
	n := b.Immich.Nginx
	if !n.Enabled || n.Hostname != "nas002.example.com" || n.ACME.Email != "admin@example.com" || n.MaxBodySize != "10G" {
		t.Errorf("nas002 nginx %+v", n)
	}
}

// TestFleetMergesFreeFormSettings: Immich's settings are free-form, and
// merge at every depth like the schema's structs.
func TestFleetMergesFreeFormSettings(t *testing.T) {
	fl, ps := loadFleet(t, FleetOptions{}, fleetBase, `defaults: immich: settings: {
	ffmpeg: {crf: 23, targetVideoCodec: "h264"}
	job: thumbnailGeneration: concurrency: 3
}
hosts: nas001: immich: settings: ffmpeg: {crf: 30, preset: "fast"}`)
	if ps != nil {
		t.Fatal(ps)
	}
	want := map[string]any{
		"ffmpeg": map[string]any{"crf": float64(30), "preset": "fast", "targetVideoCodec": "h264"},
		"job":    map[string]any{"thumbnailGeneration": map[string]any{"concurrency": float64(3)}},
	}
	if got := host(t, fl, "nas001").Immich.Settings; !reflect.DeepEqual(got, want) {
		t.Errorf("settings %v, want %v", got, want)
	}
}

// TestFleetHostWinsOverListAndScalarKinds: a host value replaces a default
// of another kind too, and an empty list empties the default list.
func TestFleetHostWinsOverKinds(t *testing.T) {
	fl, ps := loadFleet(t, FleetOptions{}, fleetBase, `hosts: nas001: immich: {
	externalLibraries: []
	valkey: keyPatterns: ["immich_bull*", "immich_channel*", "more*"]
}`)
	if ps != nil {
		t.Fatal(ps)
	}
	a := host(t, fl, "nas001")
	if len(a.Immich.ExternalLibraries) != 0 {
		t.Errorf("libraries %v, want none", a.Immich.ExternalLibraries)
	}
	if !slices.Equal(a.Immich.Valkey.KeyPatterns, []string{"immich_bull*", "immich_channel*", "more*"}) {
		t.Errorf("key patterns %v", a.Immich.Valkey.KeyPatterns)
	}
}

// TestFleetSingleSiteInputs: a fleet that is only hosts, without defaults.
func TestFleetWithoutDefaults(t *testing.T) {
	fl, ps := loadFleet(t, FleetOptions{}, `hosts: solo: {`+base+`}`)
	if ps != nil {
		t.Fatal(ps)
	}
	if len(fl.Hosts) != 1 || fl.Hosts[0].Config.Immich.Version != "v3.1.0" {
		t.Fatalf("%+v", fl.Hosts)
	}
}

func TestIsFleet(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "f.jsonnet")
	for _, c := range []struct {
		name, data string
		want       bool
	}{
		{"site.cue", base, false},
		{"fleet.cue", fleetBase, true},
		{"defaults-only.cue", `defaults: immich: port: 1`, true},
		{"quoted.cue", `"hosts": a: {}`, true},
		{"site.json", `{"immich": {"port": 1}}`, false},
		{"fleet.json", `{"hosts": {"a": {}}}`, true},
		{"site.yaml", "immich:\n  port: 1\n", false},
		{"fleet.yml", "hosts:\n  a:\n    immich: {}\n", true},
		{lib, `{hosts: {a: {}}}`, true},
		{"site.jsonnet", `{immich: {}}`, false},
		{"broken.cue", `hosts: {`, false},
		{"broken.json", `{"hosts":`, false},
	} {
		if got := isFleet([]Input{{Name: c.name, Data: []byte(c.data)}}, Options{}); got != c.want {
			t.Errorf("%s: IsFleet = %v, want %v", c.name, got, c.want)
		}
	}
	// One fleet file among others makes a fleet.
	if !isFleet([]Input{{Name: "a.cue", Data: []byte(base)}, {Name: "b.cue", Data: []byte(fleetBase)}}, Options{}) {
		t.Error("a fleet file among site files is not a fleet")
	}
}

// TestFleetFormats: the same fleet in CUE, JSON and YAML loads the same.
func TestFleetFormats(t *testing.T) {
	const json = `{"defaults": {"immich": {"version": "v3.1.0", "uploadLocation": "/u",
  "postgres": {"password": {"env": "PG"}}, "valkey": {"password": {"env": "VK"}}},
  "valkey": {"adminPassword": {"env": "ADM"}}},
 "hosts": {"a": {"immich": {"network": {"subnet": "10.0.0.0/24", "gateway": "10.0.0.1"}, "port": 3000}}}}`
	const yaml = `defaults:
  immich:
    version: v3.1.0
    uploadLocation: /u
    postgres: {password: {env: PG}}
    valkey: {password: {env: VK}}
  valkey: {adminPassword: {env: ADM}}
hosts:
  a:
    immich:
      network: {subnet: 10.0.0.0/24, gateway: 10.0.0.1}
      port: 3000
`
	var cfgs []*Config
	for _, in := range []Input{{Name: "f.json", Data: []byte(json)}, {Name: "f.yaml", Data: []byte(yaml)}} {
		fl, err := LoadFleet([]Input{in}, fleetOptions(), FleetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", in.Name, err)
		}
		cfgs = append(cfgs, fl.Hosts[0].Config)
	}
	if !reflect.DeepEqual(cfgs[0], cfgs[1]) {
		t.Errorf("JSON and YAML differ:\n%+v\n%+v", cfgs[0], cfgs[1])
	}
	if cfgs[0].Immich.Port != 3000 || cfgs[0].Immich.UploadLocation != "/u" {
		t.Errorf("%+v", cfgs[0].Immich)
	}
}

// TestFleetErrorsNameHosts: every host's problems at once, each under
// hosts.<name>, at the line the value came from (the host's own, or the
// defaults line it inherited), sorted.
func TestFleetErrorsNameHosts(t *testing.T) {
	_, ps := loadFleet(t, FleetOptions{}, `name:fleet.cue
defaults: immich: {
	version:        "v3.1.0"
	uploadLocation: "/mnt/storage/immich/upload"
	network: {subnet: "172.20.0.0/16", gateway: "172.20.0.1"}
	postgres: password: {env: "PG"}
	valkey: password: {env: "VK"}
}
defaults: valkey: adminPassword: {env: "ADM"}
hosts: {
	nas007: immich: network: subnet: "10.0.0.0/24"
	nas008: immich: {
		uploadLocation: "relative"
		timezone:       "Mars/Base"
	}
	nas009: immich: port: 0
}
`)
	want := `hosts.nas007.immich.network.gateway: 172.20.0.1 is not inside subnet 10.0.0.0/24
    want: an IPv4 address inside subnet that is neither its network nor its broadcast address, such as "172.20.0.1"
    at fleet.cue:4:46
hosts.nas008.immich.timezone: "Mars/Base" is not a known IANA time zone
    want: an IANA time zone name such as "Europe/Berlin" or "Etc/UTC"
    at fleet.cue:13:19
hosts.nas008.immich.uploadLocation: "relative" does not have the required form
    want: an absolute host path such as "/mnt/storage/immich/upload"
    at fleet.cue:12:19
hosts.nas009.immich.port: invalid value 0 (out of bound >=1)
    want: a port number from 1 to 65535
    at fleet.cue:15:24`
	if got := ps.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestFleetGroupsInheritedProblems: one bad default is one problem, under
// defaults., naming the hosts it breaks, not one per host.
func TestFleetGroupsInheritedProblems(t *testing.T) {
	_, ps := loadFleet(t, FleetOptions{}, fleetBase, `defaults: immich: timezone: "Nowhere/Else"
hosts: nas003: immich: timezone: "Nowhere/Else"`)
	want := `defaults.immich.timezone: "Nowhere/Else" is not a known IANA time zone (in hosts nas001, nas002)
    want: an IANA time zone name such as "Europe/Berlin" or "Etc/UTC"
    at inb.cue:1:29
hosts.nas003.immich.timezone: "Nowhere/Else" is not a known IANA time zone
    want: an IANA time zone name such as "Europe/Berlin" or "Etc/UTC"
    at inb.cue:2:34`
	if got := ps.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestFleetRedactsSecrets: no message shows a literal secret, even a
// conflict between two files, which CUE reports with both values.
func TestFleetRedactsSecrets(t *testing.T) {
	for _, extra := range []string{
		`defaults: valkey: adminPassword: "short-secret"`,
		`hosts: nas001: valkey: adminPassword: "short-secret"
hosts: nas001: valkey: adminPassword: "other-secret"`,
		`hosts: nas001: valkey: adminPassword: "short-secret-"
hosts: nas001: valkey: adminPassword: "other-secret"`,
		`hosts: nas001: valkey: adminPassword: " short-secret"`,
	} {
		_, ps := loadFleet(t, FleetOptions{}, fleetBase, extra)
		if len(ps) == 0 {
			t.Fatalf("%s: no problem", extra)
		}
		if got := ps.Error(); strings.Contains(got, "short-secret") || strings.Contains(got, "other-secret") {
			t.Errorf("a literal secret in a message:\n%s", got)
		}
	}
}

// TestFleetConflictBetweenFiles: two files that disagree are a conflict
// naming both places, even inside one host; the other hosts are still
// validated.
func TestFleetConflictBetweenFiles(t *testing.T) {
	_, ps := loadFleet(t, FleetOptions{}, fleetBase, `hosts: nas002: immich: port: 3001
hosts: nas001: immich: prot: 1`)
	want := `hosts.nas001.immich.prot: unknown field
    want: "port"? (one of backup, composeCommand, environment, externalLibraries, gpuMode, hostGateway, imageDigests, machineLearning, metrics, modelCache, network, nginx, port, postgres, projectDir, runtime, selinuxRelabel, settings, storage, timezone, transcoding, uploadLocation, valkey, version)
    at inb.cue:2:30
hosts.nas002.immich.port: conflicting values 3001 and 3000
    want: a port number from 1 to 65535
    at ina.cue:20:9
    at inb.cue:1:30`
	if got := ps.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestFleetShape: the fleet's own fields, host names and defaults' field
// names are checked once, with what would be right.
func TestFleetShape(t *testing.T) {
	_, ps := loadFleet(t, FleetOptions{}, fleetBase, `immich: port: 1
defaults: immich: tiemzone: "Etc/UTC"
hosts: "Bad.Name": {}
hosts: "-lead": {}
hosts: nas003: 5
hots: {}`)
	got := ps.Error()
	for _, want := range []string{
		"defaults.immich.tiemzone: unknown field\n    want: \"timezone\"? (one of",
		"hosts.-lead: \"-lead\" is not a valid host name\n    want: 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit (the name becomes the host's output directory)\n    at inb.cue:4:8",
		"hosts.\"Bad.Name\": \"Bad.Name\" is not a valid host name",
		"hosts.nas003: a host must be a site configuration",
		"hots: unknown top-level field in a fleet configuration (one with hosts:)\n    want: hosts (one site configuration per host) or defaults (what every host gets unless it sets it)\n    at inb.cue:6:7",
		"immich: unknown top-level field in a fleet configuration (one with hosts:)\n    want: defaults.immich (for every host) or hosts.<name>.immich (for one host)\n    at inb.cue:1:9",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	// The defaults' typo is reported once, not once more per host.
	if n := strings.Count(got, "tiemzone"); n != 1 {
		t.Errorf("tiemzone reported %d times:\n%s", n, got)
	}

	_, ps = loadFleet(t, FleetOptions{}, `defaults: immich: port: 1`)
	if got := ps.Error(); !strings.HasPrefix(got, "hosts: required field is missing") {
		t.Errorf("defaults without hosts: %s", got)
	}
	_, ps = loadFleet(t, FleetOptions{}, `hosts: {}`)
	if got := ps.Error(); !strings.HasPrefix(got, "hosts: a fleet needs at least one host") {
		t.Errorf("no hosts: %s", got)
	}
}

func TestHostNames(t *testing.T) {
	good := []string{"a", "nas001", "gpu-01", "0", strings.Repeat("a", 63), "a-b-c"}
	bad := []string{"", ".", "..", "-a", "a-", "A", "Nas", "a.b", "a_b", "a/b", "a b", strings.Repeat("a", 64), "ä", "a\n"}
	// The CUE definition users read and the Go check agree.
	src, err := cueFiles.ReadFile("cue/fleet.cue")
	if err != nil {
		t.Fatal(err)
	}
	ctx := cuecontext.New()
	def := ctx.CompileBytes(src).LookupPath(cue.ParsePath("#FleetHostName"))
	if def.Err() != nil {
		t.Fatal(def.Err())
	}
	for _, n := range append(slices.Clone(good), bad...) {
		want := slices.Contains(good, n)
		if got := ValidHostName(n); got != want {
			t.Errorf("ValidHostName(%q) = %v, want %v", n, got, want)
		}
		if got := def.Unify(ctx.Encode(n)).Err() == nil; got != want {
			t.Errorf("#FleetHostName accepts %q: %v, want %v", n, got, want)
		}
	}
	re := regexp.MustCompile(`#FleetHostName: =~"(.*)"`).FindSubmatch(src)
	if re == nil || strings.ReplaceAll(string(re[1]), `\\`, `\`) != hostNameRE().String() {
		t.Errorf("cue/fleet.cue's #FleetHostName %q and hostNameRE %q differ", re, hostNameRE())
	}
}

// TestFleetSelection: --host validates only the hosts named; the others'
// problems do not stop it; an unknown name says which hosts exist.
func TestFleetSelection(t *testing.T) {
	bad := `hosts: nas001: immich: port: 0`
	fl, ps := loadFleet(t, FleetOptions{Hosts: []string{"nas002"}}, fleetBase, bad)
	if ps != nil {
		t.Fatal(ps)
	}
	if len(fl.Hosts) != 1 || fl.Hosts[0].Name != "nas002" || !slices.Equal(fl.Names, []string{"nas001", "nas002"}) {
		t.Fatalf("hosts %v names %v", fl.Hosts, fl.Names)
	}
	if _, ps := loadFleet(t, FleetOptions{Hosts: []string{"nas001"}}, fleetBase, bad); len(ps) != 1 || ps[0].PathString() != "hosts.nas001.immich.port" {
		t.Errorf("nas001 selected: %v", ps)
	}

	_, err := LoadFleet([]Input{{Name: "f.cue", Data: []byte(fleetBase)}}, fleetOptions(), FleetOptions{Hosts: []string{"nas002", "nope", "gone"}})
	var uh *UnknownHostsError
	if !errors.As(err, &uh) || !slices.Equal(uh.Unknown, []string{"gone", "nope"}) || !slices.Equal(uh.Known, []string{"nas001", "nas002"}) {
		t.Fatalf("err %v", err)
	}
	if got, want := err.Error(), "unknown hosts gone, nope; the fleet has nas001, nas002"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestFleetWorkersAgree: the result does not depend on how many workers
// validated it, nor in which order.
func TestFleetWorkersAgree(t *testing.T) {
	in := []Input{{Name: "f.cue", Data: genFleet(24)}}
	var first *Fleet
	for _, w := range []int{1, 4, 7} {
		fl, err := LoadFleet(in, benchEnv, FleetOptions{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = fl
			continue
		}
		if !reflect.DeepEqual(first, fl) {
			t.Errorf("%d workers give another result", w)
		}
	}
	// Problems too.
	bad := append([]byte(nil), genFleet(24)...)
	bad = append(bad, []byte(`hosts: nas0003: immich: port: 0
hosts: nas0017: immich: port: 0
hosts: nas0009: immich: timezone: "Nowhere/Else"
`)...)
	var msgs []string
	for _, w := range []int{1, 4} {
		_, err := LoadFleet([]Input{{Name: "f.cue", Data: bad}}, benchEnv, FleetOptions{Workers: w})
		msgs = append(msgs, err.Error())
	}
	if msgs[0] != msgs[1] || strings.Count(msgs[0], "\nhosts.") != 2 {
		t.Errorf("1 worker:\n%s\n4 workers:\n%s", msgs[0], msgs[1])
	}
}
