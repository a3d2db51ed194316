/**
 * Health and readiness: liveness always answers; readiness answers 200 while the store does and 503
 * (without the store's error) when it throws, hangs or cannot start.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Logger, type Storage, allowAll, createRegistry, healthHandler, memoryStorage, readinessHandler } from '../../lib/index.js';
import { listen } from '../api/helpers.js';

const logged: unknown[] = [];
const logger: Logger = { warn: (obj) => void logged.push(obj), error: (obj) => void logged.push(obj) };

async function ask(handler: ReturnType<typeof healthHandler>, method = 'GET') {
  const served = await listen(handler);
  try {
    const res = await fetch(served.origin, { method });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } finally {
    await served.close();
  }
}

function broken(change: (s: Storage) => void): Storage {
  const storage = memoryStorage();
  change(storage);
  return storage;
}

describe('health and readiness', () => {
  it('liveness: 200 {"status":"ok"}, even when the store is down', async () => {
    const registry = createRegistry({ storage: broken((s) => (s.repositories.list = () => Promise.reject(new Error('down')))), authorize: allowAll });
    const res = await ask(healthHandler(registry));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(JSON.parse(res.text), { status: 'ok' });
    assert.equal((await ask(healthHandler(), 'HEAD')).text, '');
  });

  it('readiness: 200 while the store answers', async () => {
    const registry = createRegistry({ storage: memoryStorage(), authorize: allowAll });
    const res = await ask(readinessHandler(registry));
    assert.equal(res.status, 200);
    const body = JSON.parse(res.text) as { status: string; store: { durationMs: number } };
    assert.equal(body.status, 'ready');
    assert.equal(typeof body.store.durationMs, 'number');
  });

  it('readiness: 503 when the store throws, without the error in the answer; the error is logged', async () => {
    logged.length = 0;
    const registry = createRegistry({ storage: broken((s) => (s.repositories.list = () => Promise.reject(new Error('ECONNREFUSED 10.0.0.7:27017 /secret/path')))), authorize: allowAll });
    const res = await ask(readinessHandler(registry, { logger }));
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.deepEqual(JSON.parse(res.text), { status: 'unavailable', reason: 'the store failed' });
    assert.ok(!res.text.includes('secret'));
    assert.equal(logged.length, 1);
  });

  it('readiness: 503 when the store does not answer in time, or cannot start', async () => {
    const hanging = createRegistry({ storage: broken((s) => (s.repositories.list = () => new Promise(() => undefined))), authorize: allowAll });
    const started = Date.now();
    const slow = await ask(readinessHandler(hanging, { timeout: 100, logger }));
    assert.equal(slow.status, 503);
    assert.ok(Date.now() - started < 2000);
    assert.match((JSON.parse(slow.text) as { reason: string }).reason, /did not answer within 100 ms/);
    const unstartable = createRegistry({ storage: broken((s) => (s.init = () => Promise.reject(new Error('no database')))), authorize: allowAll });
    assert.equal((await ask(readinessHandler(unstartable, { logger }))).status, 503);
  });

  it('refuses bad options', () => {
    const registry = createRegistry({ storage: memoryStorage(), authorize: allowAll });
    assert.throws(() => readinessHandler(registry, { timeout: 0 }), /timeout/);
    assert.throws(() => readinessHandler({} as never), /pass the registry/);
  });
});
