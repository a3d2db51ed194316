import type { Context, Handler } from '../context.js';
import { RegistryError } from '../errors.js';
import { pageSize, queryParam, sendJson } from '../http.js';

/** end-8a/8b: `GET /v2/<name>/tags/list?n=&last=`, in byte order, with a `Link` to the next page. */
export function tagRoutes(ctx: Context): { listTags: Handler } {
  return {
    async listTags(call) {
      const { req, res, name, query } = call;
      await ctx.allow(call, [{ action: 'pull', repository: name }]);
      const n = pageSize(query);
      const last = queryParam(query, 'last');
      if (!(await ctx.storage.repositories.has(name))) throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name } });
      // one tag past the page tells whether there is a next one
      const tags = await ctx.storage.tags.list(name, { ...(n !== undefined && { n: n + 1 }), ...(last !== undefined && { last }) });
      const headers: Record<string, string> = {};
      if (n !== undefined && tags.length > n) {
        tags.length = n;
        if (n > 0) {
          const next = `/v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(tags[n - 1] as string)}`;
          headers.Link = `<${ctx.url(req, next)}>; rel="next"`;
        }
      }
      sendJson(res, 200, 'application/json', { name, tags }, headers);
    },
  };
}
