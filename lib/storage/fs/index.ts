import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isRepositoryName } from '../../names.js';
import type { Storage, UploadInfo } from '../types.js';
import { fsBlobs } from './blobs.js';
import { RecordCache } from './cache.js';
import { Catalog, type CatalogCache } from './catalog.js';
import { Files } from './files.js';
import { Layout } from './layout.js';
import { fsLeases } from './leases.js';
import { fsLinks } from './links.js';
import { fsManifests } from './manifests.js';
import { fsTags } from './tags.js';
import { ProcessLock } from '../../process-lock.js';
import { fsUploads } from './uploads.js';

/** Per root, what every store on that root in this process shares: its upload locks, uploads, catalog index and record cache. */
const shared = new Map<string, { uploadLocks: Map<string, Promise<unknown>>; uploads: Map<string, UploadInfo>; catalog: CatalogCache; cache: RecordCache }>();

export interface FsStorageOptions {
  /** Directory that holds everything; created if missing. */
  root: string;
  /** fsync data and metadata before they become visible, so a crash never exposes a torn file (default: `true`). */
  fsync?: boolean;
  /**
   * Bytes of records (manifests, tags, referrer lists, blob sizes, links) kept in memory once read,
   * so pulls by tag or digest read no file (default 64 MiB; `0` reads every record from disk). The
   * root's lock keeps other processes out, so every change passes through this process and drops
   * what it changes; the cache is shared by every store on the root in the process.
   */
  cacheBytes?: number;
}

/**
 * A content-addressed store in a directory (the layout is described in `layout.ts`). Every file
 * appears by an atomic rename, so readers see whole files or none, and two clients writing the same
 * blob or tag at once each replace it atomically. Appends to one upload are serialised within the
 * process, and `init()` takes a lock file so that a second process on the same root is refused.
 */
export function fsStorage(options: FsStorageOptions): Storage {
  const root = (options as Partial<FsStorageOptions> | undefined)?.root;
  if (typeof root !== 'string' || root === '') {
    throw new TypeError(`fsStorage: \`root\` must be a directory path (got ${JSON.stringify(root)}).`);
  }
  const fsync = options.fsync ?? true;
  const layout = new Layout(root);
  const files = new Files(layout.inside('tmp'), fsync);
  const cacheBytes = options.cacheBytes ?? 64 * 1024 * 1024;
  if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) throw new TypeError(`fsStorage: \`cacheBytes\` must be a whole number of bytes, 0 or more (got ${JSON.stringify(cacheBytes)}).`);
  const state = shared.get(layout.root) ?? { uploadLocks: new Map<string, Promise<unknown>>(), uploads: new Map<string, UploadInfo>(), catalog: {}, cache: new RecordCache(cacheBytes) };
  shared.set(layout.root, state);
  const { cache } = state;
  const catalog = new Catalog(layout, files, state.catalog, cache);
  const blobs = fsBlobs(layout, files, fsync, cache);
  const locks = state.uploadLocks;
  const lockPath = join(layout.root, 'lock');
  const lock = new ProcessLock(
    lockPath,
    (owner) =>
      `fsStorage: ${lockPath} is held by process ${owner}: one process serves a root at a time (its uploads are locked in memory). ` +
      'Run one process per root, or use mongoStorage to share a store between instances.',
  );
  return {
    blobs,
    uploads: fsUploads(layout, files, blobs, fsync, locks, state.uploads, cache),
    manifests: fsManifests(layout, files, catalog, cache),
    tags: fsTags(layout, files, catalog, cache),
    links: fsLinks(layout, files, catalog, cache),
    repositories: catalog.store(),
    leases: fsLeases(layout, files),
    async init() {
      await mkdir(layout.root, { recursive: true });
      const first = await lock.acquire();
      // the first store on this root in this process reads the catalog and records afresh (the root may have been replaced since)
      if (first) {
        state.catalog.sorted = undefined;
        state.catalog.usage?.clear();
        state.uploads.clear();
        cache.clear();
      }
      for (const dir of ['blobs', 'uploads', 'repositories', 'links', 'leases', 'tmp']) await mkdir(layout.inside(dir), { recursive: true });
      // staging files of a process that crashed: nobody else writes here (the lock), so clear them now, not an hour later
      if (first) for (const name of await readdir(layout.inside('tmp'))) await rm(layout.inside('tmp', name), { recursive: true, force: true });
      // a root written before the catalog existed: index its repositories once
      const index = layout.inside('catalog');
      if ((await readdir(index).catch(() => undefined)) === undefined) {
        const staging = `${index}.new`;
        await rm(staging, { recursive: true, force: true });
        await mkdir(staging);
        for (const name of await repositoriesOnDisk(layout.inside('repositories'), '')) {
          await files.touch(join(staging, name.replaceAll('/', ',')));
        }
        await rm(index, { recursive: true, force: true });
        await rename(staging, index);
        state.catalog.sorted = undefined;
      }
    },
    async close() {
      await catalog.settle();
      await lock.release();
    },
  };
}

/** Repository directories (holding any `_` record directory) below `dir`, whose name so far is `prefix`. */
async function repositoriesOnDisk(dir: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  if (prefix !== '' && children.some((c) => c.isDirectory() && c.name.startsWith('_'))) found.push(prefix);
  for (const child of children) {
    if (!child.isDirectory() || child.name.startsWith('_')) continue;
    const name = prefix ? `${prefix}/${child.name}` : child.name;
    if (isRepositoryName(name)) found.push(...(await repositoriesOnDisk(join(dir, child.name), name)));
  }
  return found;
}
