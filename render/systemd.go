package render

import "github.com/immich-render/immich-render/schema"

func renderImmichUnit(cfg *schema.Config, r Result) {}
