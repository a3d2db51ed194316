import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, bytesOf, digestOf, OCI_INDEX, type TestRegistry, startRegistry } from './helpers.js';

const SOME_DIGEST = `sha256:${'0'.repeat(64)}`;

describe('repository names', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(() => reg.close());

  const invalid: [string, string][] = [
    ['uppercase', 'Foo/bar'],
    ['".." component (not normalised)', 'a/../b'],
    ['".." inside a component', 'a..b'],
    ['encoded slash %2F', 'a%2Fb'],
    ['leading "-"', '-abc'],
    ['trailing separator', 'abc-'],
    ['empty component', 'a//b'],
    ['256 characters', 'a'.repeat(256)],
    ['256 characters in components', `${'a'.repeat(127)}/${'b'.repeat(128)}`],
  ];

  for (const [why, name] of invalid) {
    it(`${why} → 400 NAME_INVALID on every endpoint`, async () => {
      // node:http, so the client does not normalise `..` or `//` away
      const requests: [string, string][] = [
        ['GET', `/v2/${name}/tags/list`],
        ['GET', `/v2/${name}/blobs/${SOME_DIGEST}`],
        ['HEAD', `/v2/${name}/manifests/latest`],
        ['GET', `/v2/${name}/manifests/latest`],
        ['POST', `/v2/${name}/blobs/uploads/`],
        ['GET', `/v2/${name}/referrers/${SOME_DIGEST}`],
      ];
      for (const [method, path] of requests) {
        const res = await reg.raw(method, path);
        assert.equal(res.status, 400, `${method} ${path}`);
        if (method !== 'HEAD') await assertError(res, 400, 'NAME_INVALID');
      }
    });
  }

  it('a 255-character name is valid (unknown repository → 404 NAME_UNKNOWN, not 400)', async () => {
    const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    assert.equal(name.length, 255);
    const res = await reg.req('GET', `/v2/${name}/tags/list`);
    await assertError(res, 404, 'NAME_UNKNOWN');
  });

  it('names with separators "__", "-+", "." are valid', async () => {
    for (const name of ['a__b', 'a---b', 'a.b/c_d']) {
      const digest = await reg.pushBlob(name, `blob of ${name}`);
      assert.equal((await reg.req('HEAD', `/v2/${name}/blobs/${digest}`)).status, 200, name);
    }
  });

  for (const name of ['a/blobs/b', 'x/manifests', 'y/uploads/z', 'q/blobs/uploads', 't/tags/list', 'r/referrers/s', 'blobs', 'manifests/tags']) {
    it(`a name with route words works end to end: ${name}`, async () => {
      const data = `layer of ${name}`;
      const config = `{"name":"${name}"}`;
      const layerDigest = await reg.pushBlob(name, data);
      const configDigest = await reg.pushBlob(name, config);

      const blob = await reg.req('GET', `/v2/${name}/blobs/${layerDigest}`);
      assert.equal(blob.status, 200);
      assert.equal((await bytesOf(blob)).toString(), data);

      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: data.length }],
        }),
      );
      const put = await reg.putManifest(name, 'v1', manifest);
      assert.equal(put.status, 201, await put.text());
      assert.equal(put.headers.get('location'), `/v2/${name}/manifests/${digestOf(manifest)}`);

      const get = await reg.req('GET', `/v2/${name}/manifests/v1`);
      assert.equal(get.status, 200);
      assert.deepEqual(await bytesOf(get), manifest);

      const tags = await reg.req('GET', `/v2/${name}/tags/list`);
      assert.equal(tags.status, 200);
      assert.deepEqual(await tags.json(), { name, tags: ['v1'] });

      const referrers = await reg.req('GET', `/v2/${name}/referrers/${digestOf(manifest)}`);
      assert.equal(referrers.status, 200);
      assert.equal(referrers.headers.get('content-type'), OCI_INDEX);
      await referrers.arrayBuffer();

      // the blob is scoped to exactly this name, not to a prefix of it
      const prefix = name.split('/')[0] as string;
      if (prefix !== name) {
        const other = await reg.req('HEAD', `/v2/${prefix}/blobs/${layerDigest}`);
        assert.equal(other.status, 404);
      }
    });
  }
});
