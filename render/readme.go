package render

import "github.com/immich-render/immich-render/schema"

// renderReadme renders the output's README.md.
func renderReadme(cfg *schema.Config, r Result) {}
