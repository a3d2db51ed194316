import type { Identity } from '../auth.js';
import { type Digest, digestOf } from '../digest.js';
import type { NewEvent } from '../events.js';
import { parseManifest } from '../manifest.js';
import type { PortalContext } from './context.js';
import { PortalError } from './respond.js';

/**
 * Changes made from the pages, under the same rules as the registry's own routes (lib/routes/
 * manifests.ts, blobs.ts) and lib/integrity.ts: a writer adds its reference and then checks its
 * target still exists; a deleter removes its target and then checks nothing references it. Each
 * durable change is announced on `registry.events`, as the registry announces its own.
 */

const ATTEMPTS = 3;

function emit(ctx: PortalContext, event: NewEvent): void {
  ctx.options.registry.events.emit(event);
}

const who = (identity: Identity | undefined) => identity && { identity };

export async function deleteTag(ctx: PortalContext, repository: string, tag: string, identity?: Identity): Promise<void> {
  const removed = await ctx.storage.tags.delete(repository, tag);
  if (removed === undefined) throw new PortalError(404, 'NOT_FOUND', `There is no tag ${tag} in ${repository}.`);
  emit(ctx, { type: 'tag.deleted', repository, tag, digest: removed, ...who(identity) });
}

/** Deletes a manifest and the tags pointing at it, refusing while an index of the repository still needs it. */
export async function deleteManifest(ctx: PortalContext, repository: string, digest: Digest, identity?: Identity): Promise<string[]> {
  const { manifests, tags } = ctx.storage;
  const manifest = await manifests.get(repository, digest);
  if (!manifest) throw new PortalError(404, 'NOT_FOUND', `There is no manifest ${digest} in ${repository}.`);
  const inUse = (by: Digest) => new PortalError(409, 'IN_USE', `Manifest ${digest} is still referenced by manifest ${by} in this repository; delete that one first.`);
  const user = await ctx.integrity.dependent(repository, digest);
  if (user !== undefined) throw inUse(user);
  if (!(await manifests.delete(repository, digest))) throw new PortalError(404, 'NOT_FOUND', `There is no manifest ${digest} in ${repository}.`);
  const late = await ctx.integrity.dependent(repository, digest);
  if (late !== undefined) {
    const { createdAt: _createdAt, ...record } = manifest;
    await manifests.put(repository, record);
    throw inUse(late);
  }
  const removed: string[] = [];
  for (const tag of await tags.find(repository, digest)) if ((await tags.delete(repository, tag, digest)) !== undefined) removed.push(tag);
  emit(ctx, { type: 'manifest.deleted', repository, digest, mediaType: manifest.mediaType, tags: removed, ...who(identity) });
  return removed;
}

/** Points `tag` at an existing manifest, taking it back if the manifest was deleted meanwhile. */
export async function retag(ctx: PortalContext, repository: string, digest: Digest, tag: string, identity?: Identity): Promise<void> {
  const { manifests, tags } = ctx.storage;
  if (!(await manifests.stat(repository, digest))) throw new PortalError(404, 'NOT_FOUND', `There is no manifest ${digest} in ${repository}.`);
  const before = await tags.put(repository, tag, digest);
  if (!(await manifests.stat(repository, digest))) {
    await tags.delete(repository, tag, digest);
    throw new PortalError(409, 'GONE', `Manifest ${digest} was deleted while it was being tagged.`);
  }
  if (before !== digest) emit(ctx, { type: 'tag.pushed', repository, tag, digest, ...(before !== undefined && { previous: before }), ...who(identity) });
}

/** A blob the portal stored and is about to reference. */
export interface StoredBlob {
  digest: Digest;
  size: number;
}

/**
 * Links `blobs` into the repository and pushes `body` (an OCI manifest) under `tag`, as the registry
 * does for a push: references checked before and after the manifest is written, the tag checked
 * against a concurrent delete. On failure every link this call added is taken back (unless a
 * manifest of the repository needs it meanwhile), so nothing partial stays visible.
 */
export async function pushManifest(ctx: PortalContext, repository: string, tag: string, body: Buffer, blobs: readonly StoredBlob[], identity?: Identity): Promise<Digest> {
  const { links, manifests, tags } = ctx.storage;
  const parsed = parseManifest(body, undefined);
  const digest = digestOf('sha256', body);
  const added: StoredBlob[] = [];
  let created = false;
  try {
    for (const blob of blobs) if (await links.add(repository, blob.digest)) added.push(blob);
    let previous: Digest | undefined;
    for (let attempt = 1; ; attempt++) {
      await ctx.integrity.requireReferences(repository, parsed.blobs, parsed.manifests);
      const { blobs: _b, manifests: _m, ...described } = parsed;
      created = (await manifests.put(repository, { ...described, digest, size: body.length, body, references: [...parsed.blobs, ...parsed.manifests] })) || created;
      const missing = await ctx.integrity.missing(repository, parsed.blobs, parsed.manifests);
      if (missing.length > 0) throw new PortalError(409, 'GONE', `A blob of this upload was deleted while it was being pushed (${missing[0] ?? ''}); upload again.`);
      const before = await tags.put(repository, tag, digest);
      if (attempt === 1) previous = before;
      if (await manifests.stat(repository, digest)) break;
      await tags.delete(repository, tag, digest);
      if (attempt === ATTEMPTS) throw new PortalError(409, 'GONE', 'The manifest was deleted while it was being tagged; upload again.');
    }
    for (const blob of added) emit(ctx, { type: 'blob.pushed', repository, digest: blob.digest, size: blob.size, ...who(identity) });
    emit(ctx, {
      type: 'manifest.pushed',
      repository,
      digest,
      mediaType: parsed.mediaType,
      size: body.length,
      tags: [tag],
      created,
      ...(parsed.artifactType !== undefined && { artifactType: parsed.artifactType }),
      ...who(identity),
    });
    if (previous !== digest) emit(ctx, { type: 'tag.pushed', repository, tag, digest, ...(previous !== undefined && { previous }), ...who(identity) });
    return digest;
  } catch (err) {
    if (created) {
      await tags.delete(repository, tag, digest).catch(() => undefined);
      await manifests.delete(repository, digest).catch(() => undefined);
    }
    for (const blob of added) await unlinkUnused(ctx, repository, blob.digest).catch(() => undefined);
    throw err;
  }
}

/** Takes back a link nothing in the repository references (and restores it if a reference appears meanwhile). */
async function unlinkUnused(ctx: PortalContext, repository: string, digest: Digest): Promise<void> {
  if ((await ctx.integrity.dependent(repository, digest)) !== undefined) return;
  if (!(await ctx.storage.links.delete(repository, digest))) return;
  if ((await ctx.integrity.dependent(repository, digest)) !== undefined) await ctx.storage.links.add(repository, digest);
}
