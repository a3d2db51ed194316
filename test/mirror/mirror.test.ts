import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RegistryEvent } from '../../lib/index.js';
import { type Digest, basicAuth, passwords } from '../../lib/index.js';
import { OCI_MANIFEST, assertError, bytesOf, digestOf } from '../api/helpers.js';
import { type TestMirror, type Upstream, berthUpstream, eventually, sleep, startMirror } from './fixtures.js';

const ACCEPT = { Accept: [OCI_MANIFEST, 'application/vnd.oci.image.index.v1+json'].join(', ') };

describe('mirror: a berth upstream with token auth', () => {
  let upstream: Upstream;
  let mirror: TestMirror;
  const events: RegistryEvent[] = [];

  before(async () => {
    upstream = await berthUpstream('token');
    mirror = await startMirror([{ prefix: 'up/', url: upstream.proxy.origin, credentials: upstream.credentials, ns: 'upstream.test', tagTtl: 300 }]);
    mirror.registry.events.on('*', (e) => void events.push(e));
  });
  after(async () => {
    await mirror.close();
    await upstream.close();
  });

  it('a miss by tag: the manifest is fetched, verified, stored and served; blobs follow on demand, then come from the cache', async () => {
    const image = await upstream.seed.pushImage('team/app', { tag: 'v1', layers: ['layer one', 'layer two'] });
    const res = await mirror.client.req('GET', '/v2/up/team/app/manifests/v1', { headers: ACCEPT });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(await bytesOf(res), image.body);
    assert.equal(upstream.proxy.count('GET', /\/manifests\/v1$/), 1);
    // stored with its references recorded, but its blobs are not there yet
    const stored = await mirror.storage.manifests.get('up/team/app', image.digest as Digest);
    assert.deepEqual(stored?.references.sort(), [image.config.digest, ...image.layers.map((l) => l.digest)].sort());
    assert.equal(await mirror.storage.links.has('up/team/app', image.layers[0]!.digest as Digest), false);

    for (const blob of [image.config, ...image.layers]) {
      const got = await mirror.client.req('GET', `/v2/up/team/app/blobs/${blob.digest}`);
      assert.equal(got.status, 200);
      assert.equal(digestOf(await bytesOf(got)), blob.digest);
    }
    await eventually(async () => mirror.storage.links.has('up/team/app', image.layers[1]!.digest as Digest), 5000, 'the blob linked');
    const before = upstream.proxy.seen.length;
    for (const blob of [image.config, ...image.layers]) {
      assert.equal((await mirror.client.req('GET', `/v2/up/team/app/blobs/${blob.digest}`)).status, 200);
      assert.equal((await mirror.client.req('HEAD', `/v2/up/team/app/blobs/${blob.digest}`)).status, 200);
    }
    assert.equal((await mirror.client.req('GET', '/v2/up/team/app/manifests/v1', { headers: ACCEPT })).status, 200);
    assert.equal(upstream.proxy.seen.length, before, 'served from the cache within the tag TTL');
    // the one write path: events, usage
    assert.ok(events.some((e) => e.type === 'manifest.pushed' && e.repository === 'up/team/app' && e.identity?.name === 'berth-mirror'));
    assert.ok(events.some((e) => e.type === 'blob.pushed' && e.repository === 'up/team/app'));
    assert.ok(((await mirror.storage.repositories.usage('up/team/app'))?.bytes ?? 0) > 0);
  });

  it('a digest reference never asks upstream once cached', async () => {
    const image = await upstream.seed.pushImage('team/pinned', { tag: 'v1' });
    assert.equal((await mirror.client.req('GET', `/v2/up/team/pinned/manifests/${image.digest}`, { headers: ACCEPT })).status, 200);
    const before = upstream.proxy.seen.length;
    await sleep(350);
    const res = await mirror.client.req('GET', `/v2/up/team/pinned/manifests/${image.digest}`, { headers: ACCEPT });
    assert.equal(res.status, 200);
    assert.equal((await mirror.client.req('HEAD', `/v2/up/team/pinned/manifests/${image.digest}`)).status, 200);
    assert.equal(upstream.proxy.seen.length, before);
    assert.equal((await mirror.client.req('GET', `/v2/up/team/pinned/manifests/${digestOf('nothing')}`)).status, 404);
  });

  it('a tag is revalidated after its TTL with one HEAD, and follows upstream when it moved', async () => {
    const first = await upstream.seed.pushImage('team/moving', { tag: 'latest' });
    assert.equal((await mirror.client.req('GET', '/v2/up/team/moving/manifests/latest', { headers: ACCEPT })).headers.get('docker-content-digest'), first.digest);
    await sleep(350);
    assert.equal((await mirror.client.req('GET', '/v2/up/team/moving/manifests/latest', { headers: ACCEPT })).headers.get('docker-content-digest'), first.digest);
    assert.equal(upstream.proxy.count('HEAD', /team\/moving\/manifests\/latest$/), 1);
    assert.equal(upstream.proxy.count('GET', /team\/moving\/manifests\//), 1, 'unchanged: no GET');

    const second = await upstream.seed.pushImage('team/moving', { tag: 'latest' });
    await sleep(350);
    const res = await mirror.client.req('GET', '/v2/up/team/moving/manifests/latest', { headers: ACCEPT });
    assert.equal(res.headers.get('docker-content-digest'), second.digest);
    assert.equal(upstream.proxy.count('HEAD', /team\/moving\/manifests\/latest$/), 2);
    assert.equal(upstream.proxy.count('GET', new RegExp(`team/moving/manifests/${second.digest}$`)), 1, 'the new manifest fetched by digest');
    // the old manifest stays cached by digest
    assert.equal((await mirror.client.req('GET', `/v2/up/team/moving/manifests/${first.digest}`, { headers: ACCEPT })).status, 200);
    assert.ok(events.some((e) => e.type === 'tag.pushed' && e.repository === 'up/team/moving' && e.digest === second.digest && e.previous === first.digest));
  });

  it('what upstream lacks is unknown here too', async () => {
    await assertError(await mirror.client.req('GET', '/v2/up/team/none/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
    await assertError(await mirror.client.req('GET', `/v2/up/team/none/blobs/${digestOf('none')}`), 404, 'BLOB_UNKNOWN');
    assert.equal((await mirror.client.req('HEAD', '/v2/up/team/none/manifests/v1')).status, 404);
  });

  it('containerd’s ns selects the upstream: /v2/<name>/…?ns=<host> is served (and authorized) as <prefix><name>', async () => {
    const image = await upstream.seed.pushImage('library/tool', { tag: '3', layers: ['ns layer'] });
    const res = await mirror.client.req('GET', '/v2/library/tool/manifests/3?ns=upstream.test', { headers: ACCEPT });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    const blob = await mirror.client.req('GET', `/v2/library/tool/blobs/${image.layers[0]!.digest}?ns=upstream.test`);
    assert.equal((await bytesOf(blob)).toString(), 'ns layer');
    assert.ok(await mirror.storage.manifests.stat('up/library/tool', image.digest as Digest), 'cached under the prefix');
    assert.equal((await mirror.client.req('GET', '/v2/up/library/tool/manifests/3', { headers: ACCEPT })).status, 200);
    // without ns (or with another one) the name is a local repository
    await assertError(await mirror.client.req('GET', '/v2/library/tool/manifests/3'), 404, 'MANIFEST_UNKNOWN');
    await assertError(await mirror.client.req('GET', '/v2/library/tool/manifests/3?ns=other.example'), 404, 'MANIFEST_UNKNOWN');
  });

  it('local repositories work beside mirrored ones; pushes to mirrored repositories are refused', async () => {
    const local = await mirror.client.pushImage('local/app', { tag: 'v1' });
    assert.equal((await mirror.client.req('GET', '/v2/local/app/manifests/v1', { headers: ACCEPT })).headers.get('docker-content-digest'), local.digest);
    const before = upstream.proxy.seen.length;
    await assertError(await mirror.client.req('POST', '/v2/up/team/app/blobs/uploads/'), 403, 'DENIED');
    await assertError(await mirror.client.putManifest('up/team/app', 'v2', local.body), 403, 'DENIED');
    await assertError(await mirror.client.req('POST', '/v2/library/tool/blobs/uploads/?ns=upstream.test'), 403, 'DENIED');
    assert.equal(upstream.proxy.seen.length, before);
    // a repository named like the prefix itself is local
    await mirror.client.pushImage('up', { tag: 'v1' });
  });

  it('cached repositories can be deleted from (purging the cache)', async () => {
    const image = await upstream.seed.pushImage('team/purge', { tag: 'v1' });
    assert.equal((await mirror.client.req('GET', '/v2/up/team/purge/manifests/v1', { headers: ACCEPT })).status, 200);
    assert.equal((await mirror.client.req('DELETE', `/v2/up/team/purge/manifests/${image.digest}`)).status, 202);
    assert.equal(await mirror.storage.manifests.stat('up/team/purge', image.digest as Digest), undefined);
    // the next pull fetches it again
    assert.equal((await mirror.client.req('GET', '/v2/up/team/purge/manifests/v1', { headers: ACCEPT })).status, 200);
    assert.equal(upstream.proxy.count('GET', /team\/purge\/manifests\/v1$/), 2);
  });
});

describe('mirror: auth applies to mirrored repositories like any other', () => {
  let upstream: Upstream;
  let mirror: TestMirror;
  before(async () => {
    upstream = await berthUpstream('basic');
    mirror = await startMirror([{ prefix: 'up/', url: upstream.proxy.origin, credentials: upstream.credentials }], {
      ...basicAuth({ verify: passwords({ reader: 'reader-pw' }), permissions: [{ repositories: 'up/**', users: ['reader'], actions: ['pull'] }], throttle: false }),
    });
  });
  after(async () => {
    await mirror.close();
    await upstream.close();
  });

  it('anonymous pulls are refused before upstream is asked; a reader pulls through a Basic-auth upstream', async () => {
    const image = await upstream.seed.pushImage('team/secret', { tag: 'v1', layers: ['secret layer'] });
    await assertError(await mirror.client.req('GET', '/v2/up/team/secret/manifests/v1'), 401, 'UNAUTHORIZED');
    await assertError(await mirror.client.req('GET', `/v2/up/team/secret/blobs/${image.layers[0]!.digest}`), 401, 'UNAUTHORIZED');
    assert.equal(upstream.proxy.seen.length, 0);
    const reader = { Authorization: `Basic ${Buffer.from('reader:reader-pw').toString('base64')}` };
    const res = await mirror.client.req('GET', '/v2/up/team/secret/manifests/v1', { headers: { ...ACCEPT, ...reader } });
    assert.equal(res.status, 200);
    assert.equal((await bytesOf(await mirror.client.req('GET', `/v2/up/team/secret/blobs/${image.layers[0]!.digest}`, { headers: reader }))).toString(), 'secret layer');
    // the reader may not push, mirrored or not
    await assertError(await mirror.client.req('POST', '/v2/local/x/blobs/uploads/', { headers: reader }), 403, 'DENIED');
  });
});
