import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp } from '../../example-app/app.js';
import { parsePairs } from '../../example-app/auth.js';
import { memoryStorage } from '../../lib/index.js';
import { assertError, Client, listen, type Served } from './helpers.js';

const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** The example app with `env`, its start-up lines captured instead of printed. */
async function start(env: Record<string, string>): Promise<{ served: Served; client: Client; printed: string[] }> {
  const printed: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => printed.push(args.join(' '));
  let app;
  try {
    app = createApp({ storage: memoryStorage(), describe: 'memory store' }, { PORT: '5000', ...env });
  } finally {
    console.log = log;
  }
  const served = await listen(app);
  return { served, client: new Client(served.origin), printed };
}

describe('example app: auth from environment variables', () => {
  it('BERTH_AUTH=open (default) lets anyone push, as the quick start expects', async () => {
    const { served, client, printed } = await start({});
    try {
      assert.equal((await client.req('GET', '/v2/')).status, 200);
      assert.equal((await client.req('POST', '/v2/demo/blobs/uploads/')).status, 202);
      assert.equal((await client.req('GET', '/login')).status, 404);
      assert.match(printed.join('\n'), /BERTH_AUTH=open: anyone may push and delete/);
    } finally {
      await served.close();
    }
  });

  it('refuses settings that cannot work', () => {
    const make = (env: Record<string, string>) => () => createApp({ storage: memoryStorage(), describe: '' }, env);
    assert.throws(make({ BERTH_AUTH: 'ldap' }), /BERTH_AUTH must be "open", "basic" or "token" \(got "ldap"\)/);
    assert.throws(make({ BERTH_AUTH: 'basic' }), /BERTH_AUTH=basic needs users: set BERTH_USERS=user:password/);
    assert.throws(make({ BERTH_AUTH: 'basic', BERTH_USERS: 'alice' }), /BERTH_USERS takes user:password pairs/);
    assert.throws(make({ BERTH_AUTH: 'basic', BERTH_USERS: 'a:1', BERTH_READERS: 'a:2' }), /user "a" is in both/);
    assert.throws(make({ BERTH_AUTH: 'token', BERTH_USERS: 'a:1', BERTH_TOKEN_SECRET: 'short' }), /BERTH_TOKEN_SECRET must be at least 32 characters/);
    assert.throws(make({ BERTH_AUTH: 'token', BERTH_USERS: 'a:1', BERTH_PUBLIC_URL: 'registry.example' }), /BERTH_PUBLIC_URL must be an origin/);
    assert.deepEqual([...parsePairs('a:1, b:x:y\nc:3', 'X')], [['a', '1'], ['b', 'x:y'], ['c', '3']]);
  });

  it('BERTH_AUTH=basic: users push, readers pull, anonymous callers get the challenge; never a password in the output', async () => {
    const { served, client, printed } = await start({ BERTH_AUTH: 'basic', BERTH_USERS: 'alice:alice-pw', BERTH_READERS: 'bob:bob-pw' });
    try {
      const ping = await client.req('GET', '/v2/');
      await assertError(ping, 401, 'UNAUTHORIZED');
      assert.equal(ping.headers.get('www-authenticate'), 'Basic realm="berth"');
      assert.equal((await client.req('POST', '/v2/demo/blobs/uploads/', { headers: basic('alice', 'alice-pw') })).status, 202);
      await assertError(await client.req('POST', '/v2/demo/blobs/uploads/', { headers: basic('bob', 'bob-pw') }), 403, 'DENIED');
      const read = await client.req('GET', '/v2/demo/tags/list', { headers: basic('bob', 'bob-pw') });
      assert.ok(read.status !== 401 && read.status !== 403, `a reader may pull (got ${read.status})`);
      await assertError(await client.req('GET', '/v2/demo/tags/list'), 401, 'UNAUTHORIZED');
      const text = printed.join('\n');
      assert.match(text, /users alice \(pull, push, delete\), bob \(pull\); anonymous pull off/);
      assert.match(text, /docker login 127\.0\.0\.1:5000 -u alice/);
      assert.match(text, /oras login --plain-http 127\.0\.0\.1:5000 -u alice/);
      assert.doesNotMatch(text, /alice-pw|bob-pw/);
    } finally {
      await served.close();
    }
  });

  it('the login page starts a session that the registry accepts as the same user', async () => {
    const { served, client } = await start({ BERTH_AUTH: 'basic', BERTH_USERS: 'alice:alice-pw' });
    const form = (username: string, password: string) =>
      fetch(`${served.origin}/login`, { method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username, password }).toString() });
    try {
      assert.match(await (await fetch(`${served.origin}/login`)).text(), /<form method="post" action="\/login">/);
      const wrong = await form('alice', 'nope');
      assert.equal(wrong.status, 401);
      assert.match(await wrong.text(), /Wrong user name or password/);
      const ok = await form('alice', 'alice-pw');
      assert.equal(ok.status, 303);
      const cookie = (ok.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      assert.match(ok.headers.get('set-cookie') ?? '', /^berth\.sid=.*; HttpOnly; SameSite=Lax/);
      assert.match(await (await fetch(served.origin, { headers: { Cookie: cookie } })).text(), /Signed in as <strong>alice<\/strong>/);
      assert.equal((await client.req('GET', '/v2/', { headers: { Cookie: cookie } })).status, 200);
      assert.equal((await client.req('POST', '/v2/web/blobs/uploads/', { headers: { Cookie: cookie } })).status, 202);
      const out = await fetch(`${served.origin}/logout`, { method: 'POST', redirect: 'manual', headers: { Cookie: cookie } });
      assert.equal(out.status, 303);
      await assertError(await client.req('GET', '/v2/', { headers: { Cookie: cookie } }), 401, 'UNAUTHORIZED');
    } finally {
      await served.close();
    }
  });

  it('BERTH_AUTH=token: the token endpoint at /token, the realm from the Host (or BERTH_PUBLIC_URL), anonymous pull', async () => {
    const { served, client, printed } = await start({ BERTH_AUTH: 'token', BERTH_USERS: 'alice:alice-pw', BERTH_ANONYMOUS_PULL: '1' });
    try {
      const host = new URL(served.origin).host;
      const ping = await client.req('GET', '/v2/');
      await assertError(ping, 401, 'UNAUTHORIZED');
      assert.equal(ping.headers.get('www-authenticate'), `Bearer realm="http://${host}/token",service="berth"`);
      const anonymous = (await (await fetch(`${served.origin}/token?service=berth&scope=repository:demo:pull,push`)).json()) as { token: string };
      const pull = await client.req('GET', '/v2/demo/tags/list', { headers: { Authorization: `Bearer ${anonymous.token}` } });
      assert.notEqual(pull.status, 401, 'anonymous pull with an anonymous token');
      const push = await client.req('POST', '/v2/demo/blobs/uploads/', { headers: { Authorization: `Bearer ${anonymous.token}` } });
      await assertError(push, 401, 'UNAUTHORIZED');
      assert.match(push.headers.get('www-authenticate') ?? '', /scope="repository:demo:push",error="insufficient_scope"$/);
      const alice = await fetch(`${served.origin}/token?service=berth&scope=repository:demo:pull,push`, { headers: basic('alice', 'alice-pw') });
      const { token } = (await alice.json()) as { token: string };
      assert.equal((await client.req('POST', '/v2/demo/blobs/uploads/', { headers: { Authorization: `Bearer ${token}` } })).status, 202);
      assert.match(printed.join('\n'), /BERTH_AUTH=token \(token endpoint http:\/\/127\.0\.0\.1:5000\/token\)/);
    } finally {
      await served.close();
    }
    const pinned = await start({ BERTH_AUTH: 'token', BERTH_USERS: 'alice:alice-pw', BERTH_PUBLIC_URL: 'https://registry.example', BERTH_TOKEN_SECRET: 'x'.repeat(32) });
    try {
      const ping = await pinned.client.req('GET', '/v2/');
      assert.equal(ping.headers.get('www-authenticate'), 'Bearer realm="https://registry.example/token",service="berth"');
      assert.match(pinned.printed.join('\n'), /docker login registry\.example -u alice {2}\| {2}podman login registry\.example -u alice/);
    } finally {
      await pinned.served.close();
    }
  });
});
