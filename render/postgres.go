package render

import "github.com/immich-render/immich-render/schema"

// renderPostgres renders the database init SQL, its oneshot unit and the
// pg_hba / postgresql.conf fragments.
func renderPostgres(cfg *schema.Config, r Result) {}
