// Command immich-render renders a self-hosted Immich deployment (compose
// file, systemd units, Valkey ACL, PostgreSQL init, nginx vhost, cloud-init)
// from one typed configuration into a deterministic directory.
package main

import "os"

func main() {
	tuneGC()
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}
