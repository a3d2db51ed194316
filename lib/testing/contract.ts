import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { Digest } from '../digest.js';
import type { NewManifest, Storage } from '../storage/types.js';

export interface ContractOptions {
  /** Runs after the suite has checked that the store was left empty (remove a temp dir, drop a database). */
  teardown?: () => Promise<void>;
}

/**
 * The storage contract (v2) as a node:test suite: every store must pass it. `create` makes a fresh,
 * empty store; the suite calls its `init()` first and its `close()` last. Every case removes what it
 * wrote, so at the end the suite checks that no repository, blob or upload is left.
 *
 *     import { testStorage } from 'berth/testing';
 *     testStorage('my store', async () => myStorage({ … }));
 */
export function testStorage(name: string, create: () => Promise<Storage>, options: ContractOptions = {}): void {
  describe(`storage contract: ${name}`, () => {
    let s: Storage;
    before(async () => {
      s = await create();
      await s.init?.();
      await s.init?.(); // idempotent
    });
    after(async () => {
      try {
        assert.deepEqual(await s.repositories.list({}), [], 'every repository was deleted');
        assert.deepEqual(await s.blobs.list({}), [], 'every blob was deleted');
        assert.equal(await s.uploads.sweep(new Date(Date.now() + 60_000)), 0, 'every upload was deleted or committed');
      } finally {
        // an open database client would keep the test process alive after a failure
        await s.close?.();
        await options.teardown?.();
      }
    });

    const sha = (data: string): Digest => `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const body = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)));
    const read = async (stream: Readable | undefined) => {
      assert.ok(stream, 'expected a stream');
      return text(stream);
    };
    const failing = (prefix: string) =>
      new Readable({
        read() {
          this.push(Buffer.from(prefix));
          this.destroy(new Error('client went away'));
        },
      });
    async function put(data: string): Promise<Digest> {
      const digest = sha(data);
      const info = await s.blobs.put(digest, body(data));
      assert.equal(info.digest, digest);
      assert.equal(info.size, Buffer.byteLength(data));
      return digest;
    }
    function manifest(content: string, extra: Partial<NewManifest> = {}): NewManifest {
      const bytes = Buffer.from(content);
      return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(content), size: bytes.length, body: bytes, references: [], ...extra };
    }
    const wipe = async (...repositories: string[]) => {
      for (const repository of repositories) await s.repositories.delete(repository);
    };

    describe('blobs', () => {
      it('puts, stats, opens, ranges and deletes a blob', async () => {
        const started = Date.now() - 1000;
        const digest = await put('0123456789');
        const info = await s.blobs.stat(digest);
        assert.equal(info?.size, 10);
        assert.ok(info.createdAt instanceof Date && info.createdAt.getTime() >= started, 'createdAt is when it was stored');
        assert.equal(await read(await s.blobs.open(digest)), '0123456789');
        assert.equal(await read(await s.blobs.open(digest, { range: { start: 2, end: 5 } })), '234');
        assert.equal(await read(await s.blobs.open(digest, { range: { start: 9, end: 10 } })), '9');
        assert.equal(await s.blobs.delete(digest), true);
        assert.equal(await s.blobs.delete(digest), false);
        assert.equal(await s.blobs.stat(digest), undefined);
        assert.equal(await s.blobs.open(digest), undefined);
      });

      it('a blob stored again looks young again', async () => {
        const digest = await put('stored twice');
        const first = (await s.blobs.stat(digest))?.createdAt.getTime() ?? 0;
        await new Promise((r) => setTimeout(r, 30));
        await put('stored twice');
        assert.ok(((await s.blobs.stat(digest))?.createdAt.getTime() ?? 0) > first, 'put of existing bytes refreshes createdAt');
        await s.blobs.delete(digest);
      });

      it('stores the empty blob', async () => {
        const digest = await put('');
        assert.equal((await s.blobs.stat(digest))?.size, 0);
        assert.equal(await read(await s.blobs.open(digest)), '');
        await s.blobs.delete(digest);
      });

      it('keeps one copy when the same blob is put twice, also at once', async () => {
        const digest = sha('same bytes');
        await Promise.all([s.blobs.put(digest, body('same ', 'bytes')), s.blobs.put(digest, body('same bytes'))]);
        await put('same bytes');
        assert.equal(await read(await s.blobs.open(digest)), 'same bytes');
        assert.deepEqual(await s.blobs.list({}), [digest]);
        await s.blobs.delete(digest);
      });

      it('leaves nothing behind when the body of a put fails', async () => {
        const digest = sha('never whole');
        await assert.rejects(s.blobs.put(digest, failing('never')), /client went away/);
        assert.equal(await s.blobs.stat(digest), undefined);
        assert.deepEqual(await s.blobs.list({}), []);
      });

      it('stops a put when its signal aborts, leaving nothing', async () => {
        const digest = sha('aborted');
        const controller = new AbortController();
        let started = false;
        const slow = new Readable({
          read() {
            if (started) return; // then stall, like a client that stopped sending
            started = true;
            this.push(Buffer.from('abo'));
            setTimeout(() => controller.abort(new Error('the client went away')), 20);
          },
        });
        await assert.rejects(s.blobs.put(digest, slow, { signal: controller.signal }));
        assert.equal(await s.blobs.stat(digest), undefined);
      });

      it('lists blobs in byte order, paginated', async () => {
        const digests = await Promise.all(['l1', 'l2', 'l3', 'l4'].map(put));
        digests.sort();
        assert.deepEqual(await s.blobs.list({}), digests);
        assert.deepEqual(await s.blobs.list({ n: 2 }), digests.slice(0, 2));
        assert.deepEqual(await s.blobs.list({ n: 2, last: digests[1] }), digests.slice(2));
        assert.deepEqual(await s.blobs.list({ last: digests[3] }), []);
        for (const d of digests) await s.blobs.delete(d);
      });
    });

    describe('uploads', () => {
      it('appends chunks in order and reads them back', async () => {
        const upload = await s.uploads.create('contract/a');
        assert.equal(upload.size, 0);
        assert.equal(upload.repository, 'contract/a');
        assert.equal(await s.uploads.append(upload.id, 0, body('hello ', 'wor')), 9);
        assert.equal(await s.uploads.append(upload.id, 9, body('ld')), 11);
        const info = await s.uploads.get(upload.id);
        assert.equal(info?.size, 11);
        assert.ok(info.updatedAt instanceof Date);
        assert.equal(await read(await s.uploads.open(upload.id)), 'hello world');
        assert.equal(await s.uploads.delete(upload.id), true);
        assert.equal(await s.uploads.delete(upload.id), false);
        assert.equal(await s.uploads.get(upload.id), undefined);
      });

      it('rejects an append at a stale offset and keeps the data', async () => {
        const upload = await s.uploads.create('contract/a');
        await s.uploads.append(upload.id, 0, body('abc'));
        assert.equal(await s.uploads.append(upload.id, 0, body('xyz')), undefined);
        assert.equal(await s.uploads.append(upload.id, 5, body('xyz')), undefined);
        assert.equal((await s.uploads.get(upload.id))?.size, 3);
        assert.equal(await read(await s.uploads.open(upload.id)), 'abc');
        await s.uploads.delete(upload.id);
      });

      it('lets only one of two concurrent appends at the same offset win', async () => {
        const upload = await s.uploads.create('contract/a');
        const results = await Promise.all([s.uploads.append(upload.id, 0, body('aaaa')), s.uploads.append(upload.id, 0, body('bbbb'))]);
        assert.deepEqual(results.filter((r) => r !== undefined), [4]);
        const data = await read(await s.uploads.open(upload.id));
        assert.ok(data === 'aaaa' || data === 'bbbb', `got ${data}`);
        await s.uploads.delete(upload.id);
      });

      it('rolls an append back when its body fails', async () => {
        const upload = await s.uploads.create('contract/a');
        await s.uploads.append(upload.id, 0, body('keep'));
        await assert.rejects(s.uploads.append(upload.id, 4, failing('partial')), /client went away/);
        assert.equal((await s.uploads.get(upload.id))?.size, 4);
        assert.equal(await read(await s.uploads.open(upload.id)), 'keep');
        await s.uploads.delete(upload.id);
      });

      it('saves the hash state with the append that produced it', async () => {
        const upload = await s.uploads.create('contract/a');
        assert.equal((await s.uploads.get(upload.id))?.hashState, undefined);
        await s.uploads.append(upload.id, 0, body('abc'), { hashState: () => Uint8Array.from([1, 2, 3]) });
        assert.deepEqual([...((await s.uploads.get(upload.id))?.hashState ?? [])], [1, 2, 3]);
        // the state is asked for only once the body was read to its end
        let ended = false;
        const tracked = body('def').once('end', () => (ended = true));
        await s.uploads.append(upload.id, 3, tracked, {
          hashState: () => {
            assert.equal(ended, true);
            return Uint8Array.from([4, 5]);
          },
        });
        assert.deepEqual([...((await s.uploads.get(upload.id))?.hashState ?? [])], [4, 5]);
        // an append without a state leaves none: an older state describes fewer bytes
        await s.uploads.append(upload.id, 6, body('g'));
        assert.equal((await s.uploads.get(upload.id))?.hashState, undefined);
        // a failed append keeps the state that matches the bytes kept
        await s.uploads.append(upload.id, 7, body('h'), { hashState: () => Uint8Array.from([8]) });
        await assert.rejects(s.uploads.append(upload.id, 8, failing('i'), { hashState: () => Uint8Array.from([9]) }));
        const after = await s.uploads.get(upload.id);
        assert.equal(after?.size, 8);
        assert.deepEqual([...(after.hashState ?? [])], [8]);
        await s.uploads.delete(upload.id);
      });

      it('commits an upload into its blob store, only at the verified size', async () => {
        if (!s.uploads.commit) return; // the fast path is optional: the core then copies through blobs.put
        const commit = (id: string, digest: Digest, size: number) => s.uploads.commit?.(id, digest, size);
        assert.ok(s.uploads.promotesInto, 'a store with commit() names the blob store it writes into');
        const upload = await s.uploads.create('contract/c');
        await s.uploads.append(upload.id, 0, body('commit me'));
        assert.equal(await commit(upload.id, sha('commit'), 6), undefined, 'the size differs');
        assert.equal((await s.uploads.get(upload.id))?.size, 9);
        const digest = sha('commit me');
        const blob = await commit(upload.id, digest, 9);
        assert.equal(blob?.digest, digest);
        assert.equal(blob.size, 9);
        assert.equal(await s.uploads.get(upload.id), undefined, 'a committed upload is forgotten');
        assert.equal(await read(await s.uploads.promotesInto.open(digest)), 'commit me');
        // committing bytes of a blob that exists keeps one copy
        const again = await s.uploads.create('contract/c');
        await s.uploads.append(again.id, 0, body('commit me'));
        assert.equal((await commit(again.id, digest, 9))?.size, 9);
        assert.equal(await s.uploads.get(again.id), undefined);
        assert.equal(await commit('00000000-0000-4000-8000-000000000000', digest, 9), undefined);
        await s.uploads.promotesInto.delete(digest);
      });

      it('answers undefined and false for unknown uploads', async () => {
        const unknown = '00000000-0000-4000-8000-000000000000';
        assert.equal(await s.uploads.get(unknown), undefined);
        assert.equal(await s.uploads.get('not-an-id'), undefined);
        assert.equal(await s.uploads.open(unknown), undefined);
        assert.equal(await s.uploads.append(unknown, 0, body('x')), undefined);
        assert.equal(await s.uploads.delete(unknown), false);
      });

      it('sweeps uploads idle since before the cutoff and keeps fresh ones', async () => {
        const old = await s.uploads.create('contract/sweep');
        await s.uploads.append(old.id, 0, body('old'));
        const cutoff = new Date(Date.now() + 50);
        await new Promise((r) => setTimeout(r, 100));
        const fresh = await s.uploads.create('contract/sweep');
        assert.ok((await s.uploads.sweep(cutoff)) >= 1);
        assert.equal(await s.uploads.get(old.id), undefined);
        assert.ok(await s.uploads.get(fresh.id));
        await s.uploads.delete(fresh.id);
      });
    });

    describe('manifests and referrers', () => {
      it('stores exact bytes and metadata, says whether a put is new, and stats without the bytes', async () => {
        const m = manifest('{"schemaVersion":2}', { artifactType: 'application/x', annotations: { 'org.opencontainers.image.title': 'dotted.key' }, references: [sha('x')] });
        const started = Date.now() - 1000;
        assert.equal(await s.manifests.put('contract/m', m), true);
        assert.equal(await s.manifests.put('contract/m', m), false, 'idempotent');
        const got = await s.manifests.get('contract/m', m.digest);
        assert.ok(got);
        assert.deepEqual(Buffer.from(got.body), m.body);
        assert.equal(got.mediaType, m.mediaType);
        assert.equal(got.size, m.size);
        assert.equal(got.artifactType, 'application/x');
        assert.deepEqual(got.annotations, { 'org.opencontainers.image.title': 'dotted.key' });
        assert.deepEqual(got.references, [sha('x')]);
        assert.ok(got.createdAt.getTime() >= started);
        const info = await s.manifests.stat('contract/m', m.digest);
        assert.deepEqual(
          { digest: info?.digest, mediaType: info?.mediaType, size: info?.size, artifactType: info?.artifactType, createdAt: info?.createdAt.getTime() },
          { digest: m.digest, mediaType: m.mediaType, size: m.size, artifactType: 'application/x', createdAt: got.createdAt.getTime() },
        );
        assert.equal('body' in (info ?? {}), false, 'a stat carries no bytes');
        assert.equal(await s.manifests.get('contract/other', m.digest), undefined);
        assert.equal(await s.manifests.stat('contract/other', m.digest), undefined);
        const removed = await s.manifests.delete('contract/m', m.digest);
        assert.equal(removed?.digest, m.digest);
        assert.equal(removed.mediaType, m.mediaType);
        assert.equal(await s.manifests.delete('contract/m', m.digest), undefined);
        assert.equal(await s.manifests.get('contract/m', m.digest), undefined);
        await wipe('contract/m');
      });

      it('indexes referrers by subject, in digest order, filtered and paginated', async () => {
        const subject = sha('subject that does not exist');
        const sigs = ['{"s":1}', '{"s":2}', '{"s":3}'].map((c) => manifest(c, { subject, artifactType: 'application/sig', annotations: { k: 'v' } }));
        const sbom = manifest('{"sbom":1}', { subject, mediaType: 'application/vnd.oci.image.index.v1+json', artifactType: 'application/sbom' });
        for (const m of [...sigs, sbom]) await s.manifests.put('contract/r', m);
        const all = [...sigs, sbom].map((m) => m.digest).sort();
        const listed = await s.manifests.referrers('contract/r', subject, {});
        assert.deepEqual(listed.map((d) => d.digest), all);
        const sig = listed.find((d) => d.digest === sigs[0]?.digest);
        assert.deepEqual(sig, { mediaType: sigs[0]?.mediaType, digest: sigs[0]?.digest, size: sigs[0]?.size, artifactType: 'application/sig', annotations: { k: 'v' } });
        assert.deepEqual((await s.manifests.referrers('contract/r', subject, { n: 2 })).map((d) => d.digest), all.slice(0, 2));
        assert.deepEqual((await s.manifests.referrers('contract/r', subject, { n: 2, last: all[1] })).map((d) => d.digest), all.slice(2));
        const onlySigs = await s.manifests.referrers('contract/r', subject, { artifactType: 'application/sig' });
        assert.deepEqual(onlySigs.map((d) => d.digest), sigs.map((m) => m.digest).sort());
        assert.equal((await s.manifests.referrers('contract/r', subject, { artifactType: 'application/sig', n: 1 })).length, 1);
        assert.deepEqual(await s.manifests.referrers('contract/elsewhere', subject, {}), []);
        await s.manifests.delete('contract/r', sbom.digest);
        assert.deepEqual(await s.manifests.referrers('contract/r', subject, { artifactType: 'application/sbom' }), []);
        await wipe('contract/r');
      });

      it('indexes which manifests depend on a digest, and forgets a deleted one', async () => {
        const layer = sha('dependency layer');
        const child = sha('child manifest');
        const m1 = manifest('{"dep":1}', { references: [layer, child, layer] });
        const m2 = manifest('{"dep":2}', { references: [layer] });
        await s.manifests.put('contract/dep', m1);
        await s.manifests.put('contract/dep', m2);
        const both = [m1.digest, m2.digest].sort();
        assert.deepEqual(await s.manifests.dependents('contract/dep', layer, {}), both);
        assert.deepEqual(await s.manifests.dependents('contract/dep', layer, { n: 1 }), both.slice(0, 1));
        assert.deepEqual(await s.manifests.dependents('contract/dep', layer, { n: 1, last: both[0] }), both.slice(1));
        assert.deepEqual(await s.manifests.dependents('contract/dep', child, {}), [m1.digest]);
        assert.deepEqual(await s.manifests.dependents('contract/elsewhere', layer, {}), []);
        await s.manifests.delete('contract/dep', m1.digest);
        assert.deepEqual(await s.manifests.dependents('contract/dep', layer, {}), [m2.digest]);
        assert.deepEqual(await s.manifests.dependents('contract/dep', child, {}), []);
        await wipe('contract/dep');
        assert.deepEqual(await s.manifests.dependents('contract/dep', layer, {}), []);
      });

      it("lists a repository's manifests in byte order, paginated", async () => {
        const ms = ['{"a":1}', '{"a":2}', '{"a":3}'].map((c) => manifest(c));
        for (const m of ms) await s.manifests.put('contract/ml', m);
        const digests = ms.map((m) => m.digest).sort();
        assert.deepEqual(await s.manifests.list('contract/ml', {}), digests);
        assert.deepEqual(await s.manifests.list('contract/ml', { n: 1, last: digests[0] }), [digests[1]]);
        assert.deepEqual(await s.manifests.list('contract/none', {}), []);
        await wipe('contract/ml');
      });
    });

    describe('tags', () => {
      it('points, moves, lists and deletes tags, saying what changed', async () => {
        const d1 = sha('one');
        const d2 = sha('two');
        assert.equal(await s.tags.put('contract/t', 'v1', d1), undefined, 'a new tag replaced nothing');
        await s.tags.put('contract/t', 'latest', d1);
        await s.tags.put('contract/t', 'Z', d2);
        assert.equal(await s.tags.get('contract/t', 'v1'), d1);
        assert.equal(await s.tags.put('contract/t', 'v1', d2), d1, 'a move says what it replaced');
        assert.equal(await s.tags.get('contract/t', 'v1'), d2);
        assert.deepEqual(await s.tags.list('contract/t', {}), ['Z', 'latest', 'v1'], 'byte order: uppercase first');
        assert.deepEqual(await s.tags.list('contract/t', { n: 1, last: 'Z' }), ['latest']);
        assert.deepEqual(await s.tags.list('contract/t', { n: 0 }), []);
        assert.deepEqual((await s.tags.find('contract/t', d2)).sort(), ['Z', 'v1']);
        assert.deepEqual(await s.tags.find('contract/t', d1), ['latest'], 'a moved tag is no longer found under its old digest');
        assert.equal(await s.tags.delete('contract/t', 'v1', d1), undefined, 'compare-and-delete refuses a moved tag');
        assert.equal(await s.tags.delete('contract/t', 'v1', d2), d2);
        assert.equal(await s.tags.delete('contract/t', 'v1'), undefined);
        assert.equal(await s.tags.get('contract/t', 'v1'), undefined);
        assert.equal(await s.tags.delete('contract/t', 'latest'), d1);
        await wipe('contract/t');
      });

      it('knows when a tag moved and when it was last pulled', async () => {
        const d1 = sha('stat one');
        const before = Date.now() - 1000;
        await s.tags.put('contract/ts', 'v1', d1);
        const info = await s.tags.stat('contract/ts', 'v1');
        assert.equal(info?.digest, d1);
        assert.ok(info.updatedAt.getTime() >= before);
        assert.equal(info.pulledAt, undefined);
        const pulledAt = new Date(Date.now() - 5000);
        await s.tags.pulled('contract/ts', 'v1', pulledAt);
        assert.equal(Math.round(((await s.tags.stat('contract/ts', 'v1'))?.pulledAt?.getTime() ?? 0) / 1000), Math.round(pulledAt.getTime() / 1000));
        await s.tags.pulled('contract/ts', 'gone', new Date());
        assert.equal(await s.tags.stat('contract/ts', 'gone'), undefined, 'recording a pull of a missing tag creates nothing');
        await s.tags.delete('contract/ts', 'v1');
        await s.tags.put('contract/ts', 'v1', d1);
        assert.equal((await s.tags.stat('contract/ts', 'v1'))?.pulledAt, undefined, 'a new tag has no pulls');
        await wipe('contract/ts');
      });

      it('keeps one value when the same tag is written concurrently', async () => {
        const digests = Array.from({ length: 8 }, (_, i) => sha(`race ${i}`));
        await Promise.all(digests.map((d) => s.tags.put('contract/race', 'hot', d)));
        assert.ok(digests.includes((await s.tags.get('contract/race', 'hot')) as Digest));
        assert.deepEqual(await s.tags.list('contract/race', {}), ['hot']);
        await wipe('contract/race');
      });
    });

    describe('links', () => {
      it('links blobs into repositories, says what is new, and finds them back', async () => {
        const d = sha('shared');
        const e = sha('other');
        assert.equal(await s.links.has('contract/l1', d), false);
        assert.equal(await s.links.add('contract/l1', d), true);
        assert.equal(await s.links.add('contract/l1', d), false);
        await s.links.add('contract/l1', e);
        await s.links.add('contract/l2/sub', d);
        await s.links.add('contract/l0', d);
        assert.equal(await s.links.has('contract/l1', d), true);
        assert.ok(((await s.links.stat('contract/l1', d))?.createdAt.getTime() ?? 0) > Date.now() - 60_000);
        assert.equal(await s.links.stat('contract/l1', sha('never linked')), undefined);
        assert.deepEqual(await s.links.repositories(d, {}), ['contract/l0', 'contract/l1', 'contract/l2/sub']);
        assert.deepEqual(await s.links.repositories(d, { n: 1, last: 'contract/l0' }), ['contract/l1']);
        assert.deepEqual(await s.links.list('contract/l1', {}), [d, e].sort());
        assert.deepEqual(await s.links.list('contract/l1', { n: 1 }), [d, e].sort().slice(0, 1));
        assert.equal(await s.links.delete('contract/l1', d), true);
        assert.equal(await s.links.delete('contract/l1', d), false);
        assert.deepEqual(await s.links.repositories(d, {}), ['contract/l0', 'contract/l2/sub']);
        await wipe('contract/l0', 'contract/l1', 'contract/l2/sub');
        assert.deepEqual(await s.links.repositories(d, {}), [], 'deleting a repository drops its links');
      });
    });

    describe('leases', () => {
      it('gives a lease to one holder at a time until it expires or is released', async () => {
        assert.equal(await s.leases.acquire('contract-gc', 'a', 200), true);
        assert.equal(await s.leases.acquire('contract-gc', 'b', 200), false);
        assert.equal(await s.leases.acquire('contract-gc', 'a', 200), true, 'the holder renews');
        const racing = await Promise.all(['c', 'd', 'e'].map((h) => s.leases.acquire('contract-other', h, 60_000)));
        assert.equal(racing.filter(Boolean).length, 1, 'of racing holders exactly one wins');
        await s.leases.release('contract-gc', 'b');
        assert.equal(await s.leases.acquire('contract-gc', 'b', 200), false, 'only the holder releases');
        await s.leases.release('contract-gc', 'a');
        assert.equal(await s.leases.acquire('contract-gc', 'b', 50), true);
        await new Promise((r) => setTimeout(r, 80));
        assert.equal(await s.leases.acquire('contract-gc', 'c', 200), true, 'an expired lease is taken over');
        await s.leases.release('contract-gc', 'c');
        const winner = ['c', 'd', 'e'][racing.indexOf(true)] ?? '';
        await s.leases.release('contract-other', winner);
      });
    });

    describe('repositories', () => {
      it('knows a repository from its first link, manifest or tag until it is deleted, and not its parent path', async () => {
        assert.equal(await s.repositories.has('contract/k1'), false);
        await s.links.add('contract/k1', sha('linked'));
        await s.manifests.put('contract/k2', manifest('{"k":2}'));
        await s.tags.put('contract/k3/child', 'v1', sha('tagged'));
        for (const name of ['contract/k1', 'contract/k2', 'contract/k3/child']) assert.equal(await s.repositories.has(name), true, name);
        assert.equal(await s.repositories.has('contract/k3'), false, 'a parent path is not a repository');
        // still known when emptied: the catalog, the tags list and blobs agree
        await s.links.delete('contract/k1', sha('linked'));
        await s.manifests.delete('contract/k2', sha('{"k":2}'));
        assert.equal(await s.repositories.has('contract/k1'), true);
        assert.equal(await s.repositories.has('contract/k2'), true);
        assert.deepEqual(await s.repositories.list({}), ['contract/k1', 'contract/k2', 'contract/k3/child']);
        assert.deepEqual(await s.repositories.list({ n: 1, last: 'contract/k1' }), ['contract/k2']);
        assert.equal(await s.repositories.delete('contract/k1'), true);
        assert.equal(await s.repositories.delete('contract/k1'), false);
        assert.equal(await s.repositories.has('contract/k1'), false);
        await wipe('contract/k2', 'contract/k3/child');
      });

      it('keeps each repository\'s usage: atomic additions, and a set that loses to any change since it was read', async () => {
        assert.equal(await s.repositories.usage('contract/u'), undefined, 'an unknown repository has none');
        await s.links.add('contract/u', sha('usage'));
        const start = await s.repositories.usage('contract/u');
        assert.equal(start?.bytes, 0);
        await Promise.all(Array.from({ length: 10 }, (_, i) => s.repositories.addUsage('contract/u', i + 1)));
        const after = await s.repositories.usage('contract/u');
        assert.equal(after?.bytes, 55, 'concurrent additions are all counted');
        assert.ok((after?.version ?? 0) > (start?.version ?? 0));
        const back = await s.repositories.addUsage('contract/u', -5);
        assert.equal(back?.bytes, 50, 'an addition resolves to the usage after it');
        const stale = after?.version ?? 0;
        assert.equal(await s.repositories.setUsage('contract/u', 1, stale), false, 'a change since the read wins');
        const now = (await s.repositories.usage('contract/u'))?.version ?? -1;
        assert.equal(await s.repositories.setUsage('contract/u', 42, now), true);
        assert.equal((await s.repositories.usage('contract/u'))?.bytes, 42);
        assert.equal(await s.repositories.addUsage('contract/nobody', 5), undefined);
        assert.equal(await s.repositories.has('contract/nobody'), false, 'adding usage makes no repository known');
        await wipe('contract/u');
        assert.equal(await s.repositories.usage('contract/u'), undefined);
      });

      it('lists repositories in byte order, "/" after "-" and "."', async () => {
        const names = ['contract/o/a', 'contract/o-a', 'contract/o.a', 'contract/o_a', 'contract/o'];
        for (const n of names) await s.links.add(n, sha('order'));
        assert.deepEqual(await s.repositories.list({}), [...names].sort());
        await wipe(...names);
      });

      it('deletes a repository with its tags, manifests and links, but not a nested one, and keeps blobs', async () => {
        const digest = await put('layer bytes');
        const m = manifest('{"delete":"me"}', { subject: sha('s') });
        await s.links.add('contract/d', digest);
        await s.manifests.put('contract/d', m);
        await s.tags.put('contract/d', 'v1', m.digest);
        await s.tags.put('contract/d/nested', 'v1', m.digest);
        assert.equal(await s.repositories.delete('contract/d'), true);
        assert.equal(await s.tags.get('contract/d', 'v1'), undefined);
        assert.deepEqual(await s.tags.list('contract/d', {}), []);
        assert.equal(await s.manifests.get('contract/d', m.digest), undefined);
        assert.deepEqual(await s.manifests.referrers('contract/d', sha('s'), {}), []);
        assert.equal(await s.links.has('contract/d', digest), false);
        assert.equal(await s.tags.get('contract/d/nested', 'v1'), m.digest, 'a nested repository stays');
        assert.ok(await s.blobs.stat(digest), 'blobs stay for garbage collection');
        await wipe('contract/d/nested');
        await s.blobs.delete(digest);
      });

      it('takes every valid name, 255 characters with slashes included', async () => {
        const long = Array.from({ length: 8 }, (_, i) => `${i}${'x'.repeat(30)}`).join('/').slice(0, 255).replace(/\/$/, 'y');
        assert.equal(long.length, 255);
        const m = manifest('{"long":true}', { subject: sha('long subject') });
        assert.equal(await s.links.add(long, sha('long')), true);
        await s.manifests.put(long, m);
        await s.tags.put(long, 'v1', m.digest);
        assert.deepEqual(await s.links.repositories(sha('long'), {}), [long]);
        assert.equal((await s.manifests.referrers(long, sha('long subject'), {})).length, 1);
        assert.deepEqual(await s.repositories.list({}), [long]);
        await wipe(long);
      });
    });
  });
}
