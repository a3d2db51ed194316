import type { Context, Handler } from '../context.js';
import { pageSize, queryParam, sendJson } from '../http.js';
import { parseDigest } from '../digest.js';
import { RegistryError } from '../errors.js';
import { MediaType } from '../manifest.js';
import { blobDigest } from './blobs.js';

/** Referrers per page when the client names no `n`; more follow through `Link` (spec: registries may paginate). */
const PAGE = 1000;

/** end-12a/12b: manifests whose `subject` is the digest, as an OCI image index (empty when there are none), in digest order. */
export function referrerRoutes(ctx: Context): { listReferrers: Handler } {
  return {
    async listReferrers(call) {
      const { req, res, name, ref, query } = call;
      const subject = blobDigest(ref);
      await ctx.allow(call, [{ action: 'pull', repository: name }]);
      const artifactType = queryParam(query, 'artifactType');
      const n = Math.min(Math.max(pageSize(query) ?? PAGE, 1), PAGE);
      const last = queryParam(query, 'last');
      if (last !== undefined && !parseDigest(last).ok) throw new RegistryError('UNSUPPORTED', `query parameter "last" must be a digest (got "${last}")`, { status: 400 });
      // one past the page tells whether there is a next one
      const manifests = await ctx.storage.manifests.referrers(name, subject, {
        n: n + 1,
        ...(last !== undefined && { last }),
        ...(artifactType !== undefined && { artifactType }),
      });
      const headers: Record<string, string> = {};
      if (artifactType !== undefined) headers['OCI-Filters-Applied'] = 'artifactType';
      if (manifests.length > n) {
        manifests.length = n;
        const params = new URLSearchParams({ n: String(n), last: manifests[n - 1]?.digest ?? '' });
        if (artifactType !== undefined) params.set('artifactType', artifactType);
        headers.Link = `<${ctx.url(req, `/v2/${name}/referrers/${subject}?${params.toString()}`)}>; rel="next"`;
      }
      sendJson(res, 200, MediaType.OciIndex, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, headers);
    },
  };
}
