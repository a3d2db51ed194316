import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type BlobPush, type Deletion, type ManifestPush, type Policy, createCollector, policies } from '../../lib/index.js';
import { assertError, digestOf, makeStore, type StoreFixture, type TestRegistry, startRegistry, testStores, withQuery } from './helpers.js';

describe('policy hooks veto changes before they become visible', () => {
  const seen: { manifests: ManifestPush[]; blobs: BlobPush[]; deletes: Deletion[] } = { manifests: [], blobs: [], deletes: [] };
  const policy: Policy = {
    manifestPush: (change) => {
      seen.manifests.push(change);
      if (change.tags.some((t) => t.tag.startsWith('v') && t.current !== undefined && t.current !== change.digest)) return { deny: 'release tags are immutable' };
      if (change.artifactType === 'application/x-forbidden') return { deny: 'that artifact type is not allowed here', code: 'MANIFEST_INVALID', status: 400 };
      return undefined;
    },
    blobPush: (change) => {
      seen.blobs.push(change);
      if (change.repository.startsWith('frozen/')) return { deny: 'this repository is read-only' };
      if (change.size > 1000) return { deny: 'blobs are limited to 1000 bytes here', code: 'SIZE_INVALID', status: 400 };
      if (change.mountedFrom === 'secret/src') return { deny: 'no mounts from secret/src' };
      return undefined;
    },
    delete: (change) => {
      seen.deletes.push(change);
      return change.tag === 'protected' || change.digest === digestOf('keep me') ? { deny: `${change.kind} is protected` } : undefined;
    },
  };
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ policy: policies({}, policy), authorize: (req, accesses) => ({ identity: { name: String(req.headers['x-user'] ?? 'anon') }, allowed: accesses.map(() => true) }) });
  });
  after(() => reg.close());

  it('manifest push: immutable tags, an allowed list of artifact types, the caller and the tags as they were', async () => {
    const image = await reg.pushImage('pol/app', { tag: 'v1' });
    const other = await reg.pushImage('pol/app', { tag: 'other' });
    const moved = await reg.putManifest('pol/app', 'v1', other.body);
    const errors = await assertError(moved, 403, 'DENIED');
    assert.equal(errors[0]?.message, 'release tags are immutable');
    assert.equal((await reg.req('HEAD', '/v2/pol/app/manifests/v1')).headers.get('docker-content-digest'), image.digest, 'the tag did not move');
    const last = seen.manifests.at(-1);
    assert.deepEqual(last?.tags, [{ tag: 'v1', current: image.digest }]);
    assert.equal(last.identity?.name, 'anon');
    assert.equal((await reg.putManifest('pol/app', 'v1', image.body)).status, 201, 're-pushing the same content is fine');
    const typed = await reg.pushImage('pol/app', { artifactType: 'application/x-forbidden' }).catch((err: unknown) => err);
    assert.match(typed instanceof Error ? typed.message : '', /that artifact type is not allowed here/);
  });

  it('stored bytes: a read-only repository, a size limit before the body is read and at commit, a mount', async () => {
    await assertError(await reg.req('POST', '/v2/frozen/app/blobs/uploads/'), 403, 'DENIED');
    const big = Buffer.alloc(2000, 1);
    const location = await reg.startUpload('pol/sizes');
    const put = await reg.at('PUT', withQuery(location, { digest: digestOf(big) }), { body: big });
    const errors = await assertError(put, 400, 'SIZE_INVALID');
    assert.equal(errors[0]?.message, 'blobs are limited to 1000 bytes here');
    assert.equal((await reg.at('GET', location)).headers.get('range'), '0-0', 'no byte was stored');
    // streamed without a length: refused at commit, with the exact size
    const streamed = await reg.startUpload('pol/sizes');
    assert.equal((await reg.at('PATCH', streamed, { body: (async function* () { yield big; })(), duplex: 'half' })).status, 202);
    await assertError(await reg.at('PUT', withQuery(streamed, { digest: digestOf(big) })), 400, 'SIZE_INVALID');
    assert.equal((await reg.req('HEAD', `/v2/pol/sizes/blobs/${digestOf(big)}`)).status, 404);
    assert.ok(seen.blobs.some((b) => b.final && b.size === 2000 && b.digest === digestOf(big)));
    const secret = await reg.pushBlob('secret/src', 'secret bytes');
    const mount = await reg.req('POST', withQuery('/v2/pol/mount/blobs/uploads/', { mount: secret, from: 'secret/src' }));
    await assertError(mount, 403, 'DENIED');
  });

  it('deletes: a protected tag, manifest or blob stays, with the reason', async () => {
    const image = await reg.pushImage('pol/del', { tag: 'protected', layers: ['keep me'] });
    await assertError(await reg.req('DELETE', '/v2/pol/del/manifests/protected'), 403, 'DENIED');
    await reg.pushManifest('pol/del', 'loose', image.body);
    assert.equal((await reg.req('DELETE', '/v2/pol/del/manifests/loose')).status, 202);
    const last = seen.deletes.at(-1);
    assert.deepEqual({ kind: last?.kind, tag: last?.tag, digest: last?.digest }, { kind: 'tag', tag: 'loose', digest: image.digest });
    // deleting the manifest would take its protected tag with it: refused too
    await assertError(await reg.req('DELETE', `/v2/pol/del/manifests/${image.digest}`), 403, 'DENIED');
    assert.equal((await reg.req('HEAD', `/v2/pol/del/manifests/${image.digest}`)).status, 200);
    await assertError(await reg.req('DELETE', `/v2/pol/del/blobs/${digestOf('keep me')}`), 403, 'DENIED');
  });
});

for (const kind of testStores()) {
  describe(`quotas and usage on the ${kind} store`, () => {
    let store: StoreFixture;
    let reg: TestRegistry;
    const limits = new Map<string, number>();
    before(async () => {
      store = await makeStore(kind);
      reg = await startRegistry({ storage: store.storage, quota: (repository) => limits.get(repository) });
    });
    after(async () => {
      await reg.close();
      await store.cleanup();
    });
    const usage = async (repository: string) => (await store.storage.repositories.usage(repository))?.bytes;

    it('usage counts every linked blob and stored manifest, once per repository, and follows deletes and mounts', async () => {
      const image = await reg.pushImage('quota/use', { tag: 'v1', layers: ['layer one', 'layer two'] });
      const total = image.config.size + 'layer one'.length + 'layer two'.length + image.body.length;
      assert.equal(await usage('quota/use'), total);
      await reg.pushBlob('quota/use', 'layer one');
      assert.equal(await usage('quota/use'), total, 'a blob linked again is not counted again');
      assert.equal((await reg.req('POST', withQuery('/v2/quota/other/blobs/uploads/', { mount: digestOf('layer one'), from: 'quota/use' }))).status, 201);
      assert.equal(await usage('quota/other'), 'layer one'.length, 'a shared blob is charged to every repository that links it');
      assert.equal((await reg.req('DELETE', `/v2/quota/use/manifests/${image.digest}`)).status, 202);
      assert.equal(await usage('quota/use'), total - image.body.length);
      assert.equal((await reg.req('DELETE', `/v2/quota/use/blobs/${digestOf('layer two')}`)).status, 202);
      assert.equal(await usage('quota/use'), total - image.body.length - 'layer two'.length);
    });

    it('refuses before storing when the size is declared, and at commit otherwise', async () => {
      limits.set('quota/small', 100);
      const big = Buffer.alloc(150, 2);
      const location = await reg.startUpload('quota/small');
      const refused = await reg.at('PUT', withQuery(location, { digest: digestOf(big) }), { body: big });
      const errors = await assertError(refused, 403, 'DENIED');
      assert.match(errors[0]?.message ?? '', /the quota of repository quota\/small is 100 bytes/);
      assert.equal((await reg.at('GET', location)).headers.get('range'), '0-0');
      const streamed = await reg.startUpload('quota/small');
      await reg.at('PATCH', streamed, { body: (async function* () { yield big; })(), duplex: 'half' });
      await assertError(await reg.at('PUT', withQuery(streamed, { digest: digestOf(big) })), 403, 'DENIED');
      assert.equal((await reg.req('HEAD', `/v2/quota/small/blobs/${digestOf(big)}`)).status, 404);
      assert.equal((await usage('quota/small')) ?? 0, 0);
      await reg.pushBlob('quota/small', Buffer.alloc(90, 3));
      assert.equal(await usage('quota/small'), 90);
    });

    it('holds exactly under concurrent pushes', async () => {
      limits.set('quota/race', 10_000);
      const pushes = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const data = Buffer.alloc(1000, i + 1);
          return (await reg.req('POST', withQuery('/v2/quota/race/blobs/uploads/', { digest: digestOf(data) }), { body: data })).status;
        }),
      );
      const accepted = pushes.filter((s) => s === 201).length;
      assert.ok(pushes.every((s) => s === 201 || s === 403), pushes.join(' '));
      const used = (await usage('quota/race')) ?? -1;
      assert.equal(used, accepted * 1000, 'usage is exactly what was accepted');
      assert.ok(used <= 10_000, `usage ${used} stays within the quota`);
      assert.ok(accepted >= 1);
    });

    it('the collector sets drifted usage right', async () => {
      await reg.pushImage('quota/drift', { tag: 'v1' });
      const right = (await usage('quota/drift')) ?? -1;
      const now = await store.storage.repositories.usage('quota/drift');
      assert.equal(await store.storage.repositories.setUsage('quota/drift', 12345, now?.version ?? 0), true);
      const result = await createCollector({ registry: reg.registry, grace: 60_000 }).run();
      assert.ok(result.usageCorrected >= 1);
      assert.equal(await usage('quota/drift'), right);
    });
  });
}
