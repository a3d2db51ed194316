import { type PortalContext, type Visit, renderPage } from '../context.js';
import { html, pathOf, time } from '../html.js';
import { KINDS, KIND_LABELS } from '../kinds.js';
import { PortalError } from '../respond.js';
import { parseQuery, queryString, searchRepositories } from '../search.js';
import { kindBadge, pager, select } from './widgets.js';

/** `/`: repositories the caller may pull, searchable by name, filtered by kind, sorted by name or last push. */
export async function repositoriesPage(ctx: PortalContext, visit: Visit): Promise<void> {
  const query = parseQuery(visit.query, ctx.options.pageSize);
  const found = await searchRepositories(ctx.index, ctx.gate, visit.req, query);
  if (found.identity) visit.identity = found.identity;
  if (found.invalid) throw new PortalError(401, 'UNAUTHORIZED', 'Your credentials were not accepted. Sign in again.');
  const { base } = visit;
  const here = `${base}/`;
  const filtered = query.q !== undefined || query.type !== undefined || query.prefix !== undefined || query.since !== undefined;
  const next = found.next ? `${here}${queryString(query, ctx.options.pageSize, { cursor: found.next })}` : undefined;
  const first = query.cursor ? `${here}${queryString(query, ctx.options.pageSize)}` : undefined;
  const sortText = query.sort === 'pushed' ? `last push, ${query.order === 'desc' ? 'newest' : 'oldest'} first` : `name, ${query.order === 'asc' ? 'A to Z' : 'Z to A'}`;
  const rows = found.items.map(
    (r) => html`<tr>
<td><a href="${base}/r/${pathOf(r.name)}">${r.name}</a></td>
<td>${r.kinds.map(kindBadge)}</td>
<td class="num">${r.tagCount}</td>
<td>${time(r.updatedAt)}</td>
</tr>`,
  );
  const body = html`<h1>Repositories</h1>
<form class="filters" method="get" action="${here}" role="search" aria-label="Search repositories">
<div><label for="f-q">Name contains</label><input id="f-q" name="q" type="search" value="${query.q ?? ''}" autocomplete="off"></div>
${select('type', 'Artifact type', [['', 'All types'], ...KINDS.map((k) => [k, KIND_LABELS[k]] as const)], query.type)}
${select('sort', 'Sort by', [['name', 'Name'], ['pushed', 'Last push']], query.sort)}
${select('order', 'Order', [['asc', 'Ascending'], ['desc', 'Descending']], query.order)}
<div><label for="f-since">Pushed since</label><input id="f-since" name="since" type="date" value="${query.since ? query.since.toISOString().slice(0, 10) : ''}"></div>
<div><button type="submit">Search</button>${filtered ? html` <a href="${here}">Clear</a>` : ''}</div>
</form>
${
  rows.length === 0
    ? html`<p>${filtered ? 'No repository matches this search.' : visit.identity || ctx.options.loginUrl === undefined ? 'There is no repository you may see yet.' : html`There is no repository you may see yet. <a href="${ctx.options.loginUrl}">Sign in</a> to see more.`}</p>`
    : html`<table>
<caption>Repositories you may pull, by ${sortText}</caption>
<thead><tr><th scope="col">Repository</th><th scope="col">Artifact types</th><th scope="col" class="num">Tags</th><th scope="col">Last push</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
}
${pager(first, next)}`;
  renderPage(ctx, visit, 'Repositories', body, { section: 'repositories' });
}
