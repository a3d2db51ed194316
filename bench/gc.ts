/**
 * Garbage collection at scale (issue: online GC): a run over 100,000 blobs and 10,000 manifests on
 * the fs store, its duration and peak memory, and manifest GET latency while it runs against before.
 * Not a test: prints a table and writes JSON.
 *
 *     node --import tsx bench/gc.ts [--out results/gc.json] [--blobs 100000] [--manifests 10000]
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import express from 'express';
import { allowAll, createCollector, createRegistry, type Digest, fsStorage } from '../lib/index.js';

const arg = (name: string, fallback: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : undefined;
const BLOBS = arg('--blobs', 100_000);
const MANIFESTS = arg('--manifests', 10_000);
const PER_REPO = 10;
const LAYERS = 5;
const sha = (data: Buffer): Digest => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

const root = await mkdtemp(join(tmpdir(), 'berth-gc-bench-'));
const storage = fsStorage({ root, fsync: false });
await storage.init?.();
const registry = createRegistry({ storage, authorize: allowAll, logger: { warn: () => undefined, error: (o) => console.error(o) } });
const app = express();
app.use(registry);
const server = app.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const port = (server.address() as { port: number }).port;

// ---- the data: MANIFESTS manifests in MANIFESTS/PER_REPO repositories, each with a config and LAYERS layers of
// its own; the rest of BLOBS are garbage: half linked but referenced by nothing, half linked nowhere
const setupStarted = Date.now();
const blob = (i: number) => Buffer.from(`blob ${i} `.padEnd(64, '.'));
const used = MANIFESTS * (1 + LAYERS);
await inBatches(
  Array.from({ length: BLOBS }, (_, i) => i),
  256,
  (i) => storage.blobs.put(sha(blob(i)), Readable.from([blob(i)])),
);
const repos = MANIFESTS / PER_REPO;
await inBatches(
  Array.from({ length: MANIFESTS }, (_, m) => m),
  64,
  async (m) => {
    const repository = `bench/r${String(Math.floor(m / PER_REPO)).padStart(5, '0')}`;
    const refs = Array.from({ length: 1 + LAYERS }, (_, k) => sha(blob(m * (1 + LAYERS) + k)));
    for (const d of refs) await storage.links.add(repository, d);
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: refs[0], size: 64 },
        layers: refs.slice(1).map((d) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d, size: 64 })),
      }),
    );
    const digest = sha(body);
    await storage.manifests.put(repository, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: body.length, body, references: refs });
    await storage.tags.put(repository, `v${m % PER_REPO}`, digest);
  },
);
// linked garbage: the first half of the unused blobs, spread over the repositories
await inBatches(
  Array.from({ length: Math.floor((BLOBS - used) / 2) }, (_, i) => used + i),
  256,
  (i) => storage.links.add(`bench/r${String(i % repos).padStart(5, '0')}`, sha(blob(i))),
);
const setupMs = Date.now() - setupStarted;

// ---- manifest GET latency: a steady client, before and during the run
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function get(path: string): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
      })
      .on('error', reject);
  });
}
async function load(untilDone: () => boolean, minimum = 0): Promise<number[]> {
  const times: number[] = [];
  const worker = async (w: number) => {
    for (let i = 0; !untilDone() || times.length < minimum; i++) times.push(await get(`/v2/bench/r${String((i * 7 + w) % repos).padStart(5, '0')}/manifests/v${i % PER_REPO}`));
  };
  await Promise.all([0, 1, 2, 3].map(worker));
  return times.sort((a, b) => a - b);
}
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
const baselineEnd = Date.now() + 5000;
const before = await load(() => Date.now() > baselineEnd);

let done = false;
const collector = createCollector({ registry, grace: 0 });
const rssBefore = process.memoryUsage().rss;
let rssPeak = rssBefore;
const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
// --quiet: the run alone, without the load (its own cost)
const quiet = process.argv.includes('--quiet');
const during = quiet ? Promise.resolve([] as number[]) : load(() => done);
const result = await collector.run();
done = true;
clearInterval(sampler);
const duringTimes = await during;

server.close();
agent.destroy();
await rm(root, { recursive: true, force: true });

const report = {
  date: new Date().toISOString(),
  node: process.version,
  data: { blobs: BLOBS, manifests: MANIFESTS, repositories: repos, referencedBlobs: used },
  setupMs,
  gc: { ...result, removed: result.removed.length },
  rssMiB: { before: Math.round(rssBefore / 2 ** 20), peak: Math.round(rssPeak / 2 ** 20) },
  manifestGetMs: {
    before: { n: before.length, p50: pct(before, 50), p99: pct(before, 99) },
    duringGc: { n: duringTimes.length, p50: pct(duringTimes, 50), p99: pct(duringTimes, 99) },
  },
};
console.log(`data: ${BLOBS} blobs (${used} referenced), ${MANIFESTS} manifests in ${repos} repositories; setup ${(setupMs / 1000).toFixed(1)} s`);
console.log(`gc: ${(result.durationMs / 1000).toFixed(1)} s; ${result.linksRemoved} links removed, ${result.blobsDeleted} blobs and ${result.bytesReclaimed} bytes reclaimed, ${result.errors} errors`);
console.log(`rss: ${report.rssMiB.before} MiB before, ${report.rssMiB.peak} MiB peak during the run`);
console.log(`manifest GET (c4): p50 ${report.manifestGetMs.before.p50.toFixed(2)} ms, p99 ${report.manifestGetMs.before.p99.toFixed(2)} ms before; p50 ${report.manifestGetMs.duringGc.p50.toFixed(2)} ms, p99 ${report.manifestGetMs.duringGc.p99.toFixed(2)} ms during the run`);
if (out) {
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(report, null, 2));
}
