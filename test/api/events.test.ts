import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Logger, RegistryEvent } from '../../lib/index.js';
import { type TestRegistry, digestOf, startRegistry, withQuery } from './helpers.js';

describe('events', () => {
  let reg: TestRegistry;
  const seen: RegistryEvent[] = [];
  const errors: unknown[] = [];
  const logger: Logger = { warn: () => undefined, error: (obj) => errors.push(obj) };
  before(async () => {
    reg = await startRegistry({
      logger,
      authorize: (req, accesses) => ({
        ...(req.headers['x-user'] === 'ann' && { identity: { name: 'ann' } }),
        allowed: accesses.map((a) => a.action !== 'delete' || req.headers['x-user'] === 'ann'),
      }),
    });
    reg.registry.events.on('*', (e) => {
      seen.push(e);
    });
  });
  after(() => reg.close());
  beforeEach(() => {
    seen.length = 0;
    errors.length = 0;
  });
  const settle = () => new Promise((r) => setTimeout(r, 20));
  const types = () => seen.map((e) => e.type);

  it('a push by tag: upload started, blobs pushed, manifest and tag pushed, each with an id and a time', async () => {
    const image = await reg.pushImage('ev/repo', { tag: 'v1' });
    await settle();
    assert.deepEqual(types(), ['upload.started', 'blob.pushed', 'upload.started', 'blob.pushed', 'manifest.pushed', 'tag.pushed']);
    const pushed = seen.find((e) => e.type === 'manifest.pushed');
    assert.ok(pushed?.type === 'manifest.pushed');
    assert.equal(pushed.repository, 'ev/repo');
    assert.equal(pushed.digest, image.digest);
    assert.equal(pushed.mediaType, image.mediaType);
    assert.equal(pushed.size, image.body.length);
    assert.deepEqual(pushed.tags, ['v1']);
    assert.equal(pushed.created, true);
    assert.match(pushed.id, /^[0-9a-f-]{36}$/);
    assert.ok(pushed.time instanceof Date);
    assert.equal(new Set(seen.map((e) => e.id)).size, seen.length, 'ids are unique');
    const tag = seen.find((e) => e.type === 'tag.pushed');
    assert.deepEqual(tag && { tag: tag.tag, digest: tag.digest, previous: tag.previous }, { tag: 'v1', digest: image.digest, previous: undefined });
  });

  it('a retag says what the tag pointed at; a re-push is not created; pulls say how they were asked', async () => {
    const a = await reg.pushImage('ev/move', { tag: 'latest' });
    const b = await reg.pushImage('ev/move', { tag: 'other' });
    seen.length = 0;
    await reg.pushManifest('ev/move', 'latest', b.body);
    await (await reg.req('GET', '/v2/ev/move/manifests/latest')).arrayBuffer();
    await (await reg.req('HEAD', '/v2/ev/move/manifests/latest')).arrayBuffer();
    await (await reg.req('GET', `/v2/ev/move/blobs/${b.config.digest}`)).arrayBuffer();
    await settle();
    assert.deepEqual(types(), ['manifest.pushed', 'tag.pushed', 'manifest.pulled', 'blob.pulled']);
    const [pushed, tag, pulled] = seen;
    assert.equal(pushed?.type === 'manifest.pushed' && pushed.created, false);
    assert.equal(tag?.type === 'tag.pushed' && tag.previous, a.digest);
    assert.equal(pulled?.type === 'manifest.pulled' && pulled.tag, 'latest');
  });

  it('mounts, deletes, and the identity of the caller', async () => {
    const image = await reg.pushImage('ev/src', { tag: 'v1' });
    seen.length = 0;
    const as = { headers: { 'X-User': 'ann' } };
    assert.equal((await reg.req('POST', withQuery('/v2/ev/dst/blobs/uploads/', { mount: image.config.digest, from: 'ev/src' }), as)).status, 201);
    assert.equal((await reg.req('DELETE', '/v2/ev/src/manifests/v1', as)).status, 202);
    await reg.pushManifest('ev/src', 'v2', image.body);
    assert.equal((await reg.req('DELETE', `/v2/ev/src/manifests/${image.digest}`, as)).status, 202);
    assert.equal((await reg.req('DELETE', `/v2/ev/src/blobs/${image.config.digest}`, as)).status, 202);
    await settle();
    assert.deepEqual(types(), ['blob.pushed', 'tag.deleted', 'manifest.pushed', 'tag.pushed', 'manifest.deleted', 'blob.deleted']);
    const [mount, , , , deleted] = seen;
    assert.equal(mount?.type === 'blob.pushed' && mount.mountedFrom, 'ev/src');
    assert.deepEqual(mount?.identity, { name: 'ann' });
    assert.deepEqual(deleted?.type === 'manifest.deleted' && deleted.tags, ['v2']);
    assert.equal(seen[2]?.identity, undefined, 'anonymous');
  });

  it('refused and failed requests emit nothing', async () => {
    await (await reg.req('DELETE', '/v2/ev/repo/manifests/v1')).arrayBuffer();
    await (await reg.req('GET', '/v2/ev/repo/manifests/nope')).arrayBuffer();
    await (await reg.req('POST', withQuery('/v2/ev/repo/blobs/uploads/', { digest: digestOf('x') }), { body: 'y' })).arrayBuffer();
    await settle();
    assert.deepEqual(types().filter((t) => t !== 'upload.started'), []);
  });

  it('a failing or slow listener neither fails nor slows the request, and failures are logged', async () => {
    const off1 = reg.registry.events.on('manifest.pulled', () => {
      throw new Error('listener bug');
    });
    const off2 = reg.registry.events.on('manifest.pulled', () => new Promise((r) => setTimeout(r, 2000)));
    try {
      const started = Date.now();
      const res = await reg.req('GET', '/v2/ev/move/manifests/latest');
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      assert.ok(Date.now() - started < 1000);
      await settle();
      assert.equal(errors.length, 1);
    } finally {
      off1();
      off2();
    }
  });
});

describe('request reports and access lines', () => {
  it('one request.completed and one access line per request, with a request id', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = { warn: () => undefined, error: () => undefined, info: (obj: unknown) => void lines.push(obj as Record<string, unknown>) };
    const reg = await startRegistry({ logger });
    const completed: { route: string; status: number; requestId: string; bytesIn: number; bytesOut: number; repository?: string; code?: string }[] = [];
    const all: string[] = [];
    reg.registry.events.on('request.completed', (e) => void completed.push(e));
    const pulled: (string | undefined)[] = [];
    reg.registry.events.on('*', (e) => void all.push(e.type));
    reg.registry.events.on('manifest.pulled', (e) => void pulled.push(e.requestId));
    try {
      const image = await reg.pushImage('log/repo', { tag: 'v1' });
      lines.length = 0;
      completed.length = 0;
      const res = await reg.req('GET', '/v2/log/repo/manifests/v1', { headers: { 'X-Request-Id': 'trace-123' } });
      await res.arrayBuffer();
      assert.equal(res.headers.get('x-request-id'), 'trace-123');
      const missing = await reg.req('GET', '/v2/log/repo/manifests/nope');
      await missing.arrayBuffer();
      assert.match(missing.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(completed.length, 2);
      assert.deepEqual(
        { route: completed[0]?.route, status: completed[0]?.status, requestId: completed[0]?.requestId, repository: completed[0]?.repository },
        { route: 'manifest', status: 200, requestId: 'trace-123', repository: 'log/repo' },
      );
      assert.ok((completed[0]?.bytesOut ?? 0) > image.body.length);
      assert.equal(completed[1]?.status, 404);
      assert.equal(completed[1]?.code, 'MANIFEST_UNKNOWN');
      assert.equal(lines.length, 2);
      assert.equal(lines[0]?.requestId, 'trace-123');
      assert.equal(lines[0]?.url, '/v2/log/repo/manifests/v1');
      assert.ok(!all.includes('request.completed'), "'*' listeners get repository events only");
      assert.deepEqual(pulled, ['trace-123'], 'repository events carry the request id');
      // a body counts in full, also the part that arrived with the headers
      completed.length = 0;
      const body = Buffer.alloc(5000, 1);
      await reg.req('POST', `/v2/log/repo/blobs/uploads/?digest=${digestOf(body)}`, { body });
      await new Promise((r) => setTimeout(r, 30));
      assert.ok((completed[0]?.bytesIn ?? 0) >= 5000, `bytesIn ${completed[0]?.bytesIn}`);
    } finally {
      await reg.close();
    }
  });
});
