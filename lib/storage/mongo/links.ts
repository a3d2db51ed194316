import type { Digest } from '../../digest.js';
import type { LinkStore } from '../types.js';
import { type Connection, upsertRetrying } from './connection.js';
import { listPage } from './pages.js';
import { makeKnown } from './repositories.js';

/** Blob links as documents `{ repository, digest }`, indexed both ways (a repository's blobs, a blob's repositories). */
export function mongoLinks(connection: Connection): LinkStore {
  return {
    async has(repository, digest) {
      const mongo = await connection.get();
      return (await mongo.links.countDocuments({ repository, digest }, { limit: 1 })) > 0;
    },

    async stat(repository, digest) {
      const mongo = await connection.get();
      const doc = await mongo.links.findOne({ repository, digest }, { projection: { createdAt: 1 } });
      return doc ? { createdAt: doc.createdAt } : undefined;
    },

    async add(repository, digest) {
      const mongo = await connection.get();
      await makeKnown(mongo, repository);
      const result = await upsertRetrying(() =>
        mongo.links.updateOne({ repository, digest }, { $setOnInsert: { createdAt: new Date() } }, { upsert: true, writeConcern: mongo.commit }),
      );
      return result.upsertedCount === 1;
    },

    async delete(repository, digest) {
      const mongo = await connection.get();
      return (await mongo.links.deleteOne({ repository, digest }, { writeConcern: mongo.commit })).deletedCount === 1;
    },

    async repositories(digest, page) {
      return listPage((await connection.get()).links, { digest }, 'repository', page);
    },

    async list(repository, page) {
      return (await listPage((await connection.get()).links, { repository }, 'digest', page)) as Digest[];
    },
  };
}
