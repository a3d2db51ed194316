/**
 * Pushes (and pulls) a large blob through the example app on the filesystem store and checks
 * that the server's resident memory stays flat: a blob is never buffered whole.
 *
 *   npm run memory-check                     # 1 GiB, limit 64 MiB of RSS growth
 *   BERTH_MEMCHECK_MIB=256 npm run memory-check
 *
 * The server runs in its own process; its RSS is sampled from /proc every 20 ms.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MiB = 1024 * 1024;
const totalMiB = Number(process.env.BERTH_MEMCHECK_MIB ?? 1024);
const limitMiB = Number(process.env.BERTH_MEMCHECK_LIMIT_MIB ?? 64);
const port = Number(process.env.BERTH_MEMCHECK_PORT ?? 5090);
const base = `http://127.0.0.1:${port}`;

// Deterministic content without holding it: 1 MiB of random bytes, each copy stamped with its index.
const seed = randomBytes(MiB);
function chunk(i: number): Buffer {
  const c = Buffer.from(seed);
  c.writeUInt32BE(i, 0);
  return c;
}
function digestOf(mib: number): string {
  const h = createHash('sha256');
  for (let i = 0; i < mib; i++) h.update(chunk(i));
  return `sha256:${h.digest('hex')}`;
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

function send(method: string, path: string, headers: Record<string, string>, mib: { from: number; to: number } | undefined): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    if (!mib) return void req.end();
    let i = mib.from;
    const pump = () => {
      while (i < mib.to) {
        if (!req.write(chunk(i++))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

function pull(path: string): Promise<{ status: number; bytes: number; digest: string }> {
  return new Promise((resolve, reject) => {
    request(`${base}${path}`, (res) => {
      const h = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        h.update(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, digest: `sha256:${h.digest('hex')}` }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-memcheck-'));
  const server = spawn(process.execPath, ['--import', 'tsx', 'example-app/server.ts'], {
    env: { ...process.env, PORT: String(port), BERTH_STORE: 'fs', BERTH_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = server.pid as number;
  let peak = 0;
  let failed: boolean;
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout?.on('data', (d: Buffer) => d.toString().includes('berth example app') && resolve());
      server.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
    });
    // warm up: JIT, first requests, a small push, so the baseline is the steady state
    const warm = digestOf(4);
    for (let i = 0; i < 3; i++) {
      const post = await send('POST', `/v2/memcheck/warm/blobs/uploads/?digest=${warm}`, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(4 * MiB) }, { from: 0, to: 4 });
      if (post.status !== 201) throw new Error(`warm-up push answered ${post.status}`);
      await pull(`/v2/memcheck/warm/blobs/${warm}`);
    }
    if (global.gc) global.gc();
    await new Promise((r) => setTimeout(r, 500));
    const baseline = await rss(pid);
    peak = baseline;
    const sampler = setInterval(() => {
      rss(pid).then((v) => (peak = Math.max(peak, v)), () => undefined);
    }, 20);

    const digest = digestOf(totalMiB);
    const results: string[] = [];
    const time = async (label: string, fn: () => Promise<void>) => {
      const start = process.hrtime.bigint();
      await fn();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      results.push(`${label}: ${(totalMiB / seconds).toFixed(0)} MiB/s (${seconds.toFixed(2)} s)`);
    };

    // 1. POST, then one PUT carrying the whole blob (chunked transfer encoding)
    await time('monolithic PUT', async () => {
      const post = await send('POST', '/v2/memcheck/mono/blobs/uploads/', {}, undefined);
      const put = await send('PUT', `${post.headers.location as string}?digest=${digest}`, { 'Content-Type': 'application/octet-stream' }, { from: 0, to: totalMiB });
      if (put.status !== 201) throw new Error(`monolithic PUT answered ${put.status}`);
    });
    // 2. POST, 64 MiB PATCHes with Content-Range, empty closing PUT
    await time('chunked PATCH (64 MiB)', async () => {
      const post = await send('POST', '/v2/memcheck/chunked/blobs/uploads/', {}, undefined);
      const location = post.headers.location as string;
      for (let from = 0; from < totalMiB; from += 64) {
        const to = Math.min(from + 64, totalMiB);
        const patch = await send('PATCH', location, { 'Content-Type': 'application/octet-stream', 'Content-Range': `${from * MiB}-${to * MiB - 1}`, 'Content-Length': String((to - from) * MiB) }, { from, to });
        if (patch.status !== 202) throw new Error(`PATCH answered ${patch.status}`);
      }
      const put = await send('PUT', `${location}?digest=${digest}`, { 'Content-Length': '0' }, undefined);
      if (put.status !== 201) throw new Error(`closing PUT answered ${put.status}`);
    });
    // 3. pull it back and check every byte through the digest
    await time('GET', async () => {
      const got = await pull(`/v2/memcheck/chunked/blobs/${digest}`);
      if (got.status !== 200 || got.bytes !== totalMiB * MiB || got.digest !== digest) throw new Error(`GET returned ${got.status}, ${got.bytes} bytes, ${got.digest}`);
    });
    clearInterval(sampler);
    peak = Math.max(peak, await rss(pid));

    const growth = (peak - baseline) / MiB;
    for (const line of results) console.log(line);
    console.log(`server RSS: baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, growth ${growth.toFixed(1)} MiB over ${totalMiB} MiB blobs (limit ${limitMiB} MiB)`);
    failed = growth >= limitMiB;
    console.log(failed ? '0 passed, 1 failed' : '1 passed, 0 failed');
  } finally {
    server.kill('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
