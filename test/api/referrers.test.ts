import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, digestOf, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, type TestRegistry, startRegistry } from './helpers.js';

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: {
    mediaType: string;
    digest: string;
    size: number;
    artifactType?: string;
    annotations?: Record<string, string>;
  }[];
}

const SIG = 'application/vnd.example.signature';
const SBOM = 'application/vnd.example.sbom';
const CUSTOM_CONFIG = 'application/vnd.example.config.v1+json';

describe('referrers: GET /v2/<name>/referrers/<digest>', () => {
  let reg: TestRegistry;
  let subject: Awaited<ReturnType<TestRegistry['pushImage']>>;
  let sig: Awaited<ReturnType<TestRegistry['pushImage']>>;
  let sbom: Awaited<ReturnType<TestRegistry['pushImage']>>;
  let byConfig: Awaited<ReturnType<TestRegistry['pushImage']>>;
  let plain: Awaited<ReturnType<TestRegistry['pushImage']>>;
  let index: { digest: string; size: number };
  let typedIndex: { digest: string; size: number };

  before(async () => {
    reg = await startRegistry();
    subject = await reg.pushImage('rf/repo', { tag: 'subject' });
    sig = await reg.pushImage('rf/repo', { artifactType: SIG, subject: subject.descriptor, annotations: { 'org.example.kind': 'sig' } });
    sbom = await reg.pushImage('rf/repo', { artifactType: SBOM, subject: subject.descriptor, annotations: { 'org.example.kind': 'sbom' } });
    // no artifactType: listed with its config's media type
    byConfig = await reg.pushImage('rf/repo', { configMediaType: CUSTOM_CONFIG, subject: subject.descriptor });
    // a plain OCI config: listed with the OCI config media type
    plain = await reg.pushImage('rf/repo', { subject: subject.descriptor });
    const child = await reg.pushImage('rf/repo', {});
    const idx = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child.descriptor], subject: subject.descriptor, annotations: { 'org.example.kind': 'index' } }),
    );
    await reg.pushManifest('rf/repo', digestOf(idx), idx, OCI_INDEX);
    index = { digest: digestOf(idx), size: idx.length };
    const tidx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, artifactType: SIG, manifests: [child.descriptor], subject: subject.descriptor }));
    await reg.pushManifest('rf/repo', digestOf(tidx), tidx, OCI_INDEX);
    typedIndex = { digest: digestOf(tidx), size: tidx.length };
    // a referrer of the same subject in another repository is not listed
    await reg.pushImage('rf/other', { artifactType: SIG, subject: subject.descriptor });
  });
  after(() => reg.close());

  async function list(path: string): Promise<{ res: Response; body: ReferrersIndex }> {
    const res = await reg.req('GET', path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('content-type'), OCI_INDEX);
    return { res, body: (await res.json()) as ReferrersIndex };
  }

  it('an unknown subject → 200, an empty index, Content-Type exactly the OCI index type', async () => {
    const { res, body } = await list(`/v2/rf/repo/referrers/${digestOf('unknown subject')}`);
    assert.deepEqual(body, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    assert.equal(res.headers.get('oci-filters-applied'), null);
  });

  it('an unknown repository → 200 and an empty index (never 404)', async () => {
    const { body } = await list(`/v2/rf/nothing/referrers/${subject.digest}`);
    assert.deepEqual(body.manifests, []);
  });

  it('lists every referrer with mediaType, digest, size, artifactType and annotations', async () => {
    const { body } = await list(`/v2/rf/repo/referrers/${subject.digest}`);
    assert.equal(body.schemaVersion, 2);
    assert.equal(body.mediaType, OCI_INDEX);
    assert.equal(body.manifests.length, 6, JSON.stringify(body));
    const byDigest = new Map(body.manifests.map((m) => [m.digest, m]));
    assert.deepEqual(byDigest.get(sig.digest), {
      mediaType: OCI_MANIFEST,
      digest: sig.digest,
      size: sig.body.length,
      artifactType: SIG,
      annotations: { 'org.example.kind': 'sig' },
    });
    assert.deepEqual(byDigest.get(sbom.digest), {
      mediaType: OCI_MANIFEST,
      digest: sbom.digest,
      size: sbom.body.length,
      artifactType: SBOM,
      annotations: { 'org.example.kind': 'sbom' },
    });
    assert.deepEqual(byDigest.get(byConfig.digest), { mediaType: OCI_MANIFEST, digest: byConfig.digest, size: byConfig.body.length, artifactType: CUSTOM_CONFIG });
    assert.deepEqual(byDigest.get(plain.digest), { mediaType: OCI_MANIFEST, digest: plain.digest, size: plain.body.length, artifactType: OCI_CONFIG });
    // an index without artifactType has none
    assert.deepEqual(byDigest.get(index.digest), { mediaType: OCI_INDEX, digest: index.digest, size: index.size, annotations: { 'org.example.kind': 'index' } });
    assert.deepEqual(byDigest.get(typedIndex.digest), { mediaType: OCI_INDEX, digest: typedIndex.digest, size: typedIndex.size, artifactType: SIG });
  });

  it('?artifactType= filters and answers OCI-Filters-Applied: artifactType', async () => {
    const { res, body } = await list(`/v2/rf/repo/referrers/${subject.digest}?artifactType=${encodeURIComponent(SIG)}`);
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(body.manifests.map((m) => m.digest).sort(), [sig.digest, typedIndex.digest].sort());
  });

  it('?artifactType= matching the config media type of an untyped manifest', async () => {
    const { body } = await list(`/v2/rf/repo/referrers/${subject.digest}?artifactType=${encodeURIComponent(CUSTOM_CONFIG)}`);
    assert.deepEqual(body.manifests.map((m) => m.digest), [byConfig.digest]);
  });

  it('?artifactType= matching nothing → empty, with the header', async () => {
    const { res, body } = await list(`/v2/rf/repo/referrers/${subject.digest}?artifactType=application/x-none`);
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(body.manifests, []);
  });

  it('referrers of a subject that was never pushed are listed', async () => {
    const ghost = { mediaType: OCI_MANIFEST, digest: digestOf('ghost subject'), size: 42 };
    const ref = await reg.pushImage('rf/repo', { artifactType: SIG, subject: ghost });
    assert.equal(ref.res.headers.get('oci-subject'), ghost.digest);
    const { body } = await list(`/v2/rf/repo/referrers/${ghost.digest}`);
    assert.deepEqual(body.manifests.map((m) => m.digest), [ref.digest]);
  });

  it('referrers pushed before their subject are still listed once the subject arrives', async () => {
    const config = JSON.stringify({ later: true });
    await reg.pushBlob('rf/early', config);
    const laterSubject = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: digestOf(config), size: config.length }, layers: [] }));
    const descriptor = { mediaType: OCI_MANIFEST, digest: digestOf(laterSubject), size: laterSubject.length };
    const early = [await reg.pushImage('rf/early', { artifactType: SIG, subject: descriptor }), await reg.pushImage('rf/early', { artifactType: SBOM, subject: descriptor })];
    await reg.pushManifest('rf/early', 'subject', laterSubject);
    const { body } = await list(`/v2/rf/early/referrers/${descriptor.digest}`);
    assert.deepEqual(body.manifests.map((m) => m.digest), early.map((m) => m.digest).sort());
  });

  it('pages through Link headers in digest order, keeping the filter', async () => {
    const target = await reg.pushImage('rf/paged', { tag: 'target' });
    const pushed: string[] = [];
    for (let i = 0; i < 5; i++) pushed.push((await reg.pushImage('rf/paged', { artifactType: SIG, subject: target.descriptor, seed: `p${i}` })).digest);
    await reg.pushImage('rf/paged', { artifactType: SBOM, subject: target.descriptor });
    const seen: string[] = [];
    let path: string | undefined = `/v2/rf/paged/referrers/${target.digest}?artifactType=${encodeURIComponent(SIG)}&n=2`;
    let pages = 0;
    while (path !== undefined) {
      const { res, body } = await list(path);
      assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
      assert.ok(body.manifests.length <= 2);
      seen.push(...body.manifests.map((m) => m.digest));
      const link = res.headers.get('link');
      path = link ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
      assert.ok(++pages <= 4);
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...pushed].sort());
  });

  it('a referrer pushed by tag is listed too', async () => {
    const target = await reg.pushImage('rf/tagged', { tag: 'target' });
    const ref = await reg.pushImage('rf/tagged', { tag: 'sig', artifactType: SIG, subject: target.descriptor });
    const { body } = await list(`/v2/rf/tagged/referrers/${target.digest}`);
    assert.deepEqual(body.manifests.map((m) => m.digest), [ref.digest]);
  });

  it('a deleted referrer disappears from the list', async () => {
    const target = await reg.pushImage('rf/del', { tag: 'target' });
    const ref = await reg.pushImage('rf/del', { artifactType: SIG, subject: target.descriptor });
    assert.equal((await list(`/v2/rf/del/referrers/${target.digest}`)).body.manifests.length, 1);
    assert.equal((await reg.req('DELETE', `/v2/rf/del/manifests/${ref.digest}`)).status, 202);
    assert.deepEqual((await list(`/v2/rf/del/referrers/${target.digest}`)).body.manifests, []);
  });

  it('sha512 subjects work', async () => {
    const subject512 = { mediaType: OCI_MANIFEST, digest: digestOf('sha512 subject', 'sha512'), size: 14 };
    const ref = await reg.pushImage('rf/repo', { artifactType: SIG, subject: subject512 });
    assert.equal(ref.res.headers.get('oci-subject'), subject512.digest);
    const { body } = await list(`/v2/rf/repo/referrers/${subject512.digest}`);
    assert.deepEqual(body.manifests.map((m) => m.digest), [ref.digest]);
  });

  it('a malformed digest → 400', async () => {
    for (const bad of ['sha256:xyz', 'latest', `sha256:${'A'.repeat(64)}`]) {
      const res = await reg.req('GET', `/v2/rf/repo/referrers/${bad}`);
      await assertError(res, 400, 'DIGEST_INVALID');
    }
  });
});
