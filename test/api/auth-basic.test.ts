import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import express from 'express';
import {
  type Identity,
  type Rule,
  basicAuth,
  basicCredentials,
  createRegistry,
  firstOf,
  hostAuth,
  htpasswd,
  identityOf,
  loginThrottle,
  memoryStorage,
  passwords,
} from '../../lib/index.js';
import { assertError, Client, digestOf, listen, type Served, startRegistry } from './helpers.js';

const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const RULES: Rule[] = [
  { repositories: 'alice/**', users: 'alice', actions: '*' },
  { repositories: 'alice/shared', users: 'bob', actions: 'pull' },
  { repositories: 'bob/*', users: 'bob', actions: ['pull', 'push'] },
  { repositories: 'team/**', groups: 'team', actions: ['pull', 'push'] },
  { repositories: 'public/**', users: '*', anonymous: true, actions: 'pull' },
];
const REPOS = ['alice/app', 'alice/private', 'alice/shared', 'bob/app', 'public/base', 'team/app'];

async function seed(storage: ReturnType<typeof memoryStorage>) {
  const admin = await startRegistry({ storage });
  for (const repo of REPOS) await admin.pushBlob(repo, `layer of ${repo}`);
  await admin.close();
}

describe('auth: basicAuth with a rule table', () => {
  const storage = memoryStorage();
  let served: Served;
  let client: Client;
  const CHALLENGE = 'Basic realm="berth"';

  before(async () => {
    const app = express();
    app.use(
      createRegistry({
        storage,
        ...basicAuth({
          verify: passwords({ alice: 'alice-pw', bob: 'bob-pw' }),
          permissions: RULES,
          throttle: loginThrottle({ free: 3, delay: 300, clientKey: (req) => String(req.headers['x-client'] ?? 'default') }),
        }),
      }),
    );
    served = await listen(app);
    client = new Client(served.origin);
    await seed(storage);
  });
  after(() => served.close());

  const as = (user: string, password: string, extra: Record<string, string> = {}) => ({ headers: { ...basic(user, password), ...extra } });

  it('GET /v2/ challenges anonymous callers (docker learns the challenge only there) and answers 200 to a user', async () => {
    const res = await client.req('GET', '/v2/');
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), CHALLENGE);
    assert.equal((await client.req('GET', '/v2/', as('bob', 'bob-pw'))).status, 200);
  });

  it('missing credentials → 401 UNAUTHORIZED + the challenge; anonymous pulls of public repositories still work', async () => {
    const res = await client.req('GET', `/v2/alice/app/blobs/${digestOf('layer of alice/app')}`);
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), CHALLENGE);
    assert.equal((await client.req('GET', `/v2/public/base/blobs/${digestOf('layer of public/base')}`)).status, 200);
    await assertError(await client.req('POST', '/v2/public/base/blobs/uploads/'), 401, 'UNAUTHORIZED');
  });

  it('a wrong password (or an unknown user, or malformed Basic) → 401 UNAUTHORIZED + the challenge', async () => {
    for (const [headers, message] of [
      [basic('alice', 'nope'), 'wrong user name or password'],
      [basic('nobody', 'alice-pw'), 'wrong user name or password'],
      [{ Authorization: 'Basic bm9jb2xvbg==' }, 'malformed Basic credentials'],
      [{ Authorization: 'Basic %%%' }, 'malformed Basic credentials'],
    ] as const) {
      const res = await client.req('GET', '/v2/public/base/tags/list', { headers: { ...headers, 'X-Client': JSON.stringify(headers) } });
      const [error] = await assertError(res, 401, 'UNAUTHORIZED');
      assert.equal(res.headers.get('www-authenticate'), CHALLENGE);
      assert.equal(error?.message, message);
    }
  });

  it('a user without the right → 403 DENIED without a challenge; with it → the request goes through', async () => {
    const denied = await client.req('POST', '/v2/alice/app/blobs/uploads/', as('bob', 'bob-pw'));
    await assertError(denied, 403, 'DENIED');
    assert.equal(denied.headers.get('www-authenticate'), null);
    assert.equal((await client.req('POST', '/v2/bob/app/blobs/uploads/', as('bob', 'bob-pw'))).status, 202);
    assert.equal((await client.req('GET', '/v2/alice/shared/tags/list', as('bob', 'bob-pw'))).status, 200);
    await assertError(await client.req('DELETE', `/v2/bob/app/blobs/${digestOf('layer of bob/app')}`, as('bob', 'bob-pw')), 403, 'DENIED');
    assert.equal((await client.req('DELETE', `/v2/alice/app/blobs/${digestOf('layer of alice/app')}`, as('alice', 'alice-pw'))).status, 202);
  });

  it('a Bearer token is not understood here → 401 with the Basic challenge', async () => {
    const res = await client.req('GET', '/v2/alice/app/tags/list', { headers: { Authorization: 'Bearer abc' } });
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), CHALLENGE);
  });

  it('a mount from a repository the caller cannot read → 202 and a fresh session; nothing leaks', async () => {
    const secret = digestOf('layer of alice/private');
    const res = await client.req('POST', `/v2/bob/app/blobs/uploads/?mount=${secret}&from=alice/private`, as('bob', 'bob-pw'));
    assert.equal(res.status, 202);
    assert.equal((await client.req('HEAD', `/v2/bob/app/blobs/${secret}`, as('bob', 'bob-pw'))).status, 404);
    const auto = await client.req('POST', `/v2/bob/app/blobs/uploads/?mount=${secret}`, as('bob', 'bob-pw'));
    assert.equal(auto.status, 202, 'automatic mount skips repositories the caller may not pull');
    const shared = digestOf('layer of alice/shared');
    assert.equal((await client.req('POST', `/v2/bob/app/blobs/uploads/?mount=${shared}&from=alice/shared`, as('bob', 'bob-pw'))).status, 201);
  });

  it('the catalog lists only what the caller may pull', async () => {
    const list = async (init = {}) => {
      const res = await client.req('GET', '/v2/_catalog', init);
      assert.equal(res.status, 200);
      return ((await res.json()) as { repositories: string[] }).repositories;
    };
    assert.deepEqual(await list(as('alice', 'alice-pw')), ['alice/app', 'alice/private', 'alice/shared', 'public/base']);
    assert.deepEqual(await list(as('bob', 'bob-pw')), ['alice/shared', 'bob/app', 'public/base']);
    assert.deepEqual(await list(), ['public/base']);
    const paged = await client.req('GET', '/v2/_catalog?n=1', as('bob', 'bob-pw'));
    assert.deepEqual(await paged.json(), { repositories: ['alice/shared'] });
    assert.equal(paged.headers.get('link'), '</v2/_catalog?n=1&last=alice%2Fshared>; rel="next"');
  });

  it('a client hammering wrong passwords is slowed down (429 + Retry-After); other clients are not', async () => {
    const attempt = (who: string, password: string) => client.req('GET', '/v2/', as('alice', password, { 'X-Client': who }));
    for (let i = 0; i < 3; i++) await assertError(await attempt('hammer', `guess-${i}`), 401, 'UNAUTHORIZED');
    const slowed = await attempt('hammer', 'guess-3');
    await assertError(slowed, 429, 'TOOMANYREQUESTS');
    assert.equal(slowed.headers.get('retry-after'), '1');
    await assertError(await attempt('hammer', 'alice-pw'), 429, 'TOOMANYREQUESTS');
    assert.equal((await attempt('bystander', 'alice-pw')).status, 200);
    await assertError(await attempt('bystander', 'typo'), 401, 'UNAUTHORIZED');
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal((await attempt('hammer', 'alice-pw')).status, 200, 'after the wait the right password works, and forgives the failures');
    assert.equal((await attempt('hammer', 'alice-pw')).status, 200);
  });

  it("another user's success does not forgive a client's failures (an attacker's own account resets nothing)", async () => {
    const attempt = (user: string, password: string) => client.req('GET', '/v2/', as(user, password, { 'X-Client': 'mixed' }));
    for (let i = 0; i < 2; i++) await assertError(await attempt('alice', `guess-${i}`), 401, 'UNAUTHORIZED');
    assert.equal((await attempt('bob', 'bob-pw')).status, 200);
    await assertError(await attempt('alice', 'guess-2'), 401, 'UNAUTHORIZED');
    await assertError(await attempt('alice', 'guess-3'), 429, 'TOOMANYREQUESTS');
  });
});

type SessionRequest = IncomingMessage & { user?: { login: string; teams: string[] } };

describe('auth: hostAuth with the host session first, then docker-login credentials for the same users', () => {
  const storage = memoryStorage();
  let served: Served;
  let client: Client;
  const seen: (Identity | undefined)[] = [];
  let calls = 0;

  before(async () => {
    const users = new Map([['carol', { password: 'carol-pw', teams: ['team'] }]]);
    const app = express();
    // stands in for express-session/passport: the host's login put the user on the request
    app.use((req: SessionRequest, res, next) => {
      if (req.headers.cookie === 'session=carol') req.user = { login: 'carol', teams: ['team'] };
      res.on('finish', () => seen.push(identityOf(req)));
      next();
    });
    const sessionUser = (req: SessionRequest) => req.user && { name: req.user.login, groups: req.user.teams };
    const verify = async (username: string, password: string) => {
      calls++;
      const user = users.get(username);
      return user !== undefined && user.password === password && { name: username, groups: user.teams };
    };
    app.use(createRegistry<SessionRequest>({ storage, ...hostAuth({ identify: firstOf(sessionUser, basicCredentials(verify)), permissions: RULES }) }));
    served = await listen(app);
    client = new Client(served.origin);
    await seed(storage);
  });
  after(() => served.close());

  it('the session user gets the rights of their groups, and is the identity for the rest of the request', async () => {
    seen.length = 0;
    const res = await client.req('POST', '/v2/team/app/blobs/uploads/', { headers: { Cookie: 'session=carol' } });
    assert.equal(res.status, 202);
    assert.deepEqual(seen, [{ name: 'carol', groups: ['team'] }]);
    await assertError(await client.req('POST', '/v2/alice/app/blobs/uploads/', { headers: { Cookie: 'session=carol' } }), 403, 'DENIED');
  });

  it('the same user through Basic credentials (docker login), checked once per request', async () => {
    calls = 0;
    const res = await client.req('GET', '/v2/_catalog', { headers: basic('carol', 'carol-pw') });
    assert.deepEqual(await res.json(), { repositories: ['public/base', 'team/app'] });
    assert.equal(calls, 1, 'the catalog asks twice, the password is checked once');
    await assertError(await client.req('GET', '/v2/', { headers: basic('carol', 'nope') }), 401, 'UNAUTHORIZED');
  });

  it('anonymous: the challenge on /v2/, public pulls allowed', async () => {
    const res = await client.req('GET', '/v2/');
    await assertError(res, 401, 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="berth"');
    assert.equal((await client.req('GET', `/v2/public/base/blobs/${digestOf('layer of public/base')}`)).status, 200);
  });
});

describe('auth: htpasswd (bcrypt)', () => {
  it('checks bcrypt entries ($2y$, $2a$, $2b$) and refuses unknown users and other formats', async () => {
    const hash = bcrypt.hashSync('s3cret', 4);
    const verify = htpasswd(`# users\nalice:${hash.replace('$2b$', '$2y$')}\n\nbob:${hash.replace('$2b$', '$2a$')}\n`);
    const req = {} as unknown as IncomingMessage;
    assert.equal(await verify('alice', 's3cret', req), true);
    assert.equal(await verify('alice', 's3cret', req), true, 'remembered');
    assert.equal(await verify('bob', 's3cret', req), true);
    assert.equal(await verify('alice', 'wrong', req), false);
    assert.equal(await verify('carol', 's3cret', req), false);
    assert.throws(() => htpasswd('alice:$apr1$abc$def'), /line 1 \(user "alice"\) is not a bcrypt hash; create entries with `htpasswd -B`/);
    assert.throws(() => htpasswd('alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='), /not a bcrypt hash/);
    assert.throws(() => htpasswd('no colon here'), /line 1 is not user:hash/);
  });
});
