import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../lib/errors.js';
import { MediaType, parseManifest } from '../../lib/manifest.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (c: string, mediaType = 'application/octet-stream', extra: object = {}) => ({ mediaType, digest: d(c), size: 3, ...extra });
const image = (extra: object = {}) => ({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: desc('c', 'application/vnd.oci.image.config.v1+json'), layers: [desc('1'), desc('2')], ...extra });
const parse = (doc: unknown, type?: string) => parseManifest(Buffer.from(JSON.stringify(doc)), type);
const invalid = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof RegistryError && err.code === 'MANIFEST_INVALID' && pattern.test(err.message));

describe('parseManifest', () => {
  it('reads an OCI image manifest: blobs, artifactType fallback, annotations', () => {
    const parsed = parse(image({ annotations: { a: 'b', n: 1 } }), MediaType.OciManifest);
    assert.equal(parsed.mediaType, MediaType.OciManifest);
    assert.deepEqual(parsed.blobs, [d('c'), d('1'), d('2')]);
    assert.deepEqual(parsed.manifests, []);
    assert.equal(parsed.artifactType, 'application/vnd.oci.image.config.v1+json');
    assert.deepEqual(parsed.annotations, { a: 'b' });
  });

  it('prefers an explicit artifactType and records the subject', () => {
    const parsed = parse(image({ artifactType: 'application/sig', subject: desc('5') }), MediaType.OciManifest);
    assert.equal(parsed.artifactType, 'application/sig');
    assert.equal(parsed.subject, d('5'));
  });

  it('reads indexes and Docker manifest lists (children, no artifactType fallback)', () => {
    for (const mediaType of [MediaType.OciIndex, MediaType.DockerList]) {
      const parsed = parse({ schemaVersion: 2, mediaType, manifests: [desc('7'), desc('8')] }, mediaType);
      assert.deepEqual(parsed.manifests, [d('7'), d('8')]);
      assert.deepEqual(parsed.blobs, []);
      assert.equal(parsed.artifactType, undefined);
    }
  });

  it('reads a Docker schema 2 manifest', () => {
    const doc = { ...image(), mediaType: MediaType.DockerManifest };
    assert.equal(parse(doc, MediaType.DockerManifest).mediaType, MediaType.DockerManifest);
  });

  it('skips non-distributable and foreign layers', () => {
    const parsed = parse(
      image({
        layers: [desc('1', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'), desc('2', 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'), desc('3', 'x', { urls: ['https://x'] }), desc('4')],
      }),
      MediaType.OciManifest,
    );
    assert.deepEqual(parsed.blobs, [d('c'), d('4')]);
  });

  it('tolerates unknown fields, nulls, missing mediaType and no layers', () => {
    const doc = { schemaVersion: 2, config: { ...desc('c'), newUnspecifiedField: null, data: 'e30=' }, layers: [], unknown: { x: [1, null] }, annotations: null, subject: null };
    const parsed = parse(doc, MediaType.OciManifest);
    assert.deepEqual(parsed.blobs, [d('c')]);
    assert.equal(parsed.subject, undefined);
  });

  it('takes the media type from the body when the Content-Type is missing or generic', () => {
    assert.equal(parse({ ...image(), mediaType: MediaType.OciManifest }, undefined).mediaType, MediaType.OciManifest);
    assert.equal(parse({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }, 'application/json').mediaType, MediaType.OciIndex);
  });

  it('ignores Content-Type parameters', () => {
    assert.equal(parse(image(), `${MediaType.OciManifest}; charset=utf-8`).mediaType, MediaType.OciManifest);
  });

  it('refuses what is not a schema 2 image manifest or index', () => {
    invalid(() => parseManifest(Buffer.from('{not json'), MediaType.OciManifest), /not valid JSON/);
    invalid(() => parse([1, 2], MediaType.OciManifest), /JSON object/);
    invalid(() => parse({ schemaVersion: 1, name: 'x', fsLayers: [] }, 'application/vnd.docker.distribution.manifest.v1+prettyjws'), /schema 1/);
    invalid(() => parse({ schemaVersion: 1 }, undefined), /schema 1/);
    invalid(() => parse({ ...image(), schemaVersion: 3 }, MediaType.OciManifest), /schemaVersion/);
    invalid(() => parse(image(), MediaType.OciIndex), /does not match/);
    invalid(() => parse({ ...image(), mediaType: 'application/vnd.x' }, 'application/vnd.x'), /unsupported manifest media type/);
    invalid(() => parse({ ...image(), config: undefined }, MediaType.OciManifest), /config/);
    invalid(() => parse({ ...image(), layers: {} }, MediaType.OciManifest), /layers/);
    invalid(() => parse({ ...image(), layers: [{ digest: 'sha256:nope', size: 1 }] }, MediaType.OciManifest), /layers\[0\]\.digest/);
    invalid(() => parse({ ...image(), layers: [{ digest: d('1'), size: -1 }] }, MediaType.OciManifest), /size/);
    invalid(() => parse({ schemaVersion: 2, mediaType: MediaType.OciIndex }, MediaType.OciIndex), /manifests/);
    invalid(() => parse(image({ subject: { digest: 'nope' } }), MediaType.OciManifest), /subject/);
  });
});
