import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Binary } from 'mongodb';
import type { Digest } from '../../digest.js';
import type { BlobInfo, BlobStore } from '../types.js';
import { ChunkWriter, readChunks } from './chunks.js';
import { type Connection, type FileDoc, type Mongo, isDuplicateKey } from './connection.js';
import { listPage } from './pages.js';
import { begin, reclaim } from './work.js';

/** How often a commit re-counts chunks that a majority has not acknowledged yet, and for how long. */
const COUNT_RETRY_MS = 50;
const COUNT_PATIENCE_MS = 5000;

/**
 * Blobs as GridFS files: one files document per digest (`filename`), under a random id, written
 * after every chunk is in place, so a blob is visible whole or not at all.
 */
export function mongoBlobs(connection: Connection): BlobStore {
  return {
    async stat(digest) {
      return statBlob(await connection.get(), digest);
    },

    async open(digest, options = {}) {
      const mongo = await connection.get();
      const file = await mongo.files.findOne({ filename: digest });
      if (!file) return undefined;
      const { range, signal } = options;
      return readChunks(mongo, { fileId: file._id, chunkSize: file.chunkSize, length: file.length, ...(range && { start: range.start, end: range.end }), signal });
    },

    async put(digest, body, options = {}) {
      const mongo = await connection.get();
      const signal = options.signal ? { signal: options.signal } : {};
      const existing = await statBlob(mongo, digest);
      if (existing) {
        // one copy per digest: read the body anyway, so the caller's verification runs and its failure still fails the put
        await pipeline(body, new Writable({ write: (_chunk, _encoding, done) => done() }), signal);
        return refresh(mongo, digest);
      }
      const fileId = mongo.newFileId();
      const { chunkSize } = mongo.settings;
      // recorded first, so the chunks of a put that dies half-way are found and removed by the janitor
      const doc = { _id: `put-${randomUUID()}`, kind: 'put' as const, fileId, chunkSize, updatedAt: new Date() };
      const lease = await begin(mongo, doc, mongo.chunkWrite);
      const writer = new ChunkWriter(mongo, fileId, chunkSize, 0, Buffer.alloc(0));
      lease.keep(() => writer.destroy(new Error('mongoStorage: another process took over this blob write')));
      try {
        await pipeline(body, writer, signal);
        // the barrier: a commit-concern write after the chunks covers them (journal and oplog keep order)
        await mongo.work.updateOne({ _id: doc._id, lease: lease.token }, { $set: { updatedAt: new Date() } }, { writeConcern: mongo.commit });
        const stored = await commitFile(mongo, { fileId, chunkSize, nextN: writer.nextN, tail: writer.tail(), length: writer.bytes }, digest);
        await reclaim(mongo, doc, lease);
        return stored;
      } catch (err) {
        await writer.idle();
        await reclaim(mongo, doc, lease);
        throw err;
      } finally {
        lease.stop();
      }
    },

    async delete(digest) {
      const mongo = await connection.get();
      const file = await mongo.files.findOne({ filename: digest }, { projection: { _id: 1, chunkSize: 1 } });
      if (!file) return false;
      // the trash record must be durable before the files document goes, or a crash could orphan the chunks
      const doc = { _id: `trash-${randomUUID()}`, kind: 'trash' as const, fileId: file._id, chunkSize: file.chunkSize, updatedAt: new Date() };
      const lease = await begin(mongo, doc, mongo.commit);
      const removed = await mongo.files.deleteOne({ _id: file._id }, { writeConcern: mongo.commit });
      await reclaim(mongo, doc, lease);
      return removed.deletedCount === 1;
    },

    async list(page) {
      const mongo = await connection.get();
      return (await listPage(mongo.files, {}, 'filename', page)) as Digest[];
    },
  };
}

export async function statBlob(mongo: Mongo, digest: Digest): Promise<BlobInfo | undefined> {
  const file = await mongo.files.findOne({ filename: digest }, { projection: { length: 1, uploadDate: 1 } });
  return file ? { digest, size: file.length, createdAt: file.uploadDate } : undefined;
}

export interface Written {
  fileId: Binary;
  chunkSize: number;
  /** Full chunks written: `[0, nextN)`. */
  nextN: number;
  /** The rest, written here as the last chunk. */
  tail: Buffer;
  length: number;
}

/**
 * The commit point of a blob: writes the last (short) chunk, checks that a majority holds every
 * chunk, then inserts the files document. When the digest is stored already (another upload of the
 * same bytes won), the chunks written here are dropped and the existing blob is returned.
 */
export async function commitFile(mongo: Mongo, written: Written, digest: Digest): Promise<BlobInfo> {
  const { fileId, chunkSize, nextN, tail, length } = written;
  if (tail.length > 0) await mongo.chunks.insertOne({ files_id: fileId, n: nextN, data: mongo.binary(tail) }, { writeConcern: mongo.commit });
  await expectChunks(mongo, fileId, Math.ceil(length / chunkSize));
  const file: FileDoc = { _id: fileId, length, chunkSize, uploadDate: new Date(), filename: digest };
  try {
    await mongo.files.insertOne(file, { writeConcern: mongo.commit });
    return { digest, size: length, createdAt: file.uploadDate };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    await mongo.chunks.deleteMany({ files_id: fileId }, { writeConcern: mongo.chunkWrite });
    return refresh(mongo, digest, err);
  }
}

/**
 * Bytes stored again make the blob young again (`uploadDate`, its `createdAt`), so a garbage
 * collector does not take a blob a client is about to link.
 */
export async function refresh(mongo: Mongo, digest: Digest, cause?: unknown): Promise<BlobInfo> {
  const file = await mongo.files.findOneAndUpdate({ filename: digest }, { $set: { uploadDate: new Date() } }, { returnDocument: 'after', projection: { length: 1, uploadDate: 1 }, writeConcern: mongo.commit });
  if (!file) throw new Error(`mongoStorage: blob ${digest} was deleted while being stored again`, { cause });
  return { digest, size: file.length, createdAt: file.uploadDate };
}

/**
 * Counts the file's chunks as a majority of the replica set has them. Chunks go out with a cheaper
 * write concern; after a failover some could have been rolled back, and committing then would
 * publish a damaged blob. A count short of `expected` is re-read for a while (the majority
 * snapshot may trail the acknowledgement by moments), then fails the commit.
 */
async function expectChunks(mongo: Mongo, fileId: Binary, expected: number): Promise<void> {
  const deadline = Date.now() + COUNT_PATIENCE_MS;
  for (;;) {
    const found = await mongo.chunks.countDocuments({ files_id: fileId }, { readConcern: { level: 'majority' } });
    if (found === expected) return;
    if (found > expected || Date.now() > deadline) {
      throw new Error(`mongoStorage: file ${fileId.toString('hex')} has ${found} chunks where ${expected} were written; the blob is not committed (was there a failover?)`);
    }
    await new Promise((resolve) => setTimeout(resolve, COUNT_RETRY_MS));
  }
}
