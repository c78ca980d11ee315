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
// immichredis/ runs Immich's own Redis libraries (BullMQ, ioredis, the
// socket.io Redis adapter) against the rendered users.acl.
package rehearsal
