import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Logger, consoleLogger } from '../logger.js';
import { ProcessLock } from '../process-lock.js';
import { Files } from '../storage/fs/files.js';
import { type Delivery, type DeliveryQueue, QueueState, capacityOf } from './queue.js';

export interface FsQueueOptions {
  /** The queue's directory (created if missing): one file per delivery under `deliveries/`. */
  dir: string;
  /** Most deliveries held at once; more are refused (default: 10000). */
  capacity?: number;
  /** Write each delivery through to the disk before it counts as queued (default: `true`). */
  fsync?: boolean;
  /** Where damaged delivery files are reported (default: the console). */
  logger?: Logger;
}

interface Shared {
  state: QueueState;
  files: Files;
  users: number;
  ready: Promise<void>;
  /** Writes per delivery run one after the other. */
  chains: Map<string, Promise<unknown>>;
}

// several queues on one directory inside one process share its index, as fsStorage shares a root
const shared = new Map<string, Shared>();

/**
 * Deliveries as files under `dir`, kept across restarts: every delivery is a JSON file written
 * atomically (a staging file renamed into place), read back at start-up. One process serves a
 * directory, as with `fsStorage` (a lock file refuses a second one; leases are kept in memory); for
 * several instances sharing one queue use `mongoQueue`.
 */
export function fsQueue(options: FsQueueOptions): DeliveryQueue {
  if (typeof options !== 'object' || typeof options.dir !== 'string' || options.dir === '') throw new TypeError('fsQueue: `dir` must be a directory path, e.g. fsQueue({ dir: "./data/webhooks" }).');
  const dir = resolve(options.dir);
  const capacity = capacityOf('fsQueue', options.capacity);
  const fsync = options.fsync ?? true;
  const logger = options.logger ?? consoleLogger;
  let mine: Shared | undefined;

  const deliveries = join(dir, 'deliveries');
  const lockPath = join(dir, 'lock');
  const lock = new ProcessLock(
    lockPath,
    (owner) => `fsQueue: ${lockPath} is held by process ${owner}: one process serves a queue directory at a time. Give each instance its own directory, or share a mongoQueue.`,
  );
  const fileOf = (id: string) => join(deliveries, `${createHash('sha256').update(id).digest('hex').slice(0, 48)}.json`);

  function attach(): Shared {
    if (mine) return mine;
    let s = shared.get(dir);
    if (!s) {
      const state = new QueueState(capacity);
      const files = new Files(join(dir, 'tmp'), fsync);
      s = { state, files, users: 0, chains: new Map(), ready: load(state) };
      const created = s;
      s.ready.catch(() => {
        if (shared.get(dir) === created) shared.delete(dir);
      });
      shared.set(dir, s);
    }
    s.users++;
    mine = s;
    return s;
  }

  async function load(state: QueueState): Promise<void> {
    await mkdir(deliveries, { recursive: true });
    await lock.acquire();
    // staging files of a process that stopped mid-write: only this process writes here now
    await rm(join(dir, 'tmp'), { recursive: true, force: true });
    for (const name of await readdir(deliveries)) {
      if (!name.endsWith('.json')) continue;
      const path = join(deliveries, name);
      try {
        const raw = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
        state.add(parse(raw));
      } catch (err) {
        logger.warn({ err, path }, 'fsQueue: a damaged delivery file was set aside');
        await rename(path, `${path}.damaged`).catch(() => undefined);
      }
    }
  }

  async function ready(): Promise<Shared> {
    const s = attach();
    try {
      await s.ready;
    } catch (err) {
      // a failed start (the directory held by another process) is tried again by the next call
      if (mine === s) {
        mine = undefined;
        s.users--;
      }
      throw err;
    }
    return s;
  }

  /** Runs the file work of one delivery after the previous one, so an ack never races its own enqueue. */
  function serial<T>(s: Shared, id: string, work: () => Promise<T>): Promise<T> {
    const next = (s.chains.get(id) ?? Promise.resolve()).then(work, work);
    const settled = next.catch(() => undefined);
    s.chains.set(id, settled);
    void settled.then(() => {
      if (s.chains.get(id) === settled) s.chains.delete(id);
    });
    return next;
  }

  return {
    async init() {
      await ready();
    },

    async enqueue(list) {
      const s = await ready();
      const taken = s.state.fits(list);
      const fresh = list.slice(0, taken).filter((d) => !s.state.entries.has(d.id));
      // durable first: a delivery is claimable only once its file is in place
      await Promise.all(fresh.map((d) => serial(s, d.id, () => s.files.writeAtomic(fileOf(d.id), JSON.stringify(d)))));
      for (const d of fresh) s.state.add(d);
      return taken;
    },

    async claim(n, leaseMs, endpoints) {
      const s = await ready();
      return s.state.claim(n, leaseMs, endpoints);
    },

    async ack(id, lease) {
      const s = await ready();
      if (!s.state.held(id, lease)) return false;
      s.state.entries.delete(id);
      await serial(s, id, () => unlink(fileOf(id)).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }));
      return true;
    },

    async retryAt(id, lease, at, attempts, lastError) {
      const s = await ready();
      const entry = s.state.held(id, lease);
      if (!entry) return false;
      s.state.retry(entry, at, attempts, lastError);
      const record = { ...entry.delivery };
      await serial(s, id, () => s.files.writeAtomic(fileOf(id), JSON.stringify(record)));
      return true;
    },

    async size() {
      return (await ready()).state.entries.size;
    },

    async close() {
      const s = mine;
      mine = undefined;
      if (!s) return;
      s.users--;
      await s.ready.catch(() => undefined);
      await Promise.all([...s.chains.values()]);
      if (s.users > 0 || shared.get(dir) !== s) return;
      shared.delete(dir);
      await lock.release();
    },
  };
}

function parse(raw: Record<string, unknown>): Delivery {
  const { id, endpoint, eventId, eventType, body, contentType, attempts, createdAt, dueAt, lastError } = raw;
  for (const value of [id, endpoint, eventId, eventType, body, contentType, createdAt, dueAt]) {
    if (typeof value !== 'string') throw new Error('a delivery file lacks a field');
  }
  if (typeof attempts !== 'number') throw new Error('a delivery file lacks its attempts');
  return {
    id: id as string,
    endpoint: endpoint as string,
    eventId: eventId as string,
    eventType: eventType as string,
    body: body as string,
    contentType: contentType as string,
    attempts,
    createdAt: new Date(createdAt as string),
    // claims are not written down: a delivery a dead process held is due at its file's time, which has passed
    dueAt: new Date(dueAt as string),
    ...(typeof lastError === 'string' && { lastError }),
  };
}

