import type { Digest } from '../../digest.js';
import { byteOrder, paginate } from '../page.js';
import type { TagStore } from '../types.js';
import type { Catalog } from './catalog.js';
import { type Files, entries, readIfExists, removeIfExists } from './files.js';
import type { Layout } from './layout.js';

/** Tags in `repositories/<name>/_tags/<tag>`, each holding the digest it points at. */
export function fsTags(layout: Layout, files: Files, catalog: Catalog): TagStore {
  const read = async (name: string, tag: string) => (await readIfExists(layout.tag(name, tag)))?.toString('utf8') as Digest | undefined;
  return {
    get: read,

    async put(name, tag, digest) {
      layout.digestParts(digest);
      const previous = await read(name, tag);
      await files.writeAtomic(layout.tag(name, tag), digest);
      await catalog.add(name);
      return previous;
    },

    async delete(name, tag, expected) {
      const current = await read(name, tag);
      if (current === undefined || (expected !== undefined && current !== expected)) return undefined;
      return (await removeIfExists(layout.tag(name, tag))) ? current : undefined;
    },

    async list(name, page) {
      return paginate((await entries(layout.repository(name, '_tags'))).sort(byteOrder), page);
    },

    async find(name, digest) {
      const found: string[] = [];
      for (const tag of await entries(layout.repository(name, '_tags'))) {
        if ((await read(name, tag)) === digest) found.push(tag);
      }
      return found;
    },
  };
}
