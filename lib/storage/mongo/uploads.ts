import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore, UploadInfo, UploadStore } from '../types.js';
import { commitFile, refresh } from './blobs.js';
import { ChunkWriter, readChunks } from './chunks.js';
import { type Connection, type Mongo, type WorkDoc, bytesOf, isDuplicateKey } from './connection.js';
import { claim, reclaim, sweep } from './work.js';

/**
 * Upload sessions that any process can continue (test-infrastructure.md §6, option A). The session
 * document holds the offset, the number of full chunks written (`nextN`), the bytes after them
 * (`tail`, shorter than a chunk) and the saved hash state. An append claims the session at the
 * expected offset (the compare-and-set: a stale or concurrent request finds no session to claim
 * and loses), writes full chunks straight into the GridFS chunks collection under the upload's
 * file id, and moves offset, nextN, tail and hash state in one conditional update. A commit inserts
 * the files document over those chunks, so the upload becomes the blob without a copy.
 */
export function mongoUploads(connection: Connection, blobs: BlobStore): UploadStore {
  async function session(mongo: Mongo, id: string): Promise<WorkDoc | null> {
    return mongo.work.findOne({ _id: id, kind: 'upload' }, { projection: { lease: 0, leaseUntil: 0 } });
  }

  return {
    shared: true,
    promotesInto: blobs,

    async create(repository) {
      const mongo = await connection.get();
      const doc: WorkDoc = {
        _id: randomUUID(),
        kind: 'upload',
        repository,
        fileId: mongo.newFileId(),
        chunkSize: mongo.settings.chunkSize,
        offset: 0,
        nextN: 0,
        tail: mongo.binary(new Uint8Array(0)),
        updatedAt: new Date(),
      };
      await mongo.work.insertOne(doc, { writeConcern: mongo.commit });
      return { id: doc._id, repository, size: 0, updatedAt: doc.updatedAt };
    },

    async get(id) {
      const doc = await session(await connection.get(), id);
      return doc ? infoOf(doc) : undefined;
    },

    async append(id, offset, body, options = {}) {
      const mongo = await connection.get();
      const claimed = await claim(mongo, { _id: id, kind: 'upload', offset, committing: { $exists: false } });
      if (!claimed) {
        body.resume();
        return undefined;
      }
      const { doc, lease } = claimed;
      const firstN = doc.nextN ?? 0;
      let writer: ChunkWriter | undefined;
      lease.keep(() => writer?.destroy(new Error('mongoStorage: another request took over this upload')));
      try {
        // chunks at or past nextN belong to an append that failed, or whose process died: not to the upload
        await mongo.chunks.deleteMany({ files_id: doc.fileId, n: { $gte: firstN } }, { writeConcern: mongo.chunkWrite });
        writer = new ChunkWriter(mongo, doc.fileId, doc.chunkSize, firstN, bytesOf(doc.tail));
        await pipeline(body, writer, options.signal ? { signal: options.signal } : {});
        const state = options.hashState?.();
        const size = offset + writer.bytes;
        // the commit point: only if this request still holds the session at the offset it started from
        const result = await mongo.work.updateOne(
          { _id: id, kind: 'upload', offset, lease: lease.token },
          {
            $set: { offset: size, nextN: writer.nextN, tail: mongo.binary(writer.tail()), updatedAt: new Date(), ...(state && { hashState: mongo.binary(state) }) },
            // an older state describes fewer bytes: none is better than a wrong one
            $unset: { lease: '', leaseUntil: '', ...(!state && { hashState: '' }) },
          },
          { writeConcern: mongo.commit },
        );
        return result.matchedCount === 1 ? size : undefined;
      } catch (err) {
        // the session keeps its offset; chunks this append wrote lie past nextN until the next append removes them
        await writer?.idle();
        await lease.release().catch(() => undefined);
        if (lease.lost || isDuplicateKey(err)) {
          body.resume();
          return undefined; // another request owns the upload now: this one lost the race
        }
        throw err;
      } finally {
        lease.stop();
      }
    },

    async open(id, options = {}) {
      const mongo = await connection.get();
      const doc = await session(mongo, id);
      if (!doc) return undefined;
      // a snapshot: later appends add chunks from nextN on and never touch the ones read here
      const chunks = readChunks(mongo, { fileId: doc.fileId, chunkSize: doc.chunkSize, length: (doc.nextN ?? 0) * doc.chunkSize, signal: options.signal });
      const tail = bytesOf(doc.tail);
      async function* all(): AsyncGenerator<Buffer> {
        for await (const chunk of chunks) yield chunk as Buffer;
        if (tail.length > 0) yield tail;
      }
      return Readable.from(all(), { objectMode: false, ...(options.signal && { signal: options.signal }) });
    },

    async commit(id, digest, size) {
      const mongo = await connection.get();
      // from here on no append may slip in; a commit that failed half-way may be retried
      const claimed = await claim(mongo, { _id: id, kind: 'upload', offset: size }, { committing: true }, mongo.commit);
      if (!claimed) return undefined;
      const { doc, lease } = claimed;
      lease.keep();
      try {
        const done = await mongo.files.findOne({ _id: doc.fileId }, { projection: { _id: 1 } });
        let blob;
        if (done) {
          blob = await refresh(mongo, digest); // a retried commit that had got as far as the files document
        } else {
          const nextN = doc.nextN ?? 0;
          await mongo.chunks.deleteMany({ files_id: doc.fileId, n: { $gte: nextN } }, { writeConcern: mongo.chunkWrite });
          blob = await commitFile(mongo, { fileId: doc.fileId, chunkSize: doc.chunkSize, nextN, tail: bytesOf(doc.tail), length: size }, digest);
        }
        await reclaim(mongo, doc, lease);
        return blob;
      } catch (err) {
        // appends may resume unless the files document made the chunks a blob
        const done = await mongo.files.findOne({ _id: doc.fileId }, { projection: { _id: 1 } }).catch(() => null);
        await lease.release(done ? {} : { committing: '' }).catch(() => undefined);
        throw err;
      } finally {
        lease.stop();
      }
    },

    async delete(id) {
      const mongo = await connection.get();
      // trash at once, so no append can commit after this; the chunks go now, or with the janitor when an append still runs
      const before = await mongo.work.findOneAndUpdate({ _id: id, kind: 'upload' }, { $set: { kind: 'trash' } }, { writeConcern: mongo.commit });
      if (!before) return false;
      const claimed = await claim(mongo, { _id: id, kind: 'trash' });
      if (claimed) await reclaim(mongo, claimed.doc, claimed.lease);
      return true;
    },

    async sweep(cutoff) {
      return sweep(await connection.get(), cutoff);
    },
  };
}

function infoOf(doc: WorkDoc): UploadInfo {
  const info: UploadInfo = { id: doc._id, repository: doc.repository ?? '', size: doc.offset ?? 0, updatedAt: doc.updatedAt };
  if (doc.hashState) info.hashState = new Uint8Array(bytesOf(doc.hashState));
  return info;
}
