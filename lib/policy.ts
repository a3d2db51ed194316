import type { Identity } from './auth.js';
import type { Digest } from './digest.js';
import type { RegistryRequest } from './http.js';

/** Who makes a change and through which request (absent for the collector and other host jobs). */
export interface Actor {
  identity?: Identity;
  req?: RegistryRequest;
}

/** A manifest about to become visible, and the tags about to point at it. */
export interface ManifestPush extends Actor {
  repository: string;
  digest: Digest;
  mediaType: string;
  artifactType?: string;
  size: number;
  subject?: Digest;
  annotations?: Record<string, string>;
  /** Configs, layers and child manifests it references. */
  references: readonly Digest[];
  /** Each tag the push moves, with what it points at now (`undefined` for a new tag). */
  tags: readonly { tag: string; current: Digest | undefined }[];
}

/**
 * Bytes about to be stored in a repository: when an upload starts, whenever a request declares how
 * much it will add (`final: false`, `size` = the upload's size after it), and when the blob is about
 * to become visible (`final: true`, the exact size).
 */
export interface BlobPush extends Actor {
  repository: string;
  /** Known when the client named it (a single POST, the closing PUT) or for a mount. */
  digest?: Digest;
  size: number;
  final: boolean;
  /** The repository a mount takes the blob from. */
  mountedFrom?: string;
}

/** A tag, manifest or blob about to be deleted (by a client or by the collector). */
export interface Deletion extends Actor {
  repository: string;
  kind: 'tag' | 'manifest' | 'blob';
  tag?: string;
  digest?: Digest;
}

/** A refusal: the message is for the user; the code and status default to `DENIED` (403). */
export interface Veto {
  deny: string;
  code?: 'DENIED' | 'SIZE_INVALID' | 'MANIFEST_INVALID' | 'TOOMANYREQUESTS' | 'UNSUPPORTED' | 'NAME_INVALID';
  status?: number;
}

/** A hook's answer: `undefined` (or nothing) allows, a {@link Veto} refuses. */
export type Verdict = Veto | undefined;

/**
 * Policy hooks, asked before a change becomes visible; each may veto it. They are async, get the
 * caller's identity, and see changes made through the API, the portal and the collector alike.
 *
 *     policy: {
 *       manifestPush: ({ tags }) => tags.some((t) => t.tag.startsWith('v') && t.current) ? { deny: 'release tags are immutable' } : undefined,
 *     }
 */
export interface Policy {
  manifestPush?(change: ManifestPush): Verdict | Promise<Verdict>;
  blobPush?(change: BlobPush): Verdict | Promise<Verdict>;
  delete?(change: Deletion): Verdict | Promise<Verdict>;
}

/** Several policies as one: the first veto wins. */
export function policies(...list: readonly Policy[]): Policy {
  const first = async (verdicts: (() => Verdict | Promise<Verdict>)[]): Promise<Verdict> => {
    for (const next of verdicts) {
      const verdict = await next();
      if (verdict) return verdict;
    }
    return undefined;
  };
  return {
    manifestPush: (change) => first(list.map((p) => () => p.manifestPush?.(change))),
    blobPush: (change) => first(list.map((p) => () => p.blobPush?.(change))),
    delete: (change) => first(list.map((p) => () => p.delete?.(change))),
  };
}
