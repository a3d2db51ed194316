import { hostname } from 'node:os';
import type { RegistryEvent } from '../events.js';
import { globs } from '../glob.js';
import { type Logger, consoleLogger } from '../logger.js';
import type { Registry } from '../registry.js';
import { DEFAULT_ACTIONS, EXPRESSIBLE, type PayloadFormat } from './payload.js';
import { type DeliveryQueue, memoryQueue } from './queue.js';

export type RepositoryEventType = RegistryEvent['type'];

/** Which events an endpoint gets; every given criterion must match. */
export interface WebhookFilter {
  /** Repository globs (`*` within a path component, `**` across them), e.g. `['charts/**']`. */
  repositories?: string | readonly string[];
  /**
   * Event types, e.g. `['manifest.pushed', 'tag.deleted']` (default: every change: pushes and deletes
   * of manifests, tags and blobs; distribution-style endpoints leave `tag.pushed` out, as their
   * manifest `push` names the tag). Pulls and `upload.started` come only when listed.
   */
  actions?: readonly RepositoryEventType[];
  /**
   * Media-type globs matched against a manifest's `mediaType` or `artifactType`, e.g.
   * `['application/vnd.cncf.helm.config.v1+json']`. Events without a media type (tags, blobs) do not match.
   */
  mediaTypes?: string | readonly string[];
}

export interface WebhookEndpoint {
  /** Names the endpoint in the queue, logs and metrics; keep it stable across restarts (default: `url`). */
  name?: string;
  /** Where events are POSTed (http or https). */
  url: string;
  /** Signs every request: `X-Berth-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>">` with `X-Berth-Timestamp`. */
  secret?: string;
  /** `'cloudevents'` (CloudEvents 1.0, structured JSON) or `'distribution'` (distribution's notification envelope). */
  format: PayloadFormat;
  filter?: WebhookFilter;
  /** Extra request headers, e.g. `{ Authorization: 'Bearer …' }`. */
  headers?: Readonly<Record<string, string>>;
  /** How long one attempt may take, in milliseconds (default: the webhooks' `timeout`). */
  timeout?: number;
}

export interface RetryOptions {
  /** The first wait after a failed attempt, in ms, doubling with every further failure, with jitter (default: 1000). */
  minDelay?: number;
  /** The longest wait between attempts, in ms; a longer `Retry-After` is cut to it (default: 300000, 5 minutes). */
  maxDelay?: number;
  /** Attempts before a delivery is given up (default: unlimited, until `maxAge`). */
  maxAttempts?: number;
  /** A delivery not delivered this long after its event is given up, in ms (default: 86400000, one day). */
  maxAge?: number;
}

export interface WebhooksOptions {
  /** The registry whose events are sent (only its `events` are used). */
  registry: Pick<Registry, 'events'>;
  endpoints: readonly WebhookEndpoint[];
  /**
   * Where deliveries wait: `memoryQueue()` (default; lost with the process), `fsQueue({ dir })` or
   * `mongoQueue({ … })` (kept across restarts; the mongo one shared by instances). `close()` closes it.
   */
  queue?: DeliveryQueue;
  /** How long one attempt may take, in ms (default: 10000). */
  timeout?: number;
  retry?: RetryOptions;
  /** Deliveries in flight at once, per instance (default: 4). */
  concurrency?: number;
  /** How often the queue is read for due deliveries, in ms, besides right after an event (default: 1000). */
  pollInterval?: number;
  /** How long a claimed delivery stays this instance's before another may send it, in ms (default: 3 × the longest timeout, at least 30000). */
  leaseMs?: number;
  /**
   * Events waiting to be written into the queue, at most (default: 1000). Past it, and when the
   * queue is full, new deliveries are dropped with a warning: a request never waits for webhooks.
   */
  maxPending?: number;
  /** CloudEvents `source` (default: `baseUrl`, else `'berth'`). */
  source?: string;
  /** The registry's public origin (and mount path), e.g. `https://registry.example.com`: distribution's `target.url`. */
  baseUrl?: string;
  /** Prefix of CloudEvents `type`s (default: `'berth.'`, so `berth.manifest.pushed`). */
  typePrefix?: string;
  /** Where failures and drops are reported (default: the console). */
  logger?: Logger;
}

export interface ResolvedEndpoint {
  name: string;
  url: string;
  secret: string | undefined;
  format: PayloadFormat;
  headers: Readonly<Record<string, string>>;
  timeout: number;
  actions: ReadonlySet<RepositoryEventType>;
  matches(event: RegistryEvent): boolean;
}

export interface ResolvedWebhooks {
  endpoints: ResolvedEndpoint[];
  queue: DeliveryQueue;
  retry: Required<RetryOptions>;
  concurrency: number;
  pollInterval: number;
  leaseMs: number;
  maxPending: number;
  source: string;
  baseUrl: string | undefined;
  typePrefix: string;
  addr: string;
  logger: Logger;
}

const KNOWN = ['registry', 'endpoints', 'queue', 'timeout', 'retry', 'concurrency', 'pollInterval', 'leaseMs', 'maxPending', 'source', 'baseUrl', 'typePrefix', 'logger'];
const ENDPOINT_KEYS = ['name', 'url', 'secret', 'format', 'filter', 'headers', 'timeout'];
const FILTER_KEYS = ['repositories', 'actions', 'mediaTypes'];

/** Checks the options as unknown input, throwing a TypeError that names the bad one. */
export function resolveWebhooks(input: WebhooksOptions): ResolvedWebhooks {
  const fail = (message: string): never => {
    throw new TypeError(`createWebhooks: ${message}`);
  };
  if (typeof input !== 'object' || (input as unknown) === null) fail('options must be an object: { registry, endpoints: [{ url, format }] }.');
  const o = input as unknown as Record<string, unknown>;
  unknownKeys(o, KNOWN, '', fail);
  const registry = o.registry as { events?: { on?: unknown } } | undefined;
  if (typeof registry?.events?.on !== 'function') fail('`registry` must be the registry (createRegistry(…)), whose events are sent.');
  const integer = (value: unknown, name: string, fallback: number, min = 1): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) fail(`\`${name}\` must be an integer of at least ${min} (got ${JSON.stringify(value)}).`);
    return value as number;
  };
  const timeout = integer(o.timeout, 'timeout', 10_000);
  if (!Array.isArray(o.endpoints) || o.endpoints.length === 0) fail('`endpoints` must be a non-empty list of { url, format, secret?, filter?, headers? }.');
  const endpoints = (o.endpoints as unknown[]).map((e, i) => endpointOf(e, i, timeout, fail));
  const names = new Set<string>();
  for (const e of endpoints) {
    if (names.has(e.name)) fail(`two endpoints are named "${e.name}"; give each its own \`name\`.`);
    names.add(e.name);
  }
  const retry = (o.retry ?? {}) as Record<string, unknown>;
  if (typeof retry !== 'object') fail('`retry` must be an object: { minDelay?, maxDelay?, maxAttempts?, maxAge? }.');
  unknownKeys(retry, ['minDelay', 'maxDelay', 'maxAttempts', 'maxAge'], 'retry.', fail);
  const minDelay = integer(retry.minDelay, 'retry.minDelay', 1000);
  const maxDelay = integer(retry.maxDelay, 'retry.maxDelay', 300_000);
  if (maxDelay < minDelay) fail('`retry.maxDelay` must be at least `retry.minDelay`.');
  const queue = (o.queue as DeliveryQueue | undefined) ?? memoryQueue();
  for (const method of ['enqueue', 'claim', 'ack', 'retryAt', 'size'] as const) {
    if (typeof queue[method] !== 'function') fail(`\`queue\` must be a DeliveryQueue (memoryQueue(), fsQueue({ dir }) or mongoQueue({ … })); it has no ${method}().`);
  }
  const longest = Math.max(...endpoints.map((e) => e.timeout));
  const leaseMs = integer(o.leaseMs, 'leaseMs', Math.max(30_000, 3 * longest));
  if (leaseMs <= longest) fail(`\`leaseMs\` (${leaseMs}) must be longer than the longest timeout (${longest}), or a slow attempt would be sent twice.`);
  const text = (name: string): string | undefined => {
    const value = o[name];
    if (value !== undefined && (typeof value !== 'string' || value === '')) fail(`\`${name}\` must be a non-empty string.`);
    return value as string | undefined;
  };
  const baseUrl = text('baseUrl')?.replace(/\/+$/, '');
  if (baseUrl !== undefined && !/^https?:\/\/./.test(baseUrl)) fail(`\`baseUrl\` must be an http(s) URL such as "https://registry.example.com" (got ${JSON.stringify(baseUrl)}).`);
  const logger = o.logger as Partial<Logger> | undefined;
  if (logger !== undefined && (typeof logger.warn !== 'function' || typeof logger.error !== 'function')) fail('`logger` must have warn(obj, msg) and error(obj, msg) methods (a pino logger fits).');
  return {
    endpoints,
    queue,
    retry: {
      minDelay,
      maxDelay,
      maxAttempts: integer(retry.maxAttempts, 'retry.maxAttempts', Number.MAX_SAFE_INTEGER),
      maxAge: integer(retry.maxAge, 'retry.maxAge', 24 * 60 * 60 * 1000),
    },
    concurrency: integer(o.concurrency, 'concurrency', 4),
    pollInterval: integer(o.pollInterval, 'pollInterval', 1000),
    leaseMs,
    maxPending: integer(o.maxPending, 'maxPending', 1000),
    source: text('source') ?? baseUrl ?? 'berth',
    baseUrl,
    typePrefix: text('typePrefix') ?? 'berth.',
    addr: hostname(),
    logger: (logger as Logger | undefined) ?? consoleLogger,
  };
}

function endpointOf(input: unknown, index: number, timeout: number, fail: (message: string) => never): ResolvedEndpoint {
  const where = `endpoints[${index}]`;
  if (typeof input !== 'object' || input === null) fail(`\`${where}\` must be an object: { url, format, secret?, filter?, headers? }.`);
  const e = input as Record<string, unknown>;
  unknownKeys(e, ENDPOINT_KEYS, `${where}.`, fail);
  const url = e.url;
  if (typeof url !== 'string' || !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) fail(`\`${where}.url\` must be an http(s) URL (got ${JSON.stringify(url)}).`);
  const format = e.format;
  if (format !== 'cloudevents' && format !== 'distribution') fail(`\`${where}.format\` must be "cloudevents" or "distribution" (got ${JSON.stringify(format)}).`);
  const name = e.name ?? url;
  if (typeof name !== 'string' || name === '' || name.includes('|')) fail(`\`${where}.name\` must be a non-empty string without "|".`);
  if (e.secret !== undefined && (typeof e.secret !== 'string' || e.secret.length < 16)) fail(`\`${where}.secret\` must be a string of at least 16 characters.`);
  const headers: unknown = e.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Object.values(headers).some((v) => typeof v !== 'string')) fail(`\`${where}.headers\` must be an object of header strings.`);
  const ownTimeout = e.timeout ?? timeout;
  if (typeof ownTimeout !== 'number' || !Number.isSafeInteger(ownTimeout) || ownTimeout < 1) fail(`\`${where}.timeout\` must be a positive integer of milliseconds.`);
  const filter = (e.filter ?? {}) as Record<string, unknown>;
  if (typeof filter !== 'object') fail(`\`${where}.filter\` must be an object: { repositories?, actions?, mediaTypes? }.`);
  unknownKeys(filter, FILTER_KEYS, `${where}.filter.`, fail);
  const f = format;
  const actions: unknown = filter.actions ?? DEFAULT_ACTIONS[f];
  if (!Array.isArray(actions) || actions.length === 0) fail(`\`${where}.filter.actions\` must be a non-empty list of event types, e.g. ["manifest.pushed"].`);
  for (const action of actions as unknown[]) {
    if (!EXPRESSIBLE.cloudevents.has(action as RepositoryEventType)) fail(`\`${where}.filter.actions\`: unknown event type ${JSON.stringify(action)} (known: ${[...EXPRESSIBLE.cloudevents].join(', ')}).`);
    if (!EXPRESSIBLE[f].has(action as RepositoryEventType)) fail(`\`${where}.filter.actions\`: ${String(action)} has no ${f}-style form; send it to a "cloudevents" endpoint.`);
  }
  const patterns = (key: string): ((value: string) => boolean) | undefined => {
    const value = filter[key];
    if (value === undefined) return undefined;
    if (!(typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string')))) fail(`\`${where}.filter.${key}\` must be a glob or a list of globs.`);
    return globs(value);
  };
  const repositories = patterns('repositories');
  const mediaTypes = patterns('mediaTypes');
  return {
    name,
    url,
    secret: e.secret,
    format: f,
    headers: headers as Record<string, string>,
    timeout: ownTimeout,
    actions: new Set(actions as RepositoryEventType[]),
    matches(event) {
      if (repositories && !repositories(event.repository)) return false;
      if (mediaTypes) {
        const types = [
          'mediaType' in event ? event.mediaType : undefined,
          'artifactType' in event ? event.artifactType : undefined,
        ].filter((t): t is string => typeof t === 'string');
        if (!types.some((t) => mediaTypes(t))) return false;
      }
      return true;
    },
  };
}

function unknownKeys(o: Record<string, unknown>, known: readonly string[], prefix: string, fail: (message: string) => never): void {
  for (const key of Object.keys(o)) {
    if (known.includes(key) || o[key] === undefined) continue;
    const near = known.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 3);
    fail(`unknown option \`${prefix}${key}\`${near ? `; did you mean \`${prefix}${near}\`?` : ''} (known: ${known.join(', ')}).`);
  }
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] ?? 0;
}
