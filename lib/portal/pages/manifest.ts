import { pipeline } from 'node:stream/promises';
import type { Digest } from '../../digest.js';
import { type DescriptorView, platformText } from '../content.js';
import { type PortalContext, type Visit, ask, readRefusal, renderPage } from '../context.js';
import { type Html, formatSize, html, pathOf, shortDigest, time } from '../html.js';
import { HELM_CONFIG, kindOf } from '../kinds.js';
import { notFound } from '../respond.js';
import { knownRepository } from './repository.js';
import { kindBadge } from './widgets.js';

/** How far and how wide the referrers tree goes on one page. */
const TREE_DEPTH = 4;
const TREE_NODES = 200;

interface Referrer {
  descriptor: DescriptorView;
  children: Referrer[];
}

async function referrers(ctx: PortalContext, name: string, subject: Digest, depth: number, budget: { left: number }): Promise<Referrer[]> {
  if (depth > TREE_DEPTH || budget.left <= 0) return [];
  const found = await ctx.storage.manifests.referrers(name, subject, { n: Math.min(budget.left, 100) });
  budget.left -= found.length;
  const out: Referrer[] = [];
  for (const d of found) {
    out.push({ descriptor: { ...d, annotations: d.annotations ?? {} }, children: await referrers(ctx, name, d.digest, depth + 1, budget) });
  }
  return out;
}

function tree(base: string, nodes: Referrer[]): Html {
  return html`<ul class="tree">${nodes.map(
    (n) => html`<li>${kindBadge(kindOf(n.descriptor.mediaType, n.descriptor.artifactType))} <a class="mono" href="${base}/-/manifest/${n.descriptor.digest}" title="${n.descriptor.digest}">${shortDigest(n.descriptor.digest)}</a>
<span class="muted mono">${n.descriptor.artifactType ?? n.descriptor.mediaType}</span> ${formatSize(n.descriptor.size)}
${n.descriptor.annotations?.['org.opencontainers.image.created'] ? html`<span class="muted">created ${n.descriptor.annotations['org.opencontainers.image.created']}</span>` : ''}
${n.children.length > 0 ? tree(base, n.children) : ''}</li>`,
  )}</ul>`;
}

function annotationsTable(caption: string, annotations: Record<string, string>): Html {
  const entries = Object.entries(annotations);
  if (entries.length === 0) return html`<p class="muted">No annotations.</p>`;
  return html`<table><caption>${caption}</caption><thead><tr><th scope="col">Key</th><th scope="col">Value</th></tr></thead><tbody>${entries.map(
    ([k, v]) => html`<tr><th scope="row" class="mono">${k}</th><td>${v}</td></tr>`,
  )}</tbody></table>`;
}

/** `/r/<name>/-/manifest/<digest>`: config, layers, annotations, platforms and the referrers tree. */
export async function manifestPage(ctx: PortalContext, visit: Visit, name: string, digest: Digest): Promise<void> {
  const answer = await ask(ctx, visit, [
    { action: 'pull', repository: name },
    { action: 'push', repository: name },
    { action: 'delete', repository: name, digest },
  ]);
  if (!answer.granted[0]) throw readRefusal(answer);
  const [, mayPush = false, mayDeleteAccess = false] = answer.granted;
  const mayDelete = mayDeleteAccess && ctx.options.deletes;
  await knownRepository(ctx, name);
  const view = await ctx.content.manifest(name, digest);
  if (!view) throw notFound('This manifest does not exist in this repository, or you may not see it.');
  const [info, tags, children] = await Promise.all([
    ctx.storage.manifests.stat(name, digest),
    ctx.storage.tags.find(name, digest),
    referrers(ctx, name, digest, 1, { left: TREE_NODES }),
  ]);
  const { base } = visit;
  const repoPath = `${base}/r/${pathOf(name)}`;
  const kind = kindOf(view.mediaType, view.artifactType ?? view.config?.mediaType, tags[0]);
  let configJson: string | undefined;
  if (view.config && view.config.size <= 64 * 1024 && /json/.test(view.config.mediaType)) {
    const bytes = await ctx.content.smallBlob(name, view.config.digest, 64 * 1024);
    if (bytes) {
      try {
        configJson = JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2);
      } catch {
        configJson = undefined;
      }
    }
  }
  const blobLink = (d: DescriptorView) => {
    const title = d.annotations?.['org.opencontainers.image.title'];
    const q = title ? `?filename=${encodeURIComponent(title)}` : '';
    return html`<a href="${repoPath}/-/blob/${d.digest}${q}">Download <span class="sr-only">${title ?? d.digest}</span></a>`;
  };
  const platforms =
    view.manifests.length === 0
      ? ''
      : html`<h2>Platforms</h2><table><caption>Manifests of this index</caption><thead><tr><th scope="col">Platform</th><th scope="col">Digest</th><th scope="col">Type</th><th scope="col" class="num">Size</th></tr></thead><tbody>${view.manifests.map(
          (m) => html`<tr><td>${platformText(m.platform) ?? html`<span class="muted">${m.artifactType ?? 'no platform'}</span>`}</td><td><a class="mono" href="${repoPath}/-/manifest/${m.digest}" title="${m.digest}">${shortDigest(m.digest)}</a></td><td class="mono">${m.mediaType}</td><td class="num">${formatSize(m.size)}</td></tr>`,
        )}</tbody></table>`;
  const layers =
    view.layers.length === 0
      ? ''
      : html`<h2>Layers</h2><table><caption>${view.layers.length} layers, ${formatSize(view.layers.reduce((s, l) => s + l.size, 0))}</caption><thead><tr><th scope="col">#</th><th scope="col">Media type</th><th scope="col">File</th><th scope="col" class="num">Size</th><th scope="col">Digest</th><th scope="col"><span class="sr-only">Download</span></th></tr></thead><tbody>${view.layers.map(
          (l, i) => html`<tr><td>${i + 1}</td><td class="mono">${l.mediaType}</td><td>${l.annotations?.['org.opencontainers.image.title'] ?? ''}</td><td class="num">${formatSize(l.size)}</td><td class="mono" title="${l.digest}">${shortDigest(l.digest)}</td><td>${blobLink(l)}</td></tr>`,
        )}</tbody></table>`;
  const actions =
    mayPush || mayDelete
      ? html`<h2>Actions</h2><div class="actions">
${mayPush ? html`<form method="post" action="${repoPath}/-/retag"><input type="hidden" name="digest" value="${digest}"><div><label for="f-tag">New tag for this manifest</label><input id="f-tag" name="tag" required pattern="[A-Za-z0-9_][A-Za-z0-9._\\-]{0,127}" maxlength="128"></div><button type="submit">Add tag</button></form>` : ''}
${mayDelete ? html`<a class="button danger" href="${repoPath}/-/delete?digest=${encodeURIComponent(digest)}">Delete this manifest…</a>` : ''}
</div>`
      : '';
  const body = html`<p class="muted"><a href="${base}/">Repositories</a> / <a href="${repoPath}">${name}</a> /</p>
<h1><span class="sr-only">Manifest </span><span class="mono">${digest}</span></h1>
<dl class="meta">
<dt>Repository</dt><dd><a href="${repoPath}">${name}</a></dd>
<dt>Kind</dt><dd>${kindBadge(kind)}${view.config?.mediaType === HELM_CONFIG ? html` <a href="${repoPath}/-/chart?version=${encodeURIComponent(tags[0] ?? '')}">Chart page</a>` : ''}</dd>
<dt>Media type</dt><dd class="mono">${view.mediaType}</dd>
${view.artifactType ? html`<dt>Artifact type</dt><dd class="mono">${view.artifactType}</dd>` : ''}
<dt>Tags</dt><dd>${tags.length > 0 ? tags.map((t) => html`<span class="badge mono">${t}</span>`) : html`<span class="muted">untagged</span>`}</dd>
<dt>Size</dt><dd>${formatSize(view.size)} manifest, ${formatSize(view.totalSize)} in all</dd>
<dt>Stored</dt><dd>${time(info?.createdAt)}</dd>
${view.subject ? html`<dt>Subject</dt><dd><a class="mono" href="${repoPath}/-/manifest/${view.subject.digest}">${view.subject.digest}</a></dd>` : ''}
</dl>
${platforms}
${view.config ? html`<h2>Config</h2><dl class="meta"><dt>Media type</dt><dd class="mono">${view.config.mediaType}</dd><dt>Digest</dt><dd class="mono">${view.config.digest}</dd><dt>Size</dt><dd>${formatSize(view.config.size)} ${blobLink(view.config)}</dd></dl>
${configJson ? html`<details><summary>Config content</summary><pre>${configJson}</pre></details>` : ''}` : ''}
${layers}
<h2>Annotations</h2>
${annotationsTable('Annotations of the manifest', view.annotations)}
<h2>Referrers</h2>
${children.length > 0 ? tree(repoPath, children) : html`<p class="muted">Nothing refers to this manifest (no signature, SBOM or attestation).</p>`}
${actions}
<details><summary>Manifest JSON</summary><pre>${prettyJson(view.body)}</pre></details>`;
  renderPage(ctx, visit, `${name}@${shortDigest(digest)}`, body, { section: 'repositories' });
}

function prettyJson(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** `/r/<name>/-/blob/<digest>`: a blob of the repository as a download (never rendered by the browser). */
export async function blobDownload(ctx: PortalContext, visit: Visit, name: string, digest: Digest): Promise<void> {
  const answer = await ask(ctx, visit, [{ action: 'pull', repository: name }]);
  if (!answer.granted[0]) throw readRefusal(answer);
  const info = (await ctx.storage.links.has(name, digest)) ? await ctx.storage.blobs.stat(digest) : undefined;
  if (!info) throw notFound('This blob is not in this repository.');
  const stream = await ctx.storage.blobs.open(digest, { signal: visit.signal });
  if (!stream) throw notFound('This blob is not in this repository.');
  const wanted = visit.query.get('filename') ?? digest.replace(':', '-');
  const filename = wanted.replace(/[^\w.+-]+/g, '_').slice(0, 200) || 'blob';
  const { res } = visit;
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  res.setHeader('Content-Length', info.size);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
  await pipeline(stream, res).catch(() => {
    if (!res.writableFinished) res.destroy();
  });
}
