import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, consoleLogger } from '../logger.js';
import { isRepositoryName } from '../names.js';

/** A user name and password for an upstream: sent as Basic, or to its token server. */
export interface UpstreamCredentials {
  username: string;
  password: string;
}

/** TLS settings for an upstream served over https (and the hosts it redirects blob downloads to). */
export interface UpstreamTls {
  /** CA certificates (PEM) to trust instead of Node's bundled ones, e.g. a private registry's CA. */
  ca?: string | Buffer | readonly (string | Buffer)[];
  /** A client certificate and its key (PEM), for upstreams that require mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Accept any certificate (a test registry with a self-signed one). Never for a registry on the internet. */
  insecure?: boolean;
}

export interface MirrorUpstream {
  /**
   * The local repositories that mirror this upstream: those whose name starts with `prefix`, which
   * ends with `/` (`'hub/'`: `hub/library/alpine` is `library/alpine` upstream). `''` mirrors every
   * repository that no longer prefix claims, leaving none local: for a registry that only mirrors
   * (docker's `registry-mirrors` asks for `/v2/library/alpine/…`, without prefix or `ns`).
   */
  prefix: string;
  /** The upstream registry's origin, e.g. `https://registry-1.docker.io` (a path prefix is kept). */
  url: string;
  /** The upstream repository for the local name without `prefix` (default: the same name). */
  rewrite?: (name: string) => string;
  /**
   * The `ns` values containerd sends for this upstream when berth is its mirror (`docker.io`): such
   * requests are routed under `prefix` (see `Mirror.attach`).
   */
  ns?: string | readonly string[];
  /** Credentials for the upstream, or a function that returns them (called for each token or Basic request). */
  credentials?: UpstreamCredentials | (() => UpstreamCredentials | undefined | Promise<UpstreamCredentials | undefined>);
  tls?: UpstreamTls;
  /**
   * A tag fetched or revalidated less than this many milliseconds ago is served from the cache
   * without asking upstream; older, one HEAD asks upstream whether it moved (default: 60 seconds).
   */
  tagTtl?: number;
  /**
   * How long a pull of a cached tag waits for upstream's answer to that HEAD before it is served
   * from the cache anyway, in milliseconds (default: 3 seconds).
   */
  revalidateTimeout?: number;
  /**
   * How long a miss waits for upstream to start answering, and how long a transfer may stall, in
   * milliseconds (default: 30 seconds).
   */
  timeout?: number;
}

export interface MirrorOptions {
  /** The upstream registries, each under its own prefix; the longest matching prefix wins. */
  upstreams: readonly MirrorUpstream[];
  /**
   * Where blobs being fetched are spooled while the store and the clients read them (default: a
   * directory under the OS temp dir). It needs room for the blobs in flight at once.
   */
  spoolDir?: string;
  /** Largest manifest accepted from upstream, in bytes (default: 4 MiB, as for pushes). */
  maxManifestBytes?: number;
  /** Where upstream failures (served from the cache, or answered) are reported (default: the console). */
  logger?: Logger;
}

export interface ResolvedUpstream {
  index: number;
  prefix: string;
  origin: URL;
  rewrite: (name: string) => string;
  ns: readonly string[];
  credentials: () => Promise<UpstreamCredentials | undefined>;
  tls: UpstreamTls;
  tagTtl: number;
  revalidateTimeout: number;
  timeout: number;
}

export interface ResolvedMirrorOptions {
  upstreams: readonly ResolvedUpstream[];
  spoolDir: string;
  maxManifestBytes: number;
  logger: Logger;
}

const KNOWN = ['upstreams', 'spoolDir', 'maxManifestBytes', 'logger'];
const UPSTREAM_KNOWN = ['prefix', 'url', 'rewrite', 'ns', 'credentials', 'tls', 'tagTtl', 'revalidateTimeout', 'timeout'];

/** Validates the options as unknown input, so a typo fails at start-up with the option's name. */
export function resolveMirrorOptions(input: unknown): ResolvedMirrorOptions {
  const fail = (message: string): never => {
    throw new TypeError(`createMirror: ${message}`);
  };
  if (typeof input !== 'object' || input === null) return fail('options must be an object: { upstreams: [{ prefix, url }] }.');
  const o = input as Record<string, unknown>;
  unknownKeys(o, KNOWN, '', fail);
  if (!Array.isArray(o.upstreams) || o.upstreams.length === 0) fail('`upstreams` must be a non-empty list, e.g. [{ prefix: "hub/", url: "https://registry-1.docker.io" }].');
  const upstreams = (o.upstreams as unknown[]).map((u, index) => resolveUpstream(u, index, fail));
  const prefixes = new Set<string>();
  const namespaces = new Set<string>();
  for (const u of upstreams) {
    if (prefixes.has(u.prefix)) fail(`two upstreams share the prefix "${u.prefix}".`);
    prefixes.add(u.prefix);
    for (const ns of u.ns) {
      if (namespaces.has(ns)) fail(`two upstreams claim ns "${ns}".`);
      namespaces.add(ns);
    }
  }
  const { spoolDir, maxManifestBytes, logger } = o;
  if (spoolDir !== undefined && (typeof spoolDir !== 'string' || spoolDir === '')) fail('`spoolDir` must be a directory path.');
  if (maxManifestBytes !== undefined && (!Number.isSafeInteger(maxManifestBytes) || (maxManifestBytes as number) <= 0)) fail('`maxManifestBytes` must be a positive integer.');
  const log = logger as Partial<Logger> | undefined;
  if (log !== undefined && (typeof log.warn !== 'function' || typeof log.error !== 'function')) fail('`logger` must have warn(obj, msg) and error(obj, msg) methods (a pino logger fits).');
  return {
    upstreams,
    spoolDir: (spoolDir as string | undefined) ?? join(tmpdir(), 'berth-mirror'),
    maxManifestBytes: (maxManifestBytes as number | undefined) ?? 4 * 1024 * 1024,
    logger: (log as Logger | undefined) ?? consoleLogger,
  };
}

function resolveUpstream(input: unknown, index: number, fail: (message: string) => never): ResolvedUpstream {
  const at = `upstreams[${index}]`;
  if (typeof input !== 'object' || input === null) fail(`${at} must be an object { prefix, url }.`);
  const u = input as Record<string, unknown>;
  unknownKeys(u, UPSTREAM_KNOWN, `${at}.`, fail);
  const { prefix, url, rewrite, ns, credentials, tls } = u;
  if (typeof prefix !== 'string' || (prefix !== '' && (!prefix.endsWith('/') || !isRepositoryName(prefix.slice(0, -1))))) {
    fail(`${at}.prefix must be repository name components ending with "/", like "hub/", or "" for every repository (got ${JSON.stringify(prefix)}).`);
  }
  let origin: URL | undefined;
  try {
    origin = new URL(String(url));
  } catch {
    // reported below
  }
  if (typeof url !== 'string' || !origin || (origin.protocol !== 'https:' && origin.protocol !== 'http:') || origin.search || origin.hash || origin.username) {
    fail(`${at}.url must be an http(s) origin such as "https://registry-1.docker.io", without credentials or query (got ${JSON.stringify(url)}).`);
  }
  if (rewrite !== undefined && typeof rewrite !== 'function') fail(`${at}.rewrite must be a function (name) => upstream name.`);
  const nsList = ns === undefined ? [] : typeof ns === 'string' ? [ns] : ns;
  if (!Array.isArray(nsList) || !nsList.every((n) => typeof n === 'string' && /^[a-z0-9.-]+(?::\d+)?$/i.test(n))) {
    fail(`${at}.ns must be a registry host or a list of them, like "docker.io".`);
  }
  if (credentials !== undefined && typeof credentials !== 'function') {
    const c = credentials as Record<string, unknown> | null;
    if (typeof c !== 'object' || c === null || typeof c.username !== 'string' || typeof c.password !== 'string') {
      fail(`${at}.credentials must be { username, password } or a function returning them.`);
    }
  }
  if (tls !== undefined && (typeof tls !== 'object' || tls === null)) fail(`${at}.tls must be an object { ca?, cert?, key?, insecure? }.`);
  const ms = (name: string, fallback: number, min: number): number => {
    const value = u[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) fail(`${at}.${name} must be an integer of milliseconds, at least ${min} (got ${JSON.stringify(value)}).`);
    return value;
  };
  const base = (origin).href.replace(/\/+$/, '');
  const given = credentials as MirrorUpstream['credentials'];
  return {
    index,
    prefix: prefix,
    origin: new URL(base),
    rewrite: (rewrite as ((name: string) => string) | undefined) ?? ((name) => name),
    ns: (nsList as string[]).map((n) => n.toLowerCase()),
    credentials: async () => (typeof given === 'function' ? await given() : given),
    tls: (tls as UpstreamTls | undefined) ?? {},
    tagTtl: ms('tagTtl', 60_000, 0),
    revalidateTimeout: ms('revalidateTimeout', 3_000, 1),
    timeout: ms('timeout', 30_000, 1),
  };
}

function unknownKeys(o: Record<string, unknown>, known: readonly string[], where: string, fail: (message: string) => never): void {
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    fail(`unknown option "${where}${key}"${near ? `; did you mean "${where}${near}"?` : ''}.`);
  }
}
