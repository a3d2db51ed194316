/**
 * Racing writers on every store: whatever the interleaving, no tag points at a missing manifest and
 * no manifest references a blob or child that answers 404 in its repository.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OCI_INDEX, type StoreFixture, type TestRegistry, makeStore, startRegistry, testStores } from './helpers.js';

for (const kind of testStores()) {
  // a database round trip costs far more than a file: fewer rounds still interleave every step
  const ROUNDS = kind === 'mongo' ? 40 : 200;
  describe(`races on the ${kind} store`, () => {
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

    async function tagResolves(name: string, tag: string): Promise<boolean> {
      const listed = ((await (await reg.req('GET', `/v2/${name}/tags/list`)).json()) as { tags: string[] }).tags.includes(tag);
      if (!listed) return true;
      return (await reg.req('HEAD', `/v2/${name}/manifests/${tag}`)).status === 200;
    }

    it(`PUT manifests/<tag> racing DELETE of that manifest never leaves the tag dangling (${ROUNDS} rounds)`, async () => {
      const image = await reg.pushImage('race/tag', { tag: 'seed' });
      let dangling = 0;
      const outcomes = new Set<string>();
      for (let i = 0; i < ROUNDS; i++) {
        const [put, del] = await Promise.all([
          reg.putManifest('race/tag', 't', image.body),
          reg.req('DELETE', `/v2/race/tag/manifests/${image.digest}`),
        ]);
        outcomes.add(`${put.status}/${del.status}`);
        if (!(await tagResolves('race/tag', 't'))) dangling++;
        // put everything back for the next round
        await reg.pushManifest('race/tag', 'seed', image.body);
      }
      assert.equal(dangling, 0, `rounds with a dangling tag (outcomes: ${[...outcomes].join(', ')})`);
    });

    it(`tag moves racing deletes never leave the tag dangling (${ROUNDS} rounds)`, async () => {
      const a = await reg.pushImage('race/move', { tag: 'a' });
      const b = await reg.pushImage('race/move', { tag: 'b' });
      let dangling = 0;
      for (let i = 0; i < ROUNDS; i++) {
        await reg.pushManifest('race/move', 'moving', a.body);
        await Promise.all([reg.putManifest('race/move', 'moving', b.body), reg.req('DELETE', `/v2/race/move/manifests/${b.digest}`)]);
        if (!(await tagResolves('race/move', 'moving'))) dangling++;
        await reg.pushManifest('race/move', 'b', b.body);
      }
      assert.equal(dangling, 0);
    });

    it(`blob DELETE racing a manifest PUT that needs the blob never leaves the manifest dangling (${ROUNDS} rounds)`, async () => {
      let dangling = 0;
      let refused = 0;
      for (let i = 0; i < ROUNDS; i++) {
        const layer = `race layer ${kind} ${i}`;
        const image = await reg.pushImage('race/blob', { tag: 'keep', layers: [layer] });
        const layerDigest = image.layers[0]?.digest ?? '';
        // a second manifest with the same layer, racing the layer's delete
        const other = JSON.parse(image.body.toString()) as { annotations?: Record<string, string> };
        other.annotations = { round: String(i) };
        await reg.req('DELETE', `/v2/race/blob/manifests/${image.digest}`);
        const [put, del] = await Promise.all([reg.putManifest('race/blob', `r${i}`, JSON.stringify(other)), reg.req('DELETE', `/v2/race/blob/blobs/${layerDigest}`)]);
        if (del.status === 409) refused++;
        if (put.status === 201) {
          const layerStatus = (await reg.req('HEAD', `/v2/race/blob/blobs/${layerDigest}`)).status;
          const manifestStatus = (await reg.req('HEAD', `/v2/race/blob/manifests/r${i}`)).status;
          if (manifestStatus === 200 && layerStatus !== 200) dangling++;
        }
      }
      assert.equal(dangling, 0, `${refused} deletes were refused`);
    });

    it(`child manifest DELETE racing an index PUT never leaves the index dangling (${ROUNDS / 2} rounds)`, async () => {
      let dangling = 0;
      for (let i = 0; i < ROUNDS / 2; i++) {
        const child = await reg.pushImage('race/index', { seed: `child ${i}` });
        const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child.descriptor] });
        const [put] = await Promise.all([reg.putManifest('race/index', `i${i}`, index, OCI_INDEX), reg.req('DELETE', `/v2/race/index/manifests/${child.digest}`)]);
        if (put.status === 201 && (await reg.req('HEAD', `/v2/race/index/manifests/i${i}`)).status === 200) {
          if ((await reg.req('HEAD', `/v2/race/index/manifests/${child.digest}`)).status !== 200) dangling++;
        }
      }
      assert.equal(dangling, 0);
    });

    it('a referenced blob or child cannot be deleted: 409 DENIED naming the manifest', async () => {
      const child = await reg.pushImage('race/refuse', { seed: 'refuse' });
      const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child.descriptor] });
      const pushed = await reg.pushManifest('race/refuse', 'idx', index, OCI_INDEX);
      const blob = await reg.req('DELETE', `/v2/race/refuse/blobs/${child.config.digest}`);
      assert.equal(blob.status, 409);
      const body = (await blob.json()) as { errors: { code: string; message: string; detail: { referencedBy: string } }[] };
      assert.equal(body.errors[0]?.code, 'DENIED');
      assert.equal(body.errors[0]?.detail.referencedBy, child.digest);
      assert.match(body.errors[0]?.message ?? '', /delete that manifest first/);
      const manifest = await reg.req('DELETE', `/v2/race/refuse/manifests/${child.digest}`);
      assert.equal(manifest.status, 409);
      // once the index is gone, the child goes, then its blobs
      assert.equal((await reg.req('DELETE', `/v2/race/refuse/manifests/${pushed.digest}`)).status, 202);
      assert.equal((await reg.req('DELETE', `/v2/race/refuse/manifests/${child.digest}`)).status, 202);
      assert.equal((await reg.req('DELETE', `/v2/race/refuse/blobs/${child.config.digest}`)).status, 202);
    });
  });
}
