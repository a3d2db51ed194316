import type { Digest } from './digest.js';
import { RegistryError } from './errors.js';
import type { NewEvent, RegistryEvents } from './events.js';
import { Integrity, unknownReferences } from './integrity.js';
import { who } from './request-id.js';
import type { Logger } from './logger.js';
import type { Actor, BlobPush, Deletion, ManifestPush, Policy, Verdict } from './policy.js';
import type { NewManifest, Storage } from './storage/types.js';

/** The most bytes a repository may hold, or `undefined` for no limit. */
export type Quota = (repository: string) => number | undefined | Promise<number | undefined>;

/** A push retries this often when deletes of the same manifest keep racing it. */
const ATTEMPTS = 3;

/**
 * The one way content of a repository changes, whoever asks (the API, the portal, the collector,
 * a mirror): policy hooks may veto first, the integrity rules keep references whole, usage is kept
 * up to date, and events go out once the change is durable.
 */
export class Changes {
  readonly #storage: Storage;
  readonly #events: RegistryEvents;
  readonly #policy: Policy;
  readonly #logger: Logger;
  readonly #quota: Quota | undefined;
  readonly integrity: Integrity;

  constructor(storage: Storage, events: RegistryEvents, policy: Policy, logger: Logger, quota?: Quota) {
    this.#storage = storage;
    this.#events = events;
    this.#policy = policy;
    this.#logger = logger;
    this.#quota = quota;
    this.integrity = new Integrity(storage);
  }

  /**
   * Stores a manifest (its references must be in the repository) and points `tags` at it. Resolves
   * whether the manifest is new.
   */
  async pushManifest(repository: string, record: NewManifest, parts: { blobs: readonly Digest[]; children: readonly Digest[] }, tags: readonly string[], actor: Actor = {}): Promise<{ created: boolean }> {
    const { manifests, tags: tagStore } = this.#storage;
    const { digest } = record;
    await this.integrity.requireReferences(repository, parts.blobs, parts.children);
    const current = await Promise.all(tags.map(async (tag) => ({ tag, current: await tagStore.get(repository, tag) })));
    const change: ManifestPush = {
      ...actor,
      repository,
      digest,
      mediaType: record.mediaType,
      size: record.size,
      references: record.references,
      tags: current,
      ...(record.artifactType !== undefined && { artifactType: record.artifactType }),
      ...(record.subject !== undefined && { subject: record.subject }),
      ...(record.annotations !== undefined && { annotations: record.annotations }),
    };
    veto(await this.#policy.manifestPush?.(change));

    let created = false;
    const previous = new Map<string, Digest | undefined>();
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await this.integrity.requireReferences(repository, parts.blobs, parts.children);
      const fresh = await manifests.put(repository, record);
      created ||= fresh;
      // a blob or child deleted while this manifest was written: undo it rather than leave it dangling
      const missing = await this.integrity.missing(repository, parts.blobs, parts.children);
      if (missing.length > 0) {
        if (fresh) await manifests.delete(repository, digest);
        throw unknownReferences(missing);
      }
      if (fresh && !(await this.#charge(repository, record.size))) {
        await manifests.delete(repository, digest);
        throw await this.#overQuota(repository, record.size);
      }
      for (const tag of tags) {
        const before = await tagStore.put(repository, tag, digest);
        if (!previous.has(tag)) previous.set(tag, before);
      }
      // a delete of this manifest ran meanwhile: its tags must not point at nothing, so take them back and write again
      if (tags.length === 0 || (await manifests.stat(repository, digest))) break;
      for (const tag of tags) await tagStore.delete(repository, tag, digest);
      if (attempt === ATTEMPTS) throw new RegistryError('MANIFEST_UNKNOWN', 'the manifest was deleted while it was being tagged; push it again', { status: 409, detail: { digest } });
    }

    const caller = who(actor);
    this.#emit({
      type: 'manifest.pushed',
      repository,
      digest,
      mediaType: record.mediaType,
      size: record.size,
      tags: [...tags],
      created,
      ...(record.artifactType !== undefined && { artifactType: record.artifactType }),
      ...(record.subject !== undefined && { subject: record.subject }),
      ...caller,
    });
    for (const tag of tags) {
      const before = previous.get(tag);
      if (before !== digest) this.#emit({ type: 'tag.pushed', repository, tag, digest, ...(before !== undefined && { previous: before }), ...caller });
    }
    return { created };
  }

  /** Deletes a tag (only the tag). */
  async deleteTag(repository: string, tag: string, actor: Actor = {}, expected?: Digest): Promise<Digest> {
    const digest = await this.#storage.tags.get(repository, tag);
    if (digest === undefined || (expected !== undefined && digest !== expected)) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference: tag } });
    veto(await this.#policy.delete?.({ ...actor, repository, kind: 'tag', tag, digest }));
    const removed = await this.#storage.tags.delete(repository, tag, digest);
    if (removed === undefined) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference: tag } });
    this.#emit({ type: 'tag.deleted', repository, tag, digest: removed, ...who(actor) });
    return removed;
  }

  /** Deletes a manifest and the tags pointing at it; refuses (409) while a manifest of the repository references it. */
  async deleteManifest(repository: string, digest: Digest, actor: Actor = {}): Promise<void> {
    veto(await this.#policy.delete?.({ ...actor, repository, kind: 'manifest', digest }));
    // its tags go with it: each is asked about too, so a protected tag cannot vanish this way
    if (this.#policy.delete) {
      for (const tag of await this.#storage.tags.find(repository, digest)) veto(await this.#policy.delete({ ...actor, repository, kind: 'tag', tag, digest }));
    }
    const outcome = await this.integrity.deleteManifest(repository, digest);
    if (!outcome) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference: digest } });
    if ('inUseBy' in outcome) throw this.integrity.inUse('manifest', digest, outcome.inUseBy);
    await this.#addUsage(repository, -outcome.deleted.size);
    this.#emit({
      type: 'manifest.deleted',
      repository,
      digest,
      mediaType: outcome.deleted.mediaType,
      tags: outcome.deleted.tags,
      ...who(actor),
    });
  }

  /**
   * Asks the policy whether these bytes may be stored (an upload growing, or about to become a blob),
   * and refuses early when they cannot fit the repository's quota (the exact check is at the link).
   */
  async admitBlob(change: BlobPush): Promise<void> {
    veto(await this.#policy.blobPush?.(change));
    const limit = await this.#quota?.(change.repository);
    if (limit === undefined || change.size === 0) return;
    if (change.final && change.digest !== undefined && (await this.#storage.links.has(change.repository, change.digest))) return;
    const used = (await this.#storage.repositories.usage(change.repository))?.bytes ?? 0;
    if (used + change.size > limit) throw await this.#overQuota(change.repository, change.size, used, limit);
  }

  /**
   * Links a stored blob into the repository, then checks it is still there: a collector deletes only
   * blobs no repository links, so if it removed this one between the commit (or a mount's source
   * check) and the link, the link is taken back and the client asked to push again.
   */
  async linkBlob(repository: string, digest: Digest, actor: Actor = {}, mountedFrom?: string): Promise<void> {
    const { links, blobs } = this.#storage;
    const fresh = await links.add(repository, digest);
    const blob = await blobs.stat(digest);
    if (!blob) {
      await links.delete(repository, digest);
      throw new RegistryError('UNAVAILABLE', 'the blob was collected while it was being linked; push it again', { headers: { 'Retry-After': '1' } });
    }
    if (fresh && !(await this.#charge(repository, blob.size))) {
      await links.delete(repository, digest);
      throw await this.#overQuota(repository, blob.size);
    }
    this.#emit({
      type: 'blob.pushed',
      repository,
      digest,
      size: blob.size,
      ...(mountedFrom !== undefined && { mountedFrom }),
      ...who(actor),
    });
  }

  /** Unlinks a blob from the repository; refuses (409) while a manifest of the repository references it. */
  async unlinkBlob(repository: string, digest: Digest, actor: Actor = {}): Promise<void> {
    veto(await this.#policy.delete?.({ ...actor, repository, kind: 'blob', digest } satisfies Deletion));
    const size = (await this.#storage.blobs.stat(digest))?.size ?? 0;
    const outcome = await this.integrity.unlinkBlob(repository, digest);
    if (!outcome) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
    if ('inUseBy' in outcome) throw this.integrity.inUse('blob', digest, outcome.inUseBy);
    await this.#addUsage(repository, -size);
    this.#emit({ type: 'blob.deleted', repository, digest, ...who(actor) });
  }

  /**
   * Adds bytes to the repository's usage, then compares the total the store answers with the
   * quota: adding first makes the check exact however many pushes race. Over the quota, the bytes
   * are taken back and `false` says the change must be undone.
   */
  async #charge(repository: string, bytes: number): Promise<boolean> {
    const limit = await this.#quota?.(repository);
    if (limit === undefined) {
      await this.#addUsage(repository, bytes);
      return true;
    }
    const after = await this.#storage.repositories.addUsage(repository, bytes);
    if (after === undefined || after.bytes <= limit) return true;
    await this.#addUsage(repository, -bytes);
    return false;
  }

  async #overQuota(repository: string, bytes: number, used?: number, limit?: number): Promise<RegistryError> {
    const max = limit ?? (await this.#quota?.(repository)) ?? 0;
    const now = used ?? (await this.#storage.repositories.usage(repository))?.bytes ?? 0;
    return new RegistryError('DENIED', `the quota of repository ${repository} is ${max} bytes; it holds ${now}, and this push needs ${bytes} more`, {
      detail: { repository, quota: max, usage: now, needed: bytes },
    });
  }

  /** Usage follows every change; it is an index (the collector corrects drift), so a failure here is logged, not answered. */
  async #addUsage(repository: string, delta: number): Promise<void> {
    if (delta === 0) return;
    await this.#storage.repositories.addUsage(repository, delta).catch((err: unknown) => this.#logger.warn({ err, repository, delta }, 'updating usage failed'));
  }

  #emit(event: NewEvent): void {
    this.#events.emit(event);
  }
}

function veto(verdict: Verdict): void {
  if (!verdict) return;
  throw new RegistryError(verdict.code ?? 'DENIED', verdict.deny, verdict.status !== undefined ? { status: verdict.status } : {});
}
