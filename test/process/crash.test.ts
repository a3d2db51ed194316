/**
 * kill -9 at several points of uploads and manifest pushes, on the fs store: after a restart no
 * partial blob is visible, every tag resolves, every manifest's references are there, every blob
 * reads back with its digest, and nothing is left staged.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, digestOf, withQuery } from '../api/helpers.js';

const PORT = 5391;
const ORIGIN = `http://127.0.0.1:${PORT}`;

async function startServer(dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'example-app/server.ts'], {
    env: { ...process.env, PORT: String(PORT), BERTH_STORE: 'fs', BERTH_DATA_DIR: dataDir, BERTH_AUTH: 'open' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  for (let i = 0; i < 200; i++) {
    if (output.includes('berth example app on')) {
      // the first request runs the store's init (lock take-over, staging cleanup)
      if ((await fetch(`${ORIGIN}/v2/`).catch(() => undefined))?.status === 200) return child;
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`the example app did not start:\n${output}`);
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

const sha = (data: Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Checks every invariant through the API and the staging directory. */
async function verify(client: Client, dataDir: string): Promise<string[]> {
  const problems: string[] = [];
  const { repositories } = (await (await client.req('GET', '/v2/_catalog')).json()) as { repositories: string[] };
  for (const repo of repositories) {
    const { tags } = (await (await client.req('GET', `/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    for (const tag of tags) {
      const res = await client.req('GET', `/v2/${repo}/manifests/${tag}`);
      if (res.status !== 200) {
        problems.push(`${repo}:${tag} is listed but answers ${res.status}`);
        continue;
      }
      const body = Buffer.from(await res.arrayBuffer());
      if (sha(body) !== res.headers.get('docker-content-digest')) problems.push(`${repo}:${tag} bytes do not match their digest`);
      const manifest = JSON.parse(body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
      for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
        const blob = await client.req('GET', `/v2/${repo}/blobs/${d}`);
        if (blob.status !== 200) problems.push(`${repo}:${tag} references ${d}, which answers ${blob.status}`);
        else if (sha(Buffer.from(await blob.arrayBuffer())) !== d) problems.push(`${repo} blob ${d} reads back with another digest`);
      }
    }
  }
  const staged = await readdir(join(dataDir, 'tmp')).catch(() => []);
  if (staged.length > 0) problems.push(`staging files left: ${staged.join(', ')}`);
  return problems;
}

describe('kill -9 (fs store)', { timeout: 240_000 }, () => {
  let dataDir: string;
  let server: ChildProcess | undefined;
  const client = new Client(ORIGIN);
  before(async () => {
    dataDir = join(await mkdtemp(join(tmpdir(), 'berth-crash-')), 'data');
  });
  after(async () => {
    if (server) await kill(server);
    await rm(join(dataDir, '..'), { recursive: true, force: true });
  });

  for (const [point, delayMs] of [
    ['early in a chunked upload', 40],
    ['in the middle of a chunked upload', 250],
    ['late in a chunked upload', 700],
  ] as const) {
    it(`during uploads and manifest pushes: ${point}`, async (t) => {
      t.after(async () => {
        if (server) await kill(server);
        server = undefined;
      });
      const big = Buffer.alloc(96 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i ^ 0x9e3779b9) >>> 0, i);
      server = await startServer(dataDir);
      const round = point.split(' ')[0] ?? 'x';
      // a steady storm of small images and tags, and one big chunked upload, both cut by the kill
      const storm = (async () => {
        for (let i = 0; ; i++) {
          const config = Buffer.from(JSON.stringify({ round, i }));
          const layer = Buffer.from(`layer ${round} ${i} `.repeat(100));
          const push = async (data: Buffer) => {
            const res = await client.req('POST', withQuery('/v2/crash/storm/blobs/uploads/', { digest: sha(data) }), { body: data });
            if (res.status !== 201) throw new Error(`blob ${res.status}`);
          };
          await push(config);
          await push(layer);
          const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: sha(config), size: config.length }, layers: [{ mediaType: OCI_LAYER, digest: sha(layer), size: layer.length }] };
          await client.putManifest('crash/storm', `${round}-${i % 5}`, manifest);
        }
      })().catch(() => undefined);
      const location = (await client.req('POST', '/v2/crash/big/blobs/uploads/')).headers.get('location') ?? '';
      const chunk = 4 * 1024 * 1024;
      const upload = (async () => {
        for (let offset = 0; offset < big.length; offset += chunk) {
          const part = big.subarray(offset, offset + chunk);
          const res = await client.at('PATCH', location, { body: part, headers: { 'Content-Range': `${offset}-${offset + part.length - 1}` } });
          if (res.status !== 202) throw new Error(`PATCH ${res.status}`);
        }
      })().catch(() => undefined);
      await new Promise((r) => setTimeout(r, delayMs));
      await kill(server);
      await Promise.all([storm, upload]);

      server = await startServer(dataDir);
      assert.deepEqual(await verify(client, dataDir), []);
      // the interrupted upload resumes from what the store kept, and completes with the right digest
      const status = await client.at('GET', location);
      if (status.status === 204) {
        const kept = Number((status.headers.get('range') ?? '0-0').split('-')[1]) + 1;
        const size = kept === 1 && status.headers.get('range') === '0-0' ? 0 : kept;
        t.diagnostic(`the store kept ${size} of ${big.length} bytes of the interrupted upload`);
        const rest = big.subarray(size);
        const put = await client.at('PUT', withQuery(location, { digest: digestOf(big) }), {
          body: rest,
          headers: rest.length > 0 ? { 'Content-Range': `${size}-${big.length - 1}` } : {},
        });
        assert.equal(put.status, 201, `resuming at ${size}: ${await put.text()}`);
        const back = Buffer.from(await (await client.req('GET', `/v2/crash/big/blobs/${digestOf(big)}`)).arrayBuffer());
        assert.equal(sha(back), digestOf(big));
      } else {
        assert.equal(status.status, 404);
        t.diagnostic('the interrupted upload was not known yet');
      }
      const { tags = [] } = (await (await client.req('GET', '/v2/crash/storm/tags/list')).json()) as { tags?: string[] };
      t.diagnostic(`storm tags after the restart: ${tags.length}`);
      assert.deepEqual(await verify(client, dataDir), []);
    });
  }
});
