import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import express from 'express';
import { type Access, allowAll, createRegistry, memoryStorage } from '../../lib/index.js';
import { assertError, Client, digestOf, listen, type Served, type TestRegistry, startRegistry, withQuery } from './helpers.js';

describe('auth: default options (no authorize) = pull only', () => {
  const storage = memoryStorage();
  let pusher: TestRegistry;
  let reg: TestRegistry;
  let blob: string;
  before(async () => {
    pusher = await startRegistry({ storage });
    // authorize: undefined = the default policy
    reg = await startRegistry({ storage, authorize: undefined });
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

  it('push without Authorization → 401 UNAUTHORIZED + WWW-Authenticate', async () => {
    const post = await reg.req('POST', '/v2/auth/repo/blobs/uploads/');
    await assertError(post, 401, 'UNAUTHORIZED');
    assert.equal(post.headers.get('www-authenticate'), 'Basic realm="berth"');

    const put = await reg.putManifest('auth/repo', 'other', '{}');
    await assertError(put, 401, 'UNAUTHORIZED');
    assert.ok(put.headers.get('www-authenticate'));
  });

  it('push with an Authorization header → 403 DENIED', async () => {
    const post = await reg.req('POST', '/v2/auth/repo/blobs/uploads/', { headers: { Authorization: 'Basic dXNlcjpwYXNz' } });
    await assertError(post, 403, 'DENIED');
    assert.equal(post.headers.get('www-authenticate'), null);
  });

  it('delete is refused too (401 anonymous)', async () => {
    const res = await reg.req('DELETE', `/v2/auth/repo/blobs/${blob}`);
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal((await reg.req('HEAD', `/v2/auth/repo/blobs/${blob}`)).status, 200);
    const tag = await reg.req('DELETE', '/v2/auth/repo/manifests/latest');
    await assertError(tag, 401, 'UNAUTHORIZED');
    assert.equal((await reg.req('HEAD', '/v2/auth/repo/manifests/latest')).status, 200);
  });

  it('nothing was written by refused pushes', async () => {
    const tags = await reg.req('GET', '/v2/auth/repo/tags/list');
    assert.deepEqual(await tags.json(), { name: 'auth/repo', tags: ['latest'] });
  });
});

type UserRequest = IncomingMessage & { user?: string };

describe('auth: a custom authorize hook', () => {
  const seen: Access[] = [];
  let served: Served;
  let client: Client;
  const storage = memoryStorage();
  let blob: string;

  before(async () => {
    const app = express();
    // the host app authenticates; the hook only decides
    app.use((req: UserRequest, _res, next) => {
      const user = req.headers['x-user'];
      if (typeof user === 'string') req.user = user;
      next();
    });
    app.use(
      createRegistry<UserRequest>({
        storage,
        authorize: async (req, access) => {
          seen.push(access);
          if (access.action === 'ping' || access.action === 'catalog') return true;
          // alice owns alice/*, everyone may pull public/*
          if (access.repository.startsWith('public/') && access.action === 'pull') return true;
          return req.user === 'alice' && access.repository.startsWith('alice/');
        },
        challenge: (access) =>
          'repository' in access
            ? `Bearer realm="https://auth.example/token",service="berth",scope="repository:${access.repository}:${access.action}"`
            : 'Bearer realm="https://auth.example/token",service="berth"',
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
    seen.length = 0;
  });

  it('GET /v2/ asks for { action: "ping" }', async () => {
    assert.equal((await client.req('GET', '/v2/')).status, 200);
    assert.deepEqual(seen, [{ action: 'ping' }]);
  });

  it('blob GET asks pull on the repository', async () => {
    const res = await client.req('GET', `/v2/public/base/blobs/${blob}`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.deepEqual(seen, [{ action: 'pull', repository: 'public/base' }]);
  });

  it('a refused push answers with the challenge computed from the Access', async () => {
    const res = await client.req('POST', '/v2/bob/app/blobs/uploads/');
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="https://auth.example/token",service="berth",scope="repository:bob/app:push"');
    assert.deepEqual(seen, [{ action: 'push', repository: 'bob/app' }]);
  });

  it('the hook sees what host middleware put on the request', async () => {
    const res = await client.req('POST', '/v2/alice/app/blobs/uploads/', { headers: { 'X-User': 'alice' } });
    assert.equal(res.status, 202);
    const denied = await client.req('POST', '/v2/alice/app/blobs/uploads/', { headers: { 'X-User': 'bob', Authorization: 'Bearer x' } });
    await assertError(denied, 403, 'DENIED');
  });

  it('DELETE asks { action: "delete" }', async () => {
    const res = await client.req('DELETE', `/v2/alice/app/blobs/${digestOf('nope')}`, { headers: { 'X-User': 'alice' } });
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    assert.deepEqual(seen, [{ action: 'delete', repository: 'alice/app' }]);
  });

  it('mount asks push on the target and pull on `from` → 201', async () => {
    const res = await client.req('POST', `/v2/alice/app/blobs/uploads/?mount=${blob}&from=public/base`, { headers: { 'X-User': 'alice' } });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('location'), `/v2/alice/app/blobs/${blob}`);
    assert.deepEqual(seen, [
      { action: 'push', repository: 'alice/app' },
      { action: 'pull', repository: 'public/base' },
    ]);
  });

  it('mount from a repository the caller may not pull → 202 and a new session', async () => {
    const secret = digestOf('secret layer');
    const res = await client.req('POST', `/v2/alice/app/blobs/uploads/?mount=${secret}&from=secret/base`, { headers: { 'X-User': 'alice' } });
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', /^\/v2\/alice\/app\/blobs\/uploads\/[^/?]+/);
    assert.ok(seen.some((a) => a.action === 'pull' && a.repository === 'secret/base'));
    // the secret blob did not leak into alice/app
    const head = await client.req('HEAD', `/v2/alice/app/blobs/${secret}`, { headers: { 'X-User': 'alice' } });
    assert.equal(head.status, 404);
  });

  it('automatic mount never takes a blob from a repository the caller may not pull', async () => {
    const secret = digestOf('secret layer');
    const res = await client.req('POST', `/v2/alice/other/blobs/uploads/?mount=${secret}`, { headers: { 'X-User': 'alice' } });
    assert.equal(res.status, 202);
    assert.equal((await client.req('HEAD', `/v2/alice/other/blobs/${secret}`, { headers: { 'X-User': 'alice' } })).status, 404);
  });

  it('catalog asks { action: "catalog" } and lists only pullable repositories', async () => {
    const admin = await startRegistry({ storage });
    await admin.pushImage('public/base', { tag: 'v1' });
    await admin.pushImage('secret/base', { tag: 'v1' });
    await admin.close();
    seen.length = 0;
    const res = await client.req('GET', '/v2/_catalog');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { repositories: ['public/base'] });
    assert.deepEqual(seen[0], { action: 'catalog' });
  });

  it('a finished upload PUT checks push again (the session URL alone is not a credential)', async () => {
    const post = await client.req('POST', '/v2/alice/app/blobs/uploads/', { headers: { 'X-User': 'alice' } });
    const location = post.headers.get('location') ?? '';
    const put = await client.at('PUT', withQuery(location, { digest: digestOf('x') }), { body: 'x' });
    await assertError(put, 401, 'UNAUTHORIZED');
  });
});

describe('auth: allowAll', () => {
  it('is exported and allows push', async () => {
    const reg = await startRegistry({ authorize: allowAll });
    try {
      await reg.pushBlob('any/repo', 'data');
    } finally {
      await reg.close();
    }
  });
});
