import type { Readable } from 'node:stream';
import type { Digest } from '../digest.js';

/**
 * The persistence hooks (contract v2). berth's core owns every policy (grammar, digest verification,
 * limits, auth, which repository may see which blob); a store only keeps bytes and records, and makes
 * each write atomic.
 *
 * Rules shared by every store:
 * - Every method is async. Absence is `undefined` (or `false`), never an exception; an exception
 *   means the store failed, and the core answers a 5xx.
 * - Inputs are already validated: names, tags and digests match the spec's grammars.
 * - Streams are Node `Readable`s; a store never buffers a whole blob or upload in memory (the
 *   memory store is the one exception, by definition).
 * - Lists are in byte order and paginated with {@link Page}.
 * - Writes say what changed (a replaced tag, whether a link or manifest is new, what a delete
 *   removed), so events and quotas can be built on them.
 * - Stores compose by spread: `{ ...fsStorage({ root }), blobs: myBlobs }` keeps every blob in `myBlobs`.
 *
 * `berth/testing` exports the contract suite that proves these rules; every store must pass it.
 */
export interface Storage {
  blobs: BlobStore;
  uploads: UploadStore;
  manifests: ManifestStore;
  tags: TagStore;
  links: LinkStore;
  repositories: RepositoryStore;
  leases: LeaseStore;
  /** Prepares the store (directories, database indexes). Idempotent; the registry calls it once before serving. */
  init?(): Promise<void>;
  /** Releases what the store opened itself (connections, handles). */
  close?(): Promise<void>;
}

/** OCI pagination: at most `n` entries, starting strictly after `last` in byte order. */
export interface Page {
  n?: number;
  last?: string;
}

/** A byte range with `end` exclusive (like GridFS `end` and `Buffer#subarray`). */
export interface ByteRange {
  start: number;
  end: number;
}

/** Cancels a read or write when the client that caused it has gone away. */
export interface Cancellable {
  signal?: AbortSignal;
}

export interface OpenOptions extends Cancellable {
  /** Only these bytes; within the blob (the core checks it against `stat`). */
  range?: ByteRange;
}

export interface BlobInfo {
  digest: Digest;
  size: number;
  /**
   * When the bytes were last stored: a `put` or `commit` of bytes that are already there counts, so
   * a blob a client is about to link again looks young. Garbage collection keeps young blobs.
   */
  createdAt: Date;
}

/** Verified, content-addressed bytes shared by all repositories. */
export interface BlobStore {
  stat(digest: Digest): Promise<BlobInfo | undefined>;
  open(digest: Digest, options?: OpenOptions): Promise<Readable | undefined>;
  /**
   * Stores `body` as blob `digest`, atomically: the blob becomes visible only after `body` ended
   * without error (the core verifies digest and size on the way and fails the stream on a
   * mismatch), and a failed `put` leaves nothing behind. Writing a blob that exists already keeps
   * one copy and refreshes its `createdAt`. Resolves once the bytes are durable.
   */
  put(digest: Digest, body: Readable, options?: Cancellable): Promise<BlobInfo>;
  delete(digest: Digest): Promise<boolean>;
  /** Every stored digest (for garbage collection and maintenance). */
  list(page: Page): Promise<Digest[]>;
}

export interface UploadInfo {
  id: string;
  repository: string;
  /** Bytes received so far. */
  size: number;
  /** Last activity; uploads idle for too long are swept. */
  updatedAt: Date;
  /** What {@link AppendOptions.hashState} returned at the last append, if anything. */
  hashState?: Uint8Array;
}

export interface AppendOptions extends Cancellable {
  /**
   * Called once `body` has been read to its end. Whatever it returns (the running hash of the
   * upload's bytes) is saved with the new size in the same atomic step and comes back in
   * {@link UploadInfo.hashState}, so another process can continue the upload without re-reading it.
   */
  hashState?: () => Uint8Array | undefined;
  /**
   * No append follows: the request that sent `body` also closes the upload. A store may make the
   * bytes durable as it writes them instead of at {@link UploadStore.commit}.
   */
  last?: boolean;
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
   * unknown or its size is no longer `offset`. If `body` fails, the upload keeps its previous size
   * and the error is rethrown.
   */
  append(id: string, offset: number, body: Readable, options?: AppendOptions): Promise<number | undefined>;
  /** The bytes received so far. */
  open(id: string, options?: Cancellable): Promise<Readable | undefined>;
  /**
   * Optional fast path: turns the upload into blob `digest` of {@link promotesInto} without copying,
   * atomically, and forgets the upload, when it holds exactly `size` bytes (the core verified their
   * digest; a later append must not slip in). If the blob exists already the upload's bytes are
   * dropped and the blob's `createdAt` refreshed. `undefined` when the upload is unknown or its size differs. Without it (or when
   * `storage.blobs` is another store), the core copies the upload into `blobs.put` and deletes it.
   */
  commit?(id: string, digest: Digest, size: number): Promise<BlobInfo | undefined>;
  /** The blob store {@link commit} writes into; the core uses `commit` only when this is `storage.blobs`. */
  readonly promotesInto?: BlobStore;
  /**
   * True when an upload's requests may reach different processes (a store shared through a
   * database): the core then saves a resumable hash state with every append. Stores used by one
   * process leave it unset and the core hashes in process memory, which is several times faster.
   */
  readonly shared?: boolean;
  delete(id: string): Promise<boolean>;
  /** Deletes uploads idle since before `cutoff` (and whatever a crash left half-written); resolves to how many uploads were removed. */
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

/** A manifest's record without its bytes: enough for HEAD, reference checks and listings. */
export interface ManifestInfo {
  digest: Digest;
  mediaType: string;
  size: number;
  /** When the manifest was first stored in this repository. */
  createdAt: Date;
  artifactType?: string;
  /** The `subject` digest, indexed for the referrers API. */
  subject?: Digest;
}

/** A manifest as pushed: the exact bytes plus what the core parsed out of them. */
export interface Manifest extends ManifestInfo {
  body: Buffer;
  annotations?: Record<string, string>;
  /** Blobs and child manifests the manifest points at (for garbage collection). */
  references: Digest[];
}

/** What the core hands to {@link ManifestStore.put}: the store sets `createdAt`. */
export type NewManifest = Omit<Manifest, 'createdAt'>;

export interface ReferrersQuery extends Page {
  /** Only referrers of this artifact type. */
  artifactType?: string;
}

/** Manifests of each repository, addressed by digest, with a referrers index. */
export interface ManifestStore {
  get(repository: string, digest: Digest): Promise<Manifest | undefined>;
  stat(repository: string, digest: Digest): Promise<ManifestInfo | undefined>;
  /** Stores the manifest and indexes its `subject`; resolves `true` when it is new (idempotent). Makes the repository known. */
  put(repository: string, manifest: NewManifest): Promise<boolean>;
  /** Removes the manifest and its referrers entry; resolves to what was removed. Tags are the core's business. */
  delete(repository: string, digest: Digest): Promise<ManifestInfo | undefined>;
  /** Manifests of `repository` whose subject is `subject`, in digest order (`last` is a digest). */
  referrers(repository: string, subject: Digest, query: ReferrersQuery): Promise<Descriptor[]>;
  /** Digests of the repository's manifests. */
  list(repository: string, page: Page): Promise<Digest[]>;
  /**
   * Manifests of `repository` whose `references` include `digest` (a config, layer or child
   * manifest), in digest order: the core refuses to delete what they still need. The index is
   * written before the manifest and removed after it, so it may name a manifest that a crash left
   * unwritten; the core checks each one it is given.
   */
  dependents(repository: string, digest: Digest, page: Page): Promise<Digest[]>;
}

export interface TagInfo {
  digest: Digest;
  /** When the tag was last pointed somewhere. */
  updatedAt: Date;
  /** The last pull by this tag that {@link TagStore.pulled} recorded, if any. */
  pulledAt?: Date;
}

/** Tag → digest per repository. */
export interface TagStore {
  get(repository: string, tag: string): Promise<Digest | undefined>;
  stat(repository: string, tag: string): Promise<TagInfo | undefined>;
  /** Records a pull by the tag (the core calls it at most now and then per tag); nothing when the tag is gone. */
  pulled(repository: string, tag: string, at: Date): Promise<void>;
  /** Points `tag` at `digest` atomically; resolves to the digest it pointed at before, if any. Makes the repository known. */
  put(repository: string, tag: string, digest: Digest): Promise<Digest | undefined>;
  /** Removes `tag` (when `expected` is given, only while it still points there); resolves to the digest it pointed at. */
  delete(repository: string, tag: string, expected?: Digest): Promise<Digest | undefined>;
  list(repository: string, page: Page): Promise<string[]>;
  /** Tags pointing at `digest`, at a cost that does not grow with the repository's other tags. */
  find(repository: string, digest: Digest): Promise<string[]>;
}

/** Which repositories may see which blobs (distribution's "linked blob store"). */
export interface LinkStore {
  has(repository: string, digest: Digest): Promise<boolean>;
  /** When the blob was linked into the repository (garbage collection keeps young links). */
  stat(repository: string, digest: Digest): Promise<{ createdAt: Date } | undefined>;
  /** Links the blob into the repository; resolves `true` when the link is new. Makes the repository known. */
  add(repository: string, digest: Digest): Promise<boolean>;
  delete(repository: string, digest: Digest): Promise<boolean>;
  /** Repositories the blob is linked into (automatic mounts, garbage collection). */
  repositories(digest: Digest, page: Page): Promise<string[]>;
  /** Digests linked into the repository. */
  list(repository: string, page: Page): Promise<Digest[]>;
}

/**
 * Repositories as their own records. One becomes known with its first link, manifest or tag and
 * stays known (listed in the catalog, answering a tags list) until deleted, even when empty.
 */
export interface RepositoryStore {
  has(name: string): Promise<boolean>;
  list(page: Page): Promise<string[]>;
  /** Forgets the repository with its tags, manifests and links (blobs stay, for garbage collection). */
  delete(name: string): Promise<boolean>;
  /**
   * The bytes charged to the repository (the core adds every blob linked into it and every manifest
   * stored in it), and a version that every change of them moves; `undefined` for an unknown repository.
   */
  usage(name: string): Promise<Usage | undefined>;
  /**
   * Adds `delta` (negative to subtract) to a known repository's usage, atomically, moves its version,
   * and resolves to the usage after the change (`undefined` for an unknown repository). A quota
   * check that adds first and then compares this result is exact however many writers race.
   */
  addUsage(name: string, delta: number): Promise<Usage | undefined>;
  /**
   * Sets the usage when its version is still `version` (nothing changed it since it was read), and
   * moves the version; `false` otherwise. Garbage collection corrects drift with it.
   */
  setUsage(name: string, bytes: number, version: number): Promise<boolean>;
}

export interface Usage {
  bytes: number;
  version: number;
}

/**
 * Named leases, so that among many instances sharing a store only one runs a job at a time (the
 * garbage collector). A lease is held by `holder` until `ttl` milliseconds after its last acquire.
 */
export interface LeaseStore {
  /** Takes the lease, or renews it when `holder` has it; `false` when another holder has an unexpired one. Atomic. */
  acquire(name: string, holder: string, ttl: number): Promise<boolean>;
  /** Gives the lease up, if `holder` has it. */
  release(name: string, holder: string): Promise<void>;
}
