import type { Identity } from '../auth.js';
import type { RegistryRequest } from '../http.js';
import type { Gate } from './access.js';
import { isKind } from './kinds.js';
import { badRequest } from './respond.js';
import { type RepositorySummary, type SummaryIndex, type TagSummary, byteOrder } from './summary.js';

/** A search over repositories or one repository's tags (docs/portal.md, "Search API"). */
export interface Query {
  /** Substring of the name, case-insensitive. */
  q?: string;
  /** Start of the name. */
  prefix?: string;
  /** A kind (`image`, `helm`, `signature`, `sbom`, `attestation`, `artifact`) or an exact artifact type. */
  type?: string;
  /** Last push at or after. */
  since?: Date;
  /** Last push before. */
  until?: Date;
  sort: 'name' | 'pushed';
  order: 'asc' | 'desc';
  n: number;
  /** Opaque: the `next` of the previous page. */
  cursor?: string;
}

export interface Found<T> {
  items: T[];
  /** The cursor of the next page, when there is one. */
  next?: string;
  identity?: Identity;
  invalid?: boolean;
}

const ONE = (query: URLSearchParams, name: string): string | undefined => {
  const values = query.getAll(name);
  if (values.length > 1) throw badRequest(`query parameter "${name}" given more than once`);
  const value = values[0]?.trim();
  return value === '' ? undefined : value;
};

/** Reads a query string; a bad parameter is a 400 naming it. */
export function parseQuery(query: URLSearchParams, defaultSize: number): Query {
  const date = (name: string): Date | undefined => {
    const value = ONE(query, name);
    if (value === undefined) return undefined;
    const parsed = /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(NaN);
    if (Number.isNaN(parsed.getTime())) throw badRequest(`"${name}" must be a date or date-time like 2026-12-01 or 2026-12-01T10:00:00Z (got "${value}")`);
    return parsed;
  };
  const sort = ONE(query, 'sort') ?? 'name';
  if (sort !== 'name' && sort !== 'pushed') throw badRequest(`"sort" must be "name" or "pushed" (got "${sort}")`);
  const order = ONE(query, 'order') ?? (sort === 'pushed' ? 'desc' : 'asc');
  if (order !== 'asc' && order !== 'desc') throw badRequest(`"order" must be "asc" or "desc" (got "${order}")`);
  const nText = ONE(query, 'n');
  if (nText !== undefined && !/^\d{1,4}$/.test(nText)) throw badRequest(`"n" must be an integer from 1 to 1000 (got "${nText}")`);
  const n = nText === undefined ? defaultSize : Number(nText);
  if (n < 1 || n > 1000) throw badRequest(`"n" must be an integer from 1 to 1000 (got "${nText ?? ''}")`);
  const type = ONE(query, 'type');
  if (type !== undefined && !isKind(type) && !/^[\w.+-]+\/[\w.+-]+$/.test(type)) {
    throw badRequest(`"type" must be a kind (image, helm, signature, sbom, attestation, artifact) or a media type (got "${type}")`);
  }
  const q = ONE(query, 'q');
  const prefix = ONE(query, 'prefix');
  const cursor = ONE(query, 'cursor');
  const since = date('since');
  const until = date('until');
  return {
    sort,
    order,
    n,
    ...(q !== undefined && { q: q.slice(0, 256) }),
    ...(prefix !== undefined && { prefix: prefix.slice(0, 256) }),
    ...(type !== undefined && { type }),
    ...(since && { since }),
    ...(until && { until }),
    ...(cursor !== undefined && { cursor }),
  };
}

/** The query as URL parameters (for the pages' links), without `cursor` and with `n` only when not the default. */
export function queryString(query: Query, defaultSize: number, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  if (query.q !== undefined) params.set('q', query.q);
  if (query.prefix !== undefined) params.set('prefix', query.prefix);
  if (query.type !== undefined) params.set('type', query.type);
  if (query.since) params.set('since', query.since.toISOString());
  if (query.until) params.set('until', query.until.toISOString());
  if (query.sort !== 'name') params.set('sort', query.sort);
  if (query.order !== (query.sort === 'pushed' ? 'desc' : 'asc')) params.set('order', query.order);
  if (query.n !== defaultSize) params.set('n', String(query.n));
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  const s = params.toString();
  return s ? `?${s}` : '';
}

interface Sortable {
  name: string;
  at: number;
}

/** Filters, sorts and pages `all`, keeping only what `allowed` lets through (asked batch by batch). */
async function page<T>(all: readonly T[], view: (item: T) => Sortable, query: Query, allowed: (batch: T[]) => Promise<boolean[]>): Promise<{ items: T[]; next?: string }> {
  const key = (s: Sortable): [number | string, string] => [query.sort === 'pushed' ? s.at : s.name, s.name];
  const cmp = (a: [number | string, string], b: [number | string, string]) => {
    const primary = typeof a[0] === 'number' ? a[0] - (b[0] as number) : byteOrder(a[0], b[0] as string);
    const c = primary !== 0 ? Math.sign(primary) : byteOrder(a[1], b[1]);
    return query.order === 'asc' ? c : -c;
  };
  let sorted = all.map((item) => ({ item, key: key(view(item)) }));
  if (!(query.sort === 'name' && query.order === 'asc')) sorted = sorted.sort((a, b) => cmp(a.key, b.key));
  let start = 0;
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor);
    start = sorted.findIndex((s) => cmp(s.key, after) > 0);
    if (start < 0) start = sorted.length;
  }
  const out: { item: T; key: [number | string, string] }[] = [];
  const batchSize = Math.min(Math.max(query.n + 1, 100), 1000);
  for (let i = start; i < sorted.length && out.length <= query.n; i += batchSize) {
    const batch = sorted.slice(i, i + batchSize);
    const ok = await allowed(batch.map((b) => b.item));
    out.push(...batch.filter((_, j) => ok[j]));
  }
  const more = out.length > query.n;
  out.length = Math.min(out.length, query.n);
  const last = out[out.length - 1];
  return { items: out.map((o) => o.item), ...(more && last && { next: encodeCursor(last.key) }) };
}

function encodeCursor(key: [number | string, string]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): [number | string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && (typeof value[0] === 'number' || typeof value[0] === 'string') && typeof value[1] === 'string') {
      return value as [number | string, string];
    }
  } catch {
    // answered below
  }
  throw badRequest('"cursor" is not one this API gave out; start again without it');
}

function inRange(at: Date | undefined, query: Query): boolean {
  if (!query.since && !query.until) return true;
  if (!at) return false;
  return (!query.since || at >= query.since) && (!query.until || at < query.until);
}

/** Repositories matching `query` that the caller may pull. */
export async function searchRepositories(index: SummaryIndex, gate: Gate, req: RegistryRequest, query: Query): Promise<Found<RepositorySummary>> {
  const q = query.q?.toLowerCase();
  const type = query.type;
  const matches = index.repositories().filter(
    (r) =>
      (q === undefined || r.name.includes(q)) &&
      (query.prefix === undefined || r.name.startsWith(query.prefix)) &&
      (type === undefined || (isKind(type) ? r.kinds.includes(type) : r.artifactTypes.includes(type))) &&
      inRange(r.updatedAt, query),
  );
  let identity: Identity | undefined;
  let invalid = false;
  const result = await page(matches, (r) => ({ name: r.name, at: r.updatedAt?.getTime() ?? 0 }), query, async (batch) => {
    const answer = await gate.ask(req, batch.map((r) => ({ action: 'pull', repository: r.name }) as const));
    identity ??= answer.identity;
    invalid ||= answer.invalid;
    return answer.granted;
  });
  if (matches.length === 0) {
    // nothing to ask about: still learn who is asking, for the page header
    const answer = await gate.ask(req, [{ action: 'catalog' }]);
    identity = answer.identity;
    invalid = answer.invalid;
  }
  return { ...result, ...(identity && { identity }), ...(invalid && { invalid }) };
}

/** Tags of one repository matching `query` (the caller's pull was checked by the caller of this). */
export async function searchTags(tags: readonly TagSummary[], query: Query): Promise<Found<TagSummary>> {
  const q = query.q?.toLowerCase();
  const type = query.type;
  const matches = tags.filter(
    (t) =>
      (q === undefined || t.name.toLowerCase().includes(q)) &&
      (query.prefix === undefined || t.name.startsWith(query.prefix)) &&
      (type === undefined || (isKind(type) ? t.kind === type : t.artifactType === type || t.mediaType === type)) &&
      inRange(t.pushedAt, query),
  );
  return page(matches, (t) => ({ name: t.name, at: t.pushedAt.getTime() }), query, async (batch) => batch.map(() => true));
}
