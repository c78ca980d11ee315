package main

import (
	"io"

	"github.com/spf13/pflag"

	"github.com/immich-render/immich-render/schema"
)

// defineExplain prints one field's documentation from the CUE schema.
func defineExplain(*pflag.FlagSet) runFunc {
	return func(args []string, stdout, _ io.Writer) (int, error) {
		doc, err := schema.Explain(args[0])
		if err != nil {
			return 0, usageError{Msg: err.Error()}
		}
		_, err = io.WriteString(stdout, doc)
		return exitOK, err
	}
}
