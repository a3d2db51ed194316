import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import express from 'express';
import {
  type Access,
  type Decision,
  type Identity,
  allowAll,
  bearerChallenge,
  createRegistry,
  identityOf,
  memoryStorage,
  pullOnly,
  scopeOf,
} from '../../lib/index.js';
import { assertError, Client, digestOf, listen, type Served, type TestRegistry, startRegistry, withQuery } from './helpers.js';

const BEARER = 'Bearer realm="https://auth.example/token",service="berth"';

describe('auth: pullOnly (anonymous pull, nobody pushes)', () => {
  const storage = memoryStorage();
  let pusher: TestRegistry;
  let reg: TestRegistry;
  let blob: string;
  before(async () => {
    pusher = await startRegistry({ storage });
    reg = await startRegistry({ storage, authorize: pullOnly });
    blob = await pusher.pushBlob('auth/repo', 'public bytes');
    await pusher.pushImage('auth/repo', { tag: 'latest' });
  });
  after(async () => {
    await pusher.close();
    await reg.close();
  });

  it('pull is allowed anonymously', async () => {
    assert.equal((await reg.req('GET', '/v2/')).status, 200);
    const res = await reg.req('GET', `/v2/auth/repo/blobs/${blob}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'public bytes');
    assert.equal((await reg.req('HEAD', '/v2/auth/repo/manifests/latest')).status, 200);
    const tags = await reg.req('GET', '/v2/auth/repo/tags/list');
    assert.deepEqual(await tags.json(), { name: 'auth/repo', tags: ['latest'] });
  });

  it('push → 401 UNAUTHORIZED + the Basic challenge, with or without credentials (nobody is known)', async () => {
    for (const headers of [{}, { Authorization: 'Basic dXNlcjpwYXNz' }] as Record<string, string>[]) {
      const post = await reg.req('POST', '/v2/auth/repo/blobs/uploads/', { headers });
      await assertError(post, 401, 'UNAUTHORIZED');
      assert.equal(post.headers.get('www-authenticate'), 'Basic realm="berth"');
    }
    const put = await reg.putManifest('auth/repo', 'other', '{}');
    await assertError(put, 401, 'UNAUTHORIZED');
  });

  it('delete is refused too, and nothing was written', async () => {
    await assertError(await reg.req('DELETE', `/v2/auth/repo/blobs/${blob}`), 401, 'UNAUTHORIZED');
    await assertError(await reg.req('DELETE', '/v2/auth/repo/manifests/latest'), 401, 'UNAUTHORIZED');
    assert.equal((await reg.req('HEAD', `/v2/auth/repo/blobs/${blob}`)).status, 200);
    const tags = await reg.req('GET', '/v2/auth/repo/tags/list');
    assert.deepEqual(await tags.json(), { name: 'auth/repo', tags: ['latest'] });
  });
});

type UserRequest = IncomingMessage & { user?: string };

/** Who may do what in the tests below: alice owns alice/*, anyone may pull public/*, `v*` tags are immutable. */
function policy(user: string | undefined, access: Access): boolean {
  if (access.action === 'ping' || access.action === 'catalog') return true;
  if (access.action === 'pull' && access.repository.startsWith('public/')) return true;
  if (user !== 'alice' || !access.repository.startsWith('alice/')) return false;
  return !(access.action !== 'pull' && access.tag?.startsWith('v') === true && access.repository === 'alice/frozen');
}

describe('auth: a host session (identity from the host middleware)', () => {
  const calls: (readonly Access[])[] = [];
  const identities: (Identity | undefined)[] = [];
  let served: Served;
  let client: Client;
  const storage = memoryStorage();
  let blob: string;

  before(async () => {
    const app = express();
    // the host app's own login, standing in for a cookie session
    app.use((req: UserRequest, res, next) => {
      const user = req.headers['x-user'];
      if (typeof user === 'string') req.user = user;
      res.on('finish', () => identities.push(identityOf(req)));
      next();
    });
    app.use(
      createRegistry<UserRequest>({
        storage,
        authorize: async (req, accesses): Promise<Decision> => {
          calls.push(accesses);
          return { ...(req.user !== undefined && { identity: { name: req.user } }), allowed: accesses.map((a) => policy(req.user, a)) };
        },
      }),
    );
    served = await listen(app);
    client = new Client(served.origin);
    const admin = await startRegistry({ storage });
    blob = await admin.pushBlob('public/base', 'base layer');
    await admin.pushBlob('secret/base', 'secret layer');
    await admin.close();
  });
  after(() => served.close());
  beforeEach(() => {
    calls.length = 0;
    identities.length = 0;
  });

  const as = (user: string) => ({ headers: { 'X-User': user } });

  it('asks once per request, with every access it needs', async () => {
    assert.equal((await client.req('GET', '/v2/')).status, 200);
    const res = await client.req('GET', `/v2/public/base/blobs/${blob}`);
    await res.arrayBuffer();
    assert.deepEqual(calls, [[{ action: 'ping' }], [{ action: 'pull', repository: 'public/base' }]]);
  });

  it('anonymous and not allowed → 401 UNAUTHORIZED with the challenge', async () => {
    const res = await client.req('POST', '/v2/alice/app/blobs/uploads/');
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="berth"');
  });

  it('a known user who may not → 403 DENIED without a challenge (no login loop)', async () => {
    const res = await client.req('POST', '/v2/alice/app/blobs/uploads/', as('bob'));
    await assertError(res, 403, 'DENIED');
    assert.equal(res.headers.get('www-authenticate'), null);
  });

  it('a known user who may → the request goes through, and the identity is kept for the rest of the request', async () => {
    const res = await client.req('POST', '/v2/alice/app/blobs/uploads/', as('alice'));
    assert.equal(res.status, 202);
    assert.deepEqual(identities, [{ name: 'alice' }]);
  });

  it('manifest PUT and DELETE name the tag or digest, so a host can protect tags', async () => {
    const admin = new Client(served.origin, '', { 'X-User': 'alice' });
    const manifest = await admin.pushImage('alice/frozen', { tag: 'scratch' });
    calls.length = 0;
    const moved = await admin.putManifest('alice/frozen', 'v1.0', manifest.body);
    await assertError(moved, 403, 'DENIED');
    assert.deepEqual(calls.at(-1), [{ action: 'push', repository: 'alice/frozen', tag: 'v1.0' }]);
    const byDigest = await admin.req('PUT', withQuery(`/v2/alice/frozen/manifests/${manifest.digest}`, { tag: 'latest' }), {
      headers: { 'Content-Type': manifest.mediaType },
      body: manifest.body,
    });
    assert.equal(byDigest.status, 201);
    assert.deepEqual(calls.at(-1), [
      { action: 'push', repository: 'alice/frozen', digest: manifest.digest },
      { action: 'push', repository: 'alice/frozen', tag: 'latest' },
    ]);
    await assertError(await admin.req('DELETE', '/v2/alice/frozen/manifests/v1'), 403, 'DENIED');
    assert.deepEqual(calls.at(-1), [{ action: 'delete', repository: 'alice/frozen', tag: 'v1' }]);
    const deleted = await admin.req('DELETE', `/v2/alice/frozen/manifests/${manifest.digest}`);
    assert.equal(deleted.status, 202);
    assert.deepEqual(calls.at(-1), [{ action: 'delete', repository: 'alice/frozen', digest: manifest.digest }]);
  });

  it('mount asks push on the target and pull on `from` in one question → 201', async () => {
    const res = await client.req('POST', `/v2/alice/app/blobs/uploads/?mount=${blob}&from=public/base`, as('alice'));
    assert.equal(res.status, 201, await res.clone().text());
    assert.deepEqual(calls, [
      [
        { action: 'push', repository: 'alice/app' },
        { action: 'pull', repository: 'public/base' },
      ],
    ]);
  });

  it('mount from a repository the caller may not pull → 202 and a new session; nothing leaks', async () => {
    const secret = digestOf('secret layer');
    const res = await client.req('POST', `/v2/alice/app/blobs/uploads/?mount=${secret}&from=secret/base`, as('alice'));
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', /^\/v2\/alice\/app\/blobs\/uploads\/[^/?]+/);
    assert.equal((await client.req('HEAD', `/v2/alice/app/blobs/${secret}`, as('alice'))).status, 404);
    const auto = await client.req('POST', `/v2/alice/other/blobs/uploads/?mount=${secret}`, as('alice'));
    assert.equal(auto.status, 202, 'automatic mount skips repositories the caller may not pull');
    assert.equal((await client.req('HEAD', `/v2/alice/other/blobs/${secret}`, as('alice'))).status, 404);
  });

  it('catalog asks once per page, not once per repository, and lists only pullable repositories', async () => {
    const admin = await startRegistry({ storage });
    for (let i = 0; i < 30; i++) await admin.pushBlob(`public/r${String(i).padStart(2, '0')}`, 'x');
    await admin.close();
    calls.length = 0;
    const res = await client.req('GET', '/v2/_catalog');
    const { repositories } = (await res.json()) as { repositories: string[] };
    assert.ok(repositories.every((r) => r.startsWith('public/')));
    assert.ok(repositories.includes('public/r29') && !repositories.includes('secret/base'));
    assert.equal(calls.length, 2, 'one question for the catalog, one for the page');
    assert.deepEqual(calls[0], [{ action: 'catalog' }]);
    assert.ok((calls[1]?.length ?? 0) > 30);
  });

  it('a finished upload PUT checks push again (the session URL alone is not a credential)', async () => {
    const post = await client.req('POST', '/v2/alice/app/blobs/uploads/', as('alice'));
    const location = post.headers.get('location') ?? '';
    await assertError(await client.at('PUT', withQuery(location, { digest: digestOf('x') }), { body: 'x' }), 401, 'UNAUTHORIZED');
    await assertError(await client.at('PUT', withQuery(location, { digest: digestOf('x') }), { body: 'x', ...as('bob') }), 403, 'DENIED');
  });
});

/** A stand-in token scheme: `Bearer <base64 JSON {sub, exp, scope}>`; real token auth is berth's token module. */
function token(claims: { sub: string; exp: number; scope: string }): string {
  return `Bearer ${Buffer.from(JSON.stringify(claims)).toString('base64')}`;
}

describe('auth: Bearer tokens and Basic credentials', () => {
  let served: Served;
  let client: Client;
  const storage = memoryStorage();
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    const app = express();
    app.use(
      createRegistry({
        storage,
        challenge: bearerChallenge({ realm: 'https://auth.example/token', service: 'berth' }),
        // a synchronous hook
        authorize: (req, accesses): Decision => {
          const header = req.headers.authorization ?? '';
          if (header.startsWith('Bearer ')) {
            let claims: { sub: string; exp: number; scope: string };
            try {
              claims = JSON.parse(Buffer.from(header.slice(7), 'base64').toString()) as typeof claims;
            } catch {
              return { invalid: true, allowed: false, message: 'malformed token' };
            }
            if (claims.exp < now()) return { invalid: true, allowed: false, message: 'token expired' };
            const granted = new Set(claims.scope.split(' '));
            return { identity: { name: claims.sub }, allowed: accesses.map((a) => a.action === 'ping' || granted.has(scopeOf([a]))) };
          }
          if (header.startsWith('Basic ')) {
            const [user, password] = Buffer.from(header.slice(6), 'base64').toString().split(':');
            if (password !== 'secret') return { invalid: true, allowed: false };
            return { identity: { name: user ?? '' }, allowed: accesses.map((a) => policy(user, a)) };
          }
          return { allowed: accesses.map((a) => a.action === 'ping' || (a.action === 'pull' && a.repository.startsWith('public/'))) };
        },
      }),
    );
    served = await listen(app);
    client = new Client(served.origin);
    const admin = await startRegistry({ storage, authorize: allowAll });
    await admin.pushBlob('public/base', 'base layer');
    await admin.close();
  });
  after(() => served.close());

  const bearer = (scope: string, exp = now() + 60) => ({ headers: { Authorization: token({ sub: 'ci', exp, scope }) } });

  it('no credentials → 401 with a Bearer challenge naming the scope', async () => {
    const res = await client.req('POST', '/v2/alice/app/blobs/uploads/');
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), `${BEARER},scope="repository:alice/app:push"`);
  });

  it('a push with a pull-only token → 401 insufficient_scope naming the push scope', async () => {
    const res = await client.req('POST', '/v2/alice/app/blobs/uploads/', bearer('repository:alice/app:pull'));
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), `${BEARER},scope="repository:alice/app:push",error="insufficient_scope"`);
  });

  it('an expired or malformed token → 401 invalid_token', async () => {
    for (const init of [bearer('repository:alice/app:push', now() - 10), { headers: { Authorization: 'Bearer %%%' } }]) {
      const res = await client.req('GET', '/v2/public/base/tags/list', init);
      await assertError(res, 401, 'UNAUTHORIZED');
      assert.equal(res.headers.get('www-authenticate'), `${BEARER},scope="repository:public/base:pull",error="invalid_token"`);
    }
  });

  it('one challenge names every access of a cross-repository mount', async () => {
    const res = await client.req('POST', `/v2/alice/app/blobs/uploads/?mount=${digestOf('base layer')}&from=public/base`, bearer('repository:public/base:pull'));
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), `${BEARER},scope="repository:alice/app:push repository:public/base:pull",error="insufficient_scope"`);
  });

  it('a token with the scope goes through; the catalog scope is registry:catalog:*', async () => {
    const res = await client.req('POST', `/v2/alice/app/blobs/uploads/?mount=${digestOf('base layer')}&from=public/base`, bearer('repository:alice/app:push repository:public/base:pull'));
    assert.equal(res.status, 201);
    const catalog = await client.req('GET', '/v2/_catalog', bearer('repository:alice/app:pull'));
    await assertError(catalog, 401, 'UNAUTHORIZED');
    assert.equal(catalog.headers.get('www-authenticate'), `${BEARER},scope="registry:catalog:*",error="insufficient_scope"`);
  });

  it('a token for repository A does not open repository B', async () => {
    const res = await client.req('GET', '/v2/alice/app/tags/list', bearer('repository:alice/other:pull'));
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="repository:alice\/app:pull",error="insufficient_scope"$/);
  });

  it('Basic: a wrong password → 401 with the challenge; a known user without the right → 403 DENIED', async () => {
    const basic = (user: string, password: string) => ({ headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } });
    const wrong = await client.req('POST', '/v2/alice/app/blobs/uploads/', basic('alice', 'nope'));
    await assertError(wrong, 401, 'UNAUTHORIZED');
    assert.equal(wrong.headers.get('www-authenticate'), `${BEARER},scope="repository:alice/app:push"`);
    const denied = await client.req('POST', '/v2/alice/app/blobs/uploads/', basic('bob', 'secret'));
    await assertError(denied, 403, 'DENIED');
    assert.equal(denied.headers.get('www-authenticate'), null);
    assert.equal((await client.req('POST', '/v2/alice/app/blobs/uploads/', basic('alice', 'secret'))).status, 202);
  });
});

describe('auth: scopeOf', () => {
  it('merges actions per repository in a fixed order', () => {
    assert.equal(
      scopeOf([
        { action: 'push', repository: 'a' },
        { action: 'pull', repository: 'a' },
        { action: 'delete', repository: 'b', tag: 'x' },
        { action: 'catalog' },
        { action: 'ping' },
      ]),
      'repository:a:pull,push repository:b:delete registry:catalog:*',
    );
  });
});
