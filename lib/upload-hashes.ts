import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { type Algorithm, hasher } from './digest.js';
import { RegistryError } from './errors.js';

interface Entry {
  algorithm: Algorithm;
  size: number;
  hash: Hash;
  touched: number;
}

/**
 * Running digests of uploads this process has received, so closing an upload need not re-read it.
 * Only a cache: an upload whose earlier chunks reached another instance (or that outlived the
 * cache) is re-hashed from the store when it closes.
 */
export class UploadHashes {
  readonly #entries = new Map<string, Entry>();
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** Starts an upload's digest with a chosen algorithm (`?digest-algorithm=`). */
  start(id: string, algorithm: Algorithm): void {
    this.#save(id, { algorithm, size: 0, hash: hasher(algorithm), touched: Date.now() });
  }

  /**
   * A hash to feed the next `offset`-based append: a copy, so a failed append leaves the cached
   * state untouched. `undefined` when this process does not know the state at `offset`.
   */
  next(id: string, offset: number, algorithm?: Algorithm): { algorithm: Algorithm; hash: Hash } | undefined {
    const entry = this.#entries.get(id);
    if (entry && entry.size === offset && (algorithm === undefined || algorithm === entry.algorithm)) {
      return { algorithm: entry.algorithm, hash: entry.hash.copy() };
    }
    if (offset === 0) {
      const chosen = algorithm ?? 'sha256';
      return { algorithm: chosen, hash: hasher(chosen) };
    }
    return undefined;
  }

  /** Records the state after an append that brought the upload to `size` bytes. */
  saved(id: string, size: number, state: { algorithm: Algorithm; hash: Hash }): void {
    this.#save(id, { ...state, size, touched: Date.now() });
  }

  /** The digest of an upload of `size` bytes, if this process hashed all of it with `algorithm`. */
  digest(id: string, size: number, algorithm: Algorithm): string | undefined {
    const entry = this.#entries.get(id);
    if (!entry || entry.size !== size || entry.algorithm !== algorithm) return undefined;
    return `${algorithm}:${entry.hash.copy().digest('hex')}`;
  }

  forget(id: string): void {
    this.#entries.delete(id);
  }

  /** Drops entries idle since before `cutoff`. */
  prune(cutoff: Date): void {
    for (const [id, entry] of this.#entries) if (entry.touched < cutoff.getTime()) this.#entries.delete(id);
  }

  #save(id: string, entry: Entry): void {
    this.#entries.delete(id); // re-insert: Map order doubles as least-recently-used order
    this.#entries.set(id, entry);
    if (this.#entries.size > this.#limit) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }
}

/**
 * Counts (and optionally hashes) the bytes of a request body on their way to the store, failing
 * the stream when more or fewer bytes arrive than a `Content-Range` announced.
 */
export class Meter extends Transform {
  bytes = 0;
  readonly #hash: Hash | undefined;
  readonly #expected: number | undefined;

  constructor(hash: Hash | undefined, expected: number | undefined) {
    super();
    this.#hash = hash;
    this.#expected = expected;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.#expected !== undefined && this.bytes > this.#expected) {
      callback(sizeMismatch(this.#expected));
      return;
    }
    this.#hash?.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.#expected !== undefined && this.bytes !== this.#expected ? sizeMismatch(this.#expected) : null);
  }
}

function sizeMismatch(expected: number): RegistryError {
  return new RegistryError('SIZE_INVALID', `the body does not hold the ${expected} bytes its Content-Range announced`);
}
