package render

// Notice is the one sentence that says a file is rendered. It is here
// once, in one wording, for every kind of file (and the fleet's index);
// it names no Immich version, so that a version bump changes only the
// files it really changes (the image references, the manifest).
const Notice = "Rendered by immich-render. Do not edit: change the configuration and render again."

// header is the notice as the first comment line of a file whose comments
// start with comment ("#" for units, compose, nginx, scripts and
// configuration fragments, "--" for SQL). users.acl has none: Valkey
// refuses a comment line there.
func header(comment string) string { return comment + " " + Notice + "\n" }
