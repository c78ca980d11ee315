// Package immichredis runs Immich's own Redis libraries (BullMQ, ioredis,
// the socket.io Redis adapter, from npm at the versions Immich's server
// pins) against a real redis-server with the rendered users.acl, doing what
// Immich's job repository and websocket adapter do: the ACL must be not
// only safe but sufficient. The test lives in immichredis_test.go; node
// runs check.mjs.
package immichredis
