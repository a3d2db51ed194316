import type { Logger } from '../logger.js';

/**
 * One log line per kind of problem per interval: the first one at once, the rest counted and
 * reported with the next line, so a receiver that is down for an hour does not flood the log.
 */
export class Throttled {
  readonly #logger: Logger;
  readonly #level: 'warn' | 'error';
  readonly #message: string;
  readonly #interval: number;
  #last = -Infinity;
  #suppressed = 0;

  constructor(logger: Logger, level: 'warn' | 'error', message: string, interval = 10_000) {
    this.#logger = logger;
    this.#level = level;
    this.#message = message;
    this.#interval = interval;
  }

  report(details: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.#last < this.#interval) {
      this.#suppressed++;
      return;
    }
    this.#last = now;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#logger[this.#level]({ ...details, ...(suppressed > 0 && { alsoSinceLastLine: suppressed }) }, this.#message);
  }

  /** Reports what was counted but not logged yet. */
  flush(): void {
    if (this.#suppressed === 0) return;
    this.#logger[this.#level]({ alsoSinceLastLine: this.#suppressed }, this.#message);
    this.#suppressed = 0;
  }
}
