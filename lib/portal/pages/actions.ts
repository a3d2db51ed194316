import { type Digest, parseDigest } from '../../digest.js';
import { isTag } from '../../names.js';
import { type PortalContext, type Visit, ask, readRefusal, renderPage, writeRefusal } from '../context.js';
import { checkSameOrigin, readForm } from '../form.js';
import { html, pathOf } from '../html.js';
import { deleteManifest, deleteTag, retag } from '../ops.js';
import { PortalError, badRequest, redirect } from '../respond.js';
import { knownRepository } from './repository.js';

function target(params: URLSearchParams): { tag: string } | { digest: Digest } {
  const tag = params.get('tag');
  const digest = params.get('digest');
  if (tag !== null && isTag(tag)) return { tag };
  if (digest !== null) {
    const parsed = parseDigest(digest);
    if (parsed.ok) return { digest: parsed.digest };
  }
  throw badRequest('Name a valid tag or digest to delete.');
}

function refuseWhenOff(ctx: PortalContext): void {
  if (!ctx.options.deletes) throw new PortalError(405, 'UNSUPPORTED', 'Deleting is turned off on this registry.');
}

/** `GET /r/<name>/-/delete?tag=|digest=`: asks for confirmation (a plain form, no script). */
export async function confirmDeletePage(ctx: PortalContext, visit: Visit, name: string): Promise<void> {
  refuseWhenOff(ctx);
  const what = target(visit.query);
  const answer = await ask(ctx, visit, [{ action: 'pull', repository: name }, { action: 'delete', repository: name, ...what }]);
  if (!answer.granted[0]) throw readRefusal(answer);
  const label = 'tag' in what ? `tag ${what.tag}` : `manifest ${what.digest}`;
  if (!answer.granted[1]) throw writeRefusal(answer, `delete ${label} of ${name}`);
  await knownRepository(ctx, name);
  const repoPath = `${visit.base}/r/${pathOf(name)}`;
  const field = 'tag' in what ? html`<input type="hidden" name="tag" value="${what.tag}">` : html`<input type="hidden" name="digest" value="${what.digest}">`;
  const body = html`<p class="muted"><a href="${visit.base}/">Repositories</a> / <a href="${repoPath}">${name}</a> /</p>
<h1>Delete ${label}?</h1>
<p>${'tag' in what ? 'Only the tag goes; the manifest stays reachable by digest and by other tags.' : 'The manifest goes with every tag pointing at it. Signatures and other referrers stay until deleted themselves.'}</p>
<form method="post" action="${repoPath}/-/delete">${field}<button type="submit" class="danger">Delete ${label}</button> <a href="${repoPath}">Cancel</a></form>`;
  renderPage(ctx, visit, `Delete ${label}`, body, { section: 'repositories' });
}

/** `POST /r/<name>/-/delete`: deletes a tag, or a manifest with its tags. */
export async function deleteAction(ctx: PortalContext, visit: Visit, name: string): Promise<void> {
  refuseWhenOff(ctx);
  checkSameOrigin(visit.req);
  const what = target(await readForm(visit.req));
  const answer = await ask(ctx, visit, [{ action: 'delete', repository: name, ...what }]);
  const label = 'tag' in what ? what.tag : what.digest;
  if (!answer.granted[0]) throw writeRefusal(answer, `delete ${label} of ${name}`);
  if ('tag' in what) await deleteTag(ctx, name, what.tag, visit.identity);
  else await deleteManifest(ctx, name, what.digest, visit.identity);
  redirect(visit.res, `${visit.base}/r/${pathOf(name)}?deleted=${encodeURIComponent(label)}`);
}

/** `POST /r/<name>/-/retag`: points a new tag at a manifest of the repository. */
export async function retagAction(ctx: PortalContext, visit: Visit, name: string): Promise<void> {
  checkSameOrigin(visit.req);
  const form = await readForm(visit.req);
  const tag = form.get('tag') ?? '';
  const digest = parseDigest(form.get('digest') ?? '');
  if (!isTag(tag)) throw badRequest(`"${tag}" is not a valid tag: up to 128 letters, digits, "_", "." and "-", not starting with "." or "-".`);
  if (!digest.ok) throw badRequest('Name the manifest to tag by its digest.');
  const answer = await ask(ctx, visit, [{ action: 'push', repository: name, tag }]);
  if (!answer.granted[0]) throw writeRefusal(answer, `push tag ${tag} to ${name}`);
  await retag(ctx, name, digest.digest, tag, visit.identity);
  redirect(visit.res, `${visit.base}/r/${pathOf(name)}?pushed=${encodeURIComponent(tag)}`);
}
