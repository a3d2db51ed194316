import type { LeaseStore } from '../types.js';
import { type Connection, isDuplicateKey } from './connection.js';

/**
 * Named leases as documents `{ _id: name, holder, until }`. Acquiring is one upsert conditional on
 * "mine or expired": when another holder's lease is live the filter matches nothing, the upsert
 * tries to insert a second document with the same `_id`, and the unique `_id` refuses it.
 */
export function mongoLeases(connection: Connection): LeaseStore {
  return {
    async acquire(name, holder, ttl) {
      const mongo = await connection.get();
      const now = new Date();
      try {
        await mongo.leases.updateOne(
          { _id: name, $or: [{ holder }, { until: { $lt: now } }] },
          { $set: { holder, until: new Date(now.getTime() + ttl) } },
          { upsert: true, writeConcern: mongo.commit },
        );
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },

    async release(name, holder) {
      const mongo = await connection.get();
      await mongo.leases.deleteOne({ _id: name, holder }, { writeConcern: mongo.commit });
    },
  };
}
