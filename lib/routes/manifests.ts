import type { Access } from '../auth.js';
import { type Call, type Context, type Handler, actor } from '../context.js';
import { who } from '../request-id.js';
import { type Digest, algorithmOf, digestOf, looksLikeDigest } from '../digest.js';
import { RegistryError } from '../errors.js';
import { endEmpty, queryParam, readSmallBody } from '../http.js';
import { PullRecorder } from '../pull-recorder.js';
import { parseManifest } from '../manifest.js';
import { isTag } from '../names.js';
import type { ManifestInfo } from '../storage/types.js';
import { IMMUTABLE, blobDigest, unsupported } from './blobs.js';

/** Manifest pull (end-3), push (end-7, with `?tag=` of end-7b) and delete (end-9). */
export function manifestRoutes(ctx: Context): { getManifest: Handler; headManifest: Handler; putManifest: Handler; deleteManifest: Handler } {
  const { manifests, tags } = ctx.storage;
  const pulls = new PullRecorder(ctx.storage, ctx.logger);

  const unknown = (reference: string) => new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference } });

  /** A tag or digest → the digest it names. An invalid tag is simply unknown (the conformance suite wants 404). */
  async function digestFor({ name, ref }: Call): Promise<Digest | undefined> {
    if (looksLikeDigest(ref)) return blobDigest(ref);
    return isTag(ref) ? tags.get(name, ref) : undefined;
  }

  /** Lets a pull-through cache fetch or revalidate the manifest before the store is read. */
  async function fallThrough(call: Call): Promise<void> {
    if (!ctx.pullThrough || (!looksLikeDigest(call.ref) && !isTag(call.ref))) return;
    const ns = queryParam(call.query, 'ns');
    await ctx.pullThrough.manifest({ ...actor(call), repository: call.name, reference: call.ref, signal: call.signal, ...(ns !== undefined && { ns }) });
  }

  /** Sets the pull headers; `false` when `If-None-Match` already answered 304. */
  function describe(call: Call, manifest: ManifestInfo): boolean {
    const { res } = call;
    const etag = `"${manifest.digest}"`;
    res.setHeader('Docker-Content-Digest', manifest.digest);
    res.setHeader('ETag', etag);
    // spec: the stored media type exactly, never with a charset
    res.setHeader('Content-Type', manifest.mediaType);
    // by digest it never changes; a tag moves, so caches revalidate it (with the ETag); never in a shared cache
    res.setHeader('Cache-Control', looksLikeDigest(call.ref) ? IMMUTABLE : 'private, no-cache');
    if (call.req.headers['if-none-match']?.split(',').some((t) => t.trim() === etag)) {
      res.statusCode = 304;
      res.end();
      return false;
    }
    res.setHeader('Content-Length', manifest.size);
    res.statusCode = 200;
    return true;
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
    async getManifest(call) {
      await ctx.allow(call, [{ action: 'pull', repository: call.name }]);
      await fallThrough(call);
      const digest = await digestFor(call);
      const manifest = digest && (await manifests.get(call.name, digest));
      if (!manifest) throw unknown(call.ref);
      if (!describe(call, manifest)) return;
      call.res.end(manifest.body);
      const byTag = !looksLikeDigest(call.ref);
      if (byTag) pulls.record(call.name, call.ref);
      // a pull is a hot path: the event is built only when someone listens
      if (!ctx.events.wanted('manifest.pulled')) return;
      ctx.events.emit({
        type: 'manifest.pulled',
        repository: call.name,
        digest: manifest.digest,
        size: manifest.size,
        ...(byTag && { tag: call.ref }),
        ...who(actor(call)),
      });
    },

    async headManifest(call) {
      await ctx.allow(call, [{ action: 'pull', repository: call.name }]);
      await fallThrough(call);
      const digest = await digestFor(call);
      const manifest = digest && (await manifests.stat(call.name, digest));
      if (!manifest) throw unknown(call.ref);
      if (!describe(call, manifest)) return;
      call.res.end();
      // containerd resolves a tag with HEAD, then GETs by digest: its pulls count as pulls of the tag
      if (!looksLikeDigest(call.ref)) pulls.record(call.name, call.ref);
    },

    async putManifest(call) {
      const { req, res, name, ref } = call;
      let pinned: Digest | undefined;
      if (looksLikeDigest(ref)) pinned = blobDigest(ref);
      else if (!isTag(ref)) throw new RegistryError('MANIFEST_INVALID', `invalid tag "${ref}"`, { detail: { tag: ref } });
      const newTags = pinned ? extraTags(call) : [ref];
      // a host can protect tags: the hook sees the digest and every tag this push would move
      const accesses: Access[] = newTags.map((tag) => ({ action: 'push', repository: name, tag }));
      if (pinned) accesses.unshift({ action: 'push', repository: name, digest: pinned });
      await ctx.allow(call, accesses);

      const body = await readSmallBody(req, ctx.maxManifestBytes);
      const parsed = parseManifest(body, req.headers['content-type']);
      const digest = digestOf(pinned ? algorithmOf(pinned) : 'sha256', body);
      if (pinned && digest !== pinned) {
        throw new RegistryError('DIGEST_INVALID', `the manifest has digest ${digest}, not ${pinned}`, { detail: { digest: pinned } });
      }
      const { blobs, manifests: children, ...described } = parsed;
      const record = { ...described, digest, size: body.length, body, references: [...blobs, ...children] };
      await ctx.changes.pushManifest(name, record, { blobs, children }, newTags, actor(call));

      res.setHeader('Location', ctx.url(req, `/v2/${name}/manifests/${digest}`));
      res.setHeader('Docker-Content-Digest', digest);
      if (parsed.subject) res.setHeader('OCI-Subject', parsed.subject);
      if (pinned && newTags.length > 0) res.setHeader('OCI-Tag', newTags);
      endEmpty(res, 201);
    },

    async deleteManifest(call) {
      const { res, name, ref } = call;
      if (!ctx.deletes) throw unsupported('DELETE of manifests and tags is disabled on this registry', 'GET, HEAD, PUT');
      if (!looksLikeDigest(ref)) {
        await ctx.allow(call, [{ action: 'delete', repository: name, ...(isTag(ref) && { tag: ref }) }]);
        // spec: deleting by tag removes only the tag
        if (!isTag(ref)) throw unknown(ref);
        await ctx.changes.deleteTag(name, ref, actor(call));
        endEmpty(res, 202);
        return;
      }
      const digest = blobDigest(ref);
      await ctx.allow(call, [{ action: 'delete', repository: name, digest }]);
      // an index of this repository that still needs it makes this a 409, not a dangling index
      await ctx.changes.deleteManifest(name, digest, actor(call));
      endEmpty(res, 202);
    },
  };
}
