/**
 * A webhook receiver for the tests: a local HTTP server that records every request, can answer with
 * a chosen status, and can go down (its port closed: connection refused) and come back on the same port.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
  /** What the receiver answered. */
  status: number;
}

export class Receiver {
  readonly received: Received[] = [];
  /** The status to answer with (default 204); a function decides per request. */
  status: number | ((r: Received) => number) = 204;
  /** Extra response headers (e.g. Retry-After). */
  headers: Record<string, string> = {};
  /** Never answer (the sender times out). */
  hang = false;
  #server: http.Server | undefined;
  #port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hook`;
  }

  urlFor(path: string): string {
    return `http://127.0.0.1:${this.#port}${path}`;
  }

  async up(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now(), status: 0 };
        if (this.hang) return; // the sender's timeout ends it
        r.status = typeof this.status === 'function' ? this.status(r) : this.status;
        this.received.push(r);
        res.writeHead(r.status, this.headers);
        res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Closes the port: senders get connection refused until `up()`. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Requests answered 2xx. */
  accepted(): Received[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300);
  }

  json<T = Record<string, unknown>>(path?: string): T[] {
    return this.received.filter((r) => path === undefined || r.path === path).map((r) => JSON.parse(r.body) as T);
  }
}

/** Polls `check` until it holds or `ms` pass. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000, what: string | (() => string) = 'a condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
