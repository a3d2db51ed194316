import { open } from 'node:fs/promises';
import { eachLimited } from '../../concurrency.js';
import type { Digest } from '../../digest.js';
import { descriptorOf } from '../descriptor.js';
import { byteOrder, paginate } from '../page.js';
import type { Descriptor, Manifest, ManifestInfo, ManifestStore } from '../types.js';
import type { Catalog } from './catalog.js';
import { type Files, entries, exists, isMissing, readIfExists, removeIfExists } from './files.js';
import { type Layout, digestFrom, digestFromEntry } from './layout.js';

type Header = Omit<Manifest, 'body' | 'digest' | 'size' | 'createdAt'> & { createdAt?: string };

/** The header line is read in pieces of this size by `stat`, which never needs the manifest's bytes. */
const HEADER_READ = 16 * 1024;
/** Referrer entries read at once while filling a page. */
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
 */
export function fsManifests(layout: Layout, files: Files, catalog: Catalog): ManifestStore {
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

  async function read(name: string, digest: Digest): Promise<Manifest | undefined> {
    const path = layout.manifest(name, digest);
    const file = await readIfExists(path);
    if (!file) return undefined;
    const newline = file.indexOf(10);
    if (newline < 0) throw new CorruptRecord(`fsStorage: the manifest record ${path} is damaged (no header); delete or push the manifest again`);
    const body = file.subarray(newline + 1);
    return { ...parse(path, digest, file.subarray(0, newline), body.length), body };
  }

  async function stat(name: string, digest: Digest): Promise<ManifestInfo | undefined> {
    const path = layout.manifest(name, digest);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const { size } = await handle.stat();
      const chunks: Buffer[] = [];
      let offset = 0;
      for (;;) {
        const { bytesRead, buffer } = await handle.read(Buffer.alloc(HEADER_READ), 0, HEADER_READ, offset);
        const piece = buffer.subarray(0, bytesRead);
        const newline = piece.indexOf(10);
        if (newline >= 0) {
          chunks.push(piece.subarray(0, newline));
          const header = Buffer.concat(chunks);
          return info(parse(path, digest, header, size - header.length - 1));
        }
        if (bytesRead === 0) throw new CorruptRecord(`fsStorage: the manifest record ${path} is damaged (no header); delete or push the manifest again`);
        chunks.push(piece);
        offset += bytesRead;
      }
    } finally {
      await handle.close();
    }
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
      if (!(await removeIfExists(layout.manifest(name, digest)))) return undefined;
      if (!manifest) return { digest, mediaType: 'application/octet-stream', size: 0, createdAt: new Date(0) };
      if (manifest.subject) await removeIfExists(layout.referrer(name, manifest.subject, digest));
      await eachLimited([...new Set(manifest.references)], MARKS_IN_FLIGHT, async (reference) => {
        await removeIfExists(layout.dependent(name, reference, digest));
        return true;
      });
      return info(manifest);
    },

    async referrers(name, subject, query) {
      const digests: Digest[] = [];
      for (const entry of await entries(layout.referrers(name, subject))) {
        const digest = digestFromEntry(entry);
        if (digest !== undefined) digests.push(digest);
      }
      const result: Descriptor[] = [];
      const candidates = paginate(digests.sort(byteOrder), { ...(query.last !== undefined && { last: query.last }) });
      const wanted = query.n ?? Infinity;
      // read a batch of entries at once, in order, until the page is full
      for (let start = 0; start < candidates.length && result.length < wanted; start += REFERRER_BATCH) {
        const batch = await Promise.all(
          candidates.slice(start, start + REFERRER_BATCH).map(async (digest) => {
            const file = await readIfExists(layout.referrer(name, subject, digest));
            if (!file) return undefined;
            const descriptor = JSON.parse(file.toString('utf8')) as Descriptor;
            if (query.artifactType !== undefined && descriptor.artifactType !== query.artifactType) return undefined;
            // an entry whose manifest a crash left unwritten is not a referrer
            return (await exists(layout.manifest(name, digest))) ? descriptor : undefined;
          }),
        );
        for (const descriptor of batch) if (descriptor && result.length < wanted) result.push(descriptor);
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
