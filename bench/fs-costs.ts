/**
 * Cost targets of the fs store (issue: hardening): requests whose cost must not grow with the data
 * already stored. Not a test: prints medians and writes JSON.
 *
 *     node --import tsx bench/fs-costs.ts [--out results/fs-costs.json]
 *
 * Targets: catalog of 10,000 repositories < 200 ms unpaged and < 20 ms for a page of 100; manifest
 * DELETE in a repository with 100,000 tags < 50 ms; a referrers page of 100 out of 5,000 < 20 ms.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import express from 'express';
import { allowAll, createRegistry, type Digest, fsStorage } from '../lib/index.js';

const sha = (data: string): Digest => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : undefined;

async function timed(runs: number, fn: () => Promise<void>): Promise<{ median: number; min: number; max: number }> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)] ?? 0, min: times[0] ?? 0, max: times[times.length - 1] ?? 0 };
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

const root = await mkdtemp(join(tmpdir(), 'berth-costs-'));
const storage = fsStorage({ root, fsync: false });
await storage.init?.();
const app = express();
app.use(createRegistry({ storage, authorize: allowAll }));
const server = app.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const address = server.address();
const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const get = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(origin + path, init);
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status}`);
};

const results: Record<string, { median: number; min: number; max: number; target: number }> = {};
const setup: Record<string, number> = {};

// 10,000 repositories
let t = Date.now();
const layer = sha('shared layer');
await storage.blobs.put(layer, Readable.from([Buffer.from('shared layer')]));
await inBatches(Array.from({ length: 10_000 }, (_, i) => `org${String(i % 100).padStart(3, '0')}/repo${String(i).padStart(5, '0')}`), 64, (name) => storage.links.add(name, layer));
setup.catalog = Date.now() - t;
results['catalog of 10,000, unpaged'] = { ...(await timed(7, () => get('/v2/_catalog'))), target: 200 };
results['catalog page of 100 (in the middle)'] = { ...(await timed(21, () => get(`/v2/_catalog?n=100&last=${encodeURIComponent('org050/repo05050')}`))), target: 20 };

// a repository with 100,000 tags, then DELETE of a manifest with one tag
t = Date.now();
const manifest = (n: number) => {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: layer, size: 12 }, layers: [], annotations: { n: String(n) } }));
  return { digest: sha(body.toString()), body };
};
await storage.links.add('big/tags', layer);
const many = manifest(0);
await storage.manifests.put('big/tags', { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: many.digest, size: many.body.length, body: many.body, references: [layer] });
// written straight into the layout (the fastest way to make 100,000 tags; the store reads them as its own)
const tagDir = join(root, 'repositories', 'big', 'tags', '_tags');
const taggedDir = join(root, 'repositories', 'big', 'tags', '_tagged', 'sha256', many.digest.slice(7));
await mkdir(tagDir, { recursive: true });
await mkdir(taggedDir, { recursive: true });
await inBatches(Array.from({ length: 100_000 }, (_, i) => `t${i}`), 256, async (tag) => {
  await writeFile(join(tagDir, tag), many.digest);
  await writeFile(join(taggedDir, tag), '');
});
setup.tags = Date.now() - t;
// each round pushes a fresh manifest with one tag (not timed), then times its DELETE by digest
const fresh: Digest[] = [];
for (let i = 1; i <= 9; i++) {
  const m = manifest(i);
  await get(`/v2/big/tags/manifests/v${i}`, { method: 'PUT', body: m.body, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  fresh.push(m.digest);
}
results['manifest DELETE among 100,000 tags'] = { ...(await timed(9, () => get(`/v2/big/tags/manifests/${fresh.shift() ?? ''}`, { method: 'DELETE' }))), target: 50 };

// 5,000 referrers of one subject
t = Date.now();
const subject = sha('the subject');
await storage.links.add('big/refs', layer);
await inBatches(Array.from({ length: 5_000 }, (_, i) => i), 64, async (i) => {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.example.sig', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: layer, size: 12 }, layers: [], subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 1 }, annotations: { i: String(i) } }));
  await storage.manifests.put('big/refs', { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(body.toString()), size: body.length, body, references: [layer], subject, artifactType: 'application/vnd.example.sig' });
});
setup.referrers = Date.now() - t;
results['referrers page of 100 out of 5,000'] = { ...(await timed(21, () => get(`/v2/big/refs/referrers/${subject}?n=100`))), target: 20 };
results['referrers, first page of 1,000'] = { ...(await timed(5, () => get(`/v2/big/refs/referrers/${subject}`))), target: Infinity };

server.close();
await rm(root, { recursive: true, force: true });

console.log(`setup (ms): ${JSON.stringify(setup)}`);
console.log('| request | median ms | min–max ms | target ms | met |\n|---|---|---|---|---|');
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${r.median.toFixed(1)} | ${r.min.toFixed(1)}–${r.max.toFixed(1)} | ${Number.isFinite(r.target) ? r.target : '—'} | ${r.median < r.target ? 'yes' : Number.isFinite(r.target) ? 'NO' : '—'} |`);
}
if (out) {
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, setup, results }, null, 2));
}
