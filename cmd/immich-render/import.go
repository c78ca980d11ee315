package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/immich-render/immich-render/internal/ansible"
	"github.com/immich-render/immich-render/internal/group"
	"github.com/immich-render/immich-render/schema"
)

const importUsage = `Usage:
  immich-render import ansible -i INVENTORY [--host NAME ...] [--vault-password-file FILE] [-o DIR] [--force]

Reads the inventory of the Ansible role (an INI or YAML file or directory,
with group_vars/ and host_vars/) and writes DIR/immich.cue (one host: a
site; several: a fleet) and DIR/immich.secrets.env (mode 0600, the
secrets, to keep out of git). Edited files are not overwritten without
--force.

Flags:
`

// runImport is 'immich-render import ansible'.
func runImport(args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		if len(args) == 0 {
			return 0, usageError{Msg: "import needs a source: 'immich-render import ansible -i INVENTORY'"}
		}
		fmt.Fprint(stdout, importUsage)
		return exitOK, nil
	}
	if args[0] != "ansible" {
		return 0, usageError{Msg: fmt.Sprintf("unknown import source %q: want 'immich-render import ansible'", args[0])}
	}
	fs := newFlagSet("immich-render import ansible", stderr)
	inventory := fs.StringP("inventory", "i", "", "Ansible inventory `FILE` or directory")
	hosts := fs.StringArray("host", nil, "import only inventory host `NAME` (repeatable)")
	vaultFiles := fs.StringArray("vault-password-file", nil, "Ansible Vault password `FILE`, or an executable that prints it (repeatable)")
	out := fs.StringP("out", "o", ".", "write immich.cue and immich.secrets.env into `DIR`")
	force := fs.Bool("force", false, "overwrite files in DIR that were edited since the last import")
	quiet := fs.BoolP("quiet", "q", false, "print nothing but errors")
	help := fs.BoolP("help", "h", false, "show this help")
	if err := fs.Parse(args[1:]); err != nil {
		return 0, usageError{Msg: err.Error()}
	}
	switch {
	case *help:
		fmt.Fprint(stdout, importUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK, nil
	case fs.NArg() > 0:
		return 0, usageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case *inventory == "":
		return 0, usageError{Msg: "import ansible needs -i INVENTORY"}
	}
	var passwords [][]byte
	for _, f := range *vaultFiles {
		pw, err := ansible.ReadVaultPassword(f)
		if err != nil {
			return 0, usageError{Msg: err.Error()}
		}
		passwords = append(passwords, pw)
	}
	res, err := ansible.Import(ansible.Options{Inventory: *inventory, Hosts: *hosts, Vault: ansible.NewVault(passwords...)})
	var probs schema.Problems
	if errors.As(err, &probs) {
		fmt.Fprintln(stderr, probs.Error())
		fmt.Fprintf(stderr, "immich-render: %s in the inventory; nothing was written\n", group.Plural(len(probs), "problem"))
		return exitInvalid, nil
	}
	if err != nil {
		return 0, err
	}
	if !*quiet {
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "immich-render: warning: %s\n", w)
		}
	}
	written, err := ansible.Write(*out, res, *force)
	if err != nil {
		return 0, err
	}
	if !*quiet {
		for _, p := range written {
			fmt.Fprintf(stderr, "wrote %s\n", p)
		}
		if w := ansible.SecretsInGit(*out); w != "" {
			fmt.Fprintf(stderr, "immich-render: warning: %s\n", w)
		}
	}
	return exitOK, nil
}
