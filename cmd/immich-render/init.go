package main

import (
	"fmt"
	"io"

	"github.com/immich-render/immich-render/schema"
)

// runInit prints a commented starter configuration.
func runInit(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("immich-render init", stderr)
	format := fs.String("format", "cue", "starter format: cue, yaml, json or jsonnet")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	src, ok := schema.Starter(*format)
	if !ok {
		return 0, usageError{Msg: fmt.Sprintf("unknown --format %q: want cue, yaml, json or jsonnet", *format)}
	}
	_, err := stdout.Write(src)
	return exitOK, err
}

// runSchema prints the CUE schema.
func runSchema(args []string, stdout, _ io.Writer) (int, error) {
	if len(args) > 0 {
		return 0, usageError{Msg: "schema takes no arguments"}
	}
	_, err := stdout.Write(schema.Source())
	return exitOK, err
}
