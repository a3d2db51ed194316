import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, type Writable } from 'node:stream';
import { RegistryError } from './errors.js';

/** The request as the router sees it: Node's, plus what Express adds when it is there. */
export type RegistryRequest = IncomingMessage & { baseUrl?: string; body?: unknown; _body?: boolean };

/**
 * Whether a body parser mounted before the registry already read the request. body-parser 1.x
 * (Express 4) flags it with `_body`; 2.x (Express 5) leaves only the read stream and `req.body` behind.
 */
function alreadyParsed(req: RegistryRequest): boolean {
  return req._body === true || (req.readableDidRead && req.body !== undefined);
}

/**
 * The request body as a stream. When a body parser mounted before the registry (express.raw(),
 * express.text()) already read it, its result is used; a body parsed into an object cannot give back
 * the bytes it was made of, so it is refused with an explanation.
 */
export function requestBody(req: RegistryRequest, code: 'BLOB_UPLOAD_INVALID' | 'MANIFEST_INVALID' = 'BLOB_UPLOAD_INVALID'): Readable {
  if (!alreadyParsed(req)) return req;
  const body = req.body;
  if (Buffer.isBuffer(body)) return Readable.from([body]);
  if (typeof body === 'string') return Readable.from([Buffer.from(body)]);
  throw new RegistryError(
    code,
    'the request body was parsed by a body parser mounted before the registry; mount the registry before express.json()/urlencoded() or limit their `type`',
  );
}

/**
 * Pipes the request body into `sink` with back-pressure. A failing request (the client went away)
 * fails the sink, so the store rolls back; a failing sink (the store, or a size check) leaves the
 * request alone, so that the refusal can still be answered on its connection.
 */
export function feed(req: RegistryRequest, sink: Writable): void {
  const source = requestBody(req);
  const fail = (err: Error) => {
    if (!sink.destroyed) sink.destroy(err);
  };
  // stays attached: a client that hangs up after the sink has finished is no error of ours
  source.on('error', fail);
  source.once('close', () => {
    if (!source.readableEnded) fail(new Error('aborted'));
  });
  sink.once('close', () => source.unpipe(sink));
  source.pipe(sink);
}

/** True when the request carries no body at all, so an append can be skipped. */
export function hasNoBody(req: RegistryRequest): boolean {
  if (alreadyParsed(req)) return Buffer.isBuffer(req.body) || typeof req.body === 'string' ? req.body.length === 0 : false;
  return !declaresBody(req);
}

/** The request's `Content-Length`, when it gives a valid one. */
export function contentLength(req: IncomingMessage): number | undefined {
  const value = req.headers['content-length'];
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** Whether the request announced a body (a non-zero Content-Length, or chunked transfer encoding). */
export function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/** Reads a whole small body (a manifest), refusing more than `limit` bytes with 413. */
export async function readSmallBody(req: RegistryRequest, limit: number): Promise<Buffer> {
  const tooLarge = () =>
    new RegistryError('MANIFEST_INVALID', `manifest is larger than the limit of ${limit} bytes`, { status: 413 });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of requestBody(req, 'MANIFEST_INVALID') as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** One query parameter; repeating it is a client error. */
export function queryParam(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw new RegistryError('UNSUPPORTED', `query parameter "${name}" given more than once`, { status: 400 });
  return values[0];
}

/** `n` of the tag and catalog lists: a non-negative integer. */
export function pageSize(query: URLSearchParams): number | undefined {
  const n = queryParam(query, 'n');
  if (n === undefined || n === '') return undefined;
  if (!/^\d{1,9}$/.test(n)) throw new RegistryError('UNSUPPORTED', `query parameter "n" must be a non-negative integer (got "${n}")`, { status: 400 });
  return Number(n);
}

/**
 * An upload `Content-Range` (`<start>-<end>`, inclusive). Also accepts the `bytes ` / `bytes=` prefix and
 * `/<total>` suffix some clients add.
 */
export function parseContentRange(header: string): { start: number; end: number } | undefined {
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  return end >= start && Number.isSafeInteger(end) ? { start, end } : undefined;
}

/**
 * An HTTP `Range` on blob GET (RFC 9110): one `bytes=` range, resolved against `size` to an
 * end-exclusive range. `undefined` = serve the whole blob (absent or several ranges); `null` = unsatisfiable.
 */
export function parseByteRange(header: string | undefined, size: number): { start: number; end: number } | undefined | null {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return null;
    return { start: Math.max(size - suffix, 0), end: size };
  }
  const start = Number(first);
  if (start >= size) return null;
  const end = last === '' ? size : Math.min(Number(last) + 1, size);
  if (end <= start) return undefined;
  return { start, end };
}

/** The `Range` header of an upload holding `size` bytes (`0-0` when empty, as distribution sends). */
export function uploadRange(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

/** Ends a response without a body, setting `Content-Length: 0` so keep-alive clients need not guess. */
export function endEmpty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Length', 0);
  res.end();
}

/** Sends a JSON document with an exact media type (never `; charset=…`). */
export function sendJson(res: ServerResponse, status: number, mediaType: string, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.statusCode = status;
  for (const [name, v] of Object.entries(headers)) res.setHeader(name, v);
  res.setHeader('Content-Type', mediaType);
  res.setHeader('Content-Length', body.length);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * Cuts a request body that stalls for `idleMs` (no byte arriving), so a stalled client cannot pin
 * a descriptor and the upload's resources forever. The timer stops once the body has arrived.
 */
export function guardBody(req: RegistryRequest, idleMs: number): void {
  if (!declaresBody(req) || req.complete) return;
  req.setTimeout(idleMs, () => req.destroy(new Error(`the request body stalled for ${idleMs} ms`)));
  req.once('end', () => req.setTimeout(0));
}

/** Bytes of a refused body read and dropped so that the client, still sending, reads the refusal instead of a broken pipe. */
const DRAIN_BYTES = 64 * 1024 * 1024;
const DRAIN_MS = 10_000;

/**
 * Ends a response written while the request body is still arriving (an early 401 or 413): the
 * body is read and dropped, up to a bound, before the connection closes. Closing at once would
 * reset a connection the client is still writing to, and most clients then report the reset, not
 * the answer.
 */
export function endAfterDraining(req: RegistryRequest, res: ServerResponse): void {
  let drained = 0;
  const finish = () => {
    clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  const timer = setTimeout(() => {
    finish();
    req.destroy();
  }, DRAIN_MS);
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_BYTES) {
      finish();
      req.destroy();
    }
  });
  req.once('end', finish);
  req.once('error', finish);
  req.resume();
}
