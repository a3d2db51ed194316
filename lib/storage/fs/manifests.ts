import { open } from 'node:fs/promises';
import type { Digest } from '../../digest.js';
import { descriptorOf } from '../descriptor.js';
import { byteOrder, paginate } from '../page.js';
import type { Descriptor, Manifest, ManifestInfo, ManifestStore } from '../types.js';
import type { Catalog } from './catalog.js';
import { type Files, entries, exists, isMissing, readIfExists, removeIfExists } from './files.js';
import { type Layout, digestFrom } from './layout.js';

type Header = Omit<Manifest, 'body' | 'digest' | 'size' | 'createdAt'> & { createdAt?: string };

/** The header line is read in pieces of this size by `stat`, which never needs the manifest's bytes. */
const HEADER_READ = 16 * 1024;

/**
 * Manifests in `repositories/<name>/_manifests/<alg>/<hex>`: one JSON header line (media type,
 * subject, references, …) followed by the exact bytes pushed. A referrer also leaves its descriptor
 * in `_referrers/<subject>/`, so the referrers API reads small files, not manifests.
 */
export function fsManifests(layout: Layout, files: Files, catalog: Catalog): ManifestStore {
  function parse(digest: Digest, header: Buffer, size: number): Omit<Manifest, 'body'> {
    const { createdAt, ...rest } = JSON.parse(header.toString('utf8')) as Header;
    // records written before creation times were kept count as old
    return { ...rest, digest, size, createdAt: new Date(createdAt ?? 0) };
  }

  async function read(name: string, digest: Digest): Promise<Manifest | undefined> {
    const file = await readIfExists(layout.manifest(name, digest));
    if (!file) return undefined;
    const newline = file.indexOf(10);
    const body = file.subarray(newline + 1);
    return { ...parse(digest, file.subarray(0, newline), body.length), body };
  }

  function info(m: ManifestInfo & Partial<Manifest>): ManifestInfo {
    const { body: _body, annotations: _annotations, references: _references, ...rest } = m;
    return rest;
  }

  return {
    get: read,

    async stat(name, digest) {
      let handle;
      try {
        handle = await open(layout.manifest(name, digest), 'r');
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
      try {
        const { size } = await handle.stat();
        const chunks: Buffer[] = [];
        let read = 0;
        for (;;) {
          const { bytesRead, buffer } = await handle.read(Buffer.alloc(HEADER_READ), 0, HEADER_READ, read);
          const piece = buffer.subarray(0, bytesRead);
          const newline = piece.indexOf(10);
          if (newline >= 0 || bytesRead === 0) {
            chunks.push(newline >= 0 ? piece.subarray(0, newline) : piece);
            const header = Buffer.concat(chunks);
            return info(parse(digest, header, size - header.length - 1));
          }
          chunks.push(piece);
          read += bytesRead;
        }
      } finally {
        await handle.close();
      }
    },

    async put(name, manifest) {
      const { body, digest, size: _size, ...rest } = manifest;
      const header: Header = { ...rest, createdAt: new Date().toISOString() };
      const path = layout.manifest(name, digest);
      if (await exists(path)) return false;
      // of two concurrent pushes of one manifest exactly one is new
      const created = await files.create(path, Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), body]));
      if (manifest.subject) {
        await files.writeAtomic(layout.referrer(name, manifest.subject, digest), JSON.stringify(descriptorOf({ ...manifest, createdAt: new Date() })));
      }
      await catalog.add(name);
      return created;
    },

    async delete(name, digest) {
      const manifest = await read(name, digest);
      if (!manifest) return undefined;
      if (!(await removeIfExists(layout.manifest(name, digest)))) return undefined;
      if (manifest.subject) await removeIfExists(layout.referrer(name, manifest.subject, digest));
      return info(manifest);
    },

    async referrers(name, subject, query) {
      const dir = layout.referrers(name, subject);
      const digests: Digest[] = [];
      for (const entry of await entries(dir)) {
        const dash = entry.indexOf('-');
        const digest = digestFrom(entry.slice(0, dash), entry.slice(dash + 1));
        if (digest !== undefined) digests.push(digest);
      }
      const result: Descriptor[] = [];
      for (const digest of paginate(digests.sort(byteOrder), { ...(query.last !== undefined && { last: query.last }) })) {
        if (query.n !== undefined && result.length >= query.n) break;
        const file = await readIfExists(layout.referrer(name, subject, digest));
        if (!file) continue;
        const descriptor = JSON.parse(file.toString('utf8')) as Descriptor;
        if (query.artifactType === undefined || descriptor.artifactType === query.artifactType) result.push(descriptor);
      }
      return result;
    },

    async list(name, page) {
      return paginate(await digestsUnder(layout, layout.repository(name, '_manifests')), page);
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
