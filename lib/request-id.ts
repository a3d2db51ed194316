import { randomUUID } from 'node:crypto';
import type { Identity } from './auth.js';
import type { RegistryRequest } from './http.js';
import type { Actor } from './policy.js';

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const ids = new WeakMap<RegistryRequest, string>();

/**
 * The request's id: the client's `X-Request-Id` when it looks like one (so a proxy's logs and
 * berth's line up), or a new one; the same for the whole request, in events and access lines.
 */
export function requestIdOf(req: RegistryRequest): string {
  let id = ids.get(req);
  if (id === undefined) {
    const given = req.headers['x-request-id'];
    id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    ids.set(req, id);
  }
  return id;
}

/** What events say about who made a change: the caller's identity and the request's id. */
export function who(actor: Actor): { identity?: Identity; requestId?: string } {
  return { ...(actor.identity && { identity: actor.identity }), ...(actor.req && { requestId: requestIdOf(actor.req) }) };
}
