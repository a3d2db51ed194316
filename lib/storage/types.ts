import type { Readable } from 'node:stream';
import type { Digest } from '../digest.js';

/**
 * The persistence hooks. berth's core owns every policy (grammar, digest verification, limits, auth,
 * which repository may see which blob); a store only keeps bytes and records, and makes its writes atomic.
 *
 * Rules shared by every store:
 * - Every method is async. Absence is `undefined` (or `false` for deletes), never an exception.
 * - Inputs are already validated: names, tags and digests match the spec's grammar.
 * - Streams are Node `Readable`s; a store never buffers a whole blob or upload in memory
 *   (the memory store is the one exception, by definition).
 * - Stores compose by spread: `{ ...fsStorage({ root }), blobs: myBlobs }`.
 *
 * `test/storage/contract.ts` proves these rules; every store must pass it.
 */
export interface Storage {
  blobs: BlobStore;
  uploads: UploadStore;
  manifests: ManifestStore;
  tags: TagStore;
  links: LinkStore;
}

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** A byte range with `end` exclusive (like GridFS `end` and `Buffer#subarray`). */
export interface ByteRange {
  start: number;
  end: number;
}

/** OCI pagination: at most `n` entries, starting strictly after `last` in byte order. */
export interface Page {
  n?: number;
  last?: string;
}

/** Verified, content-addressed bytes shared by all repositories. Blobs are written only by {@link UploadStore.commit}. */
export interface BlobStore {
  stat(digest: Digest): Promise<BlobInfo | undefined>;
  /** A stream of the blob, or of `range` of it. `range` is within the blob (the core checks it against `stat`). */
  open(digest: Digest, range?: ByteRange): Promise<Readable | undefined>;
  delete(digest: Digest): Promise<boolean>;
}

export interface UploadInfo {
  id: string;
  repository: string;
  /** Bytes received so far. */
  size: number;
  /** Last activity; uploads idle for too long are swept. */
  updatedAt: Date;
}

/**
 * In-progress blob uploads. Session state lives in the store, not in the process, so any server
 * instance can serve any request of an upload.
 */
export interface UploadStore {
  create(repository: string): Promise<UploadInfo>;
  get(id: string): Promise<UploadInfo | undefined>;
  /**
   * Appends `body` when the upload holds exactly `offset` bytes (a compare-and-set: a stale or
   * concurrent request loses) and resolves to the new size. Resolves `undefined` when the upload is
   * unknown or its size is no longer `offset`. If `body` fails, the upload keeps its previous size and the
   * error is rethrown.
   */
  append(id: string, offset: number, body: Readable): Promise<number | undefined>;
  /** The bytes received so far, for re-hashing when the hash state is not at hand. */
  open(id: string): Promise<Readable | undefined>;
  /**
   * Turns the upload into blob `digest` atomically and forgets the upload, when it holds exactly `size`
   * bytes (the core verified the digest of those bytes; a later append must not slip in). If the blob
   * already exists the upload's bytes are dropped. `undefined` when the upload is unknown or its size differs.
   */
  commit(id: string, digest: Digest, size: number): Promise<BlobInfo | undefined>;
  delete(id: string): Promise<boolean>;
  /** Deletes uploads idle since before `cutoff`; resolves to how many were removed. */
  sweep(cutoff: Date): Promise<number>;
}

/** What the referrers API lists about a manifest (an OCI descriptor). */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** A manifest as pushed: the exact bytes plus what the core parsed out of them. */
export interface Manifest extends Descriptor {
  body: Buffer;
  /** The `subject` digest, indexed for the referrers API. */
  subject?: Digest;
  /** Blobs and child manifests the manifest points at (for garbage collection). */
  references: Digest[];
}

/** Manifests of each repository, addressed by digest, with a referrers index. */
export interface ManifestStore {
  get(repository: string, digest: Digest): Promise<Manifest | undefined>;
  /** Stores the manifest (idempotent) and indexes its `subject`. Also makes the repository known. */
  put(repository: string, manifest: Manifest): Promise<void>;
  /** Removes the manifest and its referrers entry. Tags are the core's business. */
  delete(repository: string, digest: Digest): Promise<boolean>;
  /** Manifests of `repository` whose subject is `subject`, in any order. */
  referrers(repository: string, subject: Digest): Promise<Descriptor[]>;
  /** Repositories holding at least one manifest, sorted in byte order. */
  repositories(page: Page): Promise<string[]>;
}

/** Tag → digest per repository. */
export interface TagStore {
  get(repository: string, tag: string): Promise<Digest | undefined>;
  /** Points `tag` at `digest`, replacing atomically whatever it pointed at. */
  put(repository: string, tag: string, digest: Digest): Promise<void>;
  /** Removes `tag`; when `expected` is given, only while it still points there. */
  delete(repository: string, tag: string, expected?: Digest): Promise<boolean>;
  /** Tags sorted in byte order; `undefined` when nothing was ever pushed to the repository. */
  list(repository: string, page: Page): Promise<string[] | undefined>;
  /** Tags pointing at `digest`. */
  find(repository: string, digest: Digest): Promise<string[]>;
}

/** Which repositories may see which blobs (distribution's "linked blob store"). */
export interface LinkStore {
  has(repository: string, digest: Digest): Promise<boolean>;
  /** Links the blob into the repository (idempotent). Also makes the repository known. */
  add(repository: string, digest: Digest): Promise<void>;
  delete(repository: string, digest: Digest): Promise<boolean>;
  /** Repositories the blob is linked into, for automatic cross-repository mounts. */
  repositories(digest: Digest): Promise<string[]>;
}
