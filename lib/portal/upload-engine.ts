import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Readable, Transform, type TransformCallback, pipeline } from 'node:stream';
import type { StorageEngine } from 'multer';
import type { Digest } from '../digest.js';
import type { BlobInfo, Storage } from '../storage/types.js';
import { PortalError } from './respond.js';

/** What the engine reports for each file: an upload session of the store, hashed and sized. */
export interface StagedFile {
  fieldname: string;
  originalname: string;
  mimetype: string;
  uploadId: string;
  digest: Digest;
  size: number;
}

/** Decides, from the form fields read so far, whether a file may be stored at all (throws a refusal otherwise). */
export type BeforeFile = (req: IncomingMessage, fields: Record<string, unknown>) => Promise<void>;

interface RequestState {
  staged: Set<string>;
  controller: AbortController;
}

/**
 * A multer StorageEngine that streams each file into an upload session of berth's store, hashing
 * it (sha256, node:crypto) on the way: nothing is buffered whole, in memory or on the host's disk.
 * The session stays invisible (no blob, no link) until {@link commitStaged} turns it into a blob;
 * {@link discardStaged} (and multer's `_removeFile`) delete it, and the registry's upload sweep
 * removes what a crash left.
 */
export class StagingEngine implements StorageEngine {
  readonly #storage: Storage;
  readonly #stagingRepository: string;
  readonly #before: BeforeFile;
  readonly #states = new WeakMap<IncomingMessage, RequestState>();

  constructor(storage: Storage, stagingRepository: string, before: BeforeFile) {
    this.#storage = storage;
    this.#stagingRepository = stagingRepository;
    this.#before = before;
  }

  /** The request's state: created on first use, aborting staged writes when the client goes away. */
  state(req: IncomingMessage): RequestState {
    let state = this.#states.get(req);
    if (!state) {
      const controller = new AbortController();
      state = { staged: new Set(), controller };
      this.#states.set(req, state);
      req.once('close', () => {
        if (!req.complete) controller.abort(new PortalError(400, 'ABORTED', 'the upload was cancelled'));
      });
    }
    return state;
  }

  _handleFile(req: IncomingMessage, file: Express.Multer.File, callback: (error?: unknown, info?: Partial<StagedFile>) => void): void {
    this.#stage(req, file).then(
      (info) => callback(null, info),
      (err: unknown) => {
        file.stream.resume();
        callback(err);
      },
    );
  }

  _removeFile(req: IncomingMessage, file: Express.Multer.File & Partial<StagedFile>, callback: (error: Error | null) => void): void {
    const id = file.uploadId;
    if (id === undefined) return callback(null);
    this.state(req).staged.delete(id);
    this.#storage.uploads.delete(id).then(
      () => callback(null),
      (err: unknown) => callback(err as Error),
    );
  }

  async #stage(req: IncomingMessage, file: Express.Multer.File): Promise<Partial<StagedFile>> {
    const state = this.state(req);
    const { signal } = state.controller;
    await this.#before(req, ((req as { body?: unknown }).body ?? {}) as Record<string, unknown>);
    signal.throwIfAborted();
    const upload = await this.#storage.uploads.create(this.#stagingRepository);
    state.staged.add(upload.id);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done: TransformCallback) {
        size += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const stop = () => meter.destroy(signal.reason instanceof Error ? signal.reason : new Error('the upload was cancelled'));
    signal.addEventListener('abort', stop, { once: true });
    file.stream.once('error', (err) => meter.destroy(err));
    file.stream.pipe(meter);
    try {
      const stored = await this.#storage.uploads.append(upload.id, 0, meter, { signal });
      if (stored !== size) throw new Error(`the store kept ${stored ?? 'no'} bytes of ${size}`);
      signal.throwIfAborted();
    } catch (err) {
      state.staged.delete(upload.id);
      await this.#storage.uploads.delete(upload.id).catch(() => undefined);
      throw err;
    } finally {
      signal.removeEventListener('abort', stop);
    }
    return { uploadId: upload.id, digest: `sha256:${hash.digest('hex')}`, size };
  }
}

/** Deletes every staged upload of the request (on a refusal, an error, or after committing). */
export async function discardStaged(storage: Storage, staged: Iterable<string>): Promise<void> {
  for (const id of [...staged]) await storage.uploads.delete(id).catch(() => undefined);
}

/**
 * Turns a staged upload into blob `digest`: the store's commit when it promotes into its own blob
 * store, otherwise a copy into `blobs.put`, verified again on the way (as the registry does for
 * composed stores). The upload session is gone afterwards either way.
 */
export async function commitStaged(storage: Storage, file: StagedFile, signal?: AbortSignal): Promise<BlobInfo> {
  const { uploads, blobs } = storage;
  if (uploads.commit && uploads.promotesInto === blobs) {
    const info = await uploads.commit(file.uploadId, file.digest, file.size);
    if (!info) throw new Error('the staged upload disappeared before it was committed');
    return info;
  }
  const source = await uploads.open(file.uploadId, signal ? { signal } : {});
  if (!source) throw new Error('the staged upload disappeared before it was committed');
  const info = await blobs.put(file.digest, verified(source, file.digest, file.size), signal ? { signal } : {});
  await uploads.delete(file.uploadId);
  return info;
}

/** `source` with its sha256 and size checked at the end: a mismatch fails the stream, so `put` keeps nothing. */
export function verified(source: Readable, digest: Digest, size: number): Readable {
  const hash = createHash('sha256');
  let seen = 0;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      seen += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      const actual = `sha256:${hash.digest('hex')}`;
      done(actual === digest && seen === size ? null : new Error(`the staged bytes changed: ${actual} (${seen} bytes), expected ${digest} (${size} bytes)`));
    },
  });
  return pipeline(source, check, () => undefined);
}
