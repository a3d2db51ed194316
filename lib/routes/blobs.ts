import { pipeline } from 'node:stream/promises';
import { type Call, type Context, type Handler, actor } from '../context.js';
import { who } from '../request-id.js';
import { type Digest, parseDigest } from '../digest.js';
import { RegistryError } from '../errors.js';
import type { Readable } from 'node:stream';
import { endEmpty, parseByteRange, queryParam } from '../http.js';
import type { BlobInfo, ByteRange } from '../storage/types.js';

/** For content addressed by digest: it never changes, and a shared cache must not hand it to someone else. */
export const IMMUTABLE = 'private, max-age=31536000, immutable';

/** Blob pull (end-2, with HTTP Range) and delete (end-10). */
export function blobRoutes(ctx: Context): { getBlob: Handler; headBlob: Handler; deleteBlob: Handler } {

  /** A blob is visible in a repository only once pushed or mounted there. */
  async function find(call: Call, action: 'pull' | 'delete'): Promise<Pick<BlobInfo, 'digest' | 'size'>> {
    return (await locate(call, action)).info;
  }

  /** The blob and how to read it: from the store, or, for a pull the store cannot answer, from the pull-through hook. */
  async function locate(call: Call, action: 'pull' | 'delete'): Promise<{ info: Pick<BlobInfo, 'digest' | 'size'>; open: (range?: ByteRange) => Promise<Readable | undefined> }> {
    const digest = blobDigest(call.ref);
    await ctx.allow(call, [{ action, repository: call.name }]);
    const info = (await ctx.storage.links.has(call.name, digest)) ? await ctx.storage.blobs.stat(digest) : undefined;
    if (info) return { info, open: (range) => ctx.storage.blobs.open(digest, { signal: call.signal, ...(range && { range }) }) };
    if (action === 'pull' && ctx.pullThrough) {
      const ns = queryParam(call.query, 'ns');
      const fetched = await ctx.pullThrough.blob({ ...actor(call), repository: call.name, digest, signal: call.signal, ...(ns !== undefined && { ns }) });
      if (fetched) return { info: { digest, size: fetched.size }, open: (range) => fetched.open(range) };
    }
    throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
  }

  function headers(call: Call, info: Pick<BlobInfo, 'digest' | 'size'>): void {
    call.res.setHeader('Content-Type', 'application/octet-stream');
    call.res.setHeader('Docker-Content-Digest', info.digest);
    call.res.setHeader('ETag', `"${info.digest}"`);
    call.res.setHeader('Accept-Ranges', 'bytes');
    // blobs are immutable, but may be private: only the client's own cache keeps them
    call.res.setHeader('Cache-Control', IMMUTABLE);
  }

  return {
    async headBlob(call) {
      const { info } = await locate(call, 'pull');
      headers(call, info);
      call.res.setHeader('Content-Length', info.size);
      call.res.end();
    },

    async getBlob(call) {
      const { info, open } = await locate(call, 'pull');
      const { res } = call;
      const range = parseByteRange(call.req.headers.range, info.size);
      if (range === null) {
        throw new RegistryError('SIZE_INVALID', `range not satisfiable for a blob of ${info.size} bytes`, {
          status: 416,
          headers: { 'Content-Range': `bytes */${info.size}` },
        });
      }
      const stream = await open(range);
      if (!stream) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: info.digest } });
      headers(call, info);
      if (range) {
        res.statusCode = 206;
        res.setHeader('Content-Range', `bytes ${range.start}-${range.end - 1}/${info.size}`);
        res.setHeader('Content-Length', range.end - range.start);
      } else {
        res.statusCode = 200;
        res.setHeader('Content-Length', info.size);
      }
      // pipeline gives back-pressure and closes the store's stream if the client goes away
      const sent = await pipeline(stream, res).then(
        () => true,
        (err: unknown) => {
          if (!res.writableFinished) res.destroy(err as Error);
          return false;
        },
      );
      if (sent && !range) ctx.events.emit({ type: 'blob.pulled', repository: call.name, digest: info.digest, size: info.size, ...who(actor(call)) });
    },

    async deleteBlob(call) {
      if (!ctx.deletes) throw unsupported('DELETE of blobs is disabled on this registry', 'GET, HEAD');
      const info = await find(call, 'delete');
      // unlink only: the bytes may be shared with other repositories; garbage collection reclaims them.
      // A manifest of this repository that still references it makes this a 409.
      await ctx.changes.unlinkBlob(call.name, info.digest, actor(call));
      endEmpty(call.res, 202);
    },
  };
}

/** A digest from the path: malformed or of an algorithm berth cannot compute → 400 DIGEST_INVALID. */
export function blobDigest(value: string): Digest {
  const parsed = parseDigest(value);
  if (!parsed.ok) {
    throw new RegistryError('DIGEST_INVALID', parsed.reason === 'unsupported' ? 'unsupported digest algorithm; use sha256 or sha512' : 'invalid digest', {
      detail: { digest: value },
    });
  }
  return parsed.digest;
}

export function unsupported(message: string, allow: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, { headers: { Allow: allow } });
}
