import { createHash } from 'node:crypto';
import { type Readable, pipeline } from 'node:stream';
import { type Digest, algorithmOf } from '../digest.js';
import { RegistryError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Actor } from '../policy.js';
import type { PullRequest } from '../pull-through.js';
import type { Registry } from '../registry.js';
import { nativeHash } from '../running-hash.js';
import type { ByteRange } from '../storage/types.js';
import { Meter } from '../upload-hashes.js';
import { UpstreamUnreachable } from './client.js';
import { type Route, backingOff, rateLimited, upstreamFailure } from './route.js';
import { Spool } from './spool.js';

/** What the pull-through hook answers for a blob. */
export interface FoundBlob {
  size: number;
  open(range?: ByteRange): Promise<Readable>;
}

interface Started {
  size: number;
  spool: Spool;
}

/**
 * Blobs the store lacks: streamed from upstream into a spool that the clients asking and the store
 * read at once. Concurrent requests for one blob of one repository share one fetch; the
 * store gets the bytes through the same verification as an upload's and only when complete, and the
 * blob is then linked through `registry.changes` (usage, events).
 */
export class BlobFetches {
  readonly #inflight = new Map<string, Promise<Started | undefined>>();
  /** Transfers and store writes under way, so `close` can end them and wait. */
  readonly #bodies = new Set<Readable>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #registry: () => Registry;
  readonly #spoolDir: () => Promise<string>;
  readonly #logger: Logger;

  constructor(registry: () => Registry, spoolDir: () => Promise<string>, logger: Logger) {
    this.#registry = registry;
    this.#spoolDir = spoolDir;
    this.#logger = logger;
  }

  async blob(route: Route, request: PullRequest & { digest: Digest }, actor: Actor): Promise<FoundBlob | undefined> {
    const { storage, changes } = this.#registry();
    const { repository, digest } = request;
    const local = await storage.blobs.stat(digest);
    // the bytes are here already (another repository, or a fetch that just finished): linked when they belong here
    if (local) {
      const fromStore = { size: local.size, open: (range?: ByteRange) => this.#fromStore(digest, range) };
      if (await storage.links.has(repository, digest)) return fromStore;
      if (!(await this.#belongs(route, repository, digest))) return undefined;
      // (unless the collector took the bytes meanwhile: then they are fetched again)
      if (await changes.linkBlob(repository, digest, actor).then(() => true, collected)) return fromStore;
    }
    const key = `${repository}\n${digest}`;
    let fetching = this.#inflight.get(key);
    if (!fetching) {
      // forgets this fetch, not one started after it: a failure or a miss is not remembered, the next request asks again
      const forget = () => {
        if (this.#inflight.get(key) === fetching) this.#inflight.delete(key);
      };
      fetching = this.#start(route, repository, digest, actor, forget);
      this.#inflight.set(key, fetching);
      fetching.then((started) => started ?? forget(), forget);
    }
    const started = await fetching;
    if (!started) return undefined;
    const { size, spool } = started;
    return {
      size,
      open: async (range) => {
        const reader = spool.reader(range?.start ?? 0, range?.end ?? size);
        if (reader) return reader;
        if (spool.failed) throw new RegistryError('UNAVAILABLE', 'the transfer from upstream failed; try again', { headers: { 'Retry-After': '1' } });
        return this.#fromStore(digest, range);
      },
    };
  }

  /**
   * Whether a blob stored already may be linked into a mirrored repository without a transfer: a
   * cached manifest of the repository references it, or upstream has it there (one HEAD). So a
   * local repository's blob never shows through a mirrored name upstream does not hold it in.
   */
  async #belongs(route: Route, repository: string, digest: Digest): Promise<boolean> {
    if ((await this.#registry().changes.integrity.dependent(repository, digest)) !== undefined) return true;
    if (backingOff(route)) throw rateLimited(route);
    let answer;
    try {
      answer = await route.client.request('HEAD', `${route.name}/blobs/${digest}`, { repository: route.name, timeout: route.upstream.timeout });
    } catch (err) {
      if (!(err instanceof UpstreamUnreachable)) throw err;
      this.#logger.warn({ upstream: route.upstream.origin.href, repository, digest, err }, 'mirror: upstream unreachable to confirm a blob');
      throw upstreamFailure(route, undefined, err.message);
    }
    answer.body.resume();
    if (answer.status === 200) return true;
    if ([401, 403, 404].includes(answer.status)) return false;
    throw upstreamFailure(route, answer, `upstream answered ${answer.status}`);
  }

  async #fromStore(digest: Digest, range: ByteRange | undefined): Promise<Readable> {
    const stream = await this.#registry().storage.blobs.open(digest, range ? { range } : {});
    if (!stream) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
    return stream;
  }

  async #start(route: Route, repository: string, digest: Digest, actor: Actor, forget: () => void): Promise<Started | undefined> {
    const { upstream, client, name } = route;
    const where = { upstream: upstream.origin.href, repository, digest };
    if (backingOff(route)) throw rateLimited(route);
    let answer;
    try {
      answer = await client.request('GET', `${name}/blobs/${digest}`, { repository: name, timeout: upstream.timeout });
    } catch (err) {
      if (!(err instanceof UpstreamUnreachable)) throw err;
      this.#logger.warn({ ...where, err }, 'mirror: upstream unreachable for a blob the cache lacks');
      throw upstreamFailure(route, undefined, err.message);
    }
    if (answer.status !== 200) {
      answer.body.resume();
      if (answer.status === 404) return undefined;
      this.#logger.warn({ ...where, status: answer.status }, 'mirror: upstream refused a blob the cache lacks');
      if (answer.status === 401 || answer.status === 403) return undefined;
      throw upstreamFailure(route, answer, `upstream answered ${answer.status}`);
    }
    const size = Number(answer.headers['content-length']);
    if (!Number.isSafeInteger(size) || size < 0 || answer.headers['content-encoding'] !== undefined) {
      answer.body.destroy();
      this.#logger.warn({ ...where, headers: answer.headers }, 'mirror: upstream sent a blob without its size');
      throw new RegistryError('UNAVAILABLE', 'upstream sent the blob without a Content-Length; try again later', { headers: { 'Retry-After': '60' } });
    }
    try {
      // quotas and the host's policy apply to what the mirror stores, as to a push
      await this.#registry().changes.admitBlob({ ...actor, repository, digest, size, final: true });
    } catch (err) {
      answer.body.destroy();
      throw err;
    }
    const spool = await Spool.create(await this.#spoolDir(), size).catch((err: unknown) => {
      answer.body.destroy();
      throw err;
    });
    this.#track(this.#download(answer.body, spool, digest, where, forget));
    this.#track(this.#store(spool, repository, digest, actor, forget, where));
    return { size, spool };
  }

  /** Cuts the transfers in flight (nothing partial is stored) and waits for every store write to settle. */
  async close(): Promise<void> {
    for (const body of this.#bodies) body.destroy(new Error('the mirror is closing'));
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    const done = () => void this.#tasks.delete(task);
    task.then(done, done);
  }

  /** Upstream → spool, hashed on the way; the spool completes only for exactly the announced size and the right digest. */
  async #download(body: Readable, spool: Spool, digest: Digest, where: object, forget: () => void): Promise<void> {
    const hash = createHash(algorithmOf(digest));
    let bytes = 0;
    this.#bodies.add(body);
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > spool.size) throw new Error(`upstream sent more than the ${spool.size} bytes it announced`);
        hash.update(chunk);
        await spool.write(chunk);
      }
      if (bytes !== spool.size) throw new Error(`upstream sent ${bytes} of ${spool.size} bytes`);
      const computed = `${algorithmOf(digest)}:${hash.digest('hex')}`;
      if (computed !== digest) throw new Error(`upstream sent content with digest ${computed}`);
      spool.complete();
    } catch (err) {
      body.destroy();
      this.#logger.warn({ ...where, err, received: bytes, size: spool.size }, 'mirror: a blob transfer from upstream failed; nothing was stored');
      forget();
      spool.fail(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.#bodies.delete(body);
    }
  }

  /** Spool → store, verified again on the way (as an upload is), then linked; the spool is let go either way. */
  async #store(spool: Spool, repository: string, digest: Digest, actor: Actor, forget: () => void, where: object): Promise<void> {
    const { storage, changes } = this.#registry();
    try {
      const reader = spool.reader(0, spool.size);
      if (!reader) return;
      const verified = pipeline(reader, new Meter(nativeHash(algorithmOf(digest)), spool.size, digest), ignore);
      await storage.blobs.put(digest, verified);
      await changes.linkBlob(repository, digest, actor);
    } catch (err) {
      if (!spool.failed) this.#logger.error({ ...where, err }, 'mirror: storing a blob fetched from upstream failed; it was served but not cached');
    } finally {
      forget();
      spool.release();
    }
  }
}

function ignore(): void {
  // errors reach the store through the stream
}

/** `linkBlob` refuses when the collector took the bytes meanwhile: fetch them again. */
function collected(err: unknown): false {
  if (err instanceof RegistryError && err.code === 'UNAVAILABLE') return false;
  throw err;
}
