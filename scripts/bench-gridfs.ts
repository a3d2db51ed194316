/**
 * Benchmark (not a test) of the GridFS store: push and pull throughput through the registry over HTTP, as a
 * ratio of the driver's own GridFSBucket upload and download of the same bytes on the same server in the same
 * run, plus the registry process's RSS growth. Needs MONGODB_URI (`eval "$(bash scripts/mongo-server.sh start)"`).
 *
 *   MONGODB_URI=… npx tsx scripts/bench-gridfs.ts              # 256 MiB, 3 rounds, store defaults
 *   BERTH_BENCH_MIB=1024 BERTH_BENCH_ROUNDS=1 npx tsx …        # the 1 GiB memory figure
 *   BERTH_BENCH_CHUNK_KIB=255 BERTH_BENCH_BATCH_KIB=2048 BERTH_BENCH_READ_BATCH_KIB=2048 BERTH_BENCH_IN_FLIGHT=2 …
 *                                                            # store settings to compare (these are the defaults)
 *
 * Each round runs, in this order: driver upload, registry push (POST ?digest=, one request), registry push
 * (POST + one streamed PATCH + PUT, as docker and skopeo do), driver download, registry pull. Both sides use
 * the same chunk size and the same deterministic bytes, generated as they are sent; both sides hash what
 * they read. The registry runs in a child process (this file with --serve) so its RSS can be sampled
 * from /proc every 20 ms. Prints one line per measurement and the median ratios.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express from 'express';
import { GridFSBucket, MongoClient } from 'mongodb';
import { allowAll, createRegistry, mongoStorage } from '../lib/index.js';

const MiB = 1024 * 1024;
const env = process.env;
const uri = env.MONGODB_URI;
const totalMiB = Number(env.BERTH_BENCH_MIB ?? 256);
const rounds = Number(env.BERTH_BENCH_ROUNDS ?? 3);
const port = Number(env.BERTH_BENCH_PORT ?? 5095);
const chunkSizeBytes = Number(env.BERTH_BENCH_CHUNK_KIB ?? 255) * 1024;
const batchBytes = Number(env.BERTH_BENCH_BATCH_KIB ?? 2048) * 1024;
const readBatchBytes = Number(env.BERTH_BENCH_READ_BATCH_KIB ?? 2048) * 1024;
const writesInFlight = Number(env.BERTH_BENCH_IN_FLIGHT ?? 2);
const dbName = env.BERTH_BENCH_DB ?? `berth_bench_${Date.now()}`;

if (process.argv.includes('--serve')) {
  // the registry under test, alone in its process
  const storage = mongoStorage({ uri: uri, dbName, chunkSizeBytes, batchBytes, readBatchBytes, writesInFlight });
  const app = express();
  app.use(createRegistry({ storage, authorize: allowAll }));
  const server = app.listen(port, '127.0.0.1', () => console.log('serving'));
  server.requestTimeout = 0;
  process.on('SIGTERM', () => server.close(() => void storage.close?.().then(() => process.exit(0))));
  // the bench asks for a full collection before it samples the baseline, so garbage left by the warm-up does not count
  process.on('SIGUSR2', () => global.gc?.());
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}

// deterministic content without holding it: 1 MiB of random bytes, each copy stamped with its index
const seed = randomBytes(MiB);
function piece(i: number): Buffer {
  const c = Buffer.from(seed);
  c.writeUInt32BE(i, 0);
  return c;
}
function source(mib: number): Readable {
  let i = 0;
  return new Readable({
    read() {
      this.push(i < mib ? piece(i++) : null);
    },
  });
}
const digest = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < totalMiB; i++) h.update(piece(i));
  return `sha256:${h.digest('hex')}`;
})();

/** A sink that hashes what it receives; `digest()` once finished. */
function hashingSink(): Writable & { digest(): string; bytes: number } {
  const h = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      sink.bytes += chunk.length;
      h.update(chunk);
      done();
    },
  }) as Writable & { digest(): string; bytes: number };
  sink.bytes = 0;
  sink.digest = () => `sha256:${h.digest('hex')}`;
  return sink;
}

function http(method: string, path: string, headers: Record<string, string>, body?: Readable, sink?: Writable): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const done = () => resolve({ status: res.statusCode ?? 0, ...(res.headers.location && { location: res.headers.location }) });
      if (sink) pipeline(res, sink).then(done, reject);
      else res.resume().on('end', done);
    });
    req.on('error', reject);
    if (body) pipeline(body, req).catch(reject);
    else req.end();
  });
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return totalMiB / (Number(process.hrtime.bigint() - start) / 1e9);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  if (!uri) throw new Error('MONGODB_URI is not set: start a server with `eval "$(bash scripts/mongo-server.sh start)"`');
  const client = new MongoClient(uri);
  const bucket = new GridFSBucket(client.db(`${dbName}_driver`), { bucketName: 'fs', chunkSizeBytes });
  const server = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'scripts/bench-gridfs.ts', '--serve'], { env: { ...env, BERTH_BENCH_DB: dbName }, stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = server.pid as number;
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout?.on('data', (d: Buffer) => d.toString().includes('serving') && resolve());
      server.once('exit', (code) => reject(new Error(`the registry exited early (${code})`)));
    });
    // warm up: connections, JIT, indexes, both push routes and a pull of 16 MiB
    const warm = (() => {
      const h = createHash('sha256');
      for (let i = 0; i < 16; i++) h.update(piece(i));
      return `sha256:${h.digest('hex')}`;
    })();
    for (let i = 0; i < 2; i++) {
      await http('POST', `/v2/bench/warm/blobs/uploads/?digest=${warm}`, { 'Content-Length': String(16 * MiB) }, source(16));
      const post = await http('POST', '/v2/bench/warm/blobs/uploads/', {});
      await http('PATCH', post.location ?? '', {}, source(16));
      await http('PUT', `${post.location ?? ''}?digest=${warm}`, { 'Content-Length': '0' });
      await http('GET', `/v2/bench/warm/blobs/${warm}`, {}, undefined, hashingSink());
    }
    server.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 1000));
    const baseline = await rss(pid);
    let peak = baseline;
    const sampler = setInterval(() => void rss(pid).then((v) => (peak = Math.max(peak, v)), () => undefined), 20);

    // the registry's RSS peak per kind of request, above the baseline
    const peaks = { pushMono: baseline, pushPatch: baseline, pull: baseline };
    const phase = async (name: keyof typeof peaks, fn: () => Promise<void>): Promise<number> => {
      peak = await rss(pid);
      const mibPerSecond = await timed(fn);
      peaks[name] = Math.max(peaks[name], peak, await rss(pid));
      return mibPerSecond;
    };
    const results = { driverUp: [] as number[], pushMono: [] as number[], pushPatch: [] as number[], driverDown: [] as number[], pull: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      let fileId: unknown;
      results.driverUp.push(
        await timed(async () => {
          const upload = bucket.openUploadStream(`bench-${round}`);
          fileId = upload.id;
          await pipeline(source(totalMiB), upload);
        }),
      );
      const repo = `bench/r${round}`;
      results.pushMono.push(
        await phase('pushMono', async () => {
          const res = await http('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { 'Content-Length': String(totalMiB * MiB), 'Content-Type': 'application/octet-stream' }, source(totalMiB));
          if (res.status !== 201) throw new Error(`POST ?digest= answered ${res.status}`);
        }),
      );
      // the same digest would be stored once: delete the blob so the streamed push writes it again
      await deleteBlob(client, repo);
      results.pushPatch.push(
        await phase('pushPatch', async () => {
          const post = await http('POST', `/v2/${repo}/blobs/uploads/`, {});
          const location = post.location ?? '';
          const patch = await http('PATCH', location, { 'Content-Type': 'application/octet-stream' }, source(totalMiB));
          if (patch.status !== 202) throw new Error(`PATCH answered ${patch.status}`);
          const put = await http('PUT', `${location}?digest=${digest}`, { 'Content-Length': '0' });
          if (put.status !== 201) throw new Error(`PUT answered ${put.status}`);
        }),
      );
      results.driverDown.push(
        await timed(async () => {
          const sink = hashingSink();
          await pipeline(bucket.openDownloadStream(fileId as never), sink);
          if (sink.digest() !== digest) throw new Error('the driver read other bytes');
        }),
      );
      results.pull.push(
        await phase('pull', async () => {
          const sink = hashingSink();
          const res = await http('GET', `/v2/${repo}/blobs/${digest}`, {}, undefined, sink);
          if (res.status !== 200 || sink.digest() !== digest) throw new Error(`GET answered ${res.status}, ${sink.bytes} bytes`);
        }),
      );
      await bucket.delete(fileId as never);
      await deleteBlob(client, repo);
      const line = Object.entries(results).map(([k, v]) => `${k} ${(v.at(-1) ?? 0).toFixed(0)}`).join(', ');
      console.log(`round ${round + 1}: ${line} MiB/s`);
    }
    clearInterval(sampler);

    const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<keyof typeof results, number>;
    console.log(`settings: ${totalMiB} MiB blobs, ${rounds} rounds, chunk ${chunkSizeBytes / 1024} KiB, write batch ${batchBytes / 1024} KiB, read batch ${readBatchBytes / 1024} KiB, ${writesInFlight} writes in flight`);
    console.log(`median MiB/s: driver upload ${m.driverUp.toFixed(0)}, push POST ${m.pushMono.toFixed(0)}, push PATCH ${m.pushPatch.toFixed(0)}, driver download ${m.driverDown.toFixed(0)}, pull ${m.pull.toFixed(0)}`);
    console.log(`ratios: push POST ${(m.pushMono / m.driverUp).toFixed(2)}, push PATCH ${(m.pushPatch / m.driverUp).toFixed(2)}, pull ${(m.pull / m.driverDown).toFixed(2)} (goal ≥ 0.9)`);
    const top = Math.max(...Object.values(peaks));
    const growth = (v: number) => `${((v - baseline) / MiB).toFixed(1)} MiB`;
    console.log(`registry RSS: baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(top / MiB).toFixed(1)} MiB, growth ${growth(top)} (push POST ${growth(peaks.pushMono)}, push PATCH ${growth(peaks.pushPatch)}, pull ${growth(peaks.pull)})`);
  } finally {
    server.kill('SIGTERM');
    await client.db(dbName).dropDatabase().catch(() => undefined);
    await client.db(`${dbName}_driver`).dropDatabase().catch(() => undefined);
    await client.close();
  }
}

/** Removes the bench blob (links and bytes), so the next push stores it anew. */
async function deleteBlob(client: MongoClient, repo: string): Promise<void> {
  const res = await http('DELETE', `/v2/${repo}/blobs/${digest}`, {});
  if (res.status !== 202) throw new Error(`DELETE answered ${res.status}`);
  // the registry only unlinks; the bench removes the bytes itself, as a garbage collector would
  const storage = mongoStorage({ client, dbName });
  await storage.blobs.delete(digest as `sha256:${string}`);
}
