import { type Access, type Authorize, pullOnly } from './auth.js';
import type { RegistryRequest } from './http.js';
import { type Logger, consoleLogger } from './logger.js';
import type { Storage } from './storage/types.js';

export interface RegistryOptions<Req extends RegistryRequest = RegistryRequest> {
  /** Where manifests, tags, blobs and uploads live: `fsStorage({ root })`, `memoryStorage()` or your own. Required. */
  storage: Storage;
  /** Who may do what (default: `pullOnly`, anyone may pull and nobody may push). */
  authorize?: Authorize<Req>;
  /** The `WWW-Authenticate` value on 401 answers, or a function of the refused access (default: `Basic realm="berth"`). */
  challenge?: string | ((access: Access) => string);
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
  /** Whether DELETE of manifests, tags and blobs is served at all; when off they answer 405 (default: `true`). */
  deletes?: boolean;
  /** Mount a blob the caller may pull from another repository when a POST names `mount` without `from` (default: `true`). */
  automaticMount?: boolean;
  /** Where background problems are reported, e.g. a failed sweep of idle uploads (default: the console). */
  logger?: Logger;
}

export interface ResolvedOptions {
  storage: Storage;
  authorize: Authorize<any>;
  challenge: (access: Access) => string;
  publicPath: string | undefined;
  maxManifestBytes: number;
  uploadTimeout: number;
  deletes: boolean;
  automaticMount: boolean;
  logger: Logger;
}

const KNOWN = ['storage', 'authorize', 'challenge', 'publicPath', 'maxManifestBytes', 'uploadTimeout', 'deletes', 'automaticMount', 'logger'];

/** Validates options at creation time, so a typo fails on start-up rather than on the first push. */
export function resolveOptions(options: RegistryOptions<any>): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('createRegistry: options must be an object, e.g. { storage: fsStorage({ root: "./data" }) }.');
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) {
      const near = KNOWN.find((k) => k.toLowerCase() === key.toLowerCase());
      throw new TypeError(`createRegistry: unknown option "${key}"${near ? `; did you mean "${near}"?` : ''}.`);
    }
  }
  const { storage } = options;
  for (const part of ['blobs', 'uploads', 'manifests', 'tags', 'links'] as const) {
    if (typeof storage?.[part] !== 'object' || storage[part] === null) {
      throw new TypeError(`createRegistry: \`storage.${part}\` is missing; pass a store such as fsStorage({ root: "./data" }) or memoryStorage().`);
    }
  }
  const challenge = options.challenge ?? 'Basic realm="berth"';
  if (typeof challenge !== 'string' && typeof challenge !== 'function') throw new TypeError('createRegistry: `challenge` must be a string or a function.');
  const positive = (name: string, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new TypeError(`createRegistry: \`${name}\` must be a positive integer (got ${String(value)}).`);
    }
    return value;
  };
  if (options.logger !== undefined && (typeof options.logger?.warn !== 'function' || typeof options.logger?.error !== 'function')) {
    throw new TypeError('createRegistry: `logger` must have warn(obj, msg) and error(obj, msg) methods (a pino logger fits).');
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function') throw new TypeError('createRegistry: `authorize` must be a function (req, access) => boolean.');
  if (options.publicPath !== undefined && (typeof options.publicPath !== 'string' || /\/$/.test(options.publicPath))) {
    throw new TypeError(`createRegistry: \`publicPath\` must be a path without a trailing slash, like "/registry" or "" (got ${JSON.stringify(options.publicPath)}).`);
  }
  return {
    storage,
    authorize: options.authorize ?? pullOnly,
    challenge: typeof challenge === 'string' ? () => challenge : challenge,
    publicPath: options.publicPath,
    maxManifestBytes: positive('maxManifestBytes', options.maxManifestBytes, 4 * 1024 * 1024),
    uploadTimeout: positive('uploadTimeout', options.uploadTimeout, 60 * 60 * 1000),
    deletes: options.deletes ?? true,
    automaticMount: options.automaticMount ?? true,
    logger: options.logger ?? consoleLogger,
  };
}
