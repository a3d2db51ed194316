import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';
import type { Actor } from './policy.js';
import type { ByteRange } from './storage/types.js';

/** A pull the registry cannot (or may not yet) answer from its store alone. */
export interface PullRequest extends Actor {
  repository: string;
  /** containerd's `ns` query parameter when it uses the registry as a mirror (`ns=docker.io`). */
  ns?: string;
  signal: AbortSignal;
}

/**
 * Where pulls fall through to, for a pull-through cache or mirror: the registry asks it before it
 * reads a manifest (so a tag can be revalidated and a miss fetched into the store) and when a blob
 * is not in the store. Pulls are authorized as usual first; pushes never reach it.
 */
export interface PullThrough {
  /**
   * Called before a manifest GET or HEAD reads the store: may fetch or refresh `reference` (a tag or
   * a digest) into the store. Upstream failures are its own to handle: resolve, and the registry
   * serves what the store has (or 404).
   */
  manifest(request: PullRequest & { reference: string }): Promise<void>;
  /**
   * Called when a blob GET or HEAD finds nothing in the store: its size and a way to read it (the
   * whole blob, or a range; typically streamed from upstream and into the store at once), or
   * `undefined` when upstream does not have it either.
   */
  blob(request: PullRequest & { digest: Digest }): Promise<{ size: number; open(range?: ByteRange): Promise<Readable> } | undefined>;
}
