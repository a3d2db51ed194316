import type { Authorize, Challenge } from './auth.js';
import type { RegistryRequest } from './http.js';
import { type Logger, consoleLogger } from './logger.js';
import type { Policy } from './policy.js';
import type { PullThrough } from './pull-through.js';
import type { Storage } from './storage/types.js';

export interface RegistryOptions<Req extends RegistryRequest = RegistryRequest> {
  /** Where manifests, tags, blobs and uploads live: `fsStorage({ root })`, `memoryStorage()` or your own. Required. */
  storage: Storage;
  /**
   * Who is asking and what they may do, as a {@link Decision}. Required: a registry never picks a policy
   * for the host. `pullOnly` (anyone pulls, nobody pushes), `allowAll` (local development only), or a
   * scheme spread into the options with its challenge: `...basicAuth({ … })`, `...tokenAuth({ … })`,
   * `...hostAuth({ … })`.
   */
  authorize: Authorize<Req>;
  /**
   * The `WWW-Authenticate` value of 401 answers, or a function of the refusal (every access the
   * request asked for, and for Bearer the error), e.g. `bearerChallenge({ realm, service })`
   * (default: `Basic realm="berth"`).
   */
  challenge?: string | Challenge;
  /**
   * The path prefix clients use to reach this router's `/v2/`, for `Location` headers (default: the
   * mount path, `req.baseUrl`). Set it when a proxy adds or strips a prefix, e.g. `''` when the app mounts
   * the router under `/registry` but a proxy serves that as the host root.
   */
  publicPath?: string;
  /** Largest manifest accepted, in bytes; larger pushes get 413 (default: 4 MiB, the spec's minimum). */
  maxManifestBytes?: number;
  /** Uploads idle for longer than this many milliseconds are forgotten and their data removed (default: 1 hour). */
  uploadTimeout?: number;
  /** A request body that sends nothing for this many milliseconds is cut, freeing what it held (default: 60 seconds). */
  bodyTimeout?: number;
  /** Whether DELETE of manifests, tags and blobs is served at all; when off they answer 405 (default: `true`). */
  deletes?: boolean;
  /** Mount a blob the caller may pull from another repository when a POST names `mount` without `from` (default: `true`). */
  automaticMount?: boolean;
  /**
   * Hooks that may veto a change before it becomes visible: a manifest push (immutable tags, allowed
   * media types…), bytes about to be stored (sizes, quotas), a delete. See `Policy` (default: none).
   */
  policy?: Policy;
  /**
   * The most bytes a repository may hold (every blob linked into it and every manifest stored in
   * it), or `undefined` for no limit: a function of the repository name, sync or async. A push that
   * would exceed it is refused with `DENIED` (403): before any byte is stored when the request says
   * its size, otherwise when the blob or manifest is about to become visible. Enforcement is exact
   * under concurrent pushes and with many instances (default: no quota).
   */
  quota?: (repository: string) => number | undefined | Promise<number | undefined>;
  /** Where pulls the store cannot answer fall through to: a pull-through cache of upstream registries (default: none). */
  pullThrough?: PullThrough;
  /** Where background problems are reported, e.g. a failed sweep of idle uploads (default: the console). */
  logger?: Logger;
}

export interface ResolvedOptions {
  storage: Storage;
  authorize: Authorize;
  challenge: Challenge;
  publicPath: string | undefined;
  maxManifestBytes: number;
  uploadTimeout: number;
  bodyTimeout: number;
  deletes: boolean;
  automaticMount: boolean;
  logger: Logger;
  policy: Policy;
  quota: ((repository: string) => number | undefined | Promise<number | undefined>) | undefined;
  pullThrough: PullThrough | undefined;
}

const KNOWN = ['storage', 'authorize', 'challenge', 'publicPath', 'maxManifestBytes', 'uploadTimeout', 'bodyTimeout', 'deletes', 'automaticMount', 'logger', 'policy', 'quota', 'pullThrough'];
const STORES = ['blobs', 'uploads', 'manifests', 'tags', 'links', 'repositories'] as const;

/**
 * Validates options at creation time, so a typo fails on start-up rather than on the first push.
 * The input is checked as `unknown`: JavaScript callers get the same clear errors as TypeScript ones.
 */
export function resolveOptions(input: unknown): ResolvedOptions {
  const fail = (message: string): never => {
    throw new TypeError(`createRegistry: ${message}`);
  };
  if (typeof input !== 'object' || input === null) return fail('options must be an object, e.g. { storage: fsStorage({ root: "./data" }) }.');
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.includes(key)) {
      const near = KNOWN.find((k) => k.toLowerCase() === key.toLowerCase());
      fail(`unknown option "${key}"${near ? `; did you mean "${near}"?` : ''}.`);
    }
  }
  const storage = o.storage as Record<string, unknown> | undefined;
  for (const part of STORES) {
    if (typeof storage?.[part] !== 'object' || storage[part] === null) {
      fail(`\`storage.${part}\` is missing; pass a store such as fsStorage({ root: "./data" }) or memoryStorage().`);
    }
  }
  const positive = (name: string, fallback: number): number => {
    const value = o[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) fail(`\`${name}\` must be a positive integer (got ${JSON.stringify(value)}).`);
    return value as number;
  };
  const { authorize, challenge = 'Basic realm="berth"', publicPath, logger, deletes, automaticMount, policy, quota } = o;
  if (quota !== undefined && typeof quota !== 'function') fail('`quota` must be a function (repository) => bytes or undefined.');
  const { pullThrough } = o as { pullThrough?: Partial<PullThrough> };
  if (pullThrough !== undefined && (typeof pullThrough.manifest !== 'function' || typeof pullThrough.blob !== 'function')) {
    fail('`pullThrough` must have manifest(request) and blob(request) methods, e.g. a mirror from createMirror().');
  }
  if (policy !== undefined) {
    if (typeof policy !== 'object' || policy === null) fail('`policy` must be an object of hooks: { manifestPush?, blobPush?, delete? }.');
    for (const [hook, value] of Object.entries(policy as Record<string, unknown>)) {
      if (!['manifestPush', 'blobPush', 'delete'].includes(hook)) fail(`unknown policy hook "${hook}"; the hooks are manifestPush, blobPush and delete.`);
      if (typeof value !== 'function') fail(`\`policy.${hook}\` must be a function.`);
    }
  }
  if (authorize === undefined) {
    fail(
      'choose who may do what with `authorize`: pullOnly (anyone pulls, nobody pushes), allowAll (local development only), ' +
        'or a scheme with its challenge, e.g. ...basicAuth({ verify, permissions }), ...tokenAuth({ realm, service, keys }) or ...hostAuth({ identify, permissions }).',
    );
  }
  if (typeof authorize !== 'function') fail('`authorize` must be a function (req, accesses) => decision, such as allowAll or pullOnly.');
  if (typeof challenge !== 'string' && typeof challenge !== 'function') fail('`challenge` must be a string or a function of the refusal, e.g. bearerChallenge({ realm, service }).');
  if (publicPath !== undefined && (typeof publicPath !== 'string' || publicPath.endsWith('/'))) {
    fail(`\`publicPath\` must be a path without a trailing slash, like "/registry" or "" (got ${JSON.stringify(publicPath)}).`);
  }
  const log = logger as Partial<Logger> | undefined;
  if (log !== undefined && (typeof log.warn !== 'function' || typeof log.error !== 'function')) {
    fail('`logger` must have warn(obj, msg) and error(obj, msg) methods (a pino logger fits).');
  }
  for (const [name, value] of [['deletes', deletes], ['automaticMount', automaticMount]] as const) {
    if (value !== undefined && typeof value !== 'boolean') fail(`\`${name}\` must be true or false (got ${JSON.stringify(value)}).`);
  }
  return {
    storage: storage as unknown as Storage,
    // the host's hook is typed for its own request type; at run time it receives the request Express hands us
    authorize: authorize as Authorize,
    challenge: typeof challenge === 'string' ? () => challenge : (challenge as Challenge),
    publicPath: publicPath as string | undefined,
    maxManifestBytes: positive('maxManifestBytes', 4 * 1024 * 1024),
    uploadTimeout: positive('uploadTimeout', 60 * 60 * 1000),
    bodyTimeout: positive('bodyTimeout', 60 * 1000),
    deletes: (deletes as boolean | undefined) ?? true,
    automaticMount: (automaticMount as boolean | undefined) ?? true,
    logger: (log as Logger | undefined) ?? consoleLogger,
    policy: (policy as Policy | undefined) ?? {},
    quota: quota as ResolvedOptions['quota'],
    pullThrough: pullThrough as PullThrough | undefined,
  };
}
