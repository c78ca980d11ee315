// immich-render site configuration (Jsonnet). Render with:
//   export IMMICH_POSTGRES_PASSWORD=... IMMICH_VALKEY_PASSWORD=... VALKEY_ADMIN_PASSWORD=...
//   immich-render -o out/ --secrets-out ../immich-secrets/
// out/ holds no plaintext secret: commit it. The secrets folder does: keep it
// outside this repository (immich-render also writes a .gitignore of * into it).
// Pass values in with --ext-str k=v or --ext-str-env NAME and read them with
// std.extVar. Secrets stay references: none is ever written under -o.
local env(name) = { env: name };
{
  immich: {
    version: 'v3.1.0',  // an exact release tag, v1.137.0 or newer
    timezone: 'Etc/UTC',
    uploadLocation: '/mnt/storage/immich/upload',
    projectDir: '/opt/podman/immich',
    // Debian 12 (podman 4.3) has no `podman compose`: use /usr/bin/podman-compose.
    composeCommand: '/usr/bin/podman compose',
    // 'quadlet' (Podman >= 5.0, e.g. Debian 13): systemd runs the containers.
    runtime: 'compose',
    network: { name: 'immich', subnet: '172.20.0.0/16', gateway: '172.20.0.1' },
    // hostGateway (host.containers.internal) defaults to network.gateway.
    postgres: { password: env('IMMICH_POSTGRES_PASSWORD'), vectorExtension: 'vectorchord' },
    valkey: { password: env('IMMICH_VALKEY_PASSWORD') },
    machineLearning: { enabled: true, acceleration: 'cpu' },
    transcoding: { acceleration: 'cpu' },
    externalLibraries: [],
    // pg_dump of the database as the postgres user, from a systemd timer.
    backup: { enabled: true, schedule: 'daily', keep: 14, directory: '/var/backups/immich' },
    nginx: { enabled: false },
  },
  valkey: {
    adminPassword: env('VALKEY_ADMIN_PASSWORD'),
    users: [],
  },
}
