import { Readable, Writable } from 'node:stream';
import type { Binary } from 'mongodb';
import { type ChunkDoc, type Mongo, bytesOf } from './connection.js';

/**
 * Cuts the bytes written to it into GridFS chunks of one file, starting at chunk `firstN` with
 * `tail` (bytes already received that did not fill a chunk), and inserts them in batches of
 * `batchChunks` with up to `writesInFlight` `insertMany` calls at once. A write is acknowledged
 * only while fewer batches are in flight, so a fast client waits for the database (back-pressure)
 * and memory stays at about `(writesInFlight + 1) × batch` bytes (the chunk buffers are reused). What remains short of a chunk
 * at the end is {@link tail}: the caller keeps it (an upload session) or writes it as the last chunk.
 */
export class ChunkWriter extends Writable {
  /** Body bytes written (the tail given at the start not included). */
  bytes = 0;
  /** The chunk number the next full chunk gets. */
  nextN: number;
  readonly #mongo: Mongo;
  readonly #fileId: Binary;
  readonly #chunkSize: number;
  readonly #batchChunks: number;
  #current: Buffer;
  #filled = 0;
  /** Chunk buffers whose insert has finished, reused: the driver copied them into its message, so nothing else holds them. */
  readonly #free: Buffer[] = [];
  #batch: ChunkDoc[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #failure: Error | undefined;

  constructor(mongo: Mongo, fileId: Binary, chunkSize: number, firstN: number, tail: Buffer) {
    super({ highWaterMark: chunkSize });
    this.#mongo = mongo;
    this.#fileId = fileId;
    this.#chunkSize = chunkSize;
    this.#batchChunks = Math.max(1, Math.floor(mongo.settings.batchBytes / chunkSize));
    this.nextN = firstN;
    this.#current = Buffer.allocUnsafe(chunkSize);
    tail.copy(this.#current);
    this.#filled = tail.length;
  }

  /** The bytes after the last full chunk, copied out of the chunk buffer. */
  tail(): Buffer {
    return Buffer.from(this.#current.subarray(0, this.#filled));
  }

  override _write(data: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.bytes += data.length;
    let at = 0;
    while (at < data.length) {
      const n = Math.min(this.#chunkSize - this.#filled, data.length - at);
      data.copy(this.#current, this.#filled, at, at + n);
      this.#filled += n;
      at += n;
      if (this.#filled === this.#chunkSize) {
        this.#batch.push({ files_id: this.#fileId, n: this.nextN++, data: this.#mongo.binary(this.#current) });
        this.#current = this.#free.pop() ?? Buffer.allocUnsafe(this.#chunkSize);
        this.#filled = 0;
        if (this.#batch.length >= this.#batchChunks) this.#send();
      }
    }
    this.#settle(this.#mongo.settings.writesInFlight - 1).then(() => done(), done);
  }

  override _final(done: (error?: Error | null) => void): void {
    if (this.#batch.length > 0) this.#send();
    this.#settle(0).then(() => done(), done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    // let inserts already sent finish, so the caller's clean-up after a failure sees every chunk
    void Promise.allSettled(this.#inFlight).then(() => done(error));
  }

  /** Resolves once no insert is in flight any more (after a failure, before cleaning up). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  #send(): void {
    const batch = this.#batch;
    this.#batch = [];
    const insert: Promise<void> = this.#mongo.chunks
      .insertMany(batch, { ordered: true, writeConcern: this.#mongo.chunkWrite })
      .then(
        () => {
          // fewer big allocations means fewer garbage collections, and a flatter RSS
          for (const chunk of batch) this.#free.push(bytesOf(chunk.data));
        },
        (err: unknown) => {
          this.#failure ??= err instanceof Error ? err : new Error(`mongoStorage: inserting chunks failed: ${String(err)}`);
        },
      )
      .finally(() => this.#inFlight.delete(insert));
    this.#inFlight.add(insert);
  }

  /** Waits until at most `limit` batches are in flight; rejects with the first failed insert. */
  async #settle(limit: number): Promise<void> {
    while (this.#inFlight.size > limit) await Promise.race(this.#inFlight);
    if (this.#failure) throw this.#failure;
  }
}

/**
 * Batches requested before the one being sent is done. One keeps the database busy while a batch is
 * sent; two measured no faster on the test server and hold another batch in memory.
 */
const READ_AHEAD = 1;

export interface ChunkSpan {
  fileId: Binary;
  chunkSize: number;
  /** Chunks `[0, count)` hold the bytes; all of them are `chunkSize` long but the last, which holds the rest of `length`. */
  length: number;
  /** Only these bytes (end exclusive). */
  start?: number;
  end?: number;
  signal?: AbortSignal | undefined;
}

/**
 * Streams a file's bytes by chunk number: one query per batch of `{files_id, n}` in `[a, b)`,
 * answered from the unique index, with the next batch requested while the current one is read.
 * Only the chunks covering the range are fetched, and nothing is sorted: each batch is put in order
 * here. A missing or wrongly sized chunk fails the stream (the file is damaged) rather than
 * returning other bytes.
 */
export function readChunks(mongo: Mongo, span: ChunkSpan): Readable {
  const { chunkSize, length } = span;
  const start = span.start ?? 0;
  const end = span.end ?? length;
  const first = Math.floor(start / chunkSize);
  const last = end > start ? Math.floor((end - 1) / chunkSize) : first - 1; // inclusive; none for an empty range
  const batch = Math.max(1, Math.floor(mongo.settings.readBatchBytes / chunkSize));

  async function fetch(from: number): Promise<Buffer[]> {
    const to = Math.min(from + batch, last + 1);
    const docs = await mongo.chunks
      .find({ files_id: span.fileId, n: { $gte: from, $lt: to } }, { projection: { _id: 0, n: 1, data: 1 }, batchSize: to - from })
      .toArray();
    const ordered = Array.from<Buffer | undefined>({ length: to - from });
    for (const doc of docs) ordered[doc.n - from] = bytesOf(doc.data);
    return ordered.map((data, i) => {
      const n = from + i;
      const expected = Math.min(chunkSize, length - n * chunkSize);
      if (data?.length !== expected) throw new Error(`mongoStorage: chunk ${n} of file ${span.fileId.toString('hex')} is ${data ? `${data.length} bytes, not ${expected}` : 'missing'}`);
      return data;
    });
  }

  async function* generate(): AsyncGenerator<Buffer> {
    // batches requested ahead, oldest first, so the database works while earlier ones are sent
    const ahead: Promise<Buffer[]>[] = [];
    let requested = first;
    const request = () => {
      while (ahead.length < READ_AHEAD && requested <= last) {
        const pending = fetch(requested);
        pending.catch(() => undefined); // handled when awaited; a consumer that stops early must not leave it unhandled
        ahead.push(pending);
        requested += batch;
      }
    };
    request();
    for (let from = first; ahead.length > 0; from += batch) {
      const chunks = await (ahead.shift() as Promise<Buffer[]>);
      request();
      for (let i = 0; i < chunks.length; i++) {
        const offset = (from + i) * chunkSize;
        const data = chunks[i] as Buffer;
        yield data.subarray(Math.max(start - offset, 0), Math.min(end - offset, data.length));
      }
    }
  }

  return Readable.from(generate(), { objectMode: false, highWaterMark: chunkSize, ...(span.signal && { signal: span.signal }) });
}
