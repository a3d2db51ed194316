import { Writable, pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { type Call, type Context, type Handler, actor } from '../context.js';
import { who } from '../request-id.js';
import { type Algorithm, type Digest, algorithmOf, parseDigest } from '../digest.js';
import { RegistryError } from '../errors.js';
import { contentLength, endEmpty, feed, hasNoBody, parseContentRange, queryParam, uploadRange } from '../http.js';
import { isRepositoryName } from '../names.js';
import { nativeHash } from '../running-hash.js';
import type { BlobInfo, UploadInfo } from '../storage/types.js';
import { Meter, UploadHashes } from '../upload-hashes.js';
import { blobDigest } from './blobs.js';

const UPLOAD_ID = /^[A-Za-z0-9._~-]{1,128}$/;
/** Automatic mounts look at this many repositories holding the blob, at most. */
const MOUNT_CANDIDATES = 100;

interface UploadRoutes {
  startUpload: Handler;
  uploadStatus: Handler;
  patchUpload: Handler;
  finishUpload: Handler;
  cancelUpload: Handler;
  /** Expires idle uploads now. */
  sweep: () => Promise<number>;
}

const ignore = () => undefined;

/**
 * Blob push: POST (end-4a/4b, mount end-11), PATCH (end-5), PUT (end-6), status GET (end-13) and
 * cancel DELETE. Every byte is hashed on its way into the store, and a blob becomes visible only
 * through a commit (or an atomic `blobs.put`) of exactly the bytes whose digest was verified.
 */
export function uploadRoutes(ctx: Context): UploadRoutes {
  const hashes = new UploadHashes();
  const { uploads, blobs, links } = ctx.storage;
  let lastSweep = 0;

  const sessionUrl = (call: Call, id: string) => ctx.url(call.req, `/v2/${call.name}/blobs/uploads/${id}`);
  const blobUrl = (call: Call, digest: Digest) => ctx.url(call.req, `/v2/${call.name}/blobs/${digest}`);
  const push = (call: Call) => ({ action: 'push', repository: call.name }) as const;

  async function sweep(): Promise<number> {
    const cutoff = new Date(Date.now() - ctx.uploadTimeout);
    hashes.prune(cutoff);
    return uploads.sweep(cutoff);
  }

  /** Removes idle uploads now and then, piggybacking on POSTs instead of keeping a timer alive. */
  function sweepNowAndThen(): void {
    const now = Date.now();
    if (now - lastSweep < Math.min(ctx.uploadTimeout / 4, 10 * 60 * 1000)) return;
    lastSweep = now;
    sweep().catch((err: unknown) => ctx.logger.error(err, 'sweeping idle uploads failed'));
  }

  /** The upload named by the URL, if it belongs to this repository and has not expired. */
  async function session(call: Call): Promise<UploadInfo> {
    await ctx.allow(call, [push(call)]);
    const upload = UPLOAD_ID.test(call.ref) ? await uploads.get(call.ref) : undefined;
    if (upload && upload.repository === call.name) {
      if (upload.updatedAt.getTime() >= Date.now() - ctx.uploadTimeout) return upload;
      await uploads.delete(upload.id);
      hashes.forget(upload.id);
    }
    throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { id: call.ref } });
  }

  function outOfOrder(call: Call, upload: { id: string; size: number }): RegistryError {
    return new RegistryError('BLOB_UPLOAD_INVALID', `chunk out of order: the upload holds ${upload.size} bytes`, {
      status: 416,
      headers: { Range: uploadRange(upload.size), Location: sessionUrl(call, upload.id) },
    });
  }

  /**
   * Appends the request body (a `Content-Range` chunk, or a streamed body without one) and resolves
   * to the upload after it, hashing on the way. `last` says no request of this upload follows (a
   * closing PUT or a single-request POST), so a hash that can be saved is not needed.
   */
  async function receive(call: Call, upload: UploadInfo, last: boolean, algorithm?: Algorithm): Promise<UploadInfo> {
    const { req } = call;
    let expected: number | undefined;
    const header = req.headers['content-range'];
    if (header !== undefined) {
      const range = parseContentRange(header);
      if (!range) throw new RegistryError('BLOB_UPLOAD_INVALID', `invalid Content-Range "${header}"; expected "<start>-<end>"`);
      // spec: end-5, a chunk must start where the upload ends (a re-sent chunk too) → 416
      if (range.start !== upload.size) throw outOfOrder(call, upload);
      expected = range.end - range.start + 1;
      const length = req.headers['content-length'];
      if (length !== undefined && Number(length) !== expected) {
        throw new RegistryError('SIZE_INVALID', `Content-Length ${length} does not match Content-Range ${header}`);
      }
    } else if (hasNoBody(req)) {
      return upload;
    }
    // refuse bytes the policy would not take before receiving them, when the request says how many
    const declared = expected ?? contentLength(req);
    if (declared !== undefined) await ctx.changes.admitBlob({ ...actor(call), repository: call.name, size: upload.size + declared, final: false });
    const resumable = uploads.shared === true && !last;
    const hash = await hashes.next(upload, resumable, algorithm);
    const body = new Meter(hash, expected);
    // a client abort fails the meter, so the store sees the failure and rolls back
    feed(req, body);
    const size = await uploads.append(upload.id, upload.size, body, {
      signal: call.signal,
      last,
      ...(resumable && hash && { hashState: () => hash.save() }),
    });
    if (size === undefined) {
      const now = await uploads.get(upload.id);
      if (!now) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { id: upload.id } });
      throw outOfOrder(call, now);
    }
    if (hash) hashes.saved(upload.id, size, hash);
    // the state the store held before this append describes fewer bytes: never use it again
    const { hashState: _stale, ...rest } = upload;
    return { ...rest, size, updatedAt: new Date() };
  }

  /** Verifies the whole upload against `digest` and turns it into a blob of this repository. */
  async function complete(call: Call, upload: UploadInfo, digest: Digest): Promise<void> {
    // the last word of the policy (sizes, quotas) before the bytes become a blob
    await ctx.changes.admitBlob({ ...actor(call), repository: call.name, digest, size: upload.size, final: true });
    const algorithm = algorithmOf(digest);
    const computed = await hashes.digest(upload, algorithm);
    hashes.forget(upload.id);
    if (computed !== undefined && computed !== digest) {
      await uploads.delete(upload.id);
      throw new RegistryError('DIGEST_INVALID', `the uploaded content has digest ${computed}, not ${digest}`, { detail: { digest } });
    }
    const blob = uploads.commit && uploads.promotesInto === blobs ? await promote(call, upload, digest, computed) : await copy(call, upload, digest);
    if (!blob) throw outOfOrder(call, (await uploads.get(upload.id)) ?? upload);
    await ctx.changes.linkBlob(call.name, digest, actor(call));
    created(call, digest);
  }

  /** The store's fast path: the upload's bytes become the blob without a copy. */
  async function promote(call: Call, upload: UploadInfo, digest: Digest, computed: string | undefined): Promise<BlobInfo | undefined> {
    if (computed === undefined) {
      // another process received part of this upload and left no hash state: read it back once
      const source = await uploads.open(upload.id, { signal: call.signal });
      if (!source) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { id: upload.id } });
      const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
      await verify(upload, digest, pipelineAsync(source, new Meter(nativeHash(algorithmOf(digest)), upload.size, digest), discard));
    }
    return uploads.commit?.(upload.id, digest, upload.size);
  }

  /** Composed stores: the upload is copied into `blobs.put`, verified again on the way, then dropped. */
  async function copy(call: Call, upload: UploadInfo, digest: Digest): Promise<BlobInfo | undefined> {
    const source = await uploads.open(upload.id, { signal: call.signal });
    if (!source) return undefined;
    const verified = pipeline(source, new Meter(nativeHash(algorithmOf(digest)), upload.size, digest), ignore);
    const blob = await verify(upload, digest, blobs.put(digest, verified, { signal: call.signal }));
    await uploads.delete(upload.id);
    return blob;
  }

  /** Waits for a verifying read; a digest mismatch deletes the upload (it can never complete). */
  async function verify<T>(upload: UploadInfo, digest: Digest, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'DIGEST_INVALID') {
        await uploads.delete(upload.id);
        throw new RegistryError('DIGEST_INVALID', `the uploaded content does not have digest ${digest}`, { detail: { digest } });
      }
      throw err;
    }
  }

  function created(call: Call, digest: Digest): void {
    endEmpty(call.res, 201, { Location: blobUrl(call, digest), 'Docker-Content-Digest': digest });
  }

  /** end-11: link a blob the caller may pull from another repository, if there is one. */
  async function mount(call: Call, digest: Digest, from: string | undefined, mayPullFrom: boolean): Promise<boolean> {
    let sources: string[];
    if (from !== undefined) {
      sources = from === call.name || mayPullFrom ? [from] : [];
    } else if (ctx.automaticMount) {
      // only repositories the caller may pull, asked in one batch
      const others = (await links.repositories(digest, { n: MOUNT_CANDIDATES })).filter((r) => r !== call.name);
      const allowed = await ctx.check(call, others.map((repository) => ({ action: 'pull', repository }) as const));
      sources = [call.name, ...others.filter((_, i) => allowed[i])];
    } else {
      sources = [];
    }
    for (const source of sources) {
      if (!(await links.has(source, digest))) continue;
      const blob = await blobs.stat(digest);
      if (!blob) return false;
      await ctx.changes.admitBlob({ ...actor(call), repository: call.name, digest, size: blob.size, final: true, mountedFrom: source });
      await ctx.changes.linkBlob(call.name, digest, actor(call), source);
      created(call, digest);
      return true;
    }
    return false;
  }

  return {
    sweep,

    async startUpload(call) {
      const mountParam = queryParam(call.query, 'mount');
      const fromParam = mountParam === undefined ? undefined : queryParam(call.query, 'from');
      const from = fromParam !== undefined && isRepositoryName(fromParam) ? fromParam : undefined;
      // one question for the whole request: push here, and pull on the mount source if there is one
      const [mayPullFrom = false] = await ctx.allow(call, [push(call)], from !== undefined && from !== call.name ? [{ action: 'pull', repository: from }] : []);
      sweepNowAndThen();
      if (mountParam !== undefined) {
        const parsed = parseDigest(mountParam);
        // an unusable mount falls back to a plain upload session, as the spec asks
        if (parsed.ok && (fromParam === undefined || from !== undefined) && (await mount(call, parsed.digest, from, mayPullFrom))) return;
      }
      const digestParam = mountParam === undefined ? queryParam(call.query, 'digest') : undefined;
      const digest = digestParam === undefined ? undefined : blobDigest(digestParam);
      const algorithmParam = queryParam(call.query, 'digest-algorithm');
      if (algorithmParam !== undefined && algorithmParam !== 'sha256' && algorithmParam !== 'sha512') {
        throw new RegistryError('DIGEST_INVALID', `unsupported digest-algorithm "${algorithmParam}"; use sha256 or sha512`);
      }
      await ctx.changes.admitBlob({ ...actor(call), repository: call.name, size: 0, final: false, ...(digest !== undefined && { digest }) });
      const upload = await uploads.create(call.name);
      if (digest !== undefined) {
        // end-4b: the whole blob in one POST
        await complete(call, await receive(call, upload, true, algorithmOf(digest)), digest);
        return;
      }
      if (algorithmParam !== undefined) hashes.choose(upload.id, algorithmParam);
      endEmpty(call.res, 202, {
        Location: sessionUrl(call, upload.id),
        Range: uploadRange(0),
        'Docker-Upload-UUID': upload.id,
      });
      ctx.events.emit({ type: 'upload.started', repository: call.name, upload: upload.id, ...who(actor(call)) });
    },

    async uploadStatus(call) {
      const upload = await session(call);
      endEmpty(call.res, 204, {
        Location: sessionUrl(call, upload.id),
        Range: uploadRange(upload.size),
        'Docker-Upload-UUID': upload.id,
      });
    },

    async patchUpload(call) {
      const upload = await receive(call, await session(call), false);
      endEmpty(call.res, 202, {
        Location: sessionUrl(call, upload.id),
        Range: uploadRange(upload.size),
        'Docker-Upload-UUID': upload.id,
      });
    },

    async finishUpload(call) {
      const digestParam = queryParam(call.query, 'digest');
      if (digestParam === undefined) throw new RegistryError('DIGEST_INVALID', 'closing an upload needs ?digest=<digest of the whole blob>');
      const digest = blobDigest(digestParam);
      const upload = await session(call);
      await complete(call, await receive(call, upload, true, algorithmOf(digest)), digest);
    },

    async cancelUpload(call) {
      const upload = await session(call);
      hashes.forget(upload.id);
      if (!(await uploads.delete(upload.id))) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { id: upload.id } });
      endEmpty(call.res, 204);
    },
  };
}
