import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import express4 from 'express4';
import { type Storage, createPortal, createRegistry, memoryStorage } from '../../lib/index.js';
import { Client, OCI_INDEX, listen } from '../api/helpers.js';
import { HELM_CONFIG, HELM_LAYER, type PortalApp, authorize, makeChart, pushChart, seed, startPortalApp } from './fixtures.js';

/** A memory store whose upload sessions are watched, to prove that nothing staged is left behind. */
function watchedStorage(): { storage: Storage; leftovers: () => Promise<string[]> } {
  const base = memoryStorage();
  const created: string[] = [];
  const uploads = { ...base.uploads, create: async (repository: string) => {
    const info = await base.uploads.create(repository);
    created.push(info.id);
    return info;
  } };
  return {
    storage: { ...base, uploads },
    leftovers: async () => (await Promise.all(created.map(async (id) => ((await base.uploads.get(id)) ? id : undefined)))).filter((id): id is string => id !== undefined),
  };
}

const text = async (res: Response) => res.text();
const json = async <T>(res: Response) => (await res.json()) as T;
interface RepoList { repositories: { name: string; kinds: string[]; tagCount: number; updatedAt: string | null }[]; next?: string }
interface TagList { repository: string; tags: { name: string; kind: string; digest: string; pushedAt: string }[]; next?: string }

describe('portal over HTTP', () => {
  let app: PortalApp;
  let watched: ReturnType<typeof watchedStorage>;
  before(async () => {
    watched = watchedStorage();
    app = await startPortalApp({ uploads: { maxFileSize: 64 * 1024, maxFiles: 3 } }, watched.storage);
    await seed(app.ann);
    await new Promise((r) => setTimeout(r, 50));
  });
  after(() => app.close());

  describe('auth filtering', () => {
    it('lists only what each caller may pull, on the page and in the API', async () => {
      const names = async (user?: string) => (await json<RepoList>(await app.get('/api/v1/repositories', user))).repositories.map((r) => r.name);
      assert.deepEqual(await names('ann'), ['charts/demo', 'private/secret', 'public/docs', 'public/tools', 'public/web']);
      assert.deepEqual(await names('bob'), ['charts/demo', 'public/docs', 'public/tools', 'public/web']);
      assert.deepEqual(await names(), ['charts/demo', 'public/docs', 'public/tools', 'public/web']);
      const page = await text(await app.get('/', 'bob'));
      assert.doesNotMatch(page, /private\/secret/);
      assert.match(page, /Signed in as <strong>bob<\/strong>/);
    });

    it('answers 401 to wrong credentials, 401 to anonymous and 404 to a known user for a private repository', async () => {
      assert.equal((await app.get('/', 'mallory')).status, 401);
      assert.equal((await app.get('/api/v1/repositories', 'mallory')).status, 401);
      const anonymous = await app.get('/r/private/secret');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get('www-authenticate'), 'Basic realm="berth"');
      const bob = await app.get('/r/private/secret', 'bob');
      assert.equal(bob.status, 404);
      assert.match(await bob.text(), /does not exist, or you may not see it/);
      assert.equal((await app.get('/r/private/does-not-exist', 'ann')).status, 404);
      assert.equal((await app.get('/api/v1/repositories/private/secret/tags', 'bob')).status, 404);
      assert.equal((await app.get('/api/v1/repositories/private/secret/tags')).status, 401);
      assert.equal((await app.get('/r/private/secret/-/manifest/sha256:' + 'a'.repeat(64), 'bob')).status, 404);
    });
  });

  describe('search API', () => {
    it('filters by kind, media type, substring, prefix and push time', async () => {
      const names = async (q: string) => (await json<RepoList>(await app.get(`/api/v1/repositories?${q}`, 'ann'))).repositories.map((r) => r.name);
      assert.deepEqual(await names('type=helm'), ['charts/demo']);
      assert.deepEqual(await names('type=signature'), ['public/web']);
      assert.deepEqual(await names('type=sbom'), ['public/web']);
      assert.deepEqual(await names('type=application/vnd.example.docs.v1'), ['public/docs']);
      assert.deepEqual(await names('q=WEB'), ['public/web']);
      assert.deepEqual(await names('prefix=public/t'), ['public/tools']);
      assert.deepEqual(await names('since=2999-01-01'), []);
      assert.equal((await names('since=2000-01-01&until=2999-01-01')).length, 5);
    });

    it('sorts by name or last push, both ways, and pages with a cursor and a Link header', async () => {
      const all = (await json<RepoList>(await app.get('/api/v1/repositories?sort=pushed', 'ann'))).repositories;
      const times = all.map((r) => r.updatedAt ?? '');
      assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
      const asc = (await json<RepoList>(await app.get('/api/v1/repositories?sort=pushed&order=asc', 'ann'))).repositories.map((r) => r.name);
      assert.deepEqual(asc, all.map((r) => r.name).reverse());
      const desc = (await json<RepoList>(await app.get('/api/v1/repositories?order=desc', 'ann'))).repositories.map((r) => r.name);
      assert.deepEqual(desc, ['public/web', 'public/tools', 'public/docs', 'private/secret', 'charts/demo']);
      const seen: string[] = [];
      let url = '/api/v1/repositories?n=2&sort=pushed';
      for (let i = 0; i < 5; i++) {
        const res = await app.get(url, 'ann');
        const body = await json<RepoList>(res);
        seen.push(...body.repositories.map((r) => r.name));
        if (!body.next) {
          assert.equal(res.headers.get('link'), null);
          break;
        }
        const link = res.headers.get('link') ?? '';
        assert.match(link, /^<\/artifacts\/api\/v1\/repositories\?n=2&sort=pushed&cursor=[\w-]+>; rel="next"$/);
        url = link.slice('</artifacts'.length, link.indexOf('>'));
      }
      assert.deepEqual(seen, all.map((r) => r.name));
    });

    it('lists tags with their kind, filtered and sorted', async () => {
      const body = await json<TagList>(await app.get('/api/v1/repositories/charts/demo/tags?sort=name', 'bob'));
      assert.deepEqual(body.tags.map((t) => [t.name, t.kind]), [['0.1.0', 'helm'], ['0.2.0', 'helm'], ['1.0.0-rc.1', 'helm']]);
      const rc = await json<TagList>(await app.get('/api/v1/repositories/charts/demo/tags?q=rc', 'bob'));
      assert.deepEqual(rc.tags.map((t) => t.name), ['1.0.0-rc.1']);
      const web = await json<TagList>(await app.get('/api/v1/repositories/public/web/tags', 'bob'));
      assert.deepEqual(web.tags.map((t) => t.name).sort(), ['v1.0.0', 'v1.1.0']);
    });

    it('refuses bad parameters with a 400 naming them', async () => {
      for (const q of ['sort=size', 'order=up', 'n=0', 'n=5000', 'since=yesterday', 'type=not a type', 'cursor=garbage', 'q=a&q=b']) {
        const res = await app.get(`/api/v1/repositories?${q}`, 'ann');
        assert.equal(res.status, 400, q);
        const body = await json<{ errors: { code: string; message: string }[] }>(res);
        assert.equal(body.errors[0]?.code, 'BAD_REQUEST', q);
      }
      assert.equal((await app.get('/?sort=size', 'ann')).status, 400);
    });
  });

  describe('pages', () => {
    it('serve HTML with a strict Content-Security-Policy and no caching in shared caches', async () => {
      const res = await app.get('/', 'ann');
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; style-src 'self'; script-src 'self'/);
      assert.equal(res.headers.get('cache-control'), 'private, no-cache');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      const css = await app.get('/-/portal.css');
      assert.match(await css.text(), /--berth-accent/);
    });

    it('repository page: tags, sizes, platforms of an index, pull commands', async () => {
      const page = await text(await app.get('/r/public/web', 'bob'));
      assert.match(page, /linux\/amd64, linux\/arm64\/v8/);
      assert.match(page, /docker pull 127\.0\.0\.1:\d+\/public\/web:v1\.1\.0/);
      assert.match(page, /oras pull 127\.0\.0\.1:\d+\/public\/web:v1\.0\.0/);
      assert.doesNotMatch(page, /Delete tag/, 'bob may not delete');
      assert.match(await text(await app.get('/r/public/web', 'ann')), /Delete tag/);
      const charts = await text(await app.get('/r/charts/demo', 'bob'));
      assert.match(charts, /helm pull oci:\/\/127\.0\.0\.1:\d+\/charts\/demo --version 1\.0\.0-rc\.1/);
    });

    it('manifest page: platforms, layers, annotations and the referrers tree', async () => {
      const tags = await json<TagList>(await app.get('/api/v1/repositories/public/web/tags', 'bob'));
      const index = tags.tags.find((t) => t.name === 'v1.1.0')?.digest ?? '';
      const page = await text(await app.get(`/r/public/web/-/manifest/${index}`, 'bob'));
      assert.match(page, /<h2>Platforms<\/h2>/);
      assert.match(page, /linux\/arm64\/v8/);
      const tree = page.slice(page.indexOf('<h2>Referrers</h2>'));
      assert.match(tree, /Signature[\s\S]*application\/vnd\.dev\.cosign\.artifact\.sig\.v1\+json[\s\S]*<ul class="tree">[\s\S]*Attestation/);
      assert.match(tree, /SBOM[\s\S]*application\/spdx\+json/);
    });

    it('chart page: Chart.yaml metadata, README, values and every version', async () => {
      const page = await text(await app.get('/r/charts/demo/-/chart', 'bob'));
      assert.match(page, /<h1>demo <span class="muted">0\.2\.0<\/span><\/h1>/, 'the newest stable version');
      assert.match(page, /<h3>Demo<\/h3>/);
      assert.match(page, /replicaCount: 1\nimage:/);
      assert.match(page, /<span class="badge">web<\/span>/);
      assert.match(page, /<a href="mailto:ann@example.com">/);
      assert.match(page, /1\.0\.0-rc\.1[\s\S]*0\.2\.0[\s\S]*0\.1\.0/);
      assert.match(page, /helm repo add charts http:\/\/127\.0\.0\.1:\d+\/artifacts\/helm\/charts/);
      assert.match(await text(await app.get('/r/charts/demo/-/chart?version=1.0.0-rc.1', 'bob')), /<h1>demo <span class="muted">1\.0\.0-rc\.1/);
      assert.equal((await app.get('/r/charts/demo/-/chart?version=9.9.9', 'bob')).status, 404);
    });

    it('escapes hostile names, annotations and chart fields (XSS)', async () => {
      await pushChart(app.ann, 'charts', {
        name: 'xss',
        version: '1.0.0',
        description: '<script>alert("d")</script>',
        readme: '# <img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))\n\n<script>alert(2)</script>',
        values: '</pre><script>alert(3)</script>',
        extraYaml: 'keywords:\n  - "\\"><script>alert(4)</script>"\nhome: "javascript:alert(5)"\nicon: "javascript:alert(6)"\nmaintainers:\n  - name: "<b>m</b>"\n    url: "javascript:alert(7)"\n    email: "x\\" onmouseover=\\"alert(8)"\n',
      });
      await app.ann.pushImage('public/xss', { tag: 'v1', annotations: { '<script>k</script>': '"><script>alert(9)</script>' }, seed: 'xss' });
      await new Promise((r) => setTimeout(r, 30));
      const chart = await text(await app.get('/r/charts/xss/-/chart', 'ann'));
      const tags = await json<TagList>(await app.get('/api/v1/repositories/public/xss/tags', 'ann'));
      const manifest = await text(await app.get(`/r/public/xss/-/manifest/${tags.tags[0]?.digest ?? ''}`, 'ann'));
      for (const page of [chart, manifest]) {
        assert.doesNotMatch(page, /<script>alert|<img src=x|href="javascript|onmouseover="/i);
        const scripts = [...page.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
        assert.deepEqual(scripts, ['<script src="/artifacts/-/portal.js" defer>'], 'only the portal script');
      }
      assert.match(chart, /&lt;script&gt;alert\(&quot;d&quot;\)&lt;\/script&gt;/);
      assert.match(manifest, /&quot;&gt;&lt;script&gt;alert\(9\)&lt;\/script&gt;/);
    });
  });

  describe('Helm classic repository', () => {
    it('serves index.yaml per namespace and for everything, filtered per caller', async () => {
      const res = await app.get('/helm/charts/index.yaml');
      assert.equal(res.headers.get('content-type'), 'application/yaml; charset=utf-8');
      const index = parse(await res.text()) as { apiVersion: string; entries: Record<string, { version: string; urls: string[]; digest: string }[]> };
      assert.equal(index.apiVersion, 'v1');
      const demo = index.entries.demo ?? [];
      assert.deepEqual(demo.map((e) => e.version), ['1.0.0-rc.1', '0.2.0', '0.1.0']);
      assert.deepEqual(demo[1]?.urls, ['charts/demo-0.2.0.tgz']);
      const root = parse(await text(await app.get('/helm/index.yaml'))) as { entries: Record<string, unknown> };
      assert.ok(root.entries.demo);
      assert.deepEqual(parse(await text(await app.get('/helm/public/index.yaml'))), { apiVersion: 'v1', entries: {}, generated: (parse(await text(await app.get('/helm/public/index.yaml'))) as { generated: string }).generated });
    });

    it('serves the chart packages byte for byte, with the index digest', async () => {
      const pushed = await pushChart(app.ann, 'charts', { name: 'bytes', version: '2.0.0+meta' });
      await new Promise((r) => setTimeout(r, 30));
      const index = parse(await text(await app.get('/helm/charts/index.yaml'))) as { entries: Record<string, { version: string; urls: string[]; digest: string }[]> };
      const entry = index.entries.bytes?.[0];
      assert.equal(entry?.version, '2.0.0+meta');
      assert.deepEqual(entry.urls, ['charts/bytes-2.0.0%2Bmeta.tgz']);
      const res = await app.get(`/helm/charts/${entry.urls[0] ?? ''}`);
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.equals(pushed.tgz));
      assert.equal(entry.digest, pushed.digest === '' ? '' : (await import('node:crypto')).createHash('sha256').update(body).digest('hex'));
      assert.equal((await app.get('/helm/charts/charts/nope-1.0.0.tgz')).status, 404);
    });

    it('is rebuilt after pushes and deletes (registry events)', async () => {
      const versions = async () => ((parse(await text(await app.get('/helm/charts/index.yaml'))) as { entries: Record<string, { version: string }[]> }).entries.live ?? []).map((e) => e.version);
      assert.deepEqual(await versions(), []);
      await pushChart(app.ann, 'charts', { name: 'live', version: '1.0.0' });
      await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(await versions(), ['1.0.0']);
      const del = await app.ann.req('DELETE', '/v2/charts/live/manifests/1.0.0');
      assert.equal(del.status, 202);
      await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(await versions(), []);
    });

    it('asks anonymous callers to authenticate for charts they may not see', async () => {
      await pushChart(app.ann, 'private', { name: 'hidden', version: '1.0.0' });
      await new Promise((r) => setTimeout(r, 30));
      const res = await app.get('/helm/private/index.yaml');
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="berth"');
      assert.equal((await app.get('/helm/private/charts/hidden-1.0.0.tgz')).status, 401);
      assert.equal((await app.get('/helm/private/charts/hidden-1.0.0.tgz', 'bob')).status, 404);
      assert.equal((await app.get('/helm/private/charts/hidden-1.0.0.tgz', 'ann')).status, 200);
    });
  });

  describe('delete and retag', () => {
    const post = (path: string, user: string | undefined, form: Record<string, string>, headers: Record<string, string> = {}) =>
      app.get(path, user, { method: 'POST', body: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });

    it('confirms, then deletes a tag for a user allowed to; refuses others', async () => {
      await app.ann.pushImage('public/del', { tag: 'a', seed: 'del-a' });
      await app.ann.pushImage('public/del', { tag: 'b', seed: 'del-b' });
      assert.equal((await app.get('/r/public/del/-/delete?tag=a', 'bob')).status, 403);
      assert.match(await text(await app.get('/r/public/del/-/delete?tag=a', 'ann')), /Delete tag a\?/);
      assert.equal((await post('/r/public/del/-/delete', 'bob', { tag: 'a' })).status, 403);
      assert.equal((await post('/r/public/del/-/delete', undefined, { tag: 'a' })).status, 401);
      const res = await post('/r/public/del/-/delete', 'ann', { tag: 'a' });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/artifacts/r/public/del?deleted=a');
      assert.equal((await app.ann.req('GET', '/v2/public/del/manifests/a')).status, 404);
      assert.equal((await app.ann.req('GET', '/v2/public/del/manifests/b')).status, 200);
    });

    it('refuses a form posted from another site', async () => {
      for (const headers of [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { origin: 'null' }] as Record<string, string>[]) {
        assert.equal((await post('/r/public/del/-/delete', 'ann', { tag: 'b' }, headers)).status, 403);
      }
      assert.equal((await app.ann.req('GET', '/v2/public/del/manifests/b')).status, 200);
    });

    it('deletes a manifest with its tags, but not one an index still needs (409)', async () => {
      const index = await (await import('./fixtures.js')).pushIndex(app.ann, 'public/multi', 'v1');
      const body = JSON.parse(Buffer.from(await (await app.ann.req('GET', `/v2/public/multi/manifests/${index}`, { headers: { Accept: OCI_INDEX } })).arrayBuffer()).toString()) as { manifests: { digest: string }[] };
      const child = body.manifests[0]?.digest ?? '';
      const refused = await post('/r/public/multi/-/delete', 'ann', { digest: child });
      assert.equal(refused.status, 409);
      assert.match(await refused.text(), /still referenced by manifest/);
      assert.equal((await post('/r/public/multi/-/delete', 'ann', { digest: index })).status, 303);
      assert.equal((await app.ann.req('GET', '/v2/public/multi/manifests/v1')).status, 404);
      assert.equal((await post('/r/public/multi/-/delete', 'ann', { digest: child })).status, 303);
    });

    it('retags a manifest', async () => {
      const image = await app.ann.pushImage('public/retag', { tag: 'one', seed: 'retag' });
      assert.equal((await post('/r/public/retag/-/retag', 'bob', { digest: image.digest, tag: 'two' })).status, 403);
      assert.equal((await post('/r/public/retag/-/retag', 'ann', { digest: image.digest, tag: '-bad' })).status, 400);
      const res = await post('/r/public/retag/-/retag', 'ann', { digest: image.digest, tag: 'two' });
      assert.equal(res.status, 303);
      assert.equal((await app.ann.req('HEAD', '/v2/public/retag/manifests/two')).headers.get('docker-content-digest'), image.digest);
      await new Promise((r) => setTimeout(r, 30));
      const tags = await json<TagList>(await app.get('/api/v1/repositories/public/retag/tags', 'ann'));
      assert.deepEqual(tags.tags.map((t) => t.name).sort(), ['one', 'two']);
    });
  });

  describe('uploads', () => {
    const upload = (user: string | undefined, fields: Record<string, string>, files: { name: string; data: Buffer | string; type?: string }[], headers: Record<string, string> = {}) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      for (const f of files) form.append('files', new Blob([typeof f.data === 'string' ? f.data : new Uint8Array(f.data)], { type: f.type ?? 'application/octet-stream' }), f.name);
      return app.get('/upload', user, { method: 'POST', body: form, headers });
    };

    it('turns a chart package into a Helm OCI artifact tagged with its version', async () => {
      const tgz = await makeChart({ name: 'uploaded', version: '3.1.0+build.7', appVersion: '9', readme: '# Uploaded' });
      const res = await upload('ann', { kind: 'chart', namespace: 'charts' }, [{ name: 'uploaded-3.1.0.tgz', data: tgz, type: 'application/gzip' }]);
      assert.equal(res.status, 303, await res.clone().text());
      assert.equal(res.headers.get('location'), '/artifacts/r/charts/uploaded?pushed=3.1.0_build.7');
      const manifest = (await (await app.ann.req('GET', '/v2/charts/uploaded/manifests/3.1.0_build.7')).json()) as { config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string; size: number }[] };
      assert.equal(manifest.config.mediaType, HELM_CONFIG);
      assert.equal(manifest.layers[0]?.mediaType, HELM_LAYER);
      const layer = Buffer.from(await (await app.ann.req('GET', `/v2/charts/uploaded/blobs/${manifest.layers[0]?.digest ?? ''}`)).arrayBuffer());
      assert.ok(layer.equals(tgz), 'the layer is the uploaded package');
      const config = (await (await app.ann.req('GET', `/v2/charts/uploaded/blobs/${manifest.config.digest}`)).json()) as Record<string, unknown>;
      assert.deepEqual({ name: config.name, version: config.version, appVersion: config.appVersion }, { name: 'uploaded', version: '3.1.0+build.7', appVersion: '9' });
      await new Promise((r) => setTimeout(r, 30));
      assert.match(await text(await app.get('/r/charts/uploaded?pushed=3.1.0_build.7', 'ann')), /Pushed <strong>3\.1\.0_build\.7<\/strong>/);
      const index = parse(await text(await app.get('/helm/charts/index.yaml'))) as { entries: Record<string, { version: string }[]> };
      assert.deepEqual(index.entries.uploaded?.map((e) => e.version), ['3.1.0+build.7']);
      assert.deepEqual(await watched.leftovers(), []);
    });

    it('turns files into an OCI artifact with the chosen artifact type and tag', async () => {
      const res = await upload('ann', { kind: 'files', repository: 'public/files', tag: 'v1', artifactType: 'application/vnd.example.bundle.v1' }, [
        { name: 'a.txt', data: 'hello', type: 'text/plain' },
        { name: 'b.bin', data: Buffer.from([0, 1, 2]) },
      ]);
      assert.equal(res.status, 303, await res.clone().text());
      const manifest = (await (await app.ann.req('GET', '/v2/public/files/manifests/v1')).json()) as { artifactType: string; config: { mediaType: string }; layers: { mediaType: string; size: number; annotations: Record<string, string> }[] };
      assert.equal(manifest.artifactType, 'application/vnd.example.bundle.v1');
      assert.equal(manifest.config.mediaType, 'application/vnd.oci.empty.v1+json');
      assert.deepEqual(manifest.layers.map((l) => [l.annotations['org.opencontainers.image.title'], l.mediaType, l.size]), [['a.txt', 'text/plain', 5], ['b.bin', 'application/octet-stream', 3]]);
      assert.deepEqual(await watched.leftovers(), []);
    });

    it('refuses an upload without permission, storing nothing', async () => {
      const before = (await json<RepoList>(await app.get('/api/v1/repositories', 'ann'))).repositories.length;
      const files = await upload('bob', { kind: 'files', repository: 'public/nope', tag: 'v1', artifactType: 'application/vnd.x.v1' }, [{ name: 'a.txt', data: 'x' }]);
      assert.equal(files.status, 403);
      assert.match(await files.text(), /You may not push to public\/nope/);
      const chart = await upload('bob', { kind: 'chart', namespace: 'charts' }, [{ name: 'c.tgz', data: await makeChart({ name: 'refused', version: '1.0.0' }) }]);
      assert.equal(chart.status, 403);
      const anonymous = await upload(undefined, { kind: 'chart', namespace: 'charts' }, [{ name: 'c.tgz', data: await makeChart({ name: 'refused', version: '1.0.0' }) }]);
      assert.equal(anonymous.status, 401);
      assert.equal((await app.ann.req('GET', '/v2/charts/refused/tags/list')).status, 404);
      assert.equal((await json<RepoList>(await app.get('/api/v1/repositories', 'ann'))).repositories.length, before);
      assert.deepEqual(await watched.leftovers(), []);
    });

    it('refuses files over the size limit, bad charts and cross-site posts, leaving nothing behind', async () => {
      const big = await upload('ann', { kind: 'files', repository: 'public/big', tag: 'v1', artifactType: 'application/vnd.x.v1' }, [{ name: 'big.bin', data: Buffer.alloc(100 * 1024, 1) }]);
      assert.equal(big.status, 413);
      assert.match(await big.text(), /larger than the limit/);
      const notGzip = await upload('ann', { kind: 'chart' }, [{ name: 'x.tgz', data: 'not a chart' }]);
      assert.equal(notGzip.status, 400);
      assert.match(await notGzip.text(), /not a gzip-compressed tar archive/);
      const noChartYaml = await upload('ann', { kind: 'chart' }, [{ name: 'x.tgz', data: await makeChart({ name: 'x', version: '1.0.0', top: 'other' }) }]);
      assert.equal(noChartYaml.status, 400);
      const tooMany = await upload('ann', { kind: 'files', repository: 'public/many', tag: 'v1' }, [1, 2, 3, 4].map((i) => ({ name: `${i}.txt`, data: 'x' })));
      assert.equal(tooMany.status, 413);
      const crossSite = await upload('ann', { kind: 'chart' }, [{ name: 'x.tgz', data: 'x' }], { origin: 'http://evil.example' });
      assert.equal(crossSite.status, 403);
      assert.equal((await app.ann.req('GET', '/v2/public/big/tags/list')).status, 404);
      assert.deepEqual(await watched.leftovers(), []);
    });

    it('leaves nothing behind when the client goes away mid-upload', async () => {
      const boundary = 'XyZ';
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nfiles\r\n--${boundary}\r\nContent-Disposition: form-data; name="repository"\r\n\r\npublic/aborted\r\n--${boundary}\r\nContent-Disposition: form-data; name="tag"\r\n\r\nv1\r\n--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
      const url = new URL(`${app.origin}/artifacts/upload`);
      await new Promise<void>((resolve) => {
        const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 10_000_000, 'x-user': 'ann' } });
        req.on('error', () => resolve());
        req.write(head);
        req.write(Buffer.alloc(20_000, 7));
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 200);
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await watched.leftovers(), []);
      assert.equal((await app.ann.req('GET', '/v2/public/aborted/tags/list')).status, 404);
    });
  });
});

describe('portal at scale and on Express 4', () => {
  it('lists, filters and sorts 10,000 repositories quickly', async () => {
    const storage = memoryStorage();
    const body = Buffer.from('{}');
    for (let i = 0; i < 10_000; i++) {
      const name = `team${i % 100}/app${i}`;
      const digest = `sha256:${i.toString(16).padStart(64, '0')}` as const;
      await storage.manifests.put(name, { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2, body, references: [], artifactType: i % 10 === 0 ? HELM_CONFIG : 'application/vnd.oci.image.config.v1+json' });
      await storage.tags.put(name, 'v1', digest);
    }
    const app = await startPortalApp({}, storage);
    try {
      let started = performance.now();
      await app.portal.init();
      const built = performance.now() - started;
      const timings: Record<string, number> = {};
      for (const path of ['/', '/?sort=pushed', '/?q=app99&type=helm', '/api/v1/repositories?n=1000&sort=pushed&order=asc', '/api/v1/repositories?prefix=team42/']) {
        started = performance.now();
        const res = await app.get(path, 'ann');
        await res.arrayBuffer();
        assert.equal(res.status, 200, path);
        timings[path] = Math.round(performance.now() - started);
      }
      const helm = await (await app.get('/api/v1/repositories?type=helm&n=1000', 'ann')).json() as RepoList;
      assert.equal(helm.repositories.length, 1000);
      console.log(`# 10,000 repositories: index built in ${Math.round(built)} ms; requests (ms): ${JSON.stringify(timings)}`);
      for (const [path, ms] of Object.entries(timings)) assert.ok(ms < 1500, `${path} took ${ms} ms`);
    } finally {
      await app.close();
    }
  });

  it('mounts under Express 4 with the same pages', async () => {
    const registry = createRegistry({ storage: memoryStorage(), authorize });
    const portal = createPortal({ registry, authorize });
    const app = express4();
    app.use(registry);
    app.use('/portal', portal);
    app.get('/hello', (_req, res) => res.send('host'));
    const served = await listen(app);
    try {
      const client = new Client(served.origin, '', { 'x-user': 'ann' });
      await client.pushImage('public/e4', { tag: 'v1', seed: 'e4' });
      await new Promise((r) => setTimeout(r, 30));
      const page = await (await fetch(`${served.origin}/portal/`, { headers: { 'x-user': 'ann' } })).text();
      assert.match(page, /href="\/portal\/r\/public\/e4"/);
      assert.match(await (await fetch(`${served.origin}/portal/r/public/e4`, { headers: { 'x-user': 'ann' } })).text(), /docker pull/);
      assert.equal(await (await fetch(`${served.origin}/hello`)).text(), 'host');
    } finally {
      portal.close();
      await served.close();
    }
  });

  it('validates its options with clear errors', () => {
    const registry = createRegistry({ storage: memoryStorage(), authorize });
    createPortal({ registry }); // the registry's own answers by default
    assert.throws(() => createPortal({ registry, authorize: 'yes' as never }), /`authorize` must be a function/);
    assert.throws(() => createPortal({ registry, authorize, titel: 'x' } as never), /unknown option "titel"/);
    assert.throws(() => createPortal({ registry, authorize, theme: { accent: 'red; }' } }), /theme/);
    assert.throws(() => createPortal({ registry, authorize, publicPath: '/a/' }), /publicPath/);
    assert.throws(() => createPortal({ registry: {} as never, authorize }), /`registry` must be/);
  });
});
