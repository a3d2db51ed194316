import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { Digest, Manifest, Storage } from '../../lib/index.js';

/**
 * The storage contract: every store (memory, filesystem, and later GridFS) must pass it.
 * `create` makes a fresh, empty store; `teardown` removes whatever it left.
 */
export function testStorage(name: string, create: () => Promise<Storage>, teardown?: () => Promise<void>): void {
  describe(`storage contract: ${name}`, () => {
    let s: Storage;
    before(async () => {
      s = await create();
    });
    if (teardown) after(teardown);

    const sha = (data: string): Digest => `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const body = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)));
    const read = async (stream: Readable | undefined) => {
      assert.ok(stream, 'expected a stream');
      return text(stream);
    };
    async function blob(data: string): Promise<Digest> {
      const upload = await s.uploads.create('contract/blobs');
      assert.equal(await s.uploads.append(upload.id, 0, body(data)), data.length);
      const digest = sha(data);
      assert.deepEqual(await s.uploads.commit(upload.id, digest, data.length), { digest, size: data.length });
      return digest;
    }
    function manifest(content: string, extra: Partial<Manifest> = {}): Manifest {
      const bytes = Buffer.from(content);
      return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(content), size: bytes.length, body: bytes, references: [], ...extra };
    }

    describe('uploads and blobs', () => {
      it('appends chunks in order and commits them as a blob', async () => {
        const upload = await s.uploads.create('contract/a');
        assert.equal(upload.size, 0);
        assert.equal(upload.repository, 'contract/a');
        assert.equal(await s.uploads.append(upload.id, 0, body('hello ', 'wor')), 9);
        assert.equal(await s.uploads.append(upload.id, 9, body('ld')), 11);
        const info = await s.uploads.get(upload.id);
        assert.equal(info?.size, 11);
        assert.equal(await read(await s.uploads.open(upload.id)), 'hello world');
        const digest = sha('hello world');
        assert.deepEqual(await s.uploads.commit(upload.id, digest, 11), { digest, size: 11 });
        assert.equal(await s.uploads.get(upload.id), undefined, 'a committed upload is forgotten');
        assert.deepEqual(await s.blobs.stat(digest), { digest, size: 11 });
        assert.equal(await read(await s.blobs.open(digest)), 'hello world');
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
        const failing = new Readable({
          read() {
            this.push(Buffer.from('partial'));
            this.destroy(new Error('client went away'));
          },
        });
        await assert.rejects(s.uploads.append(upload.id, 4, failing), /client went away/);
        assert.equal((await s.uploads.get(upload.id))?.size, 4);
        assert.equal(await read(await s.uploads.open(upload.id)), 'keep');
        await s.uploads.delete(upload.id);
      });

      it('commits only when the upload still has the verified size', async () => {
        const upload = await s.uploads.create('contract/a');
        await s.uploads.append(upload.id, 0, body('abcdef'));
        assert.equal(await s.uploads.commit(upload.id, sha('abc'), 3), undefined);
        assert.equal(await s.blobs.stat(sha('abc')), undefined);
        assert.equal((await s.uploads.get(upload.id))?.size, 6);
        await s.uploads.delete(upload.id);
      });

      it('commits a blob that already exists without changing it', async () => {
        const digest = await blob('same bytes');
        assert.equal(await blob('same bytes'), digest);
        assert.equal(await read(await s.blobs.open(digest)), 'same bytes');
      });

      it('commits an empty upload as the empty blob', async () => {
        const digest = await blob('');
        assert.deepEqual(await s.blobs.stat(digest), { digest, size: 0 });
        assert.equal(await read(await s.blobs.open(digest)), '');
      });

      it('reads byte ranges with an exclusive end', async () => {
        const digest = await blob('0123456789');
        assert.equal(await read(await s.blobs.open(digest, { start: 2, end: 5 })), '234');
        assert.equal(await read(await s.blobs.open(digest, { start: 9, end: 10 })), '9');
      });

      it('answers undefined and false for what is missing', async () => {
        const missing = sha('never stored');
        assert.equal(await s.blobs.stat(missing), undefined);
        assert.equal(await s.blobs.open(missing), undefined);
        assert.equal(await s.blobs.delete(missing), false);
        assert.equal(await s.uploads.get('00000000-0000-4000-8000-000000000000'), undefined);
        assert.equal(await s.uploads.get('not-an-id'), undefined);
        assert.equal(await s.uploads.open('00000000-0000-4000-8000-000000000000'), undefined);
        assert.equal(await s.uploads.append('00000000-0000-4000-8000-000000000000', 0, body('x')), undefined);
        assert.equal(await s.uploads.commit('00000000-0000-4000-8000-000000000000', missing, 0), undefined);
        assert.equal(await s.uploads.delete('00000000-0000-4000-8000-000000000000'), false);
      });

      it('deletes blobs and uploads', async () => {
        const digest = await blob('to delete');
        assert.equal(await s.blobs.delete(digest), true);
        assert.equal(await s.blobs.stat(digest), undefined);
        const upload = await s.uploads.create('contract/a');
        assert.equal(await s.uploads.delete(upload.id), true);
        assert.equal(await s.uploads.get(upload.id), undefined);
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
      it('stores exact bytes and metadata per repository', async () => {
        const m = manifest('{"schemaVersion":2}', { artifactType: 'application/x', annotations: { a: 'b' }, references: [sha('x')] });
        await s.manifests.put('contract/m', m);
        const got = await s.manifests.get('contract/m', m.digest);
        assert.ok(got);
        assert.deepEqual(Buffer.from(got.body), m.body);
        assert.equal(got.mediaType, m.mediaType);
        assert.equal(got.size, m.size);
        assert.equal(got.artifactType, 'application/x');
        assert.deepEqual(got.annotations, { a: 'b' });
        assert.deepEqual(got.references, [sha('x')]);
        assert.equal(await s.manifests.get('contract/other', m.digest), undefined);
      });

      it('indexes referrers by subject and forgets them on delete', async () => {
        const subject = sha('subject that does not exist');
        const r1 = manifest('{"r":1}', { subject, artifactType: 'application/sig', annotations: { k: 'v' } });
        const r2 = manifest('{"r":2}', { subject, mediaType: 'application/vnd.oci.image.index.v1+json' });
        await s.manifests.put('contract/r', r1);
        await s.manifests.put('contract/r', r2);
        await s.manifests.put('contract/r', r2); // idempotent
        const list = (await s.manifests.referrers('contract/r', subject)).sort((a, b) => (a.digest < b.digest ? -1 : 1));
        const expected = [
          { mediaType: r1.mediaType, digest: r1.digest, size: r1.size, artifactType: 'application/sig', annotations: { k: 'v' } },
          { mediaType: r2.mediaType, digest: r2.digest, size: r2.size },
        ].sort((a, b) => (a.digest < b.digest ? -1 : 1));
        assert.deepEqual(list, expected);
        assert.deepEqual(await s.manifests.referrers('contract/elsewhere', subject), []);
        assert.equal(await s.manifests.delete('contract/r', r1.digest), true);
        assert.equal(await s.manifests.delete('contract/r', r1.digest), false);
        assert.deepEqual((await s.manifests.referrers('contract/r', subject)).map((d) => d.digest), [r2.digest]);
      });

      it('lists repositories holding manifests in byte order with paging', async () => {
        for (const repo of ['contract/list/b', 'contract/list/a', 'contract/list/c/d']) await s.manifests.put(repo, manifest(`{"repo":"${repo}"}`));
        const all = (await s.manifests.repositories({})).filter((r) => r.startsWith('contract/list/'));
        assert.deepEqual(all, ['contract/list/a', 'contract/list/b', 'contract/list/c/d']);
        assert.deepEqual(await s.manifests.repositories({ n: 2, last: 'contract/list/a' }), ['contract/list/b', 'contract/list/c/d']);
      });
    });

    describe('tags', () => {
      it('points, moves, lists and deletes tags', async () => {
        const d1 = sha('one');
        const d2 = sha('two');
        assert.equal(await s.tags.list('contract/t', {}), undefined, 'unknown repository');
        await s.tags.put('contract/t', 'v1', d1);
        await s.tags.put('contract/t', 'latest', d1);
        await s.tags.put('contract/t', 'Z', d2);
        assert.equal(await s.tags.get('contract/t', 'v1'), d1);
        await s.tags.put('contract/t', 'v1', d2);
        assert.equal(await s.tags.get('contract/t', 'v1'), d2);
        assert.deepEqual(await s.tags.list('contract/t', {}), ['Z', 'latest', 'v1'], 'byte order: uppercase first');
        assert.deepEqual(await s.tags.list('contract/t', { n: 1, last: 'Z' }), ['latest']);
        assert.deepEqual(await s.tags.list('contract/t', { n: 0 }), []);
        assert.deepEqual((await s.tags.find('contract/t', d2)).sort(), ['Z', 'v1']);
        assert.equal(await s.tags.delete('contract/t', 'v1', d1), false, 'compare-and-delete refuses a moved tag');
        assert.equal(await s.tags.delete('contract/t', 'v1', d2), true);
        assert.equal(await s.tags.delete('contract/t', 'v1'), false);
        assert.equal(await s.tags.get('contract/t', 'v1'), undefined);
      });

      it('keeps one value when the same tag is written concurrently', async () => {
        const digests = Array.from({ length: 8 }, (_, i) => sha(`race ${i}`));
        await Promise.all(digests.map((d) => s.tags.put('contract/race', 'hot', d)));
        assert.ok(digests.includes((await s.tags.get('contract/race', 'hot')) as Digest));
        assert.deepEqual(await s.tags.list('contract/race', {}), ['hot']);
      });

      it('knows a repository once anything was pushed to it, and not its parent path', async () => {
        await s.links.add('contract/known', sha('linked'));
        assert.deepEqual(await s.tags.list('contract/known', {}), []);
        await s.manifests.put('contract/parent/child', manifest('{"child":1}'));
        assert.deepEqual(await s.tags.list('contract/parent/child', {}), []);
        assert.equal(await s.tags.list('contract/parent', {}), undefined);
      });
    });

    describe('links', () => {
      it('links blobs into repositories and finds them back', async () => {
        const d = sha('shared');
        assert.equal(await s.links.has('contract/l1', d), false);
        await s.links.add('contract/l1', d);
        await s.links.add('contract/l1', d);
        await s.links.add('contract/l2/sub', d);
        assert.equal(await s.links.has('contract/l1', d), true);
        assert.deepEqual((await s.links.repositories(d)).sort(), ['contract/l1', 'contract/l2/sub']);
        assert.equal(await s.links.delete('contract/l1', d), true);
        assert.equal(await s.links.delete('contract/l1', d), false);
        assert.deepEqual(await s.links.repositories(d), ['contract/l2/sub']);
      });
    });
  });
}
