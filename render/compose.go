package render

import "github.com/immich-render/immich-render/schema"

func renderCompose(cfg *schema.Config, r Result) {}
