/**
 * Faults: failing stores, full disks, stalled and hostile clients. Every answer is the OCI envelope,
 * nothing is left half-written, and the registry keeps serving.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Logger, type Storage, fsStorage, memoryStorage, pullOnly } from '../../lib/index.js';
import { OCI_MANIFEST, assertError, bytesOf, digestOf, startRegistry, withQuery } from './helpers.js';

/** A logger that remembers what it was told. */
function spyLogger(): Logger & { errors: { obj: unknown; msg: string | undefined }[]; warnings: unknown[] } {
  const errors: { obj: unknown; msg: string | undefined }[] = [];
  const warnings: unknown[] = [];
  return { errors, warnings, error: (obj, msg) => errors.push({ obj, msg }), warn: (obj) => warnings.push(obj) };
}

/** A memory store whose `blobs.stat` fails with `err`. */
function failingStore(err: Error): Storage {
  const base = memoryStorage();
  return { ...base, blobs: { ...base.blobs, stat: () => Promise.reject(err) } };
}

describe('faults: store failures answer the OCI envelope, logged once, without details', () => {
  const cases: [string, Error, number, string][] = [
    ['a full disk', Object.assign(new Error('ENOSPC: no space left on device, write /srv/secret/data/blobs/x'), { code: 'ENOSPC' }), 507, 'UNAVAILABLE'],
    ['too many open files', Object.assign(new Error('EMFILE: too many open files, open /srv/secret/data/x'), { code: 'EMFILE' }), 503, 'UNAVAILABLE'],
    ['a name too long', Object.assign(new Error('ENAMETOOLONG: name too long, open /srv/secret/data/x'), { code: 'ENAMETOOLONG' }), 500, 'UNKNOWN'],
    ['a damaged record', Object.assign(new Error('fsStorage: the manifest record /srv/secret/data/m is damaged'), { name: 'CorruptRecord' }), 500, 'UNKNOWN'],
    ['an unreachable database', Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:27017'), { name: 'MongoServerSelectionError' }), 503, 'UNAVAILABLE'],
  ];
  for (const [what, err, status, code] of cases) {
    it(`${what} → ${status} ${code}`, async () => {
      const logger = spyLogger();
      const seed = memoryStorage();
      const reg = await startRegistry({ storage: { ...failingStore(err), links: seed.links, repositories: seed.repositories }, logger });
      try {
        await seed.links.add('fault/repo', digestOf('x') as never);
        const res = await reg.req('GET', `/v2/fault/repo/blobs/${digestOf('x')}`);
        assert.equal(res.headers.get('content-type'), 'application/json');
        const text = await res.clone().text();
        assert.doesNotMatch(text, /secret|\/srv|at .*\.ts|<html/i, 'no paths, stacks or HTML reach the client');
        await assertError(res, status, code);
        assert.equal(logger.errors.length, 1, 'logged once');
        const logged = logger.errors[0]?.obj as { err: unknown; method: string; url: string; repository: string };
        assert.equal(logged.err, err);
        assert.equal(logged.method, 'GET');
        assert.equal(logged.repository, 'fault/repo');
        assert.match(logged.url, /\/v2\/fault\/repo\/blobs\//);
      } finally {
        await reg.close();
      }
    });
  }

  it('a bug in the authorize hook is a 500 envelope too, not the host error page', async () => {
    const logger = spyLogger();
    const reg = await startRegistry({
      logger,
      authorize: () => {
        throw new TypeError('cannot read properties of undefined');
      },
    });
    try {
      await assertError(await reg.req('GET', '/v2/'), 500, 'UNKNOWN');
      assert.equal(logger.errors.length, 1);
    } finally {
      await reg.close();
    }
  });
});

describe('faults: clients that go away or stall', () => {
  it('a client hanging up mid-upload is not logged as an error, and the upload keeps its size', async () => {
    const logger = spyLogger();
    const reg = await startRegistry({ logger });
    try {
      const location = await reg.startUpload('gone/repo');
      await new Promise<void>((resolve) => {
        const url = new URL(location, reg.origin);
        const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PATCH', headers: { 'Content-Length': 10_000_000 } });
        req.on('error', () => resolve());
        req.write(Buffer.alloc(1_000_000, 1), () => {
          setTimeout(() => {
            req.destroy();
            setTimeout(resolve, 100);
          }, 50);
        });
      });
      const status = await reg.at('GET', location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-0');
      assert.deepEqual(logger.errors, []);
    } finally {
      await reg.close();
    }
  });

  it('a stalled body is cut after bodyTimeout, freeing the connection, and the upload keeps its size', async () => {
    const reg = await startRegistry({ bodyTimeout: 300 });
    try {
      const location = await reg.startUpload('stall/repo');
      const url = new URL(location, reg.origin);
      const socket = connect(Number(url.port), url.hostname);
      const started = Date.now();
      const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
      socket.on('error', () => undefined);
      socket.write(`PATCH ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 1000\r\n\r\n0123456789`);
      const elapsed = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5000))]);
      socket.destroy();
      assert.ok(elapsed > 250 && elapsed < 3000, `closed after ${elapsed} ms`);
      const status = await reg.at('GET', location);
      assert.equal(status.headers.get('range'), '0-0');
    } finally {
      await reg.close();
    }
  });

  it('an early refusal (413) reaches a client that is still sending, every time', async () => {
    const reg = await startRegistry();
    try {
      const url = new URL(reg.origin);
      const big = Buffer.alloc(5 * 1024 * 1024, 0x20);
      const outcomes: string[] = [];
      for (let i = 0; i < 20; i++) {
        outcomes.push(
          await new Promise<string>((resolve) => {
            const req = http.request(
              { host: url.hostname, port: url.port, path: '/v2/early/repo/manifests/big', method: 'PUT', agent: false, headers: { 'Content-Type': OCI_MANIFEST, 'Content-Length': big.length } },
              (res) => {
                res.resume();
                res.on('end', () => resolve(String(res.statusCode)));
              },
            );
            req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
            req.end(big);
          }),
        );
      }
      assert.deepEqual(new Set(outcomes), new Set(['413']), outcomes.join(' '));
    } finally {
      await reg.close();
    }
  });

  it('an early 401 before a blob body reaches the client too', async () => {
    const reg = await startRegistry({ authorize: pullOnly });
    try {
      const location = await (async () => {
        const open = await startRegistry({ storage: reg.registry.storage });
        try {
          return await open.startUpload('early/auth');
        } finally {
          await open.close();
        }
      })();
      const url = new URL(location, reg.origin);
      const status = await new Promise<string>((resolve) => {
        const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PATCH', agent: false, headers: { 'Content-Length': 8 * 1024 * 1024 } }, (res) => {
          res.resume();
          res.on('end', () => resolve(`${res.statusCode} ${res.headers['www-authenticate'] ?? ''}`));
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        req.end(Buffer.alloc(8 * 1024 * 1024));
      });
      assert.equal(status, '401 Basic realm="berth"');
    } finally {
      await reg.close();
    }
  });
});

describe('faults: safe response headers', () => {
  it('nosniff everywhere; private caching for blobs and manifests', async () => {
    const reg = await startRegistry();
    try {
      const image = await reg.pushImage('hdr/repo', { tag: 'v1' });
      const blob = await reg.req('GET', `/v2/hdr/repo/blobs/${image.config.digest}`);
      await blob.arrayBuffer();
      assert.equal(blob.headers.get('cache-control'), 'private, max-age=31536000, immutable');
      assert.equal((await reg.req('HEAD', `/v2/hdr/repo/manifests/${image.digest}`)).headers.get('cache-control'), 'private, max-age=31536000, immutable');
      assert.equal((await reg.req('HEAD', '/v2/hdr/repo/manifests/v1')).headers.get('cache-control'), 'private, no-cache');
      for (const path of ['/v2/', '/v2/hdr/repo/tags/list', '/v2/nope/manifests/x', `/v2/hdr/repo/blobs/${image.config.digest}`]) {
        const res = await reg.req('GET', path);
        await res.arrayBuffer();
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      }
    } finally {
      await reg.close();
    }
  });
});

describe('faults: the fs store', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-faults-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('refuses a second process on the same root, and takes over a lock a dead process left', async () => {
    const dir = join(root, 'locked');
    const store = fsStorage({ root: dir });
    await store.init?.();
    const script = `import('${join(process.cwd(), 'lib/index.ts').replaceAll('\\', '/')}').then(async ({ fsStorage }) => { try { await fsStorage({ root: ${JSON.stringify(dir)} }).init(); console.log('started'); } catch (e) { console.log(e.message); } })`;
    const other = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    assert.match(other, /is held by process \d+: one process serves a root at a time/);
    await store.close?.();
    assert.match(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' }), /started/, 'the lock is released on close (and the exiting process released its own)');
    await writeFile(join(dir, 'lock'), '999999999\n');
    await store.init?.();
    await store.close?.();
  });

  it('clears staging files a crash left behind when it starts', async () => {
    const dir = join(root, 'crashed');
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'tmp', 'half-written'), 'partial');
    const store = fsStorage({ root: dir });
    await store.init?.();
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    await store.close?.();
  });

  it('a damaged manifest record answers a clean 500, and can be deleted or pushed again', async () => {
    const dir = join(root, 'damaged');
    // records read once stay in the record cache (a file damaged later is served from memory): read every one from disk here
    const storage = fsStorage({ root: dir, fsync: false, cacheBytes: 0 });
    const logger = spyLogger();
    const reg = await startRegistry({ storage, logger });
    try {
      const image = await reg.pushImage('dmg/repo', { tag: 'v1' });
      const hex = image.digest.slice('sha256:'.length);
      const file = join(dir, 'repositories', 'dmg', 'repo', '_manifests', 'sha256', hex);
      for (const damage of ['', '{"trunc']) {
        await writeFile(file, damage);
        const get = await reg.req('GET', '/v2/dmg/repo/manifests/v1');
        assert.doesNotMatch(await get.clone().text(), /berth-faults|\/tmp\//);
        await assertError(get, 500, 'UNKNOWN');
        assert.equal((await reg.req('HEAD', `/v2/dmg/repo/manifests/${image.digest}`)).status, 500);
      }
      // pushed again: repaired
      await reg.pushManifest('dmg/repo', 'v1', image.body);
      assert.equal((await bytesOf(await reg.req('GET', '/v2/dmg/repo/manifests/v1'))).toString(), image.body.toString());
      await writeFile(file, '');
      assert.equal((await reg.req('DELETE', `/v2/dmg/repo/manifests/${image.digest}`)).status, 202);
      assert.equal((await reg.req('HEAD', `/v2/dmg/repo/manifests/${image.digest}`)).status, 404);
    } finally {
      await reg.close();
    }
  });

  it('every valid name works, 255 characters with slashes included', async () => {
    const storage = fsStorage({ root: join(root, 'long'), fsync: false });
    const reg = await startRegistry({ storage });
    try {
      const name = Array.from({ length: 9 }, (_, i) => `c${i}${'a'.repeat(26)}`).join('/').slice(0, 255).replace(/\/$/, 'z');
      assert.equal(name.length, 255);
      const image = await reg.pushImage(name, { tag: 'v1' });
      assert.equal((await reg.req('HEAD', `/v2/${name}/manifests/v1`)).status, 200);
      const mounted = await reg.req('POST', withQuery(`/v2/${name.slice(0, 200)}x/blobs/uploads/`, { mount: image.config.digest, from: name }));
      assert.equal(mounted.status, 201);
      const catalog = (await (await reg.req('GET', '/v2/_catalog')).json()) as { repositories: string[] };
      assert.ok(catalog.repositories.includes(name));
    } finally {
      await reg.close();
    }
  });
});

describe('faults: a full disk (tmpfs)', { skip: process.getuid?.() !== 0 ? 'needs root to mount a tmpfs (CI runs as root)' : false }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir]);
  });
  after(async () => {
    execFileSync('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 507 with the envelope, keeps serving reads, and pushes again once space is freed', async () => {
    const logger = spyLogger();
    const reg = await startRegistry({ storage: fsStorage({ root: join(dir, 'data') }), logger });
    try {
      const small = await reg.pushBlob('full/repo', 'a small blob before the disk fills');
      await writeFile(join(dir, 'filler'), Buffer.alloc(5 * 1024 * 1024));
      const big = Buffer.alloc(2 * 1024 * 1024, 3);
      const location = await reg.startUpload('full/repo').catch(() => undefined);
      const put = location
        ? await reg.at('PUT', withQuery(location, { digest: digestOf(big) }), { body: big })
        : await reg.req('POST', withQuery('/v2/full/repo/blobs/uploads/', { digest: digestOf(big) }), { body: big });
      const text = await put.clone().text();
      assert.doesNotMatch(text, /berth-full|ENOSPC|\/tmp\//);
      await assertError(put, 507, 'UNAVAILABLE');
      // reads still work
      assert.equal((await bytesOf(await reg.req('GET', `/v2/full/repo/blobs/${small}`))).toString(), 'a small blob before the disk fills');
      // nothing half-written is visible, and nothing is staged
      assert.equal((await reg.req('HEAD', `/v2/full/repo/blobs/${digestOf(big)}`)).status, 404);
      assert.deepEqual(await readdir(join(dir, 'data', 'tmp')), []);
      // free the space: pushes work again
      await rm(join(dir, 'filler'));
      await reg.pushBlob('full/repo', big);
      assert.ok(logger.errors.length >= 1);
    } finally {
      await reg.close();
      // the store too: what it writes behind a change (repository usage) must be done before the tmpfs goes
      await reg.registry.close();
    }
  });
});
