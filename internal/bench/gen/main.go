// Command gen writes the benchmark inputs of bench/run.sh into a
// directory: site.cue, fleet-N.cue, cue-N/ (a CUE-only module),
// compose-N.cue (a compose-only CUE file) and inventory-N.yml for each N
// given.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/immich-render/immich-render/internal/bench/fleetgen"
)

func main() {
	dir := flag.String("o", "", "output `DIR`")
	fleets := flag.String("fleets", "100,1000", "comma-separated fleet sizes for immich-render")
	cue := flag.String("cue", "1,100,1000", "comma-separated fleet sizes for the CUE-only module (1 is the single site)")
	compose := flag.String("compose", "1,200", "comma-separated fleet sizes for the compose-only CUE file")
	ansible := flag.String("ansible", "10,20", "comma-separated fleet sizes for the Ansible inventory")
	env := flag.Bool("env", false, "print the secrets as shell assignments and exit")
	schemaDir := flag.String("schema", "schema/cue", "immich-render's schema `DIR`, copied into each CUE-only module")
	flag.Parse()
	if *env {
		for _, k := range []string{"IMMICH_POSTGRES_PASSWORD", "IMMICH_VALKEY_PASSWORD", "VALKEY_ADMIN_PASSWORD"} {
			fmt.Printf("export %s=%s\n", k, fleetgen.Env[k])
		}
		return
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "gen: -o DIR is required")
		os.Exit(2)
	}
	must(os.MkdirAll(*dir, 0o755))
	write(filepath.Join(*dir, "site.cue"), fleetgen.Site())
	for _, n := range sizes(*fleets) {
		write(filepath.Join(*dir, fmt.Sprintf("fleet-%d.cue", n)), fleetgen.Fleet(n))
	}
	for _, n := range sizes(*cue) {
		mod := filepath.Join(*dir, fmt.Sprintf("cue-%d", n))
		must(os.MkdirAll(mod, 0o755))
		schemaFiles(*schemaDir, mod)
		write(filepath.Join(mod, "hosts.cue"), fleetgen.CUEModule(n))
	}
	for _, n := range sizes(*compose) {
		write(filepath.Join(*dir, fmt.Sprintf("compose-%d.cue", n)), fleetgen.ComposeModule(n))
	}
	for _, n := range sizes(*ansible) {
		write(filepath.Join(*dir, fmt.Sprintf("inventory-%d.yml", n)), fleetgen.AnsibleInventory(n))
	}
}

// schemaFiles copies immich-render's schema files into a module.
func schemaFiles(from, dir string) {
	names, err := filepath.Glob(filepath.Join(from, "*.cue"))
	must(err)
	if len(names) == 0 {
		must(fmt.Errorf("no schema files in %s", from))
	}
	for _, n := range names {
		data, err := os.ReadFile(n)
		must(err)
		write(filepath.Join(dir, "schema-"+filepath.Base(n)), data)
	}
}

func sizes(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		must(err)
		out = append(out, n)
	}
	return out
}

func write(p string, data []byte) { must(os.WriteFile(p, data, 0o644)) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
