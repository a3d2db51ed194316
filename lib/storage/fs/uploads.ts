import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm, rmdir, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isRepositoryName } from '../../names.js';
import type { BlobStore, UploadInfo, UploadStore } from '../types.js';
import { BatchWriter, type Files, entries, isMissing, readIfExists, removeIfExists } from './files.js';
import { READ_CHUNK } from './blobs.js';
import { type RecordCache, keys } from './cache.js';
import type { Layout } from './layout.js';

/**
 * Uploads in `uploads/<id>/`: `repository` (written at creation; its mtime is the activity of an
 * upload with no bytes yet), `data` (the bytes so far, created by the first append; its mtime is the
 * last activity) and `hash` (a saved hash state and the size it describes). Appends to one upload are
 * serialised through `locks`, shared by every store on the root in this process; the root's lock
 * file keeps other processes away, so what `known` remembers of an upload (shared the same way) is
 * what the disk says, and a PATCH reads nothing back.
 */
export function fsUploads(layout: Layout, files: Files, blobs: BlobStore, fsync: boolean, locks: Map<string, Promise<unknown>>, known: Map<string, UploadInfo>, cache: RecordCache): UploadStore {
  /** Uploads whose last append was written durably (`last`), with the size it left: commit need not sync them again. */
  const synced = new Map<string, number>();

  /** Runs `fn` after every earlier call for the same upload has finished. */
  function serialised<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = locks.get(id) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    locks.set(id, settled);
    void settled.then(() => {
      if (locks.get(id) === settled) locks.delete(id);
    });
    return next;
  }

  async function info(id: string): Promise<UploadInfo | undefined> {
    if (!layout.isUploadId(id)) return undefined;
    const remembered = known.get(id);
    if (remembered) return { ...remembered };
    try {
      const [repository, data, hash] = await Promise.all([
        readFile(layout.upload(id, 'repository'), 'utf8'),
        stat(layout.upload(id, 'data')).catch((err: unknown) => {
          if (isMissing(err)) return undefined;
          throw err;
        }),
        readIfExists(layout.upload(id, 'hash')),
      ]);
      // no data yet: nothing was appended since the upload was created
      const activity = data ?? (await stat(layout.upload(id, 'repository')));
      const upload: UploadInfo = { id, repository, size: data?.size ?? 0, updatedAt: activity.mtime };
      const state = hash && decodeState(hash);
      // a state saved for fewer bytes than the data holds (a crash between the two writes) is no state
      if (state?.size === upload.size) upload.hashState = state.state;
      // not remembered: a sweep or delete may be removing it right now; the next append (serialised with those) is
      return upload;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /**
   * Removes a committed upload's directory: its `repository` file (and `hash`, when a state was
   * saved), then the directory; a full `rm -r` when anything else is left there.
   */
  async function removeCommitted(id: string, hashed: boolean): Promise<void> {
    await removeIfExists(layout.upload(id, 'repository'));
    if (hashed) await removeIfExists(layout.upload(id, 'hash'));
    await rmdir(layout.upload(id)).catch(async (err: unknown) => {
      if (isMissing(err)) return;
      await rm(layout.upload(id), { recursive: true, force: true });
    });
  }

  return {
    promotesInto: blobs,

    async create(repository) {
      if (!isRepositoryName(repository)) throw new Error(`fsStorage: invalid repository name ${JSON.stringify(repository)}`);
      const id = randomUUID();
      await mkdir(layout.upload(id), { recursive: true });
      // the data file comes with the first append: a small push is dozens of file operations, and this saves two
      await writeFile(layout.upload(id, 'repository'), repository);
      const upload = { id, repository, size: 0, updatedAt: new Date() };
      known.set(id, upload);
      return { ...upload };
    },

    get: info,

    append(id, offset, body, options = {}) {
      if (!layout.isUploadId(id)) return Promise.resolve(undefined);
      return serialised(id, async () => {
        const current = await info(id);
        if (!current || current.size !== offset) {
          body.resume();
          return undefined;
        }
        const data = layout.upload(id, 'data');
        // the first append creates the data file (its size was checked above: nothing is lost by truncating);
        // the last one, followed by a commit, makes its bytes durable as it closes them
        const durable = fsync && options.last === true;
        const file = new BatchWriter(data, { flags: offset === 0 ? 'w' : 'r+', start: offset, sync: durable });
        synced.delete(id);
        try {
          await pipeline(body, file, options.signal ? { signal: options.signal } : {});
        } catch (err) {
          await truncate(data, offset).catch(() => undefined);
          throw err;
        }
        const size = offset + file.bytesWritten;
        if (durable) synced.set(id, size);
        const state = options.hashState?.();
        if (state) await files.writeAtomic(layout.upload(id, 'hash'), encodeState(size, state));
        const now = new Date();
        // writing moved mtime (the idle clock) already; only an empty append must touch it
        if (file.bytesWritten === 0) await utimes(data, now, now);
        known.set(id, { id, repository: current.repository, size, updatedAt: now, ...(state && { hashState: state }) });
        return size;
      });
    },

    async open(id, options = {}) {
      if (!layout.isUploadId(id)) return undefined;
      try {
        const handle = await open(layout.upload(id, 'data'), 'r');
        return createReadStream('', { fd: handle, highWaterMark: READ_CHUNK, ...(options.signal && { signal: options.signal }) });
      } catch (err) {
        if (!isMissing(err)) throw err;
        // an upload nothing was appended to yet holds no bytes
        return (await info(id)) ? Readable.from([]) : undefined;
      }
    },

    commit(id, digest, size) {
      if (!layout.isUploadId(id)) return Promise.resolve(undefined);
      return serialised(id, async () => {
        const data = layout.upload(id, 'data');
        // what this process knows of the upload is what the disk holds (appends are serialised here)
        const current = await info(id);
        if (current?.size !== size) return undefined;
        try {
          // an upload nothing was appended to becomes the empty blob
          if (size === 0) await writeFile(data, '', { flag: 'a' });
          if (synced.get(id) !== size) await files.syncFile(data);
        } catch (err) {
          if (isMissing(err)) return undefined;
          throw err;
        }
        synced.delete(id);
        // same content either way, so replacing a blob another client just committed is harmless
        await files.place(data, layout.blob(digest));
        known.delete(id);
        cache.drop(keys.blob(digest));
        // the rest of the upload's directory goes in the background: without its data it is no upload, and a sweep would take it
        removeCommitted(id, current.hashState !== undefined).catch(() => undefined);
        return blobs.stat(digest);
      });
    },

    delete(id) {
      if (!layout.isUploadId(id)) return Promise.resolve(false);
      return serialised(id, async () => {
        const existed = await stat(layout.upload(id)).then(
          () => true,
          () => false,
        );
        known.delete(id);
        synced.delete(id);
        await rm(layout.upload(id), { recursive: true, force: true });
        return existed;
      });
    },

    async sweep(cutoff) {
      let removed = 0;
      for (const id of await entries(layout.inside('uploads'))) {
        if (!layout.isUploadId(id) || locks.has(id)) continue;
        const upload = await info(id);
        const idle = upload ? upload.updatedAt < cutoff : await olderThan(layout.upload(id), cutoff);
        if (idle) {
          known.delete(id);
          synced.delete(id);
          await rm(layout.upload(id), { recursive: true, force: true });
          removed++;
        }
      }
      // staging files are only ever seconds old; anything idle longer was left by a crash
      for (const name of await entries(layout.inside('tmp'))) {
        const path = join(layout.inside('tmp'), name);
        if (await olderThan(path, cutoff)) await rm(path, { force: true });
      }
      return removed;
    },
  };
}

function encodeState(size: number, state: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${size}\n`), state]);
}

function decodeState(file: Buffer): { size: number; state: Uint8Array } | undefined {
  const newline = file.indexOf(10);
  const size = Number(file.subarray(0, newline).toString());
  return newline > 0 && Number.isSafeInteger(size) ? { size, state: file.subarray(newline + 1) } : undefined;
}

async function olderThan(path: string, cutoff: Date): Promise<boolean> {
  return stat(path).then(
    (s) => s.mtime < cutoff,
    () => false,
  );
}
