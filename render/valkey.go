package render

import "github.com/immich-render/immich-render/schema"

// renderValkey renders etc/valkey/users.acl and the Valkey server fragment.
func renderValkey(cfg *schema.Config, r Result) {}
