import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import jwt from 'jsonwebtoken';
import {
  type Rule,
  type TokenAccess,
  type TokenIssuer,
  createRegistry,
  loginThrottle,
  memoryStorage,
  passwords,
  tokenAuth,
  tokenEndpoint,
  tokenIssuer,
} from '../../lib/index.js';
import { assertError, Client, digestOf, listen, type Served, startRegistry } from './helpers.js';

const SERVICE = 'berth.test';
const ISSUER = 'berth-test-issuer';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const RSA_PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();

const USERS = passwords({ alice: 'alice-pw', bob: 'bob-pw' });
const RULES: Rule[] = [
  { repositories: 'alice/**', users: 'alice', actions: '*' },
  { repositories: 'alice/shared', users: 'bob', actions: 'pull' },
  { repositories: 'bob/**', users: 'bob', actions: ['pull', 'push'] },
  { repositories: 'public/**', users: '*', anonymous: true, actions: 'pull' },
];

const b64 = (value: object | string) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const claims = (access: TokenAccess[], extra: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  sub: 'alice',
  aud: SERVICE,
  iat: now(),
  nbf: now(),
  exp: now() + 300,
  access,
  ...extra,
});
const pull = (name: string): TokenAccess[] => [{ type: 'repository', name, actions: ['pull'] }];
const rs256 = (payload: object) => jwt.sign(payload, rsa.privateKey, { algorithm: 'RS256' });

interface TokenAnswer {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope?: string;
  refresh_token?: string;
}

describe('auth: token auth (JWT) and the token endpoint', () => {
  const storage = memoryStorage();
  let served: Served;
  let client: Client;
  let issuer: TokenIssuer;
  let realm: string;
  let challenge: string;

  before(async () => {
    issuer = tokenIssuer({ issuer: ISSUER, service: SERVICE, key: { algorithm: 'RS256', key: rsa.privateKey } });
    const app = express();
    app.use(
      '/token',
      tokenEndpoint({
        issuer,
        verify: USERS,
        permissions: RULES,
        // one client per X-Client header, so the tests can play several clients from one address
        throttle: loginThrottle({ free: 3, delay: 300, clientKey: (req) => String(req.headers['x-client'] ?? 'default') }),
      }),
    );
    app.use(
      createRegistry({
        storage,
        ...tokenAuth({ realm: (req) => `http://${req.headers.host ?? ''}/token`, service: SERVICE, keys: issuer.keys, permissions: RULES }),
      }),
    );
    served = await listen(app);
    client = new Client(served.origin);
    realm = `${served.origin}/token`;
    challenge = `Bearer realm="${realm}",service="${SERVICE}"`;
    const admin = await startRegistry({ storage });
    for (const repo of ['alice/app', 'alice/shared', 'alice/private', 'bob/app', 'public/base']) await admin.pushBlob(repo, `layer of ${repo}`);
    await admin.close();
  });
  after(() => served.close());

  /** A token from the endpoint (GET, Basic credentials unless anonymous). */
  async function fetchToken(scope: string | string[], user?: [string, string], extra: Record<string, string> = {}): Promise<string> {
    const params = new URLSearchParams({ service: SERVICE, ...extra });
    for (const s of Array.isArray(scope) ? scope : [scope]) params.append('scope', s);
    const res = await fetch(`${realm}?${params}`, { headers: user ? { Authorization: basic(...user) } : {} });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as TokenAnswer).token;
  }
  const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
  const accessOf = (token: string) => (jwt.decode(token) as { access: TokenAccess[] }).access;

  describe('the registry', () => {
    it('GET /v2/ without a token → 401 UNAUTHORIZED + the Bearer challenge; with any valid token → 200', async () => {
      const res = await client.req('GET', '/v2/');
      await assertError(res, 401, 'UNAUTHORIZED');
      assert.equal(res.headers.get('www-authenticate'), challenge);
      assert.equal((await client.req('GET', '/v2/', bearer(await fetchToken([])))).status, 200, 'an anonymous token without scopes');
      assert.equal((await client.req('GET', '/v2/', bearer(await fetchToken([], ['bob', 'bob-pw'])))).status, 200);
    });

    it('missing credentials → 401 UNAUTHORIZED naming the scope the request needs', async () => {
      const res = await client.req('GET', `/v2/alice/app/blobs/${digestOf('layer of alice/app')}`);
      await assertError(res, 401, 'UNAUTHORIZED');
      assert.equal(res.headers.get('www-authenticate'), `${challenge},scope="repository:alice/app:pull"`);
    });

    const invalid = async (token: string, message: RegExp) => {
      const res = await client.req('GET', '/v2/alice/app/tags/list', bearer(token));
      const [error] = await assertError(res, 401, 'UNAUTHORIZED');
      assert.equal(res.headers.get('www-authenticate'), `${challenge},scope="repository:alice/app:pull",error="invalid_token"`);
      assert.match(error?.message ?? '', message);
    };

    it('a valid token with the scope → 200', async () => {
      const res = await client.req('GET', '/v2/alice/app/tags/list', bearer(rs256(claims(pull('alice/app')))));
      assert.equal(res.status, 200);
    });

    it('an unsigned token → 401 invalid_token', async () => {
      const signed = rs256(claims(pull('alice/app')));
      await invalid(signed.slice(0, signed.lastIndexOf('.') + 1), /signature/);
      await invalid(`${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims(pull('alice/app')))}`, /malformed/);
      await invalid('not-a-jwt', /malformed/);
    });

    it('`alg: none` → 401 invalid_token', async () => {
      await invalid(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims(pull('alice/app')))}.`, /algorithm "none" is not accepted/);
    });

    it('an HS256 token signed with the RS256 public key → 401 invalid_token', async () => {
      const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims(pull('alice/app')))}`;
      const signature = createHmac('sha256', RSA_PUBLIC_PEM).update(head).digest('base64url');
      await invalid(`${head}.${signature}`, /no key is trusted for issuer "berth-test-issuer" with HS256/);
    });

    it('a token signed by another key → 401 invalid_token', async () => {
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      await invalid(jwt.sign(claims(pull('alice/app')), other, { algorithm: 'RS256' }), /invalid signature/);
    });

    it('an expired token → 401 invalid_token (a minute of clock skew is forgiven)', async () => {
      await invalid(rs256(claims(pull('alice/app'), { iat: now() - 900, nbf: now() - 900, exp: now() - 120 })), /token expired/);
      const skewed = await client.req('GET', '/v2/alice/app/tags/list', bearer(rs256(claims(pull('alice/app'), { exp: now() - 20 }))));
      assert.equal(skewed.status, 200);
    });

    it('a token without expiry → 401 invalid_token', async () => {
      const { exp: _, ...forever } = claims(pull('alice/app'));
      await invalid(rs256(forever), /no expiry/);
    });

    it('a token not yet valid → 401 invalid_token', async () => {
      await invalid(rs256(claims(pull('alice/app'), { nbf: now() + 600 })), /token not yet valid/);
      const skewed = await client.req('GET', '/v2/alice/app/tags/list', bearer(rs256(claims(pull('alice/app'), { nbf: now() + 20 }))));
      assert.equal(skewed.status, 200);
    });

    it('a wrong audience or issuer → 401 invalid_token', async () => {
      await invalid(rs256(claims(pull('alice/app'), { aud: 'other.registry' })), /audience invalid/);
      await invalid(rs256(claims(pull('alice/app'), { iss: 'someone-else' })), /no key is trusted for issuer "someone-else"/);
    });

    it('a malformed access claim → 401 invalid_token', async () => {
      await invalid(rs256(claims([], { access: 'repository:alice/app:pull' })), /malformed access claim/);
      await invalid(rs256(claims([], { access: [{ type: 'repository', name: 'alice/app', actions: 'pull' }] })), /malformed access claim/);
    });

    it('a token for repository A used on B → 401 insufficient_scope naming B', async () => {
      const res = await client.req('GET', '/v2/alice/private/tags/list', bearer(rs256(claims(pull('alice/app')))));
      await assertError(res, 401, 'UNAUTHORIZED');
      assert.equal(res.headers.get('www-authenticate'), `${challenge},scope="repository:alice/private:pull",error="insufficient_scope"`);
    });

    it('a push with a pull-only token → 401 insufficient_scope naming the push scope', async () => {
      const token = await fetchToken('repository:alice/app:pull', ['alice', 'alice-pw']);
      const res = await client.req('POST', '/v2/alice/app/blobs/uploads/', bearer(token));
      await assertError(res, 401, 'UNAUTHORIZED');
      assert.equal(res.headers.get('www-authenticate'), `${challenge},scope="repository:alice/app:push",error="insufficient_scope"`);
      // what clients do next: fetch the scope the challenge names, and retry
      const wider = await fetchToken('repository:alice/app:push', ['alice', 'alice-pw']);
      assert.equal((await client.req('POST', '/v2/alice/app/blobs/uploads/', bearer(wider))).status, 202);
    });

    it('a full push and pull with tokens from the endpoint', async () => {
      const token = await fetchToken('repository:alice/app:pull,push', ['alice', 'alice-pw']);
      const as = new Client(served.origin, '', { Authorization: `Bearer ${token}` });
      const pushed = await as.pushImage('alice/app', { tag: 'v1' });
      const res = await as.req('GET', '/v2/alice/app/manifests/v1');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), pushed.digest);
      const del = await as.req('DELETE', '/v2/alice/app/manifests/v1');
      await assertError(del, 401, 'UNAUTHORIZED');
      assert.equal(del.headers.get('www-authenticate'), `${challenge},scope="repository:alice/app:delete",error="insufficient_scope"`);
    });

    it('a mount from a repository the caller cannot read → 202 and a fresh session; nothing leaks', async () => {
      const secret = digestOf('layer of alice/private');
      const token = await fetchToken('repository:bob/app:push,pull repository:alice/private:pull', ['bob', 'bob-pw']);
      assert.deepEqual(accessOf(token), [{ type: 'repository', name: 'bob/app', actions: ['pull', 'push'] }], 'the endpoint grants only the intersection');
      const res = await client.req('POST', `/v2/bob/app/blobs/uploads/?mount=${secret}&from=alice/private`, bearer(token));
      assert.equal(res.status, 202);
      assert.match(res.headers.get('location') ?? '', /^\/v2\/bob\/app\/blobs\/uploads\/[^/?]+/);
      assert.equal((await client.req('HEAD', `/v2/bob/app/blobs/${secret}`, bearer(token))).status, 404);
      // with the right to read the source, the same mount links the blob
      const shared = digestOf('layer of alice/shared');
      const both = await fetchToken('repository:bob/app:push,pull repository:alice/shared:pull', ['bob', 'bob-pw']);
      assert.equal((await client.req('POST', `/v2/bob/app/blobs/uploads/?mount=${shared}&from=alice/shared`, bearer(both))).status, 201);
    });

    it('the catalog needs registry:catalog:* and lists only what the token holder may pull', async () => {
      const none = await client.req('GET', '/v2/_catalog', bearer(await fetchToken('repository:bob/app:pull', ['bob', 'bob-pw'])));
      await assertError(none, 401, 'UNAUTHORIZED');
      assert.equal(none.headers.get('www-authenticate'), `${challenge},scope="registry:catalog:*",error="insufficient_scope"`);
      const list = async (user?: [string, string]) => {
        const res = await client.req('GET', '/v2/_catalog', bearer(await fetchToken('registry:catalog:*', user)));
        assert.equal(res.status, 200);
        return ((await res.json()) as { repositories: string[] }).repositories;
      };
      assert.deepEqual(await list(['bob', 'bob-pw']), ['alice/shared', 'bob/app', 'public/base']);
      assert.deepEqual(await list(['alice', 'alice-pw']), ['alice/app', 'alice/private', 'alice/shared', 'public/base']);
      assert.deepEqual(await list(), ['public/base']);
    });

    it('a Basic header is not a token here → 401 with the Bearer challenge', async () => {
      const res = await client.req('GET', '/v2/public/base/tags/list', { headers: { Authorization: basic('alice', 'alice-pw') } });
      await assertError(res, 401, 'UNAUTHORIZED');
      assert.equal(res.headers.get('www-authenticate'), `${challenge},scope="repository:public/base:pull"`);
    });
  });

  describe('the token endpoint', () => {
    const get = (query: string, headers: Record<string, string> = {}) => fetch(`${realm}?${query}`, { headers });
    const post = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(realm, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });

    it('GET with Basic: repeated and space-separated scopes; token, access_token, expires_in, issued_at (RFC 3339)', async () => {
      const res = await get(
        `service=${SERVICE}&scope=repository:alice/app:pull&scope=${encodeURIComponent('repository:alice/app:push registry:catalog:*')}&account=alice&client_id=docker&offline_token=true`,
        { Authorization: basic('alice', 'alice-pw') },
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const body = (await res.json()) as TokenAnswer;
      assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_at', 'token'], 'no refresh token unless they are on');
      assert.equal(body.access_token, body.token);
      assert.equal(body.expires_in, 300);
      assert.match(body.issued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$/);
      const payload = jwt.verify(body.token, rsa.publicKey, { algorithms: ['RS256'] }) as jwt.JwtPayload;
      assert.equal(payload.iss, ISSUER);
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.aud, SERVICE);
      assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 300);
      assert.equal(typeof payload.jti, 'string');
      assert.deepEqual(payload.access, [
        { type: 'repository', name: 'alice/app', actions: ['pull', 'push'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ]);
    });

    it('grants the intersection of what was asked and what is allowed (asking for more is no error)', async () => {
      const token = await fetchToken('repository:alice/shared:pull,push,delete repository:alice/app:* repository:public/base:pull', ['bob', 'bob-pw']);
      assert.deepEqual(accessOf(token), [
        { type: 'repository', name: 'alice/shared', actions: ['pull'] },
        { type: 'repository', name: 'public/base', actions: ['pull'] },
      ]);
      assert.deepEqual(accessOf(await fetchToken('repository:alice/app:*', ['alice', 'alice-pw'])), [
        { type: 'repository', name: 'alice/app', actions: ['pull', 'push', 'delete'] },
      ]);
    });

    it('no credentials → an anonymous token with what anonymous callers may do', async () => {
      const token = await fetchToken('repository:public/base:pull,push repository:alice/app:pull');
      assert.deepEqual(accessOf(token), pull('public/base'));
      assert.equal((jwt.decode(token) as jwt.JwtPayload).sub, undefined);
    });

    it('a wrong password → 401 with the Basic challenge; malformed Basic too', async () => {
      for (const authorization of [basic('alice', 'nope'), basic('nobody', 'alice-pw'), 'Basic %%%']) {
        const res = await get(`service=${SERVICE}&scope=repository:alice/app:pull`, { Authorization: authorization, 'X-Client': `wrong-${authorization}` });
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('www-authenticate'), 'Basic realm="berth"');
        const body = (await res.json()) as { error: string; errors: { code: string }[] };
        assert.equal(body.error, 'invalid_grant');
        assert.equal(body.errors[0]?.code, 'UNAUTHORIZED');
      }
    });

    it('refuses another service, an account that is not the user, and methods other than GET and POST', async () => {
      const other = await get('service=other&scope=repository:alice/app:pull', { Authorization: basic('alice', 'alice-pw') });
      assert.equal(other.status, 400);
      assert.equal(((await other.json()) as { error: string }).error, 'invalid_request');
      const account = await get(`service=${SERVICE}&account=bob`, { Authorization: basic('alice', 'alice-pw') });
      assert.equal(account.status, 400);
      const put = await fetch(realm, { method: 'PUT' });
      assert.equal(put.status, 405);
      assert.equal(put.headers.get('allow'), 'GET, POST');
    });

    it('scope strings: extra colons, empty actions, unknown actions, host:port names, huge lengths', async () => {
      const ask = async (scope: string) => {
        const res = await get(`service=${SERVICE}&scope=${encodeURIComponent(scope)}`, { Authorization: basic('alice', 'alice-pw') });
        const body = (await res.json()) as TokenAnswer & { error?: string; error_description?: string };
        return { status: res.status, body, access: res.status === 200 ? accessOf(body.token) : undefined };
      };
      for (const scope of ['repository:alice/app:extra:pull', 'repository:alice/app:pull:', 'repository::pull', 'repository:alice/app', ':alice/app:pull', 'Repository:alice/app:pull']) {
        const { status, body } = await ask(scope);
        assert.equal(status, 400, scope);
        assert.equal(body.error, 'invalid_scope', scope);
      }
      assert.match((await ask('repository:alice/app:PULL')).body.error_description ?? '', /actions must be lowercase words or \*/);
      assert.deepEqual((await ask('repository:alice/app:')).access, [], 'empty actions ask for nothing');
      assert.deepEqual((await ask('repository:alice/app:pull,fly,push')).access, [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
      assert.deepEqual((await ask('repository(plugin):alice/app:pull')).access, pull('alice/app'), 'a class suffix is dropped');
      assert.deepEqual((await ask('repository:localhost:5000/alice/app:pull')).access, [], 'a host:port name parses but names no repository here');
      assert.equal((await ask(`repository:${'a'.repeat(256)}:pull`)).status, 400, 'a name over 255 characters');
      // longer than a URL may be (Node answers 431 first): through the POST form
      const huge = await post({ grant_type: 'password', username: 'alice', password: 'alice-pw', scope: `repository:alice/app:${'pull,'.repeat(4000)}pull` });
      assert.equal(huge.status, 400, 'a scope over 16 KiB');
      assert.match(((await huge.json()) as { error_description: string }).error_description, /scope is longer than 16384 characters/);
      assert.equal((await ask(Array.from({ length: 65 }, (_, i) => `repository:r${i}:pull`).join(' '))).status, 400, 'more than 64 resources');
      const long = await get(`service=${SERVICE}&scope=${'x'.repeat(70000)}`);
      assert.ok(long.status === 400 || long.status === 431, `a huge query: ${long.status}`);
    });

    it('POST password grant → access_token with the granted scope; a wrong password → 400 invalid_grant', async () => {
      const res = await post({ grant_type: 'password', username: 'bob', password: 'bob-pw', service: SERVICE, client_id: 'containerd', scope: 'repository:bob/app:pull,push repository:alice/app:pull' });
      assert.equal(res.status, 200);
      const body = (await res.json()) as TokenAnswer;
      assert.equal(body.scope, 'repository:bob/app:pull,push');
      assert.equal(body.access_token, body.token);
      assert.equal((await client.req('POST', '/v2/bob/app/blobs/uploads/', bearer(body.access_token))).status, 202);
      const wrong = await post({ grant_type: 'password', username: 'bob', password: 'nope', service: SERVICE }, { 'X-Client': 'post-wrong' });
      assert.equal(wrong.status, 400);
      assert.equal(((await wrong.json()) as { error: string }).error, 'invalid_grant');
    });

    it('POST: unknown grants, refresh tokens when they are off, missing fields and other content types → 400', async () => {
      for (const [form, error] of [
        [{ grant_type: 'client_credentials' }, 'unsupported_grant_type'],
        [{ grant_type: 'refresh_token', refresh_token: 'x' }, 'unsupported_grant_type'],
        [{ grant_type: 'password', username: 'bob' }, 'invalid_request'],
      ] as const) {
        const res = await post(form);
        assert.equal(res.status, 400);
        assert.equal(((await res.json()) as { error: string }).error, error);
      }
      const json = await fetch(realm, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      assert.equal(json.status, 400);
    });

    it('a client hammering wrong passwords is slowed down (429 + Retry-After); other clients are not', async () => {
      const attempt = (who: string, password: string) =>
        get(`service=${SERVICE}&scope=repository:alice/app:pull`, { Authorization: basic('alice', password), 'X-Client': who });
      for (let i = 0; i < 3; i++) assert.equal((await attempt('hammer', `guess-${i}`)).status, 401);
      const slowed = await attempt('hammer', 'guess-3');
      assert.equal(slowed.status, 429);
      assert.equal(slowed.headers.get('retry-after'), '1');
      const body = (await slowed.json()) as { error: string; errors: { code: string }[] };
      assert.equal(body.errors[0]?.code, 'TOOMANYREQUESTS');
      assert.equal((await attempt('hammer', 'alice-pw')).status, 429, 'not even the right password is checked while it must wait');
      assert.equal((await post({ grant_type: 'password', username: 'alice', password: 'x' }, { 'X-Client': 'hammer' })).status, 429, 'POST shares the count');
      // another client is not slowed down, right or wrong
      assert.equal((await attempt('bystander', 'alice-pw')).status, 200);
      assert.equal((await attempt('bystander', 'typo')).status, 401);
      // after the wait, the next attempt is checked; each further failure doubles the wait
      await new Promise((resolve) => setTimeout(resolve, 350));
      assert.equal((await attempt('hammer', 'guess-4')).status, 401);
      assert.equal((await attempt('hammer', 'guess-5')).status, 429);
      await new Promise((resolve) => setTimeout(resolve, 650));
      assert.equal((await attempt('hammer', 'alice-pw')).status, 200, 'the right password, after the wait');
    });
  });
});

describe('auth: token endpoint extras (parallel guesses, refresh tokens, external issuers)', () => {
  it('parallel guesses get no more than the free checks', async () => {
    let checks = 0;
    const issuer = tokenIssuer({ issuer: ISSUER, service: SERVICE, key: { algorithm: 'HS256', key: randomBytes(32) } });
    const endpoint = tokenEndpoint({
      issuer,
      verify: async () => {
        checks++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return false;
      },
      permissions: RULES,
      throttle: loginThrottle({ free: 3 }),
    });
    const served = await listen((req, res) => endpoint(req, res));
    try {
      const statuses = await Promise.all(
        Array.from({ length: 12 }, (_, i) => fetch(served.origin, { headers: { Authorization: basic('alice', `guess-${i}`) } }).then((r) => r.status)),
      );
      assert.equal(checks, 3);
      assert.deepEqual(statuses.filter((s) => s === 401).length, 3);
      assert.deepEqual(statuses.filter((s) => s === 429).length, 9);
    } finally {
      await served.close();
    }
  });

  it('refresh tokens (opt-in): offline asks get one, the refresh grant redeems it, the registry refuses it as an access token', async () => {
    const issuer = tokenIssuer({ issuer: ISSUER, service: SERVICE, key: { algorithm: 'ES256', key: ec.privateKey, kid: 'k1' } });
    const known = new Set(['alice']);
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    app.use('/token', tokenEndpoint({ issuer, verify: USERS, permissions: RULES, refreshTokens: { identity: (sub) => (known.has(sub) ? { name: sub } : undefined) } }));
    app.use(createRegistry({ storage: memoryStorage(), ...tokenAuth({ realm: 'https://auth.test/token', service: SERVICE, keys: issuer.keys }) }));
    const served = await listen(app);
    const form = (fields: Record<string, string>) =>
      fetch(`${served.origin}/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
    try {
      const login = await fetch(`${served.origin}/token?service=${SERVICE}&offline_token=true&client_id=docker`, { headers: { Authorization: basic('alice', 'alice-pw') } });
      const { refresh_token: refresh, token } = (await login.json()) as TokenAnswer;
      assert.ok(refresh, 'a refresh token for offline_token=true');
      assert.equal(jwt.decode(token, { complete: true })?.header.kid, 'k1');
      const redeemed = await form({ grant_type: 'refresh_token', refresh_token: refresh, service: SERVICE, client_id: 'docker', scope: 'repository:alice/app:push' });
      assert.equal(redeemed.status, 200);
      const body = (await redeemed.json()) as TokenAnswer;
      assert.equal(body.scope, 'repository:alice/app:push');
      assert.equal(body.refresh_token, undefined);
      const as = new Client(served.origin);
      assert.equal((await as.req('POST', '/v2/alice/app/blobs/uploads/', { headers: { Authorization: `Bearer ${body.access_token}` } })).status, 202);
      const misuse = await as.req('GET', '/v2/', { headers: { Authorization: `Bearer ${refresh}` } });
      await assertError(misuse, 401, 'UNAUTHORIZED');
      assert.match(misuse.headers.get('www-authenticate') ?? '', /error="invalid_token"$/);
      const password = await form({ grant_type: 'password', username: 'alice', password: 'alice-pw', access_type: 'offline' });
      assert.ok(((await password.json()) as TokenAnswer).refresh_token, 'access_type=offline on the password grant');
      // an access token is no refresh token, and a removed user's refresh token is refused
      assert.equal((await form({ grant_type: 'refresh_token', refresh_token: token })).status, 400);
      known.delete('alice');
      const gone = await form({ grant_type: 'refresh_token', refresh_token: refresh });
      assert.equal(gone.status, 400);
      assert.equal(((await gone.json()) as { error: string }).error, 'invalid_grant');
    } finally {
      await served.close();
    }
  });

  it('trusts tokens of an external issuer by its public key, pinned to its algorithm and kid', async () => {
    const own = tokenIssuer({ issuer: 'own', service: SERVICE, key: { algorithm: 'HS256', key: randomBytes(32) } });
    const external = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const reg = createRegistry({
      storage: memoryStorage(),
      ...tokenAuth({
        realm: 'https://auth.test/token',
        service: SERVICE,
        keys: [...own.keys, { issuer: 'https://sso.example', algorithm: 'ES256', key: createPublicKey(external.privateKey), kid: 'ext-1' }],
      }),
    });
    const served = await listen((req, res) => reg(req, res, () => res.end()));
    const ping = async (token: string) => (await fetch(`${served.origin}/v2/`, { headers: { Authorization: `Bearer ${token}` } })).status;
    const ext = (payload: object, kid = 'ext-1') => jwt.sign({ aud: SERVICE, exp: now() + 60, ...payload }, external.privateKey, { algorithm: 'ES256', keyid: kid });
    try {
      assert.equal(await ping(ext({ iss: 'https://sso.example', sub: 'carol' })), 200);
      assert.equal(await ping(ext({ iss: 'https://sso.example' }, 'ext-2')), 401, 'another kid');
      assert.equal(await ping(ext({ iss: 'own' })), 401, 'the external key cannot speak for another issuer');
      assert.equal(await ping(own.issue('alice', []).token), 200);
    } finally {
      await served.close();
    }
  });
});
