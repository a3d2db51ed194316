import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Digest } from '../digest.js';
import { descriptorOf } from './descriptor.js';
import { byteOrder, paginate } from './page.js';
import type { BlobInfo, ByteRange, Descriptor, Manifest, Storage } from './types.js';

interface Upload {
  repository: string;
  chunks: Buffer[];
  size: number;
  updatedAt: Date;
}

interface Repository {
  manifests: Map<Digest, Manifest>;
  tags: Map<string, Digest>;
  links: Set<Digest>;
  /** subject digest → referrer digests */
  referrers: Map<Digest, Set<Digest>>;
}

/**
 * Everything in process memory: for tests, and for embedding a registry in a host app's tests.
 * Data is lost when the process exits. Blobs are kept as the list of chunks they arrived in, so
 * committing an upload copies nothing.
 */
export function memoryStorage(): Storage {
  const blobs = new Map<Digest, Buffer[]>();
  const uploads = new Map<string, Upload>();
  const repositories = new Map<string, Repository>();

  function repo(name: string): Repository {
    let r = repositories.get(name);
    if (!r) {
      r = { manifests: new Map(), tags: new Map(), links: new Set(), referrers: new Map() };
      repositories.set(name, r);
    }
    return r;
  }

  const sizeOf = (chunks: Buffer[]): number => chunks.reduce((n, c) => n + c.length, 0);

  return {
    blobs: {
      async stat(digest) {
        const chunks = blobs.get(digest);
        return chunks && { digest, size: sizeOf(chunks) };
      },
      async open(digest, range?: ByteRange) {
        const chunks = blobs.get(digest);
        if (!chunks) return undefined;
        return Readable.from(range ? slice(chunks, range) : chunks, { objectMode: false });
      },
      async delete(digest) {
        return blobs.delete(digest);
      },
    },

    uploads: {
      async create(repository) {
        const id = randomUUID();
        const upload: Upload = { repository, chunks: [], size: 0, updatedAt: new Date() };
        uploads.set(id, upload);
        return info(id, upload);
      },
      async get(id) {
        const upload = uploads.get(id);
        return upload && info(id, upload);
      },
      async append(id, offset, body) {
        const upload = uploads.get(id);
        if (!upload || upload.size !== offset) {
          body.resume();
          return undefined;
        }
        const received: Buffer[] = [];
        let size = 0;
        for await (const chunk of body as AsyncIterable<Buffer>) {
          received.push(chunk);
          size += chunk.length;
        }
        // re-check: another request may have appended while this body was arriving
        if (uploads.get(id) !== upload || upload.size !== offset) return undefined;
        upload.chunks.push(...received);
        upload.size += size;
        upload.updatedAt = new Date();
        return upload.size;
      },
      async open(id) {
        const upload = uploads.get(id);
        return upload && Readable.from(upload.chunks, { objectMode: false });
      },
      async commit(id, digest, size): Promise<BlobInfo | undefined> {
        const upload = uploads.get(id);
        if (!upload || upload.size !== size) return undefined;
        uploads.delete(id);
        if (!blobs.has(digest)) blobs.set(digest, upload.chunks);
        return { digest, size: sizeOf(blobs.get(digest) ?? []) };
      },
      async delete(id) {
        return uploads.delete(id);
      },
      async sweep(cutoff) {
        let removed = 0;
        for (const [id, upload] of uploads) {
          if (upload.updatedAt < cutoff) {
            uploads.delete(id);
            removed++;
          }
        }
        return removed;
      },
    },

    manifests: {
      async get(repository, digest) {
        return repositories.get(repository)?.manifests.get(digest);
      },
      async put(repository, manifest) {
        const r = repo(repository);
        r.manifests.set(manifest.digest, manifest);
        if (manifest.subject) {
          let set = r.referrers.get(manifest.subject);
          if (!set) r.referrers.set(manifest.subject, (set = new Set()));
          set.add(manifest.digest);
        }
      },
      async delete(repository, digest) {
        const r = repositories.get(repository);
        const manifest = r?.manifests.get(digest);
        if (!r || !manifest) return false;
        r.manifests.delete(digest);
        if (manifest.subject) r.referrers.get(manifest.subject)?.delete(digest);
        return true;
      },
      async referrers(repository, subject) {
        const r = repositories.get(repository);
        const result: Descriptor[] = [];
        for (const digest of r?.referrers.get(subject) ?? []) {
          const m = r?.manifests.get(digest);
          if (m) result.push(descriptorOf(m));
        }
        return result;
      },
      async repositories(page) {
        const names = [...repositories].filter(([, r]) => r.manifests.size > 0).map(([name]) => name);
        return paginate(names.sort(byteOrder), page);
      },
    },

    tags: {
      async get(repository, tag) {
        return repositories.get(repository)?.tags.get(tag);
      },
      async put(repository, tag, digest) {
        repo(repository).tags.set(tag, digest);
      },
      async delete(repository, tag, expected) {
        const tags = repositories.get(repository)?.tags;
        if (!tags?.has(tag) || (expected !== undefined && tags.get(tag) !== expected)) return false;
        return tags.delete(tag);
      },
      async list(repository, page) {
        const r = repositories.get(repository);
        return r && paginate([...r.tags.keys()].sort(byteOrder), page);
      },
      async find(repository, digest) {
        const tags = repositories.get(repository)?.tags ?? new Map<string, Digest>();
        return [...tags].filter(([, d]) => d === digest).map(([tag]) => tag);
      },
    },

    links: {
      async has(repository, digest) {
        return repositories.get(repository)?.links.has(digest) ?? false;
      },
      async add(repository, digest) {
        repo(repository).links.add(digest);
      },
      async delete(repository, digest) {
        return repositories.get(repository)?.links.delete(digest) ?? false;
      },
      async repositories(digest) {
        return [...repositories].filter(([, r]) => r.links.has(digest)).map(([name]) => name);
      },
    },
  };
}

function info(id: string, upload: Upload) {
  return { id, repository: upload.repository, size: upload.size, updatedAt: upload.updatedAt };
}

/** The chunks covering `range`, cut at its edges without copying. */
function* slice(chunks: Buffer[], range: ByteRange): Generator<Buffer> {
  let offset = 0;
  for (const chunk of chunks) {
    const start = Math.max(range.start - offset, 0);
    const end = Math.min(range.end - offset, chunk.length);
    if (start < end) yield chunk.subarray(start, end);
    offset += chunk.length;
    if (offset >= range.end) return;
  }
}
