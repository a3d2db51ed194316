import type { Digest } from '../../digest.js';
import type { TagStore } from '../types.js';
import { type Connection, upsertRetrying } from './connection.js';
import { listPage } from './pages.js';
import { makeKnown } from './repositories.js';

/** Tags as documents `{ repository, tag, digest }`, unique per repository and tag. */
export function mongoTags(connection: Connection): TagStore {
  return {
    async get(repository, tag) {
      const mongo = await connection.get();
      return (await mongo.tags.findOne({ repository, tag }, { projection: { digest: 1 } }))?.digest as Digest | undefined;
    },

    async put(repository, tag, digest) {
      const mongo = await connection.get();
      await makeKnown(mongo, repository);
      // one atomic write that says what it replaced; of concurrent writers the last one stays
      const before = await upsertRetrying(() =>
        mongo.tags.findOneAndUpdate({ repository, tag }, { $set: { digest, updatedAt: new Date() } }, { upsert: true, returnDocument: 'before', projection: { digest: 1 }, writeConcern: mongo.commit }),
      );
      return before?.digest as Digest | undefined;
    },

    async stat(repository, tag) {
      const mongo = await connection.get();
      const doc = await mongo.tags.findOne({ repository, tag }, { projection: { digest: 1, updatedAt: 1, pulledAt: 1 } });
      if (!doc) return undefined;
      return { digest: doc.digest as Digest, updatedAt: doc.updatedAt, ...(doc.pulledAt && { pulledAt: doc.pulledAt }) };
    },

    async pulled(repository, tag, at) {
      const mongo = await connection.get();
      // a hint for garbage collection, not a commit point: the cheap write concern will do
      await mongo.tags.updateOne({ repository, tag }, { $max: { pulledAt: at } }, { writeConcern: mongo.chunkWrite });
    },

    async delete(repository, tag, expected) {
      const mongo = await connection.get();
      const removed = await mongo.tags.findOneAndDelete({ repository, tag, ...(expected !== undefined && { digest: expected }) }, { projection: { digest: 1 }, writeConcern: mongo.commit });
      return removed?.digest as Digest | undefined;
    },

    async list(repository, page) {
      return listPage((await connection.get()).tags, { repository }, 'tag', page);
    },

    async find(repository, digest) {
      const mongo = await connection.get();
      return (await mongo.tags.find({ repository, digest }, { projection: { tag: 1 } }).toArray()).map((t) => t.tag);
    },
  };
}
