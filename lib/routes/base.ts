import type { Context, Handler } from '../context.js';
import { pageSize, queryParam, sendJson } from '../http.js';

/** The most repositories one catalog page reads from the store (and asks the authorize hook about) at once. */
const BATCH = 1000;

/** `GET /v2/` (the version check, where docker also learns the auth challenge) and `GET /v2/_catalog`. */
export function baseRoutes(ctx: Context): { ping: Handler; catalog: Handler } {
  return {
    async ping(call) {
      await ctx.allow(call, [{ action: 'ping' }]);
      sendJson(call.res, 200, 'application/json', {});
    },

    async catalog(call) {
      const { req, res, query } = call;
      await ctx.allow(call, [{ action: 'catalog' }]);
      const n = pageSize(query);
      let last = queryParam(query, 'last');
      const wanted = n ?? Infinity;
      const visible: string[] = [];
      // list only what the caller may pull, asking the hook once per batch; one entry past the page tells whether a next page exists
      while (visible.length <= wanted) {
        const size = Math.min(wanted - visible.length + 1, BATCH);
        const batch = await ctx.storage.repositories.list({ n: size, ...(last !== undefined && { last }) });
        const allowed = await ctx.check(call, batch.map((repository) => ({ action: 'pull', repository }) as const));
        visible.push(...batch.filter((_, i) => allowed[i]));
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
