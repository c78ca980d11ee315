package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/spf13/pflag"

	"github.com/immich-render/immich-render/internal/pipeline"
)

// defineRender is the render, or with --check the drift check.
func defineRender(fs *pflag.FlagSet) runFunc {
	var in inputFlags
	in.register(fs)
	req := pipeline.Request{Tool: "immich-render", Version: Version}
	fs.StringVarP(&req.Out, "out", "o", "", "output `DIR` (owned by immich-render: stale files are removed)")
	fs.StringVar(&req.SecretsOut, "secrets-out", "", "write the plaintext secret files and cloud-init user-data under `SDIR`")
	fs.BoolVar(&req.Check, "check", false, "compare with DIR instead of writing; exit 1 on drift")
	format := fs.String("format", "text", "with --check: how to print the drift: text (diffs), json, stat (a line per file) or names (paths)")
	fs.BoolVar(&req.ExactModes, "exact-modes", false, "with --check: compare every file's mode on disk, not only through the manifest (for a directory written by immich-render rather than checked out of git)")
	fs.BoolVar(&req.Force, "force", false, "take over a non-empty DIR that has no immich-render manifest")
	fs.BoolVarP(&req.Quiet, "quiet", "q", false, "print nothing on success; with --check, print nothing at all and only set the exit code")
	fs.StringArrayVar(&req.Hosts, "host", nil, "with a fleet configuration: render or check only host `NAME` (repeatable)")
	version := fs.Bool("version", false, "print the version and exit")
	return func(_ []string, stdout, stderr io.Writer) (int, error) {
		req.Stdout, req.Stderr = stdout, stderr
		switch {
		case *version:
			fmt.Fprintf(stdout, "immich-render %s\n", Version)
			return exitOK, nil
		case req.Out == "":
			return 0, usageError{Msg: "-o DIR is required (use 'immich-render vet' to validate without rendering)"}
		case !slices.Contains(pipeline.CheckFormats, *format):
			return 0, usageError{Msg: fmt.Sprintf("unknown --format %q: want text, json, stat or names", *format)}
		case *format != "text" && !req.Check:
			return 0, usageError{Msg: "--format " + *format + " is for --check; a render prints a summary"}
		}
		req.Format = *format
		if err := notADirectory("-o", req.Out); err != nil {
			return 0, err
		}
		if err := notADirectory("--secrets-out", req.SecretsOut); err != nil {
			return 0, err
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
}

// notADirectory refuses an output path that exists and is not a
// directory: naming a file there is a usage mistake, not an I/O error.
func notADirectory(flag, dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Lstat(dir)
	// A missing DIR is created; a symbolic link and other errors are the
	// writer's to explain.
	if err != nil || fi.IsDir() || fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	what := "a regular file"
	if !fi.Mode().IsRegular() {
		what = "not a directory"
	}
	return usageError{Msg: fmt.Sprintf("%s %s: it is %s; want a directory (immich-render owns it)", flag, dir, what)}
}
