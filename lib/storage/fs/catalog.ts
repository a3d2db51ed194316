import { rm } from 'node:fs/promises';
import { byteOrder, paginate } from '../page.js';
import type { RepositoryStore, Usage } from '../types.js';
import { type RecordCache, keys } from './cache.js';
import { type Files, entries, exists, readIfExists, removeIfExists } from './files.js';
import { type Layout, RECORD_DIRECTORIES, nameFromCatalog } from './layout.js';
import { digestsUnder } from './manifests.js';

/**
 * The names of a root's repositories, sorted, read from disk once per process: the root's lock keeps
 * other processes out, so every change goes through this list. Shared by every store on the root.
 */
export interface CatalogCache {
  sorted?: Promise<string[]>;
  /** Usage per repository as last read or written (the entry files hold it on disk). */
  usage?: Map<string, Usage>;
  /** Usage changes per repository, one at a time across every store on the root. */
  usageQueue?: Map<string, Promise<unknown>>;
  /** Repositories whose usage changed since it was last written to their entry file. */
  usageUnwritten?: Set<string>;
  /** The write of a repository's usage in flight, if any. */
  usageWrites?: Map<string, Promise<void>>;
}

/**
 * The repositories an fs store knows, one empty file each under `catalog/` (the record), and a
 * sorted list in memory (the index), so a catalog page costs its own size.
 */
export class Catalog {
  readonly #layout: Layout;
  readonly #files: Files;
  readonly #cache: CatalogCache;
  readonly #records: RecordCache;
  /** Names known to exist, so pushes to a known repository skip the file system. */
  readonly #known = new Set<string>();
  readonly #usage: Map<string, Usage>;
  readonly #usageQueue: Map<string, Promise<unknown>>;
  readonly #unwritten: Set<string>;
  readonly #writes: Map<string, Promise<void>>;

  constructor(layout: Layout, files: Files, cache: CatalogCache, records: RecordCache) {
    this.#layout = layout;
    this.#files = files;
    this.#cache = cache;
    this.#records = records;
    this.#usage = cache.usage ??= new Map<string, Usage>();
    this.#usageQueue = cache.usageQueue ??= new Map<string, Promise<unknown>>();
    this.#unwritten = cache.usageUnwritten ??= new Set<string>();
    this.#writes = cache.usageWrites ??= new Map<string, Promise<void>>();
  }

  /** Makes `name` known (after a write into it). */
  async add(name: string): Promise<void> {
    if (this.#known.has(name)) return;
    await this.#files.touch(this.#layout.catalogEntry(name));
    this.#known.add(name);
    const sorted = await this.names();
    const at = position(sorted, name);
    if (sorted[at] !== name) sorted.splice(at, 0, name);
  }

  /** Every name, sorted (the shared list itself: callers copy what they keep). */
  names(): Promise<string[]> {
    this.#cache.sorted ??= this.#load().catch((err: unknown) => {
      this.#cache.sorted = undefined;
      throw err;
    });
    return this.#cache.sorted;
  }

  async #load(): Promise<string[]> {
    const names: string[] = [];
    for (const entry of await entries(this.#layout.inside('catalog'))) {
      const name = nameFromCatalog(entry);
      if (name !== undefined) names.push(name);
    }
    return names.sort(byteOrder);
  }

  store(): RepositoryStore {
    const layout = this.#layout;
    return {
      has: async (name) => this.#known.has(name) || exists(layout.catalogEntry(name)),
      list: async (page) => paginate(await this.names(), page),
      // one at a time with the repository's usage changes, so none of them writes its entry file back afterwards
      delete: (name) => this.#serialised(name, async () => {
        this.#known.delete(name);
        this.#usage.delete(name);
        this.#unwritten.delete(name);
        await this.#writes.get(name);
        const existed = await removeIfExists(layout.catalogEntry(name));
        const sorted = await this.names();
        const at = position(sorted, name);
        if (sorted[at] === name) sorted.splice(at, 1);
        for (const digest of await digestsUnder(layout, layout.repository(name, '_layers'))) await removeIfExists(layout.reverseLink(digest, name));
        // only this repository's own records: a nested repository's directory stays
        for (const part of RECORD_DIRECTORIES) {
          await rm(layout.repository(name, part), { recursive: true, force: true });
        }
        this.#records.dropPrefix(keys.repository(name));
        return existed;
      }),
      // the usage lives in the catalog entry itself, as JSON; an empty entry is a repository with no usage yet
      usage: async (name) => this.#readUsage(name),
      addUsage: (name, delta) =>
        this.#serialised(name, async () => {
          const usage = await this.#readUsage(name);
          if (!usage) return undefined;
          const after = { bytes: usage.bytes + delta, version: usage.version + 1 };
          this.#writeUsage(name, after);
          return after;
        }),
      setUsage: (name, bytes, version) =>
        this.#serialised(name, async () => {
          const usage = await this.#readUsage(name);
          if (usage?.version !== version) return false;
          this.#writeUsage(name, { bytes, version: version + 1 });
          return true;
        }),
    };
  }

  async #readUsage(name: string): Promise<Usage | undefined> {
    const remembered = this.#usage.get(name);
    if (remembered) return { ...remembered };
    const file = await readIfExists(this.#layout.catalogEntry(name));
    if (file === undefined) return undefined;
    try {
      const usage = JSON.parse(file.toString('utf8')) as Partial<Usage>;
      if (typeof usage.bytes === 'number' && typeof usage.version === 'number') return this.#remember(name, { bytes: usage.bytes, version: usage.version });
    } catch {
      // an empty (or damaged) entry: no usage recorded yet, garbage collection sets it
    }
    return this.#remember(name, { bytes: 0, version: 0 });
  }

  #remember(name: string, usage: Usage): Usage {
    this.#usage.set(name, { ...usage });
    return usage;
  }

  /**
   * Written behind the change and not synced: usage is an index that garbage collection recomputes,
   * not a record, and the copy in memory is the one that counts while this process holds the root.
   * A push then waits for no file of it; a burst of pushes to one repository writes it once or twice.
   */
  #writeUsage(name: string, usage: Usage): void {
    this.#remember(name, usage);
    this.#unwritten.add(name);
    this.#startWriting(name);
  }

  #startWriting(name: string): void {
    if (this.#writes.has(name)) return; // the write in flight writes this too, when it loops
    const writing = this.#writeUnwritten(name).finally(() => {
      if (this.#writes.get(name) === writing) this.#writes.delete(name);
      // a change that came after the loop's last look
      if (this.#unwritten.has(name)) this.#startWriting(name);
    });
    this.#writes.set(name, writing);
  }

  async #writeUnwritten(name: string): Promise<void> {
    while (this.#unwritten.delete(name)) {
      const usage = this.#usage.get(name);
      if (!usage) return; // the repository was deleted meanwhile
      // a failed write (a full disk) leaves the old figure on disk: the next change writes again, the collector corrects it
      await this.#files.writeAtomic(this.#layout.catalogEntry(name), JSON.stringify(usage), { durable: false }).catch(() => undefined);
    }
  }

  /** Resolves once every usage changed so far is in its entry file (before the root is released). */
  async settle(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all(this.#writes.values());
  }

  /** Usage changes of one repository, one at a time (one process serves a root). */
  #serialised<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.#usageQueue.get(name) ?? Promise.resolve()).then(fn, fn);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.#usageQueue.set(name, settled);
    void settled.then(() => {
      if (this.#usageQueue.get(name) === settled) this.#usageQueue.delete(name);
    });
    return next;
  }
}

/** Where `name` is, or would go, in `sorted` (byte order). */
function position(sorted: readonly string[], name: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
