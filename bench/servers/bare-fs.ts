/**
 * The bare Node reference: the least a Node registry on the filesystem has to do, in one file that
 * imports only node:*. It verifies every pushed blob's sha256 (node:crypto, in process), stores blobs
 * and manifests as files renamed into place, answers a manifest GET or HEAD (by tag or digest) from
 * one whole-file read, serves blobs with Range, keeps the catalog and referrers in memory, and lists
 * tags with one readdir. No auth, no links between repositories and blobs, no deletes, no policy.
 *
 *   node bare-fs.js <root> <port>
 *
 * The bench transpiles this file to JavaScript (no TypeScript loader while it serves).
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const root = process.argv[2] ?? '/tmp/bare';
const port = Number(process.argv[3] ?? 5009);
const MiB = 1024 * 1024;

interface Upload {
  repo: string;
  hash: Hash;
  size: number;
}
interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const uploads = new Map<string, Upload>();
const repositories: string[] = [];
const known = new Set<string>();
const referrers = new Map<string, Descriptor[]>();

const dir = (repo: string) => join(root, 'repos', repo.replaceAll('/', ','));
const blobPath = (digest: string) => join(root, 'blobs', digest.slice(7));

async function remember(repo: string): Promise<void> {
  if (known.has(repo)) return;
  known.add(repo);
  await mkdir(join(dir(repo), 't'), { recursive: true });
  await mkdir(join(dir(repo), 'm'), { recursive: true });
  let lo = 0;
  let hi = repositories.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((repositories[mid] as string) < repo) lo = mid + 1;
    else hi = mid;
  }
  repositories.splice(lo, 0, repo);
}

function send(res: ServerResponse, status: number, headers: Record<string, string | number> = {}, body?: Buffer | string): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (body === undefined) {
    if (!('Content-Length' in headers)) res.setHeader('Content-Length', 0);
    res.end();
    return;
  }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.setHeader('Content-Length', bytes.length);
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

const notFound = (res: ServerResponse) => send(res, 404, { 'Content-Type': 'application/json' }, '{"errors":[{"code":"NOT_FOUND"}]}');

/** Appends the request body to the upload's file, hashing it on the way. */
async function append(req: IncomingMessage, id: string, upload: Upload): Promise<void> {
  req.on('data', (chunk: Buffer) => {
    upload.hash.update(chunk);
    upload.size += chunk.length;
  });
  await pipeline(req, createWriteStream(join(root, 'uploads', id), { flags: 'a' }));
}

async function finish(res: ServerResponse, id: string, upload: Upload, digest: string): Promise<void> {
  uploads.delete(id);
  const computed = `sha256:${upload.hash.digest('hex')}`;
  if (computed !== digest) return send(res, 400, { 'Content-Type': 'application/json' }, '{"errors":[{"code":"DIGEST_INVALID"}]}');
  await rename(join(root, 'uploads', id), blobPath(digest));
  await remember(upload.repo);
  send(res, 201, { Location: `/v2/${upload.repo}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const method = req.method ?? 'GET';
  let m: RegExpExecArray | null;

  if (/^\/v2\/?$/.test(path)) return send(res, 200, { 'Content-Type': 'application/json' }, '{}');

  if (path === '/v2/_catalog') {
    const n = Number(query.get('n') ?? repositories.length);
    const last = query.get('last');
    let from = 0;
    if (last) while (from < repositories.length && (repositories[from] as string) <= last) from++;
    const page = repositories.slice(from, from + n);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (from + n < repositories.length && page.length > 0) headers.Link = `</v2/_catalog?n=${n}&last=${encodeURIComponent(page[page.length - 1] as string)}>; rel="next"`;
    return send(res, 200, headers, JSON.stringify({ repositories: page }));
  }

  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path)) && method === 'POST') {
    const repo = m[1] as string;
    const mount = query.get('mount');
    if (mount) {
      const found = await stat(blobPath(mount)).catch(() => undefined);
      if (found) {
        await remember(repo);
        return send(res, 201, { Location: `/v2/${repo}/blobs/${mount}`, 'Docker-Content-Digest': mount });
      }
    }
    const id = randomUUID();
    const upload: Upload = { repo, hash: createHash('sha256'), size: 0 };
    uploads.set(id, upload);
    await writeFile(join(root, 'uploads', id), '');
    const digest = query.get('digest');
    if (digest && req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') {
      await append(req, id, upload);
      return finish(res, id, upload, digest);
    }
    return send(res, 202, { Location: `/v2/${repo}/blobs/uploads/${id}`, Range: '0-0', 'Docker-Upload-UUID': id });
  }

  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(path))) {
    const id = m[2] as string;
    const upload = uploads.get(id);
    if (!upload) return notFound(res);
    const range = req.headers['content-range'];
    if (range !== undefined && Number(/^(\d+)-/.exec(range)?.[1]) !== upload.size) {
      return send(res, 416, { Range: `0-${Math.max(upload.size - 1, 0)}`, Location: `/v2/${upload.repo}/blobs/uploads/${id}` });
    }
    if (method === 'PATCH') {
      await append(req, id, upload);
      return send(res, 202, { Location: `/v2/${upload.repo}/blobs/uploads/${id}`, Range: `0-${Math.max(upload.size - 1, 0)}`, 'Docker-Upload-UUID': id });
    }
    if (method === 'PUT') {
      const digest = query.get('digest') ?? '';
      if (req.headers['content-length'] !== '0') await append(req, id, upload);
      return finish(res, id, upload, digest);
    }
  }

  if ((m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path)) && (method === 'GET' || method === 'HEAD')) {
    const digest = m[2] as string;
    const info = await stat(blobPath(digest)).catch(() => undefined);
    if (!info) return notFound(res);
    const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest, 'Accept-Ranges': 'bytes' };
    let start = 0;
    let end = info.size; // exclusive
    const r = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (r) {
      start = Number(r[1]);
      end = r[2] ? Math.min(Number(r[2]) + 1, info.size) : info.size;
      headers['Content-Range'] = `bytes ${start}-${end - 1}/${info.size}`;
    }
    res.statusCode = r ? 206 : 200;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader('Content-Length', end - start);
    if (method === 'HEAD' || end === start) return void res.end();
    await pipeline(createReadStream(blobPath(digest), { start, end: end - 1, highWaterMark: MiB }), res);
    return;
  }

  if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path))) {
    const repo = m[1] as string;
    const ref = m[2] as string;
    const byDigest = ref.startsWith('sha256:');
    if (method === 'PUT') {
      const body = await readBody(req);
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const mediaType = req.headers['content-type'] ?? 'application/vnd.oci.image.manifest.v1+json';
      await remember(repo);
      const record = Buffer.concat([Buffer.from(`${mediaType}\n`), body]);
      const staged = join(root, 'uploads', randomUUID());
      await writeFile(staged, record);
      await rename(staged, join(dir(repo), 'm', digest.slice(7)));
      if (!byDigest) {
        await writeFile(staged, Buffer.concat([Buffer.from(`${digest}\n`), record]));
        await rename(staged, join(dir(repo), 't', ref));
      }
      if (body.includes('"subject"')) {
        const parsed = JSON.parse(body.toString()) as { subject?: { digest: string }; artifactType?: string; config?: { mediaType: string }; annotations?: Record<string, string> };
        if (parsed.subject) {
          const key = `${repo}@${parsed.subject.digest}`;
          const list = referrers.get(key) ?? [];
          const artifactType = parsed.artifactType ?? parsed.config?.mediaType;
          list.push({ mediaType, digest, size: body.length, ...(artifactType && { artifactType }), ...(parsed.annotations && { annotations: parsed.annotations }) });
          referrers.set(key, list);
        }
      }
      return send(res, 201, { Location: `/v2/${repo}/manifests/${digest}`, 'Docker-Content-Digest': digest });
    }
    if (method === 'GET' || method === 'HEAD') {
      if (!known.has(repo)) return notFound(res);
      const file = await readFile(byDigest ? join(dir(repo), 'm', ref.slice(7)) : join(dir(repo), 't', ref)).catch(() => undefined);
      if (!file) return notFound(res);
      let at = 0;
      let digest = ref;
      if (!byDigest) {
        at = file.indexOf(10) + 1;
        digest = file.subarray(0, at - 1).toString('latin1');
      }
      const newline = file.indexOf(10, at);
      const mediaType = file.subarray(at, newline).toString('latin1');
      return send(res, 200, { 'Content-Type': mediaType, 'Docker-Content-Digest': digest, ETag: `"${digest}"` }, file.subarray(newline + 1));
    }
  }

  if ((m = /^\/v2\/(.+)\/tags\/list$/.exec(path))) {
    const repo = m[1] as string;
    if (!known.has(repo)) return notFound(res);
    const tags = (await readdir(join(dir(repo), 't'))).sort();
    const n = query.get('n');
    const last = query.get('last');
    let from = 0;
    if (last) while (from < tags.length && (tags[from] as string) <= last) from++;
    const page = n === null ? tags.slice(from) : tags.slice(from, from + Number(n));
    return send(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify({ name: repo, tags: page }));
  }

  if ((m = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/.exec(path))) {
    const list = [...(referrers.get(`${m[1] as string}@${m[2] as string}`) ?? [])].sort((a, b) => (a.digest < b.digest ? -1 : 1));
    const type = 'application/vnd.oci.image.index.v1+json';
    return send(res, 200, { 'Content-Type': type }, JSON.stringify({ schemaVersion: 2, mediaType: type, manifests: list }));
  }

  return notFound(res);
}

await mkdir(join(root, 'blobs'), { recursive: true });
await mkdir(join(root, 'uploads'), { recursive: true });
await mkdir(join(root, 'repos'), { recursive: true });
const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    console.error(err);
    if (!res.headersSent) send(res, 500);
    else res.destroy();
  });
});
server.requestTimeout = 0;
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`bare-fs on 127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
