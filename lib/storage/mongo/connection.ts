import type * as MongoDriver from 'mongodb';
import type { Binary, Collection, Db, MongoClient, WriteConcernSettings } from 'mongodb';
import type { Settings } from './options.js';

type Driver = typeof MongoDriver;

/** A GridFS files document: the commit point of a blob. `filename` is the digest. */
export interface FileDoc {
  _id: Binary;
  length: number;
  chunkSize: number;
  uploadDate: Date;
  filename: string;
}

/** A GridFS chunk: `n` counts from 0, and every chunk but the last holds exactly `chunkSize` bytes. */
export interface ChunkDoc {
  files_id: Binary;
  n: number;
  data: Binary;
}

/**
 * Work that owns a file id whose chunks may exist without a files document: an upload session, a
 * blob being written by `blobs.put`, or a deletion in progress ("trash"). A process working on one
 * holds its lease; the janitor reclaims the chunks of records nobody holds once they are old.
 */
export interface WorkDoc {
  _id: string;
  kind: 'upload' | 'put' | 'trash';
  fileId: Binary;
  chunkSize: number;
  updatedAt: Date;
  lease?: string;
  leaseUntil?: Date;
  // upload sessions only
  repository?: string;
  /** Bytes received: `nextN` full chunks plus `tail`. */
  offset?: number;
  nextN?: number;
  /** The bytes after the last full chunk (shorter than `chunkSize`). */
  tail?: Binary;
  hashState?: Binary;
  /** A commit has started: no append may follow, and the commit may be retried. */
  committing?: boolean;
}

export interface ManifestDoc {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  createdAt: Date;
  artifactType?: string;
  subject?: string;
  /** Annotation keys contain dots, which older servers refuse as field names: kept as pairs. */
  annotations?: { key: string; value: string }[];
  references: string[];
  /** The exact bytes pushed: the source of truth. */
  body: Binary;
}

export interface TagDoc {
  repository: string;
  tag: string;
  digest: string;
  updatedAt: Date;
  pulledAt?: Date;
}

/** A named lease (`leases.acquire`): who holds it, and until when. */
export interface LeaseDoc {
  _id: string;
  holder: string;
  until: Date;
}

export interface LinkDoc {
  repository: string;
  digest: string;
  createdAt: Date;
}

export interface RepositoryDoc {
  _id: string;
  createdAt: Date;
  /** Bytes charged to the repository, and a version every change of them moves. */
  usage?: number;
  usageVersion?: number;
}

/** The collections, opened at `init()`. Commit points use `commit`'s write concern, chunk inserts `chunkWrite`. */
export interface Mongo {
  driver: Driver;
  settings: Settings;
  db: Db;
  files: Collection<FileDoc>;
  chunks: Collection<ChunkDoc>;
  work: Collection<WorkDoc>;
  manifests: Collection<ManifestDoc>;
  tags: Collection<TagDoc>;
  links: Collection<LinkDoc>;
  repositories: Collection<RepositoryDoc>;
  leases: Collection<LeaseDoc>;
  commit: WriteConcernSettings;
  chunkWrite: WriteConcernSettings;
  /** A new random file id (UUID v4): random ids spread `{files_id, n}` evenly over shards. */
  newFileId(): Binary;
  binary(bytes: Uint8Array): Binary;
}

/** Opens the client (when the store owns it) and the collections, and creates the indexes. */
export class Connection {
  readonly #settings: Settings;
  #client: MongoClient | undefined;
  #ready: Promise<Mongo> | undefined;

  constructor(settings: Settings) {
    this.#settings = settings;
  }

  /** The collections, after a one-time start-up (retried after a failure). */
  get(): Promise<Mongo> {
    this.#ready ??= this.#open().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#ready = undefined;
    this.#client = undefined;
    // a client the app passed in is the app's to close
    if (client && this.#settings.uri !== undefined) await client.close();
  }

  async #open(): Promise<Mongo> {
    const s = this.#settings;
    // loaded here, not at import: the driver is an optional peer, and fs or memory users need none
    const driver = await import('mongodb').catch((err: unknown): never => {
      throw new Error('mongoStorage needs the `mongodb` package (v7): npm install mongodb', { cause: err });
    });
    // a client the app passed in is its own driver's: checked in settingsOf() by shape, used as the driver's class
    const client = (this.#client ??= s.client ? (s.client as unknown as MongoClient) : new driver.MongoClient(s.uri ?? '', s.clientOptions));
    // chunks must come from the primary: a secondary may hold a files document before all its chunks
    const db = client.db(s.dbName, { readPreference: driver.ReadPreference.primary });
    const name = (noun: string) => `${s.bucketName}.${noun}`;
    const mongo: Mongo = {
      driver,
      settings: s,
      db,
      files: db.collection<FileDoc>(name('files')),
      chunks: db.collection<ChunkDoc>(name('chunks')),
      work: db.collection<WorkDoc>(name('uploads')),
      manifests: db.collection<ManifestDoc>(name('manifests')),
      tags: db.collection<TagDoc>(name('tags')),
      links: db.collection<LinkDoc>(name('links')),
      repositories: db.collection<RepositoryDoc>(name('repositories')),
      leases: db.collection<LeaseDoc>(name('leases')),
      commit: s.writeConcern as WriteConcernSettings,
      chunkWrite: s.chunkWriteConcern as WriteConcernSettings,
      newFileId: () => new driver.UUID(),
      binary: (bytes) => new driver.Binary(bytes),
    };
    await createIndexes(mongo);
    return mongo;
  }
}

/** Idempotent: creating an index that exists with the same definition does nothing. */
async function createIndexes(m: Mongo): Promise<void> {
  await Promise.all([
    m.files.createIndexes([
      // one files document per digest: the unique index is what makes a concurrent second commit of a blob lose
      { key: { filename: 1 }, unique: true, name: 'berth_digest' },
      // the driver's own GridFS index, so its tools (and mongofiles) read the bucket as usual
      { key: { filename: 1, uploadDate: 1 } },
    ]),
    m.chunks.createIndexes([{ key: { files_id: 1, n: 1 }, unique: true }]),
    m.work.createIndexes([{ key: { updatedAt: 1 } }]),
    m.manifests.createIndexes([
      { key: { repository: 1, digest: 1 }, unique: true },
      { key: { repository: 1, subject: 1, digest: 1 }, partialFilterExpression: { subject: { $exists: true } } },
      { key: { repository: 1, references: 1, digest: 1 } },
    ]),
    m.tags.createIndexes([{ key: { repository: 1, tag: 1 }, unique: true }, { key: { repository: 1, digest: 1 } }]),
    m.links.createIndexes([{ key: { repository: 1, digest: 1 }, unique: true }, { key: { digest: 1, repository: 1 } }]),
  ]);
}

/** The bytes of a Binary read back from the server, without a copy. */
export function bytesOf(binary: Binary | undefined): Buffer {
  if (!binary) return Buffer.alloc(0);
  return Buffer.from(binary.buffer.buffer, binary.buffer.byteOffset, binary.position);
}

/** The server refused a write because of a unique index. */
export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === 11000;
}

/** Retries an upsert that lost a race on a unique index (two upserts both inserted; the second now finds the document). */
export async function upsertRetrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isDuplicateKey(err) || attempt >= 3) throw err;
    }
  }
}
