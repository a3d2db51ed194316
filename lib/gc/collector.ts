import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Digest } from '../digest.js';
import { RegistryError } from '../errors.js';
import type { CollectionSummary } from '../events.js';
import { type Logger, consoleLogger } from '../logger.js';
import type { Registry } from '../registry.js';
import type { Storage } from '../storage/types.js';
import { type RetentionRule, compileRetention, tagsToDelete } from './retention.js';

export interface CollectorOptions {
  /** The registry to collect (its store, events and upload expiry). */
  registry: Registry;
  /**
   * Blobs stored and links made less than this many milliseconds ago are never collected, so a
   * blob pushed just before its manifest survives (default: 1 hour).
   */
  grace?: number;
  /**
   * Manifests no tag reaches (directly, as an index's child, or as a referrer of a reachable
   * manifest): `'keep'` (default) or deleted once older than `{ olderThan }` milliseconds.
   */
  untagged?: 'keep' | { olderThan: number };
  /** Tag retention per repository glob, first match wins (default: none, every tag is kept). */
  retention?: readonly RetentionRule[];
  /** Where progress and problems are reported (default: the console). */
  logger?: Logger;
  /** How long a run's lease lasts between renewals, in milliseconds (default: 60 seconds). */
  leaseTtl?: number;
}

export interface RunOptions {
  /** Report what would go, delete nothing. */
  dryRun?: boolean;
}

/** What a run did (or, dry, would do), and what went. */
export interface CollectionResult extends CollectionSummary {
  /** What went, up to 1,000 entries (`repository:tag`, `repository@digest`, `repository link digest`, `digest`). */
  removed: string[];
}

export interface Collector {
  /** One run now. With many instances only one runs at a time: the others answer `skipped`. */
  run(options?: RunOptions): Promise<CollectionResult>;
  /** Runs every `intervalMs` (after each run ends) until the returned function is called. */
  schedule(intervalMs: number): () => void;
  /**
   * An admin endpoint: `POST` runs once (`?dryRun=1` for a dry run) and answers the result as JSON.
   * Mount it behind the host app's own admin auth: `app.post('/admin/gc', requireAdmin, collector.handler)`.
   */
  handler(req: IncomingMessage, res: ServerResponse): void;
}

const LEASE = 'berth-gc';
const PAGE = 1000;
const REPORTED = 1000;

/**
 * Online garbage collection: it runs while clients push and pull, on any store, and never takes
 * anything live. Per repository it applies retention to tags, deletes unreachable untagged
 * manifests (per policy) and unlinks blobs no manifest of the repository references; then it deletes
 * blobs that no repository links any more, and expires idle uploads. Everything young (the grace)
 * is kept, and every delete goes through the same write-then-verify rules as the API's, so a push,
 * mount or tag racing the collector wins.
 */
export function createCollector(options: CollectorOptions): Collector {
  const { registry } = options;
  const storage: Storage = registry.storage;
  const grace = options.grace ?? 60 * 60 * 1000;
  const untagged = options.untagged ?? 'keep';
  const retention = compileRetention(options.retention ?? []);
  const logger = options.logger ?? consoleLogger;
  const leaseTtl = options.leaseTtl ?? 60_000;
  const holder = randomUUID();
  if (!Number.isSafeInteger(grace) || grace < 0) throw new TypeError(`createCollector: \`grace\` must be a non-negative integer of milliseconds (got ${JSON.stringify(grace)}).`);
  if (untagged !== 'keep' && (typeof untagged !== 'object' || !Number.isSafeInteger(untagged.olderThan) || untagged.olderThan < 0)) {
    throw new TypeError('createCollector: `untagged` must be "keep" or { olderThan: <milliseconds> }.');
  }

  async function* pages<T extends string>(list: (page: { n: number; last?: string }) => Promise<T[]>): AsyncGenerator<T> {
    let last: string | undefined;
    for (;;) {
      // let requests in now and then: a store that answers from memory would otherwise never yield
      await new Promise((resolve) => setImmediate(resolve));
      const page = await list({ n: PAGE, ...(last !== undefined && { last }) });
      for (const [i, item] of page.entries()) {
        if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
        yield item;
      }
      if (page.length < PAGE) return;
      last = page[page.length - 1];
    }
  }

  async function run(runOptions: RunOptions = {}): Promise<CollectionResult> {
    const dryRun = runOptions.dryRun === true;
    const startedAt = new Date();
    const now = startedAt.getTime();
    const result: CollectionResult = {
      dryRun,
      startedAt,
      durationMs: 0,
      repositories: 0,
      tagsDeleted: 0,
      manifestsDeleted: 0,
      linksRemoved: 0,
      blobsDeleted: 0,
      bytesReclaimed: 0,
      uploadsExpired: 0,
      usageCorrected: 0,
      removed: [],
      errors: 0,
    };
    const note = (what: string) => {
      if (result.removed.length < REPORTED) result.removed.push(what);
    };
    const guarded = async (what: string, work: () => Promise<void>) => {
      try {
        await work();
      } catch (err) {
        result.errors++;
        logger.error({ err, what }, 'garbage collection: an operation failed');
      }
    };

    if (!(await storage.leases.acquire(LEASE, holder, leaseTtl))) {
      return { ...result, skipped: 'another instance is collecting', durationMs: Date.now() - now };
    }
    let renewed = Date.now();
    const renew = async () => {
      if (Date.now() - renewed < leaseTtl / 3) return;
      if (!(await storage.leases.acquire(LEASE, holder, leaseTtl))) throw new Error('garbage collection lost its lease');
      renewed = Date.now();
    };

    try {
      for await (const repository of pages((page) => storage.repositories.list(page))) {
        await renew();
        result.repositories++;
        await guarded(`repository ${repository}`, () => collectRepository(repository, now, dryRun, result, note, guarded));
      }
      await collectBlobs(now, dryRun, result, note, guarded, renew);
      if (!dryRun) await guarded('uploads', async () => void (result.uploadsExpired = await registry.sweep()));
    } finally {
      await storage.leases.release(LEASE, holder).catch(() => undefined);
    }
    result.durationMs = Date.now() - now;
    const { removed, ...summary } = result;
    logger.info?.({ ...summary, removed: removed.length }, 'garbage collection finished');
    registry.events.emit({ type: 'gc.completed', ...summary });
    return result;
  }

  async function collectRepository(
    repository: string,
    now: number,
    dryRun: boolean,
    result: CollectionResult,
    note: (what: string) => void,
    guarded: (what: string, work: () => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const { tags, manifests, links } = storage;

    // 1. retention: tags the rules let go
    const rule = retention.ruleFor(repository);
    const tagged = new Map<string, Digest>();
    const infos: { tag: string; info: NonNullable<Awaited<ReturnType<typeof tags.stat>>> }[] = [];
    for await (const tag of pages((page) => tags.list(repository, page))) {
      const info = await tags.stat(repository, tag);
      if (!info) continue;
      infos.push({ tag, info });
      tagged.set(tag, info.digest);
    }
    for (const tag of rule ? tagsToDelete(rule, infos, now) : []) {
      const digest = tagged.get(tag) as Digest;
      tagged.delete(tag);
      note(`${repository}:${tag}`);
      result.tagsDeleted++;
      if (!dryRun) {
        await guarded(`tag ${repository}:${tag}`, async () => {
          // moved meanwhile, or a policy keeps it: it stays
          await registry.changes.deleteTag(repository, tag, {}, digest).catch(expected);
        });
      }
    }

    // 2. manifests no tag reaches
    const records = new Map<Digest, { references: Digest[]; subject?: Digest; createdAt: number }>();
    for await (const digest of pages((page) => manifests.list(repository, page))) {
      const m = await manifests.get(repository, digest).catch(() => undefined);
      if (m) records.set(digest, { references: m.references, ...(m.subject !== undefined && { subject: m.subject }), createdAt: m.createdAt.getTime() });
    }
    const live = reachable(records, new Set(tagged.values()));
    const deleted = new Set<Digest>();
    if (untagged !== 'keep') {
      const candidates = new Set([...records].filter(([d, r]) => !live.has(d) && r.createdAt < now - untagged.olderThan).map(([d]) => d));
      // an index goes before its children: count each candidate's parents among the candidates
      const waitingFor = new Map<Digest, number>();
      const children = new Map<Digest, Digest[]>();
      for (const parent of candidates) {
        for (const child of records.get(parent)?.references ?? []) {
          if (!candidates.has(child)) continue;
          waitingFor.set(child, (waitingFor.get(child) ?? 0) + 1);
          children.set(parent, [...(children.get(parent) ?? []), child]);
        }
      }
      const ready = [...candidates].filter((d) => !waitingFor.has(d));
      while (ready.length > 0) {
        const digest = ready.pop() as Digest;
        if (!dryRun) {
          const gone = await registry.changes.deleteManifest(repository, digest).then(
            () => true,
            (err: unknown) => {
              // gone already, an index pushed meanwhile needs it, or a policy keeps it: it stays
              if (err instanceof RegistryError) return false;
              result.errors++;
              logger.error({ err, what: `manifest ${repository}@${digest}` }, 'garbage collection: an operation failed');
              return false;
            },
          );
          if (!gone) continue;
        }
        deleted.add(digest);
        note(`${repository}@${digest}`);
        result.manifestsDeleted++;
        for (const child of children.get(digest) ?? []) {
          const left = (waitingFor.get(child) ?? 1) - 1;
          waitingFor.set(child, left);
          if (left === 0) ready.push(child);
        }
      }
    }

    // 3. links no remaining manifest references, once they are old enough
    const referenced = new Set<Digest>();
    for (const [digest, record] of records) if (!deleted.has(digest)) for (const r of record.references) referenced.add(r);
    for await (const digest of pages((page) => links.list(repository, page))) {
      if (referenced.has(digest)) continue;
      const linked = await links.stat(repository, digest);
      if (!linked || linked.createdAt.getTime() > now - grace) continue;
      note(`${repository} link ${digest}`);
      result.linksRemoved++;
      if (!dryRun) {
        await guarded(`link ${repository} ${digest}`, async () => {
          const gone = await registry.changes.unlinkBlob(repository, digest).then(() => true, expected);
          if (!gone) result.linksRemoved--;
        });
      }
    }

    // 4. usage, recomputed from what the repository holds now; kept only if nothing changed it meanwhile
    if (!dryRun) await guarded(`usage of ${repository}`, () => correctUsage(repository, result));
  }

  /** Sets a repository's usage to the bytes of its links and manifests, unless a change moved it during the count. */
  async function correctUsage(repository: string, result: CollectionResult): Promise<void> {
    const { repositories, links, blobs, manifests } = storage;
    const before = await repositories.usage(repository);
    if (!before) return;
    let bytes = 0;
    for await (const digest of pages((page) => links.list(repository, page))) bytes += (await blobs.stat(digest))?.size ?? 0;
    for await (const digest of pages((page) => manifests.list(repository, page))) bytes += (await manifests.stat(repository, digest).catch(() => undefined))?.size ?? 0;
    if (bytes === before.bytes) return;
    if (await repositories.setUsage(repository, bytes, before.version)) result.usageCorrected++;
  }

  /** 4. blobs no repository links, once they are old enough. */
  async function collectBlobs(
    now: number,
    dryRun: boolean,
    result: CollectionResult,
    note: (what: string) => void,
    guarded: (what: string, work: () => Promise<void>) => Promise<void>,
    renew: () => Promise<void>,
  ): Promise<void> {
    const { blobs, links } = storage;
    for await (const digest of pages((page) => blobs.list(page))) {
      await renew();
      await guarded(`blob ${digest}`, async () => {
        const info = await blobs.stat(digest);
        if (!info || info.createdAt.getTime() > now - grace) return;
        // in a dry run, links the run would remove still count: they are not gone yet
        if ((await links.repositories(digest, { n: 1 })).length > 0) return;
        note(digest);
        result.blobsDeleted++;
        result.bytesReclaimed += info.size;
        if (dryRun) return;
        // a link made after the check above finds the blob gone and asks its client to push again
        await blobs.delete(digest);
      });
    }
  }

  function schedule(intervalMs: number): () => void {
    if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) throw new TypeError(`collector.schedule: the interval must be a positive number of milliseconds (got ${JSON.stringify(intervalMs)}).`);
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const next = () => {
      if (stopped) return;
      timer = setTimeout(() => {
        run()
          .catch((err: unknown) => logger.error({ err }, 'garbage collection failed'))
          .finally(next);
      }, intervalMs);
      timer.unref();
    };
    next();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  function handler(req: IncomingMessage, res: ServerResponse): void {
    const send = (status: number, value: unknown) => {
      const body = Buffer.from(JSON.stringify(value));
      res.statusCode = status;
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Content-Length', body.length);
      res.setHeader('Cache-Control', 'no-store');
      res.end(body);
    };
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      send(405, { error: 'POST runs the garbage collector' });
      return;
    }
    const dryRun = /[?&]dryRun=(1|true)(&|$)/.test(req.url ?? '');
    run({ dryRun }).then(
      (result) => send(result.skipped ? 409 : 200, result),
      (err: unknown) => {
        logger.error({ err }, 'garbage collection failed');
        send(500, { error: 'garbage collection failed; see the server log' });
      },
    );
  }

  return { run, schedule, handler };
}

/** A refusal the collector expects (moved, in use, vetoed): the thing stays. Anything else is a failure. */
function expected(err: unknown): false {
  if (err instanceof RegistryError) return false;
  throw err;
}

/** Manifests reachable from `roots`: an index's children, and the referrers of anything reachable. */
function reachable(records: ReadonlyMap<Digest, { references: Digest[]; subject?: Digest }>, roots: ReadonlySet<Digest>): Set<Digest> {
  const live = new Set<Digest>();
  const bySubject = new Map<Digest, Digest[]>();
  for (const [digest, record] of records) {
    if (record.subject === undefined) continue;
    const list = bySubject.get(record.subject) ?? [];
    list.push(digest);
    bySubject.set(record.subject, list);
  }
  const queue = [...roots].filter((d) => records.has(d));
  while (queue.length > 0) {
    const digest = queue.pop() as Digest;
    if (live.has(digest)) continue;
    live.add(digest);
    for (const child of records.get(digest)?.references ?? []) if (records.has(child) && !live.has(child)) queue.push(child);
    for (const referrer of bySubject.get(digest) ?? []) if (!live.has(referrer)) queue.push(referrer);
  }
  return live;
}
