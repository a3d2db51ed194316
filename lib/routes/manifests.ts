import type { Call, Context, Handler } from '../context.js';
import { type Digest, algorithmOf, digestOf, looksLikeDigest } from '../digest.js';
import { RegistryError, RegistryErrors } from '../errors.js';
import { endEmpty, readSmallBody } from '../http.js';
import { parseManifest } from '../manifest.js';
import { isTag } from '../names.js';
import type { Manifest } from '../storage/types.js';
import { blobDigest, unsupported } from './blobs.js';

/** Manifest pull (end-3), push (end-7, with `?tag=` of end-7b) and delete (end-9). */
export function manifestRoutes(ctx: Context): { getManifest: Handler; headManifest: Handler; putManifest: Handler; deleteManifest: Handler } {
  const { manifests, tags, links } = ctx.storage;

  const unknown = (reference: string) => new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference } });

  /** A tag or digest → the stored manifest. An invalid tag is simply unknown (the conformance suite wants 404). */
  async function resolve({ name, ref }: Call): Promise<Manifest> {
    let digest: Digest | undefined;
    if (looksLikeDigest(ref)) digest = blobDigest(ref);
    else if (isTag(ref)) digest = await tags.get(name, ref);
    const manifest = digest && (await manifests.get(name, digest));
    if (!manifest) throw unknown(ref);
    return manifest;
  }

  async function pull(call: Call, withBody: boolean): Promise<void> {
    await ctx.allow(call.req, { action: 'pull', repository: call.name });
    const manifest = await resolve(call);
    const { res } = call;
    const etag = `"${manifest.digest}"`;
    res.setHeader('Docker-Content-Digest', manifest.digest);
    res.setHeader('ETag', etag);
    // spec: the stored media type exactly, never with a charset
    res.setHeader('Content-Type', manifest.mediaType);
    if (call.req.headers['if-none-match']?.split(',').some((t) => t.trim() === etag)) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.setHeader('Content-Length', manifest.size);
    res.statusCode = 200;
    res.end(withBody ? manifest.body : undefined);
  }

  /** Every config, layer and child manifest must already be in the repository; `subject` need not be. */
  async function checkReferences(name: string, blobs: Digest[], children: Digest[]): Promise<void> {
    const missing = [
      ...(await Promise.all(blobs.map(async (d) => ((await links.has(name, d)) ? undefined : d)))),
      ...(await Promise.all(children.map(async (d) => ((await manifests.get(name, d)) ? undefined : d)))),
    ].filter((d): d is Digest => d !== undefined);
    if (missing.length > 0) {
      throw new RegistryErrors(
        [...new Set(missing)].map((digest) => new RegistryError('MANIFEST_BLOB_UNKNOWN', undefined, { detail: { digest } })),
      );
    }
  }

  /** Tags named by `?tag=` on a push by digest (spec main, end-7b). */
  function extraTags(call: Call): string[] {
    const extra = call.query.getAll('tag');
    for (const tag of extra) {
      if (!isTag(tag)) throw new RegistryError('MANIFEST_INVALID', `invalid tag "${tag}"`, { detail: { tag } });
    }
    return extra;
  }

  return {
    getManifest: (call) => pull(call, true),
    headManifest: (call) => pull(call, false),

    async putManifest(call) {
      const { req, res, name, ref } = call;
      await ctx.allow(req, { action: 'push', repository: name });
      let pinned: Digest | undefined;
      if (looksLikeDigest(ref)) pinned = blobDigest(ref);
      else if (!isTag(ref)) throw new RegistryError('MANIFEST_INVALID', `invalid tag "${ref}"`, { detail: { tag: ref } });
      const newTags = pinned ? extraTags(call) : [ref];

      const body = await readSmallBody(req, ctx.maxManifestBytes);
      const parsed = parseManifest(body, req.headers['content-type']);
      const digest = digestOf(pinned ? algorithmOf(pinned) : 'sha256', body);
      if (pinned && digest !== pinned) {
        throw new RegistryError('DIGEST_INVALID', `the manifest has digest ${digest}, not ${pinned}`, { detail: { digest: pinned } });
      }
      await checkReferences(name, parsed.blobs, parsed.manifests);

      const { blobs, manifests: children, ...described } = parsed;
      await manifests.put(name, { ...described, digest, size: body.length, body, references: [...blobs, ...children] });
      for (const tag of newTags) await tags.put(name, tag, digest);

      res.setHeader('Location', ctx.url(req, `/v2/${name}/manifests/${digest}`));
      res.setHeader('Docker-Content-Digest', digest);
      if (parsed.subject) res.setHeader('OCI-Subject', parsed.subject);
      if (pinned && newTags.length > 0) res.setHeader('OCI-Tag', newTags);
      endEmpty(res, 201);
    },

    async deleteManifest(call) {
      const { req, res, name, ref } = call;
      if (!ctx.deletes) throw unsupported('DELETE of manifests and tags is disabled on this registry', 'GET, HEAD, PUT');
      await ctx.allow(req, { action: 'delete', repository: name });
      if (!looksLikeDigest(ref)) {
        // spec: deleting by tag removes only the tag
        if (!isTag(ref) || !(await tags.delete(name, ref))) throw unknown(ref);
        endEmpty(res, 202);
        return;
      }
      const digest = blobDigest(ref);
      if (!(await manifests.get(name, digest))) throw unknown(ref);
      // spec: deleting by digest removes every tag pointing at it too (only while they still do)
      for (const tag of await tags.find(name, digest)) await tags.delete(name, tag, digest);
      if (!(await manifests.delete(name, digest))) throw unknown(ref);
      endEmpty(res, 202);
    },
  };
}
