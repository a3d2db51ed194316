/**
 * How the core uses the storage contract: composition, the commit fast path against a copy,
 * resumable hash state for shared stores, lifecycle and cancellation.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Storage, allowAll, createRegistry, fsStorage, memoryStorage } from '../../lib/index.js';
import { Client, bytesOf, digestOf, listen, startRegistry, withQuery } from './helpers.js';

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) out.push(...(await files(join(dir, entry.name))));
    else out.push(entry.name);
  }
  return out;
}

describe('contracts: stores compose by spread', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-compose-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('{ ...fsStorage(), blobs: other } keeps every blob in `other` (monolithic, chunked and single POST)', async () => {
    const other = memoryStorage().blobs;
    const storage: Storage = { ...fsStorage({ root, fsync: false }), blobs: other };
    const reg = await startRegistry({ storage });
    try {
      const monolithic = await reg.pushBlob('mix/repo', 'monolithic bytes');
      // chunked: two PATCHes, then an empty PUT
      const location = await reg.startUpload('mix/repo');
      const first = await reg.at('PATCH', location, { body: 'chunk one, ', headers: { 'Content-Range': '0-10' } });
      assert.equal(first.status, 202);
      const second = await reg.at('PATCH', location, { body: 'chunk two', headers: { 'Content-Range': '11-19' } });
      assert.equal(second.status, 202);
      const chunked = digestOf('chunk one, chunk two');
      assert.equal((await reg.at('PUT', withQuery(location, { digest: chunked }))).status, 201);
      const single = digestOf('single post');
      assert.equal((await reg.req('POST', withQuery('/v2/mix/repo/blobs/uploads/', { digest: single }), { body: 'single post' })).status, 201);

      for (const [digest, data] of [
        [monolithic, 'monolithic bytes'],
        [chunked, 'chunk one, chunk two'],
        [single, 'single post'],
      ] as const) {
        assert.ok(await other.stat(digest as never), `${data} is in the composed blob store`);
        const res = await reg.req('GET', `/v2/mix/repo/blobs/${digest}`);
        assert.equal((await bytesOf(res)).toString(), data);
      }
      assert.deepEqual(await files(join(root, 'blobs')), [], 'the fs store kept no blob');
      assert.deepEqual(await files(join(root, 'uploads')), [], 'uploads were removed after the copy');
    } finally {
      await reg.close();
    }
  });

  it('a copy that does not hash to the digest stores nothing', async () => {
    const other = memoryStorage().blobs;
    const reg = await startRegistry({ storage: { ...memoryStorage(), blobs: other } });
    try {
      const wrong = digestOf('something else');
      const res = await reg.req('POST', withQuery('/v2/mix/repo/blobs/uploads/', { digest: wrong }), { body: 'these bytes' });
      assert.equal(res.status, 400);
      assert.deepEqual(await other.list({}), []);
    } finally {
      await reg.close();
    }
  });
});

describe('contracts: a shared store continues uploads from the saved hash state', () => {
  /** A memory store that says it is shared and counts re-reads of uploads. */
  function sharedStore() {
    const base = memoryStorage();
    const reads = { count: 0 };
    const storage: Storage = {
      ...base,
      uploads: {
        ...base.uploads,
        shared: true,
        open: (id, options) => {
          reads.count++;
          return base.uploads.open(id, options);
        },
      },
    };
    return { storage, reads };
  }

  for (const algorithm of ['sha256', 'sha512'] as const) {
    it(`chunks on alternating instances close without re-reading the upload (${algorithm})`, async () => {
      const { storage, reads } = sharedStore();
      const a = await startRegistry({ storage });
      const b = await startRegistry({ storage });
      try {
        const post = await a.req('POST', `/v2/shared/repo/blobs/uploads/?digest-algorithm=${algorithm}`);
        const location = post.headers.get('location') ?? '';
        const parts = ['first part, ', 'second part, ', 'third part'];
        let offset = 0;
        for (const [i, part] of parts.entries()) {
          const instance = i % 2 === 0 ? a : b;
          const res = await instance.at('PATCH', location, { body: part, headers: { 'Content-Range': `${offset}-${offset + part.length - 1}` } });
          assert.equal(res.status, 202, await res.text());
          offset += part.length;
        }
        const digest = digestOf(parts.join(''), algorithm);
        const put = await b.at('PUT', withQuery(location, { digest }));
        assert.equal(put.status, 201, await put.text());
        assert.equal(reads.count, 0, 'closing needed no re-read');
        assert.equal((await bytesOf(await a.req('GET', `/v2/shared/repo/blobs/${digest}`))).toString(), parts.join(''));
      } finally {
        await a.close();
        await b.close();
      }
    });
  }

  it('a wrong digest is still refused when the state comes from the store', async () => {
    const { storage } = sharedStore();
    const a = await startRegistry({ storage });
    const b = await startRegistry({ storage });
    try {
      const location = await a.startUpload('shared/repo');
      assert.equal((await a.at('PATCH', location, { body: 'abc' })).status, 202);
      const put = await b.at('PUT', withQuery(location, { digest: digestOf('abd') }));
      assert.equal(put.status, 400);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('an unshared store re-reads an upload whose start another instance received, and still verifies it', async () => {
    const storage = memoryStorage();
    const a = await startRegistry({ storage });
    const b = await startRegistry({ storage });
    try {
      const location = await a.startUpload('plain/repo');
      assert.equal((await a.at('PATCH', location, { body: 'hello ' })).status, 202);
      assert.equal((await b.at('PATCH', location, { body: 'world' })).status, 202);
      assert.equal((await b.at('PUT', withQuery(location, { digest: digestOf('hello world') }))).status, 201);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('contracts: lifecycle', () => {
  it('init() runs once before the first request, is retried after a failure, and close() closes the store', async () => {
    const base = memoryStorage();
    let inits = 0;
    let closes = 0;
    let failNext = true;
    const storage: Storage = {
      ...base,
      async init() {
        inits++;
        if (failNext) {
          failNext = false;
          throw new Error('database not reachable yet');
        }
      },
      async close() {
        closes++;
      },
    };
    const registry = createRegistry({ storage, authorize: allowAll });
    const served = await listen((req, res) =>
      registry(req, res, (err?: unknown) => {
        res.statusCode = err ? 500 : 404;
        res.end();
      }),
    );
    try {
      const client = new Client(served.origin);
      assert.equal((await client.req('GET', '/v2/')).status, 500, 'a failed init is a store failure');
      assert.equal((await client.req('GET', '/v2/')).status, 200);
      assert.equal((await client.req('GET', '/v2/')).status, 200);
      await registry.init();
      assert.equal(inits, 2);
      await registry.close();
      assert.equal(closes, 1);
    } finally {
      await served.close();
    }
  });

  it('sweep() expires idle uploads on the host schedule', async () => {
    const reg = await startRegistry({ uploadTimeout: 50 });
    try {
      const location = await reg.startUpload('sweep/repo');
      await new Promise((r) => setTimeout(r, 80));
      assert.equal(await reg.registry.sweep(), 1);
      assert.equal((await reg.at('GET', location)).status, 404);
    } finally {
      await reg.close();
    }
  });
});

describe('contracts: cancellation', () => {
  it('a client that goes away mid-download aborts the signal handed to the store', async () => {
    const base = memoryStorage();
    let signal: AbortSignal | undefined;
    const storage: Storage = {
      ...base,
      blobs: {
        ...base.blobs,
        open: (digest, options) => {
          signal = options?.signal;
          return base.blobs.open(digest, options);
        },
      },
    };
    const reg = await startRegistry({ storage });
    try {
      const big = Buffer.alloc(32 * 1024 * 1024, 7);
      const digest = await reg.pushBlob('cancel/repo', big);
      const controller = new AbortController();
      const res = await reg.req('GET', `/v2/cancel/repo/blobs/${digest}`, { signal: controller.signal });
      const reader = res.body?.getReader();
      await reader?.read();
      controller.abort();
      await reader?.cancel().catch(() => undefined);
      for (let i = 0; i < 50 && signal?.aborted !== true; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(signal?.aborted, true);
    } finally {
      await reg.close();
    }
  });
});
