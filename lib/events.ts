import { randomUUID } from 'node:crypto';
import type { Identity } from './auth.js';
import type { Digest } from './digest.js';
import type { Logger } from './logger.js';

/** What every repository event carries. */
interface EventBase {
  /** Unique per event: receivers de-duplicate at-least-once deliveries with it. */
  id: string;
  time: Date;
  repository: string;
  /** The caller, as the authorize hook established it; absent for an anonymous one. */
  identity?: Identity;
  /** The request that made the change (as in access lines and `X-Request-Id`); absent for host jobs such as the collector. */
  requestId?: string;
}

/** A manifest became visible in a repository, by tag or by digest (`tags` may be empty). */
export interface ManifestPushed extends EventBase {
  type: 'manifest.pushed';
  digest: Digest;
  mediaType: string;
  artifactType?: string;
  size: number;
  subject?: Digest;
  tags: string[];
  /** False when the same manifest was already stored (a re-push, possibly moving tags). */
  created: boolean;
}

/** A tag now points at `digest` (a push by tag, `?tag=`, or a retag); `previous` is what it pointed at. */
export interface TagPushed extends EventBase {
  type: 'tag.pushed';
  tag: string;
  digest: Digest;
  previous?: Digest;
}

export interface ManifestDeleted extends EventBase {
  type: 'manifest.deleted';
  digest: Digest;
  mediaType: string;
  /** The tags that pointed at it and went with it. */
  tags: string[];
}

export interface TagDeleted extends EventBase {
  type: 'tag.deleted';
  tag: string;
  digest: Digest;
}

/** A blob became visible in a repository: uploaded (`mountedFrom` absent) or mounted. */
export interface BlobPushed extends EventBase {
  type: 'blob.pushed';
  digest: Digest;
  size: number;
  mountedFrom?: string;
}

export interface BlobDeleted extends EventBase {
  type: 'blob.deleted';
  digest: Digest;
}

export interface UploadStarted extends EventBase {
  type: 'upload.started';
  upload: string;
}

/** A manifest or blob was served (GET, not HEAD). */
export interface ContentPulled extends EventBase {
  type: 'manifest.pulled' | 'blob.pulled';
  digest: Digest;
  /** The tag the manifest was pulled by. */
  tag?: string;
  size: number;
}

/** What a garbage-collection run did (or, dry, would do): its counts. */
export interface CollectionSummary {
  dryRun: boolean;
  startedAt: Date;
  durationMs: number;
  /** Set when another instance held the lease: nothing was done. */
  skipped?: string;
  repositories: number;
  tagsDeleted: number;
  manifestsDeleted: number;
  linksRemoved: number;
  blobsDeleted: number;
  bytesReclaimed: number;
  uploadsExpired: number;
  /** Repositories whose usage had drifted (a crash between a change and its accounting) and was set right. */
  usageCorrected: number;
  /** Operations that failed (logged); the run went on. */
  errors: number;
}

/** A garbage-collection run finished (on this instance). */
export interface GcCompleted extends CollectionSummary {
  type: 'gc.completed';
  id: string;
  time: Date;
}

/** A registry request was answered (or its client went away): for metrics and access logs. */
export interface RequestCompleted {
  type: 'request.completed';
  id: string;
  time: Date;
  /** `X-Request-Id` as the client sent it (when it looks like an id), or one made up; echoed in the response. */
  requestId: string;
  method: string;
  /** The endpoint: ping, catalog, manifest, blob, upload, tags, referrers, or unknown. */
  route: string;
  /** 0 when the client went away before an answer. */
  status: number;
  /** The OCI error code of an error answer. */
  code?: string;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  repository?: string;
  identity?: Identity;
}

/** What happened in a repository: `'*'` listeners get every one of these. */
export type RegistryEvent = ManifestPushed | TagPushed | ManifestDeleted | TagDeleted | BlobPushed | BlobDeleted | UploadStarted | ContentPulled;
/** Every event, the registry-wide ones (`gc.completed`) included; those have no repository and only reach their own listeners. */
export type AnyEvent = RegistryEvent | GcCompleted | RequestCompleted;
export type EventType = AnyEvent['type'];
/** The event a listener of `T` gets (`manifest.pulled` and `blob.pulled` share one shape). */
export type EventOf<T extends EventType> = AnyEvent extends infer E ? (E extends AnyEvent ? (T extends E['type'] ? E : never) : never) : never;
export type Listener<E> = (event: E) => void | Promise<void>;

/** What a route hands over: the event without the fields every event gets. */
export type NewEvent = AnyEvent extends infer E ? (E extends AnyEvent ? Omit<E, 'id' | 'time'> : never) : never;

/** Events without a repository: they reach only their own listeners, never `'*'`. */
const REGISTRY_WIDE = new Set<EventType>(['gc.completed', 'request.completed']);

/**
 * The registry's typed events, emitted only once the change they describe is durable in the
 * store. Listeners run after the response is on its way, each on its own: a slow or failing
 * listener never slows or fails the request (failures go to the logger).
 *
 *     registry.events.on('manifest.pushed', (e) => index(e.repository, e.digest));
 *     registry.events.on('*', (e) => audit.write(e));
 */
export class RegistryEvents {
  readonly #listeners = new Map<EventType | '*', Set<Listener<never>>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  on<T extends EventType>(type: T, listener: Listener<EventOf<T>>): () => void;
  on(type: '*', listener: Listener<RegistryEvent>): () => void;
  on(type: EventType | '*', listener: Listener<never>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Whether anyone listens for `type`: routes skip building events nobody wants (pulls are hot paths). */
  wanted(type: EventType): boolean {
    return (this.#listeners.get(type)?.size ?? 0) > 0 || (!REGISTRY_WIDE.has(type) && (this.#listeners.get('*')?.size ?? 0) > 0);
  }

  emit(event: NewEvent): void {
    if (!this.wanted(event.type)) return;
    const full = { ...event, id: randomUUID(), time: new Date() } as AnyEvent;
    for (const set of [this.#listeners.get(full.type), REGISTRY_WIDE.has(full.type) ? undefined : this.#listeners.get('*')]) {
      for (const listener of set ?? []) {
        // the next turn, so the request's own work is never waiting on a listener
        setImmediate(() => {
          Promise.resolve()
            .then(() => (listener as Listener<AnyEvent>)(full))
            .catch((err: unknown) => this.#logger.error({ err, event: full.type, id: full.id }, 'an event listener failed'));
        });
      }
    }
  }
}
