package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/immich-render/immich-render/internal/ansible"
	"github.com/immich-render/immich-render/internal/group"
	"github.com/immich-render/immich-render/schema"
)

// defineImport is 'immich-render import ansible'.
func defineImport(fs *pflag.FlagSet) runFunc {
	inventory := fs.StringP("inventory", "i", "", "Ansible inventory `FILE` or directory")
	hosts := fs.StringArray("host", nil, "import only inventory host `NAME` (repeatable)")
	vaultFiles := fs.StringArray("vault-password-file", nil, "Ansible Vault password `FILE`, or an executable that prints it (repeatable)")
	out := fs.StringP("out", "o", ".", "write immich.cue and immich.secrets.env into `DIR`")
	force := fs.Bool("force", false, "overwrite files in DIR that were edited since the last import")
	quiet := fs.BoolP("quiet", "q", false, "print nothing but errors")
	return func(args []string, stdout, stderr io.Writer) (int, error) {
		return runImport(args[0], importOptions{*inventory, *hosts, *vaultFiles, *out, *force, *quiet}, stderr)
	}
}

type importOptions struct {
	inventory  string
	hosts      []string
	vaultFiles []string
	out        string
	force      bool
	quiet      bool
}

func runImport(source string, o importOptions, stderr io.Writer) (int, error) {
	if source != "ansible" {
		return 0, usageError{Msg: fmt.Sprintf("unknown import source %q: want 'immich-render import ansible'", source)}
	}
	if o.inventory == "" {
		return 0, usageError{Msg: "import ansible needs -i INVENTORY"}
	}
	var passwords [][]byte
	for _, f := range o.vaultFiles {
		pw, err := ansible.ReadVaultPassword(f)
		if err != nil {
			return 0, usageError{Msg: err.Error()}
		}
		passwords = append(passwords, pw)
	}
	res, err := ansible.Import(ansible.Options{Inventory: o.inventory, Hosts: o.hosts, Vault: ansible.NewVault(passwords...)})
	var probs schema.Problems
	if errors.As(err, &probs) {
		fmt.Fprintln(stderr, probs.Error())
		fmt.Fprintf(stderr, "immich-render: %s in the inventory; nothing was written\n", group.Plural(len(probs), "problem"))
		return exitInvalid, nil
	}
	if err != nil {
		return 0, err
	}
	if !o.quiet {
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "immich-render: warning: %s\n", w)
		}
	}
	written, err := ansible.Write(o.out, res, o.force)
	if err != nil {
		return 0, err
	}
	if !o.quiet {
		for _, p := range written {
			fmt.Fprintf(stderr, "wrote %s\n", p)
		}
		if w := ansible.SecretsInGit(o.out); w != "" {
			fmt.Fprintf(stderr, "immich-render: warning: %s\n", w)
		}
	}
	return exitOK, nil
}
