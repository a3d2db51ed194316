import { randomUUID } from 'node:crypto';

/** One event on its way to one endpoint. */
export interface Delivery {
  /** Unique per event and endpoint (`<endpoint>|<event id>`): enqueueing the same id twice keeps one. */
  id: string;
  /** The endpoint's `name`. */
  endpoint: string;
  /** The registry event's id: receivers de-duplicate with it. */
  eventId: string;
  eventType: string;
  /** The exact body POSTed at every attempt. */
  body: string;
  contentType: string;
  /** Failed attempts so far. */
  attempts: number;
  createdAt: Date;
  /** Not to be sent before this time. */
  dueAt: Date;
  /** What the last failed attempt got, for operators reading the queue. */
  lastError?: string;
}

/** A delivery one worker holds until `leaseMs` after its claim: nobody else gets it meanwhile. */
export interface ClaimedDelivery extends Delivery {
  /** The claim's token: `ack` and `retryAt` only count with the current one. */
  lease: string;
}

/**
 * Where deliveries wait. Workers (one per `createWebhooks`, possibly in several processes sharing
 * the queue) claim due deliveries for a while (a lease); a delivery whose worker died becomes due
 * again when its lease runs out, so every delivery is sent at least once.
 */
export interface DeliveryQueue {
  /**
   * Adds deliveries in order until the queue is full; resolves to how many it took (the rest are
   * refused and must be dropped by the caller). An id already queued counts as taken.
   */
  enqueue(deliveries: readonly Delivery[]): Promise<number>;
  /**
   * Takes up to `n` due deliveries for `endpoints`, oldest due first, each for `leaseMs`
   * milliseconds. Atomic: two workers never hold the same delivery while a lease runs.
   */
  claim(n: number, leaseMs: number, endpoints: readonly string[]): Promise<ClaimedDelivery[]>;
  /** Removes a delivered (or abandoned) delivery; `false` when the lease is no longer `lease`. */
  ack(id: string, lease: string): Promise<boolean>;
  /** Releases the claim and makes the delivery due again at `at`, after `attempts` failed attempts; `false` when the lease is no longer `lease`. */
  retryAt(id: string, lease: string, at: Date, attempts: number, lastError?: string): Promise<boolean>;
  /** Deliveries waiting or in flight. */
  size(): Promise<number>;
  /** Prepares the queue (directories, indexes); idempotent. */
  init?(): Promise<void>;
  /** Releases what the queue opened itself. */
  close?(): Promise<void>;
}

export interface MemoryQueueOptions {
  /** Most deliveries held at once; more are refused (default: 10000). */
  capacity?: number;
}

interface Entry {
  delivery: Delivery;
  lease?: string;
}

/** The deliveries of a queue held in process memory: the memory queue, and the index of the fs queue. */
export class QueueState {
  readonly entries = new Map<string, Entry>();
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** How many of `deliveries` fit (duplicates of queued ids count as taken); adds nothing. */
  fits(deliveries: readonly Delivery[]): number {
    let free = this.capacity - this.entries.size;
    let taken = 0;
    for (const d of deliveries) {
      if (!this.entries.has(d.id)) {
        if (free <= 0) break;
        free--;
      }
      taken++;
    }
    return taken;
  }

  add(delivery: Delivery): void {
    if (!this.entries.has(delivery.id)) this.entries.set(delivery.id, { delivery: { ...delivery } });
  }

  claim(n: number, leaseMs: number, endpoints: readonly string[]): ClaimedDelivery[] {
    const now = Date.now();
    const wanted = new Set(endpoints);
    const due = [...this.entries.values()]
      .filter((e) => e.delivery.dueAt.getTime() <= now && wanted.has(e.delivery.endpoint))
      .sort((a, b) => a.delivery.dueAt.getTime() - b.delivery.dueAt.getTime())
      .slice(0, Math.max(0, n));
    return due.map((entry) => {
      entry.lease = randomUUID();
      // a claim pushes the due time past the lease: if the worker dies, the delivery is due again then
      entry.delivery.dueAt = new Date(now + leaseMs);
      return { ...entry.delivery, lease: entry.lease };
    });
  }

  /** The entry when `lease` is its current claim. */
  held(id: string, lease: string): Entry | undefined {
    const entry = this.entries.get(id);
    return entry?.lease === lease ? entry : undefined;
  }

  retry(entry: Entry, at: Date, attempts: number, lastError: string | undefined): void {
    delete entry.lease;
    entry.delivery.dueAt = at;
    entry.delivery.attempts = attempts;
    if (lastError === undefined) delete entry.delivery.lastError;
    else entry.delivery.lastError = lastError;
  }
}

/**
 * Deliveries in process memory: fast, bounded, and gone when the process ends. Use `fsQueue` or
 * `mongoQueue` for deliveries that survive a restart.
 */
export function memoryQueue(options: MemoryQueueOptions = {}): DeliveryQueue {
  const state = new QueueState(capacityOf('memoryQueue', options.capacity));
  return {
    async enqueue(deliveries) {
      const taken = state.fits(deliveries);
      for (const d of deliveries.slice(0, taken)) state.add(d);
      return taken;
    },
    async claim(n, leaseMs, endpoints) {
      return state.claim(n, leaseMs, endpoints);
    },
    async ack(id, lease) {
      if (!state.held(id, lease)) return false;
      state.entries.delete(id);
      return true;
    },
    async retryAt(id, lease, at, attempts, lastError) {
      const entry = state.held(id, lease);
      if (!entry) return false;
      state.retry(entry, at, attempts, lastError);
      return true;
    },
    async size() {
      return state.entries.size;
    },
  };
}

/** Checks a queue's `capacity` option. */
export function capacityOf(factory: string, value: unknown): number {
  if (value === undefined) return 10_000;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new TypeError(`${factory}: \`capacity\` must be a positive integer (got ${JSON.stringify(value)}).`);
  return value;
}
