package main

import (
	"fmt"
	"io"

	"github.com/immich-render/immich-render/internal/group"
	"github.com/immich-render/immich-render/schema"
)

// runVet validates the configuration without rendering it. Secrets whose
// environment variable is unset or whose file cannot be read are listed,
// not refused, unless --secrets asks for them: a pull request can be
// vetted without the secret values.
func runVet(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("immich-render vet", stderr)
	var in inputFlags
	in.register(fs)
	requireSecrets := fs.Bool("secrets", false, "also require every secret to resolve (as a render does)")
	quiet := fs.BoolP("quiet", "q", false, "print nothing on success")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	inputs, opt, err := in.read()
	if err != nil {
		return 0, err
	}
	defer in.watch(inputs)()
	opt.AllowUnresolved = !*requireSecrets
	dep, err := schema.LoadDeployment(inputs, opt, schema.FleetOptions{})
	if err != nil {
		return 0, err
	}
	if *quiet {
		return exitOK, nil
	}
	n := 0
	for _, h := range dep.Hosts {
		for _, ns := range h.Config.Unresolved() {
			path := ns.Path
			if h.Name != "" {
				path = "hosts." + h.Name + "." + path
			}
			fmt.Fprintf(stdout, "not resolved: %s: %s\n", path, ns.Secret.Source)
			n++
		}
	}
	if n > 0 {
		fmt.Fprintf(stdout, "configuration is valid; %s not checked (a render needs them; vet --secrets requires them)\n", group.Plural(n, "secret value"))
		return exitOK, nil
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return exitOK, nil
}
