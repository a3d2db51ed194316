import { eachLimited } from '../../concurrency.js';
import type { Digest } from '../../digest.js';
import { descriptorOf } from '../descriptor.js';
import { byteOrder, paginate } from '../page.js';
import type { Descriptor, Manifest, ManifestInfo, ManifestStore } from '../types.js';
import { type RecordCache, keys } from './cache.js';
import type { Catalog } from './catalog.js';
import { type Files, entries, exists, readIfExists, removeIfExists } from './files.js';
import { type Layout, digestFrom, digestFromEntry } from './layout.js';

type Header = Omit<Manifest, 'body' | 'digest' | 'size' | 'createdAt'> & { createdAt?: string };

/** Referrer entries read at once. */
const REFERRER_BATCH = 32;
/** Index entries of one manifest written at once. */
const MARKS_IN_FLIGHT = 16;

/**
 * A manifest file that cannot be parsed (torn by a crash on a file system without ordered
 * writes, or damaged by hand). Reads fail with it; deletes and re-pushes replace the file.
 */
export class CorruptRecord extends Error {
  override readonly name = 'CorruptRecord';
}

/**
 * Manifests in `repositories/<name>/_manifests/<alg>/<hex>`: one JSON header line (media type,
 * subject, references, …) followed by the exact bytes pushed. Index entries are written before the
 * manifest and removed after it, so they may name a manifest a crash left unwritten, never miss one:
 * a referrer's descriptor in `_referrers/<subject>/` (so the referrers API reads small files) and an
 * empty `_dependents/<reference>/<manifest>` per config, layer or child.
 *
 * Manifests and referrer lists that were read stay in the root's record cache (a pull by tag or
 * digest then reads no file); every write below drops what it changed, after the change is on disk.
 */
export function fsManifests(layout: Layout, files: Files, catalog: Catalog, cache: RecordCache): ManifestStore {
  function parse(path: string, digest: Digest, header: Buffer, size: number): Omit<Manifest, 'body'> {
    let parsed: Header;
    try {
      parsed = JSON.parse(header.toString('utf8')) as Header;
      if (typeof parsed.mediaType !== 'string' || !Array.isArray(parsed.references)) throw new Error('incomplete header');
    } catch (err) {
      throw new CorruptRecord(`fsStorage: the manifest record ${path} is damaged (${(err as Error).message}); delete or push the manifest again`);
    }
    const { createdAt, ...rest } = parsed;
    // records written before creation times were kept count as old
    return { ...rest, digest, size, createdAt: new Date(createdAt ?? 0) };
  }

  async function readDisk(path: string, digest: Digest): Promise<Manifest | undefined> {
    const file = await readIfExists(path);
    if (!file) return undefined;
    const newline = file.indexOf(10);
    if (newline < 0) throw new CorruptRecord(`fsStorage: the manifest record ${path} is damaged (no header); delete or push the manifest again`);
    const body = file.subarray(newline + 1);
    return { ...parse(path, digest, file.subarray(0, newline), body.length), body };
  }

  async function read(name: string, digest: Digest): Promise<Manifest | undefined> {
    // the path (which validates name and digest) only on a miss: only validated keys are ever cached
    const manifest = await cache.get(keys.manifest(name, digest), () => readDisk(layout.manifest(name, digest), digest), (m) => m.body.length + m.references.length * 80 + 512);
    // a copy: callers may spread or trim it, the cached record stays whole
    return manifest && { ...manifest };
  }

  /** The record without its bytes (a whole read: manifests are small, and the next pull wants the bytes anyway). */
  async function stat(name: string, digest: Digest): Promise<ManifestInfo | undefined> {
    const manifest = await read(name, digest);
    return manifest && info(manifest);
  }

  function info(m: Omit<Manifest, 'body'> | Manifest): ManifestInfo {
    const { annotations: _annotations, references: _references, ...rest } = m;
    if ('body' in rest) {
      const { body: _body, ...without } = rest;
      return without;
    }
    return rest;
  }

  /** Whether a record is there and readable: a damaged one may be replaced. */
  async function state(name: string, digest: Digest): Promise<'missing' | 'corrupt' | 'present'> {
    try {
      return (await stat(name, digest)) ? 'present' : 'missing';
    } catch (err) {
      if (err instanceof CorruptRecord) return 'corrupt';
      throw err;
    }
  }

  return {
    get: read,
    stat,

    async put(name, manifest) {
      const { body, digest, size: _size, ...rest } = manifest;
      const before = await state(name, digest);
      if (before === 'present') return false;
      await eachLimited([...new Set(manifest.references)], MARKS_IN_FLIGHT, async (reference) => {
        await files.mark(layout.dependent(name, reference, digest));
        return true;
      });
      if (manifest.subject) {
        await files.writeAtomic(layout.referrer(name, manifest.subject, digest), JSON.stringify(descriptorOf({ ...manifest, createdAt: new Date() })));
        cache.drop(keys.referrers(name, manifest.subject));
      }
      const header: Header = { ...rest, createdAt: new Date().toISOString() };
      const record = Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), body]);
      let created: boolean;
      if (before === 'corrupt') {
        await files.writeAtomic(layout.manifest(name, digest), record);
        created = true;
      } else {
        // of two concurrent pushes of one manifest exactly one is new
        created = await files.create(layout.manifest(name, digest), record);
      }
      cache.drop(keys.manifest(name, digest));
      // the referrer entry was written before the manifest: a list read in between lacks it
      if (manifest.subject) cache.drop(keys.referrers(name, manifest.subject));
      await catalog.add(name);
      return created;
    },

    async delete(name, digest) {
      let manifest: Manifest | undefined;
      try {
        manifest = await read(name, digest);
        if (!manifest) return undefined;
      } catch (err) {
        if (!(err instanceof CorruptRecord)) throw err;
      }
      const removed = await removeIfExists(layout.manifest(name, digest));
      cache.drop(keys.manifest(name, digest));
      if (!removed) return undefined;
      if (!manifest) return { digest, mediaType: 'application/octet-stream', size: 0, createdAt: new Date(0) };
      if (manifest.subject) {
        await removeIfExists(layout.referrer(name, manifest.subject, digest));
        cache.drop(keys.referrers(name, manifest.subject));
      }
      await eachLimited([...new Set(manifest.references)], MARKS_IN_FLIGHT, async (reference) => {
        await removeIfExists(layout.dependent(name, reference, digest));
        return true;
      });
      return info(manifest);
    },

    async referrers(name, subject, query) {
      const dir = layout.referrers(name, subject);
      // every referrer of the subject, in digest order, read once and then kept (lists are small: descriptors only)
      const all = await cache.get(
        keys.referrers(name, subject),
        async () => {
          const digests: Digest[] = [];
          for (const entry of await entries(dir)) {
            const digest = digestFromEntry(entry);
            if (digest !== undefined) digests.push(digest);
          }
          digests.sort(byteOrder);
          const found: Descriptor[] = [];
          for (let start = 0; start < digests.length; start += REFERRER_BATCH) {
            const batch = await Promise.all(
              digests.slice(start, start + REFERRER_BATCH).map(async (digest) => {
                const file = await readIfExists(layout.referrer(name, subject, digest));
                if (!file) return undefined;
                // an entry whose manifest a crash left unwritten is not a referrer
                return (await exists(layout.manifest(name, digest))) ? (JSON.parse(file.toString('utf8')) as Descriptor) : undefined;
              }),
            );
            for (const descriptor of batch) if (descriptor) found.push(descriptor);
          }
          return found;
        },
        (list) => list.length * 400 + 64,
      );
      const list = all ?? [];
      const last = query.last;
      let at = 0;
      if (last !== undefined) {
        // the first referrer strictly after `last`
        let hi = list.length;
        while (at < hi) {
          const mid = (at + hi) >>> 1;
          if ((list[mid] as Descriptor).digest <= last) at = mid + 1;
          else hi = mid;
        }
      }
      const wanted = query.n ?? Infinity;
      const result: Descriptor[] = [];
      for (; at < list.length && result.length < wanted; at++) {
        const descriptor = list[at] as Descriptor;
        if (query.artifactType === undefined || descriptor.artifactType === query.artifactType) result.push({ ...descriptor });
      }
      return result;
    },

    async list(name, page) {
      return paginate(await digestsUnder(layout, layout.repository(name, '_manifests')), page);
    },

    async dependents(name, digest, page) {
      const found: Digest[] = [];
      for (const entry of await entries(layout.dependents(name, digest))) {
        const dependent = digestFromEntry(entry);
        if (dependent !== undefined) found.push(dependent);
      }
      return paginate(found.sort(byteOrder), page);
    },
  };
}

/** The digests named by `<dir>/<alg>/<hex>` files, in byte order. */
export async function digestsUnder(layout: Layout, dir: string): Promise<Digest[]> {
  const digests: Digest[] = [];
  for (const alg of await entries(dir)) {
    for (const hex of await entries(layout.inside(dir, alg))) {
      const digest = digestFrom(alg, hex);
      if (digest !== undefined) digests.push(digest);
    }
  }
  return digests.sort(byteOrder);
}
