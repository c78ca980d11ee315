package schema

import "embed"

//go:embed starter/immich.*
var starters embed.FS

// Starter returns the commented starter configuration in a format (cue,
// yaml, json or jsonnet), as `immich-render init` prints it.
func Starter(format string) ([]byte, bool) {
	b, err := starters.ReadFile("starter/immich." + format)
	return b, err == nil && format != ""
}
