/**
 * Fixtures of the mirror tests: upstream registries on loopback (berth in process, with token or
 * Basic auth), a fault-injecting proxy in front of any upstream that also counts what reaches it,
 * and a berth mirror mounted the documented way.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import express from 'express';
import {
  type Logger,
  type Mirror,
  type MirrorUpstream,
  type Registry,
  type RegistryOptions,
  type Storage,
  allowAll,
  basicAuth,
  createMirror,
  createRegistry,
  memoryStorage,
  passwords,
  tokenAuth,
  tokenEndpoint,
  tokenIssuer,
} from '../../lib/index.js';
import { Client, listen, type Served } from '../api/helpers.js';

export const UPSTREAM_USER = { username: 'mirror', password: 'mirror-secret' };

/** Everything logged through a logger, for assertions. */
export class Recorded implements Logger {
  readonly lines: { level: 'warn' | 'error' | 'info'; msg: string; obj: unknown }[] = [];
  warn(obj: unknown, msg = ''): void {
    this.lines.push({ level: 'warn', msg, obj });
  }
  error(obj: unknown, msg = ''): void {
    this.lines.push({ level: 'error', msg, obj });
  }
  has(pattern: RegExp): boolean {
    return this.lines.some((l) => pattern.test(l.msg));
  }
}

export interface Seen {
  method: string;
  path: string;
  status: number;
  authorization: boolean;
}

/** What the proxy does to requests matching a test's predicates; everything else is passed on. */
export interface Faults {
  /** Answer this status (with `Retry-After: 1` on 429) instead of asking upstream. */
  status?: (req: http.IncomingMessage) => number | undefined;
  /** Wait this long before passing the request on. */
  delay?: (req: http.IncomingMessage) => number | undefined;
  /** Pass this many bytes of the answer's body on, then hold the rest until `release()` or `stop()`. */
  holdAfter?: (req: http.IncomingMessage) => number | undefined;
  /** Flip the first byte of the answer's body (same length: only the digest can tell). */
  corrupt?: (req: http.IncomingMessage) => boolean;
  /** Answer 307 to this URL instead (object storage). */
  redirect?: (req: http.IncomingMessage) => string | undefined;
}

export interface FaultProxy {
  origin: string;
  seen: Seen[];
  faults: Faults;
  /** Requests seen with this method whose path matches, but for auth round trips (answered 401). */
  count(method: string, path: RegExp): number;
  /** Lets held bodies go on. */
  release(): void;
  /** Stops listening and cuts every connection, mid-transfer included (upstream is down). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A proxy on 127.0.0.1 in front of `target` (an http origin), optionally serving https with `tls`. */
export async function faultProxy(target: string, tls?: { key: string; cert: string }): Promise<FaultProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let held: (() => void)[] = [];
  const proxy: FaultProxy = {
    origin: '',
    seen: [],
    faults: {},
    count: (method, path) => proxy.seen.filter((s) => s.method === method && s.status !== 401 && path.test(s.path)).length,
    release: () => {
      const waiting = held;
      held = [];
      for (const go of waiting) go();
    },
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      held = [];
    },
    start: () => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    }),
    close: async () => {
      if (server.listening) await proxy.stop();
    },
  };
  const handler: http.RequestListener = (req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const record = (status: number) => proxy.seen.push({ method: req.method ?? 'GET', path, status, authorization: req.headers.authorization !== undefined });
      const wait = proxy.faults.delay?.(req);
      if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
      const status = proxy.faults.status?.(req);
      if (status !== undefined) {
        record(status);
        res.writeHead(status, { 'Content-Type': 'application/json', ...(status === 429 && { 'Retry-After': '1' }) });
        res.end(JSON.stringify({ errors: [{ code: status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', message: 'injected by the test proxy' }] }));
        return;
      }
      const location = proxy.faults.redirect?.(req);
      if (location !== undefined) {
        record(307);
        res.writeHead(307, { Location: location, 'Content-Length': 0 });
        res.end();
        return;
      }
      const holdAfter = proxy.faults.holdAfter?.(req);
      const corrupt = proxy.faults.corrupt?.(req) === true;
      const headers = { ...req.headers, host: upstream.host };
      const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
        record(answer.statusCode ?? 0);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        let sent = 0;
        let first = true;
        answer.on('data', (chunk: Buffer) => {
          let piece = chunk;
          if (corrupt && first && piece.length > 0) {
            piece = Buffer.from(piece);
            piece[0] = (piece[0] ?? 0) ^ 0xff;
          }
          first = false;
          if (holdAfter !== undefined && sent + piece.length > holdAfter) {
            const now = piece.subarray(0, Math.max(0, holdAfter - sent));
            const later = piece.subarray(now.length);
            if (now.length > 0) res.write(now);
            sent += now.length;
            answer.pause();
            held.push(() => {
              res.write(later);
              answer.resume();
            });
            return;
          }
          sent += piece.length;
          res.write(piece);
        });
        answer.on('end', () => res.end());
        answer.on('error', () => res.destroy());
      });
      out.on('error', () => res.destroy());
      req.pipe(out);
    })();
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  proxy.origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return proxy;
}

/** An upstream registry: `seed` pushes to it directly (all rights), the mirror goes through `proxy`. */
export interface Upstream {
  label: string;
  proxy: FaultProxy;
  credentials: { username: string; password: string } | undefined;
  seed: Client;
  storage?: Storage;
  close(): Promise<void>;
}

/**
 * berth as an upstream, in process, on a memory store: with `token`, the Docker/OCI token flow
 * (tokenAuth + tokenEndpoint, anonymous callers get nothing); with `basic`, HTTP Basic; only
 * UPSTREAM_USER may pull. A second, open registry on the same store seeds it.
 */
export async function berthUpstream(auth: 'token' | 'basic', tls?: { key: string; cert: string }): Promise<Upstream> {
  const storage = memoryStorage();
  const permissions = [{ repositories: '**', users: [UPSTREAM_USER.username], actions: ['pull' as const] }];
  const verify = passwords({ [UPSTREAM_USER.username]: UPSTREAM_USER.password });
  const app = express();
  if (auth === 'token') {
    const issuer = tokenIssuer({ issuer: 'upstream', service: 'upstream.test', key: { algorithm: 'HS256', key: 'an upstream secret of at least 32 bytes!' } });
    app.use('/token', tokenEndpoint({ issuer, verify, permissions, throttle: false }));
    // the proxy passes the upstream's own Host on: the realm names the upstream, so token requests bypass the proxy's counts
    app.use(createRegistry({ storage, ...tokenAuth({ realm: (req) => `http://${req.headers.host ?? ''}/token`, service: 'upstream.test', keys: issuer.keys }) }));
  } else {
    app.use(createRegistry({ storage, ...basicAuth({ verify, permissions, throttle: false }) }));
  }
  const direct = await listen(app);
  const seeder = await listen(express().use(createRegistry({ storage, authorize: allowAll })));
  const proxy = await faultProxy(direct.origin, tls);
  return {
    label: `berth (${auth} auth)`,
    proxy,
    credentials: UPSTREAM_USER,
    seed: new Client(seeder.origin),
    storage,
    close: async () => {
      await proxy.close();
      await direct.close();
      await seeder.close();
    },
  };
}

export interface TestMirror {
  client: Client;
  registry: Registry;
  mirror: Mirror;
  storage: Storage;
  logged: Recorded;
  served: Served;
  close(): Promise<void>;
}

/** A berth mirror as docs/mirror.md mounts it: `mirror.attach(createRegistry({ …, pullThrough: mirror }))`. */
export async function startMirror(upstreams: MirrorUpstream[], options: Partial<RegistryOptions> & { storage?: Storage; spoolDir?: string } = {}): Promise<TestMirror> {
  const logged = new Recorded();
  const { spoolDir, ...registryOptions } = options;
  const storage = options.storage ?? memoryStorage();
  const mirror = createMirror({ upstreams, logger: logged, ...(spoolDir !== undefined && { spoolDir }) });
  const registry = mirror.attach(createRegistry({ authorize: allowAll, logger: logged, ...registryOptions, storage, pullThrough: mirror }));
  const app = express();
  app.use(registry);
  const served = await listen(app);
  return {
    client: new Client(served.origin),
    registry,
    mirror,
    storage,
    logged,
    served,
    close: async () => {
      await served.close();
      await mirror.close();
    },
  };
}

/** Waits until `check` holds (polling), or fails after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
