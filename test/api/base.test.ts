import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, errorsOf, type TestRegistry, startRegistry } from './helpers.js';

describe('base: GET /v2/', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(() => reg.close());

  it('GET /v2/ → 200 with Docker-Distribution-API-Version', async () => {
    const res = await reg.req('GET', '/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    await res.arrayBuffer();
  });

  it('GET /v2 (no trailing slash) → 200', async () => {
    const res = await reg.req('GET', '/v2');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    await res.arrayBuffer();
  });

  it('HEAD /v2/ → 200 without a body', async () => {
    const res = await reg.req('HEAD', '/v2/');
    assert.equal(res.status, 200);
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  it('an unknown /v2 path → 404 with a JSON error envelope', async () => {
    const res = await reg.req('GET', '/v2/foo/bar/baz');
    const errors = await assertError(res, 404);
    assert.ok(errors.length >= 1);
    const res2 = await reg.req('GET', '/v2/foo/blobs');
    await assertError(res2, 404);
  });

  it('a wrong method → 405 with Allow', async () => {
    const res = await reg.req('POST', '/v2/');
    await assertError(res, 405, 'UNSUPPORTED');
    const allow = res.headers.get('allow') ?? '';
    assert.deepEqual(allow.split(/\s*,\s*/).sort(), ['GET', 'HEAD']);

    const tags = await reg.req('PUT', '/v2/repo/tags/list');
    await assertError(tags, 405, 'UNSUPPORTED');
    assert.match(tags.headers.get('allow') ?? '', /\bGET\b/);

    const blob = await reg.req('PUT', `/v2/repo/blobs/sha256:${'a'.repeat(64)}`);
    await assertError(blob, 405);
    const allowBlob = (blob.headers.get('allow') ?? '').split(/\s*,\s*/);
    for (const m of ['GET', 'HEAD', 'DELETE']) assert.ok(allowBlob.includes(m), allowBlob.join());
  });

  it('paths outside /v2 fall through to the host app', async () => {
    const res = await reg.req('GET', '/hello');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello from the host app');
    assert.equal(res.headers.get('docker-distribution-api-version'), null);

    // /v2x is not /v2: the host's 404, not a registry envelope
    const other = await reg.req('GET', '/v2x/foo');
    assert.equal(other.status, 404);
    assert.notEqual(other.headers.get('content-type'), 'application/json');
    assert.equal(other.headers.get('docker-distribution-api-version'), null);
    await other.arrayBuffer();
  });
});

describe('catalog: GET /v2/_catalog', () => {
  let reg: TestRegistry;
  const names = ['cat/a', 'cat/b', 'cat/c', 'cat/d', 'cat/e'];
  before(async () => {
    reg = await startRegistry();
    // push in non-sorted order
    for (const name of [...names].reverse()) await reg.pushImage(name, { tag: 'latest' });
  });
  after(() => reg.close());

  it('lists every repository holding a manifest, sorted', async () => {
    const res = await reg.req('GET', '/v2/_catalog');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('link'), null);
    const body = (await res.json()) as { repositories: string[] };
    assert.deepEqual(body.repositories, names);
  });

  it('a repository is known from its first blob until deleted: catalog, tags list and blobs agree', async () => {
    const own = await startRegistry();
    try {
      const blob = await own.pushBlob('cat/blobonly', 'just a blob');
      const list = async () => ((await (await own.req('GET', '/v2/_catalog')).json()) as { repositories: string[] }).repositories;
      assert.deepEqual(await list(), ['cat/blobonly']);
      assert.deepEqual(await (await own.req('GET', '/v2/cat/blobonly/tags/list')).json(), { name: 'cat/blobonly', tags: [] });
      const image = await own.pushImage('cat/blobonly', { tag: 'v1' });
      assert.equal((await own.req('DELETE', `/v2/cat/blobonly/manifests/${image.digest}`)).status, 202);
      assert.equal((await own.req('DELETE', `/v2/cat/blobonly/blobs/${blob}`)).status, 202);
      // its last manifest and blob are gone, but the repository is still one record everywhere
      assert.deepEqual(await list(), ['cat/blobonly']);
      assert.deepEqual(await (await own.req('GET', '/v2/cat/blobonly/tags/list')).json(), { name: 'cat/blobonly', tags: [] });
      await assertError(await own.req('GET', '/v2/cat/never/tags/list'), 404, 'NAME_UNKNOWN');
    } finally {
      await own.close();
    }
  });

  it('n → exactly n entries and a Link to the next page', async () => {
    const res = await reg.req('GET', '/v2/_catalog?n=2');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { repositories: string[] };
    assert.deepEqual(body.repositories, ['cat/a', 'cat/b']);
    assert.equal(res.headers.get('link'), `</v2/_catalog?n=2&last=${encodeURIComponent('cat/b')}>; rel="next"`);
  });

  it('following Link pages through every repository', async () => {
    const seen: string[] = [];
    let path: string | undefined = '/v2/_catalog?n=2';
    let pages = 0;
    while (path !== undefined) {
      const res = await reg.req('GET', path);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { repositories: string[] };
      seen.push(...body.repositories);
      const link = res.headers.get('link');
      path = link ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
      if (link) assert.ok(path, `Link: ${link}`);
      assert.ok(++pages <= 5, 'too many pages');
    }
    assert.deepEqual(seen, names);
    assert.equal(pages, 3);
  });

  it('last → strictly after that name', async () => {
    const res = await reg.req('GET', `/v2/_catalog?last=${encodeURIComponent('cat/c')}`);
    const body = (await res.json()) as { repositories: string[] };
    assert.deepEqual(body.repositories, ['cat/d', 'cat/e']);
  });

  it('n=0 → empty list and no Link', async () => {
    const res = await reg.req('GET', '/v2/_catalog?n=0');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('link'), null);
    assert.deepEqual(((await res.json()) as { repositories: string[] }).repositories, []);
  });

  it('invalid n → 400', async () => {
    const res = await reg.req('GET', '/v2/_catalog?n=abc');
    assert.equal(res.status, 400);
    await errorsOf(res);
  });
});
