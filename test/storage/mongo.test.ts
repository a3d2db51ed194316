/**
 * The storage contract on the GridFS store, against the MongoDB-wire server in MONGODB_URI (start one with
 * `eval "$(bash scripts/mongo-server.sh start)"`), each run in a fresh database dropped at the end. Without
 * MONGODB_URI the tests skip with a reason; with BERTH_REQUIRE_MONGODB=1 (CI) a missing server fails instead.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { GridFSBucket, MongoClient, type Binary } from 'mongodb';
import { mongoStorage } from '../../lib/index.js';
import type { Digest } from '../../lib/digest.js';
import type { Storage } from '../../lib/storage/types.js';
import { testStorage } from '../../lib/testing/contract.js';

const uri = process.env.MONGODB_URI;
const required = process.env.BERTH_REQUIRE_MONGODB === '1';
const run = `berth_test_${Date.now()}_${randomBytes(3).toString('hex')}`;
const sha = (data: Buffer): Digest => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const KiB = 1024;

if (uri === undefined) {
  describe('mongo store', () => {
    if (required) {
      it('needs a MongoDB server', () => assert.fail('BERTH_REQUIRE_MONGODB=1 but MONGODB_URI is not set: start one with `eval "$(bash scripts/mongo-server.sh start)"`'));
    } else {
      it('needs MONGODB_URI (start a server with `eval "$(bash scripts/mongo-server.sh start)"`)', { skip: 'MONGODB_URI is not set' }, () => undefined);
    }
  });
} else {
  const client = new MongoClient(uri);
  let db = 0;
  const opened: Storage[] = [];
  // the contract closes its store at the end, but not when its final checks fail: an open client would keep this file running
  after(async () => {
    for (const store of opened) await store.close?.();
  });
  // the store opens and closes its own client from `uri`; a second client here inspects the database underneath
  testStorage(
    'mongo (GridFS)',
    async () => {
      const store = mongoStorage({ uri, dbName: `${run}_${db++}`, chunkSizeBytes: 4 * KiB, batchBytes: 8 * KiB, readBatchBytes: 8 * KiB });
      opened.push(store);
      return store;
    },
    {
    teardown: async () => {
      const name = `${run}_0`;
      const d = client.db(name);
      assert.equal(await d.collection('berth.chunks').countDocuments(), 0, 'no chunk is left');
      assert.equal(await d.collection('berth.uploads').countDocuments(), 0, 'no upload or work record is left');
      await d.dropDatabase();
    },
  });

  describe('mongo store: GridFS specifics', () => {
    const dbName = `${run}_gridfs`;
    let s: Storage;
    before(async () => {
      s = mongoStorage({ client, dbName, chunkSizeBytes: 1024, batchBytes: 3 * 1024, readBatchBytes: 3 * 1024, leaseMs: 300 });
      await s.init?.();
    });
    after(async () => {
      await s.close?.(); // leaves the client it was given open
      await client.db(dbName).dropDatabase();
      await client.close();
    });
    const files = () => client.db(dbName).collection<{ _id: Binary; filename: string; length: number; chunkSize: number }>('berth.files');
    const chunks = () => client.db(dbName).collection<{ files_id: Binary; n: number; data: Binary }>('berth.chunks');

    it('writes standard GridFS files the driver reads back, under a random id, never the digest', async () => {
      const data = randomBytes(5000);
      const digest = sha(data);
      await s.blobs.put(digest, Readable.from([data.subarray(0, 1500), data.subarray(1500)]));
      const file = await files().findOne({ filename: digest });
      assert.ok(file);
      assert.equal(file._id.sub_type, 4, 'a UUID');
      assert.equal(file.length, 5000);
      assert.equal(file.chunkSize, 1024);
      assert.deepEqual((await chunks().find({ files_id: file._id }).sort({ n: 1 }).toArray()).map((c) => [c.n, c.data.length()]), [[0, 1024], [1, 1024], [2, 1024], [3, 1024], [4, 904]]);
      const bucket = new GridFSBucket(client.db(dbName), { bucketName: 'berth' });
      assert.deepEqual(await buffer(bucket.openDownloadStream(file._id as never)), data);
      assert.deepEqual(await buffer(bucket.openDownloadStream(file._id as never, { start: 1000, end: 3000 })), data.subarray(1000, 3000));
      await s.blobs.delete(digest);
    });

    it('reads ranges that start and end anywhere, across batch edges', async () => {
      const data = randomBytes(10 * 1024 + 7);
      const digest = sha(data);
      await s.blobs.put(digest, Readable.from([data]));
      for (const [start, end] of [[0, data.length], [0, 1], [1023, 1025], [1024, 2048], [3000, 9000], [10 * 1024, data.length], [5, 5]] as const) {
        const stream = await s.blobs.open(digest, { range: { start, end } });
        assert.ok(stream);
        assert.deepEqual(await buffer(stream), data.subarray(start, end), `${start}-${end}`);
      }
      await s.blobs.delete(digest);
    });

    it('fails a read with a missing chunk instead of returning other bytes', async () => {
      const data = randomBytes(4096);
      const digest = sha(data);
      await s.blobs.put(digest, Readable.from([data]));
      const file = await files().findOne({ filename: digest });
      await chunks().deleteOne({ files_id: file?._id, n: 2 });
      const stream = await s.blobs.open(digest);
      assert.ok(stream);
      await assert.rejects(buffer(stream), /chunk 2 .* missing/);
      await s.blobs.delete(digest);
    });

    it('continues an upload through another store instance, with the tail and the hash state in the database', async () => {
      const other = mongoStorage({ client, dbName, chunkSizeBytes: 1024, batchBytes: 3 * 1024, readBatchBytes: 2 * 1024 });
      const data = randomBytes(3000);
      const upload = await s.uploads.create('mi/a');
      assert.equal(await s.uploads.append(upload.id, 0, Readable.from([data.subarray(0, 1500)]), { hashState: () => Uint8Array.from([7]) }), 1500);
      const seen = await other.uploads.get(upload.id);
      assert.equal(seen?.size, 1500);
      assert.deepEqual([...(seen.hashState ?? [])], [7]);
      assert.equal(await other.uploads.append(upload.id, 1500, Readable.from([data.subarray(1500)])), 3000);
      assert.deepEqual(await buffer((await s.uploads.open(upload.id))!), data);
      const blob = await s.uploads.commit?.(upload.id, sha(data), 3000);
      assert.equal(blob?.size, 3000);
      assert.deepEqual(await buffer((await other.blobs.open(sha(data)))!), data);
      await s.blobs.delete(sha(data));
    });

    it('repairs chunks a crashed append left past the session, and refuses appends while another holds the upload', async () => {
      const upload = await s.uploads.create('mi/crash');
      const data = randomBytes(2500);
      await s.uploads.append(upload.id, 0, Readable.from([data.subarray(0, 1200)]));
      const session = await client.db(dbName).collection<{ _id: string; fileId: Binary }>('berth.uploads').findOne({ _id: upload.id });
      assert.ok(session);
      // a process died mid-append: it wrote chunk 1 and held the session
      await chunks().insertOne({ files_id: session.fileId, n: 1, data: new (await import('mongodb')).Binary(randomBytes(1024)) });
      await client.db(dbName).collection('berth.uploads').updateOne({ _id: upload.id as never }, { $set: { lease: 'dead', leaseUntil: new Date(Date.now() + 400) } });
      assert.equal(await s.uploads.append(upload.id, 1200, Readable.from([data.subarray(1200)])), undefined, 'held: loses');
      await new Promise((r) => setTimeout(r, 450));
      assert.equal(await s.uploads.append(upload.id, 1200, Readable.from([data.subarray(1200)])), 2500, 'lapsed: continues');
      assert.deepEqual(await buffer((await s.uploads.open(upload.id))!), data);
      await s.uploads.commit?.(upload.id, sha(data), 2500);
      assert.deepEqual(await buffer((await s.blobs.open(sha(data)))!), data);
      await s.blobs.delete(sha(data));
    });

    it('sweeps the chunks of abandoned uploads and of blob writes that died, and keeps committed ones', async () => {
      const upload = await s.uploads.create('mi/sweep');
      await s.uploads.append(upload.id, 0, Readable.from([randomBytes(3000)]));
      const work = client.db(dbName).collection<{ _id: string; kind: string; fileId: Binary; chunkSize: number; updatedAt: Date }>('berth.uploads');
      const orphan = (await import('mongodb')).Binary.createFromHexString('00112233445566778899aabbccddeeff', 4);
      await work.insertOne({ _id: 'put-dead', kind: 'put', fileId: orphan, chunkSize: 1024, updatedAt: new Date(0) });
      await chunks().insertOne({ files_id: orphan, n: 0, data: new (await import('mongodb')).Binary(randomBytes(1024)) });
      assert.equal(await s.uploads.sweep(new Date(Date.now() + 1000)), 1);
      assert.equal(await work.countDocuments(), 0);
      assert.equal(await chunks().countDocuments(), 0);
    });

    it('keeps annotations with dots and exact bytes', async () => {
      const body = Buffer.from('{"annotations":{"org.opencontainers.image.title":"x"}}  ');
      await s.manifests.put('mi/m', { digest: sha(body), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: body.length, body, references: [], annotations: { 'org.opencontainers.image.title': 'x', $odd: 'y' } });
      const got = await s.manifests.get('mi/m', sha(body));
      assert.deepEqual(got?.body, body);
      assert.deepEqual(got.annotations, { 'org.opencontainers.image.title': 'x', $odd: 'y' });
      await s.repositories.delete('mi/m');
    });

    it('checks its options', () => {
      assert.throws(() => mongoStorage({}), /exactly one of `client`/);
      assert.throws(() => mongoStorage({ uri: 'http://x' }), /mongodb:\/\//);
      assert.throws(() => mongoStorage({ uri: 'mongodb://x', chunkSizeBytes: 20 * 1024 * 1024 }), /chunkSizeBytes/);
      assert.throws(() => mongoStorage({ uri: 'mongodb://x', dbName: 'a.b' }), /dbName/);
      assert.throws(() => mongoStorage({ uri: 'mongodb://x', bogus: 1 } as never), /unknown option `bogus`/);
    });
  });
}
