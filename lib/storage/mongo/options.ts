/**
 * The parts of a `mongodb` (v7) `MongoClient` the store needs. Declared here rather than imported
 * so that berth's types, and berth itself, load without the driver (an optional peer dependency).
 */
export interface MongoClientLike {
  db(dbName?: string): unknown;
}

/** A MongoDB write concern, as the driver's `WriteConcernSettings`. */
export interface WriteConcernLike {
  w?: number | 'majority' | (string & {});
  j?: boolean;
  wtimeoutMS?: number;
}

/** Options of {@link mongoStorage}. Give exactly one of `client` and `uri`. */
export interface MongoStorageOptions {
  /** A `MongoClient` the host app owns (connected or not); `close()` leaves it open. */
  client?: MongoClientLike;
  /** A connection string: the store opens its own client at `init()` and closes it at `close()`. */
  uri?: string;
  /** Driver options for the client opened from `uri` (`MongoClientOptions`). */
  clientOptions?: Record<string, unknown>;
  /** Database holding every collection of the store (default: `'berth'`). */
  dbName?: string;
  /**
   * Names the GridFS bucket (`<bucketName>.files`, `<bucketName>.chunks`) and prefixes the store's
   * other collections (`.uploads`, `.manifests`, `.tags`, `.links`, `.repositories`) (default:
   * `'berth'`). The bucket is the store's own: it indexes `filename`, the digest, as unique.
   */
  bucketName?: string;
  /** Size of the GridFS chunks of new blobs and uploads, in bytes (default: 255 KiB, as GridFS; 1 KiB to 15 MiB). */
  chunkSizeBytes?: number;
  /**
   * Write concern of every commit point: a blob's files document, an upload session after each
   * append, manifests, tags, links and repositories (default: `{ w: 'majority', j: true }`).
   */
  writeConcern?: WriteConcernLike;
  /**
   * Write concern of chunk inserts (default: `{ w: 1 }`). The commit point after them covers them
   * (journal and oplog are written in order), and a commit counts the chunks with read concern
   * majority before the blob becomes visible.
   */
  chunkWriteConcern?: WriteConcernLike;
  /** Bytes of chunks per `insertMany` (default: 2 MiB; at least one chunk). */
  batchBytes?: number;
  /** Bytes of chunks per read query; the next batch is fetched while one is sent (default: 2 MiB; at least one chunk). */
  readBatchBytes?: number;
  /** `insertMany` calls in flight per written stream (default: 2). */
  writesInFlight?: number;
  /**
   * How long a process may hold an upload (or a blob being written) without renewing its claim, in
   * ms (default: 10000; renewed every third of it). When a process dies mid-append, another one may
   * continue the upload once the claim has lapsed; until then appends at that offset get 416.
   */
  leaseMs?: number;
}

/** The options, checked, with their defaults. */
export interface Settings {
  client: MongoClientLike | undefined;
  uri: string | undefined;
  clientOptions: Record<string, unknown>;
  dbName: string;
  bucketName: string;
  chunkSize: number;
  writeConcern: WriteConcernLike;
  chunkWriteConcern: WriteConcernLike;
  batchBytes: number;
  readBatchBytes: number;
  writesInFlight: number;
  leaseMs: number;
}

const MiB = 1024 * 1024;
const KNOWN = ['client', 'uri', 'clientOptions', 'dbName', 'bucketName', 'chunkSizeBytes', 'writeConcern', 'chunkWriteConcern', 'batchBytes', 'readBatchBytes', 'writesInFlight', 'leaseMs'];
// letters, digits, "_", "-", "." (database names refuse "."; the check below refuses it there)
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,47}$/;

/** Checks options given as unknown input, throwing a TypeError that names the bad one. */
export function settingsOf(input: MongoStorageOptions): Settings {
  const fail = (message: string): never => {
    throw new TypeError(`mongoStorage: ${message}`);
  };
  if (typeof input !== 'object' || (input as unknown) === null) fail('options must be an object, e.g. { uri: "mongodb://127.0.0.1:27017", dbName: "registry" }.');
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!KNOWN.includes(key) && o[key] !== undefined) fail(`unknown option \`${key}\` (known: ${KNOWN.join(', ')}).`);
  if ((o.client === undefined) === (o.uri === undefined)) fail('give exactly one of `client` (a MongoClient the app owns) and `uri` (a connection string).');
  if (o.client !== undefined && !(typeof o.client === 'object' && o.client !== null && 'db' in o.client && typeof o.client.db === 'function')) fail('`client` must be a MongoClient of the `mongodb` package (v7).');
  if (o.uri !== undefined && (typeof o.uri !== 'string' || !/^mongodb(\+srv)?:\/\/./.test(o.uri))) fail(`\`uri\` must be a mongodb:// or mongodb+srv:// connection string (got ${JSON.stringify(o.uri)}).`);
  if (o.clientOptions !== undefined && (typeof o.clientOptions !== 'object' || o.clientOptions === null)) fail('`clientOptions` must be an object of MongoClient options.');
  const name = (key: string, dots: boolean): string => {
    const value = o[key] ?? 'berth';
    if (typeof value !== 'string' || !NAME.test(value) || (!dots && value.includes('.'))) {
      fail(`\`${key}\` must be up to 48 letters, digits, "_", "-"${dots ? ' or "."' : ''} (got ${JSON.stringify(value)}).`);
    }
    return value as string;
  };
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const value: unknown = o[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) fail(`\`${key}\` must be an integer from ${min} to ${max} (got ${JSON.stringify(value)}).`);
    return value as number;
  };
  const concern = (key: string, fallback: WriteConcernLike): WriteConcernLike => {
    const value: unknown = o[key] ?? fallback;
    if (typeof value !== 'object' || value === null) fail(`\`${key}\` must be a write concern such as { w: 'majority', j: true } (got ${JSON.stringify(value)}).`);
    return value as WriteConcernLike;
  };
  return {
    client: o.client as MongoClientLike | undefined,
    uri: o.uri as string | undefined,
    clientOptions: (o.clientOptions ?? {}) as Record<string, unknown>,
    dbName: name('dbName', false),
    bucketName: name('bucketName', true),
    chunkSize: integer('chunkSizeBytes', 255 * 1024, 1024, 15 * MiB),
    writeConcern: concern('writeConcern', { w: 'majority', j: true }),
    chunkWriteConcern: concern('chunkWriteConcern', { w: 1 }),
    batchBytes: integer('batchBytes', 2 * MiB, 1, 256 * MiB),
    readBatchBytes: integer('readBatchBytes', 2 * MiB, 1, 256 * MiB),
    writesInFlight: integer('writesInFlight', 2, 1, 64),
    leaseMs: integer('leaseMs', 10_000, 100, 3_600_000),
  };
}
