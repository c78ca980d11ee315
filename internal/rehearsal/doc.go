// Package rehearsal holds the deploy rehearsal: its tests render examples
// and deploy them end to end on the test machine, as the rendered README
// says, with real Podman, PostgreSQL, Valkey 8 and nginx, and stand-in
// images (standin/) tagged as Immich's. `make rehearse` runs it.
//
// Each deployment runs on a fresh "host" of its own: a new network
// namespace (no Podman bridge, no sysctl set, its own firewall rules) and a
// new mount namespace in which /etc is a throwaway overlay of the
// machine's and Podman keeps its images and containers in a temporary
// folder. So the fragments' apply.sh and the units' command lines run
// unchanged, and nothing of a deployment outlives it.
//
// TestDebian13Host (debian13_test.go, machine_test.go) deploys on a real
// Debian 13 host instead: a root filesystem from scripts/debian13-rootfs.sh
// booted with systemd-nspawn, systemd as PID 1 and a private network, a
// tenant on its PostgreSQL and Valkey first, and the output README's deploy
// blocks run verbatim (readme_test.go finds them). Its scenarios are a
// list: an example (or a fleet host) and, for a mutation, the step that
// must fail.
//
// immichredis/ runs Immich's own Redis libraries (BullMQ, ioredis, the
// socket.io Redis adapter) against the rendered users.acl.
package rehearsal
