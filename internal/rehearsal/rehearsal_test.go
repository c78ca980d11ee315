package rehearsal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/pgtest"
	"github.com/immich-render/immich-render/internal/testenv"
)

// scenario is one deployment of the rehearsal: an example (a fleet's
// host), and for a mutation what is broken and the step that must fail.
type scenario struct {
	Name    string
	Example string
	Host    string // a fleet example's host
	Mutate  string // "" or one of the mutations in host_test.go
	// For a mutation: the step that must fail, and text its error must hold.
	FailStep, FailText string
	// On the Debian 13 host: the newer immich.version the site is
	// rendered with and deployed by the README's upgrade steps.
	Upgrade string
	// On the Debian 13 host: deployed as cloud-init would with the
	// user-data (its write_files, then its runcmd), not by the README.
	CloudInit bool
}

var scenarios = []scenario{
	{Name: "minimal", Example: "minimal"},
	{Name: "nginx-off", Example: "nginx-off"},
	{Name: "nginx-manual", Example: "nginx-manual"},
	{Name: "fleet-nas001", Example: "fleet", Host: "nas001"},

	// Each breaks one thing the deployment needs; the rehearsal must fail
	// where Immich would.
	{Name: "mutation-legacy-gateway", Example: "minimal", Mutate: mutateGateway,
		FailStep: "standin:postgres-connect", FailText: "dial tcp 10.88.0.1:"},
	{Name: "mutation-no-pg_hba-line", Example: "minimal", Mutate: mutateHBA,
		FailStep: "standin:postgres-connect", FailText: "no pg_hba.conf entry"},
	{Name: "mutation-acl-without-eval", Example: "minimal", Mutate: mutateACL,
		FailStep: "standin:valkey-lua", FailText: "NOPERM"},
	{Name: "mutation-secret-file-left-out", Example: "minimal", Mutate: mutateSecret,
		FailStep: "compose created the containers", FailText: "redis_password"},
}

// result is what a host reports back: every step with its time, and the
// first one that failed.
type result struct {
	Steps  []stepResult
	Failed string // the name of the first failed step, or ""
}

type stepResult struct {
	Name   string
	Ms     int64
	OK     bool
	Detail string
}

// Environment of a host process (TestHelperHost).
const (
	envScenario = "IMMICH_RENDER_REHEARSAL_SCENARIO" // the scenario, as JSON
	envWork     = "IMMICH_RENDER_REHEARSAL_WORK"     // the host's work folder
	envStandin  = "IMMICH_RENDER_REHEARSAL_STANDIN"  // the stand-in binary
)

// TestRehearsal deploys each scenario on a fresh host of its own and
// checks that it ran through, or for a mutation, that it failed at the
// step where Immich would have.
func TestRehearsal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the rehearsal deploys real containers")
	}
	requireHost(t)
	standin := buildStandin(t)

	var total time.Duration
	n := 0
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			start := time.Now()
			n++
			res, out := runHost(t, sc, standin)
			total += time.Since(start)
			var table strings.Builder
			for _, s := range res.Steps {
				mark := "ok  "
				if !s.OK {
					mark = "FAIL"
				}
				fmt.Fprintf(&table, "  %s %6d ms  %-34s %s\n", mark, s.Ms, s.Name, s.Detail)
			}
			t.Logf("%s in %.1fs:\n%s", sc.Name, time.Since(start).Seconds(), table.String())
			switch {
			case sc.FailStep == "" && res.Failed != "":
				t.Errorf("the deployment failed at %s; host output:\n%s", res.Failed, out)
			case sc.FailStep == "" && !hasStep(res, "no container left"):
				t.Errorf("the deployment did not run to its end; host output:\n%s", out)
			case sc.FailStep != "" && res.Failed == "":
				t.Errorf("mutation %s: the deployment ran through; want a failure at %s", sc.Mutate, sc.FailStep)
			case sc.FailStep != "" && res.Failed != sc.FailStep:
				t.Errorf("mutation %s: failed at %s, want %s; host output:\n%s", sc.Mutate, res.Failed, sc.FailStep, out)
			case sc.FailStep != "" && !strings.Contains(failedDetail(res), sc.FailText):
				t.Errorf("mutation %s: %s failed with %q, want it to say %q", sc.Mutate, res.Failed, failedDetail(res), sc.FailText)
			}
		})
	}
	t.Logf("rehearsal: %d deployments in %.1fs", n, total.Seconds())
}

func hasStep(r result, name string) bool {
	for _, s := range r.Steps {
		if s.Name == name && s.OK {
			return true
		}
	}
	return false
}

func failedDetail(r result) string {
	for _, s := range r.Steps {
		if s.Name == r.Failed {
			return s.Detail
		}
	}
	return ""
}

// requireHost checks what a host process needs, before any is started.
func requireHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "the rehearsal runs rootful Podman and new namespaces: run it as root")
	}
	for _, b := range []string{"unshare", "ip", "sysctl", "podman", "podman-compose", "runc", "valkey-server", "nginx", "psql", "openssl"} {
		testenv.Binary(t, b)
	}
	pgtest.FindBin(t)
	for _, p := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/dnsname"} {
		if _, err := os.Stat(p); err != nil {
			testenv.Skip(t, p+" is missing (Debian packages containernetworking-plugins, golang-github-containernetworking-plugin-dnsname)")
		}
	}
	if out, err := exec.Command("unshare", "--net", "--mount", "true").CombinedOutput(); err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot create network and mount namespaces here: %v %s", err, out))
	}
}

// buildStandin builds the stand-in as a static binary. It runs here,
// before any host, because a host has no network to fetch modules with.
func buildStandin(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Skip(t, "go is not on PATH: the stand-in is built with it")
	}
	bin := filepath.Join(t.TempDir(), "standin")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", bin, "./standin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in: %v\n%s", err, out)
	}
	return bin
}

// runHost runs TestHelperHost for a scenario in new network and mount
// namespaces, then kills whatever it left running in them and removes its
// folder.
func runHost(t *testing.T, sc scenario, standin string) (result, string) {
	t.Helper()
	work, err := os.MkdirTemp("", "immich-rehearsal-")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(sc)
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--",
		os.Args[0], "-test.run=^TestHelperHost$", "-test.v", "-test.count=1", "-test.timeout=4m")
	cmd.Env = append(os.Environ(), envScenario+"="+string(spec), envWork+"="+work, envStandin+"="+standin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	killNamespace(t, work)
	var res result
	data, err := os.ReadFile(filepath.Join(work, "result.json"))
	if err == nil {
		err = json.Unmarshal(data, &res)
	}
	if rmErr := os.RemoveAll(work); rmErr != nil {
		t.Errorf("removing %s: %v", work, rmErr)
	}
	if err != nil {
		t.Fatalf("the host wrote no result (%v, exit: %v):\n%s", err, runErr, out.String())
	}
	if runErr != nil {
		t.Errorf("the host process failed: %v\n%s", runErr, out.String())
	}
	return res, out.String()
}

// killNamespace kills every process still in the host's network
// namespace (a container, conmon, dnsmasq or a server that a failed step
// left behind): all of them descend from the host process.
func killNamespace(t *testing.T, work string) {
	t.Helper()
	ns, err := os.ReadFile(filepath.Join(work, "netns"))
	if err != nil || len(ns) == 0 {
		return
	}
	for range 20 {
		entries, _ := os.ReadDir("/proc")
		var left []int
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && link == string(ns) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("processes remain in the host's network namespace %s", ns)
}

// TestHelperHost is one host of TestRehearsal, run by runHost in new
// namespaces; it does nothing in an ordinary test run (the os/exec helper
// process pattern).
func TestHelperHost(t *testing.T) {
	spec := os.Getenv(envScenario)
	if spec == "" {
		return
	}
	var sc scenario
	if err := json.Unmarshal([]byte(spec), &sc); err != nil {
		t.Fatal(err)
	}
	h := &host{t: t, sc: sc, work: os.Getenv(envWork), standin: os.Getenv(envStandin)}
	defer h.writeResult()
	h.deploy()
}
