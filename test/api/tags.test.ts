import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, OCI_MANIFEST, type TestRegistry, startRegistry } from './helpers.js';

interface TagList {
  name: string;
  tags: string[];
}

describe('tags: GET /v2/<name>/tags/list', () => {
  let reg: TestRegistry;
  // deliberately pushed out of order; byte order puts uppercase and digits first
  const pushed = ['v2', 'latest', 'v10', '1.0', 'Beta', 'v1', 'alpha', '_x', 'v1.1'];
  const sorted = [...pushed].sort();
  before(async () => {
    reg = await startRegistry();
    const image = await reg.pushImage('tg/repo', { tag: 'seed' });
    await reg.req('DELETE', '/v2/tg/repo/manifests/seed');
    for (const tag of pushed) {
      const res = await reg.putManifest('tg/repo', tag, image.body, OCI_MANIFEST);
      assert.equal(res.status, 201);
    }
  });
  after(() => reg.close());

  it('lists every tag, sorted (byte order), as application/json', async () => {
    const res = await reg.req('GET', '/v2/tg/repo/tags/list');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('link'), null);
    const body = (await res.json()) as TagList;
    assert.deepEqual(body, { name: 'tg/repo', tags: sorted });
    assert.deepEqual(sorted.slice(0, 3), ['1.0', 'Beta', '_x']);
  });

  it('n → exactly n tags and a Link to the next page', async () => {
    const res = await reg.req('GET', '/v2/tg/repo/tags/list?n=4');
    assert.equal(res.status, 200);
    const body = (await res.json()) as TagList;
    assert.deepEqual(body.tags, sorted.slice(0, 4));
    assert.equal(res.headers.get('link'), `</v2/tg/repo/tags/list?n=4&last=${sorted[3]}>; rel="next"`);
  });

  it('following Link pages through all tags exactly once', async () => {
    const seen: string[] = [];
    let path: string | undefined = '/v2/tg/repo/tags/list?n=2';
    let pages = 0;
    while (path !== undefined) {
      const res = await reg.req('GET', path);
      assert.equal(res.status, 200, path);
      const body = (await res.json()) as TagList;
      assert.ok(body.tags.length <= 2);
      seen.push(...body.tags);
      const link = res.headers.get('link');
      path = link === null ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
      if (link !== null) assert.ok(path, `Link: ${link}`);
      assert.ok(++pages <= 10, 'too many pages');
    }
    assert.deepEqual(seen, sorted);
    assert.equal(pages, Math.ceil(sorted.length / 2));
  });

  it('n equal to the number of tags → all of them and no Link', async () => {
    const res = await reg.req('GET', `/v2/tg/repo/tags/list?n=${sorted.length}`);
    assert.deepEqual(((await res.json()) as TagList).tags, sorted);
    assert.equal(res.headers.get('link'), null);
  });

  it('n larger than the number of tags → all of them and no Link', async () => {
    const res = await reg.req('GET', '/v2/tg/repo/tags/list?n=1000');
    assert.deepEqual(((await res.json()) as TagList).tags, sorted);
    assert.equal(res.headers.get('link'), null);
  });

  it('n=0 → an empty list and no Link', async () => {
    const res = await reg.req('GET', '/v2/tg/repo/tags/list?n=0');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: 'tg/repo', tags: [] });
    assert.equal(res.headers.get('link'), null);
  });

  it('last → strictly after that tag', async () => {
    const res = await reg.req('GET', '/v2/tg/repo/tags/list?last=v1');
    assert.deepEqual(((await res.json()) as TagList).tags, sorted.filter((t) => t > 'v1'));
  });

  it('last that is not a tag → the tags sorting after it', async () => {
    const res = await reg.req('GET', '/v2/tg/repo/tags/list?last=m');
    assert.deepEqual(((await res.json()) as TagList).tags, sorted.filter((t) => t > 'm'));
  });

  it('n + last → n tags after last, with a Link when more remain', async () => {
    const res = await reg.req('GET', '/v2/tg/repo/tags/list?n=2&last=alpha');
    const tags = sorted.filter((t) => t > 'alpha');
    assert.deepEqual(((await res.json()) as TagList).tags, tags.slice(0, 2));
    assert.equal(res.headers.get('link'), `</v2/tg/repo/tags/list?n=2&last=${tags[1]}>; rel="next"`);
  });

  it('last after every tag → empty list', async () => {
    const res = await reg.req('GET', '/v2/tg/repo/tags/list?n=5&last=zzz');
    assert.deepEqual(((await res.json()) as TagList).tags, []);
    assert.equal(res.headers.get('link'), null);
  });

  it('invalid n → 400', async () => {
    for (const n of ['abc', '-1', '1.5', '1e3']) {
      const res = await reg.req('GET', `/v2/tg/repo/tags/list?n=${n}`);
      assert.equal(res.status, 400, `n=${n}`);
      await assertError(res, 400);
    }
  });

  it('unknown repository → 404 NAME_UNKNOWN', async () => {
    await assertError(await reg.req('GET', '/v2/tg/nothing/tags/list'), 404, 'NAME_UNKNOWN');
  });

  it('a repository with blobs but no tags → 200 and an empty list', async () => {
    await reg.pushBlob('tg/blobonly', 'x');
    const res = await reg.req('GET', '/v2/tg/blobonly/tags/list');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: 'tg/blobonly', tags: [] });
  });
});

describe('tags: Link with publicPath', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ publicPath: '/public' });
    // pushed through a second registry on the same store: Locations of `reg` point at /public
    const pusher = await startRegistry({ storage: reg.registry.storage });
    for (const tag of ['a', 'b', 'c']) await pusher.pushImage('tp/repo', { tag, seed: tag });
    await pusher.close();
  });
  after(() => reg.close());

  it('Link starts with publicPath', async () => {
    const res = await reg.req('GET', '/v2/tp/repo/tags/list?n=1');
    assert.equal(res.headers.get('link'), '</public/v2/tp/repo/tags/list?n=1&last=a>; rel="next"');
    await res.arrayBuffer();
  });
});
