import { randomUUID } from 'node:crypto';
import { type FileHandle, mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

const CHUNK = 64 * 1024;

/**
 * A blob on its way from upstream: written once, in order, to a temporary file, and read meanwhile
 * by any number of readers (the clients that asked, the store) each at its own pace and from its
 * own offset, so a slow client holds up neither upstream nor the others, and memory stays bounded.
 * A reader never gets the blob's last byte before the writer declared the bytes complete (verified),
 * so a client can only ever receive a whole blob that is the right one, or a cut transfer.
 */
export class Spool {
  readonly size: number;
  readonly #handle: FileHandle;
  readonly #path: string;
  #unlinked: boolean;
  #written = 0;
  #state: 'writing' | 'complete' | 'failed' = 'writing';
  #error: Error | undefined;
  #waiters: (() => void)[] = [];
  #readers = 0;
  /** Held by the fetch until the store has the blob: until then new readers may join. */
  #held = true;
  #closed = false;

  private constructor(size: number, handle: FileHandle, path: string, unlinked: boolean) {
    this.size = size;
    this.#handle = handle;
    this.#path = path;
    this.#unlinked = unlinked;
  }

  /** A new spool file in `dir`; on POSIX it is unlinked at once, so a crash leaves nothing behind. */
  static async create(dir: string, size: number): Promise<Spool> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${randomUUID()}.part`);
    const handle = await open(path, 'w+');
    const unlinked = await unlink(path).then(
      () => true,
      () => false, // Windows: removed when closed
    );
    return new Spool(size, handle, path, unlinked);
  }

  get failed(): boolean {
    return this.#state === 'failed';
  }

  /** Appends the next bytes (the writer awaits each write: that is its back-pressure). */
  async write(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.#handle.write(chunk, offset, chunk.length - offset, this.#written);
      offset += bytesWritten;
      this.#written += bytesWritten;
    }
    this.#notify();
  }

  /** Every byte is written and verified: readers may finish. */
  complete(): void {
    if (this.#state !== 'writing') return;
    this.#state = 'complete';
    this.#notify();
    this.#maybeClose();
  }

  /** The transfer failed: every reader fails, now or when it catches up. */
  fail(error: Error): void {
    if (this.#state !== 'writing') return;
    this.#state = 'failed';
    this.#error = error;
    this.#notify();
    this.#maybeClose();
  }

  /** No new readers from now on; the file goes when the last reader is done. */
  release(): void {
    this.#held = false;
    this.#maybeClose();
  }

  /** Bytes `start` to `end` (exclusive), or `undefined` once the spool is closed (read the store instead). */
  reader(start: number, end: number): Readable | undefined {
    if (this.#closed || this.#state === 'failed') return undefined;
    this.#readers++;
    let position = start;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#readers--;
      this.#maybeClose();
    };
    const pump = async (stream: Readable): Promise<void> => {
      for (;;) {
        if (stream.destroyed) return;
        if (position >= end) {
          stream.push(null);
          return;
        }
        const available = this.#state === 'complete' ? this.size : Math.min(this.#written, this.size - 1);
        if (position < available) {
          const length = Math.min(CHUNK, available - position, end - position);
          const buffer = Buffer.allocUnsafe(length);
          const { bytesRead } = await this.#handle.read(buffer, 0, length, position);
          if (gone(stream)) return;
          if (bytesRead === 0) throw new Error('the spool file is shorter than what was written to it');
          position += bytesRead;
          stream.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
          return;
        }
        if (this.#state === 'failed') {
          stream.destroy(this.#error);
          return;
        }
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    };
    return new Readable({
      highWaterMark: CHUNK,
      read() {
        pump(this).catch((err: unknown) => this.destroy(err as Error));
      },
      destroy(err, callback) {
        release();
        callback(err);
      },
    });
  }

  #notify(): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const wake of waiting) wake();
  }

  #maybeClose(): void {
    if (this.#closed || this.#held || this.#readers > 0 || this.#state === 'writing') return;
    this.#closed = true;
    void this.#handle.close().then(
      () => (this.#unlinked ? undefined : unlink(this.#path)),
      () => undefined,
    ).catch(() => undefined);
    this.#unlinked = true;
  }
}

/** Whether a stream was destroyed meanwhile (a function, so the check is not narrowed away across an await). */
function gone(stream: Readable): boolean {
  return stream.destroyed;
}
