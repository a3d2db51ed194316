import { ArchiveError } from '../chart-archive.js';
import { type ChartMetadata, ChartError, compareVersions, isPrerelease } from '../chart-meta.js';
import type { ChartView } from '../content.js';
import { type PortalContext, type Visit, ask, readRefusal, renderPage } from '../context.js';
import { type Html, html, pathOf, safeImageData, safeUrl, time } from '../html.js';
import { renderMarkdown } from '../markdown.js';
import { notFound } from '../respond.js';
import type { TagSummary } from '../summary.js';
import { knownRepository, plural, registryHost } from './repository.js';
import { command } from './widgets.js';

const versionOf = (tag: string) => tag.replace(/_/g, '+');

/** The newest stable version, or the newest prerelease when there is no stable one (as helm picks). */
export function newestChart(tags: readonly TagSummary[]): TagSummary | undefined {
  const sorted = [...tags].sort((a, b) => compareVersions(versionOf(b.name), versionOf(a.name)));
  return sorted.find((t) => !isPrerelease(versionOf(t.name))) ?? sorted[0];
}

function link(value: string | undefined, text?: string): Html | string {
  const url = safeUrl(value);
  return url ? html`<a href="${url}" rel="nofollow noopener noreferrer">${text ?? url}</a>` : (value ?? '');
}

function metadataList(meta: ChartMetadata): Html {
  const row = (label: string, value: Html | string | undefined) => (value === undefined || value === '' ? '' : html`<dt>${label}</dt><dd>${value}</dd>`);
  return html`<dl class="meta">
${row('Chart version', meta.version)}
${row('App version', meta.appVersion)}
${row('API version', meta.apiVersion)}
${row('Type', meta.type)}
${row('Kubernetes', meta.kubeVersion)}
${row('Home', meta.home ? link(meta.home) : undefined)}
${row('Keywords', meta.keywords ? html`${meta.keywords.map((k) => html`<span class="badge">${k}</span>`)}` : undefined)}
${row('Sources', meta.sources ? html`${meta.sources.map((s) => html`<div>${link(s)}</div>`)}` : undefined)}
${row(
  'Maintainers',
  meta.maintainers
    ? html`${meta.maintainers.map((m) => html`<div>${m.url ? link(m.url, m.name) : m.name}${m.email ? html` &lt;${/^[^\s@<>"]+@[^\s@<>"]+$/.test(m.email) ? html`<a href="mailto:${m.email}">${m.email}</a>` : m.email}&gt;` : ''}</div>`)}`
    : undefined,
)}
${row('Icon', meta.icon !== undefined && !safeImageData(meta.icon) ? link(meta.icon) : undefined)}
${row('Deprecated', meta.deprecated ? 'yes' : undefined)}
</dl>
${
  meta.dependencies
    ? html`<h2>Dependencies</h2><table><caption>Charts this chart depends on</caption><thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Repository</th><th scope="col">Condition</th></tr></thead><tbody>${meta.dependencies.map(
        (d) => html`<tr><td>${d.name}${d.alias ? html` <span class="muted">as ${d.alias}</span>` : ''}</td><td class="mono">${d.version ?? ''}</td><td class="mono">${d.repository ?? ''}</td><td class="mono">${d.condition ?? ''}</td></tr>`,
      )}</tbody></table>`
    : ''
}`;
}

/** `/r/<name>/-/chart?version=<tag>`: Chart.yaml, README, values.yaml and every version of a Helm chart. */
export async function chartPage(ctx: PortalContext, visit: Visit, name: string): Promise<void> {
  const answer = await ask(ctx, visit, [{ action: 'pull', repository: name }]);
  if (!answer.granted[0]) throw readRefusal(answer);
  await knownRepository(ctx, name);
  const charts = (ctx.index.tags(name) ?? []).filter((t) => t.kind === 'helm');
  const wanted = visit.query.get('version');
  const tag = wanted ? charts.find((t) => t.name === wanted || t.name === wanted.replace(/\+/g, '_')) : newestChart(charts);
  if (!tag) throw notFound(wanted ? `There is no chart version ${wanted} in ${name}.` : `${name} holds no Helm chart.`);
  const view = await ctx.content.manifest(name, tag.digest);
  if (!view) throw notFound(`There is no chart version ${tag.name} in ${name}.`);
  let chart: ChartView | undefined;
  let problem: string | undefined;
  try {
    chart = await ctx.content.chart(name, view, visit.signal);
  } catch (err) {
    if (!(err instanceof ArchiveError || err instanceof ChartError)) throw err;
    problem = err.message;
  }
  const meta = chart?.metadata ?? (await ctx.content.chartConfig(name, view));
  const { base } = visit;
  const repoPath = `${base}/r/${pathOf(name)}`;
  const host = registryHost(ctx, visit);
  const version = meta?.version ?? versionOf(tag.name);
  const chartName = meta?.name ?? name.split('/').pop() ?? name;
  const slash = name.lastIndexOf('/');
  const scope = slash < 0 ? '' : name.slice(0, slash);
  const proto = (visit.req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  const repoUrl = `${proto}://${visit.req.headers.host ?? 'localhost'}${base}/helm${scope ? `/${scope}` : ''}`;
  const repoAlias = (scope.split('/').pop() ?? '') || ctx.options.title.toLowerCase().replace(/[^a-z0-9-]+/g, '-') || 'berth';
  const versions = [...charts].sort((a, b) => compareVersions(versionOf(b.name), versionOf(a.name)));
  const icon = safeImageData(meta?.icon);
  const body = html`<p class="muted"><a href="${base}/">Repositories</a> / <a href="${repoPath}">${name}</a> /</p>
<div class="chart-head">${icon ? html`<img src="${icon}" alt="">` : ''}<h1>${chartName} <span class="muted">${version}</span></h1></div>
${meta?.description ? html`<p>${meta.description}</p>` : ''}
${problem ? html`<p class="error" role="alert">This chart's archive could not be read: ${problem}</p>` : ''}
<h2>Install</h2>
<ul class="commands">
${command('OCI', `helm install ${chartName} oci://${host}/${name} --version ${version}`)}
${command('OCI', `helm pull oci://${host}/${name} --version ${version}`)}
${command('Classic repository', `helm repo add ${repoAlias} ${repoUrl}`)}
${command('Classic repository', `helm install ${chartName} ${repoAlias}/${chartName} --version ${version}`)}
</ul>
<h2>Chart</h2>
${meta ? metadataList(meta) : html`<p class="muted">No chart metadata could be read.</p>`}
<h2>README</h2>
${chart?.readme ? html`<div class="readme">${renderMarkdown(chart.readme.text)}</div>` : html`<p class="muted">This chart has no README.</p>`}
<h2>Default values</h2>
${chart?.values !== undefined ? html`<details open><summary>values.yaml</summary><pre>${chart.values}</pre></details>` : html`<p class="muted">This chart has no values.yaml.</p>`}
<h2>Versions</h2>
<table><caption>${plural(versions.length, 'version')} of ${name}</caption><thead><tr><th scope="col">Version</th><th scope="col">Pushed</th><th scope="col">Manifest</th></tr></thead><tbody>${versions.map(
    (t) =>
      html`<tr><td>${t.name === tag.name ? html`<strong aria-current="page">${versionOf(t.name)}</strong>` : html`<a href="${repoPath}/-/chart?version=${encodeURIComponent(t.name)}">${versionOf(t.name)}</a>`}</td><td>${time(t.pushedAt)}</td><td><a class="mono" href="${repoPath}/-/manifest/${t.digest}">${t.digest.slice(0, 19)}</a></td></tr>`,
  )}</tbody></table>`;
  renderPage(ctx, visit, `${chartName} ${version}`, body, { section: 'repositories' });
}
