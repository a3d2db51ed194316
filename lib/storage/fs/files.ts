import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';

/**
 * A callback of node:fs as a promise. The hot paths use the callback API: it makes no FileHandle
 * and fewer promises than node:fs/promises, and a small push does dozens of these.
 */
function call<T = void>(fn: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    fn((err, value) => {
      if (err) reject(err);
      else resolve(value as T);
    });
  });
}

const openFd = (path: string, flags: string) => call<number>((done) => fs.open(path, flags, 0o644, done));
const closeFd = (fd: number) => call((done) => fs.close(fd, done));
const rename = (from: string, to: string) => call((done) => fs.rename(from, to, done));
const unlink = (path: string) => call((done) => fs.unlink(path, done));
const link = (from: string, to: string) => call((done) => fs.link(from, to, done));

async function writeAll(fd: number, data: string | Uint8Array): Promise<void> {
  let bytes = typeof data === 'string' ? Buffer.from(data) : data;
  while (bytes.length > 0) {
    const written = await call<number>((done) => fs.write(fd, bytes, 0, bytes.length, null, done));
    bytes = bytes.subarray(written);
  }
}

/**
 * File primitives of the fs store. Every file appears by `rename` from a staging directory on the
 * same file system, so readers see whole files or none.
 */
export class Files {
  readonly #tmp: string;
  readonly #fsync: boolean;

  constructor(tmp: string, fsync: boolean) {
    this.#tmp = tmp;
    this.#fsync = fsync;
  }

  /** A fresh staging path. */
  staging(): string {
    return join(this.#tmp, randomUUID());
  }

  /**
   * Writes a whole file so that it appears at once. With fsync on, its bytes reach the disk before
   * the rename and the rename itself before the promise resolves, so a crash leaves the old file or
   * the new one, never an empty one. `durable: false` skips both syncs (a record that can be rebuilt);
   * `syncEntry: false` syncs the bytes but leaves the rename to a later directory sync (see {@link mark}).
   */
  async writeAtomic(path: string, data: string | Uint8Array, options: { durable?: boolean; syncEntry?: boolean } = {}): Promise<void> {
    const durable = options.durable ?? this.#fsync;
    await this.place(await this.#stage(data, durable), path, durable && options.syncEntry !== false);
  }

  /**
   * Like {@link writeAtomic}, but only when `path` does not exist yet: `link()` fails on an existing
   * file, so of two concurrent writers exactly one creates it. Resolves `true` for that one.
   */
  async create(path: string, data: string | Uint8Array): Promise<boolean> {
    const tmp = await this.#stage(data);
    try {
      await link(tmp, path).catch(async (err: unknown) => {
        if (!isMissing(err)) throw err;
        await mkdir(dirname(path), { recursive: true });
        await link(tmp, path);
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    if (this.#fsync) await syncDirectory(dirname(path));
    return true;
  }

  /** Writes `data` to a new staging file (durably with fsync on) and returns its path. */
  async #stage(data: string | Uint8Array, durable = this.#fsync): Promise<string> {
    const tmp = this.staging();
    const fd = await openFd(tmp, 'w').catch(async (err: unknown) => {
      if (!isMissing(err)) throw err;
      await mkdir(this.#tmp, { recursive: true });
      return openFd(tmp, 'w');
    });
    try {
      await writeAll(fd, data);
      if (durable) await call((done) => fs.fdatasync(fd, done));
    } catch (err) {
      // a full disk or a failing device: leave no staging file behind
      await closeFd(fd).catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await closeFd(fd);
    return tmp;
  }

  /** Renames a finished staging file into place, creating its directory, and makes the rename durable. */
  async place(tmp: string, path: string, durable = this.#fsync): Promise<void> {
    try {
      await rename(tmp, path);
    } catch (err) {
      if (!isMissing(err)) {
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
      await mkdir(dirname(path), { recursive: true });
      await rename(tmp, path);
    }
    if (durable) await syncDirectory(dirname(path));
  }

  /**
   * Creates an empty index entry (idempotent) without syncing it: callers sync a record written after
   * it, and journaling file systems (ext4, xfs) commit the entry's creation no later than that.
   */
  async mark(path: string): Promise<void> {
    try {
      await closeFd(await openFd(path, 'wx'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      if (!isMissing(err)) throw err;
      await mkdir(dirname(path), { recursive: true });
      await closeFd(await openFd(path, 'a'));
    }
  }

  /** Creates an empty marker file (idempotent); resolves `true` when it is new. */
  async touch(path: string): Promise<boolean> {
    const create = async () => closeFd(await openFd(path, 'wx'));
    try {
      await create();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (!isMissing(err)) throw err;
      await mkdir(dirname(path), { recursive: true });
      try {
        await create();
      } catch (again) {
        if ((again as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw again;
      }
    }
    if (this.#fsync) await syncDirectory(dirname(path));
    return true;
  }

  /** Makes what a file holds durable (fsync on), before it is renamed into place. */
  async syncFile(path: string): Promise<void> {
    if (!this.#fsync) return;
    const fd = await openFd(path, 'r');
    try {
      await call((done) => fs.fdatasync(fd, done));
    } finally {
      await closeFd(fd);
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const fd = await openFd(dir, 'r');
  try {
    await call((done) => fs.fsync(fd, done));
  } finally {
    await closeFd(fd);
  }
}

export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await call<Buffer>((done) => fs.readFile(path, done));
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

export { unlink };

export async function removeIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await call((done) => fs.stat(path, (err) => done(err)));
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/** Directory entries, or none when the directory does not exist. */
export async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/** Bytes gathered before one `writev`: a network read is 16-64 KiB, and each write is a thread-pool round trip. */
const BATCH = 1024 * 1024;

/**
 * Writes a stream into a file from `start`, gathering what arrives into batches of about 1 MiB
 * written with one `writev` each (the chunks themselves, not copies), instead of one write per
 * network read. `flags` as for `open` (`'r+'` continues an upload, `'wx'` creates a file). With
 * `sync`, the data reaches the disk before the stream finishes.
 */
export class BatchWriter extends Writable {
  /** Bytes written to the file so far. */
  bytesWritten = 0;
  readonly #path: string;
  readonly #flags: string;
  readonly #sync: boolean;
  #fd = -1;
  #position: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(path: string, options: { start?: number; flags: string; sync?: boolean }) {
    super({ highWaterMark: BATCH });
    this.#path = path;
    this.#flags = options.flags;
    this.#sync = options.sync ?? false;
    this.#position = options.start ?? 0;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    fs.open(this.#path, this.#flags, 0o644, (err, fd) => {
      if (err) return callback(err);
      this.#fd = fd;
      callback();
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes >= BATCH) this.#flush(callback);
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#flush((err) => {
      if (err || !this.#sync) return callback(err);
      fs.fdatasync(this.#fd, (syncErr) => callback(syncErr));
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#pending = [];
    if (this.#fd < 0) return callback(error);
    const fd = this.#fd;
    this.#fd = -1;
    fs.close(fd, (err) => callback(error ?? err));
  }

  #flush(callback: (error?: Error | null) => void): void {
    const chunks = this.#pending;
    if (chunks.length === 0) return callback();
    this.#pending = [];
    this.#pendingBytes = 0;
    const write = (parts: Buffer[]): void => {
      fs.writev(this.#fd, parts, this.#position, (err, written) => {
        if (err) return callback(err);
        this.#position += written;
        this.bytesWritten += written;
        // a short write (rare on regular files): write the rest
        let rest = written;
        while (parts.length > 0 && rest >= (parts[0] as Buffer).length) rest -= (parts.shift() as Buffer).length;
        if (parts.length === 0) return callback();
        parts[0] = (parts[0] as Buffer).subarray(rest);
        write(parts);
      });
    };
    write(chunks);
  }
}
