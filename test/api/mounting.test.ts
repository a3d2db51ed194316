import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import express4 from 'express4';
import { allowAll, createRegistry, memoryStorage, type RegistryOptions } from '../../lib/index.js';
import { bytesOf, Client, digestOf, listen, OCI_MANIFEST, type Served, withQuery } from './helpers.js';

type ExpressFactory = typeof express;

const flavours: [string, ExpressFactory][] = [
  ['Express 5', express],
  ['Express 4', express4],
];

interface Mounted {
  served: Served;
  client: Client;
}

/**
 * A host app: optional middleware first, then the registry (at `mountPath` or the root), then the
 * host's own route `GET /hello`.
 */
async function mount(
  factory: ExpressFactory,
  opts: { mountPath?: string; before?: (app: ReturnType<ExpressFactory>) => void; registry?: Partial<RegistryOptions> } = {},
): Promise<Mounted> {
  const app = factory();
  opts.before?.(app);
  const registry = createRegistry({ storage: memoryStorage(), authorize: allowAll, ...opts.registry });
  if (opts.mountPath) app.use(opts.mountPath, registry);
  else app.use(registry);
  app.get('/hello', (_req, res) => {
    res.type('text/plain').send('host route');
  });
  const served = await listen(app);
  return { served, client: new Client(served.origin, opts.mountPath ?? '') };
}

/** The core push/pull flow; `expectPrefix` is what every Location and Link must start with. */
async function coreFlow(client: Client, expectPrefix: string, follow: (location: string) => string = (l) => l): Promise<void> {
  const name = 'mnt/app';
  const ping = await client.req('GET', '/v2/');
  assert.equal(ping.status, 200);
  assert.equal(ping.headers.get('docker-distribution-api-version'), 'registry/2.0');
  await ping.arrayBuffer();

  // POST + PUT
  const layer = Buffer.from('layer bytes \u00e9\u0000\u00ff', 'latin1');
  const post = await client.req('POST', `/v2/${name}/blobs/uploads/`);
  assert.equal(post.status, 202);
  const session = post.headers.get('location') ?? '';
  assert.ok(session.startsWith(`${expectPrefix}/v2/${name}/blobs/uploads/`), session);
  const put = await client.at('PUT', withQuery(follow(session), { digest: digestOf(layer) }), {
    body: layer,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  assert.equal(put.status, 201, await put.clone().text());
  assert.equal(put.headers.get('location'), `${expectPrefix}/v2/${name}/blobs/${digestOf(layer)}`);
  const got = await client.at('GET', follow(put.headers.get('location') ?? ''));
  assert.equal(got.status, 200);
  assert.deepEqual(await bytesOf(got), layer);

  // chunked PATCH + empty PUT
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const post2 = await client.req('POST', `/v2/${name}/blobs/uploads/`);
  const session2 = follow(post2.headers.get('location') ?? '');
  const patch = await client.at('PATCH', session2, {
    body: config,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${config.length - 1}` },
  });
  assert.equal(patch.status, 202, await patch.clone().text());
  assert.equal(patch.headers.get('range'), `0-${config.length - 1}`);
  assert.ok((patch.headers.get('location') ?? '').startsWith(`${expectPrefix}/v2/`));
  const close = await client.at('PUT', withQuery(session2, { digest: digestOf(config) }));
  assert.equal(close.status, 201, await close.clone().text());

  // manifest by tag
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
    }),
  );
  const mput = await client.req('PUT', `/v2/${name}/manifests/v1`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
  assert.equal(mput.status, 201, await mput.clone().text());
  assert.equal(mput.headers.get('location'), `${expectPrefix}/v2/${name}/manifests/${digestOf(manifest)}`);
  const mget = await client.at('GET', follow(mput.headers.get('location') ?? ''));
  assert.equal(mget.status, 200);
  assert.equal(mget.headers.get('content-type'), OCI_MANIFEST);
  assert.deepEqual(await bytesOf(mget), manifest);
  const bytag = await client.req('GET', `/v2/${name}/manifests/v1`);
  assert.deepEqual(await bytesOf(bytag), manifest);

  // tags Link
  await client.req('PUT', `/v2/${name}/manifests/v2`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
  const tags = await client.req('GET', `/v2/${name}/tags/list?n=1`);
  assert.equal(tags.headers.get('link'), `<${expectPrefix}/v2/${name}/tags/list?n=1&last=v1>; rel="next"`);
  assert.deepEqual(await tags.json(), { name, tags: ['v1'] });

  // mount Location
  const mounted = await client.req('POST', `/v2/mnt/other/blobs/uploads/?mount=${digestOf(layer)}&from=${name}`);
  assert.equal(mounted.status, 201);
  assert.equal(mounted.headers.get('location'), `${expectPrefix}/v2/mnt/other/blobs/${digestOf(layer)}`);
}

for (const [flavour, factory] of flavours) {
  describe(`mounting in ${flavour}`, () => {
    describe('at the root', () => {
      let m: Mounted;
      before(async () => {
        m = await mount(factory);
      });
      after(() => m.served.close());

      it('serves the core push/pull flow with /v2/ Locations', async () => {
        await coreFlow(m.client, '');
      });

      it('/v2 without a slash answers, unknown /v2 paths get a JSON 404', async () => {
        assert.equal((await m.client.req('GET', '/v2')).status, 200);
        const res = await m.client.req('GET', '/v2/a/b/c');
        assert.equal(res.status, 404);
        assert.equal(res.headers.get('content-type'), 'application/json');
        await res.arrayBuffer();
      });

      it('other paths fall through to the host app', async () => {
        const res = await m.client.req('GET', '/hello');
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'host route');
      });
    });

    describe("at /v2: app.use('/v2', registry)", () => {
      let m: Mounted;
      before(async () => {
        m = await mount(factory, { mountPath: '/v2' });
      });
      after(() => m.served.close());

      it('serves the core flow at the host root with Locations starting with /v2/', async () => {
        // Express cuts /v2 off the path; the registry still answers /v2/… and builds /v2/… Locations
        await coreFlow(new Client(m.served.origin, ''), '');
      });

      it('answers /v2 without a slash and leaves /hello to the host', async () => {
        const client = new Client(m.served.origin, '');
        const bare = await client.req('GET', '/v2');
        assert.equal(bare.status, 200);
        await bare.arrayBuffer();
        assert.equal(await (await client.req('GET', '/hello')).text(), 'host route');
      });
    });

    describe("under a prefix: app.use('/reg', registry)", () => {
      let m: Mounted;
      before(async () => {
        m = await mount(factory, { mountPath: '/reg' });
      });
      after(() => m.served.close());

      it('serves the core flow with Locations starting with /reg/v2/', async () => {
        await coreFlow(m.client, '/reg');
      });

      it('/v2/ at the host root is not the registry; /hello still is the host', async () => {
        const root = await m.client.at('GET', '/v2/');
        assert.equal(root.status, 404);
        assert.notEqual(root.headers.get('content-type'), 'application/json');
        assert.equal(root.headers.get('docker-distribution-api-version'), null);
        await root.arrayBuffer();
        const hello = await m.client.at('GET', '/hello');
        assert.equal(await hello.text(), 'host route');
        const other = await m.client.at('GET', '/reg/other');
        assert.equal(other.status, 404);
        assert.equal(other.headers.get('docker-distribution-api-version'), null);
        await other.arrayBuffer();
      });
    });

    describe("under a prefix with publicPath: ''", () => {
      let m: Mounted;
      before(async () => {
        m = await mount(factory, { mountPath: '/reg', registry: { publicPath: '' } });
      });
      after(() => m.served.close());

      it('Locations and Links start with /v2/ (a proxy strips /reg)', async () => {
        // the test plays the proxy: /v2/… from a Location is reached at /reg/v2/…
        await coreFlow(m.client, '', (location) => `/reg${location}`);
      });
    });

    describe("with publicPath: '/registry' at the root", () => {
      let m: Mounted;
      before(async () => {
        m = await mount(factory, { registry: { publicPath: '/registry' } });
      });
      after(() => m.served.close());

      it('Locations start with /registry/v2/', async () => {
        await coreFlow(m.client, '/registry', (location) => location.replace(/^\/registry/, ''));
      });
    });

    describe('after host body parsers: express.json(), express.urlencoded(), express.raw()', () => {
      let m: Mounted;
      before(async () => {
        m = await mount(factory, {
          before: (app) => {
            app.use(factory.json());
            app.use(factory.urlencoded({ extended: false }));
            app.use(factory.raw());
          },
        });
      });
      after(() => m.served.close());

      it('the core flow works (blob bytes and manifest bytes round-trip exactly)', async () => {
        await coreFlow(m.client, '');
      });

      it('a 50 KB blob pushed with application/octet-stream round-trips (below raw()’s 100kb default limit)', async () => {
        const data = Buffer.alloc(50 * 1024);
        for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) % 256;
        const location = await m.client.startUpload('parsed/big');
        const put = await m.client.at('PUT', withQuery(location, { digest: digestOf(data) }), {
          body: data,
          headers: { 'Content-Type': 'application/octet-stream' },
        });
        assert.equal(put.status, 201, await put.clone().text());
        const get = await m.client.req('GET', `/v2/parsed/big/blobs/${digestOf(data)}`);
        assert.deepEqual(await bytesOf(get), data);
      });

      it('a single POST ?digest= with application/octet-stream works', async () => {
        const data = Buffer.from('single post through raw()');
        const res = await m.client.req('POST', `/v2/parsed/post/blobs/uploads/?digest=${digestOf(data)}`, {
          body: data,
          headers: { 'Content-Type': 'application/octet-stream' },
        });
        assert.equal(res.status, 201, await res.clone().text());
        assert.deepEqual(await bytesOf(await m.client.req('GET', `/v2/parsed/post/blobs/${digestOf(data)}`)), data);
      });

      it('a manifest that express.json() parsed answers 400 MANIFEST_INVALID naming the cause', async () => {
        const res = await m.client.req('PUT', '/v2/parsed/json/manifests/v1', {
          body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: digestOf(Buffer.from('x')), size: 1 }, layers: [] }),
          headers: { 'Content-Type': 'application/json' },
        });
        assert.equal(res.status, 400);
        const body = (await res.json()) as { errors: { code: string; message: string }[] };
        assert.equal(body.errors[0]?.code, 'MANIFEST_INVALID');
        assert.match(body.errors[0]?.message ?? '', /body parser/);
      });

      it('an empty closing PUT with Content-Type application/octet-stream works', async () => {
        const data = Buffer.from('patched then closed');
        const location = await m.client.startUpload('parsed/empty-put');
        const patch = await m.client.at('PATCH', location, {
          body: data,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${data.length - 1}` },
        });
        assert.equal(patch.status, 202, await patch.clone().text());
        const put = await m.client.at('PUT', withQuery(location, { digest: digestOf(data) }), {
          body: Buffer.alloc(0),
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': '0' },
        });
        assert.equal(put.status, 201, await put.clone().text());
      });
    });
  });
}
