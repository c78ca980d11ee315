// Runs what Immich's job repository (BullMQ) and websocket adapter
// (@socket.io/redis-adapter over ioredis) do against a Valkey, as the
// Immich ACL user, and fails on the first error (such as NOPERM).
// Environment: REDIS_HOSTNAME, REDIS_PORT, REDIS_USERNAME, REDIS_PASSWORD,
// REDIS_DBINDEX, as Immich reads them.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server } from 'socket.io';

const connection = {
  host: process.env.REDIS_HOSTNAME,
  port: Number(process.env.REDIS_PORT),
  db: Number(process.env.REDIS_DBINDEX || 0),
  username: process.env.REDIS_USERNAME,
  password: process.env.REDIS_PASSWORD,
  maxRetriesPerRequest: null,
  // Fail fast instead of reconnecting forever on an error.
  retryStrategy: () => null,
};
const prefix = 'immich_bull';

const done = [];
async function step(name, f) {
  try {
    const r = await f();
    done.push(name);
    console.log(`ok ${name}${r === undefined ? '' : ' ' + JSON.stringify(r)}`);
    return r;
  } catch (e) {
    console.log(`FAIL ${name}: ${e && e.message}`);
    throw e;
  }
}

const errors = [];
const onError = (what) => (e) => errors.push(`${what}: ${e && e.message}`);

async function main() {
  const queue = new Queue('thumbnailGeneration', { connection, prefix });
  queue.on('error', onError('queue'));
  // Not QueueEvents: Immich's job repository does not use it.
  const processed = [];
  let worker;
  await step('Worker processes jobs', async () => {
    worker = new Worker('thumbnailGeneration', async (job) => { processed.push(job.name); return job.name; },
      { connection, prefix, concurrency: 2, autorun: true });
    worker.on('error', onError('worker'));
    await worker.waitUntilReady();
  });
  await step('add with jobId', () => queue.add('asset-1', { id: 'asset-1' }, { jobId: 'asset-1' }).then((j) => j.id));
  await step('add with the same jobId is de-duplicated', async () => {
    const j = await queue.add('asset-1', { id: 'asset-1' }, { jobId: 'asset-1' });
    return j.id;
  });
  await step('add with priority', () => queue.add('asset-2', { id: 'asset-2' }, { priority: 1 }).then((j) => j.id));
  await step('addBulk', () => queue.addBulk([
    { name: 'asset-3', data: {}, opts: { jobId: 'asset-3' } },
    { name: 'asset-4', data: {} },
  ]).then((js) => js.length));
  await step('jobs finish', async () => {
    for (let i = 0; i < 100 && processed.length < 4; i++) await new Promise((r) => setTimeout(r, 50));
    if (processed.length < 4) throw new Error(`processed ${processed.length} of 4 jobs`);
    return processed.length;
  });
  await step('add with jobId and delay', () => queue.add('album-1', { id: 'album-1' }, { jobId: 'album-1', delay: 60000 }).then((j) => j.id));
  await step('getJob and remove', async () => {
    const j = await queue.getJob('album-1');
    if (!j) throw new Error('delayed job not found');
    await j.remove();
    return j.id;
  });
  await step('getActiveCount', () => queue.getActiveCount());
  await step('isPaused', () => queue.isPaused());
  await step('pause', () => queue.pause());
  await step('resume', () => queue.resume());
  await step('getJobCounts', () => queue.getJobCounts('active', 'completed', 'failed', 'delayed', 'waiting', 'paused'));
  await step('drain', () => queue.drain(true));
  await step('clean', () => queue.clean(0, 1000, 'completed').then((ids) => ids.length));
  await step('close the worker and the queue', async () => { await worker.close(); await queue.close(); });

  // The websocket adapter: two servers share events through pub/sub.
  const clients = [];
  const servers = [];
  for (let i = 0; i < 2; i++) {
    const pub = new Redis(connection);
    const sub = pub.duplicate();
    pub.on('error', onError('adapter pub'));
    sub.on('error', onError('adapter sub'));
    clients.push(pub, sub);
    const io = new Server();
    io.adapter(createAdapter(pub, sub));
    servers.push(io);
  }
  await step('adapter serverCount', async () => {
    let n = 0;
    for (let i = 0; i < 50 && n < 2; i++) {
      n = await servers[0].of('/').adapter.serverCount();
      if (n < 2) await new Promise((r) => setTimeout(r, 50));
    }
    if (n < 2) throw new Error(`serverCount ${n}, want 2`);
    return n;
  });
  await step('adapter serverSideEmit', () => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the other server did not receive the event')), 5000);
    servers[1].on('on_server_event', (arg) => { clearTimeout(t); resolve(arg); });
    servers[0].serverSideEmit('on_server_event', 'config.update');
  }));
  for (const io of servers) io.close();
  for (const c of clients) c.disconnect();
  if (errors.length) throw new Error(errors.join('; '));
}

main().then(() => { console.log(`all ${done.length} steps ok`); process.exit(0); },
  (e) => { console.log(`FAILED: ${e && e.message}`); if (errors.length) console.log(errors.join('\n')); process.exit(1); });
