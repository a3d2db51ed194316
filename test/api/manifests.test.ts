import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertConnectionSane,
  assertError,
  bytesOf,
  descriptor,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  digestOf,
  headerLines,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  pipelined,
  type TestRegistry,
  startRegistry,
} from './helpers.js';

/** Asserts a GET (body) and a HEAD (no body) of `ref` serve exactly `bytes` as `mediaType`. */
async function assertServed(reg: TestRegistry, name: string, ref: string, bytes: Buffer, mediaType: string): Promise<void> {
  const digest = digestOf(bytes);
  const get = await reg.req('GET', `/v2/${name}/manifests/${ref}`);
  assert.equal(get.status, 200, `GET ${name}:${ref}`);
  assert.equal(get.headers.get('content-type'), mediaType);
  assert.equal(get.headers.get('content-length'), String(bytes.length));
  assert.equal(get.headers.get('docker-content-digest'), digest);
  assert.deepEqual(await bytesOf(get), bytes);
  const head = await reg.raw('HEAD', `/v2/${name}/manifests/${ref}`);
  assert.equal(head.status, 200, `HEAD ${name}:${ref}`);
  assert.equal(head.headers['content-type'], mediaType);
  assert.equal(head.headers['content-length'], String(bytes.length));
  assert.equal(head.headers['docker-content-digest'], digest);
  assert.equal(head.body.length, 0);
}

describe('manifests: push and pull of the four media types', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(() => reg.close());

  for (const mediaType of [OCI_MANIFEST, DOCKER_MANIFEST]) {
    for (const by of ['tag', 'digest'] as const) {
      it(`${mediaType} by ${by}: 201 + Location + Docker-Content-Digest; GET/HEAD serve the exact bytes`, async () => {
        const name = `mf/image-${by}`;
        const image = await reg.pushImage(name, { mediaType, ...(by === 'tag' && { tag: `t-${mediaType.length}` }) });
        const { res, digest, body } = image;
        assert.equal(res.headers.get('location'), `/v2/${name}/manifests/${digest}`);
        assert.equal(res.headers.get('docker-content-digest'), digest);
        assert.equal(res.headers.get('oci-subject'), null);
        if (by === 'tag') await assertServed(reg, name, `t-${mediaType.length}`, body, mediaType);
        await assertServed(reg, name, digest, body, mediaType);
      });
    }
  }

  for (const [indexType, childType] of [
    [OCI_INDEX, OCI_MANIFEST],
    [DOCKER_LIST, DOCKER_MANIFEST],
  ] as const) {
    for (const by of ['tag', 'digest'] as const) {
      it(`${indexType} by ${by}: 201 + Location + Docker-Content-Digest; GET/HEAD serve the exact bytes`, async () => {
        const name = `mf/index-${by}`;
        const amd = await reg.pushImage(name, { mediaType: childType });
        const arm = await reg.pushImage(name, { mediaType: childType });
        const index = Buffer.from(
          JSON.stringify(
            {
              schemaVersion: 2,
              mediaType: indexType,
              manifests: [
                { ...amd.descriptor, platform: { architecture: 'amd64', os: 'linux' } },
                { ...arm.descriptor, platform: { architecture: 'arm64', os: 'linux' } },
              ],
            },
            null,
            2,
          ),
        );
        const digest = digestOf(index);
        const ref = by === 'tag' ? 'multi' : digest;
        const res = await reg.putManifest(name, ref, index, indexType);
        assert.equal(res.status, 201, await res.clone().text());
        assert.equal(res.headers.get('location'), `/v2/${name}/manifests/${digest}`);
        assert.equal(res.headers.get('docker-content-digest'), digest);
        await assertServed(reg, name, ref, index, indexType);
        if (by === 'tag') await assertServed(reg, name, digest, index, indexType);
      });
    }
  }

  it('whitespace and key order are kept byte for byte', async () => {
    const config = await reg.pushBlob('mf/bytes', '{}');
    const text = `{\n   "layers" : [ ],\r\n\t"config": {"size": 2, "digest": "${config}", "mediaType": "${OCI_CONFIG}"},\n"schemaVersion":2  }\n\n`;
    const bytes = Buffer.from(text);
    const res = await reg.putManifest('mf/bytes', 'spaced', bytes, OCI_MANIFEST);
    assert.equal(res.status, 201, await res.clone().text());
    await assertServed(reg, 'mf/bytes', 'spaced', bytes, OCI_MANIFEST);
  });

  it('a manifest pushed by sha512 digest is stored under that digest', async () => {
    const image = await reg.pushImage('mf/sha512', { tag: 'x' });
    const d512 = digestOf(image.body, 'sha512');
    const res = await reg.putManifest('mf/sha512', d512, image.body);
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('docker-content-digest'), d512);
    assert.equal(res.headers.get('location'), `/v2/mf/sha512/manifests/${d512}`);
    const get = await reg.req('GET', `/v2/mf/sha512/manifests/${d512}`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('docker-content-digest'), d512);
    assert.deepEqual(await bytesOf(get), image.body);
  });

  it('Content-Type parameters are ignored on PUT and never served back', async () => {
    const image = await reg.pushImage('mf/params', { tag: 'plain' });
    const res = await reg.putManifest('mf/params', 'charset', image.body, `${OCI_MANIFEST}; charset=utf-8`);
    assert.equal(res.status, 201, await res.clone().text());
    await assertServed(reg, 'mf/params', 'charset', image.body, OCI_MANIFEST);
  });

  it('without Content-Type (or as application/json) the body mediaType is used', async () => {
    const image = await reg.pushImage('mf/notype', { tag: 'v1' });
    const none = await reg.putManifest('mf/notype', 'none', image.body, undefined);
    assert.equal(none.status, 201, await none.clone().text());
    await assertServed(reg, 'mf/notype', 'none', image.body, OCI_MANIFEST);
    const json = await reg.putManifest('mf/notype', 'json', image.body, 'application/json');
    assert.equal(json.status, 201, await json.clone().text());
    await assertServed(reg, 'mf/notype', 'json', image.body, OCI_MANIFEST);
  });

  it('a manifest is scoped to its repository', async () => {
    const image = await reg.pushImage('mf/scope-a', { tag: 'v1' });
    await assertError(await reg.req('GET', `/v2/mf/scope-b/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await reg.req('HEAD', `/v2/mf/scope-b/manifests/v1`)).status, 404);
  });

  it('re-pushing a tag moves it; re-pushing the same bytes is idempotent', async () => {
    const a = await reg.pushImage('mf/move', { tag: 'latest' });
    const b = await reg.pushImage('mf/move', { tag: 'latest' });
    assert.notEqual(a.digest, b.digest);
    const get = await reg.req('HEAD', '/v2/mf/move/manifests/latest');
    assert.equal(get.headers.get('docker-content-digest'), b.digest);
    assert.equal((await reg.req('HEAD', `/v2/mf/move/manifests/${a.digest}`)).status, 200);
    const again = await reg.putManifest('mf/move', 'latest', b.body);
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('docker-content-digest'), b.digest);
  });

  it('the stored type is served whatever Accept says', async () => {
    const image = await reg.pushImage('mf/accept', { tag: 'v1' });
    for (const accept of [DOCKER_MANIFEST, '*/*', `${DOCKER_MANIFEST}, ${DOCKER_LIST}`]) {
      const res = await reg.req('GET', '/v2/mf/accept/manifests/v1', { headers: { Accept: accept } });
      assert.equal(res.status, 200, accept);
      assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
      assert.deepEqual(await bytesOf(res), image.body);
    }
  });

  it('If-None-Match with the ETag → 304', async () => {
    const image = await reg.pushImage('mf/etag', { tag: 'v1' });
    const first = await reg.req('GET', '/v2/mf/etag/manifests/v1');
    const etag = first.headers.get('etag');
    assert.ok(etag, 'ETag on manifest GET');
    await first.arrayBuffer();
    const res = await reg.req('GET', '/v2/mf/etag/manifests/v1', { headers: { 'If-None-Match': etag } });
    assert.equal(res.status, 304);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    const other = await reg.req('GET', '/v2/mf/etag/manifests/v1', { headers: { 'If-None-Match': '"sha256:other"' } });
    assert.equal(other.status, 200);
    assert.deepEqual(await bytesOf(other), image.body);
  });
});

describe('manifests: validation on PUT', () => {
  let reg: TestRegistry;
  let config: string;
  let layer: string;
  before(async () => {
    reg = await startRegistry({ maxManifestBytes: 4 * 1024 * 1024 });
    config = await reg.pushBlob('val/repo', '{"a":1}');
    layer = await reg.pushBlob('val/repo', 'layer bytes');
  });
  after(() => reg.close());

  const good = () => ({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(OCI_CONFIG, '{"a":1}'),
    layers: [descriptor(OCI_LAYER, 'layer bytes')],
  });

  it('the fixture manifest is valid', async () => {
    assert.equal(config, digestOf('{"a":1}'));
    assert.equal(layer, digestOf('layer bytes'));
    const res = await reg.putManifest('val/repo', 'good', good());
    assert.equal(res.status, 201, await res.clone().text());
  });

  it('schema 1 Content-Type → 400 MANIFEST_INVALID', async () => {
    const body = { schemaVersion: 1, name: 'val/repo', tag: 'v1', architecture: 'amd64', fsLayers: [], history: [] };
    for (const type of ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws']) {
      await assertError(await reg.putManifest('val/repo', 'schema1', body, type), 400, 'MANIFEST_INVALID');
    }
  });

  it('schemaVersion 1 under an OCI Content-Type → 400 MANIFEST_INVALID', async () => {
    await assertError(await reg.putManifest('val/repo', 'schema1', { ...good(), schemaVersion: 1 }), 400, 'MANIFEST_INVALID');
    assert.equal((await reg.req('HEAD', '/v2/val/repo/manifests/schema1')).status, 404);
  });

  it('more than 4 MiB → 413', async () => {
    const big = { ...good(), annotations: { pad: 'x'.repeat(4 * 1024 * 1024) } };
    const res = await reg.putManifest('val/repo', 'big', big);
    assert.equal(res.status, 413);
    await res.arrayBuffer();
    assert.equal((await reg.req('HEAD', '/v2/val/repo/manifests/big')).status, 404);
  });

  it('exactly 4 MiB is accepted', async () => {
    const base = Buffer.from(JSON.stringify({ ...good(), annotations: { pad: '' } }));
    const exact = Buffer.from(JSON.stringify({ ...good(), annotations: { pad: 'x'.repeat(4 * 1024 * 1024 - base.length) } }));
    assert.equal(exact.length, 4 * 1024 * 1024);
    const res = await reg.putManifest('val/repo', 'exact', exact);
    assert.equal(res.status, 201, (await res.clone().text()).slice(0, 200));
  });

  it('more than 4 MiB sent without Content-Length (streamed) → 413, and the connection stays sane', async () => {
    // one raw keep-alive connection: the oversized chunked PUT, then a pipelined GET /v2/
    const x = await pipelined(
      reg.origin,
      `PUT /v2/val/repo/manifests/streamedbig HTTP/1.1\nContent-Type: ${OCI_MANIFEST}`,
      [Buffer.from(JSON.stringify(good())), ...Array.from({ length: 5 }, () => Buffer.alloc(1024 * 1024, 0x20))],
      '/v2/',
    );
    assertConnectionSane(x, 413);
    assert.equal((await reg.req('HEAD', '/v2/val/repo/manifests/streamedbig')).status, 404);
  });

  it('missing config and layers → 400 with one MANIFEST_BLOB_UNKNOWN per missing digest', async () => {
    const missingConfig = descriptor(OCI_CONFIG, 'no such config');
    const missing1 = descriptor(OCI_LAYER, 'no such layer 1');
    const missing2 = descriptor(OCI_LAYER, 'no such layer 2');
    const body = { ...good(), config: missingConfig, layers: [missing1, descriptor(OCI_LAYER, 'layer bytes'), missing2] };
    const errors = await assertError(await reg.putManifest('val/repo', 'missing', body), 400, 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(errors.length, 3, JSON.stringify(errors));
    for (const e of errors) assert.equal(e.code, 'MANIFEST_BLOB_UNKNOWN');
    const details = JSON.stringify(errors.map((e) => e.detail));
    for (const d of [missingConfig, missing1, missing2]) assert.ok(details.includes(d.digest), `${d.digest} in ${details}`);
    assert.ok(!details.includes(layer), 'the present layer is not reported');
    assert.equal((await reg.req('HEAD', '/v2/val/repo/manifests/missing')).status, 404);
  });

  it('a blob present only in another repository counts as missing', async () => {
    await reg.pushBlob('val/other', 'elsewhere');
    const body = { ...good(), layers: [descriptor(OCI_LAYER, 'elsewhere')] };
    const errors = await assertError(await reg.putManifest('val/repo', 'elsewhere', body), 400, 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(errors.length, 1);
  });

  it('an index with a missing child → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const present = await reg.pushManifest('val/repo', 'child', good());
    const missing = { mediaType: OCI_MANIFEST, digest: digestOf('no such manifest'), size: 16 };
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [present.descriptor, missing] };
    const errors = await assertError(await reg.putManifest('val/repo', 'idx', index, OCI_INDEX), 400, 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(errors.length, 1);
    assert.ok(JSON.stringify(errors[0]?.detail).includes(missing.digest));
  });

  it('an index whose child is a blob (not a manifest) → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: layer, size: 11 }] };
    await assertError(await reg.putManifest('val/repo', 'idx2', index, OCI_INDEX), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('a `subject` pointing at nothing is accepted and answered with OCI-Subject', async () => {
    const subject = { mediaType: OCI_MANIFEST, digest: digestOf('never pushed subject'), size: 123 };
    const res = await reg.putManifest('val/repo', 'withsubject', { ...good(), subject });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('oci-subject'), subject.digest);
  });

  it('an index with a `subject` gets OCI-Subject too', async () => {
    const child = await reg.pushManifest('val/repo', 'child2', { ...good(), annotations: { n: '2' } });
    const subject = { mediaType: OCI_MANIFEST, digest: digestOf('another absent subject'), size: 9 };
    const res = await reg.putManifest('val/repo', 'idxsubject', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child.descriptor], subject }, OCI_INDEX);
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('oci-subject'), subject.digest);
  });

  it('unknown fields, nulls and a base64 data field are tolerated', async () => {
    const body = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      newUnspecifiedField: null,
      artifactType: null,
      config: { ...descriptor(OCI_CONFIG, '{"a":1}'), newUnspecifiedField: null, data: Buffer.from('{"a":1}').toString('base64'), annotations: null },
      layers: [{ ...descriptor(OCI_LAYER, 'layer bytes'), newUnspecifiedField: 'c29tZSBkYXRh', platform: null, urls: null }],
      annotations: { 'org.example.key': 'value', 'org.example.null': null },
      subject: null,
      extra: { nested: [1, null, { x: null }] },
    };
    const bytes = Buffer.from(JSON.stringify(body));
    const res = await reg.putManifest('val/repo', 'tolerant', bytes);
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('oci-subject'), null);
    await assertServed(reg, 'val/repo', 'tolerant', bytes, OCI_MANIFEST);
  });

  it('a manifest without mediaType and with no layers is accepted', async () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, config: descriptor(OCI_CONFIG, '{"a":1}'), layers: [] }));
    const res = await reg.putManifest('val/repo', 'emptylayer', bytes);
    assert.equal(res.status, 201, await res.clone().text());
    await assertServed(reg, 'val/repo', 'emptylayer', bytes, OCI_MANIFEST);
  });

  it('non-distributable layers need no blob', async () => {
    const body = {
      ...good(),
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: digestOf('foreign 1'), size: 9 },
        { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: digestOf('foreign 2'), size: 9, urls: ['https://example.com/l'] },
      ],
    };
    const res = await reg.putManifest('val/repo', 'foreign', body);
    assert.equal(res.status, 201, await res.clone().text());
  });

  it('body mediaType different from Content-Type → 400 MANIFEST_INVALID', async () => {
    await assertError(await reg.putManifest('val/repo', 'mismatch', good(), DOCKER_MANIFEST), 400, 'MANIFEST_INVALID');
    await assertError(await reg.putManifest('val/repo', 'mismatch', { ...good(), mediaType: OCI_INDEX }, OCI_MANIFEST), 400, 'MANIFEST_INVALID');
    assert.equal((await reg.req('HEAD', '/v2/val/repo/manifests/mismatch')).status, 404);
  });

  it('invalid JSON → 400 MANIFEST_INVALID', async () => {
    for (const bytes of ['{"schemaVersion": 2,', 'not json', '', '[1,2]', '"a string"']) {
      await assertError(await reg.putManifest('val/repo', 'broken', bytes), 400, 'MANIFEST_INVALID');
    }
  });

  it('a shape error → 400 MANIFEST_INVALID (no config, bad digest, negative size, index without manifests)', async () => {
    const { config: _c, ...noConfig } = good();
    await assertError(await reg.putManifest('val/repo', 'shape', noConfig), 400, 'MANIFEST_INVALID');
    await assertError(await reg.putManifest('val/repo', 'shape', { ...good(), layers: [{ mediaType: OCI_LAYER, digest: 'sha256:xyz', size: 1 }] }), 400, 'MANIFEST_INVALID');
    await assertError(await reg.putManifest('val/repo', 'shape', { ...good(), config: { ...good().config, size: -1 } }), 400, 'MANIFEST_INVALID');
    await assertError(await reg.putManifest('val/repo', 'shape', { schemaVersion: 2, mediaType: OCI_INDEX }, OCI_INDEX), 400, 'MANIFEST_INVALID');
  });

  it('an unsupported media type → 400', async () => {
    const res = await reg.putManifest('val/repo', 'weird', { ...good(), mediaType: undefined }, 'text/plain');
    assert.equal(res.status, 400);
    await res.arrayBuffer();
  });

  it('PUT by digest whose bytes hash differently → 400 DIGEST_INVALID', async () => {
    const bytes = Buffer.from(JSON.stringify(good()));
    const wrong = digestOf(Buffer.concat([bytes, Buffer.from(' ')]));
    await assertError(await reg.putManifest('val/repo', wrong, bytes), 400, 'DIGEST_INVALID');
    assert.equal((await reg.req('HEAD', `/v2/val/repo/manifests/${wrong}`)).status, 404);
    const wrong512 = `sha512:${'0'.repeat(128)}`;
    await assertError(await reg.putManifest('val/repo', wrong512, bytes), 400, 'DIGEST_INVALID');
  });

  it('PUT with a malformed digest reference → 400', async () => {
    await assertError(await reg.putManifest('val/repo', 'sha256:nothex', good()), 400, 'DIGEST_INVALID');
  });

  it('an invalid tag on PUT → 400', async () => {
    for (const tag of ['-leading-dash', '.leading-dot', 'x'.repeat(129), 'bad!char']) {
      const res = await reg.putManifest('val/repo', encodeURIComponent(tag), good());
      assert.equal(res.status, 400, tag);
      await res.arrayBuffer();
    }
  });

  it('a 128-character tag and a sha256-<hex> tag are valid', async () => {
    const long = 'x'.repeat(128);
    assert.equal((await reg.putManifest('val/repo', long, good())).status, 201);
    const fallback = `sha256-${'a'.repeat(64)}`;
    assert.equal((await reg.putManifest('val/repo', fallback, good())).status, 201);
    assert.equal((await reg.req('HEAD', `/v2/val/repo/manifests/${fallback}`)).status, 200);
  });
});

describe('manifests: GET/HEAD errors', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
    await reg.pushImage('get/repo', { tag: 'v1' });
  });
  after(() => reg.close());

  it('a GET that carries a body is answered, and the connection stays usable', async () => {
    const raw = await reg.raw('GET', '/v2/get/repo/manifests/v1', { 'Content-Length': 11, Accept: 'application/vnd.oci.image.manifest.v1+json' }, 'ignore this');
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['content-type'], 'application/vnd.oci.image.manifest.v1+json');
    assert.equal((await reg.req('HEAD', '/v2/get/repo/manifests/v1')).status, 200);
  });

  it('an invalid tag on GET/HEAD → 404 MANIFEST_UNKNOWN (not 400)', async () => {
    for (const tag of ['.INVALID_MANIFEST_NAME', '-dash', 'x'.repeat(129)]) {
      await assertError(await reg.req('GET', `/v2/get/repo/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN');
      const head = await reg.req('HEAD', `/v2/get/repo/manifests/${tag}`);
      assert.equal(head.status, 404, tag);
    }
  });

  it('an unknown tag or digest → 404 MANIFEST_UNKNOWN', async () => {
    await assertError(await reg.req('GET', '/v2/get/repo/manifests/nope'), 404, 'MANIFEST_UNKNOWN');
    await assertError(await reg.req('GET', `/v2/get/repo/manifests/${digestOf('nope')}`), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await reg.req('HEAD', `/v2/get/repo/manifests/${digestOf('nope')}`)).status, 404);
    // unknown repository: MANIFEST_UNKNOWN or NAME_UNKNOWN
    const res = await reg.req('GET', '/v2/get/nothing/manifests/v1');
    const errors = await assertError(res, 404);
    assert.ok(['MANIFEST_UNKNOWN', 'NAME_UNKNOWN'].includes(errors[0]?.code ?? ''));
  });

  it('a malformed digest reference → 400 DIGEST_INVALID (or 404)', async () => {
    const res = await reg.req('GET', '/v2/get/repo/manifests/sha256:totallywrong');
    assert.ok(res.status === 400 || res.status === 404, String(res.status));
    const errors = await assertError(res, res.status);
    if (res.status === 400) assert.equal(errors[0]?.code, 'DIGEST_INVALID');
  });
});

describe('manifests: ?tag= on PUT by digest', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(() => reg.close());

  it('?tag=a&tag=b → one OCI-Tag header per tag, and both tags resolve', async () => {
    const image = await reg.pushImage('qt/repo');
    const res = await reg.raw('PUT', `/v2/qt/repo/manifests/${image.digest}?tag=a&tag=b`, { 'Content-Type': OCI_MANIFEST }, image.body);
    assert.equal(res.status, 201, res.body.toString());
    const tags = headerLines(res, 'oci-tag').flatMap((v) => v.split(/\s*,\s*/));
    assert.deepEqual(tags.sort(), ['a', 'b']);
    for (const tag of ['a', 'b']) {
      const head = await reg.req('HEAD', `/v2/qt/repo/manifests/${tag}`);
      assert.equal(head.status, 200, tag);
      assert.equal(head.headers.get('docker-content-digest'), image.digest);
    }
    const list = await reg.req('GET', '/v2/qt/repo/tags/list');
    assert.deepEqual(await list.json(), { name: 'qt/repo', tags: ['a', 'b'] });
  });

  it('PUT by digest without ?tag= creates no tag and sends no OCI-Tag', async () => {
    const image = await reg.pushImage('qt/untagged');
    assert.equal(image.res.headers.get('oci-tag'), null);
    const list = await reg.req('GET', '/v2/qt/untagged/tags/list');
    assert.equal(list.status, 200);
    assert.deepEqual(((await list.json()) as { tags: string[] }).tags, []);
  });

  it('an invalid ?tag= → 400 and no tag is created', async () => {
    const image = await reg.pushImage('qt/bad');
    const res = await reg.req('PUT', `/v2/qt/bad/manifests/${image.digest}?tag=ok&tag=-bad`, {
      body: image.body,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    assert.equal(res.status, 400);
    await res.arrayBuffer();
    assert.equal((await reg.req('HEAD', '/v2/qt/bad/manifests/ok')).status, 404);
  });
});

describe('manifests: DELETE', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(() => reg.close());

  it('DELETE by tag → 202 and removes only the tag', async () => {
    const image = await reg.pushImage('del/tag', { tag: 'one' });
    const also = await reg.putManifest('del/tag', 'two', image.body);
    assert.equal(also.status, 201);
    const res = await reg.req('DELETE', '/v2/del/tag/manifests/one');
    assert.equal(res.status, 202);
    await res.arrayBuffer();
    await assertError(await reg.req('GET', '/v2/del/tag/manifests/one'), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await reg.req('HEAD', `/v2/del/tag/manifests/${image.digest}`)).status, 200);
    assert.equal((await reg.req('HEAD', '/v2/del/tag/manifests/two')).status, 200);
    const list = await reg.req('GET', '/v2/del/tag/tags/list');
    assert.deepEqual(((await list.json()) as { tags: string[] }).tags, ['two']);
    await assertError(await reg.req('DELETE', '/v2/del/tag/manifests/one'), 404, 'MANIFEST_UNKNOWN');
  });

  it('DELETE by digest → 202 and removes the manifest, every tag pointing at it, and its referrers entry', async () => {
    const subject = await reg.pushImage('del/digest', { tag: 'subject' });
    const image = await reg.pushImage('del/digest', { tag: 'a', subject: subject.descriptor, artifactType: 'application/x.sig' });
    assert.equal((await reg.putManifest('del/digest', 'b', image.body)).status, 201);
    const other = await reg.pushImage('del/digest', { tag: 'c' });
    const before = (await (await reg.req('GET', `/v2/del/digest/referrers/${subject.digest}`)).json()) as { manifests: unknown[] };
    assert.equal(before.manifests.length, 1);

    const res = await reg.req('DELETE', `/v2/del/digest/manifests/${image.digest}`);
    assert.equal(res.status, 202);
    await res.arrayBuffer();
    await assertError(await reg.req('GET', `/v2/del/digest/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
    for (const tag of ['a', 'b']) await assertError(await reg.req('GET', `/v2/del/digest/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN');
    const list = await reg.req('GET', '/v2/del/digest/tags/list');
    assert.deepEqual(((await list.json()) as { tags: string[] }).tags, ['c', 'subject']);
    assert.equal((await reg.req('HEAD', `/v2/del/digest/manifests/${other.digest}`)).status, 200);
    const after = (await (await reg.req('GET', `/v2/del/digest/referrers/${subject.digest}`)).json()) as { manifests: unknown[] };
    assert.deepEqual(after.manifests, []);
    // its blobs are untouched
    assert.equal((await reg.req('HEAD', `/v2/del/digest/blobs/${image.config.digest}`)).status, 200);
  });

  it('DELETE of an unknown digest or tag → 404 MANIFEST_UNKNOWN', async () => {
    await assertError(await reg.req('DELETE', `/v2/del/digest/manifests/${digestOf('none')}`), 404, 'MANIFEST_UNKNOWN');
    await assertError(await reg.req('DELETE', '/v2/del/digest/manifests/none'), 404, 'MANIFEST_UNKNOWN');
  });
});

describe('manifests: deletes disabled', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ deletes: false });
  });
  after(() => reg.close());

  it('DELETE by tag and by digest → 405 UNSUPPORTED with Allow; nothing removed', async () => {
    const image = await reg.pushImage('nodel/repo', { tag: 'v1' });
    for (const ref of ['v1', image.digest]) {
      const res = await reg.req('DELETE', `/v2/nodel/repo/manifests/${ref}`);
      await assertError(res, 405, 'UNSUPPORTED');
      const allow = (res.headers.get('allow') ?? '').split(/\s*,\s*/);
      assert.ok(allow.includes('GET') && allow.includes('PUT'), allow.join());
      assert.ok(!allow.includes('DELETE'));
    }
    assert.equal((await reg.req('HEAD', '/v2/nodel/repo/manifests/v1')).status, 200);
  });
});
