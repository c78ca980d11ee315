package render

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
)

// oddEnv is a server variable with everything a unit value can hold that
// systemd or Quadlet would otherwise read as syntax: quotes, a backslash,
// $ references, a specifier, white space.
const oddEnv = `a "b" c\d $HOME ${HOME} 100%n 'e'  f`

// quadletConfigs render every supported Quadlet key between them (the
// test below checks it), with odd paths and values.
var quadletConfigs = map[string]string{
	"every option": `immich: {
		runtime: "quadlet"
		projectDir: "/srv/podman/Fotos_Familie-ü@x+y=z,~"
		selinuxRelabel: true
		machineLearning: acceleration: "openvino"
		transcoding: acceleration: "rkmpp"
		imageDigests: {
			server:          "sha256:1111111111111111111111111111111111111111111111111111111111111111"
			machineLearning: "sha256:2222222222222222222222222222222222222222222222222222222222222222"
		}
		externalLibraries: [{hostPath: "/srv/photos"}, {hostPath: "/srv/phone-uploads", containerPath: "/mnt/phone", readOnly: false}]
		environment: {IMMICH_LOG_LEVEL: "verbose", ODD: "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(oddEnv) + `"}
		settings: library: scan: enabled: true
		nginx: {enabled: true, hostname: "photos.example.com", tls: "off"}
	}`,
	"nvidia": `immich: {
		runtime: "quadlet"
		machineLearning: acceleration: "cuda"
		transcoding: acceleration: "nvenc"
	}`,
	"rocm, no digests": `immich: {
		runtime: "quadlet"
		machineLearning: acceleration: "rocm"
		transcoding: acceleration: "vaapi"
	}`,
	"no machine learning": `immich: {
		runtime: "quadlet"
		machineLearning: enabled: false
	}`,
	"separate storage, metrics, machine-learning settings": `immich: {
		runtime: "quadlet"
		storage: {thumbs: "/srv/ssd/immich/thumbs", backups: "/srv/backup/immich"}
		metrics: enabled: true
		machineLearning: environment: {MACHINE_LEARNING_WORKERS: "2", MACHINE_LEARNING_MODEL_TTL: "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(oddEnv) + `"}
	}`,
	"machine learning elsewhere": `immich: {
		runtime: "quadlet"
		machineLearning: url: "http://gpu-host:3003"
	}`,
}

// quadletFiles returns the Quadlet files and the systemd units of a tree,
// by file name.
func quadletFiles(out tree.Tree) (quadlet, units map[string][]byte) {
	quadlet, units = map[string][]byte{}, map[string][]byte{}
	for _, p := range out.Paths() {
		switch path.Dir(p) {
		case "rootfs" + QuadletDir:
			quadlet[path.Base(p)] = out[p].Data
		case "rootfs/etc/systemd/system":
			units[path.Base(p)] = out[p].Data
		}
	}
	return quadlet, units
}

// groupKeys lists the keys of each group of a unit file.
func groupKeys(data []byte) map[string][]string {
	keys := map[string][]string{}
	group := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			group = line[1 : len(line)-1]
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			k, _, _ := strings.Cut(line, "=")
			keys[group] = append(keys[group], k)
		}
	}
	return keys
}

// TestQuadletKeysRendered: every key of the table is rendered by one of
// the configurations above, so the dry run below proves each of them,
// and nothing outside the table is.
func TestQuadletKeysRendered(t *testing.T) {
	seen := map[string]map[string]bool{}
	for _, cue := range quadletConfigs {
		quadlet, _ := quadletFiles(Render(testenv.Config(t, nil, cue), all).Out)
		for _, data := range quadlet {
			for group, keys := range groupKeys(data) {
				if _, ok := quadletKeys[group]; !ok {
					continue
				}
				if seen[group] == nil {
					seen[group] = map[string]bool{}
				}
				for _, k := range keys {
					if !slices.Contains(quadletKeys[group], k) {
						t.Errorf("[%s] %s is rendered but not in quadletKeys", group, k)
					}
					seen[group][k] = true
				}
			}
		}
	}
	for group, keys := range quadletKeys {
		for _, k := range keys {
			if !seen[group][k] {
				t.Errorf("[%s] %s is in quadletKeys but no test configuration renders it", group, k)
			}
		}
	}
}

func TestQuadletOnlyWithRuntime(t *testing.T) {
	compose := Render(testenv.Config(t, nil), all).Out
	if q, _ := quadletFiles(compose); len(q) > 0 {
		t.Errorf("runtime compose renders Quadlet files: %v", q)
	}
	quadlet := Render(testenv.Config(t, nil, `immich: runtime: "quadlet"`), all).Out
	for _, p := range quadlet.Paths() {
		if strings.HasSuffix(p, "/docker-compose.yml") {
			t.Errorf("runtime quadlet renders %s", p)
		}
		if data := string(quadlet[p].Data); strings.Contains(data, "example-postgres-password") && !strings.Contains(p, "/secrets/") {
			t.Errorf("%s holds a secret", p)
		}
	}
	q, _ := quadletFiles(quadlet)
	if len(q) != 3 {
		t.Errorf("want 3 Quadlet files, got %d", len(q))
	}
	for _, name := range []string{serverQuadlet, mlQuadlet} {
		if !strings.Contains(string(q[name]), "\nPartOf=immich.service\n") {
			t.Errorf("%s is not PartOf=immich.service:\n%s", name, q[name])
		}
	}
}

// debian13Root extracts a fresh Debian 13 root filesystem (Podman 5.4 and
// its Quadlet generator, systemd 257) and removes it at the end.
func debian13Root(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Debian 13 root filesystem")
	}
	if os.Geteuid() != 0 {
		testenv.Skip(t, "extracting a root filesystem and chroot need root")
	}
	testenv.Binary(t, "chroot")
	parent, err := os.MkdirTemp("/var/tmp", "immich-quadlet-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(parent); err != nil {
			t.Errorf("removing %s: %v", parent, err)
		}
	})
	root := filepath.Join(parent, "root")
	if out, err := exec.Command("../scripts/debian13-rootfs.sh", root).CombinedOutput(); err != nil {
		t.Fatalf("scripts/debian13-rootfs.sh: %v\n%s", err, out)
	}
	return root
}

// inRoot writes files into a new folder of root and returns its path
// inside root.
func inRoot(t *testing.T, root string, files map[string][]byte) string {
	t.Helper()
	dir, err := os.MkdirTemp(filepath.Join(root, "tmp"), "units-")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return strings.TrimPrefix(dir, root)
}

var (
	generatedHeader = regexp.MustCompile(`(?m)^---([^-\n][^\n]*)---\n`)
	loadingLine     = regexp.MustCompile(`^quadlet-generator\[\d+\]: Loading source unit file \S+$`)
)

// quadletDryRun runs Podman's Quadlet generator on the files in a chroot
// of root and returns the units it generates. An error is a non-zero exit
// or any message but the "Loading" lines -dryrun prints.
func quadletDryRun(t *testing.T, root string, quadlet map[string][]byte) (map[string][]byte, error) {
	t.Helper()
	dir := inRoot(t, root, quadlet)
	cmd := exec.Command("chroot", root, "env", "QUADLET_UNIT_DIRS="+dir, "/usr/libexec/podman/quadlet", "-dryrun")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("quadlet -dryrun: %v\n%s", err, stderr.Bytes())
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !loadingLine.MatchString(line) {
			return nil, fmt.Errorf("quadlet -dryrun: %s", line)
		}
	}
	units := map[string][]byte{}
	out := stdout.String()
	heads := generatedHeader.FindAllStringSubmatchIndex(out, -1)
	for i, h := range heads {
		end := len(out)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		units[out[h[2]:h[3]]] = []byte(out[h[1]:end])
	}
	return units, nil
}

// verifyInRoot runs systemd-analyze verify in a chroot of root, where the
// programs the units run and the host units they need (PostgreSQL,
// Valkey) exist as on a Debian 13 host. Any message fails the test.
func verifyInRoot(t *testing.T, root string, units map[string][]byte) {
	t.Helper()
	dir := inRoot(t, root, units)
	var names []string
	for name := range units {
		names = append(names, name)
	}
	slices.Sort(names)
	script := `cd "$1" && shift && exec systemd-analyze verify --man=no "$@"`
	out, err := exec.Command("chroot", append([]string{root, "sh", "-c", script, "sh", dir}, names...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestQuadletDryRun: Podman 5.4's generator accepts every Quadlet file
// rendered (the goldens and the configurations above), with no warning,
// and what it generates passes systemd-analyze verify beside our units.
func TestQuadletDryRun(t *testing.T) {
	root := debian13Root(t)
	type site struct{ quadlet, units map[string][]byte }
	sites := map[string]site{}
	for name, cue := range quadletConfigs {
		q, u := quadletFiles(Render(testenv.Config(t, nil, cue), all).Out)
		sites[name] = site{q, u}
	}
	goldens, _ := filepath.Glob("../golden/*/rootfs" + QuadletDir)
	fleet, _ := filepath.Glob("../golden/*/*/rootfs" + QuadletDir)
	for _, dir := range append(goldens, fleet...) {
		s := site{map[string][]byte{}, map[string][]byte{}}
		for _, d := range []struct {
			dir   string
			files map[string][]byte
		}{{dir, s.quadlet}, {filepath.Join(dir, "../../systemd/system"), s.units}} {
			entries, err := os.ReadDir(d.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				data, err := os.ReadFile(filepath.Join(d.dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				d.files[e.Name()] = data
			}
		}
		sites[strings.TrimSuffix(strings.TrimPrefix(dir, "../"), "/rootfs"+QuadletDir)] = s
	}
	if len(goldens)+len(fleet) < 2 {
		t.Errorf("found %d Quadlet goldens, want a site and a fleet host at least", len(goldens)+len(fleet))
	}
	// The check can fail: the generator refuses a key it does not know.
	bogus := map[string][]byte{"bogus.container": []byte("[Container]\nImage=x\nBogusKey=1\n")}
	if _, err := quadletDryRun(t, root, bogus); err == nil || !strings.Contains(err.Error(), "unsupported key 'BogusKey' in group 'Container'") {
		t.Errorf("quadlet -dryrun on an unknown key: %v", err)
	}
	for name, s := range sites {
		t.Run(name, func(t *testing.T) {
			generated, err := quadletDryRun(t, root, s.quadlet)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"immich-network.service", ServerUnit} {
				if generated[want] == nil {
					t.Errorf("quadlet generated no %s", want)
				}
			}
			units := map[string][]byte{}
			for n, d := range s.units {
				units[n] = d
			}
			for n, d := range generated {
				units[n] = d
			}
			verifyInRoot(t, root, units)
			if name == "every option" {
				checkOddEnv(t, generated[ServerUnit])
			}
		})
	}
}

// checkOddEnv reads the generated server unit's command line as systemd
// would and finds the odd variable with its exact value.
func checkOddEnv(t *testing.T, unit []byte) {
	t.Helper()
	for _, line := range strings.Split(string(unit), "\n") {
		cmd, ok := strings.CutPrefix(line, "ExecStart=")
		if !ok {
			continue
		}
		// %t and %N are Quadlet's own specifiers, which the model of
		// systemd's parser refuses: stand-ins for what systemd puts there.
		words, err := systemdExecArgs(strings.NewReplacer("%t", "/run", "%N", "immich-server").Replace(cmd))
		if err != nil {
			t.Fatalf("generated ExecStart: %v\n%s", err, cmd)
		}
		if i := slices.Index(words, "ODD="+oddEnv); i < 1 || words[i-1] != "--env" {
			t.Errorf("generated ExecStart does not pass ODD=%q:\n%q", oddEnv, words)
		}
		return
	}
	t.Error("no ExecStart in the generated server unit")
}
