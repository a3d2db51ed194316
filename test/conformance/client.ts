/**
 * The HTTP side of the conformance port: a small registry client with the request semantics of the
 * v1.1.1 suite's client (bloodorangeio/reggie on resty), rebuilt on Node's global fetch.
 *
 * What it reproduces:
 * - paths are templates: `<name>` (the namespace, or an override), `<reference>` and `<digest>` are
 *   filled in only when given a non-empty value; a template left unfilled is refused before sending
 *   (the Go client refuses it too, so the spec fails rather than hitting a wrong URL);
 * - the URL is `OCI_ROOT_URL` + `/` + the path, with query parameters appended sorted by name;
 * - a `Location` is reused as its path + query only ({@link HttpResponse.relativeLocation});
 * - `Content-Length` is always the length of the body actually sent: PUT/POST/PATCH without a body
 *   send `Content-Length: 0` (the Go client ignores a hand-set `Content-Length` header in the same way);
 * - redirects are followed (up to 20);
 * - on a 401 with a challenge: `Basic` → retry with the credentials; `Bearer` → one token request
 *   `GET <realm>?service=…&scope=…` with Basic credentials, then a retry with the token. No caching.
 *
 * Known differences: fetch always sends `Accept: *\/*` when no `Accept` is set (the Go client sends
 * none) and `Accept-Encoding: gzip, deflate`. A GET or HEAD that carries a body (fetch refuses those)
 * goes through node:http instead.
 */
import http from 'node:http';
import https from 'node:https';

/** Per request. The suite has none of its own (only Ginkgo's one-hour suite timeout). */
const REQUEST_TIMEOUT_MS = 5 * 60 * 1000;

export interface ClientOptions {
  /** `OCI_ROOT_URL`, without a trailing slash. */
  rootUrl: string;
  /** `OCI_NAMESPACE`: what `<name>` stands for unless a request names another repository. */
  namespace: string;
  username: string;
  password: string;
  /** `OCI_AUTH_SCOPE`: replaces the challenge's scope in token requests. */
  authScope: string;
  userAgent: string;
  /** `OCI_DEBUG`: print every exchange. */
  debug: boolean;
}

export interface PathParams {
  name?: string;
  reference?: string;
  digest?: string;
}

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyLength: number;
}

export class HttpResponse {
  readonly request: SentRequest;
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;

  constructor(request: SentRequest, status: number, headers: Headers, body: Buffer) {
    this.request = request;
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  /** A header's value, or `''` when absent. */
  header(name: string): string {
    return this.headers.get(name) ?? '';
  }

  text(): string {
    return this.body.toString('utf8');
  }

  /** The `Location` reduced to path (percent-decoded) and query, as the suite reuses it; `''` if absent or unparsable. */
  relativeLocation(): string {
    const parsed = splitUrlReference(this.header('Location'));
    if (!parsed) return '';
    return parsed.query === '' ? parsed.path : `${parsed.path}?${parsed.query}`;
  }

  /** The `Location` as sent, or `''` if absent or unparsable. */
  absoluteLocation(): string {
    const location = this.header('Location');
    return splitUrlReference(location) ? location : '';
  }
}

/** Splits a URL reference (absolute, scheme-relative or a path) into decoded path and raw query; `undefined` if malformed. */
function splitUrlReference(ref: string): { path: string; query: string } | undefined {
  let rest = ref.split('#', 1)[0] ?? '';
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const question = rest.indexOf('?', 2);
    const end = [slash, question].filter((i) => i >= 0).sort((a, b) => a - b)[0] ?? rest.length;
    rest = rest.slice(end);
  }
  const q = rest.indexOf('?');
  const rawPath = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  try {
    return { path: decodeURIComponent(rawPath), query };
  } catch {
    return undefined;
  }
}

export class RequestBuilder {
  readonly #client: RegistryClient;
  readonly #method: string;
  readonly #url: string;
  readonly #headers = new Map<string, { name: string; value: string }>();
  readonly #query = new Map<string, string>();
  #body: Buffer | undefined;

  constructor(client: RegistryClient, method: string, url: string) {
    this.#client = client;
    this.#method = method;
    this.#url = url;
  }

  header(name: string, value: string): this {
    this.#headers.set(name.toLowerCase(), { name, value });
    return this;
  }

  query(name: string, value: string): this {
    this.#query.set(name, value);
    return this;
  }

  body(data: Buffer): this {
    this.#body = data;
    return this;
  }

  async send(): Promise<HttpResponse> {
    if (/<name>|<reference>|<digest>|<session_id>/.test(this.#url) || /\/\/{2,}/.test(this.#url)) {
      throw new Error(`request is invalid: unresolved path template in ${this.#url}`);
    }
    let url = this.#url;
    if (this.#query.size > 0) {
      const params = new URLSearchParams([...this.#query].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      url += (url.includes('?') ? '&' : '?') + params.toString();
    }
    const headers: Record<string, string> = {};
    for (const { name, value } of this.#headers.values()) headers[name] = value;
    headers['User-Agent'] = this.#client.options.userAgent;
    return this.#client.execute(this.#method, url, headers, this.#body);
  }
}

export class RegistryClient {
  readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    this.options = options;
  }

  /** A request to `path`, a template such as `/v2/<name>/blobs/<digest>` or a location from an earlier response. */
  request(method: string, path: string, params: PathParams = {}): RequestBuilder {
    const values: Record<string, string | undefined> = {
      '<name>': params.name || this.options.namespace,
      '<reference>': params.reference,
      '<digest>': params.digest,
    };
    let filled = path;
    for (const [placeholder, value] of Object.entries(values)) {
      if (value) filled = filled.split(placeholder).join(value);
    }
    const relative = filled.startsWith('/') ? filled.slice(1) : filled;
    return new RequestBuilder(this, method, `${this.options.rootUrl}/${relative}`);
  }

  /** Sends once, and once more with credentials if the registry answers 401 with a challenge. */
  async execute(method: string, url: string, headers: Record<string, string>, body: Buffer | undefined): Promise<HttpResponse> {
    const first = await this.#send(method, url, headers, body);
    if (first.status !== 401) return first;
    const challenge = first.header('WWW-Authenticate');
    if (challenge === '') return first;
    const scheme = /.*(bearer|basic)/i.exec(challenge)?.[1]?.toLowerCase();
    if (scheme === 'basic') {
      return this.#send(method, url, { ...headers, Authorization: this.#basic() }, body);
    }
    if (scheme === 'bearer') {
      const token = await this.#fetchToken(parseChallenge(challenge));
      return this.#send(method, url, { ...headers, Authorization: `Bearer ${token}` }, body);
    }
    throw new Error(`cannot answer the authentication challenge "${challenge}"`);
  }

  #basic(): string {
    const { username, password } = this.options;
    return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  async #fetchToken(params: Record<string, string>): Promise<string> {
    const realm = params.realm ?? '';
    const query = new URLSearchParams({ service: params.service ?? '' });
    const scope = this.options.authScope || params.scope;
    if (scope) query.set('scope', scope);
    const url = realm + (realm.includes('?') ? '&' : '?') + query.toString();
    const headers = { Accept: 'application/json', 'User-Agent': this.options.userAgent, Authorization: this.#basic() };
    const resp = await this.#send('GET', url, headers, undefined);
    let info: unknown;
    try {
      info = JSON.parse(resp.text());
    } catch {
      throw new Error(`the token endpoint ${realm} answered ${resp.status} with a body that is not JSON`);
    }
    const field = (key: string): string => {
      const value = typeof info === 'object' && info !== null ? (info as Record<string, unknown>)[key] : undefined;
      return typeof value === 'string' ? value : '';
    };
    return field('token') || field('access_token');
  }

  async #send(method: string, url: string, headers: Record<string, string>, body: Buffer | undefined): Promise<HttpResponse> {
    // the Go client sends Content-Length: 0 on a body-less PUT/POST/PATCH; an empty Buffer makes fetch do the same
    const payload = body ?? (['PUT', 'POST', 'PATCH'].includes(method) ? Buffer.alloc(0) : undefined);
    const sent: SentRequest = { method, url, headers, bodyLength: payload?.length ?? 0 };
    let response: HttpResponse;
    if ((method === 'GET' || method === 'HEAD') && payload !== undefined && payload.length > 0) {
      response = await sendWithNodeHttp(sent, payload);
    } else {
      let res: Response;
      try {
        // the timeout is a safety net for CI: a registry that never answers fails the spec instead of hanging the run
        const init: RequestInit = { method, headers, redirect: 'follow', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
        // a Uint8Array view over the same bytes satisfies fetch's BodyInit typing (a Buffer is one already at runtime)
        if (payload !== undefined) init.body = new Uint8Array(payload.buffer as ArrayBuffer, payload.byteOffset, payload.length);
        res = await fetch(url, init);
      } catch (err) {
        const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
        throw new Error(`${method} ${url} failed: ${err instanceof Error ? err.message : String(err)}${cause}`, { cause: err });
      }
      response = new HttpResponse(sent, res.status, res.headers, Buffer.from(await res.arrayBuffer()));
    }
    if (this.options.debug) console.log(describeExchange(response).map((l) => `      | ${l}`).join('\n'));
    return response;
  }
}

/** `key="value"` pairs of a challenge, as the Go client reads them. */
function parseChallenge(challenge: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of challenge.matchAll(/([a-zA-z]+)="(.+?)"/g)) params[(m[1] ?? '').toLowerCase()] = m[2] ?? '';
  return params;
}

/** A GET or HEAD with a body (fetch refuses them; the suite sends one), following redirects like fetch. */
async function sendWithNodeHttp(sent: SentRequest, payload: Buffer): Promise<HttpResponse> {
  let url = new URL(sent.url);
  let method = sent.method;
  let body: Buffer | undefined = payload;
  for (let hop = 0; hop <= 20; hop++) {
    const { status, headers, data } = await new Promise<{ status: number; headers: Headers; data: Buffer }>((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      const outgoing: Record<string, string | number> = { ...sent.headers };
      if (body !== undefined) outgoing['Content-Length'] = body.length;
      const req = lib.request(url, { method, headers: outgoing, rejectUnauthorized: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          const raw = res.rawHeaders;
          for (let i = 0; i + 1 < raw.length; i += 2) h.append(raw[i] as string, raw[i + 1] as string);
          resolve({ status: res.statusCode ?? 0, headers: h, data: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within the request timeout')));
      req.on('error', (err) => reject(new Error(`${method} ${url.href} failed: ${err.message}`)));
      req.end(body);
    });
    const location = headers.get('location');
    if (![301, 302, 303, 307, 308].includes(status) || location === null) {
      return new HttpResponse(sent, status, headers, data);
    }
    url = new URL(location, url);
    if (status !== 307 && status !== 308 && method !== 'HEAD') {
      method = 'GET';
      body = undefined;
    }
  }
  throw new Error(`${sent.method} ${sent.url}: too many redirects`);
}

/** Request line, status, headers and a body excerpt: what a failure report shows. */
export function describeExchange(resp: HttpResponse, bodyLimit = 600): string[] {
  const req = resp.request;
  const reqHeaders = Object.entries(req.headers)
    .filter(([k]) => !/^(user-agent|authorization)$/i.test(k))
    .map(([k, v]) => `${k}: ${v}`);
  const lines = [`request:  ${req.method} ${req.url}${req.bodyLength > 0 ? ` (${req.bodyLength}-byte body)` : ''}`];
  if (reqHeaders.length > 0) lines.push(`          ${reqHeaders.join('; ')}`);
  lines.push(`response: ${resp.status}`);
  for (const [k, v] of resp.headers) lines.push(`  ${k}: ${v}`);
  if (resp.body.length > 0) {
    const text = resp.body.subarray(0, bodyLimit).toString('utf8').replace(/[^\x20-\x7e]/g, '.');
    lines.push(`body (${resp.body.length} bytes): ${text}${resp.body.length > bodyLimit ? '…' : ''}`);
  }
  return lines;
}
