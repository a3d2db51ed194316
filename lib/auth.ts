import { RegistryError } from './errors.js';
import type { RegistryRequest } from './http.js';

/** What a request wants to do. A cross-repository mount asks for `pull` on the source and `push` on the target. */
export type Access =
  | { action: 'pull' | 'push' | 'delete'; repository: string }
  | { action: 'catalog' }
  /** `GET /v2/`: deny anonymous callers whenever credentials may be needed, since docker reads the challenge only here. */
  | { action: 'ping' };

/**
 * The authorization hook: return (or resolve) `true` to allow. It runs after the host app's own
 * middleware, so whatever that put on the request (`req.user`, a session) is there. The host app
 * authenticates; the hook only decides.
 */
export type Authorize<Req extends RegistryRequest = RegistryRequest> = (req: Req, access: Access) => boolean | Promise<boolean>;

/** Anyone may pull, list and ping; nobody may push or delete. The default. */
export const pullOnly: Authorize = (_req, access) => access.action !== 'push' && access.action !== 'delete';

/** Everyone may do everything. For local trials and tests only: pass it explicitly. */
export const allowAll: Authorize = () => true;

/**
 * Turns a refusal into the right answer: 401 with a challenge when the request carried no
 * credentials (so the client can retry with some), 403 when it did and they are not enough.
 */
export async function authorizeOrThrow(
  authorize: Authorize,
  challenge: (access: Access) => string,
  req: RegistryRequest,
  access: Access,
): Promise<void> {
  if (await authorize(req, access)) return;
  if (req.headers.authorization === undefined) {
    throw new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': challenge(access) } });
  }
  throw new RegistryError('DENIED', undefined, { detail: access });
}
