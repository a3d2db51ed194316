/**
 * Hostile manifests: a request's cost is bounded by its own size, not by the fan-out it names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Storage, memoryStorage } from '../../lib/index.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, assertError, descriptor, type TestRegistry, startRegistry } from './helpers.js';

describe('hostile manifests', () => {
  const base = memoryStorage();
  const calls = { linksHas: 0, manifestStat: 0, manifestGet: 0 };
  const storage: Storage = {
    ...base,
    links: { ...base.links, has: (r, d) => (calls.linksHas++, base.links.has(r, d)) },
    manifests: {
      ...base.manifests,
      stat: (r, d) => (calls.manifestStat++, base.manifests.stat(r, d)),
      get: (r, d) => (calls.manifestGet++, base.manifests.get(r, d)),
    },
  };
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ storage });
  });
  after(() => reg.close());
  const reset = () => Object.assign(calls, { linksHas: 0, manifestStat: 0, manifestGet: 0 });

  it('an index naming one big child 300 times stats it once and never reads it', async () => {
    // a child of about 3.9 MiB: many layers
    const config = await reg.pushBlob('hostile/fanout', '{}');
    const layer = await reg.pushBlob('hostile/fanout', 'layer');
    const layers = Array.from({ length: 22_000 }, (_, i) => ({ mediaType: OCI_LAYER, digest: layer, size: 5, annotations: { n: String(i).padStart(10, '0') } }));
    const child = await reg.pushManifest('hostile/fanout', 'child', { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: config, size: 2 }, layers });
    assert.ok(child.body.length > 3.5 * 1024 * 1024, `child is ${child.body.length} bytes`);
    reset();
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: Array.from({ length: 300 }, () => child.descriptor) };
    await reg.pushManifest('hostile/fanout', 'index', index, OCI_INDEX);
    assert.equal(calls.manifestGet, 0, 'no child is read');
    // the child once before the write and once after it (a delete may have raced), the index once after tagging
    assert.equal(calls.manifestStat, 3);
  });

  it('a manifest with 30,000 missing layers answers at most 100 errors after a bounded number of lookups', async () => {
    const config = await reg.pushBlob('hostile/missing', '{"c":1}');
    // 30,000 descriptors of about 135 bytes each: just under the 4 MiB limit
    const layers = Array.from({ length: 30_000 }, (_, i) => ({ mediaType: 'l', digest: descriptor(OCI_LAYER, `missing layer ${i}`).digest, size: 1 }));
    reset();
    const res = await reg.putManifest('hostile/missing', 'v1', { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: config, size: 7 }, layers });
    const errors = await assertError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(errors.length, 100);
    assert.ok(calls.linksHas < 200, `${calls.linksHas} lookups for 30,001 references`);
  });
});
