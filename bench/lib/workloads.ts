/**
 * The workloads: each runs against one server on `ctx.port` and answers its figure. The caller
 * measures the server's CPU and peak RSS around each one.
 */
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Conn, hammer, pool, render } from './client.js';
import { type BlobFile, GiB, type Generated, MiB, prng, randomFile, sha256, smallBlobs } from './fixtures.js';
import type { Group } from './targets.js';
import { run } from './proc.js';

export interface Fixtures {
  /** Pushed by POST + PUT, then pulled and read in ranges. */
  a: BlobFile;
  /** Pushed in PATCHes. */
  b: BlobFile;
  /** The concurrent pushers' blobs. */
  concurrent: Generated;
  /** Scratch space on the load generator's side (client homes, layouts). */
  scratch: string;
  clients?: { skopeo: string; oras: string; helm: string; makeLayout: string; chart: string };
}

export interface Ctx {
  port: number;
  target: string;
  group: Group;
  fx: Fixtures;
  /** Seconds per request-rate measurement. */
  seconds: number;
  /** The run's index, so client repositories stay fresh. */
  run: string;
  state: { manifest?: { digest: string; body: Buffer; mediaType: string }; blobs?: Buffer[] };
  /** Starts the server's CPU and peak-RSS measurement again: a workload calls it after its setup. */
  restart?: () => void;
}

export interface Result {
  value: number;
  bytes?: number;
  requests?: number;
  p50Ms?: number;
  p99Ms?: number;
  errors?: number;
  note?: string;
  /** Why this target cannot run the workload (the row shows n/a). */
  skipped?: string;
}

export interface Workload {
  id: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** CPU is reported per GiB moved or per request (ms). */
  per: 'GiB' | 'request' | 'none';
  groups: Group[];
  run(ctx: Ctx): Promise<Result>;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const ACCEPT = [OCI_MANIFEST, 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');
const EMPTY = Buffer.from('{}');
const EMPTY_DESCRIPTOR = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(EMPTY), size: 2 };

/** The path (and query) of a Location, absolute or not. */
export function pathOf(location: string): string {
  if (!location.startsWith('http')) return location;
  const url = new URL(location);
  return url.pathname + url.search;
}

function withDigest(location: string, digest: string): string {
  const path = pathOf(location);
  return `${path}${path.includes('?') ? '&' : '?'}digest=${digest}`;
}

function expect(status: number, wanted: number, what: string): void {
  if (status !== wanted) throw new Error(`${what}: HTTP ${status}, expected ${wanted}`);
}

async function startUpload(conn: Conn, repo: string): Promise<string> {
  const reply = await conn.request('POST', `/v2/${repo}/blobs/uploads/`);
  expect(reply.status, 202, `POST /v2/${repo}/blobs/uploads/`);
  const location = reply.headers.get('location');
  if (!location) throw new Error('upload POST without Location');
  return location;
}

/** POST + PUT with the body: what every client does for a small blob. */
export async function pushBlob(conn: Conn, repo: string, data: Buffer, digest = sha256(data)): Promise<void> {
  const location = await startUpload(conn, repo);
  const reply = await conn.request('PUT', withDigest(location, digest), { 'Content-Type': 'application/octet-stream' }, data);
  expect(reply.status, 201, `PUT blob into ${repo}`);
}

/** Links `digest` from `from` into `repo` by a mount, or uploads `data` when the registry offers a session instead. */
async function mountOrPush(conn: Conn, repo: string, from: string, data: Buffer, digest: string): Promise<void> {
  const reply = await conn.request('POST', `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${from}`);
  if (reply.status === 201) return;
  expect(reply.status, 202, `mount into ${repo}`);
  const put = await conn.request('PUT', withDigest(reply.headers.get('location') ?? '', digest), { 'Content-Type': 'application/octet-stream' }, data);
  expect(put.status, 201, `PUT blob into ${repo}`);
}

function imageManifest(config: Buffer, layers: Buffer[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(l), size: l.length })),
      annotations: { 'org.opencontainers.image.created': '2026-12-01T00:00:00Z', 'org.opencontainers.image.title': 'berth bench' },
    }),
  );
}

/** An image (a config, three 4 KiB layers, a manifest tagged v1) in `bench/app`; warms the server up too. */
export async function prepare(ctx: Ctx): Promise<void> {
  const conn = new Conn(ctx.port);
  await conn.ready();
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256('a'), sha256('b'), sha256('c')] } }));
  const layers = smallBlobs(3, 4096).map((b) => b.data);
  for (const blob of [config, ...layers, EMPTY]) await pushBlob(conn, 'bench/app', blob);
  const body = imageManifest(config, layers);
  const reply = await conn.request('PUT', '/v2/bench/app/manifests/v1', { 'Content-Type': OCI_MANIFEST }, body);
  expect(reply.status, 201, 'PUT manifest');
  ctx.state.manifest = { digest: sha256(body), body, mediaType: OCI_MANIFEST };
  ctx.state.blobs = [config, ...layers];
  // warm-up: a 16 MiB blob both ways, and a few thousand manifest requests
  const warm = smallBlobs(1, 16 * MiB)[0] as { data: Buffer; digest: string };
  await pushBlob(conn, 'bench/warm', warm.data, warm.digest);
  const pulled = await conn.request('GET', `/v2/bench/warm/blobs/${warm.digest}`, {}, undefined, true);
  expect(pulled.status, 200, 'warm-up pull');
  conn.close();
  const get = render('GET', '/v2/bench/app/manifests/v1', { Accept: ACCEPT });
  await hammer(ctx.port, 16, { limit: 3000 }, () => get);
}

function manifestRate(id: string, label: string, method: 'GET' | 'HEAD', by: 'tag' | 'digest', connections: number, groups: Group[] = ['fs']): Workload {
  return {
    id,
    label,
    unit: 'req/s',
    better: 'higher',
    per: 'request',
    groups,
    async run(ctx) {
      const ref = by === 'tag' ? 'v1' : (ctx.state.manifest?.digest ?? '');
      const request = render(method, `/v2/bench/app/manifests/${ref}`, { Accept: ACCEPT });
      const rate = await hammer(ctx.port, connections, { seconds: ctx.seconds, head: method === 'HEAD' }, () => request);
      if (rate.errors > 0) throw new Error(`${rate.errors} of ${rate.requests} answers were errors: ${JSON.stringify(rate.statuses)}`);
      return { value: rate.perSecond, requests: rate.requests, p50Ms: rate.p50Ms, p99Ms: rate.p99Ms };
    },
  };
}

function smallPushes(id: string, label: string, connections: number, groups: Group[]): Workload {
  return {
    id,
    label,
    unit: 'blobs/s',
    better: 'higher',
    per: 'request',
    groups,
    async run(ctx) {
      const blobs = smallBlobs(connections === 1 ? 4000 : 12000, 4096);
      const conns = await pool(ctx.port, connections);
      ctx.restart?.();
      let next = 0;
      const latencies: number[] = [];
      const started = performance.now();
      const deadline = started + ctx.seconds * 1000;
      await Promise.all(
        conns.map(async (conn) => {
          while (next < blobs.length && performance.now() < deadline) {
            const blob = blobs[next++] as { data: Buffer; digest: string };
            const t = performance.now();
            await pushBlob(conn, `bench/small-c${connections}`, blob.data, blob.digest);
            latencies.push(performance.now() - t);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      for (const c of conns) c.close();
      latencies.sort((x, y) => x - y);
      const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
      // two requests per blob: CPU per request counts both
      return { value: latencies.length / seconds, requests: latencies.length * 2, p50Ms: at(0.5), p99Ms: at(0.99) };
    },
  };
}

async function curl(args: string[]): Promise<string> {
  return (await run('curl', ['-sS', '-H', 'Expect:', ...args])).stdout;
}

const pushPut: Workload = {
  id: 'push-put',
  label: 'push, POST + PUT with body',
  unit: 'MB/s',
  better: 'higher',
  per: 'GiB',
  groups: ['fs', 'gridfs'],
  async run(ctx) {
    const { a } = ctx.fx;
    const t = performance.now();
    const conn = new Conn(ctx.port);
    await conn.ready();
    const location = await startUpload(conn, 'bench/put');
    conn.close();
    const out = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-T', a.path, '-H', 'Content-Type: application/octet-stream', `http://127.0.0.1:${ctx.port}${withDigest(location, a.digest)}`]);
    const seconds = (performance.now() - t) / 1000;
    expect(Number(out), 201, 'PUT with the blob');
    return { value: a.size / seconds / 1e6, bytes: a.size };
  },
};

const pushPatch: Workload = {
  id: 'push-patch',
  label: 'push, 8 MiB PATCHes',
  unit: 'MB/s',
  better: 'higher',
  per: 'GiB',
  groups: ['fs', 'gridfs'],
  async run(ctx) {
    if (ctx.target === 'bare-gridfs') return { value: 0, skipped: "the driver's upload stream cannot continue a file in another request" };
    const { b } = ctx.fx;
    const chunk = 8 * MiB;
    const file = await open(b.path, 'r');
    const conn = new Conn(ctx.port);
    await conn.ready();
    const t = performance.now();
    try {
      let location = await startUpload(conn, 'bench/patch');
      for (let at = 0; at < b.size; at += chunk) {
        const n = Math.min(chunk, b.size - at);
        const piece = Buffer.allocUnsafe(n);
        await file.read(piece, 0, n, at);
        const reply = await conn.upload('PATCH', pathOf(location), { 'Content-Type': 'application/octet-stream', 'Content-Range': `${at}-${at + n - 1}` }, n, [piece]);
        expect(reply.status, 202, `PATCH at ${at}`);
        location = reply.headers.get('location') ?? location;
      }
      const put = await conn.request('PUT', withDigest(location, b.digest), {}, Buffer.alloc(0));
      expect(put.status, 201, 'closing PUT');
    } finally {
      conn.close();
      await file.close();
    }
    return { value: b.size / ((performance.now() - t) / 1000) / 1e6, bytes: b.size };
  },
};

const pull: Workload = {
  id: 'pull',
  label: 'pull',
  unit: 'MB/s',
  better: 'higher',
  per: 'GiB',
  groups: ['fs', 'gridfs'],
  async run(ctx) {
    const { a } = ctx.fx;
    const t = performance.now();
    const out = await curl(['-o', '/dev/null', '-w', '%{http_code} %{size_download}', `http://127.0.0.1:${ctx.port}/v2/bench/put/blobs/${a.digest}`]);
    const seconds = (performance.now() - t) / 1000;
    const [status, size] = out.split(' ').map(Number);
    expect(status ?? 0, 200, 'GET blob');
    if (size !== a.size) throw new Error(`pulled ${size} bytes of ${a.size}`);
    return { value: a.size / seconds / 1e6, bytes: a.size };
  },
};

const ranges: Workload = {
  id: 'range',
  label: '100 random 1 MiB range GETs',
  unit: 'req/s',
  better: 'higher',
  per: 'request',
  groups: ['fs', 'gridfs'],
  async run(ctx) {
    const { a } = ctx.fx;
    const conn = new Conn(ctx.port);
    await conn.ready();
    const t = performance.now();
    // the same 100 ranges three times over on fs, so the figure rests on more than a quarter of a second
    // (once on GridFS: the driver's ranged read takes a quarter of a second each on SecantusDB)
    const rounds = ctx.group === 'fs' ? 3 : 1;
    for (let round = 0; round < rounds; round++) {
      const random = prng(42);
      for (let i = 0; i < 100; i++) {
        const start = Math.floor(random() * (a.size - MiB));
        const reply = await conn.request('GET', `/v2/bench/put/blobs/${a.digest}`, { Range: `bytes=${start}-${start + MiB - 1}` }, undefined, true);
        expect(reply.status, 206, 'range GET');
      }
    }
    conn.close();
    return { value: (rounds * 100) / ((performance.now() - t) / 1000), requests: rounds * 100, bytes: rounds * 100 * MiB };
  },
};

const concurrentPushes: Workload = {
  id: 'push-concurrent',
  label: '16 concurrent pushers',
  unit: 'MB/s',
  better: 'higher',
  per: 'GiB',
  groups: ['fs'],
  async run(ctx) {
    const gen = ctx.fx.concurrent;
    const size = gen.mib * MiB;
    const t = performance.now();
    await Promise.all(
      gen.digests.map(async (digest, k) => {
        const conn = new Conn(ctx.port);
        await conn.ready();
        const location = await startUpload(conn, `bench/concurrent-${k}`);
        const reply = await conn.upload('PUT', withDigest(location, digest), { 'Content-Type': 'application/octet-stream' }, size, gen.pieces(k));
        expect(reply.status, 201, `pusher ${k}`);
        conn.close();
      }),
    );
    const bytes = size * gen.digests.length;
    return { value: bytes / ((performance.now() - t) / 1000) / 1e6, bytes };
  },
};

const TAGS = 10_000;

const tagPushes: Workload = {
  id: 'mput-tag',
  label: `manifest PUT by tag (${TAGS.toLocaleString('en')} tags), c16`,
  unit: 'req/s',
  better: 'higher',
  per: 'request',
  groups: ['fs'],
  async run(ctx) {
    const { manifest, blobs = [] } = ctx.state;
    if (!manifest) throw new Error('no manifest prepared');
    const conn = new Conn(ctx.port);
    await conn.ready();
    for (const blob of blobs) await mountOrPush(conn, 'bench/tags', 'bench/app', blob, sha256(blob));
    conn.close();
    ctx.restart?.();
    const rate = await hammer(ctx.port, 16, { limit: TAGS }, (i) => render('PUT', `/v2/bench/tags/manifests/t${String(i).padStart(5, '0')}`, { 'Content-Type': manifest.mediaType }, manifest.body));
    if (rate.errors > 0) throw new Error(`${rate.errors} tag pushes failed: ${JSON.stringify(rate.statuses)}`);
    return { value: rate.perSecond, requests: rate.requests, p50Ms: rate.p50Ms, p99Ms: rate.p99Ms };
  },
};

const tagList: Workload = {
  id: 'tags-list',
  label: `tags list of ${TAGS.toLocaleString('en')}`,
  unit: 'ms',
  better: 'lower',
  per: 'request',
  groups: ['fs'],
  async run(ctx) {
    const conn = new Conn(ctx.port);
    await conn.ready();
    const times: number[] = [];
    let count = 0;
    for (let i = 0; i < 21; i++) {
      const t = performance.now();
      const reply = await conn.request('GET', '/v2/bench/tags/tags/list');
      times.push(performance.now() - t);
      expect(reply.status, 200, 'tags list');
      if (i === 0) count = (JSON.parse(reply.body.toString()) as { tags: string[] }).tags.length;
    }
    conn.close();
    times.sort((x, y) => x - y);
    return { value: times[10] ?? 0, requests: 21, ...(count < TAGS && { note: `listed ${count} tags` }) };
  },
};

const REPOSITORIES = 10_000;

const catalog: Workload = {
  id: 'catalog',
  label: `catalog of ${REPOSITORIES.toLocaleString('en')} repositories (pages of 1,000)`,
  unit: 'ms',
  better: 'lower',
  per: 'request',
  groups: ['fs'],
  async run(ctx) {
    const config = ctx.state.blobs?.[0];
    if (!config) throw new Error('no blobs prepared');
    const digest = sha256(config);
    // one blob as config and layer: a mount and a manifest PUT make each repository
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: config.length }] }));
    const conns = await pool(ctx.port, 16);
    let next = 0;
    await Promise.all(
      conns.map(async (conn) => {
        while (next < REPOSITORIES) {
          const repo = `catalog/r${String(next++).padStart(5, '0')}`;
          await mountOrPush(conn, repo, 'bench/app', config, digest);
          const reply = await conn.request('PUT', `/v2/${repo}/manifests/v1`, { 'Content-Type': OCI_MANIFEST }, body);
          expect(reply.status, 201, `manifest into ${repo}`);
        }
      }),
    );
    for (const c of conns) c.close();
    const conn = new Conn(ctx.port);
    await conn.ready();
    ctx.restart?.();
    const times: number[] = [];
    let count = 0;
    let requests = 0;
    let linked = true;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      let path: string | undefined = '/v2/_catalog?n=1000';
      count = 0;
      while (path) {
        const reply = await conn.request('GET', path);
        requests++;
        expect(reply.status, 200, 'catalog');
        const page = (JSON.parse(reply.body.toString()) as { repositories: string[] }).repositories;
        count += page.length;
        const link = reply.headers.get('link');
        if (link) path = pathOf(/<([^>]+)>/.exec(link)?.[1] ?? '') || undefined;
        else if (page.length === 1000 && count < 4 * REPOSITORIES) {
          // no Link header: ask for the next page with `last`, as the spec's pagination allows
          linked = false;
          path = `/v2/_catalog?n=1000&last=${encodeURIComponent(page[page.length - 1] ?? '')}`;
        } else path = undefined;
      }
      times.push(performance.now() - t);
    }
    conn.close();
    times.sort((x, y) => x - y);
    const notes = [...(count < REPOSITORIES || count > 2 * REPOSITORIES ? [`listed ${count} repositories`] : []), ...(linked ? [] : ['no Link header'])];
    return { value: times[2] ?? 0, requests, ...(notes.length > 0 && { note: notes.join(', ') }) };
  },
};

const REFERRERS = 100;

const referrers: Workload = {
  id: 'referrers',
  label: `referrers list (${REFERRERS} referrers), c16`,
  unit: 'req/s',
  better: 'higher',
  per: 'request',
  groups: ['fs'],
  async run(ctx) {
    const subject = ctx.state.manifest;
    if (!subject) throw new Error('no manifest prepared');
    const conn = new Conn(ctx.port);
    await conn.ready();
    for (let i = 0; i < REFERRERS; i++) {
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.example.signature',
          config: EMPTY_DESCRIPTOR,
          layers: [EMPTY_DESCRIPTOR],
          subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.body.length },
          annotations: { 'org.example.n': String(i) },
        }),
      );
      const reply = await conn.request('PUT', `/v2/bench/app/manifests/${sha256(body)}`, { 'Content-Type': OCI_MANIFEST }, body);
      expect(reply.status, 201, 'referrer PUT');
    }
    const first = await conn.request('GET', `/v2/bench/app/referrers/${subject.digest}`);
    conn.close();
    const listed = first.status === 200 ? ((JSON.parse(first.body.toString()) as { manifests?: unknown[] }).manifests?.length ?? 0) : 0;
    if (listed < REFERRERS) return { value: 0, skipped: `no Referrers API (HTTP ${first.status}, ${listed} listed)` };
    const request = render('GET', `/v2/bench/app/referrers/${subject.digest}`);
    ctx.restart?.();
    const rate = await hammer(ctx.port, 16, { seconds: ctx.seconds }, () => request);
    return { value: rate.perSecond, requests: rate.requests, p50Ms: rate.p50Ms, p99Ms: rate.p99Ms };
  },
};

/** A private world for the real clients (auth files, caches), as scripts/clients/run.sh makes one. */
async function clientEnv(ctx: Ctx): Promise<{ env: NodeJS.ProcessEnv; work: string }> {
  const work = join(ctx.fx.scratch, `client-${ctx.run}`);
  const home = join(work, 'home');
  await mkdir(join(home, '.config'), { recursive: true });
  return {
    work,
    env: {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_CACHE_HOME: join(home, '.cache'),
      XDG_DATA_HOME: join(home, '.local/share'),
      DOCKER_CONFIG: join(home, '.docker'),
      HELM_REGISTRY_CONFIG: join(home, '.config/helm/registry/config.json'),
    },
  };
}

function client(id: string, label: string, fn: (ctx: Ctx, env: NodeJS.ProcessEnv, work: string, clients: NonNullable<Fixtures['clients']>) => Promise<number>): Workload {
  return {
    id,
    label,
    unit: 's',
    better: 'lower',
    per: 'none',
    groups: ['fs'],
    async run(ctx) {
      const clients = ctx.fx.clients;
      if (!clients) return { value: 0, skipped: 'clients not installed' };
      const { env, work } = await clientEnv(ctx);
      return { value: await fn(ctx, env, work, clients) };
    },
  };
}

const LAYER_BYTES = 64 * MiB;

const clientWorkloads: Workload[] = [
  client('skopeo-copy', 'skopeo copy of a 64 MiB image (oci: layout → registry)', async (ctx, env, work, c) => {
    // a fresh layer every run: skopeo's blob-info cache would turn a known layer into a mount
    const layout = join(work, 'layout');
    await rm(layout, { recursive: true, force: true });
    await run('bash', [c.makeLayout, layout, 'v1', String(LAYER_BYTES)], { env });
    ctx.restart?.();
    const { seconds } = await run(c.skopeo, ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://127.0.0.1:${ctx.port}/clients/skopeo-${ctx.run}:v1`], { env });
    return seconds;
  }),
  client('oras-push', 'oras push of a 64 MiB file', async (ctx, env, work, c) => {
    await randomFile(work, 'artifact.bin', LAYER_BYTES);
    ctx.restart?.();
    const { seconds } = await run(c.oras, ['push', '--plain-http', `127.0.0.1:${ctx.port}/clients/oras-${ctx.run}:v1`, 'artifact.bin:application/octet-stream'], { env, cwd: work });
    return seconds;
  }),
  client('oras-pull', 'oras pull of a 64 MiB file', async (ctx, env, work, c) => {
    const out = join(work, 'pulled');
    await rm(out, { recursive: true, force: true });
    const { seconds } = await run(c.oras, ['pull', '--plain-http', '-o', out, `127.0.0.1:${ctx.port}/clients/oras-${ctx.run}:v1`], { env, cwd: work });
    return seconds;
  }),
  client('helm-push', 'helm push of a chart', async (ctx, env, _work, c) => {
    const { seconds } = await run(c.helm, ['push', c.chart, `oci://127.0.0.1:${ctx.port}/clients/helm-${ctx.run}`, '--plain-http'], { env });
    return seconds;
  }),
  client('helm-pull', 'helm pull of a chart', async (ctx, env, work, c) => {
    const out = join(work, 'chart');
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });
    const { seconds } = await run(c.helm, ['pull', `oci://127.0.0.1:${ctx.port}/clients/helm-${ctx.run}/demo`, '--version', '0.1.0', '--plain-http', '-d', out], { env });
    return seconds;
  }),
];

export const WORKLOADS: Workload[] = [
  manifestRate('mget-tag-c1', 'manifest GET by tag, c1', 'GET', 'tag', 1),
  manifestRate('mget-tag-c16', 'manifest GET by tag, c16', 'GET', 'tag', 16, ['fs', 'gridfs']),
  manifestRate('mget-tag-c64', 'manifest GET by tag, c64', 'GET', 'tag', 64),
  manifestRate('mhead-tag-c1', 'manifest HEAD by tag, c1', 'HEAD', 'tag', 1),
  manifestRate('mhead-tag-c16', 'manifest HEAD by tag, c16', 'HEAD', 'tag', 16, ['fs', 'gridfs']),
  manifestRate('mhead-tag-c64', 'manifest HEAD by tag, c64', 'HEAD', 'tag', 64),
  manifestRate('mget-digest-c1', 'manifest GET by digest, c1', 'GET', 'digest', 1),
  manifestRate('mget-digest-c16', 'manifest GET by digest, c16', 'GET', 'digest', 16, ['fs', 'gridfs']),
  manifestRate('mget-digest-c64', 'manifest GET by digest, c64', 'GET', 'digest', 64),
  smallPushes('push-4k-c1', '4 KiB blob pushes, c1', 1, ['fs']),
  smallPushes('push-4k-c16', '4 KiB blob pushes, c16', 16, ['fs', 'gridfs']),
  pushPut,
  pushPatch,
  pull,
  ranges,
  concurrentPushes,
  tagPushes,
  tagList,
  catalog,
  referrers,
  ...clientWorkloads,
];

/** The CI subset: the cheapest rows that still show a gross regression of each hot path. */
export const SMOKE = ['mget-tag-c16', 'mhead-tag-c16', 'mget-digest-c16', 'push-4k-c16', 'push-put', 'push-patch', 'pull', 'range', 'push-concurrent'];

export { GiB };
