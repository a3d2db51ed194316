import { eachLimited } from '../../concurrency.js';
import type { Digest } from '../../digest.js';
import type { ManifestView } from '../content.js';
import { platformText } from '../content.js';
import { type PortalContext, type Visit, ask, readRefusal, renderPage } from '../context.js';
import { type Html, formatSize, html, pathOf, shortDigest, time } from '../html.js';
import { KINDS, KIND_LABELS } from '../kinds.js';
import { notFound } from '../respond.js';
import { parseQuery, queryString, searchTags } from '../search.js';
import type { TagSummary } from '../summary.js';
import { command, kindBadge, pager, select } from './widgets.js';

/** `1 tag`, `2 tags`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A repository summary older than this is read again in the background when its page is shown. */
const STALE_MS = 60_000;

/** Makes sure the index knows `name` if the store does (a push by another instance), or throws 404. */
export async function knownRepository(ctx: PortalContext, name: string): Promise<void> {
  if (ctx.index.repository(name)) {
    if (ctx.index.olderThan(name, STALE_MS)) void ctx.index.refresh(name).catch((err: unknown) => ctx.options.logger.error({ err, repository: name }, 'portal: reading a repository failed'));
    return;
  }
  await ctx.index.refresh(name);
  if (!ctx.index.repository(name)) throw notFound('This repository does not exist, or you may not see it.');
}

/** The host clients reach the registry at, for pull commands. */
export function registryHost(ctx: PortalContext, visit: Visit): string {
  return ctx.options.registryHost ?? visit.req.headers.host ?? 'localhost';
}

/** Pull commands for one tag of a repository, for docker/podman, oras and (for charts) helm. */
export function pullCommands(host: string, name: string, tag: TagSummary): Html {
  const ref = `${host}/${name}:${tag.name}`;
  const lines = [];
  if (tag.kind === 'helm') {
    const version = tag.name.replace(/_/g, '+');
    lines.push(command('helm', `helm pull oci://${host}/${name} --version ${version}`));
    lines.push(command('helm', `helm install ${name.split('/').pop() ?? name} oci://${host}/${name} --version ${version}`));
  } else if (tag.kind === 'image') {
    lines.push(command('docker', `docker pull ${ref}`));
    lines.push(command('podman', `podman pull ${ref}`));
  }
  lines.push(command('oras', `oras pull ${ref}`));
  return html`<ul class="commands">${lines}</ul>`;
}

/** `/r/<name>`: the tags of a repository with what they point at, pull commands and actions. */
export async function repositoryPage(ctx: PortalContext, visit: Visit, name: string): Promise<void> {
  const answer = await ask(ctx, visit, [
    { action: 'pull', repository: name },
    { action: 'delete', repository: name },
  ]);
  if (!answer.granted[0]) throw readRefusal(answer);
  const mayDelete = answer.granted[1] === true && ctx.options.deletes;
  await knownRepository(ctx, name);
  const summary = ctx.index.repository(name);
  const all = ctx.index.tags(name) ?? [];
  const params = new URLSearchParams(visit.query);
  if (!params.has('sort')) {
    params.set('sort', 'pushed');
  }
  const query = parseQuery(params, ctx.options.pageSize);
  const found = await searchTags(all, query);
  const details = new Map<Digest, ManifestView | undefined>();
  await eachLimited([...new Set(found.items.map((t) => t.digest))], 8, async (digest) => {
    details.set(digest, await ctx.content.manifest(name, digest));
    return true;
  });
  const { base } = visit;
  const repoPath = `${base}/r/${pathOf(name)}`;
  const host = registryHost(ctx, visit);
  const pushed = visit.query.get('pushed');
  const deleted = visit.query.get('deleted');
  const notice = pushed ? html`<p class="notice" role="status">Pushed <strong>${pushed}</strong>.</p>` : deleted ? html`<p class="notice" role="status">Deleted <strong>${deleted}</strong>.</p>` : '';
  const isChart = summary?.kinds.includes('helm') === true;
  const rows = found.items.map((tag) => {
    const view = details.get(tag.digest);
    const platforms = view?.manifests.map((m) => platformText(m.platform)).filter((p): p is string => p !== undefined) ?? [];
    const manifestUrl = `${repoPath}/-/manifest/${tag.digest}`;
    return html`<tr>
<th scope="row"><span class="mono">${tag.name}</span></th>
<td>${kindBadge(tag.kind)}<div class="muted mono">${tag.artifactType ?? tag.mediaType}</div></td>
<td><a class="mono" href="${manifestUrl}" title="${tag.digest}">${shortDigest(tag.digest)}</a></td>
<td class="num">${view ? formatSize(view.totalSize) : formatSize(tag.size)}</td>
<td>${time(tag.pushedAt)}</td>
<td>${platforms.length > 0 ? platforms.join(', ') : html`<span class="muted">–</span>`}</td>
<td><details><summary>Pull <span class="sr-only">${tag.name}</span></summary>${pullCommands(host, name, tag)}</details>
${tag.kind === 'helm' ? html`<a href="${repoPath}/-/chart?version=${encodeURIComponent(tag.name)}">Chart</a>` : ''}
${mayDelete ? html` <a href="${repoPath}/-/delete?tag=${encodeURIComponent(tag.name)}">Delete tag <span class="sr-only">${tag.name}</span></a>` : ''}</td>
</tr>`;
  });
  const here = repoPath;
  const next = found.next ? `${here}${queryString(query, ctx.options.pageSize, { cursor: found.next })}` : undefined;
  const first = query.cursor ? `${here}${queryString(query, ctx.options.pageSize)}` : undefined;
  const body = html`<p class="muted"><a href="${base}/">Repositories</a> /</p>
<h1>${name}</h1>
${notice}
<p>${summary?.kinds.map(kindBadge) ?? ''} ${plural(summary?.tagCount ?? 0, 'tag')}${summary?.updatedAt ? html`, last push ${time(summary.updatedAt)}` : ''}${isChart ? html` · <a href="${repoPath}/-/chart">Helm chart page</a>` : ''}</p>
<form class="filters" method="get" action="${here}" role="search" aria-label="Search tags">
<div><label for="f-q">Tag contains</label><input id="f-q" name="q" type="search" value="${query.q ?? ''}"></div>
${select('type', 'Artifact type', [['', 'All types'], ...KINDS.map((k) => [k, KIND_LABELS[k]] as const)], query.type)}
${select('sort', 'Sort by', [['pushed', 'Last push'], ['name', 'Name']], query.sort)}
${select('order', 'Order', [['desc', 'Descending'], ['asc', 'Ascending']], query.order)}
<div><button type="submit">Filter</button></div>
</form>
${
  rows.length === 0
    ? html`<p>No tag matches.</p>`
    : html`<table>
<caption>Tags of ${name}</caption>
<thead><tr><th scope="col">Tag</th><th scope="col">Artifact type</th><th scope="col">Digest</th><th scope="col" class="num">Size</th><th scope="col">Pushed</th><th scope="col">Platforms</th><th scope="col">Use</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
}
${pager(first, next)}`;
  renderPage(ctx, visit, name, body, { section: 'repositories' });
}
