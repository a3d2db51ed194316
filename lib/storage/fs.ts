import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../digest.js';
import { isRepositoryName, isTag } from '../names.js';
import { descriptorOf } from './descriptor.js';
import { byteOrder, paginate } from './page.js';
import type { Descriptor, Manifest, Storage } from './types.js';

export interface FsStorageOptions {
  /** Directory that holds everything; created if missing. */
  root: string;
  /** fsync blob data before it becomes visible, so a crash never exposes a torn blob (default: `true`). */
  fsync?: boolean;
}

const SAFE_DIGEST = /^(sha256|sha512):([a-f0-9]{64,128})$/;
const SAFE_ID = /^[a-f0-9-]{36}$/;
const READ_CHUNK = 1024 * 1024;

/**
 * A content-addressed store in a directory:
 *
 *     blobs/<alg>/<2 hex>/<hex>                         verified blob bytes
 *     uploads/<id>/{data,repository}                    in-progress uploads (mtime = last activity)
 *     repositories/<name>/_manifests/<alg>/<hex>        one JSON header line, then the exact manifest bytes
 *     repositories/<name>/_tags/<tag>                   the digest the tag points at
 *     repositories/<name>/_layers/<alg>/<hex>           empty: the blob is linked into the repository
 *     repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>   empty: a referrer of that subject
 *     links/<alg>/<hex>/<encoded name>                  reverse links, for automatic mounts
 *     tmp/                                              staging for atomic renames
 *
 * Every file appears by `rename` from `tmp/`, so readers see whole files or none, and two clients
 * writing the same blob or tag at once each replace it atomically. Repository components start with
 * `[a-z0-9]`, so they can never collide with the `_` directories, and every path is re-checked to stay
 * inside `root`. Appends to one upload are serialised within the process; run one process per root, or
 * route an upload's requests to one process.
 */
export function fsStorage(options: FsStorageOptions): Storage {
  const root_ = (options as Partial<FsStorageOptions> | undefined)?.root;
  if (typeof root_ !== 'string' || root_ === '') {
    throw new TypeError(`fsStorage: \`root\` must be a directory path (got ${JSON.stringify(root_)}).`);
  }
  const root = resolve(root_);
  const fsync = options.fsync ?? true;
  const locks = new Map<string, Promise<unknown>>();

  /** Joins below root and refuses anything that would escape it. */
  function inside(...parts: string[]): string {
    const path = resolve(root, ...parts);
    if (!path.startsWith(root + sep)) throw new Error(`fsStorage: refusing path outside root: ${path}`);
    return path;
  }
  function repoDir(name: string, ...rest: string[]): string {
    if (!isRepositoryName(name)) throw new Error(`fsStorage: invalid repository name ${JSON.stringify(name)}`);
    return inside('repositories', ...name.split('/'), ...rest);
  }
  function digestParts(digest: Digest): [string, string] {
    const m = SAFE_DIGEST.exec(digest);
    if (!m) throw new Error(`fsStorage: invalid digest ${JSON.stringify(digest)}`);
    return [m[1] as string, m[2] as string];
  }
  function blobPath(digest: Digest): string {
    const [alg, hex] = digestParts(digest);
    return inside('blobs', alg, hex.slice(0, 2), hex);
  }
  function uploadDir(id: string): string {
    if (!SAFE_ID.test(id)) throw new Error(`fsStorage: invalid upload id ${JSON.stringify(id)}`);
    return inside('uploads', id);
  }
  function tagPath(name: string, tag: string): string {
    if (!isTag(tag)) throw new Error(`fsStorage: invalid tag ${JSON.stringify(tag)}`);
    return repoDir(name, '_tags', tag);
  }
  function manifestPath(name: string, digest: Digest): string {
    return repoDir(name, '_manifests', ...digestParts(digest));
  }
  function referrerPath(name: string, subject: Digest, digest: Digest): string {
    return repoDir(name, '_referrers', ...digestParts(subject), digestParts(digest).join('-'));
  }

  /** Writes a whole file so that it appears at once. */
  async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
    const tmp = inside('tmp', randomUUID());
    await mkdir(inside('tmp'), { recursive: true });
    await writeFile(tmp, data);
    await mkdir(resolve(path, '..'), { recursive: true });
    await rename(tmp, path);
  }
  async function touch(path: string): Promise<void> {
    await mkdir(resolve(path, '..'), { recursive: true });
    await writeFile(path, '');
  }

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

  async function uploadInfo(id: string) {
    if (!SAFE_ID.test(id)) return undefined;
    const dir = uploadDir(id);
    try {
      const [repository, data] = await Promise.all([readFile(join(dir, 'repository'), 'utf8'), stat(join(dir, 'data'))]);
      return { id, repository, size: data.size, updatedAt: data.mtime };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async function readManifest(name: string, digest: Digest): Promise<Manifest | undefined> {
    const file = await readIfExists(manifestPath(name, digest));
    if (!file) return undefined;
    const newline = file.indexOf(10);
    const header = JSON.parse(file.subarray(0, newline).toString('utf8')) as Omit<Manifest, 'body' | 'digest' | 'size'>;
    const body = file.subarray(newline + 1);
    return { ...header, digest, size: body.length, body };
  }

  /** Repositories below `dir` (whose name so far is `prefix`) that hold a manifest. */
  async function walkRepositories(dir: string, prefix: string, out: string[]): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      if (entry.name === '_manifests') {
        for (const alg of await readdir(join(dir, entry.name)).catch(() => [])) {
          if ((await readdir(join(dir, entry.name, alg)).catch(() => [])).length > 0) {
            out.push(prefix);
            break;
          }
        }
      } else if (!entry.name.startsWith('_')) {
        await walkRepositories(join(dir, entry.name), prefix ? `${prefix}/${entry.name}` : entry.name, out);
      }
    }
  }

  return {
    blobs: {
      async stat(digest) {
        try {
          return { digest, size: (await stat(blobPath(digest))).size };
        } catch (err) {
          if (isMissing(err)) return undefined;
          throw err;
        }
      },
      async open(digest, range) {
        let handle;
        try {
          handle = await open(blobPath(digest), 'r');
        } catch (err) {
          if (isMissing(err)) return undefined;
          throw err;
        }
        // opened first, so a concurrent delete cannot turn a found blob into a stream error
        return createReadStream('', {
          fd: handle,
          highWaterMark: READ_CHUNK,
          ...(range && { start: range.start, end: range.end - 1 }),
        });
      },
      async delete(digest) {
        return removeIfExists(blobPath(digest));
      },
    },

    uploads: {
      async create(repository) {
        if (!isRepositoryName(repository)) throw new Error(`fsStorage: invalid repository name ${JSON.stringify(repository)}`);
        const id = randomUUID();
        const dir = uploadDir(id);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'repository'), repository);
        await writeFile(join(dir, 'data'), '');
        return { id, repository, size: 0, updatedAt: new Date() };
      },
      get: uploadInfo,
      append(id, offset, body) {
        if (!SAFE_ID.test(id)) return Promise.resolve(undefined);
        return serialised(id, async () => {
          const info = await uploadInfo(id);
          if (!info || info.size !== offset) {
            body.resume();
            return undefined;
          }
          const data = join(uploadDir(id), 'data');
          const file = createWriteStream(data, { flags: 'r+', start: offset });
          try {
            await pipeline(body, file);
          } catch (err) {
            await truncate(data, offset).catch(() => undefined);
            throw err;
          }
          // writing moved mtime (the idle clock) already; only an empty append must touch it
          if (file.bytesWritten === 0) {
            const now = new Date();
            await utimes(data, now, now);
          }
          return offset + file.bytesWritten;
        });
      },
      async open(id) {
        if (!SAFE_ID.test(id)) return undefined;
        try {
          const handle = await open(join(uploadDir(id), 'data'), 'r');
          return createReadStream('', { fd: handle, highWaterMark: READ_CHUNK });
        } catch (err) {
          if (isMissing(err)) return undefined;
          throw err;
        }
      },
      commit(id, digest, size) {
        if (!SAFE_ID.test(id)) return Promise.resolve(undefined);
        return serialised(id, async () => {
          const dir = uploadDir(id);
          const data = join(dir, 'data');
          try {
            const handle = await open(data, 'r');
            try {
              if ((await handle.stat()).size !== size) return undefined;
              if (fsync) await handle.datasync();
            } finally {
              await handle.close();
            }
          } catch (err) {
            if (isMissing(err)) return undefined;
            throw err;
          }
          const target = blobPath(digest);
          await mkdir(resolve(target, '..'), { recursive: true });
          // same content either way, so replacing a blob another client just committed is harmless
          await rename(data, target);
          await rm(dir, { recursive: true, force: true });
          return { digest, size };
        });
      },
      delete(id) {
        if (!SAFE_ID.test(id)) return Promise.resolve(false);
        return serialised(id, async () => {
          const dir = uploadDir(id);
          const existed = await stat(dir).then(
            () => true,
            () => false,
          );
          await rm(dir, { recursive: true, force: true });
          return existed;
        });
      },
      async sweep(cutoff) {
        let removed = 0;
        for (const id of await readdir(inside('uploads')).catch(() => [])) {
          if (!SAFE_ID.test(id) || locks.has(id)) continue;
          const info = await uploadInfo(id);
          const idle = info ? info.updatedAt < cutoff : await olderThan(uploadDir(id), cutoff);
          if (idle) {
            await rm(uploadDir(id), { recursive: true, force: true });
            removed++;
          }
        }
        // staging files are only ever seconds old; anything idle longer was left by a crash
        for (const name of await readdir(inside('tmp')).catch(() => [])) {
          if (await olderThan(inside('tmp', name), cutoff)) await rm(inside('tmp', name), { force: true });
        }
        return removed;
      },
    },

    manifests: {
      get: readManifest,
      async put(repository, manifest) {
        const { body, digest, size: _size, ...header } = manifest;
        const headerLine = Buffer.from(JSON.stringify(header) + '\n');
        await writeAtomic(manifestPath(repository, digest), Buffer.concat([headerLine, body]));
        if (manifest.subject) await touch(referrerPath(repository, manifest.subject, digest));
      },
      async delete(repository, digest) {
        const manifest = await readManifest(repository, digest);
        if (!manifest) return false;
        const removed = await removeIfExists(manifestPath(repository, digest));
        if (manifest.subject) await removeIfExists(referrerPath(repository, manifest.subject, digest));
        return removed;
      },
      async referrers(repository, subject) {
        const dir = repoDir(repository, '_referrers', ...digestParts(subject));
        const result: Descriptor[] = [];
        for (const name of await readdir(dir).catch(() => [])) {
          const dash = name.indexOf('-');
          const manifest = await readManifest(repository, `${name.slice(0, dash)}:${name.slice(dash + 1)}`);
          if (manifest) result.push(descriptorOf(manifest));
        }
        return result;
      },
      async repositories(page) {
        const names: string[] = [];
        await walkRepositories(inside('repositories'), '', names);
        return paginate(names.sort(byteOrder), page);
      },
    },

    tags: {
      async get(repository, tag) {
        const file = await readIfExists(tagPath(repository, tag));
        return file && (file.toString('utf8') as Digest);
      },
      async put(repository, tag, digest) {
        digestParts(digest);
        await writeAtomic(tagPath(repository, tag), digest);
      },
      async delete(repository, tag, expected) {
        const path = tagPath(repository, tag);
        if (expected !== undefined) {
          const current = await readIfExists(path);
          if (!current || current.toString('utf8') !== expected) return false;
        }
        return removeIfExists(path);
      },
      async list(repository, page) {
        const dir = repoDir(repository);
        // a directory may exist only as the parent of another repository: known means something was pushed here
        const known = await Promise.all(['_tags', '_manifests', '_layers'].map((d) => exists(join(dir, d))));
        if (!known.includes(true)) return undefined;
        const tags = await readdir(join(dir, '_tags')).catch(() => []);
        return paginate(tags.sort(byteOrder), page);
      },
      async find(repository, digest) {
        const dir = repoDir(repository, '_tags');
        const found: string[] = [];
        for (const tag of await readdir(dir).catch(() => [])) {
          const file = await readIfExists(join(dir, tag));
          if (file?.toString('utf8') === digest) found.push(tag);
        }
        return found;
      },
    },

    links: {
      async has(repository, digest) {
        return exists(repoDir(repository, '_layers', ...digestParts(digest)));
      },
      async add(repository, digest) {
        await touch(repoDir(repository, '_layers', ...digestParts(digest)));
        await touch(inside('links', ...digestParts(digest), encodeURIComponent(repository)));
      },
      async delete(repository, digest) {
        await removeIfExists(inside('links', ...digestParts(digest), encodeURIComponent(repository)));
        return removeIfExists(repoDir(repository, '_layers', ...digestParts(digest)));
      },
      async repositories(digest) {
        const names = await readdir(inside('links', ...digestParts(digest))).catch(() => []);
        return names.map(decodeURIComponent).filter(isRepositoryName);
      },
    },
  };
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

async function removeIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function olderThan(path: string, cutoff: Date): Promise<boolean> {
  return stat(path).then(
    (s) => s.mtime < cutoff,
    () => false,
  );
}
