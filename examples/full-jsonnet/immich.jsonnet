// A fuller site in Jsonnet: the host name, version and upload path come in
// as external variables (see args), so one file serves several hosts.
local hostname = std.extVar('hostname');
local env(name) = { env: name };

{
  immich: {
    version: std.extVar('immichVersion'),
    timezone: 'Europe/Berlin',
    port: 2283,
    uploadLocation: '/srv/%s/immich/upload' % std.split(hostname, '.')[0],
    projectDir: '/srv/podman/immich',
    composeCommand: '/usr/bin/podman-compose',
    network: { name: 'immich', subnet: '172.30.0.0/24', gateway: '172.30.0.1' },
    postgres: { password: env('IMMICH_POSTGRES_PASSWORD'), vectorExtension: 'vectorchord' },
    valkey: { password: env('IMMICH_VALKEY_PASSWORD'), db: 1 },
    // Keep models loaded for 10 minutes after the last request.
    machineLearning: { enabled: true, acceleration: 'openvino', environment: { MACHINE_LEARNING_MODEL_TTL: '600' } },
    // Thumbnails and transcoded videos on the SSD, originals on the disk.
    storage: { thumbs: '/srv/ssd/immich/thumbs', encodedVideo: '/srv/ssd/immich/encoded-video' },
    // Prometheus metrics on loopback, for a Prometheus on this host.
    metrics: { enabled: true },
    transcoding: { acceleration: 'quicksync' },
    externalLibraries: [
      { hostPath: '/mnt/photos' },
      { hostPath: '/mnt/scans', containerPath: '/mnt/external/scans', readOnly: false },
    ],
    environment: { IMMICH_LOG_LEVEL: 'warn' },
    // pg_dump every night at 03:30 Berlin time (after the library scan),
    // four weeks of dumps, on the storage disk rather than the system one.
    backup: { schedule: '*-*-* 03:30:00 Europe/Berlin', keep: 28, directory: '/srv/backups/immich' },
    nginx: {
      enabled: true,
      hostname: hostname,
      tls: 'webroot',
      acme: { email: 'admin@example.com' },
    },
  },
  valkey: {
    adminPassword: env('VALKEY_ADMIN_PASSWORD'),
    users: [
      {
        username: 'paperless',
        password: env('PAPERLESS_VALKEY_PASSWORD'),
        keyPatterns: ['paperless*'],
        commands: '-@all +@read +@write +@connection -@dangerous',
      },
    ],
  },
  host: { valkeyService: 'redis-server', valkeyGroup: 'redis' },
}
