import type { ServerResponse } from 'node:http';
import { type Access, type Identity, basicChallenge, scopeOf } from '../auth.js';
import { RegistryError } from '../errors.js';
import type { RegistryRequest } from '../http.js';
import { type VerifyPassword, parseBasic, passwordCheck } from './basic.js';
import { type Identify, type InvalidCredentials, decide, isIdentity, toPermissions } from './host.js';
import type { Permissions, Rule } from './rules.js';
import { ScopeError, accessesOf, parseScope } from './scope.js';
import type { LoginThrottle } from './throttle.js';
import { type IssuedToken, type TokenAccess, type TokenIssuer, TokenError, verifyToken } from './token.js';

export interface TokenEndpointOptions<Req extends RegistryRequest = RegistryRequest> {
  /** Signs the tokens; its `service` is the only one this endpoint issues for. */
  issuer: TokenIssuer;
  /** Checks Basic credentials (GET) and the password grant (POST). */
  verify: VerifyPassword<Req>;
  /** What each caller may do: a rule table or a function. Tokens carry what was asked and is allowed. */
  permissions: Permissions | readonly Rule[];
  /** Who a request without Basic credentials is, e.g. the host's session user (default: anonymous). */
  identify?: Identify<Req>;
  /** Issue tokens to anonymous callers, with what the permissions give them (default: `true`, as docker expects for anonymous pulls). */
  anonymous?: boolean;
  /** The per-client slow-down of failed logins (default: `loginThrottle()`); `false` for none. */
  throttle?: LoginThrottle<Req> | false;
  /** The realm of this endpoint's own `Basic` challenge on wrong credentials (default: `"berth"`). */
  realm?: string;
  /**
   * Issue refresh tokens on `offline_token=true` (GET) or `access_type=offline` (POST), redeemed with the
   * POST `refresh_token` grant (default: off; docker then keeps the password instead). `identity` says who
   * a refresh token's subject is now: `undefined` refuses it (a removed user).
   */
  refreshTokens?: {
    expiresIn?: number;
    identity: (subject: string, req: Req) => Identity | undefined | Promise<Identity | undefined>;
  };
}

/** A request handler for GET and POST: `app.use('/token', tokenEndpoint({ … }))`. */
export type TokenEndpoint<Req extends RegistryRequest = RegistryRequest> = (req: Req, res: ServerResponse, next?: (err?: unknown) => void) => void;

const MAX_FORM_BYTES = 65536;
const REFRESH = { audience: (service: string) => `${service}#refresh`, expiresIn: 30 * 24 * 3600 } as const;

/** An answer other than a token: OAuth2's `error`/`error_description` plus the registry's `errors`, so every client shows the reason. */
class EndpointError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/**
 * The Docker/OCI token endpoint (the challenge's realm). GET takes Basic credentials (or none, for an
 * anonymous token), `service`, `scope` (repeated or space-separated), `account` and `offline_token`;
 * POST takes the OAuth2 form (`grant_type=password` with `username`/`password`, or `refresh_token`
 * when refresh tokens are on), `service`, `scope`, `client_id` and `access_type`. Each token carries the
 * intersection of what was asked and what is allowed (asking for more is not an error). Answers
 * `token`, `access_token`, `expires_in`, `issued_at` (RFC 3339) and, for POST, `scope`.
 */
export function tokenEndpoint<Req extends RegistryRequest = RegistryRequest>(options: TokenEndpointOptions<Req>): TokenEndpoint<Req> {
  const who = 'tokenEndpoint';
  const { issuer, identify, anonymous = true, realm = 'berth', refreshTokens } = options;
  if (typeof issuer !== 'object' || typeof issuer.issue !== 'function') throw new TypeError(`${who}: \`issuer\` must be a tokenIssuer({ … }).`);
  if (identify !== undefined && typeof identify !== 'function') throw new TypeError(`${who}: \`identify\` must be a function (req) => identity | undefined.`);
  if (refreshTokens !== undefined && typeof refreshTokens.identity !== 'function') {
    throw new TypeError(`${who}: \`refreshTokens.identity\` must be a function (subject, req) => identity | undefined.`);
  }
  const refreshLifetime = refreshTokens?.expiresIn ?? REFRESH.expiresIn;
  if (!Number.isSafeInteger(refreshLifetime) || refreshLifetime < 60) throw new TypeError(`${who}: \`refreshTokens.expiresIn\` must be whole seconds, at least 60.`);
  const permissions = toPermissions(options.permissions, who);
  const check = passwordCheck(options.verify, options.throttle, who);
  const basic = basicChallenge(realm);
  const challenge = (req: Req) => ({ 'WWW-Authenticate': basic({ req, accesses: [] }) });
  // RFC 6749 §5.2: a wrong password grant is 400 invalid_grant; a GET gets the Basic challenge
  const wrong = (req: Req, post: boolean, found: InvalidCredentials) =>
    new EndpointError(post ? 400 : 401, 'invalid_grant', found.message ?? 'invalid credentials', post ? {} : challenge(req));

  async function caller(req: Req, params: URLSearchParams, post: boolean): Promise<Identity | undefined> {
    if (post) {
      const grant = params.get('grant_type');
      if (grant === 'password') {
        const username = params.get('username');
        const password = params.get('password');
        if (!username || password === null) throw new EndpointError(400, 'invalid_request', 'the password grant needs username and password');
        const found = await check(req, username, password);
        if (!isIdentity(found)) throw wrong(req, true, found);
        return found;
      }
      if (grant === 'refresh_token' && refreshTokens !== undefined) {
        let subject: string | undefined;
        try {
          subject = verifyToken(params.get('refresh_token') ?? '', { keys: issuer.keys, audience: REFRESH.audience(issuer.service) }).sub;
        } catch (err) {
          if (!(err instanceof TokenError)) throw err;
          throw new EndpointError(400, 'invalid_grant', `refresh token refused: ${err.message}`);
        }
        const identity = subject ? await refreshTokens.identity(subject, req) : undefined;
        if (identity === undefined) throw new EndpointError(400, 'invalid_grant', 'refresh token refused: the user is unknown');
        return identity;
      }
      throw new EndpointError(400, 'unsupported_grant_type', `grant_type must be ${refreshTokens ? '"password" or "refresh_token"' : '"password"'}`);
    }
    const credentials = parseBasic(req.headers.authorization);
    if (credentials === null) throw wrong(req, false, { invalid: true, message: 'malformed Basic credentials' });
    if (credentials !== undefined) {
      const account = params.get('account');
      if (account !== null && account !== '' && account !== credentials.username) {
        throw new EndpointError(400, 'invalid_request', 'account does not match the user name of the credentials');
      }
      const found = await check(req, credentials.username, credentials.password);
      if (!isIdentity(found)) throw wrong(req, false, found);
      return found;
    }
    const found = await identify?.(req);
    if (found !== undefined && !isIdentity(found)) throw wrong(req, false, found);
    return found;
  }

  async function answer(req: Req, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST') throw new EndpointError(405, 'invalid_request', `${method} is not supported here`, { Allow: 'GET, POST' });
    const post = method === 'POST';
    const params = post ? await form(req) : new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const service = params.get('service');
    if (service !== null && service !== issuer.service) throw new EndpointError(400, 'invalid_request', `this endpoint issues tokens for service "${issuer.service}" only`);
    let accesses: Access[];
    try {
      accesses = params.getAll('scope').flatMap((s) => parseScope(s)).flatMap(accessesOf);
    } catch (err) {
      if (err instanceof ScopeError) throw new EndpointError(400, 'invalid_scope', err.message);
      throw err;
    }
    const identity = await caller(req, params, post);
    if (identity === undefined && !anonymous) throw new EndpointError(401, 'invalid_client', 'credentials are required', challenge(req));
    const { allowed } = await decide(identity, accesses, permissions);
    const granted = accesses.filter((_, i) => (allowed as boolean[])[i]);
    const token = issuer.issue(identity?.name, claimOf(granted));
    const offline = post ? params.get('access_type') === 'offline' : params.get('offline_token') === 'true';
    let refresh: IssuedToken | undefined;
    if (refreshTokens !== undefined && offline && identity !== undefined && params.get('grant_type') !== 'refresh_token') {
      refresh = issuer.sign({ sub: identity.name }, REFRESH.audience(issuer.service), refreshLifetime);
    }
    send(res, 200, {
      token: token.token,
      access_token: token.token,
      expires_in: token.expiresIn,
      issued_at: token.issuedAt.toISOString(),
      ...(post && { scope: scopeOf(granted) }),
      ...(refresh && { refresh_token: refresh.token }),
    });
  }

  return (req, res, next) => {
    answer(req, res).catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      if (err instanceof EndpointError) return failure(res, err);
      if (err instanceof RegistryError && err.code === 'TOOMANYREQUESTS') {
        return failure(res, new EndpointError(429, 'too_many_requests', err.message, { ...err.headers }));
      }
      if (next) return next(err);
      res.statusCode = 500;
      res.end();
    });
  };
}

/** Granted accesses as distribution's `access` claim: one entry per repository, plus `registry:catalog:*`. */
function claimOf(granted: readonly Access[]): TokenAccess[] {
  const repositories = new Map<string, string[]>();
  const claim: TokenAccess[] = [];
  for (const access of granted) {
    if (access.action === 'catalog') {
      if (!claim.some((c) => c.type === 'registry')) claim.push({ type: 'registry', name: 'catalog', actions: ['*'] });
    } else if (access.action !== 'ping') {
      const actions = repositories.get(access.repository) ?? [];
      if (!actions.includes(access.action)) actions.push(access.action);
      repositories.set(access.repository, actions);
    }
  }
  return [...[...repositories].map(([name, actions]) => ({ type: 'repository', name, actions })), ...claim];
}

/** The POST form: from a body parser that ran before (`express.urlencoded()`), or read here (64 KiB at most). */
async function form(req: RegistryRequest): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new EndpointError(400, 'invalid_request', 'POST needs an application/x-www-form-urlencoded form');
  }
  const body = req.body;
  if (typeof body === 'object' && body !== null && !Buffer.isBuffer(body)) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'string') params.append(name, v);
    }
    return params;
  }
  if (typeof body === 'string' || Buffer.isBuffer(body)) return new URLSearchParams(body.toString());
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new EndpointError(413, 'invalid_request', `the form is larger than ${MAX_FORM_BYTES} bytes`, { Connection: 'close' });
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function failure(res: ServerResponse, err: EndpointError): void {
  const code = err.code.startsWith('invalid_grant') || err.code === 'invalid_client' ? 'UNAUTHORIZED' : err.status === 429 ? 'TOOMANYREQUESTS' : 'UNSUPPORTED';
  for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
  send(res, err.status, { error: err.code, error_description: err.message, errors: [{ code, message: err.message }] });
}

function send(res: ServerResponse, status: number, body: object): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', bytes.length);
  // RFC 6749 §5.1: tokens must not be cached
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  res.end(bytes);
}
