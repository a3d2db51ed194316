import { rm } from 'node:fs/promises';
import { byteOrder, paginate } from '../page.js';
import type { RepositoryStore } from '../types.js';
import { type Files, entries, exists, removeIfExists } from './files.js';
import { type Layout, RECORD_DIRECTORIES, nameFromCatalog } from './layout.js';
import { digestsUnder } from './manifests.js';

/** The repositories an fs store knows, one empty file each under `catalog/`, so listing them is one directory read. */
export class Catalog {
  readonly #layout: Layout;
  readonly #files: Files;
  /** Names known to exist, so pushes to a known repository skip the file system. */
  readonly #known = new Set<string>();

  constructor(layout: Layout, files: Files) {
    this.#layout = layout;
    this.#files = files;
  }

  /** Makes `name` known (after a write into it). */
  async add(name: string): Promise<void> {
    if (this.#known.has(name)) return;
    await this.#files.touch(this.#layout.catalogEntry(name));
    this.#known.add(name);
  }

  async names(): Promise<string[]> {
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
