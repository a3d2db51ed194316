import { randomUUID } from 'node:crypto';
import type { Filter, MatchKeysAndValues, WriteConcernSettings } from 'mongodb';
import type { Mongo, WorkDoc } from './connection.js';

/** Records whose lease has lapsed (or that never had one): nobody is working on them. */
function unheld(now: Date): Filter<WorkDoc> {
  return { $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: { $lt: now } }] };
}

/**
 * The right of one process to work on one {@link WorkDoc} (append to an upload, commit it, write a
 * blob, reclaim chunks) until `leaseUntil`. While working it renews the lease every third of
 * `leaseMs`; a process that dies stops renewing, and another may claim the record once it lapses.
 * Every change a holder makes to the record is conditional on its token, so a holder whose lease
 * lapsed (a long pause) can no longer change anything.
 */
export class Lease {
  readonly token: string;
  readonly #mongo: Mongo;
  readonly #id: string;
  #timer: NodeJS.Timeout | undefined;
  /** Set when a renewal found the record gone or claimed by another process. */
  lost = false;

  constructor(mongo: Mongo, id: string, token: string) {
    this.#mongo = mongo;
    this.#id = id;
    this.token = token;
  }

  /** Renews the lease until {@link stop}; calls `onLost` once if a renewal finds it taken. */
  keep(onLost: () => void = () => undefined): void {
    const { work, chunkWrite, settings } = this.#mongo;
    this.#timer = setInterval(() => {
      work.updateOne({ _id: this.#id, lease: this.token }, { $set: { leaseUntil: new Date(Date.now() + settings.leaseMs) } }, { writeConcern: chunkWrite }).then(
        (result) => {
          if (result.matchedCount === 0 && this.#timer && !this.lost) {
            this.lost = true;
            onLost();
          }
        },
        () => undefined, // a failed renewal is retried at the next tick; the lease lapses if they all fail
      );
    }, Math.max(30, Math.floor(settings.leaseMs / 3)));
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Gives the record back (with `unset` fields removed too), if this lease still holds it. */
  async release(unset: Record<string, ''> = {}): Promise<void> {
    this.stop();
    await this.#mongo.work.updateOne({ _id: this.#id, lease: this.token }, { $unset: { lease: '', leaseUntil: '', ...unset } }, { writeConcern: this.#mongo.chunkWrite });
  }
}

export interface Claimed {
  doc: WorkDoc;
  lease: Lease;
}

/**
 * Atomically takes the record matching `filter` if nobody holds it, setting `set` in the same
 * step (the compare-and-set every upload operation starts with). `undefined` when there is no such
 * record or another process holds it.
 */
export async function claim(mongo: Mongo, filter: Filter<WorkDoc>, set: MatchKeysAndValues<WorkDoc> = {}, writeConcern: WriteConcernSettings = mongo.chunkWrite): Promise<Claimed | undefined> {
  const token = randomUUID();
  const now = new Date();
  const doc = await mongo.work.findOneAndUpdate(
    { $and: [filter, unheld(now)] },
    { $set: { ...set, lease: token, leaseUntil: new Date(now.getTime() + mongo.settings.leaseMs) } },
    { returnDocument: 'after', writeConcern },
  );
  return doc ? { doc, lease: new Lease(mongo, doc._id, token) } : undefined;
}

/** Starts new work held by this process: `doc` is inserted already claimed. */
export async function begin(mongo: Mongo, doc: Omit<WorkDoc, 'lease' | 'leaseUntil'>, writeConcern: WriteConcernSettings): Promise<Lease> {
  const token = randomUUID();
  await mongo.work.insertOne({ ...doc, lease: token, leaseUntil: new Date(Date.now() + mongo.settings.leaseMs) }, { writeConcern });
  return new Lease(mongo, doc._id, token);
}

/**
 * Finishes a claimed record: deletes the chunks of its file unless a files document makes them a
 * blob (an upload whose commit got that far), then the record itself.
 */
export async function reclaim(mongo: Mongo, doc: WorkDoc, lease: Lease): Promise<void> {
  lease.stop();
  const blob = await mongo.files.findOne({ _id: doc.fileId }, { projection: { _id: 1 } });
  if (!blob) await mongo.chunks.deleteMany({ files_id: doc.fileId }, { writeConcern: mongo.chunkWrite });
  await mongo.work.deleteOne({ _id: doc._id, lease: lease.token }, { writeConcern: mongo.chunkWrite });
}

/**
 * The janitor: reclaims every trash record nobody holds, and every upload or blob write idle since
 * before `cutoff` (a process died, or a client walked away). Resolves to how many uploads it removed.
 */
export async function sweep(mongo: Mongo, cutoff: Date): Promise<number> {
  const due: Filter<WorkDoc> = { $or: [{ kind: 'trash' }, { updatedAt: { $lt: cutoff } }] };
  let removed = 0;
  for await (const { _id } of mongo.work.find({ $and: [due, unheld(new Date())] }, { projection: { _id: 1 } })) {
    const claimed = await claim(mongo, { $and: [{ _id }, due] });
    if (!claimed) continue; // taken or refreshed meanwhile
    await reclaim(mongo, claimed.doc, claimed.lease);
    if (claimed.doc.kind === 'upload') removed++;
  }
  return removed;
}
