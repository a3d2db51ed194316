import { createReadStream, open as openCallback } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../../digest.js';
import type { BlobInfo, BlobStore, Page } from '../types.js';
import { type RecordCache, keys } from './cache.js';
import { BatchWriter, type Files, entries, isMissing, removeIfExists } from './files.js';
import { type Layout, digestFrom } from './layout.js';

export const READ_CHUNK = 1024 * 1024;

export function openForReading(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    openCallback(path, 'r', (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

/** Content-addressed blobs: `blobs/<alg>/<2 hex>/<hex>`, each renamed into place once complete. */
export function fsBlobs(layout: Layout, files: Files, fsync: boolean, cache: RecordCache): BlobStore {
  async function statDisk(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(layout.blob(digest));
      return { digest, size: s.size, createdAt: s.mtime };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  return {
    async stat(digest) {
      // statDisk builds the path (which validates the digest) on a miss: only validated keys are ever cached
      const info = await cache.get(keys.blob(digest), () => statDisk(digest), () => 96);
      return info && { ...info };
    },

    async open(digest, options = {}) {
      let fd: number;
      try {
        // a plain descriptor: the stream then reads with callbacks, not through a FileHandle's promises
        fd = await openForReading(layout.blob(digest));
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
      // opened first, so a concurrent delete cannot turn a found blob into a stream error
      const { range, signal } = options;
      return createReadStream('', {
        fd,
        autoClose: true,
        highWaterMark: READ_CHUNK,
        ...(range && { start: range.start, end: range.end - 1 }),
        ...(signal && { signal }),
      });
    },

    async put(digest, body, options = {}) {
      const target = layout.blob(digest);
      const tmp = files.staging();
      const file = new BatchWriter(tmp, { flags: 'wx', sync: fsync });
      try {
        await pipeline(body, file, options.signal ? { signal: options.signal } : {});
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
      // same content either way, so replacing a blob another writer just stored is harmless
      await files.place(tmp, target);
      cache.drop(keys.blob(digest));
      return (await this.stat(digest)) as BlobInfo;
    },

    async delete(digest) {
      const removed = await removeIfExists(layout.blob(digest));
      cache.drop(keys.blob(digest));
      return removed;
    },

    async list(page) {
      return listBlobs(layout, page);
    },
  };
}

/** Walks `blobs/` in digest order, starting after `page.last`, reading only the directories it needs. */
async function listBlobs(layout: Layout, page: Page): Promise<Digest[]> {
  const wanted = page.n ?? Infinity;
  const out: Digest[] = [];
  const last = page.last ?? '';
  for (const alg of (await entries(layout.inside('blobs'))).sort()) {
    // ';' sorts right after ':' and 'g' after every hex digit: skip whole directories at or before `last`
    if (last > `${alg};`) continue;
    for (const prefix of (await entries(layout.inside('blobs', alg))).sort()) {
      if (last > `${alg}:${prefix}g`) continue;
      for (const hex of (await entries(layout.inside('blobs', alg, prefix))).sort()) {
        const digest = digestFrom(alg, hex);
        if (digest === undefined || digest <= last) continue;
        out.push(digest);
        if (out.length >= wanted) return out;
      }
    }
  }
  return out;
}
