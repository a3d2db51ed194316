import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type PullRequest, type PullThrough, memoryStorage } from '../../lib/index.js';
import { OCI_MANIFEST, bytesOf, digestOf, type TestRegistry, startRegistry } from './helpers.js';

describe('the pull-through hook', () => {
  const storage = memoryStorage();
  const asked: (PullRequest & { reference?: string; digest?: string })[] = [];
  const remoteBlob = Buffer.from('bytes that live upstream');
  const remoteManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(remoteBlob), size: remoteBlob.length }, layers: [] }));
  const hook: PullThrough = {
    async manifest(request) {
      asked.push(request);
      if (request.repository !== 'mirror/app' || request.reference !== 'v1') return;
      // what a mirror does on a miss: store the manifest (a mirror links blobs lazily) and the tag
      const digest = digestOf(remoteManifest) as `${string}:${string}`;
      await storage.manifests.put(request.repository, { mediaType: OCI_MANIFEST, digest, size: remoteManifest.length, body: remoteManifest, references: [] });
      await storage.tags.put(request.repository, 'v1', digest);
    },
    async blob(request) {
      asked.push(request);
      if (request.digest !== digestOf(remoteBlob)) return undefined;
      return { size: remoteBlob.length, open: async (range) => Readable.from([range ? remoteBlob.subarray(range.start, range.end) : remoteBlob]) };
    },
  };
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ storage, pullThrough: hook });
  });
  after(() => reg.close());

  it('a manifest miss is fetched before the store is read; containerd’s ns is passed on', async () => {
    const res = await reg.req('GET', '/v2/mirror/app/manifests/v1?ns=docker.io');
    assert.equal(res.status, 200);
    assert.deepEqual(await bytesOf(res), remoteManifest);
    assert.equal(asked.at(-1)?.ns, 'docker.io');
    assert.equal(asked.at(-1)?.reference, 'v1');
    assert.equal((await reg.req('GET', '/v2/mirror/app/manifests/nope')).status, 404);
  });

  it('a blob the store lacks is served from the hook, whole or in a range, and HEAD answers its size', async () => {
    const head = await reg.req('HEAD', `/v2/mirror/app/blobs/${digestOf(remoteBlob)}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(remoteBlob.length));
    assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/mirror/app/blobs/${digestOf(remoteBlob)}`)), remoteBlob);
    const part = await reg.req('GET', `/v2/mirror/app/blobs/${digestOf(remoteBlob)}`, { headers: { Range: 'bytes=6-9' } });
    assert.equal(part.status, 206);
    assert.equal((await bytesOf(part)).toString(), 'that');
    assert.equal((await reg.req('GET', `/v2/mirror/app/blobs/${digestOf('nothing')}`)).status, 404);
  });

  it('pushes and deletes never reach it', async () => {
    const before = asked.length;
    await reg.pushBlob('mirror/app', 'local bytes');
    await reg.req('DELETE', `/v2/mirror/app/blobs/${digestOf('missing')}`);
    assert.equal(asked.length, before);
  });
});
