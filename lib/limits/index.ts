import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Options, type RateLimitRequestHandler, type Store, ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { identityOf } from '../context.js';
import { RegistryError, sendError } from '../errors.js';
import { declaresBody, endAfterDraining } from '../http.js';

/** The expensive endpoints a caller is limited on. */
export type LimitedEndpoint = 'token' | 'uploads' | 'catalog';

type Request = IncomingMessage & { ip?: string; baseUrl?: string };
type Next = (err?: unknown) => void;
/** Express middleware (`express-rate-limit` needs Express: `req.ip`, `req.app`). */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

export interface RateLimitOptions {
  /** The counting window, in milliseconds (default: 60000). */
  windowMs?: number;
  /**
   * Requests per caller and window, per endpoint; `false` leaves one unlimited (defaults: `token`
   * 30 token requests, `uploads` 600 upload starts, `catalog` 60 catalog pages).
   */
  limits?: Partial<Record<LimitedEndpoint, number | false>>;
  /**
   * The caller's name when the request proves it (a session user, a verified token's subject);
   * callers it does not name are counted by client address (IPv6 by network). Never return a name
   * the request merely claims: anyone could then use up someone else's allowance (default: the
   * identity berth's authorize hook gave this request, when the host asked `registry.decide` first).
   */
  identify?: (req: IncomingMessage) => string | undefined | Promise<string | undefined>;
  /**
   * A counter store per endpoint, so several instances share counts: any `express-rate-limit`
   * store, e.g. `(endpoint) => new RedisStore({ sendCommand, prefix: \`berth-${endpoint}:\` })`
   * (`rate-limit-redis`) or `new MongoStore({ uri, collectionName: \`berth-${endpoint}\`, expireTimeMs: windowMs })`
   * (`rate-limit-mongo`). One store per endpoint: express-rate-limit refuses a store shared by two
   * limiters (default: a memory store each, counting per instance).
   */
  store?: (endpoint: LimitedEndpoint) => Store;
  /** The message of the 429 answer (default: "too many requests; retry after N seconds"). */
  message?: string;
  /** When the store fails: `true` lets requests through (logged), `false` answers 500 (default: `true`: limits must not take the registry down). */
  passOnStoreError?: boolean;
}

export interface RateLimits {
  /**
   * Mount before the registry, on the same path: counts upload starts (`POST …/blobs/uploads/`)
   * and catalog pages (`GET /v2/_catalog`) and answers past the limit with 429 `TOOMANYREQUESTS`
   * (the OCI error envelope) and `Retry-After`. Other requests pass untouched.
   */
  registry: Middleware;
  /** Mount before the token endpoint: `app.all('/token', limits.token, tokenEndpoint(…))`. */
  token: Middleware;
}

const DEFAULTS: Record<LimitedEndpoint, number> = { token: 30, uploads: 600, catalog: 60 };
const KNOWN = ['windowMs', 'limits', 'identify', 'store', 'message', 'passOnStoreError'];

/**
 * Per-caller limits on a registry's expensive endpoints, built on `express-rate-limit`: token
 * issuance, upload starts and catalog pages. A caller is its proven name when `identify` gives one,
 * or its client address otherwise (behind a proxy, set Express's `trust proxy` so `req.ip` is the
 * client's).
 *
 *     const limits = rateLimits({ limits: { uploads: 100 }, identify: (req) => req.user?.name });
 *     app.use(limits.registry);
 *     app.use(registry);
 *     app.all('/token', limits.token, tokenEndpoint({ … }));
 */
export function rateLimits(options: RateLimitOptions = {}): RateLimits {
  const fail = (message: string): never => {
    throw new TypeError(`rateLimits: ${message}`);
  };
  if (typeof options !== 'object') fail('options must be an object.');
  for (const key of Object.keys(options)) if (!KNOWN.includes(key)) fail(`unknown option \`${key}\` (known: ${KNOWN.join(', ')}).`);
  const windowMs = options.windowMs ?? 60_000;
  if (!Number.isSafeInteger(windowMs) || windowMs < 1000) fail(`\`windowMs\` must be an integer of at least 1000 milliseconds (got ${JSON.stringify(windowMs)}).`);
  for (const [name, value] of Object.entries(options.limits ?? {})) {
    if (!(name in DEFAULTS)) fail(`unknown endpoint \`limits.${name}\` (known: token, uploads, catalog).`);
    if (value !== false && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)) fail(`\`limits.${name}\` must be a positive integer or false (got ${JSON.stringify(value)}).`);
  }
  if (options.identify !== undefined && typeof options.identify !== 'function') fail('`identify` must be a function (req) => name or undefined.');
  if (options.store !== undefined && typeof options.store !== 'function') fail('`store` must be a function (endpoint) => an express-rate-limit Store: one store per endpoint.');
  const identify = options.identify ?? ((req: IncomingMessage) => identityOf(req)?.name);

  function limiter(endpoint: LimitedEndpoint): RateLimitRequestHandler | undefined {
    const limit = options.limits?.[endpoint] ?? DEFAULTS[endpoint];
    if (limit === false) return undefined;
    const settings: Partial<Options> = {
      windowMs,
      limit,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      passOnStoreError: options.passOnStoreError ?? true,
      keyGenerator: async (req) => {
        const name = await identify(req);
        if (typeof name === 'string' && name !== '') return `user:${name}`;
        return `ip:${ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown')}`;
      },
      handler: (req, res) => {
        const reset = (req as unknown as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
        const seconds = Math.max(1, Math.ceil(((reset?.getTime() ?? Date.now() + windowMs) - Date.now()) / 1000));
        const message = options.message ?? `too many requests; retry after ${seconds} seconds`;
        if (endpoint === 'token') refuseToken(res, message, seconds);
        else refuse(req, res, message, seconds);
      },
    };
    if (options.store) settings.store = options.store(endpoint);
    return rateLimit(settings);
  }

  const uploads = limiter('uploads');
  const catalog = limiter('catalog');
  const token = limiter('token');
  const pass: Middleware = (_req, _res, next) => next();
  return {
    registry: function registryRateLimit(req, res, next) {
      const kind = endpointOf(req);
      const limit = kind === 'uploads' ? uploads : kind === 'catalog' ? catalog : undefined;
      if (!limit) {
        next();
        return;
      }
      void limit(req as never, res as never, next);
    },
    token: token ? (req, res, next) => void token(req as never, res as never, next) : pass,
  };
}

/** Which limited endpoint of the registry a request is, the way the registry routes it. */
function endpointOf(req: Request): 'uploads' | 'catalog' | undefined {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  let path = q < 0 ? url : url.slice(0, q);
  // mounted as app.use('/v2', …): Express has cut the /v2 off the path
  if (req.baseUrl?.endsWith('/v2')) path = path === '/' ? '/v2/' : `/v2${path}`;
  if (req.method === 'POST' && /^\/v2\/.+\/blobs\/uploads\/?$/.test(path)) return 'uploads';
  if (req.method === 'GET' && path === '/v2/_catalog') return 'catalog';
  return undefined;
}

/** The registry's own refusal: the OCI error envelope, as the registry answers everything under /v2. */
function refuse(req: IncomingMessage, res: ServerResponse, message: string, seconds: number): void {
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  const error = new RegistryError('TOOMANYREQUESTS', message, { headers: { 'Retry-After': String(seconds) } });
  if (declaresBody(req) && !req.complete) {
    // answered before the body was read: read the rest away (bounded) so the client reads this answer, then close
    res.setHeader('Connection', 'close');
    sendError(res, error, { hold: true });
    endAfterDraining(req, res);
    return;
  }
  sendError(res, error);
}

/** The token endpoint's own refusal shape: OAuth2's `error` plus the registry's `errors`. */
function refuseToken(res: ServerResponse, message: string, seconds: number): void {
  const body = Buffer.from(JSON.stringify({ error: 'too_many_requests', error_description: message, errors: [{ code: 'TOOMANYREQUESTS', message }] }));
  res.statusCode = 429;
  res.setHeader('Retry-After', String(seconds));
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', body.length);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}
