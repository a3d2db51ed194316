import { rm } from 'node:fs/promises';
import { byteOrder, paginate } from '../page.js';
import type { RepositoryStore } from '../types.js';
import { type Files, entries, exists, removeIfExists } from './files.js';
import { type Layout, RECORD_DIRECTORIES, nameFromCatalog } from './layout.js';
import { digestsUnder } from './manifests.js';

/**
 * The names of a root's repositories, sorted, read from disk once per process: the root's lock keeps
 * other processes out, so every change goes through this list. Shared by every store on the root.
 */
export interface CatalogCache {
  sorted?: Promise<string[]>;
}

/**
 * The repositories an fs store knows, one empty file each under `catalog/` (the record), and a
 * sorted list in memory (the index), so a catalog page costs its own size.
 */
export class Catalog {
  readonly #layout: Layout;
  readonly #files: Files;
  readonly #cache: CatalogCache;
  /** Names known to exist, so pushes to a known repository skip the file system. */
  readonly #known = new Set<string>();

  constructor(layout: Layout, files: Files, cache: CatalogCache) {
    this.#layout = layout;
    this.#files = files;
    this.#cache = cache;
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
      delete: async (name) => {
        this.#known.delete(name);
        const existed = await removeIfExists(layout.catalogEntry(name));
        const sorted = await this.names();
        const at = position(sorted, name);
        if (sorted[at] === name) sorted.splice(at, 1);
        for (const digest of await digestsUnder(layout, layout.repository(name, '_layers'))) await removeIfExists(layout.reverseLink(digest, name));
        // only this repository's own records: a nested repository's directory stays
        for (const part of RECORD_DIRECTORIES) {
          await rm(layout.repository(name, part), { recursive: true, force: true });
        }
        return existed;
      },
    };
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
