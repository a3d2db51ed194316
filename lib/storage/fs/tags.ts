import { stat, utimes } from 'node:fs/promises';
import type { Digest } from '../../digest.js';
import { byteOrder, paginate } from '../page.js';
import type { TagStore } from '../types.js';
import { type RecordCache, keys } from './cache.js';
import type { Catalog } from './catalog.js';
import { type Files, entries, readIfExists, removeIfExists } from './files.js';
import type { Layout } from './layout.js';

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/**
 * Tags in `repositories/<name>/_tags/<tag>`, each holding the digest it points at, with a reverse
 * index `_tagged/<digest>/<tag>` so finding a manifest's tags reads only those. An index entry is
 * written before the tag and removed after it moves, so it may be stale, never missing; `find`
 * checks each against the tag itself.
 */
export function fsTags(layout: Layout, files: Files, catalog: Catalog, cache: RecordCache): TagStore {
  /** The digest a tag points at; a damaged tag file (not a digest) counts as no tag, so it can be pushed again. */
  async function read(name: string, tag: string): Promise<Digest | undefined> {
    // the path (which validates name and tag) only on a miss: only validated keys are ever cached. A tag that is
    // not there is remembered too ('' stands for it): a push reads the tag it is about to write, twice
    const digest = await cache.get(
      keys.tag(name, tag),
      async () => {
        const value = (await readIfExists(layout.tag(name, tag)))?.toString('utf8');
        return value !== undefined && DIGEST.test(value) ? (value as Digest) : '';
      },
      (value) => value.length * 2,
    );
    return digest || undefined;
  }

  return {
    get: read,

    async stat(name, tag) {
      const digest = await read(name, tag);
      if (digest === undefined) return undefined;
      const [file, pulled] = await Promise.all([stat(layout.tag(name, tag)).catch(() => undefined), stat(layout.pulled(name, tag)).catch(() => undefined)]);
      if (!file) return undefined;
      return { digest, updatedAt: file.mtime, ...(pulled && { pulledAt: pulled.mtime }) };
    },

    async pulled(name, tag, at) {
      if ((await read(name, tag)) === undefined) return;
      const path = layout.pulled(name, tag);
      await files.mark(path);
      await utimes(path, at, at);
    },

    async put(name, tag, digest) {
      layout.digestParts(digest);
      const previous = await read(name, tag);
      await files.mark(layout.taggedAs(name, digest, tag));
      await files.writeAtomic(layout.tag(name, tag), digest);
      cache.drop(keys.tag(name, tag));
      if (previous !== undefined && previous !== digest) await removeIfExists(layout.taggedAs(name, previous, tag));
      await catalog.add(name);
      return previous;
    },

    async delete(name, tag, expected) {
      const current = await read(name, tag);
      if (current === undefined) {
        // a damaged tag file is still removable
        if (expected === undefined) {
          await removeIfExists(layout.tag(name, tag));
          cache.drop(keys.tag(name, tag));
        }
        return undefined;
      }
      if (expected !== undefined && current !== expected) return undefined;
      const removed = await removeIfExists(layout.tag(name, tag));
      cache.drop(keys.tag(name, tag));
      if (!removed) return undefined;
      await removeIfExists(layout.taggedAs(name, current, tag));
      await removeIfExists(layout.pulled(name, tag));
      return current;
    },

    async list(name, page) {
      return paginate((await entries(layout.repository(name, '_tags'))).sort(byteOrder), page);
    },

    async find(name, digest) {
      const found: string[] = [];
      for (const tag of await entries(layout.tagged(name, digest))) {
        if ((await read(name, tag)) === digest) found.push(tag);
        else await removeIfExists(layout.taggedAs(name, digest, tag));
      }
      return found.sort(byteOrder);
    },
  };
}
