import type { RepositoryStore } from '../types.js';
import { type Connection, type Mongo, upsertRetrying } from './connection.js';
import { listPage } from './pages.js';

/**
 * Makes `name` known: called before the first record of a repository is written, so a record never
 * exists in a repository the catalog does not list.
 */
export async function makeKnown(mongo: Mongo, name: string): Promise<void> {
  await upsertRetrying(() => mongo.repositories.updateOne({ _id: name }, { $setOnInsert: { createdAt: new Date() } }, { upsert: true, writeConcern: mongo.commit }));
}

/** Repositories as documents `{ _id: name }`, listed by `_id` (byte order). */
export function mongoRepositories(connection: Connection): RepositoryStore {
  return {
    async has(name) {
      const mongo = await connection.get();
      return (await mongo.repositories.countDocuments({ _id: name }, { limit: 1 })) > 0;
    },

    async list(page) {
      const mongo = await connection.get();
      return listPage(mongo.repositories, {}, '_id', page);
    },

    async delete(name) {
      const mongo = await connection.get();
      // records first and the name last: an interrupted delete leaves a known repository to delete again, never hidden records
      const options = { writeConcern: mongo.commit };
      await Promise.all([mongo.tags.deleteMany({ repository: name }, options), mongo.manifests.deleteMany({ repository: name }, options), mongo.links.deleteMany({ repository: name }, options)]);
      return (await mongo.repositories.deleteOne({ _id: name }, options)).deletedCount === 1;
    },

    // usage lives on the repository's own document: `$inc` is atomic across instances
    async usage(name) {
      const mongo = await connection.get();
      const doc = await mongo.repositories.findOne({ _id: name });
      if (!doc) return undefined;
      return { bytes: doc.usage ?? 0, version: doc.usageVersion ?? 0 };
    },

    async addUsage(name, delta) {
      const mongo = await connection.get();
      const doc = await mongo.repositories.findOneAndUpdate({ _id: name }, { $inc: { usage: delta, usageVersion: 1 } }, { returnDocument: 'after', writeConcern: mongo.commit });
      return doc ? { bytes: doc.usage ?? 0, version: doc.usageVersion ?? 0 } : undefined;
    },

    async setUsage(name, bytes, version) {
      const mongo = await connection.get();
      // a document without a version yet is at version 0
      const filter = version === 0 ? { _id: name, $or: [{ usageVersion: 0 }, { usageVersion: { $exists: false } }] } : { _id: name, usageVersion: version };
      const result = await mongo.repositories.updateOne(filter, { $set: { usage: bytes }, $inc: { usageVersion: 1 } }, { writeConcern: mongo.commit });
      return result.modifiedCount === 1;
    },
  };
}
