import type { Context, Handler } from '../context.js';
import { pageSize, queryParam, sendJson } from '../http.js';

/** `GET /v2/` (the version check, where docker also learns the auth challenge) and `GET /v2/_catalog`. */
export function baseRoutes(ctx: Context): { ping: Handler; catalog: Handler } {
  return {
    async ping({ req, res }) {
      await ctx.allow(req, { action: 'ping' });
      sendJson(res, 200, 'application/json', {});
    },

    async catalog({ req, res, query }) {
      await ctx.allow(req, { action: 'catalog' });
      const n = pageSize(query);
      let last = queryParam(query, 'last');
      const wanted = n ?? Infinity;
      const visible: string[] = [];
      // list only what the caller may pull; one entry past the page tells whether a next page exists
      while (visible.length <= wanted) {
        const size = Math.min(wanted - visible.length + 1, 1000);
        const batch = await ctx.storage.manifests.repositories({ n: size, ...(last !== undefined && { last }) });
        for (const repository of batch) {
          if (await ctx.authorize(req, { action: 'pull', repository })) visible.push(repository);
        }
        if (batch.length < size) break;
        last = batch[batch.length - 1];
      }
      const more = visible.length > wanted;
      visible.length = Math.min(visible.length, wanted);
      const headers: Record<string, string> = {};
      if (more && n !== undefined && n > 0) {
        const next = visible[visible.length - 1] as string;
        headers.Link = `<${ctx.url(req, `/v2/_catalog?n=${n}&last=${encodeURIComponent(next)}`)}>; rel="next"`;
      }
      sendJson(res, 200, 'application/json', { repositories: visible }, headers);
    },
  };
}
