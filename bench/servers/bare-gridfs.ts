/**
 * The driver's own GridFS, served over HTTP: the reference for berth's GridFS store. Blobs go through
 * `GridFSBucket.openUploadStream` (driver defaults, 255 KiB chunks, sha256 verified on the way) and come
 * back through `openDownloadStream` (with `start`/`end` for a Range); a manifest by tag or digest is one
 * `findOne`. Uploads are POST then one PUT (or one streamed PATCH, then an empty PUT): the driver's
 * stream cannot continue a file in a later request, so chunked PATCHes are refused.
 *
 *   node bare-gridfs.js <mongodb uri> <database> <port>
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { type Binary, type GridFSBucketWriteStream, GridFSBucket, MongoClient, type ObjectId } from 'mongodb';

const uri = process.argv[2] ?? 'mongodb://127.0.0.1:27017';
const dbName = process.argv[3] ?? 'bare';
const port = Number(process.argv[4] ?? 5029);

const client = new MongoClient(uri);
const db = client.db(dbName);
const bucket = new GridFSBucket(db, { bucketName: 'fs' });
const files = db.collection<{ _id: ObjectId; length: number; filename: string }>('fs.files');
const manifests = db.collection<{ _id: string; digest: string; mediaType: string; body: Buffer | Binary }>('manifests');

interface Upload {
  repo: string;
  hash: Hash;
  size: number;
  stream?: GridFSBucketWriteStream;
}
const uploads = new Map<string, Upload>();

function send(res: ServerResponse, status: number, headers: Record<string, string | number> = {}, body?: Buffer | string): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
  if (!('Content-Length' in headers)) res.setHeader('Content-Length', bytes?.length ?? 0);
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}
const notFound = (res: ServerResponse) => send(res, 404, { 'Content-Type': 'application/json' }, '{"errors":[{"code":"NOT_FOUND"}]}');

async function receive(req: IncomingMessage, upload: Upload, digest: string): Promise<void> {
  const stream = bucket.openUploadStream(digest);
  upload.stream = stream;
  req.on('data', (chunk: Buffer) => {
    upload.hash.update(chunk);
    upload.size += chunk.length;
  });
  await pipeline(req, stream);
}

async function finish(res: ServerResponse, id: string, upload: Upload, digest: string): Promise<void> {
  uploads.delete(id);
  const computed = `sha256:${upload.hash.digest('hex')}`;
  if (computed !== digest || !upload.stream) {
    if (upload.stream) await bucket.delete(upload.stream.id).catch(() => undefined);
    return send(res, 400, { 'Content-Type': 'application/json' }, '{"errors":[{"code":"DIGEST_INVALID"}]}');
  }
  // a streamed PATCH named the file before the digest was known
  await files.updateOne({ _id: upload.stream.id }, { $set: { filename: digest } });
  send(res, 201, { Location: `/v2/${upload.repo}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const method = req.method ?? 'GET';
  let m: RegExpExecArray | null;

  if (/^\/v2\/?$/.test(path)) return send(res, 200, { 'Content-Type': 'application/json' }, '{}');

  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path)) && method === 'POST') {
    const id = randomUUID();
    const upload: Upload = { repo: m[1] as string, hash: createHash('sha256'), size: 0 };
    uploads.set(id, upload);
    const digest = query.get('digest');
    if (digest && req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') {
      await receive(req, upload, digest);
      return finish(res, id, upload, digest);
    }
    return send(res, 202, { Location: `/v2/${upload.repo}/blobs/uploads/${id}`, Range: '0-0', 'Docker-Upload-UUID': id });
  }

  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(path))) {
    const id = m[2] as string;
    const upload = uploads.get(id);
    if (!upload) return notFound(res);
    if (method === 'PATCH') {
      if (upload.stream) return send(res, 416, { Range: `0-${Math.max(upload.size - 1, 0)}` });
      await receive(req, upload, `upload-${id}`);
      return send(res, 202, { Location: `/v2/${upload.repo}/blobs/uploads/${id}`, Range: `0-${Math.max(upload.size - 1, 0)}` });
    }
    if (method === 'PUT') {
      const digest = query.get('digest') ?? '';
      if (req.headers['content-length'] !== '0') {
        if (upload.stream) return send(res, 416, { Range: `0-${Math.max(upload.size - 1, 0)}` });
        await receive(req, upload, digest);
      }
      return finish(res, id, upload, digest);
    }
  }

  if ((m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path)) && (method === 'GET' || method === 'HEAD')) {
    const digest = m[2] as string;
    const file = await files.findOne({ filename: digest }, { projection: { _id: 1, length: 1 } });
    if (!file) return notFound(res);
    let start = 0;
    let end = file.length;
    const r = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (r) {
      start = Number(r[1]);
      end = r[2] ? Math.min(Number(r[2]) + 1, file.length) : file.length;
      res.setHeader('Content-Range', `bytes ${start}-${end - 1}/${file.length}`);
    }
    res.statusCode = r ? 206 : 200;
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Docker-Content-Digest', digest);
    res.setHeader('Content-Length', end - start);
    if (method === 'HEAD' || end === start) return void res.end();
    await pipeline(bucket.openDownloadStream(file._id, { start, end }), res);
    return;
  }

  if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path))) {
    const repo = m[1] as string;
    const ref = m[2] as string;
    if (method === 'PUT') {
      const chunks: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
      const body = Buffer.concat(chunks);
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const doc = { digest, mediaType: req.headers['content-type'] ?? 'application/vnd.oci.image.manifest.v1+json', body };
      await manifests.replaceOne({ _id: `${repo}@${digest}` }, doc, { upsert: true });
      if (!ref.startsWith('sha256:')) await manifests.replaceOne({ _id: `${repo}:${ref}` }, doc, { upsert: true });
      return send(res, 201, { Location: `/v2/${repo}/manifests/${digest}`, 'Docker-Content-Digest': digest });
    }
    if (method === 'GET' || method === 'HEAD') {
      const doc = await manifests.findOne({ _id: ref.startsWith('sha256:') ? `${repo}@${ref}` : `${repo}:${ref}` });
      if (!doc) return notFound(res);
      const stored = doc.body as Binary;
      const body = Buffer.from(stored.buffer.buffer, stored.buffer.byteOffset, stored.position);
      return send(res, 200, { 'Content-Type': doc.mediaType, 'Docker-Content-Digest': doc.digest, ETag: `"${doc.digest}"` }, body);
    }
  }

  return notFound(res);
}

await client.connect();
const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    console.error(err);
    if (!res.headersSent) send(res, 500);
    else res.destroy();
  });
});
server.requestTimeout = 0;
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`bare-gridfs on 127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => void client.close().then(() => process.exit(0))));
