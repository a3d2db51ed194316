/** The core HTTP flows once per store: memoryStorage() and fsStorage() in a fresh temp dir. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  bytesOf,
  digestOf,
  EMPTY_SHA256,
  OCI_INDEX,
  OCI_MANIFEST,
  type StoreFixture,
  streamed,
  type TestRegistry,
  makeStore,
  startRegistry,
  withQuery,
} from './helpers.js';

for (const kind of ['memory', 'fs'] as const) {
  describe(`core flows on the ${kind} store`, () => {
    let store: StoreFixture;
    let reg: TestRegistry;
    before(async () => {
      store = await makeStore(kind);
      reg = await startRegistry({ storage: store.storage });
    });
    after(async () => {
      await reg.close();
      await store.cleanup();
    });

    it('monolithic push, GET/HEAD with exact bytes, Range, scoping', async () => {
      const data = Buffer.from('hello, blob world');
      const digest = await reg.pushBlob('st/a', data);
      const get = await reg.req('GET', `/v2/st/a/blobs/${digest}`);
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('docker-content-digest'), digest);
      assert.equal(get.headers.get('content-length'), String(data.length));
      assert.deepEqual(await bytesOf(get), data);
      const head = await reg.req('HEAD', `/v2/st/a/blobs/${digest}`);
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(data.length));
      const range = await reg.req('GET', `/v2/st/a/blobs/${digest}`, { headers: { Range: 'bytes=7-10' } });
      assert.equal(range.status, 206);
      assert.equal(range.headers.get('content-range'), `bytes 7-10/${data.length}`);
      assert.equal(await range.text(), 'blob');
      const suffix = await reg.req('GET', `/v2/st/a/blobs/${digest}`, { headers: { Range: 'bytes=-5' } });
      assert.equal(await suffix.text(), 'world');
      const bad = await reg.req('GET', `/v2/st/a/blobs/${digest}`, { headers: { Range: 'bytes=100-' } });
      assert.equal(bad.status, 416);
      await bad.arrayBuffer();
      assert.equal((await reg.req('HEAD', `/v2/st/b/blobs/${digest}`)).status, 404);
    });

    it('single POST ?digest=', async () => {
      const data = Buffer.from('posted at once');
      const res = await reg.req('POST', `/v2/st/a/blobs/uploads/?digest=${digestOf(data)}`, { body: data });
      assert.equal(res.status, 201);
      assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/st/a/blobs/${digestOf(data)}`)), data);
    });

    it('chunked upload: 416 on a re-sent chunk, status, resume at the POST Location, close', async () => {
      const a = Buffer.from('a'.repeat(22));
      const b = Buffer.from('b'.repeat(20));
      const location = await reg.startUpload('st/chunked');
      const send = (chunk: Buffer, start: number) =>
        reg.at('PATCH', location, { body: chunk, headers: { 'Content-Range': `${start}-${start + chunk.length - 1}` } });
      assert.equal((await send(b, 22)).status, 416);
      const first = await send(a, 0);
      assert.equal(first.status, 202);
      assert.equal(first.headers.get('range'), '0-21');
      const again = await send(a, 0);
      assert.equal(again.status, 416);
      assert.equal(again.headers.get('range'), '0-21');
      await again.arrayBuffer();
      const status = await reg.at('GET', location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-21');
      const second = await send(b, 22);
      assert.equal(second.status, 202);
      assert.equal(second.headers.get('range'), '0-41');
      const whole = Buffer.concat([a, b]);
      const put = await reg.at('PUT', withQuery(location, { digest: digestOf(whole) }));
      assert.equal(put.status, 201);
      assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/st/chunked/blobs/${digestOf(whole)}`)), whole);
    });

    it('streamed PATCH then PUT with the last chunk, closed with sha512', async () => {
      const location = await reg.startUpload('st/streamed');
      const patch = await reg.at('PATCH', location, { body: streamed('part one, ', 'part two, '), duplex: 'half' });
      assert.equal(patch.status, 202);
      assert.equal(patch.headers.get('range'), '0-19');
      const whole = Buffer.from('part one, part two, part three');
      const put = await reg.at('PUT', withQuery(location, { digest: digestOf(whole, 'sha512') }), {
        body: 'part three',
        headers: { 'Content-Range': `20-${whole.length - 1}` },
      });
      assert.equal(put.status, 201, await put.clone().text());
      assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/st/streamed/blobs/${digestOf(whole, 'sha512')}`)), whole);
    });

    it('a wrong digest: 400, nothing visible, session gone', async () => {
      const location = await reg.startUpload('st/wrong');
      const put = await reg.at('PUT', withQuery(location, { digest: digestOf('claimed') }), { body: 'actual' });
      await assertError(put, 400, 'DIGEST_INVALID');
      assert.equal((await reg.req('HEAD', `/v2/st/wrong/blobs/${digestOf('claimed')}`)).status, 404);
      assert.equal((await reg.req('HEAD', `/v2/st/wrong/blobs/${digestOf('actual')}`)).status, 404);
      await assertError(await reg.at('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('uploads: foreign repository → 404, DELETE → 204 then 404', async () => {
      const location = await reg.startUpload('st/owner');
      const id = location.split('/').pop() ?? '';
      await assertError(await reg.req('GET', `/v2/st/thief/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
      assert.equal((await reg.at('DELETE', location)).status, 204);
      await assertError(await reg.at('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('the zero-byte blob', async () => {
      const location = await reg.startUpload('st/empty');
      const put = await reg.at('PUT', withQuery(location, { digest: EMPTY_SHA256 }));
      assert.equal(put.status, 201, await put.clone().text());
      const get = await reg.req('GET', `/v2/st/empty/blobs/${EMPTY_SHA256}`);
      assert.equal(get.status, 200);
      assert.equal((await bytesOf(get)).length, 0);
    });

    it('mount with from, automatic mount, and fallback to 202', async () => {
      const digest = await reg.pushBlob('st/src', 'shared layer');
      const withFrom = await reg.req('POST', `/v2/st/dst1/blobs/uploads/?mount=${digest}&from=st/src`);
      assert.equal(withFrom.status, 201);
      assert.equal(withFrom.headers.get('location'), `/v2/st/dst1/blobs/${digest}`);
      const auto = await reg.req('POST', `/v2/st/dst2/blobs/uploads/?mount=${digest}`);
      assert.equal(auto.status, 201);
      assert.equal(await (await reg.req('GET', `/v2/st/dst2/blobs/${digest}`)).text(), 'shared layer');
      const unknown = await reg.req('POST', `/v2/st/dst3/blobs/uploads/?mount=${digestOf('none')}&from=st/src`);
      assert.equal(unknown.status, 202);
      assert.match(unknown.headers.get('location') ?? '', /^\/v2\/st\/dst3\/blobs\/uploads\/[^/]+$/);
    });

    it('blob DELETE → 202, then 404', async () => {
      const digest = await reg.pushBlob('st/del', 'bye');
      assert.equal((await reg.req('DELETE', `/v2/st/del/blobs/${digest}`)).status, 202);
      await assertError(await reg.req('GET', `/v2/st/del/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    });

    it('a parent path of a repository is not itself a repository (tags list → 404 NAME_UNKNOWN)', async () => {
      await reg.pushImage('st/parent/child', { tag: 'v1' });
      const child = await reg.req('GET', '/v2/st/parent/child/tags/list');
      assert.deepEqual(await child.json(), { name: 'st/parent/child', tags: ['v1'] });
      await assertError(await reg.req('GET', '/v2/st/parent/tags/list'), 404, 'NAME_UNKNOWN');
      await assertError(await reg.req('GET', '/v2/st/tags/list'), 404, 'NAME_UNKNOWN');
    });

    it('manifests: by tag and digest, exact bytes and type, missing blobs, referrers, tags, deletes, catalog', async () => {
      const image = await reg.pushImage('st/img', { tag: 'v1', annotations: { a: 'b' } });
      assert.equal(image.res.headers.get('location'), `/v2/st/img/manifests/${image.digest}`);
      for (const ref of ['v1', image.digest]) {
        const get = await reg.req('GET', `/v2/st/img/manifests/${ref}`);
        assert.equal(get.status, 200);
        assert.equal(get.headers.get('content-type'), OCI_MANIFEST);
        assert.equal(get.headers.get('docker-content-digest'), image.digest);
        assert.deepEqual(await bytesOf(get), image.body);
      }

      const missing = await reg.putManifest('st/img', 'broken', {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf('no config'), size: 9 },
        layers: [],
      });
      const errors = await assertError(missing, 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.equal(errors.length, 1);

      const sig = await reg.pushImage('st/img', { artifactType: 'application/x.sig', subject: image.descriptor });
      assert.equal(sig.res.headers.get('oci-subject'), image.digest);
      const refs = await reg.req('GET', `/v2/st/img/referrers/${image.digest}`);
      assert.equal(refs.headers.get('content-type'), OCI_INDEX);
      const listed = (await refs.json()) as { manifests: { digest: string; artifactType?: string }[] };
      assert.deepEqual(listed.manifests.map((m) => [m.digest, m.artifactType]), [[sig.digest, 'application/x.sig']]);

      for (const tag of ['v3', 'v2']) assert.equal((await reg.putManifest('st/img', tag, image.body)).status, 201);
      const page = await reg.req('GET', '/v2/st/img/tags/list?n=2');
      assert.deepEqual(((await page.json()) as { tags: string[] }).tags, ['v1', 'v2']);
      assert.equal(page.headers.get('link'), '</v2/st/img/tags/list?n=2&last=v2>; rel="next"');

      assert.equal((await reg.req('DELETE', '/v2/st/img/manifests/v3')).status, 202);
      assert.equal((await reg.req('HEAD', `/v2/st/img/manifests/${image.digest}`)).status, 200);
      assert.equal((await reg.req('DELETE', `/v2/st/img/manifests/${sig.digest}`)).status, 202);
      const after = (await (await reg.req('GET', `/v2/st/img/referrers/${image.digest}`)).json()) as { manifests: unknown[] };
      assert.deepEqual(after.manifests, []);
      assert.equal((await reg.req('DELETE', `/v2/st/img/manifests/${image.digest}`)).status, 202);
      for (const ref of ['v1', 'v2', image.digest]) assert.equal((await reg.req('HEAD', `/v2/st/img/manifests/${ref}`)).status, 404, ref);
      const tags = await reg.req('GET', '/v2/st/img/tags/list');
      assert.equal(tags.status, 200);
      assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, []);

      await reg.pushImage('st/cat', { tag: 'x' });
      const catalog = (await (await reg.req('GET', '/v2/_catalog')).json()) as { repositories: string[] };
      assert.ok(catalog.repositories.includes('st/cat'), JSON.stringify(catalog));
      assert.ok(catalog.repositories.includes('st/a'), 'a repository is known from its first blob');
    });
  });
}
