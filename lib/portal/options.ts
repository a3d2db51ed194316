import type { Authorize } from '../auth.js';
import type { RegistryRequest } from '../http.js';
import { type Logger, consoleLogger } from '../logger.js';
import type { Registry } from '../registry.js';
import type { ArchiveLimits } from './chart-archive.js';
import type { Html } from './html.js';

/** What the layout hook receives for each HTML page. */
export interface PageShell {
  /** The page's own title (already plain text; escape it). */
  title: string;
  /** The portal's title (`title` option). */
  site: string;
  /** The page body, safe HTML. */
  body: Html;
  /** The portal's mount path, for links (`/artifacts`). */
  base: string;
  /** Who is signed in, if anyone. */
  user?: string;
  /** The `<head>` and header the portal would render, for layouts that only wrap. */
  defaultHead: Html;
}

export interface PortalOptions<Req extends RegistryRequest = RegistryRequest> {
  /** The registry whose store, events and content the portal shows. Required. */
  registry: Registry;
  /**
   * The auth hook: the same function the registry was created with, so the portal asks the same
   * questions and gets the same answers (default: the registry's own, through `registry.decide`).
   */
  authorize?: Authorize<Req>;
  /** Shown in the header and page titles (default: `"berth"`). */
  title?: string;
  /** `host[:port]` in pull commands (default: the request's `Host`). */
  registryHost?: string;
  /** Path prefix browsers use to reach the portal, for links (default: the mount path, `req.baseUrl`). */
  publicPath?: string;
  /**
   * Where anonymous users sign in (the host's login page). Without it, a page refused to an anonymous
   * user answers 401 with `challenge`, so the browser asks for Basic credentials.
   */
  loginUrl?: string;
  /** `WWW-Authenticate` of 401 answers to the API, the Helm repository and pages without `loginUrl` (default: `Basic realm="berth"`). */
  challenge?: string;
  /** CSS variables without the `--berth-` prefix, e.g. `{ accent: '#0b6e4f' }` (see docs/portal.md). */
  theme?: Readonly<Record<string, string>>;
  /** Extra stylesheet URLs, loaded after the portal's own. */
  stylesheets?: readonly string[];
  /** The theme hook: returns the whole HTML document around each page. */
  layout?: (page: PageShell) => string;
  /** Browser uploads (default: on, 512 MiB per file, 20 files). `false` turns them off. */
  uploads?: boolean | { maxFileSize?: number; maxFiles?: number };
  /** Deleting tags and manifests and retagging from the pages (default: the registry's `deletes`). */
  deletes?: boolean;
  /** Repositories and tags per page (default: 50; the API takes up to 1000 with `n`). */
  pageSize?: number;
  /** Limits on chart archives read for the chart page, uploads and the Helm repository. */
  chartLimits?: Partial<ArchiveLimits>;
  /** Re-reads every repository this often, in ms, for stores shared with other instances (default: 0, off). */
  refreshInterval?: number;
  /** Where background problems go (default: the console). */
  logger?: Logger;
}

export interface ResolvedPortalOptions {
  registry: Registry;
  authorize: Authorize;
  title: string;
  registryHost: string | undefined;
  publicPath: string | undefined;
  loginUrl: string | undefined;
  challenge: string;
  theme: Readonly<Record<string, string>>;
  stylesheets: readonly string[];
  layout: ((page: PageShell) => string) | undefined;
  uploads: { maxFileSize: number; maxFiles: number } | false;
  deletes: boolean;
  pageSize: number;
  chartLimits: ArchiveLimits;
  refreshInterval: number;
  logger: Logger;
}

export const DEFAULT_LIMITS: ArchiveLimits = {
  maxCompressedSize: 64 * 1024 * 1024,
  maxTotalSize: 128 * 1024 * 1024,
  maxEntrySize: 4 * 1024 * 1024,
  maxEntries: 10_000,
};

const KNOWN = [
  'registry', 'authorize', 'title', 'registryHost', 'publicPath', 'loginUrl', 'challenge', 'theme', 'stylesheets',
  'layout', 'uploads', 'deletes', 'pageSize', 'chartLimits', 'refreshInterval', 'logger',
];

/** Validates the options as unknown input, so JavaScript callers get the same clear errors. */
export function resolvePortalOptions(input: unknown): ResolvedPortalOptions {
  const fail = (message: string): never => {
    throw new TypeError(`createPortal: ${message}`);
  };
  if (typeof input !== 'object' || input === null) return fail('options must be an object, e.g. { registry, authorize }.');
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.includes(key)) {
      const near = KNOWN.find((k) => k.toLowerCase() === key.toLowerCase());
      fail(`unknown option "${key}"${near ? `; did you mean "${near}"?` : ''}.`);
    }
  }
  const registry = o.registry as Registry | undefined;
  if (typeof registry !== 'function' || typeof registry.storage !== 'object' || typeof registry.events !== 'object' || typeof registry.decide !== 'function') {
    fail('`registry` must be the router createRegistry() returned.');
  }
  // by default the registry's own answers: each user sees and changes exactly what the registry lets them
  const fromRegistry: Authorize = async (req, accesses) => {
    const { identity, invalid, granted } = await (registry as Registry).decide(req, accesses);
    return { ...(identity !== undefined && { identity }), invalid, allowed: granted };
  };
  const authorize = o.authorize ?? fromRegistry;
  if (typeof authorize !== 'function') fail('`authorize` must be a function (req, accesses) => decision; leave it out to use the registry\'s.');
  const text = (name: string, fallback?: string): string | undefined => {
    const value = o[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'string') fail(`\`${name}\` must be a string (got ${JSON.stringify(value)}).`);
    return value as string;
  };
  const positive = (value: unknown, name: string, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) fail(`\`${name}\` must be a positive integer (got ${JSON.stringify(value)}).`);
    return value as number;
  };
  const publicPath = text('publicPath');
  if (publicPath?.endsWith('/')) fail(`\`publicPath\` must be a path without a trailing slash, like "/artifacts" (got ${JSON.stringify(publicPath)}).`);
  const theme: unknown = o.theme ?? {};
  if (typeof theme !== 'object' || theme === null || Object.entries(theme as Record<string, unknown>).some(([k, v]) => !/^[a-z][a-z0-9-]*$/.test(k) || typeof v !== 'string' || /[;{}<>]/.test(v))) {
    fail('`theme` maps CSS variable names (without --berth-) to values, e.g. { accent: "#0b6e4f" }; values may not contain ; { } < >.');
  }
  const stylesheets = o.stylesheets ?? [];
  if (!Array.isArray(stylesheets) || stylesheets.some((s) => typeof s !== 'string')) fail('`stylesheets` must be an array of URLs.');
  if (o.layout !== undefined && typeof o.layout !== 'function') fail('`layout` must be a function (page) => html string.');
  let uploads: ResolvedPortalOptions['uploads'] = { maxFileSize: 512 * 1024 * 1024, maxFiles: 20 };
  if (o.uploads === false) uploads = false;
  else if (typeof o.uploads === 'object' && o.uploads !== null) {
    const u = o.uploads as Record<string, unknown>;
    uploads = { maxFileSize: positive(u.maxFileSize, 'uploads.maxFileSize', uploads.maxFileSize), maxFiles: positive(u.maxFiles, 'uploads.maxFiles', uploads.maxFiles) };
  } else if (o.uploads !== undefined && o.uploads !== true) fail('`uploads` must be true, false or { maxFileSize, maxFiles }.');
  if (o.deletes !== undefined && typeof o.deletes !== 'boolean') fail('`deletes` must be true or false.');
  const limits = (o.chartLimits ?? {}) as Record<string, unknown>;
  const chartLimits = Object.fromEntries(Object.entries(DEFAULT_LIMITS).map(([k, v]: [string, number]) => [k, positive(limits[k], `chartLimits.${k}`, v)])) as unknown as ArchiveLimits;
  for (const key of Object.keys(limits)) if (!(key in DEFAULT_LIMITS)) fail(`unknown chart limit "${key}" (known: ${Object.keys(DEFAULT_LIMITS).join(', ')}).`);
  const logger = o.logger as Partial<Logger> | undefined;
  if (logger !== undefined && (typeof logger.warn !== 'function' || typeof logger.error !== 'function')) fail('`logger` must have warn(obj, msg) and error(obj, msg) methods.');
  const refreshInterval = o.refreshInterval === 0 ? 0 : positive(o.refreshInterval, 'refreshInterval', 0);
  return {
    registry: registry as Registry,
    authorize: authorize as Authorize,
    title: text('title', 'berth') as string,
    registryHost: text('registryHost'),
    publicPath,
    loginUrl: text('loginUrl'),
    challenge: text('challenge', 'Basic realm="berth"') as string,
    theme: theme as Record<string, string>,
    stylesheets: stylesheets as string[],
    layout: o.layout as ResolvedPortalOptions['layout'],
    uploads,
    deletes: (o.deletes as boolean | undefined) ?? (registry as Registry).settings.deletes,
    pageSize: Math.min(positive(o.pageSize, 'pageSize', 50), 1000),
    chartLimits,
    refreshInterval,
    logger: (logger as Logger | undefined) ?? consoleLogger,
  };
}
