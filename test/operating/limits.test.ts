/**
 * Rate limits: 429 with berth's error envelope and Retry-After, per caller (a proven name, else the
 * client address), only on the expensive endpoints, and shared counts through an express-rate-limit store.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import express from 'express';
import type { ClientRateLimitInfo, Store } from 'express-rate-limit';
import { type RateLimitOptions, allowAll, createRegistry, memoryStorage, rateLimits } from '../../lib/index.js';
import { Client, digestOf, listen, withQuery } from '../api/helpers.js';

const byHeader = (req: IncomingMessage) => (typeof req.headers['x-user'] === 'string' ? req.headers['x-user'] : undefined);

async function start(options: RateLimitOptions, mount = '') {
  const registry = createRegistry({ storage: memoryStorage(), authorize: allowAll });
  const limits = rateLimits(options);
  const app = express();
  if (mount === '') {
    app.use(limits.registry);
    app.use(registry);
  } else {
    app.use(mount, limits.registry);
    app.use(mount, registry);
  }
  app.all('/token', limits.token, (_req, res) => {
    res.json({ token: 'a token' });
  });
  const served = await listen(app);
  return { client: new Client(served.origin), origin: served.origin, close: () => served.close() };
}

describe('rate limits', () => {
  it("past the limit: 429 TOOMANYREQUESTS in berth's envelope, with Retry-After; per caller", async () => {
    const t = await start({ limits: { uploads: 2 }, identify: byHeader });
    try {
      const as = (user: string) => ({ headers: { 'X-User': user } });
      for (let i = 0; i < 2; i++) assert.equal((await t.client.req('POST', '/v2/l/a/blobs/uploads/', as('ann'))).status, 202);
      const refused = await t.client.req('POST', '/v2/l/a/blobs/uploads/', as('ann'));
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get('content-type'), 'application/json');
      assert.equal(refused.headers.get('docker-distribution-api-version'), 'registry/2.0');
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`);
      const body = (await refused.json()) as { errors: { code: string; message: string }[] };
      assert.deepEqual(Object.keys(body), ['errors']);
      assert.equal(body.errors.length, 1);
      assert.deepEqual(Object.keys(body.errors[0]!), ['code', 'message']);
      assert.equal(body.errors[0]!.code, 'TOOMANYREQUESTS');
      assert.match(body.errors[0]!.message, /retry after \d+ seconds/);
      // another caller, and anonymous callers (by address), have their own counts
      assert.equal((await t.client.req('POST', '/v2/l/a/blobs/uploads/', as('bob'))).status, 202);
      assert.equal((await t.client.req('POST', '/v2/l/a/blobs/uploads/')).status, 202);
      assert.equal((await t.client.req('POST', '/v2/l/a/blobs/uploads/')).status, 202);
      assert.equal((await t.client.req('POST', '/v2/l/a/blobs/uploads/')).status, 429);
      // other requests are not counted and not refused
      assert.equal((await t.client.req('GET', '/v2/', as('ann'))).status, 200);
      assert.equal((await t.client.req('GET', '/v2/l/a/tags/list', as('ann'))).status, 404, 'an unknown repository, not a refusal');
    } finally {
      await t.close();
    }
  });

  it('a refused upload that carries a body: the client reads the 429, then the connection closes', async () => {
    const t = await start({ limits: { uploads: 1 } });
    try {
      const data = Buffer.alloc(200_000, 1);
      const path = withQuery('/v2/l/body/blobs/uploads/', { digest: digestOf(data) });
      assert.equal((await t.client.raw('POST', path, { 'Content-Length': data.length }, data)).status, 201);
      const refused = await t.client.raw('POST', path, { 'Content-Length': data.length }, data);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.connection, 'close');
      assert.equal((JSON.parse(refused.body.toString()) as { errors: { code: string }[] }).errors[0]?.code, 'TOOMANYREQUESTS');
    } finally {
      await t.close();
    }
  });

  it('catalog pages and token requests have their own limits; the token refusal has the token endpoint’s shape', async () => {
    const t = await start({ limits: { catalog: 1, token: 2, uploads: false } });
    try {
      assert.equal((await t.client.req('GET', '/v2/_catalog')).status, 200);
      const catalog = await t.client.req('GET', '/v2/_catalog?n=10');
      assert.equal(catalog.status, 429);
      assert.equal(((await catalog.json()) as { errors: { code: string }[] }).errors[0]?.code, 'TOOMANYREQUESTS');
      for (let i = 0; i < 5; i++) assert.equal((await t.client.req('POST', '/v2/l/free/blobs/uploads/')).status, 202, 'uploads: unlimited');
      for (let i = 0; i < 2; i++) assert.equal((await fetch(`${t.origin}/token?service=x`)).status, 200);
      const token = await fetch(`${t.origin}/token?service=x`);
      assert.equal(token.status, 429);
      assert.ok(Number(token.headers.get('retry-after')) >= 1);
      const body = (await token.json()) as { error: string; errors: { code: string }[] };
      assert.equal(body.error, 'too_many_requests');
      assert.equal(body.errors[0]?.code, 'TOOMANYREQUESTS');
    } finally {
      await t.close();
    }
  });

  it('works under app.use("/v2", …) as the registry does', async () => {
    const t = await start({ limits: { catalog: 1 } }, '/v2');
    try {
      assert.equal((await t.client.req('GET', '/v2/_catalog')).status, 200);
      assert.equal((await t.client.req('GET', '/v2/_catalog')).status, 429);
    } finally {
      await t.close();
    }
  });

  it('instances share counts through a store (as a Redis or Mongo store for express-rate-limit would)', async () => {
    // one "server" of counts, one store object per instance and endpoint (express-rate-limit refuses a store shared by two limiters)
    const counts = new Map<string, number>();
    const store = (endpoint: string): Store => ({
      prefix: `${endpoint}:`,
      increment: (key): ClientRateLimitInfo => {
        const n = (counts.get(`${endpoint}:${key}`) ?? 0) + 1;
        counts.set(`${endpoint}:${key}`, n);
        return { totalHits: n, resetTime: new Date(Date.now() + 30_000) };
      },
      decrement: (key) => void counts.set(`${endpoint}:${key}`, (counts.get(`${endpoint}:${key}`) ?? 1) - 1),
      resetKey: (key) => void counts.delete(`${endpoint}:${key}`),
    });
    const a = await start({ limits: { uploads: 3 }, identify: byHeader, store });
    const b = await start({ limits: { uploads: 3 }, identify: byHeader, store });
    try {
      const as = { headers: { 'X-User': 'ci' } };
      assert.equal((await a.client.req('POST', '/v2/l/shared/blobs/uploads/', as)).status, 202);
      assert.equal((await b.client.req('POST', '/v2/l/shared/blobs/uploads/', as)).status, 202);
      assert.equal((await a.client.req('POST', '/v2/l/shared/blobs/uploads/', as)).status, 202);
      const refused = await b.client.req('POST', '/v2/l/shared/blobs/uploads/', as);
      assert.equal(refused.status, 429);
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter >= 29 && retryAfter <= 30, `from the store's reset time: ${retryAfter}`);
      assert.equal(counts.get('uploads:user:ci'), 4);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses bad options', () => {
    assert.throws(() => rateLimits({ limits: { upload: 3 } as never }), /unknown endpoint `limits.upload`/);
    assert.throws(() => rateLimits({ limits: { uploads: 0 } }), /positive integer or false/);
    assert.throws(() => rateLimits({ windowMs: 10 }), /windowMs/);
    assert.throws(() => rateLimits({ max: 3 } as never), /unknown option `max`/);
  });
});
