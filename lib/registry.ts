import type { ServerResponse } from 'node:http';
import type { Access, Challenge, Identity } from './auth.js';
import type { Changes } from './changes.js';
import { type Call, type Context, type Handler, createContext } from './context.js';
import { RegistryError, RegistryErrors, sendError } from './errors.js';
import type { RegistryEvents } from './events.js';
import { clientWentAway, storeFailure } from './failures.js';
import { type RegistryRequest, declaresBody, endAfterDraining, guardBody } from './http.js';
import { isRepositoryName } from './names.js';
import { requestIdOf } from './request-id.js';
import { type RegistryOptions, resolveOptions } from './options.js';
import { baseRoutes } from './routes/base.js';
import { blobRoutes } from './routes/blobs.js';
import { manifestRoutes } from './routes/manifests.js';
import { referrerRoutes } from './routes/referrers.js';
import { tagRoutes } from './routes/tags.js';
import { uploadRoutes } from './routes/uploads.js';
import type { Storage } from './storage/types.js';

type Next = (err?: unknown) => void;

/** An Express-compatible router: `app.use(registry)` (Express 4.21+ or 5) or any `(req, res, next)` host. */
export interface Registry {
  (req: RegistryRequest, res: ServerResponse, next: Next): void;
  /** The store the registry was created with, for host code (portal pages, maintenance jobs). */
  readonly storage: Storage;
  /**
   * Prepares the store (`storage.init()`, e.g. database indexes). The first request does it anyway;
   * await it at start-up to fail fast on a misconfigured store.
   */
  init(): Promise<void>;
  /** Expires uploads idle for longer than `uploadTimeout`, now; resolves to how many were removed. Run it on your own schedule if you like. */
  sweep(): Promise<number>;
  /** Closes the store (`storage.close()`). */
  close(): Promise<void>;
  /** Typed events, emitted once a change is durable: `registry.events.on('manifest.pushed', (e) => …)`. */
  readonly events: RegistryEvents;
  /**
   * The write path the API uses (policy hooks, integrity, usage, events), for host code that changes
   * content: the portal, the collector, a mirror.
   */
  readonly changes: Changes;
  /** The authorize hook's answer for `accesses` of a request outside the registry's routes (it also records `identityOf(req)`). */
  decide(req: RegistryRequest, accesses: readonly Access[]): Promise<{ identity?: Identity; invalid: boolean; granted: boolean[] }>;
  /** Settings other routers of the host follow: whether deletes are served, and the 401 challenge. */
  readonly settings: { readonly deletes: boolean; readonly challenge: Challenge };
}

interface Route {
  /** The endpoint's name in metrics and access logs. */
  label: string;
  /** Anchored on the path after the mount point. A repository name is `(.+)`: greedy, so it takes every component up to the last route suffix. */
  pattern: RegExp;
  /** Whether group 1 is a repository name to validate. */
  named: boolean;
  methods: Partial<Record<string, Handler>>;
}

function routes(ctx: Context): { table: Route[]; sweep: () => Promise<number> } {
  const base = baseRoutes(ctx);
  const blobs = blobRoutes(ctx);
  const uploads = uploadRoutes(ctx);
  const manifests = manifestRoutes(ctx);
  const tags = tagRoutes(ctx);
  const referrers = referrerRoutes(ctx);
  // upload routes come before blob routes: /blobs/uploads/ would otherwise read as a blob digest
  const table: Route[] = [
    { label: 'ping', pattern: /^\/v2\/?$/, named: false, methods: { GET: base.ping, HEAD: base.ping } },
    { label: 'catalog', pattern: /^\/v2\/_catalog$/, named: false, methods: { GET: base.catalog } },
    { label: 'upload', pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, named: true, methods: { POST: uploads.startUpload } },
    {
      label: 'upload',
      pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
      named: true,
      methods: { GET: uploads.uploadStatus, PATCH: uploads.patchUpload, PUT: uploads.finishUpload, DELETE: uploads.cancelUpload },
    },
    { label: 'blob', pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, named: true, methods: { GET: blobs.getBlob, HEAD: blobs.headBlob, DELETE: blobs.deleteBlob } },
    {
      label: 'manifest',
      pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
      named: true,
      methods: { GET: manifests.getManifest, HEAD: manifests.headManifest, PUT: manifests.putManifest, DELETE: manifests.deleteManifest },
    },
    { label: 'tags', pattern: /^\/v2\/(.+)\/tags\/list$/, named: true, methods: { GET: tags.listTags } },
    { label: 'referrers', pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, named: true, methods: { GET: referrers.listReferrers } },
  ];
  return { table, sweep: uploads.sweep };
}

/**
 * Creates the registry router. It answers everything under `/v2` and passes every other path to
 * the host app. Every answer under `/v2`, a store failure included, is an OCI error envelope; a
 * failure that is not the client's is logged once through `logger`, and a client that went away
 * is not logged at all.
 *
 *     app.use(createRegistry({ storage: fsStorage({ root: './data' }), authorize: myAuthorize }));
 */
export function createRegistry<Req extends RegistryRequest = RegistryRequest>(options: RegistryOptions<Req>): Registry {
  const ctx = createContext(resolveOptions(options));
  const { table, sweep } = routes(ctx);
  let initialised: Promise<void> | undefined;
  /** Set once the store is ready, so a request goes straight to its handler (no promise hop). */
  let ready = false;
  const init = () =>
    (initialised ??= Promise.resolve(ctx.storage.init?.()).then(
      () => {
        ready = true;
      },
      (err: unknown) => {
        initialised = undefined; // a failed start (database down) is retried by the next request
        throw err;
      },
    ));

  function registry(req: RegistryRequest, res: ServerResponse, next: Next): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q < 0 ? url : url.slice(0, q);
    // mounted as app.use('/v2', registry): Express has cut the /v2 off the path
    if (req.baseUrl?.endsWith('/v2')) path = path === '/' ? '/v2/' : `/v2${path}`;
    if (path !== '/v2' && !path.startsWith('/v2/')) {
      next();
      return;
    }
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    // registry content is served from the host app's origin: never let a browser guess it is HTML
    res.setHeader('X-Content-Type-Options', 'nosniff');
    let name = '';
    let label = 'unknown';
    let code: string | undefined;
    const call: Partial<Call> = {};
    const requestId = requestIdOf(req);
    res.setHeader('X-Request-Id', requestId);
    const closed = report(ctx, req, res, () => ({ requestId, route: label, code, repository: name || undefined, identity: call.identity }));
    const failed = (err: unknown) => {
      let answer: RegistryError | RegistryErrors;
      if (err instanceof RegistryError || err instanceof RegistryErrors) {
        answer = err;
      } else if (clientWentAway(err, req, res)) {
        res.destroy();
        return;
      } else {
        // a store failure or a bug: logged once with what an operator needs, answered without its details
        ctx.logger.error({ err, method: req.method, url: req.url, repository: name || undefined }, 'registry request failed');
        answer = storeFailure(err);
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      code = answer instanceof RegistryErrors ? answer.errors[0]?.code : answer.code;
      if (declaresBody(req) && !req.complete) {
        // the rest of a body we stopped reading would be taken for the next request: end the connection,
        // after reading that rest when nothing read it yet, so a client still sending reads this answer
        res.setHeader('Connection', 'close');
        if (!req.destroyed) {
          sendError(res, answer, { hold: true });
          endAfterDraining(req, res);
          return;
        }
      }
      sendError(res, answer);
    };
    try {
      const { route, handler, match } = dispatch(table, req.method ?? 'GET', path);
      label = route.label;
      name = match[1] ?? '';
      if (route.named && !isRepositoryName(name)) {
        throw new RegistryError('NAME_INVALID', undefined, { detail: { name } });
      }
      call.req = req;
      call.res = res;
      call.name = name;
      call.ref = match[2] ?? '';
      call.query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      // made when a handler first asks for it: most requests (manifest and blob HEAD/GET by cache) never do
      let controller: AbortController | undefined;
      Object.defineProperty(call, 'signal', {
        enumerable: true,
        get: () => {
          if (!controller) {
            controller = new AbortController();
            if (closed.early) controller.abort(new Error('the client went away'));
            else closed.onEarly = () => controller?.abort(new Error('the client went away'));
          }
          return controller.signal;
        },
      });
      guardBody(req, ctx.bodyTimeout);
      if (ready) {
        handler(call as Call).catch(failed);
      } else {
        init()
          .then(() => handler(call as Call))
          .catch(failed);
      }
    } catch (err) {
      failed(err);
    }
  }

  return Object.assign(registry, {
    storage: ctx.storage,
    events: ctx.events,
    changes: ctx.changes,
    decide: ctx.decide,
    settings: { deletes: ctx.deletes, challenge: ctx.challenge },
    init,
    sweep,
    close: async () => {
      await ctx.storage.close?.();
    },
  });
}

/** Bytes read from each connection when its last request was done. */
const socketMarks = new WeakMap<object, number>();

/** How a response ended, for a signal a handler may ask for later. */
interface Closing {
  /** The connection closed before the response was finished (the client went away). */
  early: boolean;
  onEarly?: () => void;
}

/**
 * When the response is done (or the client gone), announces `request.completed` and writes one
 * access line through `logger.info`, when the logger has one (pino does; the console default does not).
 * One `close` listener per request serves both this and the request's abort signal.
 */
function report(
  ctx: Context,
  req: RegistryRequest,
  res: ServerResponse,
  what: () => { requestId: string; route: string; code: string | undefined; repository: string | undefined; identity: Identity | undefined },
): Closing {
  const started = process.hrtime.bigint();
  const socket = req.socket;
  // the parser has already read what arrived with the headers: count from where the last request on this connection ended
  const readBefore = socketMarks.get(socket) ?? 0;
  const writtenBefore = socket.bytesWritten;
  const closing: Closing = { early: false };
  res.once('close', () => {
    socketMarks.set(socket, socket.bytesRead);
    if (!res.writableFinished) {
      closing.early = true;
      closing.onEarly?.();
    }
    const logs = ctx.logger.info !== undefined;
    if (!logs && !ctx.events.wanted('request.completed')) return;
    const { requestId, route, code, repository, identity } = what();
    const line = {
      requestId,
      method: req.method ?? 'GET',
      route,
      status: res.writableFinished ? res.statusCode : 0,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      bytesIn: socket.bytesRead - readBefore,
      bytesOut: socket.bytesWritten - writtenBefore,
      ...(code !== undefined && { code }),
      ...(repository !== undefined && { repository }),
      ...(identity !== undefined && { identity }),
    };
    ctx.events.emit({ type: 'request.completed', ...line });
    if (logs) ctx.logger.info?.({ ...line, url: req.url, identity: identity?.name }, 'registry request');
  });
  return closing;
}

function dispatch(table: Route[], method: string, path: string): { route: Route; handler: Handler; match: RegExpExecArray } {
  for (const route of table) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    const handler = route.methods[method];
    if (!handler) {
      const allow = Object.keys(route.methods).join(', ');
      throw new RegistryError('UNSUPPORTED', `${method} is not supported here`, { headers: { Allow: allow } });
    }
    return { route, handler, match };
  }
  throw new RegistryError('UNSUPPORTED', 'no such registry endpoint', { status: 404 });
}
