import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Digest } from '../../digest.js';
import { isRepositoryName } from '../../names.js';
import { byteOrder, paginate } from '../page.js';
import type { LinkStore } from '../types.js';
import { type RecordCache, keys } from './cache.js';
import type { Catalog } from './catalog.js';
import { type Files, entries, exists, isMissing, readIfExists, removeIfExists } from './files.js';
import type { Layout } from './layout.js';
import { digestsUnder } from './manifests.js';

/** Blob links: `repositories/<name>/_layers/<alg>/<hex>`, with a reverse link per blob naming the repositories that hold it. */
export function fsLinks(layout: Layout, files: Files, catalog: Catalog, cache: RecordCache): LinkStore {
  async function has(name: string, digest: Digest): Promise<boolean> {
    // only a link that is there is remembered (a new one needs no dropping); the path, which validates, only on a miss
    return (await cache.get(keys.link(name, digest), async () => ((await exists(layout.layer(name, digest))) ? true : undefined), () => 8)) === true;
  }

  return {
    has,

    async stat(name, digest) {
      try {
        return { createdAt: (await stat(layout.layer(name, digest))).mtime };
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },

    async add(name, digest) {
      // a link this process knows is there: nothing to write
      if (await has(name, digest)) {
        await catalog.add(name);
        return false;
      }
      // the reverse link first, so the collector never sees a link without one (a crash in between leaves
      // only a reverse link, which keeps the blob); its rename is made durable by the link's directory sync
      // (journaling file systems commit metadata in order, see Files.mark): one directory sync, not two
      await files.writeAtomic(layout.reverseLink(digest, name), name, { syncEntry: false });
      const created = await files.touch(layout.layer(name, digest));
      await catalog.add(name);
      return created;
    },

    async delete(name, digest) {
      await removeIfExists(layout.reverseLink(digest, name));
      const removed = await removeIfExists(layout.layer(name, digest));
      cache.drop(keys.link(name, digest));
      return removed;
    },

    async repositories(digest, page) {
      const dir = layout.reverseLinks(digest);
      const names: string[] = [];
      for (const entry of await entries(dir)) {
        const content = (await readIfExists(layout.inside(dir, entry)))?.toString('utf8');
        // stores written before reverse links were hashed named the file after the encoded name and left it empty
        const name = content || safeDecode(basename(entry));
        if (name !== undefined && isRepositoryName(name)) names.push(name);
      }
      return paginate(names.sort(byteOrder), page);
    },

    async list(name, page) {
      return paginate(await digestsUnder(layout, layout.repository(name, '_layers')), page);
    },
  };
}

function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
