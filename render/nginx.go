package render

import "github.com/immich-render/immich-render/schema"

// renderNginx renders the nginx vhost when nginx is enabled.
func renderNginx(cfg *schema.Config, r Result) {}
