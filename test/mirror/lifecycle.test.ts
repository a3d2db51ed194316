import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import express4 from 'express4';
import { type Digest, allowAll, createCollector, createMirror, createRegistry, memoryStorage } from '../../lib/index.js';
import { OCI_INDEX, OCI_MANIFEST, assertError, bytesOf, digestOf, listen, type Served } from '../api/helpers.js';
import { type TestMirror, type Upstream, berthUpstream, eventually, startMirror } from './fixtures.js';

const ACCEPT = { Accept: [OCI_MANIFEST, OCI_INDEX].join(', ') };
const HOUR = 3600_000;

describe('mirror: cached content in the registry’s life', () => {
  let upstream: Upstream;
  let other: Upstream;
  let mirror: TestMirror;
  let objectStore: Served;
  const objectStoreAuth: (string | undefined)[] = [];

  before(async () => {
    upstream = await berthUpstream('token');
    other = await berthUpstream('basic');
    mirror = await startMirror([
      { prefix: 'up/', url: upstream.proxy.origin, credentials: upstream.credentials, tagTtl: HOUR },
      { prefix: 'up/other/', url: other.proxy.origin, credentials: other.credentials, rewrite: (name) => `mirrored/${name}` },
    ]);
    // object storage that upstream redirects blob downloads to (signed URLs: no registry credentials)
    objectStore = await listen((req, res) => {
      objectStoreAuth.push(req.headers.authorization);
      const digest = (req.url ?? '').slice(1).split('?')[0] as Digest;
      void upstream.storage!.blobs.open(digest).then((stream) => {
        if (!stream) return void res.writeHead(404).end();
        void upstream.storage!.blobs.stat(digest).then((info) => {
          res.writeHead(200, { 'Content-Length': info!.size, 'Content-Type': 'application/octet-stream' });
          stream.pipe(res);
        });
      });
    });
  });
  after(async () => {
    await mirror.close();
    await upstream.close();
    await other.close();
    await objectStore.close();
  });

  it('garbage collection and retention: pull times drive eviction of cached tags; an evicted image is fetched again', async () => {
    const old = await upstream.seed.pushImage('gc/app', { tag: 'old', layers: ['old layer'] });
    const recent = await upstream.seed.pushImage('gc/app', { tag: 'recent', layers: ['recent layer'] });
    for (const image of [old, recent]) {
      const tag = image === old ? 'old' : 'recent';
      assert.equal((await mirror.client.req('GET', `/v2/up/gc/app/manifests/${tag}`, { headers: ACCEPT })).status, 200);
      for (const blob of [image.config, ...image.layers]) assert.equal((await mirror.client.req('GET', `/v2/up/gc/app/blobs/${blob.digest}`)).status, 200);
    }
    await eventually(async () => (await mirror.storage.tags.stat('up/gc/app', 'recent'))?.pulledAt !== undefined, 5000, 'the pull by tag recorded by the core');
    await eventually(async () => mirror.storage.links.has('up/gc/app', old.layers[0]!.digest as Digest), 5000, 'the old layer cached');
    // "old" was last pulled two hours ago
    await mirror.storage.tags.pulled('up/gc/app', 'old', new Date(Date.now() - 2 * HOUR));
    const collector = createCollector({ registry: mirror.registry, grace: 0, untagged: { olderThan: 0 }, retention: [{ repositories: 'up/**', deleteNotPulledFor: HOUR }] });
    const result = await collector.run();
    assert.equal(result.errors, 0);
    assert.deepEqual(await mirror.storage.tags.list('up/gc/app', {}), ['recent']);
    assert.equal(await mirror.storage.manifests.stat('up/gc/app', old.digest as Digest), undefined);
    assert.equal(await mirror.storage.blobs.stat(old.layers[0]!.digest as Digest), undefined, 'the evicted layer’s bytes are gone');
    assert.ok(await mirror.storage.blobs.stat(recent.layers[0]!.digest as Digest), 'the recently pulled image stays');
    // pulled again: fetched from upstream again
    assert.equal((await mirror.client.req('GET', '/v2/up/gc/app/manifests/old', { headers: ACCEPT })).status, 200);
    assert.equal((await bytesOf(await mirror.client.req('GET', `/v2/up/gc/app/blobs/${old.layers[0]!.digest}`))).toString(), 'old layer');
    assert.equal(upstream.proxy.count('GET', /gc\/app\/manifests\/old$/), 2);
    assert.equal(upstream.proxy.count('GET', new RegExp(`blobs/${old.layers[0]!.digest}$`)), 2);
  });

  it('an index is cached without its children; each child comes on demand, and garbage collection keeps what the tag reaches', async () => {
    const amd = await upstream.seed.pushImage('multi/app', { layers: ['amd64 layer'] });
    const arm = await upstream.seed.pushImage('multi/app', { layers: ['arm64 layer'] });
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { ...amd.descriptor, platform: { architecture: 'amd64', os: 'linux' } },
        { ...arm.descriptor, platform: { architecture: 'arm64', os: 'linux' } },
      ],
    };
    const pushed = await upstream.seed.pushManifest('multi/app', 'v1', index, OCI_INDEX);
    const res = await mirror.client.req('GET', '/v2/up/multi/app/manifests/v1', { headers: ACCEPT });
    assert.equal(res.headers.get('content-type'), OCI_INDEX);
    assert.equal(res.headers.get('docker-content-digest'), pushed.digest);
    assert.equal(await mirror.storage.manifests.stat('up/multi/app', arm.digest as Digest), undefined, 'children are not fetched eagerly');
    const child = await mirror.client.req('GET', `/v2/up/multi/app/manifests/${arm.digest}`, { headers: ACCEPT });
    assert.equal(child.status, 200);
    assert.deepEqual(await bytesOf(child), arm.body);
    assert.equal((await bytesOf(await mirror.client.req('GET', `/v2/up/multi/app/blobs/${arm.layers[0]!.digest}`))).toString(), 'arm64 layer');
    await eventually(async () => mirror.storage.links.has('up/multi/app', arm.layers[0]!.digest as Digest), 5000, 'the layer cached');
    await createCollector({ registry: mirror.registry, grace: 0, untagged: { olderThan: 0 } }).run();
    assert.ok(await mirror.storage.manifests.stat('up/multi/app', arm.digest as Digest), 'the child stays: the tag reaches it');
    assert.ok(await mirror.storage.blobs.stat(arm.layers[0]!.digest as Digest));
    // a cached child cannot be deleted while the cached index needs it
    await assertError(await mirror.client.req('DELETE', `/v2/up/multi/app/manifests/${arm.digest}`), 409, 'DENIED');
  });

  it('blob downloads redirected to object storage are followed, without the registry credentials', async () => {
    const layer = randomBytes(200_000);
    const image = await upstream.seed.pushImage('redirected/app', { tag: 'v1', layers: [layer] });
    upstream.proxy.faults.redirect = (req) => (req.method === 'GET' && req.url?.includes('/blobs/') === true ? `${objectStore.origin}/${(req.url.split('/blobs/')[1] ?? '').split('?')[0]}?X-Amz-Signature=x` : undefined);
    try {
      assert.equal((await mirror.client.req('GET', '/v2/up/redirected/app/manifests/v1', { headers: ACCEPT })).status, 200);
      const res = await mirror.client.req('GET', `/v2/up/redirected/app/blobs/${image.layers[0]!.digest}`);
      assert.ok((await bytesOf(res)).equals(layer));
      assert.ok(objectStoreAuth.length > 0);
      assert.ok(objectStoreAuth.every((a) => a === undefined), 'no Authorization sent to another origin');
      assert.ok(upstream.proxy.seen.some((s) => s.status === 307 && s.authorization), 'the registry itself got the token');
    } finally {
      upstream.proxy.faults = {};
    }
  });

  it('a range or a HEAD of a cold blob is answered at once; the whole blob is fetched into the cache', async () => {
    const layer = randomBytes(300_000);
    const image = await upstream.seed.pushImage('ranged/app', { tag: 'v1', layers: [layer] });
    const digest = image.layers[0]!.digest as Digest;
    const part = await mirror.client.req('GET', `/v2/up/ranged/app/blobs/${digest}`, { headers: { Range: 'bytes=1000-1999' } });
    assert.equal(part.status, 206);
    assert.ok((await bytesOf(part)).equals(layer.subarray(1000, 2000)));
    await eventually(async () => mirror.storage.links.has('up/ranged/app', digest), 5000, 'the whole blob cached');
    const config = image.config.digest as Digest;
    const head = await mirror.client.req('HEAD', `/v2/up/ranged/app/blobs/${config}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(image.config.size));
    await eventually(async () => mirror.storage.links.has('up/ranged/app', config), 5000, 'the config cached after a HEAD');
    assert.equal(upstream.proxy.count('GET', new RegExp(`blobs/${config}$`)), 1);
  });

  it('several upstreams at once: the longest prefix wins, each with its own credentials and name rewrite', async () => {
    const image = await other.seed.pushImage('mirrored/app', { tag: 'v1', layers: ['from the other upstream'] });
    const res = await mirror.client.req('GET', '/v2/up/other/app/manifests/v1', { headers: ACCEPT });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.equal((await bytesOf(await mirror.client.req('GET', `/v2/up/other/app/blobs/${image.layers[0]!.digest}`))).toString(), 'from the other upstream');
    assert.equal(other.proxy.count('GET', /^\/v2\/mirrored\/app\/manifests\/v1$/), 1);
    assert.equal(upstream.proxy.count('GET', /other\/app/), 0);
  });

  it('a blob stored for another repository is linked only when the repository’s own manifest references it, or upstream has it there', async () => {
    const shared = 'a layer two images share';
    const a = await upstream.seed.pushImage('share/a', { tag: 'v1', layers: [shared] });
    await upstream.seed.pushImage('share/b', { tag: 'v1', layers: [shared] });
    const digest = a.layers[0]!.digest;
    assert.equal((await mirror.client.req('GET', '/v2/up/share/a/manifests/v1', { headers: ACCEPT })).status, 200);
    assert.equal((await mirror.client.req('GET', `/v2/up/share/a/blobs/${digest}`)).status, 200);
    await eventually(async () => mirror.storage.links.has('up/share/a', digest as Digest), 5000, 'cached for a');
    // b's manifest references it: linked from the store, no transfer
    assert.equal((await mirror.client.req('GET', '/v2/up/share/b/manifests/v1', { headers: ACCEPT })).status, 200);
    assert.equal((await bytesOf(await mirror.client.req('GET', `/v2/up/share/b/blobs/${digest}`))).toString(), shared);
    assert.equal(upstream.proxy.count('GET', new RegExp(`blobs/${digest}$`)), 1);
    // a local repository's private blob is not reachable through a mirrored name that upstream does not hold it in
    const secret = await mirror.client.pushBlob('local/private', 'local secret');
    await assertError(await mirror.client.req('GET', `/v2/up/share/c/blobs/${secret}`), 404, 'BLOB_UNKNOWN');
    assert.equal(upstream.proxy.count('HEAD', new RegExp(`share/c/blobs/${secret}$`)), 1, 'upstream was asked');
  });

  it('host code writing to a mirrored repository is refused by mirror.policy; the mirror’s own writes pass it', async () => {
    const storage = memoryStorage();
    const policed = createMirror({ upstreams: [{ prefix: 'up/', url: upstream.proxy.origin, credentials: upstream.credentials }], logger: mirror.logged });
    const registry = policed.attach(createRegistry({ storage, authorize: allowAll, policy: policed.policy, pullThrough: policed }));
    const served = await listen(express().use(registry));
    try {
      await upstream.seed.pushImage('policed/app', { tag: 'v1' });
      assert.equal((await fetch(`${served.origin}/v2/up/policed/app/manifests/v1`, { headers: ACCEPT })).status, 200);
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
      const record = { mediaType: OCI_INDEX, digest: digestOf(body) as Digest, size: body.length, body, references: [] };
      await assert.rejects(registry.changes.pushManifest('up/policed/app', record, { blobs: [], children: [] }, ['v2']), /mirrors/);
      await registry.changes.pushManifest('local/app', record, { blobs: [], children: [] }, ['v2']);
    } finally {
      await served.close();
      await policed.close();
    }
  });

  it('a registry that only mirrors (prefix ""): docker’s registry-mirrors paths work, nothing is local', async () => {
    const only = await startMirror([{ prefix: '', url: upstream.proxy.origin, credentials: upstream.credentials }]);
    try {
      const image = await upstream.seed.pushImage('library/everything', { tag: '1' });
      const res = await only.client.req('GET', '/v2/library/everything/manifests/1', { headers: ACCEPT });
      assert.equal(res.headers.get('docker-content-digest'), image.digest);
      const refused = await assertError(await only.client.req('POST', '/v2/library/everything/blobs/uploads/'), 403, 'DENIED');
      assert.match(refused[0]?.message ?? '', /only mirrors/);
    } finally {
      await only.close();
    }
  });

  it('mounted at /v2 in Express 4: ns routing and push refusals work the same', async () => {
    const storage = memoryStorage();
    const m = createMirror({ upstreams: [{ prefix: 'up/', url: upstream.proxy.origin, credentials: upstream.credentials, ns: 'upstream.test' }], logger: mirror.logged });
    const app = express4();
    app.use('/v2', m.attach(createRegistry({ storage, authorize: allowAll, pullThrough: m })));
    app.get('/hello', (_req, res) => void res.send('host route'));
    const served = await listen(app);
    try {
      const image = await upstream.seed.pushImage('library/express4', { tag: 'v1' });
      const res = await fetch(`${served.origin}/v2/library/express4/manifests/v1?ns=upstream.test`, { headers: ACCEPT });
      assert.equal(res.headers.get('docker-content-digest'), image.digest);
      assert.ok(await storage.manifests.stat('up/library/express4', image.digest as Digest));
      assert.equal((await fetch(`${served.origin}/v2/up/library/express4/blobs/uploads/`, { method: 'POST' })).status, 403);
      assert.equal((await fetch(`${served.origin}/v2/`)).status, 200);
      assert.equal(await (await fetch(`${served.origin}/hello`)).text(), 'host route');
    } finally {
      await served.close();
      await m.close();
    }
  });

  it('a refused push with a body is answered and the connection closed, the body not taken for a request', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${mirror.served.origin}/v2/up/team/app/manifests/v9`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST, 'Content-Length': 100_000 } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(Buffer.alloc(10_000));
    });
    assert.equal(status, 403);
  });
});
