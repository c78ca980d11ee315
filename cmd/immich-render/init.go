package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/immich-render/immich-render/schema"
)

// defineInit prints a commented starter configuration.
func defineInit(fs *pflag.FlagSet) runFunc {
	format := fs.String("format", "cue", "starter format: cue, yaml, json or jsonnet")
	return func(_ []string, stdout, _ io.Writer) (int, error) {
		src, ok := schema.Starter(*format)
		if !ok {
			return 0, usageError{Msg: fmt.Sprintf("unknown --format %q: want cue, yaml, json or jsonnet", *format)}
		}
		_, err := stdout.Write(src)
		return exitOK, err
	}
}

// defineSchema prints the CUE schema, or a JSON Schema for editors.
func defineSchema(fs *pflag.FlagSet) runFunc {
	format := fs.String("format", "cue", "cue (the schema itself) or jsonschema (for editors of YAML and JSON configurations)")
	return func(_ []string, stdout, _ io.Writer) (int, error) {
		switch *format {
		case "cue":
			_, err := stdout.Write(schema.Source())
			return exitOK, err
		case "jsonschema":
			js, err := schema.JSONSchema()
			if err != nil {
				return 0, err
			}
			_, err = stdout.Write(js)
			return exitOK, err
		}
		return 0, usageError{Msg: fmt.Sprintf("unknown --format %q: want cue or jsonschema", *format)}
	}
}
