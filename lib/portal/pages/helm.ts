import type { PortalContext, Visit } from '../context.js';
import { renderPage } from '../context.js';
import type { HelmRepository } from '../helm-repo.js';
import { html, pathOf } from '../html.js';
import { command } from './widgets.js';

/** `/helm/`: how to use the classic chart repository, and the charts the caller may see in it. */
export async function helmPage(ctx: PortalContext, visit: Visit, helm: HelmRepository): Promise<void> {
  const entries = await helm.charts('');
  const repositories = [...new Set(entries.map((e) => e.repository))];
  const answer = await ctx.gate.pullable(visit.req, repositories);
  if (answer.identity) visit.identity = answer.identity;
  const allowed = new Set(repositories.filter((_, i) => answer.granted[i]));
  const latest = new Map<string, (typeof entries)[number]>();
  for (const e of entries) if (allowed.has(e.repository) && !latest.has(e.metadata.name)) latest.set(e.metadata.name, e);
  const proto = (visit.req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  const url = `${proto}://${visit.req.headers.host ?? 'localhost'}${visit.base}/helm`;
  const alias = ctx.options.title.toLowerCase().replace(/[^a-z0-9-]+/g, '-') || 'berth';
  const body = html`<h1>Helm chart repository</h1>
<p>Every Helm chart pushed to this registry (with <code>helm push</code> or the upload page) is also served as a classic chart repository. A namespace is a repository of its own: <code>${url}/&lt;namespace&gt;</code> holds the charts under that namespace.</p>
<ul class="commands">
${command('add', `helm repo add ${alias} ${url}`)}
${command('search', `helm search repo ${alias}/`)}
${command('install', `helm install my-release ${alias}/<chart>`)}
</ul>
<h2>Charts</h2>
${
  latest.size === 0
    ? html`<p>There is no chart you may see yet.</p>`
    : html`<table><caption>Charts in ${url}, newest version of each</caption><thead><tr><th scope="col">Chart</th><th scope="col">Version</th><th scope="col">App version</th><th scope="col">Description</th></tr></thead><tbody>${[...latest.values()].map(
        (e) => html`<tr><td><a href="${visit.base}/r/${pathOf(e.repository)}/-/chart">${e.metadata.name}</a></td><td>${e.metadata.version}</td><td>${e.metadata.appVersion ?? ''}</td><td>${e.metadata.description ?? ''}</td></tr>`,
      )}</tbody></table>`
}`;
  renderPage(ctx, visit, 'Helm chart repository', body, { section: 'helm' });
}
