import type { Digest } from './digest.js';
import { RegistryError } from './errors.js';
import type { RegistryRequest } from './http.js';

/**
 * One thing a request wants to do. A repository access names the tag or digest for manifest
 * pushes and deletes, so a host can protect tags (immutable `v*`, a protected `latest`).
 */
export type Access =
  | { action: 'pull' | 'push' | 'delete'; repository: string; tag?: string; digest?: Digest }
  | { action: 'catalog' }
  /** `GET /v2/`: refuse anonymous callers whenever credentials may be needed, since docker reads the challenge only here. */
  | { action: 'ping' };

/** Who is asking, as the host established it. Kept for the rest of the request (events, audit, quotas). */
export interface Identity {
  name: string;
  [key: string]: unknown;
}

/**
 * The host's answer for a request. berth turns a refusal into what clients act on:
 * - `invalid` (credentials presented but wrong, expired or malformed) → 401 with the challenge
 *   (`error="invalid_token"` for a Bearer token);
 * - not allowed and no `identity` (anonymous) → 401 with the challenge, naming every access;
 * - not allowed, with a Bearer token → 401 with `error="insufficient_scope"` and the needed scopes,
 *   so docker, containerd and oras fetch a wider token;
 * - not allowed, with an `identity` (Basic, a session, an API key) → 403 `DENIED`.
 */
export interface Decision {
  /** The authenticated caller; absent for an anonymous one. */
  identity?: Identity;
  /** The credentials presented are wrong, expired or malformed. */
  invalid?: boolean;
  /** `true` or `false` for every access asked, or one boolean per access, in the order asked. */
  allowed: boolean | readonly boolean[];
  /** Shown to the client with a refusal. */
  message?: string;
}

/**
 * The authorization hook: asked once per request with every access the request needs (a
 * cross-repository mount asks `pull` on the source and `push` on the target; a catalog page asks
 * `pull` for each repository on it). It runs after the host app's own middleware, so whatever that
 * put on the request (`req.user`, a session) is there. Sync or async.
 */
export type Authorize<Req extends RegistryRequest = RegistryRequest> = (req: Req, accesses: readonly Access[]) => Decision | Promise<Decision>;

/** What a challenge function is told about a 401. */
export interface Refusal {
  req: RegistryRequest;
  /** Every access the request asked for: one Bearer challenge can name them all. */
  accesses: readonly Access[];
  /** For Bearer: why the presented token was not enough. */
  error?: 'invalid_token' | 'insufficient_scope';
}

/** The `WWW-Authenticate` value of a 401. */
export type Challenge = (refusal: Refusal) => string;

/** Anyone may pull, list and ping; nobody may push or delete. */
export const pullOnly: Authorize = (_req, accesses) => ({
  allowed: accesses.map((a) => a.action !== 'push' && a.action !== 'delete'),
});

/** Everyone may do everything. For local trials and tests only: pass it explicitly. */
export const allowAll: Authorize = () => ({ allowed: true });

/** `Basic realm="…"`: the challenge for hosts that check passwords themselves (the default is realm "berth"). */
export function basicChallenge(realm = 'berth'): Challenge {
  const value = `Basic realm=${quote(realm)}`;
  return () => value;
}

/**
 * `Bearer realm="…",service="…",scope="…"` for the Docker/OCI token flow. `realm` must be an
 * absolute URL (clients do not resolve relative ones); the scope names every access of the request.
 */
export function bearerChallenge(options: { realm: string; service: string }): Challenge {
  const head = `Bearer realm=${quote(options.realm)},service=${quote(options.service)}`;
  return ({ accesses, error }) => {
    const scope = scopeOf(accesses);
    return head + (scope ? `,scope=${quote(scope)}` : '') + (error ? `,error=${quote(error)}` : '');
  };
}

/** Accesses as a token scope: `repository:a/b:pull,push registry:catalog:*` (one entry per resource). */
export function scopeOf(accesses: readonly Access[]): string {
  const repositories = new Map<string, Set<string>>();
  let catalog = false;
  for (const access of accesses) {
    if (access.action === 'catalog') catalog = true;
    else if (access.action !== 'ping') {
      const actions = repositories.get(access.repository) ?? new Set();
      actions.add(access.action);
      repositories.set(access.repository, actions);
    }
  }
  const order = ['pull', 'push', 'delete'];
  const scopes = [...repositories].map(([name, actions]) => `repository:${name}:${order.filter((a) => actions.has(a)).join(',')}`);
  if (catalog) scopes.push('registry:catalog:*');
  return scopes.join(' ');
}

/** The per-access answer of a decision. */
export function grants(decision: Decision, count: number): boolean[] {
  const { allowed } = decision;
  if (typeof allowed === 'boolean') return new Array<boolean>(count).fill(allowed);
  if (!Array.isArray(allowed) || allowed.length !== count) {
    throw new TypeError(`authorize: \`allowed\` must be a boolean or one boolean per access (${count} asked, got ${JSON.stringify(allowed)}).`);
  }
  return allowed.map((a) => a === true);
}

/** The refusal clients act on, per the rules of {@link Decision}. */
export function refusal(decision: Decision, req: RegistryRequest, accesses: readonly Access[], challenge: Challenge): RegistryError {
  const bearer = /^bearer\s/i.test(req.headers.authorization ?? '');
  const unauthorized = (error?: Refusal['error']) =>
    new RegistryError('UNAUTHORIZED', decision.message, {
      headers: { 'WWW-Authenticate': challenge({ req, accesses, ...(error && { error }) }) },
    });
  if (decision.invalid === true) return unauthorized(bearer ? 'invalid_token' : undefined);
  if (bearer) return unauthorized('insufficient_scope');
  if (decision.identity === undefined) return unauthorized();
  return new RegistryError('DENIED', decision.message, { detail: { accesses } });
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}
