import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { parseChallenges, type AuthChallenge } from './challenge.js';
import type { ResolvedUpstream, UpstreamCredentials } from './options.js';

/** An upstream answer whose body the caller reads or destroys. */
export interface UpstreamAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

export interface UpstreamRequest {
  /** The upstream repository, for the token scope. */
  repository: string;
  accept?: string;
  /** Milliseconds for the upstream (and its token server) to start answering, and for a transfer to stall. */
  timeout: number;
}

/** Upstream could not be asked: refused connection, timeout, TLS failure, a token server that failed. */
export class UpstreamUnreachable extends Error {
  override readonly name = 'UpstreamUnreachable';
}

const REDIRECTS = 5;
const TOKENS_KEPT = 1000;
const MAX_TOKEN_ANSWER = 1024 * 1024;
/** A token is used until this long before it expires, so a request never goes out with one about to lapse. */
const TOKEN_MARGIN = 10_000;
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/**
 * Talks to one upstream registry as a client does: a 401 challenge is answered with a Bearer token
 * from its realm (service and scope, Basic credentials when configured; cached until it expires) or
 * with Basic credentials; redirects (blob downloads go to object storage) are followed, and
 * credentials are never sent to another origin.
 */
export class UpstreamClient {
  readonly upstream: ResolvedUpstream;
  readonly #http: http.Agent;
  readonly #https: https.Agent;
  readonly #tokens = new Map<string, { token: string; expires: number }>();
  readonly #pending = new Map<string, Promise<string | undefined>>();
  /** The upstream answered a Basic challenge: send credentials up front from now on. */
  #basic = false;

  constructor(upstream: ResolvedUpstream) {
    this.upstream = upstream;
    const { ca, cert, key, insecure } = upstream.tls;
    this.#http = new http.Agent({ keepAlive: true, maxSockets: 32 });
    this.#https = new https.Agent({
      keepAlive: true,
      maxSockets: 32,
      ...(ca !== undefined && { ca: typeof ca === 'string' || Buffer.isBuffer(ca) ? ca : [...ca] }),
      ...(cert !== undefined && { cert }),
      ...(key !== undefined && { key }),
      ...(insecure === true && { rejectUnauthorized: false }),
    });
  }

  static readonly manifestTypes = MANIFEST_TYPES;

  /** `GET` or `HEAD` of `path` below the upstream's `/v2/`, authenticated as needed, redirects followed. */
  async request(method: 'GET' | 'HEAD', path: string, request: UpstreamRequest): Promise<UpstreamAnswer> {
    const url = new URL(`${this.upstream.origin.href.replace(/\/$/, '')}/v2/${path}`);
    const scope = `repository:${request.repository}:pull`;
    const headers: http.OutgoingHttpHeaders = { 'User-Agent': 'berth-mirror', ...(request.accept !== undefined && { Accept: request.accept }) };
    const cached = this.#cachedToken(scope);
    const first = cached !== undefined ? `Bearer ${cached}` : this.#basic ? await this.#basicHeader() : undefined;
    const answer = await this.#follow(method, url, { ...headers, ...(first !== undefined && { Authorization: first }) }, request.timeout);
    if (answer.status !== 401) return answer;
    answer.body.resume();
    const challenges = parseChallenges(answer.headers['www-authenticate']);
    const authorization = await this.#answer(challenges, scope, cached, request.timeout);
    if (authorization === undefined) return answer;
    return this.#follow(method, url, { ...headers, Authorization: authorization }, request.timeout);
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }

  /** The Authorization for a retry after a 401, or `undefined` when there is nothing better to send. */
  async #answer(challenges: AuthChallenge[], scope: string, used: string | undefined, timeout: number): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      if (used !== undefined) this.#tokens.delete(scope);
      const token = await this.#token(bearer, scope, timeout);
      return token === undefined ? undefined : `Bearer ${token}`;
    }
    if (challenges.some((c) => c.scheme === 'basic') && !this.#basic) {
      const header = await this.#basicHeader();
      if (header === undefined) return undefined;
      this.#basic = true;
      return header;
    }
    return undefined;
  }

  #cachedToken(scope: string): string | undefined {
    const entry = this.#tokens.get(scope);
    if (entry === undefined) return undefined;
    if (entry.expires > Date.now()) return entry.token;
    this.#tokens.delete(scope);
    return undefined;
  }

  /** One token request per scope at a time: concurrent misses share it. */
  #token(challenge: AuthChallenge, scope: string, timeout: number): Promise<string | undefined> {
    const pending = this.#pending.get(scope);
    if (pending) return pending;
    const fetching = this.#fetchToken(challenge, scope, timeout).finally(() => this.#pending.delete(scope));
    this.#pending.set(scope, fetching);
    return fetching;
  }

  async #fetchToken(challenge: AuthChallenge, scope: string, timeout: number): Promise<string | undefined> {
    const { realm, service } = challenge.params;
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      throw new UpstreamUnreachable(`the upstream's token realm ${JSON.stringify(realm)} is not an absolute URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UpstreamUnreachable(`the upstream's token realm ${url.href} is not http(s)`);
    if (service !== undefined) url.searchParams.set('service', service);
    url.searchParams.append('scope', challenge.params.scope ?? scope);
    const credentials = await this.upstream.credentials();
    if (credentials) url.searchParams.set('account', credentials.username);
    const headers: http.OutgoingHttpHeaders = { 'User-Agent': 'berth-mirror', Accept: 'application/json', ...(credentials && { Authorization: basic(credentials) }) };
    const answer = await this.#send('GET', url, headers, timeout);
    const text = (await readAll(answer.body, MAX_TOKEN_ANSWER)).toString('utf8');
    // wrong credentials or a refused scope: the upstream's 401 stands
    if (answer.status === 401 || answer.status === 403) return undefined;
    if (answer.status !== 200) throw new UpstreamUnreachable(`the upstream's token server ${url.origin} answered ${answer.status}`);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      throw new UpstreamUnreachable(`the upstream's token server ${url.origin} answered something other than JSON`);
    }
    const token = typeof doc.token === 'string' && doc.token !== '' ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : undefined;
    if (token === undefined || token === '') throw new UpstreamUnreachable(`the upstream's token server ${url.origin} answered no token`);
    // clients assume 60 seconds when it is missing or shorter
    const lifetime = typeof doc.expires_in === 'number' && doc.expires_in >= 60 ? doc.expires_in : 60;
    if (this.#tokens.size >= TOKENS_KEPT) this.#tokens.delete(this.#tokens.keys().next().value as string);
    this.#tokens.set(scope, { token, expires: Date.now() + lifetime * 1000 - TOKEN_MARGIN });
    return token;
  }

  async #basicHeader(): Promise<string | undefined> {
    const credentials = await this.upstream.credentials();
    return credentials && basic(credentials);
  }

  /** Follows redirects; credentials go only to the upstream's own origin (object storage has its own signed URLs). */
  async #follow(method: 'GET' | 'HEAD', start: URL, headers: http.OutgoingHttpHeaders, timeout: number): Promise<UpstreamAnswer> {
    let url = start;
    for (let hop = 0; ; hop++) {
      const own = url.origin === this.upstream.origin.origin;
      const { Authorization: _dropped, ...anonymous } = headers;
      const answer = await this.#send(method, url, own ? headers : anonymous, timeout);
      const location = answer.headers.location;
      if (![301, 302, 303, 307, 308].includes(answer.status) || location === undefined) return answer;
      answer.body.resume();
      if (hop === REDIRECTS) throw new UpstreamUnreachable(`more than ${REDIRECTS} redirects from ${start.href}`);
      url = new URL(location, url);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UpstreamUnreachable(`a redirect to ${url.protocol} from ${start.href}`);
    }
  }

  #send(method: 'GET' | 'HEAD', url: URL, headers: http.OutgoingHttpHeaders, timeout: number): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const req = (secure ? https : http).request(url, { method, headers, agent: secure ? this.#https : this.#http });
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err instanceof UpstreamUnreachable ? err : new UpstreamUnreachable(`${method} ${url.origin}${url.pathname}: ${err.message}`, { cause: err }));
      };
      // until the answer starts, and then for any stall of the transfer
      const timer = setTimeout(() => req.destroy(new UpstreamUnreachable(`${method} ${url.origin}${url.pathname}: no answer within ${timeout} ms`)), timeout);
      req.setTimeout(timeout, () => req.destroy(new UpstreamUnreachable(`${method} ${url.origin}${url.pathname}: the transfer stalled for ${timeout} ms`)));
      req.once('error', fail);
      req.once('response', (res) => {
        clearTimeout(timer);
        req.off('error', fail);
        // later failures surface on the body
        req.on('error', (err) => res.destroy(err));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.end();
    });
  }
}

function basic(credentials: UpstreamCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** Reads a small body whole; more than `limit` bytes fails. */
export async function readAll(body: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new RangeError(`the answer is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
