import type { PortalContext, Visit } from './context.js';
import { ask } from './context.js';
import { knownRepository } from './pages/repository.js';
import { PortalError, sendJson } from './respond.js';
import { type Query, parseQuery, searchRepositories, searchTags } from './search.js';

function nextLink(visit: Visit, path: string, next: string | undefined): Record<string, string> {
  if (next === undefined) return {};
  const params = new URLSearchParams(visit.query);
  params.set('cursor', next);
  return { Link: `<${visit.base}${path}?${params.toString()}>; rel="next"` };
}

function unauthorized(): PortalError {
  return new PortalError(401, 'UNAUTHORIZED', 'authentication required');
}

/** `GET /api/v1/repositories`: repositories the caller may pull, filtered, sorted and paged (docs/portal.md). */
export async function listRepositories(ctx: PortalContext, visit: Visit): Promise<void> {
  const query: Query = parseQuery(visit.query, 100);
  const found = await searchRepositories(ctx.index, ctx.gate, visit.req, query);
  if (found.invalid) throw unauthorized();
  sendJson(
    visit.res,
    200,
    {
      repositories: found.items.map((r) => ({ ...r, updatedAt: r.updatedAt?.toISOString() ?? null })),
      ...(found.next !== undefined && { next: found.next }),
    },
    nextLink(visit, '/api/v1/repositories', found.next),
  );
}

/** `GET /api/v1/repositories/<name>/tags`: a repository's tags, filtered, sorted and paged. */
export async function listTags(ctx: PortalContext, visit: Visit, name: string): Promise<void> {
  const query = parseQuery(visit.query, 100);
  const answer = await ask(ctx, visit, [{ action: 'pull', repository: name }]);
  if (!answer.granted[0]) {
    if (answer.invalid || !answer.identity) throw unauthorized();
    throw new PortalError(404, 'NAME_UNKNOWN', 'repository name not known to registry');
  }
  await knownRepository(ctx, name).catch(() => {
    throw new PortalError(404, 'NAME_UNKNOWN', 'repository name not known to registry');
  });
  const found = await searchTags(ctx.index.tags(name) ?? [], query);
  sendJson(
    visit.res,
    200,
    {
      repository: name,
      tags: found.items.map((t) => ({ ...t, pushedAt: t.pushedAt.toISOString() })),
      ...(found.next !== undefined && { next: found.next }),
    },
    nextLink(visit, `/api/v1/repositories/${name}/tags`, found.next),
  );
}
