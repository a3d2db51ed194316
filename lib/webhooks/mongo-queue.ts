import { randomUUID } from 'node:crypto';
import type { Collection, Db, MongoClient, WriteConcernSettings } from 'mongodb';
import type { MongoClientLike, WriteConcernLike } from '../storage/mongo/options.js';
import { type ClaimedDelivery, type Delivery, type DeliveryQueue, capacityOf } from './queue.js';

/** The part of a `mongodb` (v7) `Db` the queue needs. */
export interface MongoDbLike {
  collection(name: string): unknown;
}

/** Options of {@link mongoQueue}. Give exactly one of `db`, `client` and `uri`. */
export interface MongoQueueOptions {
  /** A `Db` the host app owns, e.g. the database of its `mongoStorage`. */
  db?: MongoDbLike;
  /** A `MongoClient` the host app owns; the queue uses its database `dbName`. */
  client?: MongoClientLike;
  /** A connection string: the queue opens its own client at `init()` and closes it at `close()`. */
  uri?: string;
  /** Driver options for the client opened from `uri`. */
  clientOptions?: Record<string, unknown>;
  /** The database, with `client` or `uri` (default: `'berth'`, as `mongoStorage`). */
  dbName?: string;
  /** The queue's collection (default: `'berth.webhooks'`, next to `mongoStorage`'s `berth.*` collections). */
  collection?: string;
  /** Most deliveries held at once; more are refused (default: 10000). Checked per batch, so several writers may overshoot it by a batch. */
  capacity?: number;
  /** Write concern of every queue write (default: majority, journaled). */
  writeConcern?: WriteConcernLike;
}

interface DeliveryDoc {
  _id: string;
  endpoint: string;
  eventId: string;
  eventType: string;
  body: string;
  contentType: string;
  attempts: number;
  createdAt: Date;
  dueAt: Date;
  lease?: string;
  lastError?: string;
}

/**
 * Deliveries as documents of one collection, shared by every instance that uses the database: a
 * claim is one atomic `findOneAndUpdate` that takes a due delivery and moves its due time past the
 * lease, so two instances never send the same delivery while a lease runs, and a delivery whose
 * instance died is due again when its lease ends. Needs the `mongodb` package (v7).
 *
 *     mongoQueue({ client: app.locals.mongoClient, dbName: 'registry' })
 */
export function mongoQueue(options: MongoQueueOptions): DeliveryQueue {
  const fail = (message: string): never => {
    throw new TypeError(`mongoQueue: ${message}`);
  };
  if (typeof options !== 'object') fail('options must be an object, e.g. { client, dbName: "registry" }.');
  const given = [options.db, options.client, options.uri].filter((v) => v !== undefined).length;
  if (given !== 1) fail('give exactly one of `db` (a Db the app owns), `client` (a MongoClient the app owns) and `uri` (a connection string).');
  if (options.db !== undefined && typeof options.db.collection !== 'function') fail('`db` must be a Db of the `mongodb` package (v7).');
  if (options.client !== undefined && typeof options.client.db !== 'function') fail('`client` must be a MongoClient of the `mongodb` package (v7).');
  if (options.uri !== undefined && (typeof options.uri !== 'string' || !/^mongodb(\+srv)?:\/\/./.test(options.uri))) fail('`uri` must be a mongodb:// or mongodb+srv:// connection string.');
  const capacity = capacityOf('mongoQueue', options.capacity);
  const dbName = options.dbName ?? 'berth';
  const name = options.collection ?? 'berth.webhooks';
  if (typeof name !== 'string' || name === '' || name.startsWith('system.')) fail('`collection` must be a collection name.');
  const writeConcern = (options.writeConcern ?? { w: 'majority', journal: true }) as WriteConcernSettings;

  let owned: MongoClient | undefined;
  let opening: Promise<Collection<DeliveryDoc>> | undefined;

  async function open(): Promise<Collection<DeliveryDoc>> {
    let db: Db;
    if (options.db) {
      db = options.db as unknown as Db;
    } else if (options.client) {
      db = (options.client as unknown as MongoClient).db(dbName);
    } else {
      // loaded here, not at import: the driver is an optional peer
      const driver = await import('mongodb').catch((err: unknown): never => {
        throw new Error('mongoQueue needs the `mongodb` package (v7): npm install mongodb', { cause: err });
      });
      owned = new driver.MongoClient(options.uri ?? '', options.clientOptions);
      db = owned.db(dbName);
    }
    const collection = db.collection<DeliveryDoc>(name);
    await collection.createIndexes([{ key: { dueAt: 1 }, name: 'berth_due' }]);
    return collection;
  }

  function queue(): Promise<Collection<DeliveryDoc>> {
    opening ??= open().catch((err: unknown) => {
      opening = undefined;
      throw err;
    });
    return opening;
  }

  return {
    async init() {
      await queue();
    },

    async enqueue(list) {
      if (list.length === 0) return 0;
      const c = await queue();
      const free = Math.max(0, capacity - (await c.countDocuments({})));
      const taken = list.slice(0, free);
      if (taken.length === 0) return 0;
      try {
        await c.insertMany(taken.map(toDoc), { ordered: false, writeConcern });
      } catch (err) {
        // an id queued already (the same event enqueued twice) is fine; anything else is not
        if (!onlyDuplicates(err)) throw err;
      }
      return taken.length;
    },

    async claim(n, leaseMs, endpoints) {
      const c = await queue();
      const claimed: ClaimedDelivery[] = [];
      for (let i = 0; i < n; i++) {
        const now = new Date();
        const lease = randomUUID();
        const doc = await c.findOneAndUpdate(
          { endpoint: { $in: [...endpoints] }, dueAt: { $lte: now } },
          { $set: { lease, dueAt: new Date(now.getTime() + leaseMs) } },
          { sort: { dueAt: 1 }, returnDocument: 'after', writeConcern },
        );
        if (!doc) break;
        claimed.push({ ...fromDoc(doc), lease });
      }
      return claimed;
    },

    async ack(id, lease) {
      const c = await queue();
      return (await c.deleteOne({ _id: id, lease }, { writeConcern })).deletedCount === 1;
    },

    async retryAt(id, lease, at, attempts, lastError) {
      const c = await queue();
      const result = await c.updateOne(
        { _id: id, lease },
        lastError === undefined ? { $set: { dueAt: at, attempts }, $unset: { lease: '', lastError: '' } } : { $set: { dueAt: at, attempts, lastError }, $unset: { lease: '' } },
        { writeConcern },
      );
      return result.matchedCount === 1;
    },

    async size() {
      return (await queue()).countDocuments({});
    },

    async close() {
      const client = owned;
      owned = undefined;
      opening = undefined;
      // a database or client the app passed in is the app's to close
      if (client) await client.close();
    },
  };
}

function toDoc(d: Delivery): DeliveryDoc {
  const { id, ...rest } = d;
  return { _id: id, ...rest };
}

function fromDoc(doc: DeliveryDoc): Delivery {
  const { _id, lease: _lease, ...rest } = doc;
  return { id: _id, ...rest };
}

function onlyDuplicates(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, writeErrors } = err as { code?: unknown; writeErrors?: unknown };
  if (Array.isArray(writeErrors) && writeErrors.length > 0) return writeErrors.every((e: { code?: unknown }) => e.code === 11000);
  return code === 11000;
}
