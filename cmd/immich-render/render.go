package main

import (
	"fmt"
	"io"

	"github.com/immich-render/immich-render/internal/pipeline"
)

// runRender renders the configuration into -o (and --secrets-out), or
// with --check compares it with what is there.
func runRender(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("immich-render", stderr)
	var in inputFlags
	in.register(fs)
	req := pipeline.Request{Tool: "immich-render", Version: Version, Stdout: stdout, Stderr: stderr}
	fs.StringVarP(&req.Out, "out", "o", "", "output `DIR` (owned by immich-render: stale files are removed)")
	fs.StringVar(&req.SecretsOut, "secrets-out", "", "write the plaintext secret files and cloud-init user-data under `SDIR`")
	fs.BoolVar(&req.Check, "check", false, "compare with DIR instead of writing; exit 1 on drift")
	fs.BoolVar(&req.ExactModes, "exact-modes", false, "with --check: compare every file's mode on disk, not only through the manifest (for a directory written by immich-render rather than checked out of git)")
	fs.BoolVar(&req.Force, "force", false, "take over a non-empty DIR that has no immich-render manifest")
	fs.BoolVarP(&req.Quiet, "quiet", "q", false, "print nothing on success")
	fs.StringArrayVar(&req.Hosts, "host", nil, "with a fleet configuration: render or check only host `NAME` (repeatable)")
	version := fs.Bool("version", false, "print the version and exit")
	help := fs.BoolP("help", "h", false, "show this help")
	if err := fs.Parse(args); err != nil {
		return 0, usageError{Msg: err.Error()}
	}
	switch {
	case *help:
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK, nil
	case *version:
		fmt.Fprintf(stdout, "immich-render %s\n", Version)
		return exitOK, nil
	case fs.NArg() > 0:
		return 0, usageError{Msg: fmt.Sprintf("unexpected argument %q (subcommands are vet, init and schema)", fs.Arg(0))}
	case req.Out == "":
		return 0, usageError{Msg: "-o DIR is required (use 'immich-render vet' to validate without rendering)"}
	}
	var err error
	if req.Inputs, req.Options, err = in.read(); err != nil {
		return 0, err
	}
	defer in.watch(req.Inputs)()
	drift, err := pipeline.Run(req)
	switch {
	case err != nil:
		return 0, err
	case drift:
		return exitDrift, nil
	}
	return exitOK, nil
}
