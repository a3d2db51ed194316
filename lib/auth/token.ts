import { type KeyObject, createPrivateKey, createPublicKey, createSecretKey, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { type Access, type Challenge, type Decision, type Identity, bearerChallenge, scopeOf } from '../auth.js';
import type { RegistryRequest } from '../http.js';
import { type AuthOptions, toPermissions } from './host.js';
import type { Permissions, Rule } from './rules.js';

/** Signature algorithms berth signs and verifies with; each key is pinned to one. */
export type TokenAlgorithm = 'RS256' | 'ES256' | 'HS256';

/** Key material: PEM text, a DER/secret Buffer, or a node:crypto `KeyObject`. */
export type KeyMaterial = string | Buffer | KeyObject;

/** A key that signs tokens: an RSA or P-256 private key, or an HS256 secret of at least 32 bytes. */
export interface SigningKey {
  algorithm: TokenAlgorithm;
  key: KeyMaterial;
  /** Put in the token header as `kid`, so verifiers can pick the key. */
  kid?: string;
}

/** A key berth trusts for tokens from `issuer`: a public key (a private one is reduced to its public half) or the HS256 secret. */
export interface TrustedKey {
  /** The `iss` the tokens carry. */
  issuer: string;
  algorithm: TokenAlgorithm;
  key: KeyMaterial;
  /** When set, a token whose header names another `kid` is not checked with this key. */
  kid?: string;
}

/** One entry of a token's `access` claim, as distribution issues it: `{ type: 'repository', name: 'team/app', actions: ['pull'] }`. */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/** The claims berth reads from a verified token. */
export interface TokenClaims {
  iss: string;
  /** Absent or empty for an anonymous caller. */
  sub?: string;
  aud: string | string[];
  exp: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  access: TokenAccess[];
}

/** Why a token was refused: malformed, badly signed, expired, not yet valid, or for another issuer or audience. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
}

const ALGORITHMS = new Set<string>(['RS256', 'ES256', 'HS256']);
/** Longer than any token berth makes (a few hundred scopes); header size limits stop the rest. */
const MAX_TOKEN_LENGTH = 16384;

interface PreparedKey {
  issuer: string;
  algorithm: TokenAlgorithm;
  key: KeyObject;
  kid: string | undefined;
}

/**
 * Checks a key against its algorithm now, so a wrong key fails at start-up rather than on every
 * request: RS256 needs an RSA key of at least 2048 bits, ES256 a P-256 key, HS256 a secret of at least
 * 32 bytes that is not a PEM key (using a public key as an HMAC secret is the classic algorithm confusion).
 */
function prepare(alg: unknown, material: unknown, use: 'sign' | 'verify', who: string): KeyObject {
  const fail = (message: string): never => {
    throw new TypeError(`${who}: ${message}`);
  };
  if (typeof alg !== 'string' || !ALGORITHMS.has(alg)) fail(`\`algorithm\` must be "RS256", "ES256" or "HS256" (got ${JSON.stringify(alg)}).`);
  const algorithm = alg as TokenAlgorithm;
  const isObject = typeof material === 'object' && material !== null && !Buffer.isBuffer(material);
  if (typeof material !== 'string' && !Buffer.isBuffer(material) && !isObject) fail('`key` must be PEM text, a Buffer or a KeyObject.');
  if (algorithm === 'HS256') {
    if (isObject) {
      const key = material as KeyObject;
      if (key.type !== 'secret') fail('an HS256 key must be a secret, not a public or private key.');
      if ((key.symmetricKeySize ?? 0) < 32) fail('an HS256 secret must be at least 32 bytes.');
      return key;
    }
    const bytes = Buffer.isBuffer(material) ? material : Buffer.from(material as string, 'utf8');
    if (bytes.toString('latin1').includes('-----BEGIN')) fail('an HS256 secret must not be a PEM key: give RS256 or ES256 for key pairs.');
    if (bytes.length < 32) fail('an HS256 secret must be at least 32 bytes (e.g. randomBytes(32)).');
    return createSecretKey(bytes);
  }
  let key: KeyObject;
  try {
    if (isObject) key = material as KeyObject;
    else key = use === 'sign' ? createPrivateKey(material as string | Buffer) : createPublicKey(material as string | Buffer);
  } catch (err) {
    return fail(`\`key\` is not a ${use === 'sign' ? 'private' : 'public'} key: ${(err as Error).message}`);
  }
  if (use === 'sign' && key.type !== 'private') fail(`signing with ${algorithm} needs a private key.`);
  if (use === 'verify' && key.type === 'private') key = createPublicKey(key);
  if (key.type === 'secret') fail(`${algorithm} needs a public or private key, not a secret.`);
  if (algorithm === 'RS256' && (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)) {
    fail('RS256 needs an RSA key of at least 2048 bits.');
  }
  if (algorithm === 'ES256' && (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
    fail('ES256 needs an EC key on the P-256 curve (prime256v1).');
  }
  return key;
}

export interface TokenIssuerOptions {
  /** The `iss` claim, e.g. the token endpoint's URL or the app's name. */
  issuer: string;
  /** The `aud` claim: the registry's service name, the `service` of its challenge. */
  service: string;
  /** The signing key. */
  key: SigningKey;
  /** Seconds an access token lives (default: 300; at least 60, since clients assume 60). */
  expiresIn?: number;
}

/** A token just made. */
export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: Date;
}

/** Signs access tokens for one service. */
export interface TokenIssuer {
  readonly issuer: string;
  readonly service: string;
  readonly expiresIn: number;
  /** The keys that verify this issuer's tokens, for `tokenAuth({ keys })`. */
  readonly keys: readonly TrustedKey[];
  /** An access token for `subject` (`undefined`: anonymous) with exactly `access`. */
  issue(subject: string | undefined, access: readonly TokenAccess[]): IssuedToken;
  /** A token with other claims and audience, signed by the same key (refresh tokens). */
  sign(claims: Record<string, unknown>, audience: string, expiresIn: number): IssuedToken;
}

/** A token issuer: JWTs with `iss`, `sub`, `aud` (the service), `exp`, `nbf`, `iat`, `jti` and distribution's `access` claim. */
export function tokenIssuer(options: TokenIssuerOptions): TokenIssuer {
  const who = 'tokenIssuer';
  const { issuer, service, key, expiresIn = 300 } = options;
  for (const [name, value] of [['issuer', issuer], ['service', service]] as const) {
    if (typeof value !== 'string' || value === '') throw new TypeError(`${who}: \`${name}\` must be a non-empty string.`);
  }
  if (!Number.isSafeInteger(expiresIn) || expiresIn < 60) throw new TypeError(`${who}: \`expiresIn\` must be whole seconds, at least 60 (got ${JSON.stringify(expiresIn)}).`);
  if (typeof key !== 'object' || (key as unknown) === null) throw new TypeError(`${who}: \`key\` must be { algorithm, key }.`);
  const signing = prepare(key.algorithm, key.key, 'sign', who);
  const verifying = key.algorithm === 'HS256' ? signing : createPublicKey(signing);
  const sign = (claims: Record<string, unknown>, audience: string, lifetime: number): IssuedToken => {
    const now = Math.floor(Date.now() / 1000);
    const payload = { ...claims, iss: issuer, aud: audience, exp: now + lifetime, nbf: now, iat: now, jti: randomBytes(16).toString('base64url') };
    const token = jwt.sign(payload, signing, { algorithm: key.algorithm, ...(key.kid !== undefined && { keyid: key.kid }) });
    return { token, expiresIn: lifetime, issuedAt: new Date(now * 1000) };
  };
  return {
    issuer,
    service,
    expiresIn,
    keys: [{ issuer, algorithm: key.algorithm, key: verifying, ...(key.kid !== undefined && { kid: key.kid }) }],
    issue: (subject, access) => sign({ ...(subject !== undefined && subject !== '' && { sub: subject }), access }, service, expiresIn),
    sign,
  };
}

export interface VerifyTokenOptions {
  /** The trusted issuers' keys. */
  keys: readonly TrustedKey[];
  /** The audience the token must carry: the registry's service. */
  audience: string;
  /** Seconds of clock difference forgiven on `exp` and `nbf` (default: 60, as distribution). */
  clockTolerance?: number;
}

/** Prepared keys, so a verifier checks its options once. */
function trustedKeys(keys: readonly TrustedKey[], who = 'tokenAuth'): readonly PreparedKey[] {
  if (!Array.isArray(keys) || keys.length === 0) throw new TypeError(`${who}: \`keys\` must list at least one { issuer, algorithm, key }.`);
  const list: readonly TrustedKey[] = keys;
  return list.map((k) => {
    if (typeof k.issuer !== 'string' || k.issuer === '') throw new TypeError(`${who}: every key needs its \`issuer\`.`);
    return { issuer: k.issuer, algorithm: k.algorithm, key: prepare(k.algorithm, k.key, 'verify', who), kid: k.kid };
  });
}

/**
 * Verifies a token: the header's `alg` must be the algorithm pinned to a key trusted for the token's
 * `iss` (so `alg: none`, an unsigned token, or an HS256 token signed with an RSA public key never
 * verify), then signature, issuer, audience, `exp` (required) and `nbf` with the clock tolerance.
 * Throws {@link TokenError} with a reason the client may see.
 */
export function verifyToken(token: string, options: VerifyTokenOptions): TokenClaims {
  return verifyWith(token, trustedKeys(options.keys, 'verifyToken'), options.audience, options.clockTolerance ?? 60);
}

function verifyWith(token: string, keys: readonly PreparedKey[], audience: string, tolerance: number): TokenClaims {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw new TokenError('malformed token');
  const decoded = jwt.decode(token, { complete: true });
  if (decoded === null || typeof decoded.payload !== 'object') throw new TokenError('malformed token');
  const { alg, kid } = decoded.header;
  const iss = decoded.payload.iss;
  if (!ALGORITHMS.has(alg)) throw new TokenError(`token algorithm "${alg}" is not accepted`);
  const candidates = keys.filter((k) => k.issuer === iss && k.algorithm === alg && (k.kid === undefined || kid === undefined || k.kid === kid));
  if (candidates.length === 0) throw new TokenError(`no key is trusted for issuer ${JSON.stringify(iss)} with ${alg}`);
  let failure: unknown;
  for (const key of candidates) {
    try {
      const payload = jwt.verify(token, key.key, { algorithms: [key.algorithm], audience, issuer: key.issuer, clockTolerance: tolerance });
      return claimsOf(payload);
    } catch (err) {
      if (err instanceof TokenError) throw err;
      failure = err;
    }
  }
  if (failure instanceof jwt.TokenExpiredError) throw new TokenError('token expired');
  if (failure instanceof jwt.NotBeforeError) throw new TokenError('token not yet valid');
  throw new TokenError(failure instanceof Error ? failure.message.replace(/^jwt /, 'token ') : 'invalid token');
}

function claimsOf(payload: string | jwt.JwtPayload): TokenClaims {
  if (typeof payload !== 'object') throw new TokenError('malformed token');
  if (typeof payload.exp !== 'number') throw new TokenError('token has no expiry');
  if (payload.sub !== undefined && typeof payload.sub !== 'string') throw new TokenError('malformed token subject');
  const access: unknown = payload.access ?? [];
  const valid = (a: unknown): a is TokenAccess => {
    const entry = a as Partial<TokenAccess> | null;
    return typeof entry === 'object' && entry !== null && typeof entry.type === 'string' && typeof entry.name === 'string' &&
      Array.isArray(entry.actions) && entry.actions.every((x) => typeof x === 'string');
  };
  if (!Array.isArray(access) || !access.every(valid)) throw new TokenError('malformed access claim');
  return { ...(payload as TokenClaims), access };
}

/** Whether a token's access claim grants `access` (`*` grants every action; `registry:catalog:*` the catalog). */
export function tokenGrants(claims: TokenAccess[], access: Access): boolean {
  if (access.action === 'ping') return true;
  if (access.action === 'catalog') return claims.some((c) => c.type === 'registry' && c.name === 'catalog' && c.actions.includes('*'));
  return claims.some((c) => c.type === 'repository' && c.name === access.repository && (c.actions.includes(access.action) || c.actions.includes('*')));
}

export interface TokenAuthOptions<Req extends RegistryRequest = RegistryRequest> {
  /** The token endpoint's absolute URL, or a function of the request (e.g. from its Host). Clients do not resolve relative realms. */
  realm: string | ((req: Req) => string);
  /** The service name: the challenge's `service` and the audience tokens must carry. */
  service: string;
  /** The keys of every issuer berth trusts: `issuer.keys` for its own, `{ issuer, algorithm, key }` for an external token server. */
  keys: readonly TrustedKey[];
  /** Seconds of clock difference forgiven on `exp` and `nbf` (default: 60). */
  clockTolerance?: number;
  /**
   * Which repositories the catalog lists to a token that grants `registry:catalog:*` (a token names no
   * repositories it was not asked for). Without it, the catalog lists those the token grants pull on.
   * The identity is `{ name: sub }`. Mounts never widen this way: a mount source must be in the token.
   */
  permissions?: Permissions | readonly Rule[];
}

/**
 * Docker/OCI token auth for the registry: `createRegistry({ storage, ...tokenAuth({ realm, service, keys: issuer.keys }) })`.
 * A request without a Bearer token gets the challenge naming every scope it needs; a bad token gets
 * `error="invalid_token"`; a token without the scope gets `error="insufficient_scope"`, so clients
 * fetch a wider one. `GET /v2/` is open to any valid token.
 */
export function tokenAuth<Req extends RegistryRequest = RegistryRequest>(options: TokenAuthOptions<Req>): AuthOptions<Req> {
  const who = 'tokenAuth';
  const { realm, service, clockTolerance = 60 } = options;
  if (typeof service !== 'string' || service === '') throw new TypeError(`${who}: \`service\` must be a non-empty string.`);
  if (typeof realm === 'string') absolute(realm, who);
  else if (typeof realm !== 'function') throw new TypeError(`${who}: \`realm\` must be the token endpoint's absolute URL or a function of the request.`);
  if (!Number.isSafeInteger(clockTolerance) || clockTolerance < 0 || clockTolerance > 300) {
    throw new TypeError(`${who}: \`clockTolerance\` must be whole seconds from 0 to 300 (got ${JSON.stringify(clockTolerance)}).`);
  }
  const prepared = trustedKeys(options.keys, who);
  const catalog = options.permissions === undefined ? undefined : toPermissions(options.permissions, who);
  const fixed = typeof realm === 'string' ? bearerChallenge({ realm, service }) : undefined;
  const challenge: Challenge = (refusal) =>
    (fixed ?? bearerChallenge({ realm: absolute((realm as (req: Req) => string)(refusal.req as Req), who), service }))(refusal);

  const authorize = async (req: Req, accesses: readonly Access[]): Promise<Decision> => {
    const match = /^bearer +(\S+)$/i.exec(req.headers.authorization?.trim() ?? '');
    if (!match) return { allowed: false };
    let claims: TokenClaims;
    try {
      claims = verifyWith(match[1] as string, prepared, service, clockTolerance);
    } catch (err) {
      if (err instanceof TokenError) return { invalid: true, allowed: false, message: err.message };
      throw err;
    }
    const identity: Identity | undefined = claims.sub ? { name: claims.sub } : undefined;
    let allowed = accesses.map((a) => tokenGrants(claims.access, a));
    // a catalog page asks pull on each repository listed: the catalog grant plus the permissions decide
    if (catalog !== undefined && isCatalog(req) && tokenGrants(claims.access, { action: 'catalog' })) {
      const answers = await catalog(identity, accesses);
      allowed = allowed.map((a, i) => a || answers[i] === true);
    }
    const missing = accesses.filter((a, i) => !allowed[i] && a.action !== 'catalog');
    const message = missing.length > 0 && !isCatalog(req) ? { message: `the token does not grant ${scopeOf(missing)}` } : {};
    return identity === undefined ? { allowed, ...message } : { identity, allowed, ...message };
  };
  return { authorize, challenge };
}

function isCatalog(req: RegistryRequest): boolean {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return /(?:^|\/)_catalog$/.test(q < 0 ? url : url.slice(0, q));
}

function absolute(realm: string, who: string): string {
  let url: URL | undefined;
  try {
    url = new URL(realm);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new TypeError(`${who}: the realm must be an absolute http(s) URL, like "https://app.example.com/token" (got ${JSON.stringify(realm)}).`);
  }
  return realm;
}
