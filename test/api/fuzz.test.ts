import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { allowAll, createRegistry, fsStorage, memoryStorage, type Storage } from '../../lib/index.js';

/**
 * Seeded random requests built from fragments of valid and hostile input. Whatever arrives, the
 * registry must answer below 500, with the OCI error envelope on every error, and keep serving.
 */

function prng(seed: number): () => number {
  // mulberry32: small, deterministic, good enough to pick fragments
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DIGEST = `sha256:${'a'.repeat(64)}`;
const NAMES = ['fz/repo', 'fz', 'a/b/c', 'UPPER', '..', 'a/../b', 'a%2Fb', '-x', 'a//b', 'x'.repeat(300), 'blobs', 'a/manifests/b', '', '%00', 'a%20b', '%C3%A9'];
const REFS = ['v1', 'latest', DIGEST, `sha512:${'b'.repeat(128)}`, 'sha256:short', 'md5:abc', '.bad', '-bad', 'x'.repeat(200), '%2e%2e', 'a:b:c', '', 'sha256:' + 'A'.repeat(64)];
const SUFFIXES = ['manifests/{ref}', 'blobs/{ref}', 'blobs/uploads/', 'blobs/uploads/{id}', 'tags/list', 'referrers/{ref}', 'tags', 'blobs', ''];
const QUERIES = ['', '?n=2', '?n=-1', '?n=abc', '?n=99999999999', '?last=zz', '?digest=' + DIGEST, '?digest=bad', '?digest=a&digest=b', '?mount=' + DIGEST + '&from=fz/repo', '?mount=bad&from=..', '?artifactType=x', '?tag=ok&tag=.bad', '?digest-algorithm=md5', '?%%%'];
const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS'];
const HEADERS: Record<string, string>[] = [
  {},
  { 'Content-Range': '0-3' },
  { 'Content-Range': '5-1' },
  { 'Content-Range': 'bytes=zz' },
  { Range: 'bytes=0-1' },
  { Range: 'bytes=99999-' },
  { Range: 'garbage' },
  { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' },
  { 'Content-Type': 'application/json; charset=utf-8' },
  { 'If-None-Match': `"${DIGEST}"` },
];
const BODIES = ['', 'abcd', '{}', '{"schemaVersion":2}', '{"schemaVersion":2,"config":{"digest":"' + DIGEST + '","size":1},"layers":[null]}', '[1,2', '\u0000\u00ff', 'x'.repeat(5000)];

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)] as T;
}

function send(port: number, method: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; type: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(body, 'latin1');
    const withBody = payload.length > 0 && method !== 'GET' && method !== 'HEAD';
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(withBody && { 'Content-Length': String(payload.length) }), Connection: 'close' } }, (res) => {
      let text = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], text }));
    });
    req.on('error', reject);
    req.end(withBody ? payload : undefined);
  });
}

for (const kind of ['memory', 'fs'] as const) {
  describe(`random hostile requests, ${kind} store`, () => {
    let server: http.Server;
    let port = 0;
    let root = '';
    const failures: string[] = [];

    before(async () => {
      let storage: Storage = memoryStorage();
      if (kind === 'fs') storage = fsStorage({ root: (root = await mkdtemp(join(tmpdir(), 'berth-fuzz-'))) });
      const app = express();
      app.use(createRegistry({ storage, authorize: allowAll, logger: { warn() {}, error() {} } }));
      // anything reaching the host's error handler is a registry failure here
      app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        failures.push(String(err instanceof Error ? err.stack : err));
        res.status(500).end();
      });
      server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      port = (server.address() as { port: number }).port;
    });
    after(async () => {
      await new Promise((r) => server.close(r));
      if (root) await rm(root, { recursive: true, force: true });
    });

    it('answers 600 random requests below 500, with JSON error envelopes', async () => {
      const random = prng(kind === 'fs' ? 7 : 42);
      for (let i = 0; i < 600; i++) {
        const method = pick(random, METHODS);
        const suffix = pick(random, SUFFIXES).replace('{ref}', pick(random, REFS)).replace('{id}', pick(random, ['00000000-0000-4000-8000-000000000000', '..%2F..', 'x']));
        const path = `/v2/${pick(random, NAMES)}/${suffix}${pick(random, QUERIES)}`;
        const headers = pick(random, HEADERS);
        const res = await send(port, method, path, headers, pick(random, BODIES));
        const where = `${method} ${path} ${JSON.stringify(headers)} → ${res.status} ${res.text.slice(0, 200)}`;
        assert.ok(res.status < 500, where);
        if (res.status >= 400 && method !== 'HEAD') {
          assert.equal(res.type, 'application/json', where);
          const body = JSON.parse(res.text) as { errors?: { code?: unknown }[] };
          assert.ok(Array.isArray(body.errors) && typeof body.errors[0]?.code === 'string', where);
        }
      }
      assert.deepEqual(failures, []);
      const ping = await send(port, 'GET', '/v2/', {}, '');
      assert.equal(ping.status, 200);
    });
  });
}
