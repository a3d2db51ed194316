import type { Identity } from '../auth.js';
import { type Digest, digestOf } from '../digest.js';
import { RegistryError, RegistryErrors } from '../errors.js';
import { parseManifest } from '../manifest.js';
import type { Actor } from '../policy.js';
import type { PortalContext } from './context.js';
import { PortalError } from './respond.js';

/**
 * Changes made from the pages go through the registry's own write path (`registry.changes`): the
 * same policy hooks, integrity rules, usage and events as a push or delete through the API. Its
 * refusals become the portal's errors.
 */

const actor = (identity: Identity | undefined): Actor => (identity ? { identity } : {});

/** A registry refusal as a page error: the status and message the user should see. */
function translate(err: unknown): unknown {
  const first = err instanceof RegistryErrors ? err.errors[0] : err;
  if (!(first instanceof RegistryError)) return err;
  const code = first.code === 'MANIFEST_UNKNOWN' || first.code === 'BLOB_UNKNOWN' ? 'NOT_FOUND' : first.status === 409 ? 'IN_USE' : first.code;
  const message = first.code === 'MANIFEST_BLOB_UNKNOWN' ? `A blob of this push is missing from the repository (${JSON.stringify(first.detail)}); upload again.` : first.message;
  return new PortalError(first.status, code, message.charAt(0).toUpperCase() + message.slice(1) + (/[.!?]$/.test(message) ? '' : '.'));
}

async function through<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw translate(err);
  }
}

export async function deleteTag(ctx: PortalContext, repository: string, tag: string, identity?: Identity): Promise<void> {
  await through(ctx.options.registry.changes.deleteTag(repository, tag, actor(identity)));
}

/** Deletes a manifest and the tags pointing at it, refusing while an index of the repository still needs it. */
export async function deleteManifest(ctx: PortalContext, repository: string, digest: Digest, identity?: Identity): Promise<void> {
  await through(ctx.options.registry.changes.deleteManifest(repository, digest, actor(identity)));
}

/** Points `tag` at an existing manifest (a push of the same manifest under that tag: policy hooks see it as one). */
export async function retag(ctx: PortalContext, repository: string, digest: Digest, tag: string, identity?: Identity): Promise<void> {
  const manifest = await ctx.storage.manifests.get(repository, digest);
  if (!manifest) throw new PortalError(404, 'NOT_FOUND', `There is no manifest ${digest} in ${repository}.`);
  const { createdAt: _createdAt, ...record } = manifest;
  const parsed = parseManifest(manifest.body, manifest.mediaType);
  await through(ctx.options.registry.changes.pushManifest(repository, record, { blobs: parsed.blobs, children: parsed.manifests }, [tag], actor(identity)));
}

/** A blob the portal stored and is about to reference. */
export interface StoredBlob {
  digest: Digest;
  size: number;
}

/**
 * Links `blobs` into the repository and pushes `body` (an OCI manifest) under `tag`, as a client's
 * push does. On failure every link this call added is taken back (unless a manifest of the
 * repository needs it meanwhile), so nothing partial stays visible.
 */
export async function pushManifest(ctx: PortalContext, repository: string, tag: string, body: Buffer, blobs: readonly StoredBlob[], identity?: Identity): Promise<Digest> {
  const { changes } = ctx.options.registry;
  const parsed = parseManifest(body, undefined);
  const digest = digestOf('sha256', body);
  const added: Digest[] = [];
  try {
    for (const blob of blobs) {
      if (await ctx.storage.links.has(repository, blob.digest)) continue;
      await changes.admitBlob({ ...actor(identity), repository, digest: blob.digest, size: blob.size, final: true });
      await changes.linkBlob(repository, blob.digest, actor(identity));
      added.push(blob.digest);
    }
    const { blobs: blobDigests, manifests: children, ...described } = parsed;
    await changes.pushManifest(repository, { ...described, digest, size: body.length, body, references: [...blobDigests, ...children] }, { blobs: blobDigests, children }, [tag], actor(identity));
    return digest;
  } catch (err) {
    // the links this upload added go again; one a manifest needs meanwhile stays (a 409 refusal)
    for (const blob of added) await changes.unlinkBlob(repository, blob, actor(identity)).catch(() => undefined);
    throw translate(err);
  }
}
