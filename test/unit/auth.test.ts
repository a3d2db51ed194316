import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { globToRegExp } from '../../lib/glob.js';
import {
  accessesOf,
  loginThrottle,
  parseBasic,
  parseScope,
  passwords,
  rules,
  safeEqual,
  ScopeError,
  tokenAuth,
  tokenIssuer,
  TokenError,
  verifyToken,
} from '../../lib/index.js';

describe('auth: scope grammar', () => {
  it('parses type:name:actions, one or more separated by spaces', () => {
    assert.deepEqual(parseScope('repository:team/app:pull,push  registry:catalog:*'), [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    assert.deepEqual(parseScope(''), []);
    assert.deepEqual(parseScope('repository:a:pull,pull'), [{ type: 'repository', name: 'a', actions: ['pull'] }], 'duplicates dropped');
  });

  it('a name may carry one host:port colon; type before the first colon, actions after the last', () => {
    assert.deepEqual(parseScope('repository:localhost:5000/team/app:pull'), [{ type: 'repository', name: 'localhost:5000/team/app', actions: ['pull'] }]);
    assert.deepEqual(parseScope('repository(plugin):a/b:pull'), [{ type: 'repository', name: 'a/b', actions: ['pull'] }]);
  });

  const refused: [string, RegExp][] = [
    ['repository:team/app', /is not type:name:actions/],
    ['repository', /is not type:name:actions/],
    ['repository:team/app:extra:pull', /"team\/app:extra" is not a resource name/],
    ['repository:team:5000:pull', /"team:5000" is not a resource name/],
    ['repository:host:port/app:pull', /is not a resource name/],
    ['repository::pull', /"" is not a resource name/],
    ['repository:Team/App:pull', /is not a resource name/],
    ['REPOSITORY:a:pull', /resource type must be lowercase/],
    [':a:pull', /resource type must be lowercase/],
    ['repository:a:pull,,push', /actions must be lowercase words/],
    ['repository:a:pull,', /actions must be lowercase words/],
    ['repository:a:Pull', /actions must be lowercase words/],
    ['repository:a:pull;rm', /actions must be lowercase words/],
    [`repository:a:${'x'.repeat(33)}`, /actions must be lowercase words/],
    [`repository:${'a'.repeat(256)}:pull`, /is not a resource name/],
    ['x'.repeat(16385), /scope is longer than 16384 characters/],
    [Array.from({ length: 65 }, (_, i) => `repository:r${i}:pull`).join(' '), /more than 64 resource scopes/],
  ];
  for (const [scope, message] of refused) {
    it(`refuses ${JSON.stringify(scope.length > 60 ? `${scope.slice(0, 57)}...` : scope)}`, () => {
      assert.throws(() => parseScope(scope), (err: unknown) => err instanceof ScopeError && message.test(err.message));
    });
  }

  it('error messages clip what they quote', () => {
    assert.throws(() => parseScope(`repository:${'a'.repeat(300)}:Pull`), (err: Error) => err.message.length < 300);
  });

  it('accesses: * is pull, push and delete; empty and unknown actions, other types and host names ask nothing', () => {
    const of = (s: string) => parseScope(s).flatMap(accessesOf);
    assert.deepEqual(of('repository:a:*'), [
      { action: 'pull', repository: 'a' },
      { action: 'push', repository: 'a' },
      { action: 'delete', repository: 'a' },
    ]);
    assert.deepEqual(of('repository:a:push,fly,pull'), [
      { action: 'pull', repository: 'a' },
      { action: 'push', repository: 'a' },
    ]);
    assert.deepEqual(of('repository:a:'), []);
    assert.deepEqual(of('registry:catalog:*'), [{ action: 'catalog' }]);
    assert.deepEqual(of('registry:catalog:pull registry:other:* plugin:a:pull repository:localhost:5000/a:pull'), []);
  });
});

describe('auth: rule tables', () => {
  it('globs: * within a component, ** across components, everything else literal', () => {
    const cases: [string, string, boolean][] = [
      ['team/*', 'team/app', true],
      ['team/*', 'team/a/b', false],
      ['team/**', 'team/a/b', true],
      ['team/**', 'team', false],
      ['**', 'any/thing', true],
      ['*', 'a/b', false],
      ['app.v1', 'appxv1', false],
      ['a+b', 'a+b', true],
      ['*-cache', 'x-cache', true],
    ];
    for (const [glob, name, expected] of cases) assert.equal(globToRegExp(glob).test(name), expected, `${glob} ~ ${name}`);
  });

  it('answers per access: users, "*" for any user, groups, anonymous; catalog for users and when anonymous may pull', () => {
    const can = rules([
      { repositories: 'a/**', users: ['alice'], actions: ['pull', 'push'] },
      { repositories: ['b/*', 'c'], groups: 'ops', actions: '*' },
      { repositories: 'pub/*', users: '*', anonymous: true, actions: 'pull' },
    ]);
    const accesses = [
      { action: 'pull', repository: 'a/x' },
      { action: 'delete', repository: 'a/x' },
      { action: 'delete', repository: 'b/y' },
      { action: 'pull', repository: 'pub/z' },
      { action: 'catalog' },
    ] as const;
    assert.deepEqual(can({ name: 'alice' }, accesses), [true, false, false, true, true]);
    assert.deepEqual(can({ name: 'dave', groups: ['ops'] }, accesses), [false, false, true, true, true]);
    assert.deepEqual(can({ name: 'eve', groups: 'ops' }, accesses), [false, false, false, true, true], 'groups must be an array');
    assert.deepEqual(can(undefined, accesses), [false, false, false, true, true]);
    assert.deepEqual(rules([{ repositories: '**', users: '*', actions: '*' }])(undefined, [{ action: 'catalog' }]), [false]);
  });

  it('refuses malformed rows at creation, naming the row', () => {
    const bad: [unknown, RegExp][] = [
      [{ repositories: '**', actions: 'pull' }, /rule 0 .* names nobody/],
      [{ repositories: [], users: 'a', actions: 'pull' }, /names no `repositories`/],
      [{ repositories: '**', users: 'a', actions: 'write' }, /needs `actions` from "pull", "push", "delete" and "\*"/],
      [{ repositories: '**', users: 'a', actions: [] }, /needs `actions`/],
      [{ repositories: '**', users: [''], actions: 'pull' }, /needs `users` as a string or an array of non-empty strings/],
      [{ repositories: '**', anonymous: 'yes', actions: 'pull' }, /needs `anonymous` as true or false/],
    ];
    for (const [row, message] of bad) assert.throws(() => rules([row as never]), (err: unknown) => err instanceof TypeError && message.test(err.message));
    assert.throws(() => rules('x' as never), /expected an array of rules/);
  });
});

describe('auth: Basic credentials', () => {
  it('parses Basic headers strictly', () => {
    const enc = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    assert.deepEqual(parseBasic(enc('alice:pa:ss')), { username: 'alice', password: 'pa:ss' });
    assert.deepEqual(parseBasic(`basic  ${Buffer.from('a:').toString('base64')}`), { username: 'a', password: '' });
    assert.deepEqual(parseBasic(enc('ünï:cødé')), { username: 'ünï', password: 'cødé' });
    assert.equal(parseBasic(undefined), undefined);
    assert.equal(parseBasic('Bearer x'), undefined);
    assert.equal(parseBasic('Basicx'), undefined);
    for (const header of ['Basic', 'Basic ', 'Basic %%%', enc('nocolon'), enc(':password'), `Basic ${'A'.repeat(8200)}`, 'Basic QQ=Q']) {
      assert.equal(parseBasic(header), null, header.slice(0, 40));
    }
  });

  it('compares secrets of any length', () => {
    assert.equal(safeEqual('secret', 'secret'), true);
    assert.equal(safeEqual('secret', 'secreT'), false);
    assert.equal(safeEqual('secret', 'secret-longer'), false);
    assert.equal(safeEqual('', ''), true);
  });

  it('passwords(): plain pairs, unknown users refused, empty passwords refused at creation', async () => {
    const verify = passwords({ ci: 'token-1' });
    const req = {} as unknown as IncomingMessage;
    assert.equal(await verify('ci', 'token-1', req), true);
    assert.equal(await verify('ci', 'token-2', req), false);
    assert.equal(await verify('nobody', '\0 no such user', req), false);
    assert.equal(await passwords(new Map([['a', 'b']]))('a', 'b', req), true);
    assert.throws(() => passwords({ ci: '' }), /user "ci" needs a non-empty password/);
  });
});

describe('auth: login throttle', () => {
  const req = (address: string) => ({ socket: { remoteAddress: address } }) as unknown as IncomingMessage;

  it('counts per client; IPv6 clients by their /64', () => {
    const throttle = loginThrottle({ free: 1, delay: 60_000 });
    throttle.attempt(req('2001:db8:1:2::5'), 'u', 'a').failed();
    assert.throws(() => throttle.attempt(req('2001:db8:1:2:ffff::1'), 'u', 'b'), /too many failed logins from this client: retry in 60 s/);
    throttle.attempt(req('2001:db8:1:3::5'), 'u', 'c').failed();
    throttle.attempt(req('::ffff:10.0.0.1'), 'u', 'd').failed();
    throttle.attempt(req('::ffff:10.0.0.2'), 'u', 'e').succeeded();
  });

  it('the same credentials in parallel count once; an abandoned check counts nothing', () => {
    const throttle = loginThrottle({ free: 2 });
    const runs = [1, 2, 3, 4].map(() => throttle.attempt(req('10.0.0.9'), 'u', 'same'));
    const other = throttle.attempt(req('10.0.0.9'), 'u', 'other');
    assert.throws(() => throttle.attempt(req('10.0.0.9'), 'u', 'third'), /too many failed logins/);
    for (const run of runs) run.succeeded();
    other.abandoned();
    throttle.attempt(req('10.0.0.9'), 'u', 'third').succeeded();
  });

  it('forgets the quietest clients beyond maxClients', () => {
    const throttle = loginThrottle({ free: 0, delay: 60_000, maxClients: 2 });
    throttle.attempt(req('10.0.0.1'), 'u', 'x').failed();
    throttle.attempt(req('10.0.0.2'), 'u', 'x').failed();
    throttle.attempt(req('10.0.0.3'), 'u', 'x').failed();
    throttle.attempt(req('10.0.0.1'), 'u', 'x').failed();
    assert.throws(() => throttle.attempt(req('10.0.0.3'), 'u', 'x'), /too many failed logins/);
  });

  it('checks its options', () => {
    assert.throws(() => loginThrottle({ free: -1 }), /`free` must be an integer of at least 0/);
    assert.throws(() => loginThrottle({ delay: 1000, maxDelay: 10 }), /`maxDelay` must be an integer of at least 1000/);
  });
});

describe('auth: token keys and options', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const issuer = (key: unknown, algorithm: unknown = 'RS256', extra: object = {}) =>
    tokenIssuer({ issuer: 'i', service: 's', key: { algorithm, key } as never, ...extra });

  it('pins a key to one algorithm and checks it at creation', () => {
    issuer(rsa.privateKey);
    issuer(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }), 'ES256');
    issuer(randomBytes(32), 'HS256');
    issuer('x'.repeat(32), 'HS256');
    const refused: [unknown, unknown, RegExp][] = [
      [rsa.privateKey, 'none', /`algorithm` must be "RS256", "ES256" or "HS256" \(got "none"\)/],
      [rsa.privateKey, 'RS512', /`algorithm` must be/],
      [rsa.publicKey, 'RS256', /signing with RS256 needs a private key/],
      [ec.privateKey, 'RS256', /RS256 needs an RSA key of at least 2048 bits/],
      [generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey, 'RS256', /at least 2048 bits/],
      [generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey, 'ES256', /ES256 needs an EC key on the P-256 curve/],
      [rsa.privateKey, 'ES256', /P-256/],
      [randomBytes(16), 'HS256', /HS256 secret must be at least 32 bytes/],
      [rsa.publicKey.export({ type: 'spki', format: 'pem' }), 'HS256', /must not be a PEM key/],
      [rsa.publicKey, 'HS256', /must be a secret, not a public or private key/],
      ['not a pem', 'RS256', /`key` is not a private key/],
      [42, 'RS256', /`key` must be PEM text, a Buffer or a KeyObject/],
    ];
    for (const [key, algorithm, message] of refused) assert.throws(() => issuer(key, algorithm), message, String(algorithm));
    assert.throws(() => issuer(rsa.privateKey, 'RS256', { expiresIn: 30 }), /`expiresIn` must be whole seconds, at least 60/);
    assert.throws(() => tokenIssuer({ issuer: '', service: 's', key: { algorithm: 'HS256', key: randomBytes(32) } }), /`issuer` must be a non-empty string/);
  });

  it('tokenAuth needs an absolute realm, a service and trusted keys', () => {
    const keys = issuer(randomBytes(32), 'HS256').keys;
    assert.throws(() => tokenAuth({ realm: '/token', service: 's', keys }), /the realm must be an absolute http\(s\) URL/);
    assert.throws(() => tokenAuth({ realm: 'ftp://x/token', service: 's', keys }), /absolute http\(s\) URL/);
    assert.throws(() => tokenAuth({ realm: 'https://x/token', service: '', keys }), /`service` must be a non-empty string/);
    assert.throws(() => tokenAuth({ realm: 'https://x/token', service: 's', keys: [] }), /`keys` must list at least one/);
    assert.throws(() => tokenAuth({ realm: 'https://x/token', service: 's', keys, clockTolerance: 3600 }), /`clockTolerance` must be whole seconds from 0 to 300/);
    assert.throws(() => tokenAuth({ realm: 'https://x/token', service: 's', keys: [{ issuer: 'i', algorithm: 'RS256', key: randomBytes(32) }] }), /not a public key/);
  });

  it('verifyToken: issued tokens verify; another audience, or an HS256 key trusted as RS256, do not', () => {
    const hs = issuer(randomBytes(32), 'HS256');
    const { token } = hs.issue('alice', [{ type: 'repository', name: 'a', actions: ['pull'] }]);
    const claims = verifyToken(token, { keys: hs.keys, audience: 's' });
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'a', actions: ['pull'] }]);
    assert.throws(() => verifyToken(token, { keys: hs.keys, audience: 'other' }), (err: unknown) => err instanceof TokenError && /audience invalid/.test(err.message));
    const rs = issuer(rsa.privateKey);
    assert.throws(() => verifyToken(rs.issue('a', []).token, { keys: hs.keys, audience: 's' }), /no key is trusted for issuer "i" with RS256/);
    assert.throws(() => verifyToken('x'.repeat(20000), { keys: hs.keys, audience: 's' }), /malformed token/);
  });
});
