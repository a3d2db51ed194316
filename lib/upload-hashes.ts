import { Transform, type TransformCallback } from 'node:stream';
import type { Algorithm } from './digest.js';
import { RegistryError } from './errors.js';
import { type RunningHash, nativeHash, resumableHash, resumeHash } from './running-hash.js';
import type { UploadInfo } from './storage/types.js';

interface Entry {
  size: number;
  hash: RunningHash;
  touched: number;
}

/**
 * Running digests of the uploads this process is receiving, so closing an upload need not re-read
 * it. Only a cache: an upload whose earlier chunks reached another instance continues from the hash
 * state saved in the store (stores shared by several processes), and failing that is re-read when
 * it closes.
 */
export class UploadHashes {
  readonly #entries = new Map<string, Entry>();
  readonly #algorithms = new Map<string, Algorithm>();
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** Remembers the algorithm an upload chose with `?digest-algorithm=`. */
  choose(id: string, algorithm: Algorithm): void {
    this.#algorithms.set(id, algorithm);
  }

  /**
   * A hash to feed the append that continues `upload` at its current size: a copy of the cached
   * one, one resumed from the store's saved state, or a new one at offset 0. `resumable` asks for a
   * hash whose state can be saved (the store is shared and more requests may follow). `undefined`
   * when the state at that offset is unknown here.
   */
  async next(upload: UploadInfo, resumable: boolean, algorithm?: Algorithm): Promise<RunningHash | undefined> {
    const wanted = algorithm ?? this.#algorithms.get(upload.id);
    const entry = this.#entries.get(upload.id);
    if (entry && entry.size === upload.size && (wanted === undefined || wanted === entry.hash.algorithm)) return entry.hash.copy();
    if (upload.size === 0) return resumable ? resumableHash(wanted ?? 'sha256') : nativeHash(wanted ?? 'sha256');
    const resumed = await resumeHash(upload.hashState);
    return resumed && (wanted === undefined || wanted === resumed.algorithm) ? resumed : undefined;
  }

  /** Records the hash after an append that brought the upload to `size` bytes. */
  saved(id: string, size: number, hash: RunningHash): void {
    this.#entries.delete(id); // re-insert: Map order doubles as least-recently-used order
    this.#entries.set(id, { size, hash, touched: Date.now() });
    if (this.#entries.size > this.#limit) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  /** The digest of `upload` if this process, or the state saved with it, covers all of its bytes. */
  async digest(upload: UploadInfo, algorithm: Algorithm): Promise<string | undefined> {
    const entry = this.#entries.get(upload.id);
    if (entry && entry.size === upload.size && entry.hash.algorithm === algorithm) return entry.hash.digest();
    if (upload.size === 0) return nativeHash(algorithm).digest();
    const resumed = await resumeHash(upload.hashState);
    return resumed?.algorithm === algorithm ? resumed.digest() : undefined;
  }

  forget(id: string): void {
    this.#entries.delete(id);
    this.#algorithms.delete(id);
  }

  /** Drops entries idle since before `cutoff`. */
  prune(cutoff: Date): void {
    for (const [id, entry] of this.#entries) if (entry.touched < cutoff.getTime()) this.forget(id);
  }
}

/**
 * Counts (and optionally hashes) bytes on their way to the store. It fails the stream when more or
 * fewer bytes arrive than `expected`, and, given `digest`, when the bytes hash to something else
 * (so a store's atomic write never makes them visible).
 */
export class Meter extends Transform {
  bytes = 0;
  readonly #hash: RunningHash | undefined;
  readonly #expected: number | undefined;
  readonly #digest: string | undefined;

  constructor(hash: RunningHash | undefined, expected: number | undefined, digest?: string) {
    super();
    this.#hash = hash;
    this.#expected = expected;
    this.#digest = digest;
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
    if (this.#expected !== undefined && this.bytes !== this.#expected) {
      callback(sizeMismatch(this.#expected));
      return;
    }
    const computed = this.#digest === undefined ? undefined : this.#hash?.digest();
    if (computed !== this.#digest) {
      callback(new RegistryError('DIGEST_INVALID', `the content has digest ${computed ?? 'unknown'}, not ${this.#digest ?? ''}`, { detail: { digest: this.#digest } }));
      return;
    }
    callback();
  }
}

function sizeMismatch(expected: number): RegistryError {
  return new RegistryError('SIZE_INVALID', `the body does not hold the ${expected} bytes announced`);
}
