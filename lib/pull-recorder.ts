import type { Logger } from './logger.js';
import type { Storage } from './storage/types.js';

/** A tag's pull is written to the store at most this often per process: retention needs days, not seconds. */
const INTERVAL = 10 * 60 * 1000;
/** Tags remembered at once; the least recently pulled are forgotten first (and simply recorded again). */
const LIMIT = 10_000;

/**
 * Records pulls by tag cheaply, for retention rules such as "not pulled for 90 days": one store
 * write per tag per interval, off the request's path; a failure is logged, never answered.
 */
export class PullRecorder {
  readonly #storage: Storage;
  readonly #logger: Logger;
  readonly #recorded = new Map<string, number>();

  constructor(storage: Storage, logger: Logger) {
    this.#storage = storage;
    this.#logger = logger;
  }

  record(repository: string, tag: string): void {
    const key = `${repository}:${tag}`;
    const now = Date.now();
    const last = this.#recorded.get(key);
    if (last !== undefined && now - last < INTERVAL) return;
    this.#recorded.delete(key);
    this.#recorded.set(key, now);
    if (this.#recorded.size > LIMIT) {
      const oldest = this.#recorded.keys().next().value;
      if (oldest !== undefined) this.#recorded.delete(oldest);
    }
    this.#storage.tags.pulled(repository, tag, new Date(now)).catch((err: unknown) => this.#logger.warn({ err, repository, tag }, 'recording a pull failed'));
  }
}
