import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertConnectionSane,
  assertError,
  bytesOf,
  digestOf,
  EMPTY_SHA256,
  pipelined,
  streamed,
  type TestRegistry,
  startRegistry,
  withQuery,
} from './helpers.js';

const CHUNK1 = Buffer.from('the first chunk of 22b'); // 22 bytes, like the conformance suite
const CHUNK2 = Buffer.from('and then a second one'); // 21 bytes
const WHOLE = Buffer.concat([CHUNK1, CHUNK2]);

function patch(reg: TestRegistry, location: string, chunk: Buffer, start: number): Promise<Response> {
  return reg.at('PATCH', location, {
    body: chunk,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${start + chunk.length - 1}` },
  });
}

/** The path part of an upload Location, with the id captured. */
const SESSION = (name: string) => new RegExp(`^/v2/${name.replace(/\//g, '\\/')}/blobs/uploads/([A-Za-z0-9._~-]+)$`);

describe('uploads: POST /v2/<name>/blobs/uploads/', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(() => reg.close());

  it('POST → 202 with a Location holding the upload id', async () => {
    const res = await reg.req('POST', '/v2/up/a/blobs/uploads/');
    assert.equal(res.status, 202);
    const location = res.headers.get('location') ?? '';
    const id = SESSION('up/a').exec(location)?.[1];
    assert.ok(id, `Location ${location}`);
    assert.equal(res.headers.get('docker-upload-uuid'), id);
    assert.equal(res.headers.get('content-length'), '0');
    assert.equal(res.headers.get('oci-chunk-min-length'), null);
    // two sessions never share an id
    const other = await reg.req('POST', '/v2/up/a/blobs/uploads/');
    assert.notEqual(other.headers.get('location'), location);
  });

  it('a wrong method on the uploads routes → 405 with Allow', async () => {
    const start = await reg.req('GET', '/v2/up/a/blobs/uploads/');
    await assertError(start, 405, 'UNSUPPORTED');
    assert.equal(start.headers.get('allow'), 'POST');
    const location = await reg.startUpload('up/a');
    const session = await reg.at('POST', location);
    await assertError(session, 405, 'UNSUPPORTED');
    const allow = (session.headers.get('allow') ?? '').split(/\s*,\s*/).sort();
    assert.deepEqual(allow, ['DELETE', 'GET', 'PATCH', 'PUT']);
  });

  it('POST without the trailing slash works too', async () => {
    const res = await reg.req('POST', '/v2/up/a/blobs/uploads');
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', SESSION('up/a'));
  });

  it('POST ?digest= with the body → 201, Location, and the blob is readable', async () => {
    const data = Buffer.from('single POST upload');
    const digest = digestOf(data);
    const res = await reg.req('POST', `/v2/up/a/blobs/uploads/?digest=${digest}`, {
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('location'), `/v2/up/a/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const get = await reg.req('GET', `/v2/up/a/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.deepEqual(await bytesOf(get), data);
  });

  it('POST ?digest= with the wrong body → 400 DIGEST_INVALID and nothing stored', async () => {
    const digest = digestOf('what was announced');
    const res = await reg.req('POST', `/v2/up/a/blobs/uploads/?digest=${digest}`, { body: 'something else' });
    await assertError(res, 400, 'DIGEST_INVALID');
    assert.equal((await reg.req('HEAD', `/v2/up/a/blobs/${digest}`)).status, 404);
    assert.equal((await reg.req('HEAD', `/v2/up/a/blobs/${digestOf('something else')}`)).status, 404);
  });

  it('POST ?digest=<malformed> → 400 DIGEST_INVALID', async () => {
    const res = await reg.req('POST', '/v2/up/a/blobs/uploads/?digest=sha256:nothex', { body: 'x' });
    await assertError(res, 400, 'DIGEST_INVALID');
  });
});

describe('uploads: monolithic, streamed and chunked', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(() => reg.close());

  it('POST + PUT ?digest= with the whole body → 201, Location /v2/<name>/blobs/<digest>, Docker-Content-Digest', async () => {
    const location = await reg.startUpload('up/mono');
    const digest = digestOf(WHOLE);
    const res = await reg.at('PUT', withQuery(location, { digest }), {
      body: WHOLE,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/up/mono/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const get = await reg.at('GET', res.headers.get('location') ?? '');
    assert.equal(get.status, 200);
    assert.deepEqual(await bytesOf(get), WHOLE);
    // the session is closed
    await assertError(await reg.at('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('streamed PATCH without Content-Range (chunked transfer encoding), then an empty PUT → 201', async () => {
    const location = await reg.startUpload('up/stream');
    const res = await reg.at('PATCH', location, {
      body: streamed(CHUNK1, CHUNK2),
      duplex: 'half',
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(res.status, 202, await res.clone().text());
    assert.equal(res.headers.get('range'), `0-${WHOLE.length - 1}`);
    assert.match(res.headers.get('location') ?? '', SESSION('up/stream'));
    const digest = digestOf(WHOLE);
    const put = await reg.at('PUT', withQuery(res.headers.get('location') ?? '', { digest }));
    assert.equal(put.status, 201, await put.clone().text());
    assert.equal(put.headers.get('location'), `/v2/up/stream/blobs/${digest}`);
    const get = await reg.req('GET', `/v2/up/stream/blobs/${digest}`);
    assert.deepEqual(await bytesOf(get), WHOLE);
  });

  it('two streamed PATCHes append in order', async () => {
    const location = await reg.startUpload('up/stream');
    for (const [i, chunk] of [CHUNK1, CHUNK2].entries()) {
      const res = await reg.at('PATCH', location, { body: streamed(chunk), duplex: 'half' });
      assert.equal(res.status, 202);
      assert.equal(res.headers.get('range'), `0-${(i === 0 ? CHUNK1.length : WHOLE.length) - 1}`);
    }
    const put = await reg.at('PUT', withQuery(location, { digest: digestOf(WHOLE) }));
    assert.equal(put.status, 201);
  });

  it('chunked PATCH 0-N then N+1-M → 202 with Range 0-<end>, then empty PUT → 201', async () => {
    const location = await reg.startUpload('up/chunked');
    const first = await patch(reg, location, CHUNK1, 0);
    assert.equal(first.status, 202);
    assert.equal(first.headers.get('range'), '0-21');
    assert.equal(first.headers.get('content-length'), '0');
    assert.match(first.headers.get('location') ?? '', SESSION('up/chunked'));
    const second = await patch(reg, first.headers.get('location') ?? '', CHUNK2, 22);
    assert.equal(second.status, 202);
    assert.equal(second.headers.get('range'), `0-${WHOLE.length - 1}`);
    const digest = digestOf(WHOLE);
    const put = await reg.at('PUT', withQuery(second.headers.get('location') ?? '', { digest }));
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/up/chunked/blobs/${digest}`)), WHOLE);
  });

  it('a re-sent chunk → 416 with Range; the POST Location keeps working afterwards', async () => {
    const location = await reg.startUpload('up/chunked');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    const again = await patch(reg, location, CHUNK1, 0);
    assert.equal(again.status, 416);
    assert.equal(again.headers.get('range'), '0-21');
    await again.arrayBuffer();
    // status at the POST's Location
    const status = await reg.at('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-21');
    assert.match(status.headers.get('location') ?? '', SESSION('up/chunked'));
    // resume at the POST's Location
    const next = await patch(reg, location, CHUNK2, 22);
    assert.equal(next.status, 202);
    assert.equal(next.headers.get('range'), `0-${WHOLE.length - 1}`);
    const put = await reg.at('PUT', withQuery(location, { digest: digestOf(WHOLE) }));
    assert.equal(put.status, 201);
    assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/up/chunked/blobs/${digestOf(WHOLE)}`)), WHOLE);
  });

  it('a first chunk not at 0 → 416 with Range, and nothing is appended', async () => {
    const location = await reg.startUpload('up/chunked');
    const res = await patch(reg, location, CHUNK2, 22);
    assert.equal(res.status, 416);
    assert.ok(res.headers.get('range'), 'Range on the 416');
    assert.equal(res.headers.get('range'), '0-0');
    await res.arrayBuffer();
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
  });

  it('a gap between chunks → 416', async () => {
    const location = await reg.startUpload('up/chunked');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    const res = await patch(reg, location, CHUNK2, 30);
    assert.equal(res.status, 416);
    assert.equal(res.headers.get('range'), '0-21');
    await res.arrayBuffer();
  });

  it('status GET → 204 with Range and Location (fresh session: Range 0-0)', async () => {
    const location = await reg.startUpload('up/status');
    const res = await reg.at('GET', location);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('range'), '0-0');
    assert.equal(res.headers.get('location'), location);
  });

  it('PUT carrying the final chunk with Content-Range', async () => {
    const location = await reg.startUpload('up/final');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    const digest = digestOf(WHOLE);
    const put = await reg.at('PUT', withQuery(location, { digest }), {
      body: CHUNK2,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `22-${WHOLE.length - 1}` },
    });
    assert.equal(put.status, 201, await put.clone().text());
    assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/up/final/blobs/${digest}`)), WHOLE);
  });

  it('PUT carrying the final chunk without Content-Range', async () => {
    const location = await reg.startUpload('up/final');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    const data = Buffer.concat([CHUNK1, Buffer.from('tail')]);
    const put = await reg.at('PUT', withQuery(location, { digest: digestOf(data) }), { body: 'tail' });
    assert.equal(put.status, 201);
    assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/up/final/blobs/${digestOf(data)}`)), data);
  });

  it('a PUT whose final chunk is out of order → 416', async () => {
    const location = await reg.startUpload('up/final');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    const put = await reg.at('PUT', withQuery(location, { digest: digestOf(WHOLE) }), {
      body: CHUNK2,
      headers: { 'Content-Range': `30-${30 + CHUNK2.length - 1}` },
    });
    assert.equal(put.status, 416);
    assert.equal(put.headers.get('range'), '0-21');
    await put.arrayBuffer();
  });

  it('a wrong digest on PUT → 400 DIGEST_INVALID; the blob is not visible and the session is gone', async () => {
    const location = await reg.startUpload('up/wrong');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    const claimed = digestOf('something else entirely');
    const put = await reg.at('PUT', withQuery(location, { digest: claimed }), { body: CHUNK2 });
    await assertError(put, 400, 'DIGEST_INVALID');
    assert.equal((await reg.req('HEAD', `/v2/up/wrong/blobs/${claimed}`)).status, 404);
    assert.equal((await reg.req('HEAD', `/v2/up/wrong/blobs/${digestOf(WHOLE)}`)).status, 404);
    await assertError(await reg.at('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await patch(reg, location, CHUNK2, 22), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('a missing digest parameter on PUT → 400 (and the session survives)', async () => {
    const location = await reg.startUpload('up/nodigest');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    const put = await reg.at('PUT', location);
    await assertError(put, 400, 'DIGEST_INVALID');
    const status = await reg.at('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-21');
  });

  it('a repeated digest parameter on PUT → 400', async () => {
    const location = await reg.startUpload('up/nodigest');
    const d = digestOf('x');
    const put = await reg.at('PUT', `${withQuery(location, { digest: d })}&digest=${d}`, { body: 'x' });
    assert.equal(put.status, 400);
    await put.arrayBuffer();
  });

  it('a malformed digest on PUT → 400 DIGEST_INVALID', async () => {
    const location = await reg.startUpload('up/nodigest');
    await assertError(await reg.at('PUT', withQuery(location, { digest: 'sha256:zz' }), { body: 'x' }), 400, 'DIGEST_INVALID');
  });

  it('Content-Length that disagrees with Content-Range → 400 SIZE_INVALID, nothing appended', async () => {
    const location = await reg.startUpload('up/size');
    const res = await reg.raw(
      'PATCH',
      location,
      { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-9', 'Content-Length': '5' },
      Buffer.from('12345'),
    );
    await assertError(res, 400, 'SIZE_INVALID');
    const status = await reg.at('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-0');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
  });

  it('a streamed body shorter than its Content-Range → 400 and the upload keeps its size', async () => {
    const location = await reg.startUpload('up/size');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    const res = await reg.at('PATCH', location, {
      body: streamed('short'),
      duplex: 'half',
      headers: { 'Content-Range': '22-41' },
    });
    assert.equal(res.status, 400);
    const codes = (await res.json()) as { errors: { code: string }[] };
    assert.ok(['SIZE_INVALID', 'BLOB_UPLOAD_INVALID'].includes(codes.errors[0]?.code ?? ''), JSON.stringify(codes));
    const status = await reg.at('GET', location);
    assert.equal(status.headers.get('range'), '0-21');
  });

  it('a streamed body longer than its Content-Range → 400, the upload keeps its size, and the connection stays sane', async () => {
    const location = await reg.startUpload('up/size');
    const x = await pipelined(
      reg.origin,
      `PATCH ${location} HTTP/1.1\nContent-Type: application/octet-stream\nContent-Range: 0-9`,
      [Buffer.from('0123456789'), Buffer.alloc(256 * 1024, 0x61)],
      '/v2/',
    );
    assertConnectionSane(x, 400);
    assert.match(x.received, /"code":"(SIZE_INVALID|BLOB_UPLOAD_INVALID)"/);
    const status = await reg.at('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-0');
  });

  it('(control) a well-formed chunked PATCH keeps the connection usable', async () => {
    const location = await reg.startUpload('up/size');
    const x = await pipelined(
      reg.origin,
      `PATCH ${location} HTTP/1.1\nContent-Type: application/octet-stream\nContent-Range: 0-21`,
      [CHUNK1],
      '/v2/',
    );
    assert.deepEqual(x.statuses, [202, 200]);
  });

  it('a malformed Content-Range → 400 BLOB_UPLOAD_INVALID', async () => {
    const location = await reg.startUpload('up/range');
    for (const bad of ['abc', '5-2', '0-', '-5']) {
      const res = await reg.at('PATCH', location, { body: 'x', headers: { 'Content-Range': bad } });
      await assertError(res, 400, 'BLOB_UPLOAD_INVALID');
    }
  });

  it('an unknown upload id → 404 BLOB_UPLOAD_UNKNOWN on GET, PATCH, PUT and DELETE', async () => {
    const base = '/v2/up/a/blobs/uploads/00000000-0000-4000-8000-000000000000';
    await assertError(await reg.req('GET', base), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await reg.req('PATCH', base, { body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await reg.req('PUT', `${base}?digest=${digestOf('x')}`, { body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await reg.req('DELETE', base), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await reg.req('GET', '/v2/up/a/blobs/uploads/not-an-id!'), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('an upload id used under another repository name → 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await reg.startUpload('up/owner');
    const id = SESSION('up/owner').exec(location)?.[1] ?? '';
    const foreign = `/v2/up/thief/blobs/uploads/${id}`;
    await assertError(await reg.req('GET', foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await patch(reg, foreign, CHUNK1, 0), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await reg.req('PUT', `${foreign}?digest=${digestOf(CHUNK1)}`, { body: CHUNK1 }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await reg.req('DELETE', foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    // the owner's session is untouched
    const status = await reg.at('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-0');
    assert.equal((await reg.req('HEAD', `/v2/up/thief/blobs/${digestOf(CHUNK1)}`)).status, 404);
  });

  it('DELETE <location> → 204, then 404', async () => {
    const location = await reg.startUpload('up/cancel');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    const del = await reg.at('DELETE', location);
    assert.equal(del.status, 204);
    await assertError(await reg.at('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await reg.at('DELETE', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await reg.at('PUT', withQuery(location, { digest: digestOf(CHUNK1) })), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await reg.req('HEAD', `/v2/up/cancel/blobs/${digestOf(CHUNK1)}`)).status, 404);
  });

  it('the zero-byte blob (sha256 of nothing) works: POST + empty PUT', async () => {
    const location = await reg.startUpload('up/empty');
    const put = await reg.at('PUT', withQuery(location, { digest: EMPTY_SHA256 }));
    assert.equal(put.status, 201, await put.clone().text());
    assert.equal(put.headers.get('location'), `/v2/up/empty/blobs/${EMPTY_SHA256}`);
    const head = await reg.req('HEAD', `/v2/up/empty/blobs/${EMPTY_SHA256}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '0');
    const get = await reg.req('GET', `/v2/up/empty/blobs/${EMPTY_SHA256}`);
    assert.equal(get.status, 200);
    assert.equal((await bytesOf(get)).length, 0);
  });

  it('the zero-byte blob via a single POST ?digest=', async () => {
    const res = await reg.req('POST', `/v2/up/empty2/blobs/uploads/?digest=${EMPTY_SHA256}`);
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal((await reg.req('HEAD', `/v2/up/empty2/blobs/${EMPTY_SHA256}`)).status, 200);
  });

  it('sha512: chunked PATCHes closed with a sha512 digest', async () => {
    const location = await reg.startUpload('up/sha512');
    assert.equal((await patch(reg, location, CHUNK1, 0)).status, 202);
    assert.equal((await patch(reg, location, CHUNK2, 22)).status, 202);
    const digest = digestOf(WHOLE, 'sha512');
    const put = await reg.at('PUT', withQuery(location, { digest }));
    assert.equal(put.status, 201, await put.clone().text());
    assert.equal(put.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/up/sha512/blobs/${digest}`)), WHOLE);
  });

  it('sha512: single POST ?digest=sha512:…', async () => {
    const data = Buffer.from('posted with sha512');
    const digest = digestOf(data, 'sha512');
    const res = await reg.req('POST', `/v2/up/sha512/blobs/uploads/?digest=${digest}`, { body: data });
    assert.equal(res.status, 201);
    assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/up/sha512/blobs/${digest}`)), data);
  });

  it('pushing a blob that already exists elsewhere is idempotent', async () => {
    const d1 = await reg.pushBlob('up/dup1', 'dup content');
    const d2 = await reg.pushBlob('up/dup2', 'dup content');
    assert.equal(d1, d2);
    const again = await reg.pushBlob('up/dup1', 'dup content');
    assert.equal(again, d1);
    assert.equal(await (await reg.req('GET', `/v2/up/dup2/blobs/${d1}`)).text(), 'dup content');
  });
});

describe('uploads: cross-repository mount (end-11)', () => {
  let reg: TestRegistry;
  let blob: string;
  before(async () => {
    reg = await startRegistry();
    blob = await reg.pushBlob('mnt/source', 'mountable layer');
  });
  after(() => reg.close());

  it('?mount=<d>&from=<repo> → 201 + Location /v2/<target>/blobs/<d> and the blob is readable in the target', async () => {
    const res = await reg.req('POST', `/v2/mnt/target/blobs/uploads/?mount=${blob}&from=mnt/source`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/mnt/target/blobs/${blob}`);
    assert.equal(res.headers.get('docker-content-digest'), blob);
    const get = await reg.req('GET', `/v2/mnt/target/blobs/${blob}`);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), 'mountable layer');
  });

  it('an unknown digest → 202 + a working session Location', async () => {
    const unknown = digestOf('not there');
    const res = await reg.req('POST', `/v2/mnt/target2/blobs/uploads/?mount=${unknown}&from=mnt/source`);
    assert.equal(res.status, 202);
    const location = res.headers.get('location') ?? '';
    assert.match(location, SESSION('mnt/target2'));
    const put = await reg.at('PUT', withQuery(location, { digest: unknown }), { body: 'not there' });
    assert.equal(put.status, 201);
  });

  it('`from` that does not hold the blob → 202 (even if another repository does)', async () => {
    const res = await reg.req('POST', `/v2/mnt/target3/blobs/uploads/?mount=${blob}&from=mnt/empty`);
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', SESSION('mnt/target3'));
    assert.equal((await reg.req('HEAD', `/v2/mnt/target3/blobs/${blob}`)).status, 404);
  });

  it('an invalid `from` name → 202', async () => {
    const res = await reg.req('POST', `/v2/mnt/target4/blobs/uploads/?mount=${blob}&from=Mnt/Source`);
    assert.equal(res.status, 202);
  });

  it('automatic mount without `from` → 201 when another repository holds the blob', async () => {
    const res = await reg.req('POST', `/v2/mnt/auto/blobs/uploads/?mount=${blob}`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/mnt/auto/blobs/${blob}`);
    assert.equal((await reg.req('HEAD', `/v2/mnt/auto/blobs/${blob}`)).status, 200);
  });

  it('automatic mount of an unknown digest → 202', async () => {
    const res = await reg.req('POST', `/v2/mnt/auto/blobs/uploads/?mount=${digestOf('nowhere')}`);
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', SESSION('mnt/auto'));
  });

  it('sha512 blobs mount too', async () => {
    const d = await reg.pushBlob('mnt/source', 'sha512 mountable', 'sha512');
    const res = await reg.req('POST', `/v2/mnt/t512/blobs/uploads/?mount=${d}&from=mnt/source`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/mnt/t512/blobs/${d}`);
  });
});

describe('uploads: mount with automaticMount: false', () => {
  let reg: TestRegistry;
  let blob: string;
  before(async () => {
    reg = await startRegistry({ automaticMount: false });
    blob = await reg.pushBlob('nomnt/source', 'layer');
  });
  after(() => reg.close());

  it('mount without `from` → 202 and no link', async () => {
    const res = await reg.req('POST', `/v2/nomnt/target/blobs/uploads/?mount=${blob}`);
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', SESSION('nomnt/target'));
    assert.equal((await reg.req('HEAD', `/v2/nomnt/target/blobs/${blob}`)).status, 404);
  });

  it('an explicit `from` still mounts → 201', async () => {
    const res = await reg.req('POST', `/v2/nomnt/target/blobs/uploads/?mount=${blob}&from=nomnt/source`);
    assert.equal(res.status, 201);
  });
});

describe('uploads: mount from a repository the caller may not pull', () => {
  let reg: TestRegistry;
  let blob: string;
  before(async () => {
    reg = await startRegistry({ authorize: (_req, accesses) => ({ allowed: accesses.map((a) => !('repository' in a) || a.repository !== 'hidden/source') }) });
    const pusher = await startRegistry({ storage: reg.registry.storage });
    blob = await pusher.pushBlob('hidden/source', 'hidden layer');
    await pusher.close();
  });
  after(() => reg.close());

  it('?mount&from=<unpullable> → 202 and the blob is not linked', async () => {
    const res = await reg.req('POST', `/v2/vis/target/blobs/uploads/?mount=${blob}&from=hidden/source`);
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', SESSION('vis/target'));
    assert.equal((await reg.req('HEAD', `/v2/vis/target/blobs/${blob}`)).status, 404);
  });

  it('automatic mount skips the unpullable repository → 202', async () => {
    const res = await reg.req('POST', `/v2/vis/target/blobs/uploads/?mount=${blob}`);
    assert.equal(res.status, 202);
  });
});
