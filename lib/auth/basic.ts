import { createHash, timingSafeEqual } from 'node:crypto';
import { type Identity, basicChallenge } from '../auth.js';
import type { RegistryRequest } from '../http.js';
import { type AuthOptions, type Identify, type InvalidCredentials, hostAuth, invalidCredentials, isIdentity } from './host.js';
import type { Permissions, Rule } from './rules.js';
import { type LoginThrottle, loginThrottle } from './throttle.js';

/**
 * Checks a user name and password (the host's own user store, an htpasswd file, an API key passed as
 * the password). Answers `true` or an identity (to add `groups` or other fields) when they are right,
 * `false` or `undefined` when not. May be async; a thrown error goes to the host's error handler.
 */
export type VerifyPassword<Req extends RegistryRequest = RegistryRequest> = (
  username: string,
  password: string,
  req: Req,
) => boolean | Identity | undefined | Promise<boolean | Identity | undefined>;

/** Decoded `Authorization: Basic …` credentials. */
export interface BasicCredentials {
  username: string;
  password: string;
}

/**
 * The credentials of an `Authorization: Basic …` header: `undefined` when the header is absent or of
 * another scheme, `null` when it is Basic but malformed (bad base64, no colon, an empty user name).
 */
export function parseBasic(header: string | undefined): BasicCredentials | undefined | null {
  const match = /^basic(?: +(.*))?$/i.exec(header?.trim() ?? '');
  if (!match) return undefined;
  const value = match[1] ?? '';
  if (value.length > 8192 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 === 1) return null;
  const text = Buffer.from(value, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Compares two secrets in time that depends on neither (both are hashed to equal length first). */
export function safeEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b)) && a.length === b.length;
}

export interface BasicCredentialsOptions<Req extends RegistryRequest = RegistryRequest> {
  /** The per-client slow-down of failed logins (default: `loginThrottle()`); `false` for none (a host that throttles elsewhere). */
  throttle?: LoginThrottle<Req> | false;
}

/**
 * An identity function for `Authorization: Basic` credentials, checked by `verify`: wrong ones are
 * invalid credentials, and a client that keeps failing is slowed down (429 with `Retry-After`).
 * Requests without Basic credentials are left to the next identity function (anonymous otherwise).
 */
export function basicCredentials<Req extends RegistryRequest = RegistryRequest>(
  verify: VerifyPassword<Req>,
  options: BasicCredentialsOptions<Req> = {},
): Identify<Req> {
  const check = passwordCheck(verify, options.throttle, 'basicCredentials');
  return async (req) => {
    const credentials = parseBasic(req.headers.authorization);
    if (credentials === undefined) return undefined;
    if (credentials === null) return invalidCredentials('malformed Basic credentials');
    return check(req, credentials.username, credentials.password);
  };
}

/**
 * `verify` behind the throttle: the identity, or invalid credentials; throws the throttle's 429 when
 * the client must wait (default throttle: `loginThrottle()`).
 */
export function passwordCheck<Req extends RegistryRequest>(
  verify: VerifyPassword<Req>,
  throttleOption: LoginThrottle<Req> | false | undefined,
  who: string,
): (req: Req, username: string, password: string) => Promise<Identity | InvalidCredentials> {
  if (typeof verify !== 'function') throw new TypeError(`${who}: \`verify\` must be a function (username, password, req) => boolean | identity.`);
  const throttle = throttleOption === undefined ? loginThrottle<Req>() : throttleOption;
  return async (req, username, password) => {
    const attempt = throttle === false ? undefined : throttle.attempt(req, username, password);
    let answer: Awaited<ReturnType<VerifyPassword<Req>>>;
    try {
      answer = await verify(username, password, req);
    } catch (err) {
      attempt?.abandoned();
      throw err;
    }
    const identity = answer === true ? { name: username } : typeof answer === 'object' && isIdentity(answer) ? answer : undefined;
    if (identity === undefined) {
      attempt?.failed();
      return invalidCredentials('wrong user name or password');
    }
    attempt?.succeeded();
    return identity;
  };
}

export interface BasicAuthOptions<Req extends RegistryRequest = RegistryRequest> extends BasicCredentialsOptions<Req> {
  /** Checks a user name and password, e.g. `htpasswd(text)`, `passwords({ ci: 'secret' })` or the host's own check. */
  verify: VerifyPassword<Req>;
  /** What each caller may do: a rule table or a function. */
  permissions: Permissions | readonly Rule[];
  /** The realm of the `Basic` challenge (default: `"berth"`). */
  realm?: string;
}

/**
 * HTTP Basic for `docker login`-style clients: `createRegistry({ storage, ...basicAuth({ verify, permissions }) })`.
 * Use it behind TLS only: every request carries the password.
 */
export function basicAuth<Req extends RegistryRequest = RegistryRequest>(options: BasicAuthOptions<Req>): AuthOptions<Req> {
  const { verify, permissions, realm = 'berth', ...rest } = options;
  return hostAuth({ identify: basicCredentials(verify, rest), permissions, challenge: basicChallenge(realm) });
}

/**
 * A password check over plain `user → password` pairs (e.g. from environment variables), in constant
 * time whether or not the user exists. Prefer `htpasswd` for anything stored on disk.
 */
export function passwords(pairs: Readonly<Record<string, string>> | ReadonlyMap<string, string>): VerifyPassword {
  const table = new Map<string, string>(pairs instanceof Map ? [...(pairs as ReadonlyMap<string, string>)] : Object.entries(pairs));
  for (const [user, password] of table) {
    if (typeof password !== 'string' || password === '') throw new TypeError(`passwords: user "${user}" needs a non-empty password.`);
  }
  return (username, password) => {
    const stored = table.get(username);
    return safeEqual(password, stored ?? '\0 no such user') && stored !== undefined;
  };
}
