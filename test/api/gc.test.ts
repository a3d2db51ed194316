import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Collector, createCollector } from '../../lib/index.js';
import { OCI_INDEX, type StoreFixture, type TestRegistry, bytesOf, digestOf, makeStore, startRegistry, testStores, withQuery } from './helpers.js';

const sha = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

for (const kind of testStores()) {
  describe(`garbage collection on the ${kind} store`, () => {
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
    const status = async (path: string) => (await reg.req('HEAD', path)).status;

    it('reclaims unreferenced links and unlinked blobs, keeps everything live and everything young', async () => {
      const live = await reg.pushImage('gc/app', { tag: 'v1', layers: ['live layer', 'shared layer'] });
      const orphan = await reg.pushBlob('gc/app', 'an abandoned push');
      const gone = await reg.pushImage('gc/app', { tag: 'old', layers: ['old layer'] });
      assert.equal((await reg.req('DELETE', `/v2/gc/app/manifests/${gone.digest}`)).status, 202);
      const shared = digestOf('shared layer');
      await reg.pushBlob('gc/other', 'shared layer');
      // bytes committed but never linked (a crash between the commit and the link)
      const { Readable } = await import('node:stream');
      const unlinked = digestOf('committed, never linked') as `${string}:${string}`;
      await store.storage.blobs.put(unlinked, Readable.from([Buffer.from('committed, never linked')]));
      const young = createCollector({ registry: reg.registry, grace: 60_000 });
      const before = await young.run();
      assert.equal(before.blobsDeleted + before.linksRemoved, 0, 'nothing young goes');

      const dry = await createCollector({ registry: reg.registry, grace: 0 }).run({ dryRun: true });
      assert.equal(dry.dryRun, true);
      assert.ok(dry.removed.includes(`gc/app link ${orphan}`), dry.removed.join('\n'));
      assert.equal(await status(`/v2/gc/app/blobs/${orphan}`), 200, 'a dry run deletes nothing');

      const result = await createCollector({ registry: reg.registry, grace: 0 }).run();
      assert.equal(result.errors, 0);
      assert.equal(result.skipped, undefined);
      // the orphan, the deleted image's config and layer, and gc/other's link to the shared layer
      assert.equal(result.linksRemoved, 4, result.removed.join('\n'));
      assert.equal(result.blobsDeleted, 4, result.removed.join('\n'));
      assert.equal(result.bytesReclaimed, 'an abandoned push'.length + gone.config.size + 'old layer'.length + 'committed, never linked'.length);
      assert.equal(await store.storage.blobs.stat(unlinked), undefined, 'bytes committed but never linked are reclaimed');
      for (const blob of [orphan, gone.config.digest, digestOf('old layer')]) assert.equal(await status(`/v2/gc/app/blobs/${blob}`), 404);
      assert.equal(await status(`/v2/gc/other/blobs/${shared}`), 404, 'unreferenced in gc/other');
      // everything live reads back
      const manifest = await reg.req('GET', '/v2/gc/app/manifests/v1');
      assert.equal(sha(await bytesOf(manifest)), live.digest);
      for (const d of [live.config, ...live.layers]) assert.equal(sha(await bytesOf(await reg.req('GET', `/v2/gc/app/blobs/${d.digest}`))), d.digest);
    });

    it('untagged manifests: kept by default; with a policy, deleted (indexes before children) unless a tag reaches them', async () => {
      const tagged = await reg.pushImage('gc/untagged', { tag: 'keep' });
      const signature = await reg.pushImage('gc/untagged', { artifactType: 'application/vnd.example.sig', subject: tagged.descriptor });
      const child = await reg.pushImage('gc/untagged', { seed: 'child' });
      const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child.descriptor] });
      const untaggedIndex = await reg.pushManifest('gc/untagged', digestOf(index), index, OCI_INDEX);
      const loose = await reg.pushImage('gc/untagged', { seed: 'loose' });
      assert.equal((await createCollector({ registry: reg.registry, grace: 0 }).run()).manifestsDeleted, 0, 'keep is the default');

      const result = await createCollector({ registry: reg.registry, grace: 0, untagged: { olderThan: 0 } }).run();
      assert.equal(result.manifestsDeleted, 3, result.removed.join('\n'));
      for (const gone of [untaggedIndex.digest, child.digest, loose.digest]) assert.equal(await status(`/v2/gc/untagged/manifests/${gone}`), 404);
      assert.equal(await status('/v2/gc/untagged/manifests/keep'), 200);
      assert.equal(await status(`/v2/gc/untagged/manifests/${signature.digest}`), 200, 'a referrer of a tagged manifest stays');
      assert.equal(await status(`/v2/gc/untagged/blobs/${signature.config.digest}`), 200);
      assert.equal(await status(`/v2/gc/untagged/blobs/${loose.config.digest}`), 404, 'blobs of deleted manifests went in the same run');
    });

    it('retention: keep the latest, keep patterns, delete by age and by last pull; a dry run lists', async () => {
      for (const tag of ['v1', 'v2', 'dev-1', 'dev-2', 'dev-3', 'latest']) await reg.pushImage('gc/keep', { tag, seed: tag });
      await new Promise((r) => setTimeout(r, 30));
      await reg.pushImage('gc/keep', { tag: 'dev-4', seed: 'dev-4' });
      const retention = [{ repositories: 'gc/keep', keepLatest: 1, keepTags: ['v*', 'latest'], deleteOlderThan: 20 }];
      const dry = await createCollector({ registry: reg.registry, grace: 0, retention }).run({ dryRun: true });
      assert.deepEqual(dry.removed.filter((r) => r.includes(':')), ['gc/keep:dev-1', 'gc/keep:dev-2', 'gc/keep:dev-3']);
      await createCollector({ registry: reg.registry, grace: 0, retention }).run();
      const { tags } = (await (await reg.req('GET', '/v2/gc/keep/tags/list')).json()) as { tags: string[] };
      assert.deepEqual(tags, ['dev-4', 'latest', 'v1', 'v2']);

      // not pulled for a while: pulls are recorded (cheaply, asynchronously)
      await new Promise((r) => setTimeout(r, 300));
      await (await reg.req('GET', '/v2/gc/keep/manifests/dev-4')).arrayBuffer();
      await new Promise((r) => setTimeout(r, 50));
      const byPull = await createCollector({ registry: reg.registry, grace: 0, retention: [{ repositories: 'gc/**', deleteNotPulledFor: 250 }] }).run({ dryRun: true });
      assert.deepEqual(byPull.removed.filter((r) => r.startsWith('gc/keep:')).sort(), ['gc/keep:latest', 'gc/keep:v1', 'gc/keep:v2']);
    });

    it('one run at a time across instances (a lease in the store)', async () => {
      const a = createCollector({ registry: reg.registry, grace: 0 });
      const b = createCollector({ registry: reg.registry, grace: 0 });
      const [ra, rb] = await Promise.all([a.run(), b.run()]);
      assert.equal([ra, rb].filter((r) => r.skipped !== undefined).length, 1);
      assert.equal((await b.run()).skipped, undefined, 'the lease is released after a run');
    });

    it('an admin endpoint and a schedule', async () => {
      const collector = createCollector({ registry: reg.registry, grace: 0 });
      const { listen, Client } = await import('./helpers.js');
      const served = await listen((req, res) => collector.handler(req, res));
      try {
        const client = new Client(served.origin);
        assert.equal((await client.req('GET', '/gc')).status, 405);
        const res = await client.req('POST', '/gc?dryRun=1');
        assert.equal(res.status, 200);
        assert.equal(((await res.json()) as { dryRun: boolean }).dryRun, true);
      } finally {
        await served.close();
      }
      let runs = 0;
      reg.registry.events.on('gc.completed', () => {
        runs++;
      });
      const stop = collector.schedule(30);
      for (let waited = 0; runs < 2 && waited < 20_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      stop();
      assert.ok(runs >= 2, `${runs} scheduled runs`);
    });

    it('runs continuously while clients push, mount, tag and delete: every tag resolves, every reference reads back', async () => {
      const collectors: Collector[] = [createCollector({ registry: reg.registry, grace: 0, untagged: { olderThan: 0 } })];
      let stop = false;
      let runs = 0;
      const gc = (async () => {
        while (!stop) {
          await collectors[0]?.run();
          runs++;
        }
      })();
      const outcomes = new Map<number, number>();
      const count = (s: number) => outcomes.set(s, (outcomes.get(s) ?? 0) + 1);
      const client = async (id: number) => {
        for (let i = 0; !stop; i++) {
          const repo = `stress/r${id % 3}`;
          const layer = `stress layer ${id % 4} ${i % 6}`;
          const config = JSON.stringify({ id, i });
          for (const data of [config, layer]) count((await reg.req('POST', withQuery(`/v2/${repo}/blobs/uploads/`, { digest: digestOf(data) }), { body: data })).status);
          const manifest = JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
            layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length }],
          });
          count((await reg.putManifest(repo, `t${i % 3}`, manifest)).status);
          // mount into another repository, delete something, retag
          count((await reg.req('POST', withQuery(`/v2/stress/m${id}/blobs/uploads/`, { mount: digestOf(layer), from: repo }))).status);
          if (i % 4 === 3) count((await reg.req('DELETE', `/v2/${repo}/manifests/${digestOf(manifest)}`)).status);
          if (i % 5 === 4) count((await reg.req('DELETE', `/v2/${repo}/manifests/t${(i + 1) % 3}`)).status);
        }
      };
      const clients = [0, 1, 2, 3].map(client);
      // at least 4 s of load, and at least 3 whole collections under it (a slow database may need longer)
      await new Promise((r) => setTimeout(r, 4000));
      for (let waited = 0; runs < 3 && waited < 60_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      stop = true;
      await Promise.all([gc, ...clients]);
      assert.ok(runs >= 3, `${runs} collections ran`);

      const problems: string[] = [];
      const { repositories } = (await (await reg.req('GET', '/v2/_catalog')).json()) as { repositories: string[] };
      for (const repo of repositories.filter((r) => r.startsWith('stress/r'))) {
        const { tags } = (await (await reg.req('GET', `/v2/${repo}/tags/list`)).json()) as { tags: string[] };
        for (const tag of tags) {
          const res = await reg.req('GET', `/v2/${repo}/manifests/${tag}`);
          if (res.status !== 200) {
            problems.push(`${repo}:${tag} answers ${res.status}`);
            continue;
          }
          const manifest = JSON.parse((await bytesOf(res)).toString()) as { config: { digest: string }; layers: { digest: string }[] };
          for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
            const blob = await reg.req('GET', `/v2/${repo}/blobs/${d}`);
            if (blob.status !== 200) problems.push(`${repo}:${tag} needs ${d}: ${blob.status}`);
            else if (sha(await bytesOf(blob)) !== d) problems.push(`${repo} ${d} reads back wrong`);
          }
        }
      }
      assert.deepEqual(problems, [], `outcomes: ${JSON.stringify([...outcomes])}`);
      assert.equal(outcomes.get(500) ?? 0, 0, 'no request failed on the server side');
    });
  });
}

describe('garbage collection: a link racing the deletion of its blob', () => {
  it('the push is refused with 503 and the link taken back, never left dangling', async () => {
    const { memoryStorage } = await import('../../lib/index.js');
    const base = memoryStorage();
    let collectNext = false;
    // the collector deletes the (unlinked, old) blob between the commit and the link
    const storage = {
      ...base,
      links: {
        ...base.links,
        add: async (repository: string, digest: `${string}:${string}`) => {
          const added = await base.links.add(repository, digest);
          if (collectNext) await base.blobs.delete(digest);
          return added;
        },
      },
    };
    const reg = await startRegistry({ storage });
    try {
      collectNext = true;
      const res = await reg.req('POST', withQuery('/v2/race/link/blobs/uploads/', { digest: digestOf('collected') }), { body: 'collected' });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal(await base.links.has('race/link', digestOf('collected') as never), false);
      collectNext = false;
      await reg.pushBlob('race/link', 'collected');
    } finally {
      await reg.close();
    }
  });
});
