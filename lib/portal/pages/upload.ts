import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import multer from 'multer';
import type { Access } from '../../auth.js';
import { type Digest, digestOf } from '../../digest.js';
import { isRepositoryName, isTag } from '../../names.js';
import type { Answer } from '../access.js';
import { ArchiveError, readChartArchive } from '../chart-archive.js';
import { type ChartMetadata, ChartError, parseChartYaml, tagOfVersion } from '../chart-meta.js';
import { type PortalContext, type Visit, ask, renderPage, writeRefusal } from '../context.js';
import { checkSameOrigin } from '../form.js';
import { type Html, html, pathOf } from '../html.js';
import { EMPTY_CONFIG, HELM_CONFIG, HELM_LAYER, OCI_MANIFEST } from '../kinds.js';
import { type StoredBlob, pushManifest } from '../ops.js';
import { PortalError, badRequest, redirect } from '../respond.js';
import { type StagedFile, StagingEngine, commitStaged, discardStaged } from '../upload-engine.js';

/** Upload sessions of the portal are created under this name: they are never visible as a repository. */
const STAGING = 'berth-portal/staging';
const MEDIA_TYPE = /^[A-Za-z0-9][\w!#$&^.+-]{0,126}\/[A-Za-z0-9][\w!#$&^.+-]{0,126}$/;
const DEFAULT_ARTIFACT_TYPE = 'application/vnd.unknown.artifact.v1';

interface Fields {
  kind: 'chart' | 'files';
  namespace: string;
  repository: string;
  tag: string;
  artifactType: string;
}

function fieldsOf(body: Record<string, unknown>): Fields {
  const text = (key: string) => (typeof body[key] === 'string' ? body[key].trim() : '');
  return {
    kind: text('kind') === 'files' ? 'files' : 'chart',
    namespace: text('namespace').replace(/^\/+|\/+$/g, ''),
    repository: text('repository'),
    tag: text('tag'),
    artifactType: text('artifactType') || DEFAULT_ARTIFACT_TYPE,
  };
}

function checkFiles(f: Fields): void {
  if (!isRepositoryName(f.repository)) throw badRequest(`"${f.repository}" is not a valid repository name: lowercase letters, digits and . _ - separated by /.`);
  if (!isTag(f.tag)) throw badRequest(`"${f.tag}" is not a valid tag: up to 128 letters, digits, "_", "." and "-", not starting with "." or "-".`);
  if (!MEDIA_TYPE.test(f.artifactType)) throw badRequest(`"${f.artifactType}" is not a media type like application/vnd.example.thing.v1.`);
}

/** `512 MiB`, `64 KiB`: limits are set in powers of two. */
function binarySize(bytes: number): string {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  return `${bytes} bytes`;
}

export interface Uploads {
  page(visit: Visit): Promise<void>;
  post(visit: Visit): Promise<void>;
}

/** The upload page and its form handler (multer, with the staging engine). */
export function uploads(ctx: PortalContext): Uploads {
  const limits = ctx.options.uploads || { maxFileSize: 0, maxFiles: 0 };
  const answers = new WeakMap<IncomingMessage, Answer>();
  const refusals = new WeakMap<IncomingMessage, PortalError>();

  // files are authorized before their first byte is stored: the form names their repository and tag first
  const engine = new StagingEngine(ctx.storage, STAGING, async (req, body) => {
    const f = fieldsOf(body);
    if (f.kind !== 'files') return;
    checkFiles(f);
    let answer = answers.get(req);
    if (!answer) {
      answer = await ctx.gate.ask(req, [{ action: 'push', repository: f.repository }, { action: 'push', repository: f.repository, tag: f.tag }]);
      answers.set(req, answer);
    }
    if (answer.granted.includes(false)) {
      const refusal = writeRefusal(answer, `push to ${f.repository}`);
      refusals.set(req, refusal);
      throw refusal;
    }
  });
  const receive = multer({
    storage: engine,
    limits: { fileSize: limits.maxFileSize, files: limits.maxFiles, fields: 20, fieldSize: 4096, parts: limits.maxFiles + 20 },
  }).array('files', limits.maxFiles);

  function form(visit: Visit, error?: string, f?: Partial<Fields>): Html {
    const { base } = visit;
    const kind = f?.kind ?? 'chart';
    return html`<h1>Upload</h1>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="${base}/upload" enctype="multipart/form-data">
<fieldset><legend>What are you uploading?</legend>
<input type="radio" id="k-chart" name="kind" value="chart"${kind === 'chart' ? html` checked` : ''}> <label for="k-chart">A Helm chart package (.tgz)</label>
<input type="radio" id="k-files" name="kind" value="files"${kind === 'files' ? html` checked` : ''}> <label for="k-files">Files, as an OCI artifact</label>
</fieldset>
<fieldset><legend>Helm chart</legend>
<div class="field"><label for="f-namespace">Namespace</label><input id="f-namespace" name="namespace" value="${f?.namespace ?? ''}" aria-describedby="h-namespace" autocomplete="off">
<p class="hint" id="h-namespace">The chart is pushed to <code>namespace/&lt;chart name&gt;</code> and tagged with its version, as <code>helm push chart.tgz oci://registry/namespace</code> does. Leave empty for the top level.</p></div>
</fieldset>
<fieldset><legend>Files</legend>
<div class="field"><label for="f-repository">Repository</label><input id="f-repository" name="repository" value="${f?.repository ?? ''}" autocomplete="off"></div>
<div class="field"><label for="f-tag">Tag</label><input id="f-tag" name="tag" value="${f?.tag ?? ''}" autocomplete="off"></div>
<div class="field"><label for="f-artifactType">Artifact type</label><input id="f-artifactType" name="artifactType" value="${f?.artifactType ?? DEFAULT_ARTIFACT_TYPE}" aria-describedby="h-type">
<p class="hint" id="h-type">A media type naming what the files are, e.g. <code>application/vnd.example.config.v1</code>.</p></div>
</fieldset>
<div class="field"><label for="f-files">File or files</label><input id="f-files" name="files" type="file" multiple required aria-describedby="h-files">
<p class="hint" id="h-files">Up to ${limits.maxFiles} files of at most ${binarySize(limits.maxFileSize)} each; a chart is one .tgz file.</p></div>
<button type="submit">Upload</button>
</form>`;
  }

  async function publishChart(visit: Visit, f: Fields, file: StagedFile): Promise<{ repository: string; tag: string }> {
    const source = await ctx.storage.uploads.open(file.uploadId, { signal: visit.signal });
    if (!source) throw new Error('the staged chart disappeared');
    const files = await readChartArchive(source, ctx.options.chartLimits, visit.signal);
    if (files.chartYaml === undefined) throw new ChartError('this archive has no Chart.yaml in its top directory: is it a chart packaged with helm package?');
    const meta: ChartMetadata = parseChartYaml(files.chartYaml);
    if (files.top !== meta.name) throw new ChartError(`the archive's directory "${files.top}" is not the chart's name "${meta.name}"`);
    const repository = f.namespace ? `${f.namespace}/${meta.name}` : meta.name;
    if (!isRepositoryName(repository)) throw badRequest(`"${repository}" is not a valid repository name (chart names and namespaces must be lowercase for OCI).`);
    const tag = tagOfVersion(meta.version);
    if (!isTag(tag)) throw badRequest(`chart version ${meta.version} cannot be a tag`);
    await authorizePush(visit, repository, tag);
    const config = Buffer.from(JSON.stringify(meta));
    const configBlob = await putSmall(config);
    const layer = await commitStaged(ctx.storage, file, visit.signal);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: HELM_CONFIG, digest: configBlob.digest, size: configBlob.size },
      layers: [{ mediaType: HELM_LAYER, digest: layer.digest, size: layer.size }],
      annotations: {
        ...(meta.description !== undefined && { 'org.opencontainers.image.description': meta.description }),
        'org.opencontainers.image.title': meta.name,
        'org.opencontainers.image.version': meta.version,
        'org.opencontainers.image.created': new Date().toISOString(),
      },
    };
    await pushManifest(ctx, repository, tag, Buffer.from(JSON.stringify(manifest)), [configBlob, { digest: layer.digest, size: layer.size }], visit.identity);
    return { repository, tag };
  }

  async function publishFiles(visit: Visit, f: Fields, files: StagedFile[]): Promise<{ repository: string; tag: string }> {
    checkFiles(f);
    await authorizePush(visit, f.repository, f.tag);
    const titles = new Set<string>();
    for (const file of files) {
      if (titles.has(file.originalname)) throw badRequest(`two files are named ${file.originalname}; an artifact names each file once`);
      titles.add(file.originalname);
    }
    const empty = await putSmall(Buffer.from('{}'));
    const layers = [];
    const blobs: StoredBlob[] = [empty];
    for (const file of files) {
      const blob = await commitStaged(ctx.storage, file, visit.signal);
      blobs.push({ digest: blob.digest, size: blob.size });
      layers.push({
        mediaType: MEDIA_TYPE.test(file.mimetype) ? file.mimetype : 'application/octet-stream',
        digest: blob.digest,
        size: blob.size,
        annotations: { 'org.opencontainers.image.title': file.originalname.replace(/[\\/]/g, '_').slice(0, 255) || 'file' },
      });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: f.artifactType,
      config: { mediaType: EMPTY_CONFIG, digest: empty.digest, size: empty.size },
      layers,
      annotations: { 'org.opencontainers.image.created': new Date().toISOString() },
    };
    await pushManifest(ctx, f.repository, f.tag, Buffer.from(JSON.stringify(manifest)), blobs, visit.identity);
    return { repository: f.repository, tag: f.tag };
  }

  async function authorizePush(visit: Visit, repository: string, tag: string): Promise<void> {
    const accesses: Access[] = [{ action: 'push', repository }, { action: 'push', repository, tag }];
    const answer = await ask(ctx, visit, accesses);
    if (answer.granted.includes(false)) throw writeRefusal(answer, `push to ${repository}`);
  }

  /** A small blob (a config) the portal wrote itself: stored by its computed digest, unlinked until the manifest links it. */
  async function putSmall(bytes: Buffer): Promise<StoredBlob> {
    const digest: Digest = digestOf('sha256', bytes);
    const info = await ctx.storage.blobs.put(digest, Readable.from([bytes]));
    return { digest, size: info.size };
  }

  return {
    async page(visit) {
      await ask(ctx, visit, [{ action: 'catalog' }]);
      renderPage(ctx, visit, 'Upload', form(visit), { section: 'upload' });
    },

    async post(visit) {
      const { req, res } = visit;
      const state = engine.state(req);
      const r = req as IncomingMessage & { body?: Record<string, unknown>; files?: StagedFile[] };
      try {
        checkSameOrigin(req);
        await new Promise<void>((resolve, reject) => {
          // multer's types name Express; it only needs Node's request and response
          receive(req as never, res as never, (err?: unknown) => (err ? reject(refusals.get(req) ?? (err as Error)) : resolve()));
        });
        const f = fieldsOf(r.body ?? {});
        const files = r.files ?? [];
        if (files.length === 0) throw badRequest('Choose a file to upload.');
        let done: { repository: string; tag: string };
        if (f.kind === 'chart') {
          if (files.length !== 1) throw badRequest('Upload one chart package at a time.');
          done = await publishChart(visit, f, files[0] as StagedFile);
        } else {
          done = await publishFiles(visit, f, files);
        }
        redirect(res, `${visit.base}/r/${pathOf(done.repository)}?pushed=${encodeURIComponent(done.tag)}`);
      } catch (err) {
        const refusal = toPortalError(err);
        visit.identity ??= answers.get(req)?.identity;
        const headers: Record<string, string> = refusal.status === 401 && !ctx.options.loginUrl ? { 'WWW-Authenticate': ctx.options.challenge } : {};
        renderPage(ctx, visit, 'Upload', form(visit, refusal.message, fieldsOf(r.body ?? {})), { status: refusal.status, section: 'upload', headers });
      } finally {
        await discardStaged(ctx.storage, state.staged);
      }
    },
  };

  function toPortalError(err: unknown): PortalError {
    if (err instanceof PortalError) return err;
    if (err instanceof ArchiveError || err instanceof ChartError) return badRequest(`This is not a chart berth can read: ${err.message}.`);
    if (err instanceof multer.MulterError) {
      if (err.code === 'LIMIT_FILE_SIZE') return new PortalError(413, 'TOO_LARGE', `A file is larger than the limit of ${binarySize(limits.maxFileSize)}.`);
      if (err.code === 'LIMIT_FILE_COUNT' || err.code === 'LIMIT_UNEXPECTED_FILE') return new PortalError(413, 'TOO_MANY', `Upload at most ${limits.maxFiles} files at once.`);
      return badRequest(`The form could not be read (${err.code}).`);
    }
    throw err;
  }

}
