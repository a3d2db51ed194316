import { createHash } from 'node:crypto';

/** `algorithm:encoded`, already validated by {@link parseDigest}. */
export type Digest = `${string}:${string}`;

export type Algorithm = 'sha256' | 'sha512';

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const ENCODED: Record<Algorithm, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export type ParsedDigest =
  | { ok: true; digest: Digest; algorithm: Algorithm; hex: string }
  | { ok: false; reason: 'malformed' | 'unsupported' };

/**
 * Checks a digest against the image-spec grammar and the algorithms berth can compute.
 * A grammatical digest of another algorithm is `unsupported` (spec main: answer 400).
 */
export function parseDigest(value: string): ParsedDigest {
  if (!DIGEST.test(value)) return { ok: false, reason: 'malformed' };
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return { ok: false, reason: 'unsupported' };
  if (!ENCODED[algorithm].test(hex)) return { ok: false, reason: 'malformed' };
  return { ok: true, digest: value as Digest, algorithm, hex };
}

/** True for any string that looks like a digest reference (a tag can never contain `:`). */
export function looksLikeDigest(reference: string): boolean {
  return reference.includes(':');
}

export function digestOf(algorithm: Algorithm, data: Uint8Array): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export function algorithmOf(digest: Digest): Algorithm {
  return digest.slice(0, digest.indexOf(':')) as Algorithm;
}

