/**
 * The load generator's HTTP/1.1 client: one keep-alive socket per connection, requests written as
 * prepared bytes, responses parsed just enough (status, headers, Content-Length or chunked body).
 * Lighter than node:http, and unlike autocannon and wrk it reads HEAD answers that carry a
 * Content-Length (test-infrastructure.md §3.5).
 */
import { connect, type Socket } from 'node:net';

export interface Reply {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

interface Pending {
  head: boolean;
  /** Drop the body's bytes instead of keeping them (large range reads). */
  discard: boolean;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  status?: number;
  headers?: Map<string, string>;
  /** Body bytes still to come (Content-Length), or -1 for a chunked body. */
  need?: number;
  parts?: Buffer[];
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

export class Conn {
  readonly #socket: Socket;
  readonly #ready: Promise<void>;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: Pending | undefined;
  #closed: Error | undefined;

  constructor(port: number, host = '127.0.0.1') {
    this.#socket = connect({ port, host, noDelay: true });
    this.#ready = new Promise((resolve, reject) => {
      this.#socket.once('connect', () => resolve());
      this.#socket.once('error', reject);
    });
    this.#socket.on('data', (data: Buffer) => this.#receive(data));
    const fail = (err: Error) => {
      this.#closed = err;
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.reject(err);
    };
    this.#socket.on('error', fail);
    this.#socket.on('close', () => fail(new Error('connection closed')));
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  /** Sends prepared request bytes (`head`: the request is a HEAD, so the answer has no body). */
  send(request: Buffer | string, head = false, discard = false): Promise<Reply> {
    const reply = this.#expect(head, discard);
    this.#socket.write(request);
    return reply;
  }

  request(method: string, path: string, headers: Record<string, string | number> = {}, body?: Buffer, discard = false): Promise<Reply> {
    return this.send(render(method, path, headers, body), method === 'HEAD', discard);
  }

  /** Sends a request whose body is written piece by piece with back-pressure (`length` bytes in all). */
  async upload(method: string, path: string, headers: Record<string, string | number>, length: number, pieces: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<Reply> {
    const reply = this.#expect(false, false);
    reply.catch(() => undefined);
    let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${length}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    this.#socket.write(`${head}\r\n`, 'latin1');
    for await (const piece of pieces) {
      if (this.#closed) break;
      if (!this.#socket.write(piece)) await new Promise<void>((resolve) => this.#socket.once('drain', resolve));
    }
    return reply;
  }

  close(): void {
    this.#socket.destroy();
  }

  #expect(head: boolean, discard: boolean): Promise<Reply> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#pending) return Promise.reject(new Error('one request at a time per connection'));
    return new Promise((resolve, reject) => {
      this.#pending = { head, discard, resolve, reject };
    });
  }

  #receive(data: Buffer): void {
    const pending = this.#pending;
    if (!pending) return;
    if (pending.need !== undefined && pending.need >= 0) {
      const n = Math.min(pending.need, data.length);
      if (!pending.discard) pending.parts?.push(n === data.length ? data : data.subarray(0, n));
      pending.need -= n;
      if (pending.need === 0) this.#complete(pending, Buffer.concat(pending.parts ?? []));
      return;
    }
    this.#buffer = this.#buffer.length === 0 ? data : Buffer.concat([this.#buffer, data]);
    const buffer = this.#buffer;
    if (pending.need === -1) {
      const parsed = dechunk(buffer, 0);
      if (parsed) this.#complete(pending, parsed[0]);
      return;
    }
    const end = buffer.indexOf(CRLFCRLF);
    if (end < 0) return;
    const status = Number(buffer.toString('latin1', 9, 12));
    const headers = new Map<string, string>();
    const lines = buffer.toString('latin1', 0, end).split('\r\n');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    pending.status = status;
    pending.headers = headers;
    const rest = buffer.subarray(end + 4);
    this.#buffer = Buffer.alloc(0);
    if (pending.head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      this.#complete(pending, Buffer.alloc(0));
    } else if (headers.get('transfer-encoding')?.includes('chunked')) {
      pending.need = -1;
      if (rest.length > 0) this.#receive(rest);
    } else {
      pending.need = Number(headers.get('content-length') ?? 0);
      pending.parts = [];
      if (pending.need === 0) this.#complete(pending, Buffer.alloc(0));
      else if (rest.length > 0) this.#receive(rest);
    }
  }

  #complete(pending: Pending, body: Buffer): void {
    this.#pending = undefined;
    this.#buffer = Buffer.alloc(0);
    pending.resolve({ status: pending.status ?? 0, headers: pending.headers ?? new Map<string, string>(), body });
  }
}

/** A chunked body starting at `at`: the body and where it ends, or `undefined` while incomplete. */
function dechunk(buffer: Buffer, at: number): [Buffer, number] | undefined {
  const parts: Buffer[] = [];
  for (;;) {
    const eol = buffer.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return undefined;
    const size = parseInt(buffer.toString('latin1', at, eol), 16);
    if (size === 0) {
      const trailerEnd = buffer.indexOf('\r\n', eol + 2, 'latin1');
      if (trailerEnd < 0) return undefined;
      return [Buffer.concat(parts), trailerEnd + 2];
    }
    if (buffer.length < eol + 2 + size + 2) return undefined;
    parts.push(buffer.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

export function render(method: string, path: string, headers: Record<string, string | number> = {}, body?: Buffer): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  if (body !== undefined || method === 'PUT' || method === 'POST' || method === 'PATCH') head += `Content-Length: ${body?.length ?? 0}\r\n`;
  head += '\r\n';
  return body && body.length > 0 ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
}

/** A pool of `n` open connections. */
export async function pool(port: number, n: number): Promise<Conn[]> {
  const conns = Array.from({ length: n }, () => new Conn(port));
  await Promise.all(conns.map((c) => c.ready()));
  return conns;
}

export interface Rate {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
}

/**
 * `connections` clients each send `next()`'s request as soon as their previous answer arrived,
 * for `seconds` (or until `limit` requests were sent); latency is measured per request.
 */
export async function hammer(
  port: number,
  connections: number,
  options: { seconds?: number; limit?: number; head?: boolean; ok?: (status: number) => boolean },
  next: (i: number) => Buffer,
): Promise<Rate> {
  const conns = await pool(port, connections);
  const ok = options.ok ?? ((s: number) => s >= 200 && s < 300);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let sent = 0;
  const limit = options.limit ?? Infinity;
  const started = performance.now();
  const deadline = options.seconds === undefined ? Infinity : started + options.seconds * 1000;
  await Promise.all(
    conns.map(async (conn) => {
      while (sent < limit && performance.now() < deadline) {
        const i = sent++;
        const t = performance.now();
        const reply = await conn.send(next(i), options.head === true);
        latencies.push(performance.now() - t);
        statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
        if (!ok(reply.status)) errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const c of conns) c.close();
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { requests: latencies.length, errors, seconds, perSecond: latencies.length / seconds, p50Ms: at(0.5), p99Ms: at(0.99), statuses };
}
