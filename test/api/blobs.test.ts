import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, bytesOf, digestOf, type TestRegistry, startRegistry } from './helpers.js';

const DATA = Buffer.from('0123456789abcdefghij'); // 20 bytes

describe('blobs: GET/HEAD/DELETE /v2/<name>/blobs/<digest>', () => {
  let reg: TestRegistry;
  let digest: string;
  before(async () => {
    reg = await startRegistry();
    digest = await reg.pushBlob('blobs/a', DATA);
  });
  after(() => reg.close());

  it('GET → 200, exact bytes, Content-Length, Docker-Content-Digest', async () => {
    const res = await reg.req('GET', `/v2/blobs/a/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(DATA.length));
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await bytesOf(res), DATA);
  });

  it('HEAD → 200, Content-Length and Docker-Content-Digest, no body', async () => {
    const res = await reg.raw('HEAD', `/v2/blobs/a/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], String(DATA.length));
    assert.equal(res.headers['docker-content-digest'], digest);
    assert.equal(res.body.length, 0);
  });

  it('unknown blob → 404 BLOB_UNKNOWN (GET) and 404 (HEAD)', async () => {
    const unknown = digestOf('never pushed');
    await assertError(await reg.req('GET', `/v2/blobs/a/blobs/${unknown}`), 404, 'BLOB_UNKNOWN');
    const head = await reg.req('HEAD', `/v2/blobs/a/blobs/${unknown}`);
    assert.equal(head.status, 404);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  it('a blob pushed to repo A is not visible in repo B', async () => {
    await assertError(await reg.req('GET', `/v2/blobs/b/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    assert.equal((await reg.req('HEAD', `/v2/blobs/b/blobs/${digest}`)).status, 404);
    // also not in an unknown repository
    assert.equal((await reg.req('HEAD', `/v2/nobody/here/blobs/${digest}`)).status, 404);
  });

  it('Range bytes=0-4 → 206 + Content-Range, exactly those bytes', async () => {
    const res = await reg.req('GET', `/v2/blobs/a/blobs/${digest}`, { headers: { Range: 'bytes=0-4' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 0-4/${DATA.length}`);
    assert.equal(res.headers.get('content-length'), '5');
    assert.deepEqual(await bytesOf(res), DATA.subarray(0, 5));
  });

  it('Range in the middle bytes=5-9', async () => {
    const res = await reg.req('GET', `/v2/blobs/a/blobs/${digest}`, { headers: { Range: 'bytes=5-9' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 5-9/${DATA.length}`);
    assert.deepEqual(await bytesOf(res), DATA.subarray(5, 10));
  });

  it('suffix Range bytes=-3 → the last 3 bytes', async () => {
    const res = await reg.req('GET', `/v2/blobs/a/blobs/${digest}`, { headers: { Range: 'bytes=-3' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 17-19/${DATA.length}`);
    assert.deepEqual(await bytesOf(res), DATA.subarray(17));
  });

  it('open-ended Range bytes=15- → from 15 to the end', async () => {
    const res = await reg.req('GET', `/v2/blobs/a/blobs/${digest}`, { headers: { Range: 'bytes=15-' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 15-19/${DATA.length}`);
    assert.deepEqual(await bytesOf(res), DATA.subarray(15));
  });

  it('Range end past the blob is clamped', async () => {
    const res = await reg.req('GET', `/v2/blobs/a/blobs/${digest}`, { headers: { Range: 'bytes=18-100' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 18-19/${DATA.length}`);
    assert.deepEqual(await bytesOf(res), DATA.subarray(18));
  });

  it('unsatisfiable Range → 416 with Content-Range bytes */size', async () => {
    const res = await reg.req('GET', `/v2/blobs/a/blobs/${digest}`, { headers: { Range: 'bytes=20-' } });
    assert.equal(res.status, 416);
    assert.equal(res.headers.get('content-range'), `bytes */${DATA.length}`);
    await res.arrayBuffer();
  });

  it('malformed digest → 400 DIGEST_INVALID', async () => {
    for (const bad of ['sha256:totallywrong', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, 'nodigest']) {
      const res = await reg.req('GET', `/v2/blobs/a/blobs/${bad}`);
      await assertError(res, 400, 'DIGEST_INVALID');
    }
  });

  it('sha512 digests work end to end (push, HEAD, GET, Range)', async () => {
    const data = Buffer.from('sha512 blob content');
    const d512 = await reg.pushBlob('blobs/a', data, 'sha512');
    assert.match(d512, /^sha512:[a-f0-9]{128}$/);
    const get = await reg.req('GET', `/v2/blobs/a/blobs/${d512}`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('docker-content-digest'), d512);
    assert.deepEqual(await bytesOf(get), data);
    const head = await reg.req('HEAD', `/v2/blobs/a/blobs/${d512}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
    const range = await reg.req('GET', `/v2/blobs/a/blobs/${d512}`, { headers: { Range: 'bytes=0-5' } });
    assert.equal(range.status, 206);
    assert.equal(await range.text(), 'sha512');
  });

  it('DELETE → 202, then GET → 404; deleting again → 404 BLOB_UNKNOWN', async () => {
    const d = await reg.pushBlob('blobs/del', 'to be deleted');
    // also present elsewhere: delete in one repo must not affect the other
    await reg.pushBlob('blobs/keep', 'to be deleted');
    const del = await reg.req('DELETE', `/v2/blobs/del/blobs/${d}`);
    assert.equal(del.status, 202);
    await del.arrayBuffer();
    await assertError(await reg.req('GET', `/v2/blobs/del/blobs/${d}`), 404, 'BLOB_UNKNOWN');
    assert.equal((await reg.req('HEAD', `/v2/blobs/del/blobs/${d}`)).status, 404);
    await assertError(await reg.req('DELETE', `/v2/blobs/del/blobs/${d}`), 404, 'BLOB_UNKNOWN');
    const kept = await reg.req('GET', `/v2/blobs/keep/blobs/${d}`);
    assert.equal(kept.status, 200);
    assert.equal(await kept.text(), 'to be deleted');
  });

  it('DELETE of an unknown blob → 404 BLOB_UNKNOWN', async () => {
    await assertError(await reg.req('DELETE', `/v2/blobs/a/blobs/${digestOf('unknown')}`), 404, 'BLOB_UNKNOWN');
  });

  it('DELETE with a malformed digest → 400 DIGEST_INVALID', async () => {
    await assertError(await reg.req('DELETE', '/v2/blobs/a/blobs/sha256:xyz'), 400, 'DIGEST_INVALID');
  });
});

describe('blobs: deletes disabled', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ deletes: false });
  });
  after(() => reg.close());

  it('DELETE → 405 UNSUPPORTED with Allow, blob stays', async () => {
    const d = await reg.pushBlob('nodel/a', 'kept');
    const res = await reg.req('DELETE', `/v2/nodel/a/blobs/${d}`);
    await assertError(res, 405, 'UNSUPPORTED');
    const allow = res.headers.get('allow') ?? '';
    assert.ok(allow.includes('GET'), allow);
    assert.ok(!allow.includes('DELETE'), allow);
    assert.equal((await reg.req('HEAD', `/v2/nodel/a/blobs/${d}`)).status, 200);
  });
});
