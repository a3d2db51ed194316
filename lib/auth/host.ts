import { type Authorize, type Challenge, type Decision, type Identity, basicChallenge } from '../auth.js';
import type { RegistryRequest } from '../http.js';
import { type Permissions, type Rule, rules } from './rules.js';

/** Credentials were presented but are wrong, expired or malformed. */
export interface InvalidCredentials {
  invalid: true;
  /** Shown to the client with the 401. */
  message?: string;
}

/**
 * What an identity function found on a request: who is asking, `undefined` when the request carries
 * no credentials it understands (anonymous, or another scheme's turn), or {@link InvalidCredentials}.
 */
export type Authentication = Identity | InvalidCredentials | undefined;

/** Finds who is asking from what the host's middleware left on the request (`req.user`, a session) or from its headers. */
export type Identify<Req extends RegistryRequest = RegistryRequest> = (req: Req) => Authentication | Promise<Authentication>;

/** The options a scheme hands to `createRegistry`: `createRegistry({ storage, ...basicAuth({ … }) })`. */
export interface AuthOptions<Req extends RegistryRequest = RegistryRequest> {
  authorize: Authorize<Req>;
  challenge: Challenge;
}

export interface HostAuthOptions<Req extends RegistryRequest = RegistryRequest> {
  /** Who is asking; e.g. `(req) => req.user && { name: req.user.login, groups: req.user.teams }`. */
  identify: Identify<Req>;
  /** What each caller may do: a rule table or a function. */
  permissions: Permissions | readonly Rule[];
  /** The `WWW-Authenticate` value of a 401 (default: `basicChallenge()`, so `docker login` sends Basic credentials). */
  challenge?: Challenge;
}

/** An invalid-credentials answer for an identity function. */
export function invalidCredentials(message?: string): InvalidCredentials {
  return message === undefined ? { invalid: true } : { invalid: true, message };
}

/** Whether an identity function's answer is an identity (rather than `undefined` or invalid credentials). */
export function isIdentity(found: Authentication): found is Identity {
  return typeof found === 'object' && typeof (found as { name?: unknown }).name === 'string';
}

/**
 * The first answer that is not `undefined`: `firstOf(sessionUser, basicCredentials(verify))` takes the
 * host's session when there is one and `docker login` credentials otherwise.
 */
export function firstOf<Req extends RegistryRequest>(...identify: readonly Identify<Req>[]): Identify<Req> {
  return async (req) => {
    for (const one of identify) {
      const found = await one(req);
      if (found !== undefined) return found;
    }
    return undefined;
  };
}

/**
 * Protects the registry with an identity the host establishes (its session, an API key, a passport
 * strategy, or Basic credentials through `basicCredentials`) and permissions over it. Anonymous callers
 * get the challenge on `GET /v2/` (docker learns it only there) and whatever the permissions give
 * anonymous callers elsewhere; invalid credentials get 401; a known caller without the right gets 403.
 * The identity function runs once per request.
 */
export function hostAuth<Req extends RegistryRequest = RegistryRequest>(options: HostAuthOptions<Req>): AuthOptions<Req> {
  const { identify, challenge = basicChallenge() } = options;
  if (typeof identify !== 'function') throw new TypeError('hostAuth: `identify` must be a function (req) => identity | undefined.');
  const permissions = toPermissions(options.permissions, 'hostAuth');
  const once = new WeakMap<Req, Promise<Authentication>>();
  const authorize = async (req: Req, accesses: Parameters<Authorize>[1]): Promise<Decision> => {
    let pending = once.get(req);
    if (pending === undefined) {
      pending = Promise.resolve(identify(req));
      once.set(req, pending);
    }
    const found = await pending;
    if (found !== undefined && !isIdentity(found)) {
      if ((found as { invalid?: unknown }).invalid !== true) throw new TypeError('identify: answer an identity ({ name }), undefined, or invalidCredentials().');
      return { invalid: true, allowed: false, message: found.message ?? 'invalid credentials' };
    }
    return decide(found, accesses, permissions);
  };
  return { authorize, challenge };
}

/** A decision from permissions: `ping` needs an identity, everything else is up to the permissions. */
export async function decide(identity: Identity | undefined, accesses: Parameters<Authorize>[1], permissions: Permissions): Promise<Decision> {
  const asked = accesses.filter((a) => a.action !== 'ping');
  const answers = asked.length === 0 ? [] : await permissions(identity, asked);
  if (!Array.isArray(answers) || answers.length !== asked.length) {
    throw new TypeError(`permissions must answer one boolean per access (${asked.length} asked, got ${JSON.stringify(answers)}).`);
  }
  let i = 0;
  const allowed = accesses.map((a) => (a.action === 'ping' ? identity !== undefined : answers[i++] === true));
  return identity === undefined ? { allowed } : { identity, allowed };
}

export function toPermissions(permissions: Permissions | readonly Rule[], who: string): Permissions {
  if (typeof permissions === 'function') return permissions;
  if (Array.isArray(permissions)) return rules(permissions);
  throw new TypeError(`${who}: \`permissions\` must be a rule table (an array) or a function (identity, accesses) => booleans.`);
}
