import type { Context, Handler } from '../context.js';
import { queryParam, sendJson } from '../http.js';
import { MediaType } from '../manifest.js';
import { blobDigest } from './blobs.js';

/** end-12a/12b: manifests whose `subject` is the digest, as an OCI image index (empty when there are none). */
export function referrerRoutes(ctx: Context): { listReferrers: Handler } {
  return {
    async listReferrers({ req, res, name, ref, query }) {
      const subject = blobDigest(ref);
      await ctx.allow(req, { action: 'pull', repository: name });
      const artifactType = queryParam(query, 'artifactType');
      let manifests = await ctx.storage.manifests.referrers(name, subject);
      const headers: Record<string, string> = {};
      if (artifactType !== undefined) {
        manifests = manifests.filter((m) => m.artifactType === artifactType);
        headers['OCI-Filters-Applied'] = 'artifactType';
      }
      manifests.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
      sendJson(res, 200, MediaType.OciIndex, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, headers);
    },
  };
}
