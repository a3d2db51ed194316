/**
 * Shared helpers for the HTTP tests: start a host app with the registry on an ephemeral port, and a
 * tiny fetch-based client (push a blob via POST+PUT, push a manifest, build images).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { allowAll, createRegistry, fsStorage, memoryStorage, mongoStorage, type Registry, type RegistryOptions, type Storage } from '../../lib/index.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export type Algorithm = 'sha256' | 'sha512';

export function digestOf(data: Uint8Array | string, algorithm: Algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [key: string]: unknown;
}

export function descriptor(mediaType: string, data: Uint8Array | string, algorithm: Algorithm = 'sha256'): Descriptor {
  return { mediaType, digest: digestOf(data, algorithm), size: Buffer.byteLength(data) };
}

/** A running HTTP server on 127.0.0.1 with an ephemeral port. */
export interface Served {
  origin: string;
  server: http.Server;
  close(): Promise<void>;
}

export async function listen(handler: http.RequestListener): Promise<Served> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export type StoreKind = 'memory' | 'fs' | 'mongo';

/** A store for one test group, plus its clean-up (the fs store lives in a fresh temp dir, the mongo store in a fresh database). */
export interface StoreFixture {
  kind: StoreKind;
  storage: Storage;
  cleanup(): Promise<void>;
}

/**
 * The stores the store-parametrised tests run on: `BERTH_TEST_STORES` (e.g. `mongo` in the GridFS CI,
 * which has a server in MONGODB_URI), by default memory and fs.
 */
export function testStores(): StoreKind[] {
  const kinds = (process.env.BERTH_TEST_STORES ?? 'memory fs').split(/[\s,]+/).filter(Boolean);
  for (const kind of kinds) if (kind !== 'memory' && kind !== 'fs' && kind !== 'mongo') throw new Error(`BERTH_TEST_STORES: unknown store "${kind}"`);
  return kinds as StoreKind[];
}

export async function makeStore(kind: StoreKind): Promise<StoreFixture> {
  if (kind === 'memory') return { kind, storage: memoryStorage(), cleanup: async () => undefined };
  if (kind === 'mongo') {
    const uri = process.env.MONGODB_URI;
    if (uri === undefined) throw new Error('the mongo store needs MONGODB_URI (eval "$(bash scripts/mongo-server.sh start)")');
    const dbName = `berth_api_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`;
    const storage = mongoStorage({ uri, dbName });
    await storage.init?.();
    return {
      kind,
      storage,
      cleanup: async () => {
        const { MongoClient } = await import('mongodb');
        const client = new MongoClient(uri);
        try {
          await client.db(dbName).dropDatabase();
        } finally {
          await client.close();
          await storage.close?.();
        }
      },
    };
  }
  const root = await mkdtemp(join(tmpdir(), 'berth-api-'));
  return { kind, storage: fsStorage({ root, fsync: false }), cleanup: () => rm(root, { recursive: true, force: true }) };
}

export interface TestRegistry extends Client {
  served: Served;
  registry: Registry;
  close(): Promise<void>;
}

/**
 * An Express 5 app with `createRegistry({ storage: memoryStorage(), authorize: allowAll, ...options })`
 * at its root, plus a host route `GET /hello` to prove that other paths fall through.
 */
export async function startRegistry(options: Partial<RegistryOptions> = {}): Promise<TestRegistry> {
  const registry = createRegistry({ storage: memoryStorage(), authorize: allowAll, ...options });
  const app = express();
  app.use(registry);
  app.get('/hello', (_req, res) => {
    res.type('text/plain').send('hello from the host app');
  });
  const served = await listen(app);
  const client = new Client(served.origin);
  return Object.assign(client, { served, registry, close: () => served.close() });
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** One request through node:http, for precise control: no path normalisation, explicit Content-Length. */
export function rawRequest(
  origin: string,
  method: string,
  path: string,
  headers: http.OutgoingHttpHeaders = {},
  body?: Buffer | string,
): Promise<RawResponse> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The values of one header, one per header line. */
export function headerLines(raw: RawResponse, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.rawHeaders.length; i += 2) {
    if (raw.rawHeaders[i]?.toLowerCase() === name.toLowerCase()) out.push(raw.rawHeaders[i + 1] ?? '');
  }
  return out;
}

export interface ErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** Asserts an OCI error envelope (application/json, no charset) and returns its entries. */
export async function errorsOf(res: Response | RawResponse): Promise<ErrorEntry[]> {
  let type: string | null | undefined;
  let text: string;
  if (res instanceof Response) {
    type = res.headers.get('content-type');
    text = await res.text();
  } else {
    type = res.headers['content-type'];
    text = res.body.toString('utf8');
  }
  assert.equal(type, 'application/json', `error Content-Type (body: ${text})`);
  const doc = JSON.parse(text) as { errors?: ErrorEntry[] };
  assert.ok(Array.isArray(doc.errors) && doc.errors.length > 0, `an errors array: ${text}`);
  for (const e of doc.errors) assert.match(e.code, /^[A-Z_]+$/);
  return doc.errors;
}

/** Asserts status and that the first (or only) error code is `code`. */
export async function assertError(res: Response | RawResponse, status: number, code?: string): Promise<ErrorEntry[]> {
  assert.equal(res.status, status, `status (expected ${status}${code ? ` ${code}` : ''})`);
  const errors = await errorsOf(res);
  if (code !== undefined) assert.equal(errors[0]?.code, code, JSON.stringify(errors));
  return errors;
}

export interface ImageOptions {
  tag?: string;
  mediaType?: string;
  configMediaType?: string;
  layerMediaType?: string;
  layers?: (Buffer | string)[];
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
  /** Extra top-level fields merged into the manifest. */
  extra?: Record<string, unknown>;
  /** A distinct config, so manifests built alike still differ. */
  seed?: string;
}

export interface Pushed {
  digest: string;
  body: Buffer;
  mediaType: string;
  descriptor: Descriptor;
  res: Response;
}

/**
 * fetch options with the bodies these tests send. (With DOM typings, `RequestInit.body` refuses Node
 * Buffers and async iterables, which Node's fetch accepts; a streamed body needs `duplex: 'half'`.)
 */
export type Init = Omit<RequestInit, 'body'> & {
  body?: Uint8Array | string | AsyncIterable<Uint8Array> | null;
  duplex?: 'half';
};

/** A tiny fetch-based client. Paths given to `req` are relative to the registry's mount point. */
export class Client {
  readonly origin: string;
  readonly prefix: string;
  /** Sent with every request (e.g. credentials), under the request's own headers. */
  readonly headers: Record<string, string>;

  constructor(origin: string, prefix = '', headers: Record<string, string> = {}) {
    this.origin = origin;
    this.prefix = prefix;
    this.headers = headers;
  }

  /** `path` below the mount point, e.g. `/v2/`. */
  req(method: string, path: string, init: Init = {}): Promise<Response> {
    return fetch(this.origin + this.prefix + path, this.#init(method, init));
  }

  /** A `Location` header value (already carries the mount prefix). */
  at(method: string, location: string, init: Init = {}): Promise<Response> {
    return fetch(new URL(location, this.origin), this.#init(method, init));
  }

  #init(method: string, init: Init): RequestInit {
    const headers = { ...this.headers, ...(init.headers as Record<string, string> | undefined) };
    return { redirect: 'manual', ...init, headers, method } as RequestInit;
  }

  raw(method: string, path: string, headers: http.OutgoingHttpHeaders = {}, body?: Buffer | string): Promise<RawResponse> {
    return rawRequest(this.origin, method, this.prefix + path, headers, body);
  }

  /** POST a session; asserts 202 and returns its Location. */
  async startUpload(name: string): Promise<string> {
    const res = await this.req('POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(res.status, 202, await res.text());
    const location = res.headers.get('location');
    assert.ok(location, 'POST Location');
    return location;
  }

  /** Pushes a blob with POST + PUT (monolithic); asserts 201 and returns its digest. */
  async pushBlob(name: string, data: Buffer | string, algorithm: Algorithm = 'sha256'): Promise<string> {
    const digest = digestOf(data, algorithm);
    const location = await this.startUpload(name);
    const res = await this.at('PUT', withQuery(location, { digest }), {
      body: Buffer.from(data),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(res.status, 201, `blob PUT: ${await res.text()}`);
    return digest;
  }

  /** PUTs manifest bytes; no assertion. */
  putManifest(name: string, ref: string, body: Buffer | string | object, mediaType: string | undefined = OCI_MANIFEST): Promise<Response> {
    const bytes = typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    return this.req('PUT', `/v2/${name}/manifests/${ref}`, {
      body: bytes,
      headers: mediaType === undefined ? {} : { 'Content-Type': mediaType },
    });
  }

  /** PUTs a manifest and asserts 201. */
  async pushManifest(name: string, ref: string, body: Buffer | string | object, mediaType = OCI_MANIFEST): Promise<Pushed> {
    const bytes = typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    const res = await this.putManifest(name, ref, bytes, mediaType);
    assert.equal(res.status, 201, `manifest PUT ${name}:${ref}: ${await res.clone().text()}`);
    const digest = ref.includes(':') ? ref : digestOf(bytes);
    return { digest, body: bytes, mediaType, descriptor: { mediaType, digest, size: bytes.length }, res };
  }

  /** Pushes a config and layers, then an image manifest referencing them (by tag, or by digest when no tag). */
  async pushImage(name: string, opts: ImageOptions = {}): Promise<Pushed & { config: Descriptor; layers: Descriptor[] }> {
    const mediaType = opts.mediaType ?? OCI_MANIFEST;
    const docker = mediaType === DOCKER_MANIFEST;
    const configData = JSON.stringify({ architecture: 'amd64', os: 'linux', seed: opts.seed ?? Math.random().toString(36) });
    const configType = opts.configMediaType ?? (docker ? DOCKER_CONFIG : OCI_CONFIG);
    await this.pushBlob(name, configData);
    const config = descriptor(configType, configData);
    const layers: Descriptor[] = [];
    for (const data of opts.layers ?? ['layer ' + (opts.seed ?? Math.random().toString(36))]) {
      await this.pushBlob(name, data);
      layers.push(descriptor(opts.layerMediaType ?? (docker ? DOCKER_LAYER : OCI_LAYER), data));
    }
    const manifest: Record<string, unknown> = { schemaVersion: 2, mediaType, config, layers };
    if (opts.artifactType !== undefined) manifest.artifactType = opts.artifactType;
    if (opts.subject !== undefined) manifest.subject = opts.subject;
    if (opts.annotations !== undefined) manifest.annotations = opts.annotations;
    Object.assign(manifest, opts.extra);
    const bytes = Buffer.from(JSON.stringify(manifest));
    const pushed = await this.pushManifest(name, opts.tag ?? digestOf(bytes), bytes, mediaType);
    return { ...pushed, config, layers };
  }
}

/** Adds query parameters to a Location (which may already carry some). */
export function withQuery(location: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString();
  return location + (location.includes('?') ? '&' : '?') + query;
}

/** A streamed request body (no Content-Length: fetch sends Transfer-Encoding: chunked). */
export function streamed(...parts: (Buffer | string)[]): AsyncIterable<Uint8Array> {
  return (async function* () {
    for (const part of parts) yield Buffer.from(part);
  })();
}

export async function bytesOf(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

/** A short random suffix for unique repository names and tags. */
export const RANDOM = (): string => Math.random().toString(36).slice(2, 10);

export interface Exchange {
  /** The raw text received on the connection (status lines, headers and bodies of every response). */
  received: string;
  /** `HTTP/1.1 <status>` of each response received, in order. */
  statuses: number[];
  /** Whether the server closed the connection. */
  closed: boolean;
}

/**
 * Writes `first` (a request head plus body chunks, sent as chunked transfer encoding) and then a
 * pipelined `GET <probe>` on ONE keep-alive connection, and reports what came back within `waitMs`.
 * Shows whether a connection stays usable after the server answered early (without reading a body).
 */
export async function pipelined(origin: string, head: string, chunks: Buffer[], probe: string, waitMs = 1000): Promise<Exchange> {
  const { connect } = await import('node:net');
  const url = new URL(origin);
  const socket = connect(Number(url.port), url.hostname);
  let received = '';
  let closed = false;
  let bothAnswered: () => void = () => undefined;
  const answered = new Promise<void>((resolve) => {
    bothAnswered = resolve;
  });
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
    if (complete(received) >= 2) bothAnswered();
  });
  socket.on('error', () => undefined);
  const done = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('close', () => {
    closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const write = (data: string | Buffer) =>
    new Promise<void>((resolve) => {
      if (socket.destroyed) return resolve();
      socket.write(data, () => resolve());
    });
  await write(`${head.replace(/\r?\n/g, '\r\n').trimEnd()}\r\nHost: ${url.host}\r\nTransfer-Encoding: chunked\r\n\r\n`);
  for (const chunk of chunks) {
    await write(`${chunk.length.toString(16)}\r\n`);
    await write(chunk);
    await write('\r\n');
  }
  await write('0\r\n\r\n');
  await write(`GET ${probe} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
  await Promise.race([done, answered, new Promise((resolve) => setTimeout(resolve, waitMs))]);
  socket.destroy();
  const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  return { received, statuses, closed };
}

/**
 * After an early answer, HTTP/1.1 (RFC 9112 §9.6, §9.3) requires the connection either to keep working
 * (the server read and discarded the rest of the body) or to be announced closed with `Connection: close`.
 */
export function assertConnectionSane(x: Exchange, firstStatus: number): void {
  assert.equal(x.statuses[0], firstStatus, x.received.slice(0, 300));
  const firstHead = x.received.split('\r\n\r\n')[0] ?? '';
  const announcedClose = /^connection:\s*close\s*$/im.test(firstHead);
  if (announcedClose) return;
  assert.equal(
    x.statuses.length,
    2,
    `the ${firstStatus} kept the connection alive (no "Connection: close") but the pipelined request got no answer; ` +
      `first response head:\n${firstHead}`,
  );
}

/** How many complete responses (head plus Content-Length body) `text` holds. */
function complete(text: string): number {
  let count = 0;
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return count;
    const length = Number(/^content-length:\s*(\d+)/im.exec(rest.slice(0, end))?.[1] ?? 0);
    if (rest.length < end + 4 + length) return count;
    count++;
    rest = rest.slice(end + 4 + length);
  }
}
