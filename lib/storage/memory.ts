import { randomUUID } from 'node:crypto';
import { Readable, addAbortSignal } from 'node:stream';
import type { Digest } from '../digest.js';
import { descriptorOf } from './descriptor.js';
import { byteOrder, paginate } from './page.js';
import type { BlobInfo, ByteRange, Descriptor, Manifest, ManifestInfo, Storage, UploadInfo } from './types.js';

interface Blob {
  chunks: Buffer[];
  size: number;
  createdAt: Date;
}

interface Upload {
  repository: string;
  chunks: Buffer[];
  size: number;
  updatedAt: Date;
  hashState?: Uint8Array;
}

interface Tag {
  digest: Digest;
  updatedAt: Date;
  pulledAt?: Date;
}

interface Repository {
  manifests: Map<Digest, Manifest>;
  tags: Map<string, Tag>;
  /** digest → when it was linked */
  links: Map<Digest, Date>;
  /** subject digest → referrer digests */
  referrers: Map<Digest, Set<Digest>>;
  /** referenced digest → manifests referencing it */
  dependents: Map<Digest, Set<Digest>>;
  usage: { bytes: number; version: number };
}

/**
 * Everything in process memory: for tests, and for embedding a registry in a host app's tests.
 * Data is lost when the process exits. Blobs are kept as the list of chunks they arrived in, so
 * committing an upload copies nothing.
 */
export function memoryStorage(): Storage {
  const blobs = new Map<Digest, Blob>();
  const uploads = new Map<string, Upload>();
  const repositories = new Map<string, Repository>();
  const leases = new Map<string, { holder: string; expires: number }>();

  function repo(name: string): Repository {
    let r = repositories.get(name);
    if (!r) {
      r = { manifests: new Map(), tags: new Map(), links: new Map(), referrers: new Map(), dependents: new Map(), usage: { bytes: 0, version: 0 } };
      repositories.set(name, r);
    }
    return r;
  }

  function keep(digest: Digest, chunks: Buffer[], size: number): BlobInfo {
    let blob = blobs.get(digest);
    if (!blob) blobs.set(digest, (blob = { chunks, size, createdAt: new Date() }));
    // stored again: young again, so a collector racing the link that follows keeps it
    else blob.createdAt = new Date();
    return { digest, size: blob.size, createdAt: blob.createdAt };
  }

  async function collect(body: Readable, signal: AbortSignal | undefined): Promise<{ chunks: Buffer[]; size: number }> {
    const chunks: Buffer[] = [];
    let size = 0;
    if (signal) addAbortSignal(signal, body);
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
    }
    return { chunks, size };
  }

  const sorted = <T extends string>(names: Iterable<T>): T[] => [...names].sort(byteOrder);

  const blobStore: Storage['blobs'] = {
    async stat(digest) {
      const blob = blobs.get(digest);
      return blob && { digest, size: blob.size, createdAt: blob.createdAt };
    },
    async open(digest, options = {}) {
      const blob = blobs.get(digest);
      if (!blob) return undefined;
      return Readable.from(options.range ? slice(blob.chunks, options.range) : blob.chunks, { objectMode: false });
    },
    async put(digest, body, options = {}) {
      const { chunks, size } = await collect(body, options.signal);
      return keep(digest, chunks, size);
    },
    async delete(digest) {
      return blobs.delete(digest);
    },
    async list(page) {
      return paginate(sorted(blobs.keys()), page);
    },
  };

  return {
    blobs: blobStore,

    uploads: {
      promotesInto: blobStore,
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
      async append(id, offset, body, options = {}) {
        const upload = uploads.get(id);
        if (!upload || upload.size !== offset) {
          body.resume();
          return undefined;
        }
        const received = await collect(body, options.signal);
        // re-check: another request may have appended while this body was arriving
        if (uploads.get(id) !== upload || upload.size !== offset) return undefined;
        upload.chunks.push(...received.chunks);
        upload.size += received.size;
        upload.updatedAt = new Date();
        const state = options.hashState?.();
        if (state) upload.hashState = state;
        else delete upload.hashState;
        return upload.size;
      },
      async open(id) {
        const upload = uploads.get(id);
        return upload && Readable.from(upload.chunks, { objectMode: false });
      },
      async commit(id, digest, size) {
        const upload = uploads.get(id);
        if (!upload || upload.size !== size) return undefined;
        uploads.delete(id);
        return keep(digest, upload.chunks, size);
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
      async stat(repository, digest) {
        const m = repositories.get(repository)?.manifests.get(digest);
        return m && infoOf(m);
      },
      async put(repository, manifest) {
        const r = repo(repository);
        if (r.manifests.has(manifest.digest)) return false;
        r.manifests.set(manifest.digest, { ...manifest, createdAt: new Date() });
        if (manifest.subject) index(r.referrers, manifest.subject).add(manifest.digest);
        for (const reference of manifest.references) index(r.dependents, reference).add(manifest.digest);
        return true;
      },
      async delete(repository, digest) {
        const r = repositories.get(repository);
        const manifest = r?.manifests.get(digest);
        if (!r || !manifest) return undefined;
        r.manifests.delete(digest);
        if (manifest.subject) r.referrers.get(manifest.subject)?.delete(digest);
        for (const reference of manifest.references) r.dependents.get(reference)?.delete(digest);
        return infoOf(manifest);
      },
      async referrers(repository, subject, query) {
        const r = repositories.get(repository);
        const digests = paginate(sorted(r?.referrers.get(subject) ?? []), { ...(query.last !== undefined && { last: query.last }) });
        const result: Descriptor[] = [];
        for (const digest of digests) {
          const m = r?.manifests.get(digest);
          if (!m || (query.artifactType !== undefined && m.artifactType !== query.artifactType)) continue;
          if (query.n !== undefined && result.length >= query.n) break;
          result.push(descriptorOf(m));
        }
        return result;
      },
      async list(repository, page) {
        return paginate(sorted(repositories.get(repository)?.manifests.keys() ?? []), page);
      },
      async dependents(repository, digest, page) {
        return paginate(sorted(repositories.get(repository)?.dependents.get(digest) ?? []), page);
      },
    },

    tags: {
      async get(repository, tag) {
        return repositories.get(repository)?.tags.get(tag)?.digest;
      },
      async stat(repository, tag) {
        const t = repositories.get(repository)?.tags.get(tag);
        return t && { ...t };
      },
      async pulled(repository, tag, at) {
        const t = repositories.get(repository)?.tags.get(tag);
        if (t) t.pulledAt = at;
      },
      async put(repository, tag, digest) {
        const tags = repo(repository).tags;
        const previous = tags.get(tag)?.digest;
        tags.set(tag, { digest, updatedAt: new Date() });
        return previous;
      },
      async delete(repository, tag, expected) {
        const tags = repositories.get(repository)?.tags;
        const current = tags?.get(tag)?.digest;
        if (current === undefined || (expected !== undefined && current !== expected)) return undefined;
        tags?.delete(tag);
        return current;
      },
      async list(repository, page) {
        return paginate(sorted(repositories.get(repository)?.tags.keys() ?? []), page);
      },
      async find(repository, digest) {
        const tags = repositories.get(repository)?.tags ?? new Map<string, Tag>();
        return [...tags].filter(([, t]) => t.digest === digest).map(([tag]) => tag);
      },
    },

    links: {
      async has(repository, digest) {
        return repositories.get(repository)?.links.has(digest) ?? false;
      },
      async stat(repository, digest) {
        const createdAt = repositories.get(repository)?.links.get(digest);
        return createdAt && { createdAt };
      },
      async add(repository, digest) {
        const links = repo(repository).links;
        if (links.has(digest)) return false;
        links.set(digest, new Date());
        return true;
      },
      async delete(repository, digest) {
        return repositories.get(repository)?.links.delete(digest) ?? false;
      },
      async repositories(digest, page) {
        const names = [...repositories].filter(([, r]) => r.links.has(digest)).map(([name]) => name);
        return paginate(names.sort(byteOrder), page);
      },
      async list(repository, page) {
        return paginate(sorted(repositories.get(repository)?.links.keys() ?? []), page);
      },
    },

    leases: {
      async acquire(name, holder, ttl) {
        const now = Date.now();
        const lease = leases.get(name);
        if (lease && lease.holder !== holder && lease.expires > now) return false;
        leases.set(name, { holder, expires: now + ttl });
        return true;
      },
      async release(name, holder) {
        if (leases.get(name)?.holder === holder) leases.delete(name);
      },
    },

    repositories: {
      async has(name) {
        return repositories.has(name);
      },
      async list(page) {
        return paginate(sorted(repositories.keys()), page);
      },
      async delete(name) {
        return repositories.delete(name);
      },
      async usage(name) {
        const usage = repositories.get(name)?.usage;
        return usage && { ...usage };
      },
      async addUsage(name, delta) {
        const usage = repositories.get(name)?.usage;
        if (!usage) return undefined;
        usage.bytes += delta;
        usage.version++;
        return { ...usage };
      },
      async setUsage(name, bytes, version) {
        const usage = repositories.get(name)?.usage;
        if (!usage || usage.version !== version) return false;
        usage.bytes = bytes;
        usage.version++;
        return true;
      },
    },
  };
}

/** The set under `key`, created when missing. */
function index(map: Map<Digest, Set<Digest>>, key: Digest): Set<Digest> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

function info(id: string, upload: Upload): UploadInfo {
  return {
    id,
    repository: upload.repository,
    size: upload.size,
    updatedAt: upload.updatedAt,
    ...(upload.hashState && { hashState: upload.hashState }),
  };
}

function infoOf(m: Manifest): ManifestInfo {
  const { body: _body, annotations: _annotations, references: _references, ...rest } = m;
  return rest;
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
