/** Content the load generator sends: made once per run, deterministic where it can be. */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export interface BlobFile {
  path: string;
  size: number;
  digest: string;
}

/** A file of random bytes and its digest. */
export async function randomFile(dir: string, name: string, size: number): Promise<BlobFile> {
  const path = join(dir, name);
  const handle = await open(path, 'w');
  const hash = createHash('sha256');
  const piece = Buffer.allocUnsafe(8 * MiB);
  try {
    for (let at = 0; at < size; at += piece.length) {
      const n = Math.min(piece.length, size - at);
      randomFillSync(piece, 0, n);
      hash.update(piece.subarray(0, n));
      await handle.write(piece, 0, n);
    }
  } finally {
    await handle.close();
  }
  return { path, size, digest: `sha256:${hash.digest('hex')}` };
}

export const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Blob `k` of a set of generated blobs of `mib` MiB: 1 MiB of seed, each copy stamped with (k, i). */
export class Generated {
  readonly #seed = randomBytes(MiB);
  readonly digests: string[] = [];
  readonly mib: number;

  constructor(count: number, mib: number) {
    this.mib = mib;
    for (let k = 0; k < count; k++) {
      const hash = createHash('sha256');
      for (const piece of this.pieces(k)) hash.update(piece);
      this.digests.push(`sha256:${hash.digest('hex')}`);
    }
  }

  *pieces(k: number): Generator<Buffer> {
    for (let i = 0; i < this.mib; i++) {
      const piece = Buffer.from(this.#seed);
      piece.writeUInt32BE(k, 0);
      piece.writeUInt32BE(i, 4);
      yield piece;
    }
  }
}

/** `count` distinct small blobs with their digests. */
export function smallBlobs(count: number, size: number): { data: Buffer; digest: string }[] {
  return Array.from({ length: count }, () => {
    const data = randomBytes(size);
    return { data, digest: sha256(data) };
  });
}

/** A small PRNG (mulberry32), so every target reads the same "random" ranges. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
