/**
 * What the mirror must do whatever the upstream is: run against berth (npm test) and CNCF
 * Distribution (scripts/ci-mirror.sh). Every count is taken at the fault proxy in front of upstream.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../lib/index.js';
import { OCI_MANIFEST, assertError, bytesOf, digestOf, makeStore, type StoreFixture } from '../api/helpers.js';
import { type TestMirror, type Upstream, eventually, sleep, startMirror } from './fixtures.js';

const ACCEPT = { Accept: OCI_MANIFEST };
const MiB = 1024 * 1024;

/** Reads a blob over raw HTTP, reporting the bytes as they arrive and whether the transfer completed. */
function download(origin: string, path: string, onBytes: (total: number) => void = () => undefined): Promise<{ status: number; body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${origin}${path}`, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        total += chunk.length;
        onBytes(total);
      });
      res.on('error', () => undefined);
      res.on('close', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), complete: res.complete }));
    });
    req.on('error', reject);
  });
}

export function mirrorScenarios(label: string, start: () => Promise<Upstream>): void {
  describe(`mirror scenarios against ${label}`, () => {
    let upstream: Upstream;
    let mirror: TestMirror;
    let store: StoreFixture;
    let n = 0;
    /** A fresh repository name per test, so counts start at zero. */
    const repo = () => `scenario/r${++n}-${Date.now().toString(36)}`;

    before(async () => {
      upstream = await start();
      store = await makeStore('fs');
      mirror = await startMirror([{ prefix: 'up/', url: upstream.proxy.origin, credentials: upstream.credentials, tagTtl: 200, revalidateTimeout: 500, timeout: 3000 }], {
        storage: store.storage,
      });
    });
    after(async () => {
      await mirror.close();
      await upstream.close();
      await store.cleanup();
    });

    it('16 concurrent pulls of one cold image: one upstream fetch per manifest and per blob, every pull whole', async () => {
      const name = repo();
      const layers = [randomBytes(3 * MiB), randomBytes(2 * MiB), randomBytes(64 * 1024)];
      const image = await upstream.seed.pushImage(name, { tag: 'cold', layers });
      const pull = async () => {
        const res = await mirror.client.req('GET', `/v2/up/${name}/manifests/cold`, { headers: ACCEPT });
        assert.equal(res.status, 200);
        const manifest = JSON.parse((await bytesOf(res)).toString()) as { config: { digest: string }; layers: { digest: string }[] };
        await Promise.all(
          [manifest.config, ...manifest.layers].map(async ({ digest }) => {
            const blob = await mirror.client.req('GET', `/v2/up/${name}/blobs/${digest}`);
            assert.equal(blob.status, 200);
            assert.equal(digestOf(await bytesOf(blob)), digest);
          }),
        );
      };
      await Promise.all(Array.from({ length: 16 }, pull));
      assert.equal(upstream.proxy.count('GET', new RegExp(`${name}/manifests/`)), 1, 'one manifest fetch');
      for (const blob of [image.config, ...image.layers]) {
        assert.equal(upstream.proxy.count('GET', new RegExp(`${name}/blobs/${blob.digest}$`)), 1, `one fetch of ${blob.digest}`);
      }
      await eventually(async () => mirror.storage.links.has(`up/${name}`, image.layers[0]!.digest as Digest), 10_000, 'the layer cached');
    });

    it('upstream stopped mid-blob: the client got bytes before upstream finished, the partial blob never becomes visible, the next request refetches', async () => {
      const name = repo();
      const layer = randomBytes(4 * MiB);
      const image = await upstream.seed.pushImage(name, { tag: 'v1', layers: [layer] });
      const digest = image.layers[0]!.digest as Digest;
      assert.equal((await mirror.client.req('GET', `/v2/up/${name}/manifests/v1`, { headers: ACCEPT })).status, 200);

      upstream.proxy.faults.holdAfter = (req) => (req.url?.includes(digest) ? MiB : undefined);
      let streaming: () => void = () => undefined;
      const gotBytes = new Promise<void>((resolve) => (streaming = resolve));
      const transfer = download(mirror.served.origin, `/v2/up/${name}/blobs/${digest}`, (total) => total >= MiB / 2 && streaming());
      await gotBytes; // half a MiB reached the client while upstream still holds 3 MiB back
      await upstream.proxy.stop();
      const cut = await transfer;
      assert.equal(cut.status, 200);
      assert.equal(cut.complete, false, 'the client sees a cut transfer, not a short blob');
      assert.ok(cut.body.length < layer.length);
      assert.ok(mirror.logged.has(/blob transfer from upstream failed/));
      await sleep(100);
      assert.equal(await mirror.storage.blobs.stat(digest), undefined, 'nothing stored');
      assert.equal(await mirror.storage.links.has(`up/${name}`, digest), false);
      // still down: an error, never a partial blob
      await assertError(await mirror.client.req('GET', `/v2/up/${name}/blobs/${digest}`), 503, 'UNAVAILABLE');

      upstream.proxy.faults = {};
      await upstream.proxy.start();
      const again = await mirror.client.req('GET', `/v2/up/${name}/blobs/${digest}`);
      assert.equal(again.status, 200);
      assert.ok((await bytesOf(again)).equals(layer));
      assert.equal(upstream.proxy.count('GET', new RegExp(`blobs/${digest}$`)), 2, 'fetched again');
      await eventually(async () => (await mirror.storage.blobs.stat(digest)) !== undefined, 5000, 'the blob stored');
    });

    it('upstream answering 429: cached content is served (and the failure logged), a miss gets 429 with Retry-After, upstream is left alone meanwhile', async () => {
      const name = repo();
      const cached = await upstream.seed.pushImage(name, { tag: 'cached', layers: ['rate-limited layer'] });
      const uncached = await upstream.seed.pushImage(name, { tag: 'uncached' });
      assert.equal((await mirror.client.req('GET', `/v2/up/${name}/manifests/cached`, { headers: ACCEPT })).status, 200);
      assert.equal((await mirror.client.req('GET', `/v2/up/${name}/blobs/${cached.layers[0]!.digest}`)).status, 200);
      await eventually(async () => mirror.storage.links.has(`up/${name}`, cached.layers[0]!.digest as Digest), 5000, 'the layer cached');

      upstream.proxy.faults.status = () => 429;
      await sleep(250); // past the tag TTL
      const seen = upstream.proxy.seen.length;
      const res = await mirror.client.req('GET', `/v2/up/${name}/manifests/cached`, { headers: ACCEPT });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), cached.digest);
      assert.equal(upstream.proxy.seen.length, seen + 1, 'one HEAD asked');
      assert.ok(mirror.logged.has(/did not confirm a cached tag; serving the cached copy/));
      assert.equal((await bytesOf(await mirror.client.req('GET', `/v2/up/${name}/blobs/${cached.layers[0]!.digest}`))).toString(), 'rate-limited layer');
      // within Retry-After: nothing goes upstream, a miss answers 429 at once
      await sleep(250);
      assert.equal((await mirror.client.req('GET', `/v2/up/${name}/manifests/cached`, { headers: ACCEPT })).status, 200);
      const miss = await mirror.client.req('GET', `/v2/up/${name}/manifests/${uncached.digest}`, { headers: ACCEPT });
      await assertError(miss, 429, 'TOOMANYREQUESTS');
      assert.ok(Number(miss.headers.get('retry-after')) >= 1);
      assert.equal(upstream.proxy.seen.length, seen + 1, 'upstream left alone during its Retry-After');
      // after it, a miss asks upstream and passes the 429 on
      await sleep(1100);
      await assertError(await mirror.client.req('GET', `/v2/up/${name}/manifests/uncached`, { headers: ACCEPT }), 429, 'TOOMANYREQUESTS');
      upstream.proxy.faults = {};
      await sleep(1100);
      assert.equal((await mirror.client.req('GET', `/v2/up/${name}/manifests/uncached`, { headers: ACCEPT })).status, 200);
    });

    it('upstream down or slow: the cached copy is served (and the failure logged); a miss is 503', async () => {
      const name = repo();
      const image = await upstream.seed.pushImage(name, { tag: 'v1' });
      await upstream.seed.pushImage(name, { tag: 'never-pulled' });
      assert.equal((await mirror.client.req('GET', `/v2/up/${name}/manifests/v1`, { headers: ACCEPT })).status, 200);

      upstream.proxy.faults.delay = () => 5000;
      await sleep(250);
      const started = Date.now();
      const slow = await mirror.client.req('GET', `/v2/up/${name}/manifests/v1`, { headers: ACCEPT });
      assert.equal(slow.status, 200);
      assert.ok(Date.now() - started < 2500, `served after the revalidation timeout, not after upstream (${Date.now() - started} ms)`);
      assert.ok(mirror.logged.has(/revalidating a cached tag failed; serving the cached copy/));
      upstream.proxy.faults = {};

      await upstream.proxy.stop();
      try {
        await sleep(250);
        const down = await mirror.client.req('GET', `/v2/up/${name}/manifests/v1`, { headers: ACCEPT });
        assert.equal(down.status, 200);
        assert.equal(down.headers.get('docker-content-digest'), image.digest);
        assert.equal((await mirror.client.req('GET', `/v2/up/${name}/manifests/${image.digest}`, { headers: ACCEPT })).status, 200);
        await assertError(await mirror.client.req('GET', `/v2/up/${name}/manifests/never-pulled`), 503, 'UNAVAILABLE');
        assert.ok(mirror.logged.has(/upstream unreachable for a manifest the cache lacks/));
      } finally {
        await upstream.proxy.start();
      }
    });

    it('content that does not match its digest is never stored', async () => {
      const name = repo();
      const image = await upstream.seed.pushImage(name, { tag: 'v1', layers: [randomBytes(256 * 1024)] });
      const digest = image.layers[0]!.digest as Digest;
      upstream.proxy.faults.corrupt = (req) => req.method === 'GET' && (req.url?.includes('/manifests/') === true || req.url?.includes(digest) === true);
      try {
        await assertError(await mirror.client.req('GET', `/v2/up/${name}/manifests/v1`, { headers: ACCEPT }), 503, 'UNAVAILABLE');
        assert.equal(await mirror.storage.manifests.stat(`up/${name}`, image.digest as Digest), undefined);
        const bad = await download(mirror.served.origin, `/v2/up/${name}/blobs/${digest}`);
        assert.equal(bad.complete, false, 'the transfer is cut before its last byte');
        await sleep(100);
        assert.equal(await mirror.storage.blobs.stat(digest), undefined);
        assert.ok(mirror.logged.has(/does not match its digest/));
      } finally {
        upstream.proxy.faults = {};
      }
      assert.equal((await mirror.client.req('GET', `/v2/up/${name}/manifests/v1`, { headers: ACCEPT })).status, 200);
      assert.equal(digestOf(await bytesOf(await mirror.client.req('GET', `/v2/up/${name}/blobs/${digest}`))), digest);
    });
  });
}
