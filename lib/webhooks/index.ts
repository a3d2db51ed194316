import { randomUUID } from 'node:crypto';
import type { RegistryEvent } from '../events.js';
import { type ResolvedEndpoint, type ResolvedWebhooks, type WebhooksOptions, resolveWebhooks } from './options.js';
import { type PayloadSource, payloadOf } from './payload.js';
import type { ClaimedDelivery, Delivery, DeliveryQueue } from './queue.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signPayload } from './signature.js';
import { Throttled } from './throttled.js';

export type { RepositoryEventType, RetryOptions, WebhookEndpoint, WebhookFilter, WebhooksOptions } from './options.js';
export type { PayloadFormat } from './payload.js';
export { CLOUDEVENTS_TYPE, DISTRIBUTION_TYPE } from './payload.js';
export { type ClaimedDelivery, type Delivery, type DeliveryQueue, type MemoryQueueOptions, memoryQueue } from './queue.js';
export { type FsQueueOptions, fsQueue } from './fs-queue.js';
export { type MongoDbLike, type MongoQueueOptions, mongoQueue } from './mongo-queue.js';
export { SIGNATURE_HEADER, TIMESTAMP_HEADER, type VerifyOptions, signPayload, verifyPayload } from './signature.js';

/** What happened to a delivery, for metrics and audits. */
export interface DeliveryRecord {
  /**
   * `queued`: written into the queue; `delivered`: the endpoint answered 2xx; `failed`: an attempt
   * failed and another is scheduled; `gave-up`: failed past `retry.maxAttempts` or `retry.maxAge`;
   * `dropped`: never queued, because the queue (or the buffer before it) was full.
   */
  outcome: 'queued' | 'delivered' | 'failed' | 'gave-up' | 'dropped';
  endpoint: string;
  eventId: string;
  eventType: string;
  /** The attempt's number (1 for the first), for `delivered`, `failed` and `gave-up`. */
  attempt?: number;
  /** The endpoint's HTTP status; absent when it did not answer (refused, timed out). */
  status?: number;
  /** How long the attempt took. */
  durationMs?: number;
  /** Why the attempt failed. */
  error?: string;
}

/** Webhook delivery of a registry's events. */
export interface Webhooks {
  /** Where deliveries wait. */
  readonly queue: DeliveryQueue;
  /** Calls `listener` with every delivery record (metrics use it); returns the unsubscribe function. */
  observe(listener: (record: DeliveryRecord) => void): () => void;
  /** Writes the events received so far into the queue and sends what is due now; resolves when those attempts ended. */
  flush(): Promise<void>;
  /** Stops listening and polling, waits for attempts in flight, then closes the queue. Queued deliveries stay queued (in a persistent queue, for the next start). */
  close(): Promise<void>;
}

const STAGE_BATCH = 100;

/**
 * Sends the registry's events to HTTP endpoints: signed, as CloudEvents or distribution-style
 * envelopes, filtered per endpoint, retried with exponential backoff and jitter until the endpoint
 * answers 2xx (at least once, with the event id for de-duplication), through a bounded queue that
 * never slows down or fails the request that caused the event.
 *
 *     const webhooks = createWebhooks({
 *       registry,
 *       queue: fsQueue({ dir: './data/webhooks' }),
 *       endpoints: [{ url: 'https://ci.example.com/hooks/berth', secret: process.env.HOOK_SECRET, format: 'cloudevents',
 *                     filter: { repositories: ['apps/**'], actions: ['manifest.pushed'] } }],
 *     });
 */
export function createWebhooks(options: WebhooksOptions): Webhooks {
  const o = resolveWebhooks(options);
  return new Dispatcher(o, options.registry.events);
}

class Dispatcher implements Webhooks {
  readonly queue: DeliveryQueue;
  readonly #o: ResolvedWebhooks;
  readonly #byName: Map<string, ResolvedEndpoint>;
  readonly #names: string[];
  readonly #source: PayloadSource;
  readonly #observers = new Set<(record: DeliveryRecord) => void>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #staged: Delivery[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #timer: NodeJS.Timeout;
  readonly #drops: Throttled;
  readonly #failures: Throttled;
  readonly #queueErrors: Throttled;
  #writing: Promise<void> | undefined;
  #pumping: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(o: ResolvedWebhooks, events: WebhooksOptions['registry']['events']) {
    this.#o = o;
    this.queue = o.queue;
    this.#byName = new Map(o.endpoints.map((e) => [e.name, e]));
    this.#names = o.endpoints.map((e) => e.name);
    this.#source = { source: o.source, baseUrl: o.baseUrl, addr: o.addr, instanceID: randomUUID(), typePrefix: o.typePrefix };
    this.#drops = new Throttled(o.logger, 'warn', 'webhooks: the queue is full; new deliveries are dropped');
    this.#failures = new Throttled(o.logger, 'warn', 'webhooks: a delivery attempt failed; it will be retried');
    this.#queueErrors = new Throttled(o.logger, 'error', 'webhooks: the delivery queue failed');
    // only the event types some endpoint wants: listening to pulls makes every pull build an event
    const wanted = new Set(o.endpoints.flatMap((e) => [...e.actions]));
    for (const type of wanted) this.#unsubscribe.push(events.on(type, (event) => this.#receive(event)));
    this.#timer = setInterval(() => void this.#pump(), o.pollInterval);
    this.#timer.unref();
    void this.#pump();
  }

  observe(listener: (record: DeliveryRecord) => void): () => void {
    this.#observers.add(listener);
    return () => this.#observers.delete(listener);
  }

  async flush(): Promise<void> {
    await this.#write();
    await this.#pump();
    while (this.#inFlight.size > 0 || this.#pumping) {
      await Promise.all([...this.#inFlight, this.#pumping]);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const off of this.#unsubscribe) off();
    clearInterval(this.#timer);
    await this.#write();
    this.#closed = true;
    while (this.#inFlight.size > 0 || this.#pumping) await Promise.all([...this.#inFlight, this.#pumping]);
    this.#drops.flush();
    this.#failures.flush();
    await this.queue.close?.();
  }

  /** An event arrived (after its request was answered): one delivery per endpoint that wants it, staged in memory. */
  #receive(event: RegistryEvent): void {
    if (this.#closed) return;
    const bodies = new Map<string, { body: string; contentType: string }>();
    for (const endpoint of this.#o.endpoints) {
      if (!endpoint.actions.has(event.type) || !endpoint.matches(event)) continue;
      let payload = bodies.get(endpoint.format);
      if (!payload) bodies.set(endpoint.format, (payload = payloadOf(endpoint.format, event, this.#source)));
      const delivery: Delivery = {
        id: `${endpoint.name}|${event.id}`,
        endpoint: endpoint.name,
        eventId: event.id,
        eventType: event.type,
        body: payload.body,
        contentType: payload.contentType,
        attempts: 0,
        createdAt: event.time,
        dueAt: event.time,
      };
      if (this.#staged.length >= this.#o.maxPending) this.#drop(delivery, 'the buffer before the queue is full');
      else this.#staged.push(delivery);
    }
    void this.#write();
  }

  /** Moves staged deliveries into the queue, one batch at a time; a failing queue is retried by the next event or poll. */
  #write(): Promise<void> {
    if (!this.#writing) {
      // cleared in a later turn, so that a run finishing at once cannot leave itself behind as the current one
      const run: Promise<void> = this.#drain().finally(() => {
        if (this.#writing === run) this.#writing = undefined;
      });
      this.#writing = run;
    }
    return this.#writing;
  }

  async #drain(): Promise<void> {
    while (this.#staged.length > 0) {
      const batch = this.#staged.splice(0, STAGE_BATCH);
      let taken: number;
      try {
        taken = await this.queue.enqueue(batch);
      } catch (err) {
        this.#queueErrors.report({ err, operation: 'enqueue' });
        // put them back (as far as the buffer has room) for the next try
        const room = Math.max(0, this.#o.maxPending - this.#staged.length);
        this.#staged.unshift(...batch.slice(0, room));
        for (const d of batch.slice(room)) this.#drop(d, 'the queue failed and the buffer is full');
        return;
      }
      for (const d of batch.slice(0, taken)) this.#emit({ outcome: 'queued', endpoint: d.endpoint, eventId: d.eventId, eventType: d.eventType });
      for (const d of batch.slice(taken)) this.#drop(d, 'the queue is full');
      if (taken > 0) void this.#pump();
    }
  }

  /** Claims due deliveries while there is room for more attempts in flight. */
  #pump(): Promise<void> {
    if (this.#pumping) {
      this.#again = true;
      return this.#pumping;
    }
    const run: Promise<void> = this.#claim().finally(() => {
      if (this.#pumping === run) this.#pumping = undefined;
    });
    this.#pumping = run;
    return run;
  }

  async #claim(): Promise<void> {
    try {
      if (this.#staged.length > 0) void this.#write();
      do {
        this.#again = false;
        const free = this.#o.concurrency - this.#inFlight.size;
        if (free <= 0 || this.#closed) break;
        const claimed = await this.queue.claim(free, this.#o.leaseMs, this.#names);
        for (const d of claimed) this.#start(d);
        if (claimed.length === free) this.#again = true;
      } while (this.#again);
    } catch (err) {
      this.#queueErrors.report({ err, operation: 'claim' });
    }
  }

  #start(delivery: ClaimedDelivery): void {
    const attempt: Promise<void> = this.#attempt(delivery)
      .catch((err: unknown) => this.#queueErrors.report({ err, operation: 'ack', delivery: delivery.id }))
      .finally(() => {
        this.#inFlight.delete(attempt);
        if (!this.#closed) void this.#pump();
      });
    this.#inFlight.add(attempt);
  }

  async #attempt(d: ClaimedDelivery): Promise<void> {
    const endpoint = this.#byName.get(d.endpoint);
    if (!endpoint) return; // claims name only known endpoints
    const attempt = d.attempts + 1;
    const started = performance.now();
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      ...endpoint.headers,
      'Content-Type': d.contentType,
      'User-Agent': 'berth-webhooks',
      'X-Berth-Event': d.eventType,
      'X-Berth-Event-Id': d.eventId,
      'X-Berth-Delivery': d.id,
      'X-Berth-Attempt': String(attempt),
      [TIMESTAMP_HEADER]: String(timestamp),
      ...(endpoint.secret !== undefined && { [SIGNATURE_HEADER]: signPayload(endpoint.secret, d.body, timestamp) }),
    };
    let status: number | undefined;
    let retryAfter: number | undefined;
    let error: string | undefined;
    try {
      // redirects are not followed: a signed body goes only where it was configured to go
      const res = await fetch(endpoint.url, { method: 'POST', headers, body: d.body, redirect: 'manual', signal: AbortSignal.timeout(endpoint.timeout) });
      status = res.status;
      retryAfter = retryAfterOf(res.headers.get('retry-after'));
      await res.body?.cancel().catch(() => undefined);
      if (status < 200 || status > 299) error = `HTTP ${status}`;
    } catch (err) {
      error = describe(err, endpoint.timeout);
    }
    const durationMs = performance.now() - started;
    const record = { endpoint: d.endpoint, eventId: d.eventId, eventType: d.eventType, attempt, durationMs, ...(status !== undefined && { status }) };
    if (error === undefined) {
      await this.queue.ack(d.id, d.lease);
      this.#emit({ outcome: 'delivered', ...record });
      return;
    }
    const { retry } = this.#o;
    if (attempt >= retry.maxAttempts || Date.now() - d.createdAt.getTime() >= retry.maxAge) {
      await this.queue.ack(d.id, d.lease);
      this.#o.logger.error({ endpoint: d.endpoint, url: endpoint.url, eventId: d.eventId, eventType: d.eventType, attempts: attempt, error }, 'webhooks: a delivery was given up');
      this.#emit({ outcome: 'gave-up', ...record, error });
      return;
    }
    const wait = backoff(attempt, retry.minDelay, retry.maxDelay, retryAfter);
    await this.queue.retryAt(d.id, d.lease, new Date(Date.now() + wait), attempt, error);
    this.#failures.report({ endpoint: d.endpoint, url: endpoint.url, eventId: d.eventId, attempt, error, retryInMs: Math.round(wait) });
    this.#emit({ outcome: 'failed', ...record, error });
  }

  #drop(d: Delivery, reason: string): void {
    this.#drops.report({ endpoint: d.endpoint, eventId: d.eventId, eventType: d.eventType, reason });
    this.#emit({ outcome: 'dropped', endpoint: d.endpoint, eventId: d.eventId, eventType: d.eventType });
  }

  #emit(record: DeliveryRecord): void {
    for (const listener of this.#observers) {
      try {
        listener(record);
      } catch (err) {
        this.#o.logger.error({ err }, 'webhooks: an observer failed');
      }
    }
  }
}

/** Exponential backoff with jitter: half the doubled delay fixed, half random, so failing instances do not retry in step. */
export function backoff(attempt: number, minDelay: number, maxDelay: number, retryAfter?: number): number {
  const base = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt - 1, 30));
  const jittered = base / 2 + Math.random() * (base / 2);
  return retryAfter === undefined ? jittered : Math.max(jittered, Math.min(retryAfter, maxDelay));
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date. */
function retryAfterOf(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function describe(err: unknown, timeout: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeout} ms`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  return err instanceof Error ? err.message : String(err);
}
