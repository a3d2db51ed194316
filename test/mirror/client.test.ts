import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMirror } from '../../lib/index.js';
import { parseChallenges } from '../../lib/mirror/challenge.js';
import { retryAfter } from '../../lib/mirror/route.js';
import { OCI_MANIFEST, assertError, bytesOf, listen, type Served } from '../api/helpers.js';
import { type Upstream, berthUpstream, startMirror } from './fixtures.js';

describe('mirror: WWW-Authenticate challenges', () => {
  const cases: [string, ReturnType<typeof parseChallenges>][] = [
    ['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"', [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]],
    ['Basic realm="distribution"', [{ scheme: 'basic', params: { realm: 'distribution' } }]],
    ['bearer Realm="a,b", Service=svc , scope="x:y:pull,push"', [{ scheme: 'bearer', params: { realm: 'a,b', service: 'svc', scope: 'x:y:pull,push' } }]],
    ['Basic realm="r", Bearer realm="https://t/token",service="s"', [
      { scheme: 'basic', params: { realm: 'r' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', service: 's' } },
    ]],
    ['Bearer realm="with \\"quotes\\" inside"', [{ scheme: 'bearer', params: { realm: 'with "quotes" inside' } }]],
    ['Bearer realm="unterminated', [{ scheme: 'bearer', params: {} }]],
    ['', []],
    ['Negotiate', [{ scheme: 'negotiate', params: {} }]],
  ];
  for (const [header, expected] of cases) {
    it(JSON.stringify(header), () => assert.deepEqual(parseChallenges(header), expected));
  }
  it('several header lines', () => assert.equal(parseChallenges(['Basic realm="a"', 'Bearer realm="b"']).length, 2));
});

describe('mirror: Retry-After', () => {
  it('seconds, an HTTP date, nonsense, and a cap', () => {
    assert.equal(retryAfter('5'), 5000);
    assert.equal(retryAfter(new Date(1_000_000 + 7000).toUTCString(), 1_000_000), 7000);
    assert.equal(retryAfter('soon'), 10_000);
    assert.equal(retryAfter(undefined), 10_000);
    assert.equal(retryAfter('999999'), 600_000);
  });
});

describe('mirror: options are checked at creation', () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /options must be an object/],
    [{}, /`upstreams` must be a non-empty list/],
    [{ upstreams: [{ prefix: 'hub', url: 'https://r.example' }] }, /prefix must be repository name components ending with "\/"/],
    [{ upstreams: [{ prefix: 'Hub/', url: 'https://r.example' }] }, /prefix/],
    [{ upstreams: [{ prefix: 'hub/', url: 'ftp://r.example' }] }, /url must be an http\(s\) origin/],
    [{ upstreams: [{ prefix: 'hub/', url: 'https://user:pw@r.example' }] }, /without credentials/],
    [{ upstreams: [{ prefix: 'hub/', url: 'https://r.example', tagTTL: 5 }] }, /unknown option "upstreams\[0\].tagTTL"; did you mean "upstreams\[0\].tagTtl"/],
    [{ upstreams: [{ prefix: 'hub/', url: 'https://r.example', tagTtl: -1 }] }, /tagTtl must be an integer of milliseconds/],
    [{ upstreams: [{ prefix: 'hub/', url: 'https://r.example', credentials: { username: 'u' } }] }, /credentials must be \{ username, password \}/],
    [{ upstreams: [{ prefix: 'hub/', url: 'https://r.example', ns: 'not a host' }] }, /ns must be a registry host/],
    [{ upstreams: [{ prefix: 'a/', url: 'https://r.example' }, { prefix: 'a/', url: 'https://s.example' }] }, /share the prefix "a\/"/],
    [{ upstreams: [{ prefix: 'a/', url: 'https://r.example', ns: 'docker.io' }, { prefix: 'b/', url: 'https://s.example', ns: ['docker.io'] }] }, /claim ns "docker.io"/],
    [{ upstreams: [{ prefix: 'a/', url: 'https://r.example' }], logger: {} }, /`logger` must have warn/],
    [{ upstreams: [{ prefix: 'a/', url: 'https://r.example' }], spooldir: '/tmp' }, /did you mean "spoolDir"/],
  ];
  for (const [options, message] of bad) {
    it(String(message), () => assert.throws(() => createMirror(options as never), (err: unknown) => err instanceof TypeError && message.test(err.message)));
  }
  it('an unattached mirror says what to do', async () => {
    const mirror = createMirror({ upstreams: [{ prefix: 'a/', url: 'https://r.example' }] });
    await assert.rejects(mirror.manifest({ repository: 'a/x', reference: 'v1', signal: new AbortController().signal }), /mirror\.attach/);
    assert.equal(await mirror.blob({ repository: 'local/x', digest: `sha256:${'0'.repeat(64)}`, signal: new AbortController().signal }), undefined);
    await mirror.close();
  });
});

describe('mirror: the upstream token flow as clients do it', () => {
  // a minimal upstream: every /v2 request needs a Bearer token from /token; counts what it is asked
  const counts = { token: 0, registry: 0 };
  const asked: URLSearchParams[] = [];
  let tokenAuthorization: string | undefined;
  let revoked = false;
  let served: Served;
  before(async () => {
    let issued = 0;
    served = await listen((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/token') {
        counts.token++;
        asked.push(url.searchParams);
        tokenAuthorization = req.headers.authorization;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ access_token: `t${++issued}`, expires_in: 300 }));
        return;
      }
      counts.registry++;
      const token = /^Bearer (t\d+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (token === undefined || (revoked && token === 't1')) {
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${served.origin}/token",service="fake.test",scope="repository:${url.pathname.split('/')[2] ?? ''}/app:pull"`, 'Content-Type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}');
        return;
      }
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 }, layers: [] }));
      res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  after(() => served.close());

  it('401 → token from the realm (service, scope, Basic credentials) → retry; the token is reused until it fails, then fetched again', async () => {
    const mirror = await startMirror([{ prefix: 'f/', url: served.origin, credentials: () => ({ username: 'u', password: 'p' }), tagTtl: 0 }]);
    try {
      for (const tag of ['a', 'b', 'c']) assert.equal((await mirror.client.req('GET', `/v2/f/team/app/manifests/${tag}`)).status, 200);
      assert.equal(counts.token, 1, 'one token for the three');
      assert.equal(asked[0]?.get('service'), 'fake.test');
      assert.equal(asked[0]?.get('scope'), 'repository:team/app:pull');
      assert.equal(asked[0]?.get('account'), 'u');
      assert.equal(tokenAuthorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
      assert.equal(counts.registry, 4, 'one 401, then three with the token');
      revoked = true;
      assert.equal((await mirror.client.req('GET', '/v2/f/team/app/manifests/d')).status, 200);
      assert.equal(counts.token, 2, 'a refused token is replaced');
    } finally {
      await mirror.close();
    }
  });
});

describe('mirror: an https upstream', () => {
  let dir: string;
  let cert: string;
  let upstream: Upstream;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-mirror-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    cert = await readFile(join(dir, 'cert.pem'), 'utf8');
    upstream = await berthUpstream('token', { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert });
  });
  after(async () => {
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('trusts the CA it is given, or nothing it is not; insecure accepts any certificate', async () => {
    const image = await upstream.seed.pushImage('tls/app', { tag: 'v1', layers: ['over tls'] });
    assert.match(upstream.proxy.origin, /^https:/);
    const trusted = await startMirror([{ prefix: 'up/', url: upstream.proxy.origin, credentials: upstream.credentials, tls: { ca: cert } }]);
    const untrusted = await startMirror([{ prefix: 'up/', url: upstream.proxy.origin, credentials: upstream.credentials }]);
    const insecure = await startMirror([{ prefix: 'up/', url: upstream.proxy.origin, credentials: upstream.credentials, tls: { insecure: true } }]);
    try {
      assert.equal((await trusted.client.req('GET', '/v2/up/tls/app/manifests/v1')).headers.get('docker-content-digest'), image.digest);
      assert.equal((await bytesOf(await trusted.client.req('GET', `/v2/up/tls/app/blobs/${image.layers[0]!.digest}`))).toString(), 'over tls');
      await assertError(await untrusted.client.req('GET', '/v2/up/tls/app/manifests/v1'), 503, 'UNAVAILABLE');
      assert.ok(untrusted.logged.lines.some((l) => /self-signed|certificate/i.test(String((l.obj as { err?: Error }).err?.message))));
      assert.equal((await insecure.client.req('GET', '/v2/up/tls/app/manifests/v1')).status, 200);
    } finally {
      await trusted.close();
      await untrusted.close();
      await insecure.close();
    }
  });
});
