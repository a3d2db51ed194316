import { pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import type { Call, Context, Handler } from '../context.js';
import { type Algorithm, type Digest, algorithmOf, hasher, parseDigest } from '../digest.js';
import { RegistryError } from '../errors.js';
import { endEmpty, hasNoBody, parseContentRange, queryParam, requestBody, uploadRange } from '../http.js';
import { isRepositoryName } from '../names.js';
import type { UploadInfo } from '../storage/types.js';
import { Meter, UploadHashes } from '../upload-hashes.js';
import { blobDigest } from './blobs.js';

const UPLOAD_ID = /^[A-Za-z0-9._~-]{1,128}$/;

interface UploadRoutes {
  startUpload: Handler;
  uploadStatus: Handler;
  patchUpload: Handler;
  finishUpload: Handler;
  cancelUpload: Handler;
}

/**
 * Blob push: POST (end-4a/4b, mount end-11), PATCH (end-5), PUT (end-6), status GET (end-13) and
 * cancel DELETE. Every byte is hashed on its way into the store, and a blob becomes visible only
 * through a commit of exactly the bytes whose digest was verified.
 */
export function uploadRoutes(ctx: Context): UploadRoutes {
  const hashes = new UploadHashes();
  const { uploads, blobs, links } = ctx.storage;
  let lastSweep = 0;

  const sessionUrl = (call: Call, id: string) => ctx.url(call.req, `/v2/${call.name}/blobs/uploads/${id}`);
  const blobUrl = (call: Call, digest: Digest) => ctx.url(call.req, `/v2/${call.name}/blobs/${digest}`);

  /** Removes idle uploads now and then, piggybacking on POSTs instead of keeping a timer alive. */
  function sweepNowAndThen(): void {
    const now = Date.now();
    if (now - lastSweep < Math.min(ctx.uploadTimeout / 4, 10 * 60 * 1000)) return;
    lastSweep = now;
    const cutoff = new Date(now - ctx.uploadTimeout);
    hashes.prune(cutoff);
    uploads.sweep(cutoff).catch((err: unknown) => ctx.logger.error(err, 'sweeping idle uploads failed'));
  }

  /** The upload named by the URL, if it belongs to this repository and has not expired. */
  async function session(call: Call): Promise<UploadInfo> {
    await ctx.allow(call.req, { action: 'push', repository: call.name });
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
   * to the new size. Hashes on the way when this process knows the running digest.
   */
  async function receive(call: Call, upload: UploadInfo, algorithm?: Algorithm): Promise<number> {
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
      return upload.size;
    }
    const state = hashes.next(upload.id, upload.size, algorithm);
    const meter = new Meter(state?.hash, expected);
    // pipeline forwards a client abort to the meter, so the store sees the failure and rolls back
    const body = pipeline(requestBody(req), meter, () => undefined);
    const size = await uploads.append(upload.id, upload.size, body);
    if (size === undefined) {
      const now = await uploads.get(upload.id);
      if (!now) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { id: upload.id } });
      throw outOfOrder(call, now);
    }
    if (state) hashes.saved(upload.id, size, state);
    return size;
  }

  /** Verifies the whole upload against `digest` and turns it into a blob of this repository. */
  async function complete(call: Call, upload: UploadInfo, size: number, digest: Digest): Promise<void> {
    const algorithm = algorithmOf(digest);
    const computed = hashes.digest(upload.id, size, algorithm) ?? (await rehash(upload.id, algorithm));
    hashes.forget(upload.id);
    if (computed !== digest) {
      await uploads.delete(upload.id);
      throw new RegistryError('DIGEST_INVALID', `the uploaded content has digest ${computed ?? 'unknown'}, not ${digest}`, {
        detail: { digest },
      });
    }
    const blob = await uploads.commit(upload.id, digest, size);
    if (!blob) throw outOfOrder(call, (await uploads.get(upload.id)) ?? upload);
    await links.add(call.name, digest);
    created(call, digest);
  }

  /** Reads the upload back from the store when this process did not see all of it. */
  async function rehash(id: string, algorithm: Algorithm): Promise<string | undefined> {
    const stream = await uploads.open(id);
    if (!stream) return undefined;
    const hash = hasher(algorithm);
    await pipelineAsync(stream, hash);
    return `${algorithm}:${hash.digest('hex')}`;
  }

  function created(call: Call, digest: Digest): void {
    endEmpty(call.res, 201, { Location: blobUrl(call, digest), 'Docker-Content-Digest': digest });
  }

  /** end-11: link a blob the caller may pull from another repository, if there is one. */
  async function mount(call: Call, digest: Digest): Promise<boolean> {
    const from = queryParam(call.query, 'from');
    const candidates = from !== undefined ? [from] : ctx.automaticMount ? [call.name, ...(await links.repositories(digest))] : [];
    for (const source of candidates) {
      if (!isRepositoryName(source) || !(await links.has(source, digest))) continue;
      if (source !== call.name && !(await ctx.authorize(call.req, { action: 'pull', repository: source }))) continue;
      if (!(await blobs.stat(digest))) return false;
      await links.add(call.name, digest);
      created(call, digest);
      return true;
    }
    return false;
  }

  return {
    async startUpload(call) {
      await ctx.allow(call.req, { action: 'push', repository: call.name });
      sweepNowAndThen();
      const mountDigest = queryParam(call.query, 'mount');
      if (mountDigest !== undefined) {
        const parsed = parseDigest(mountDigest);
        // an unusable mount falls back to a plain upload session, as the spec asks
        if (parsed.ok && (await mount(call, parsed.digest))) return;
      }
      const digestParam = mountDigest === undefined ? queryParam(call.query, 'digest') : undefined;
      const digest = digestParam === undefined ? undefined : blobDigest(digestParam);
      const algorithmParam = queryParam(call.query, 'digest-algorithm');
      if (algorithmParam !== undefined && algorithmParam !== 'sha256' && algorithmParam !== 'sha512') {
        throw new RegistryError('DIGEST_INVALID', `unsupported digest-algorithm "${algorithmParam}"; use sha256 or sha512`);
      }
      const upload = await uploads.create(call.name);
      if (digest !== undefined) {
        // end-4b: the whole blob in one POST
        const size = await receive(call, upload, algorithmOf(digest));
        await complete(call, upload, size, digest);
        return;
      }
      if (algorithmParam !== undefined) hashes.start(upload.id, algorithmParam);
      endEmpty(call.res, 202, {
        Location: sessionUrl(call, upload.id),
        Range: uploadRange(0),
        'Docker-Upload-UUID': upload.id,
      });
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
      const upload = await session(call);
      const size = await receive(call, upload);
      endEmpty(call.res, 202, {
        Location: sessionUrl(call, upload.id),
        Range: uploadRange(size),
        'Docker-Upload-UUID': upload.id,
      });
    },

    async finishUpload(call) {
      const digestParam = queryParam(call.query, 'digest');
      if (digestParam === undefined) throw new RegistryError('DIGEST_INVALID', 'closing an upload needs ?digest=<digest of the whole blob>');
      const digest = blobDigest(digestParam);
      const upload = await session(call);
      const size = await receive(call, upload, algorithmOf(digest));
      await complete(call, upload, size, digest);
    },

    async cancelUpload(call) {
      const upload = await session(call);
      hashes.forget(upload.id);
      if (!(await uploads.delete(upload.id))) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { id: upload.id } });
      endEmpty(call.res, 204);
    },
  };
}
