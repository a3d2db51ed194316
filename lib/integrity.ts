import { eachLimited } from './concurrency.js';
import type { Digest } from './digest.js';
import { RegistryError, RegistryErrors } from './errors.js';
import type { Storage } from './storage/types.js';

/** Reference checks of one request in flight at once. */
const CHECKS_IN_FLIGHT = 16;
/** Missing references reported in one answer: a push of 30,000 missing layers names the first ones. */
export const MAX_REPORTED = 100;

/**
 * What keeps a repository whole while clients push and delete at once, on any store and with
 * any number of instances, without transactions. Every writer that adds a reference writes it
 * first and then checks that its target still exists (undoing itself if not); every deleter removes
 * its target first and then checks that nothing references it (restoring it if something does).
 * Whatever the interleaving, one of the two sees the other, so no tag points at a missing manifest
 * and no manifest at a missing blob or child.
 */
export class Integrity {
  readonly #storage: Storage;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /**
   * The configs, layers and child manifests of a push that are not in the repository: each
   * distinct digest looked up once (a stat, never a read), a few at a time, at most MAX_REPORTED.
   */
  async missing(name: string, blobs: readonly Digest[], children: readonly Digest[]): Promise<Digest[]> {
    const { links, manifests } = this.#storage;
    const wanted = [...new Set(blobs)].map((digest) => ({ digest, exists: () => links.has(name, digest) }));
    for (const digest of new Set(children)) wanted.push({ digest, exists: async () => (await manifests.stat(name, digest)) !== undefined });
    const missing: Digest[] = [];
    await eachLimited(wanted, CHECKS_IN_FLIGHT, async ({ digest, exists }) => {
      if (!(await exists())) missing.push(digest);
      return missing.length < MAX_REPORTED;
    });
    return missing.slice(0, MAX_REPORTED);
  }

  /** Throws one MANIFEST_BLOB_UNKNOWN per missing reference. */
  async requireReferences(name: string, blobs: readonly Digest[], children: readonly Digest[]): Promise<void> {
    const missing = await this.missing(name, blobs, children);
    if (missing.length > 0) throw unknownReferences(missing);
  }

  /**
   * A manifest of the repository that still references `digest`, if any. The store's index may
   * name manifests a crash left unwritten or a delete is removing, so each is checked.
   */
  async dependent(name: string, digest: Digest): Promise<Digest | undefined> {
    const { manifests } = this.#storage;
    let last: Digest | undefined;
    for (;;) {
      const page = await manifests.dependents(name, digest, { n: 100, ...(last !== undefined && { last }) });
      for (const candidate of page) {
        if (await manifests.stat(name, candidate)) return candidate;
      }
      if (page.length < 100) return undefined;
      last = page[page.length - 1];
    }
  }

  /**
   * Deletes a manifest unless a manifest of the repository still references it (then `inUseBy`
   * names one), and then the tags that pointed at it. The manifest goes first and is put back if an
   * index that needs it arrived meanwhile; a tag pushed meanwhile sees it gone and takes itself back.
   * A record the store cannot read any more (damaged) is deleted too: nothing can be served from it.
   */
  async deleteManifest(name: string, digest: Digest): Promise<{ deleted: { mediaType: string; size: number; tags: string[] } } | { inUseBy: Digest } | undefined> {
    const { manifests, tags } = this.#storage;
    const manifest = await manifests.get(name, digest).catch(() => null);
    if (manifest === undefined) return undefined;
    const user = await this.dependent(name, digest);
    if (user !== undefined) return { inUseBy: user };
    const removed = await manifests.delete(name, digest);
    if (!removed) return undefined;
    const late = manifest ? await this.dependent(name, digest) : undefined;
    if (manifest && late !== undefined) {
      const { createdAt: _createdAt, ...record } = manifest;
      await manifests.put(name, record);
      return { inUseBy: late };
    }
    // spec: deleting by digest removes every tag pointing at it too (only while they still do)
    const removedTags: string[] = [];
    for (const tag of await tags.find(name, digest)) if ((await tags.delete(name, tag, digest)) !== undefined) removedTags.push(tag);
    return { deleted: { mediaType: removed.mediaType, size: removed.size, tags: removedTags } };
  }

  /**
   * Unlinks a blob from the repository unless a manifest of the repository still references it
   * (then `inUseBy` names one); a manifest that arrives meanwhile gets the link back.
   */
  async unlinkBlob(name: string, digest: Digest): Promise<{ unlinked: true } | { inUseBy: Digest } | undefined> {
    const { links } = this.#storage;
    const user = await this.dependent(name, digest);
    if (user !== undefined) return { inUseBy: user };
    if (!(await links.delete(name, digest))) return undefined;
    const late = await this.dependent(name, digest);
    if (late !== undefined) {
      await links.add(name, digest);
      return { inUseBy: late };
    }
    return { unlinked: true };
  }

  /** Refuses to delete what a manifest of the repository still references. */
  inUse(what: string, digest: Digest, by: Digest): RegistryError {
    return new RegistryError('DENIED', `${what} ${digest} is still referenced by manifest ${by} in this repository; delete that manifest first`, {
      status: 409,
      detail: { digest, referencedBy: by },
    });
  }
}

/** One MANIFEST_BLOB_UNKNOWN per missing reference, in one answer. */
export function unknownReferences(missing: readonly Digest[]): RegistryErrors {
  return new RegistryErrors(missing.map((digest) => new RegistryError('MANIFEST_BLOB_UNKNOWN', undefined, { detail: { digest } })));
}
