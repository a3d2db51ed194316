/**
 * Webhooks end to end: a registry on a local port, pushes through HTTP, and a local receiver that
 * checks formats, signatures and filters, goes down and comes back, or never answers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  CLOUDEVENTS_TYPE,
  DISTRIBUTION_TYPE,
  type DeliveryQueue,
  type DeliveryRecord,
  type Logger,
  type WebhookEndpoint,
  type Webhooks,
  type WebhooksOptions,
  createWebhooks,
  fsQueue,
  memoryQueue,
  mongoQueue,
  verifyPayload,
} from '../../lib/index.js';
import { OCI_MANIFEST, type TestRegistry, startRegistry } from '../api/helpers.js';
import { Receiver, until } from './receiver.js';

const SECRET = 'a-webhook-secret-of-some-length';
const uri = process.env.MONGODB_URI;
const required = process.env.BERTH_REQUIRE_MONGODB === '1';

interface CloudEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: string;
  data: Record<string, unknown>;
}
interface Envelope {
  events: { id: string; timestamp: string; action: string; target: Record<string, unknown>; actor: { name?: string }; source: { addr?: string; instanceID?: string }; request: object }[];
}

const quiet = (): Logger & { warnings: { obj: unknown; msg?: string }[]; errors: { obj: unknown; msg?: string }[] } => {
  const warnings: { obj: unknown; msg?: string }[] = [];
  const errors: { obj: unknown; msg?: string }[] = [];
  return { warnings, errors, warn: (obj, msg) => void warnings.push({ obj, msg }), error: (obj, msg) => void errors.push({ obj, msg }) };
};

/** Fast retries for the tests. */
const FAST = { pollInterval: 20, retry: { minDelay: 20, maxDelay: 100 } } as const;

describe('webhooks', () => {
  let reg: TestRegistry;
  let receiver: Receiver;
  const open: Webhooks[] = [];
  const hooks = (options: Omit<WebhooksOptions, 'registry'>): Webhooks => {
    const w = createWebhooks({ registry: reg.registry, logger: quiet(), ...FAST, ...options });
    open.push(w);
    return w;
  };
  const endpoint = (e: Partial<WebhookEndpoint> = {}): WebhookEndpoint => ({ url: receiver.url, format: 'cloudevents', secret: SECRET, ...e });

  before(async () => {
    reg = await startRegistry({ authorize: (req) => ({ ...(req.headers['x-user'] && { identity: { name: String(req.headers['x-user']), secretClaim: 'x' } }), allowed: true }) });
  });
  after(() => reg.close());
  beforeEach(async () => {
    receiver = new Receiver();
    await receiver.up();
  });
  afterEach(async () => {
    for (const w of open.splice(0)) await w.close();
    await receiver.down();
  });

  it('CloudEvents 1.0, structured: attributes, the event as data, the caller by name only', async () => {
    hooks({ endpoints: [endpoint()], baseUrl: 'https://registry.example.com' });
    const image = await reg.pushImage('wh/ce', { tag: 'v1' }, );
    await until(() => receiver.received.length >= 4, 5000, 'four deliveries');
    const headers = receiver.received.map((r) => r.headers['content-type']);
    assert.ok(headers.every((h) => h === CLOUDEVENTS_TYPE));
    const events = receiver.json<CloudEvent>();
    assert.deepEqual(events.map((e) => e.type).sort(), ['berth.blob.pushed', 'berth.blob.pushed', 'berth.manifest.pushed', 'berth.tag.pushed']);
    const pushed = events.find((e) => e.type === 'berth.manifest.pushed')!;
    assert.equal(pushed.specversion, '1.0');
    assert.match(pushed.id, /^[0-9a-f-]{36}$/);
    assert.equal(pushed.source, 'https://registry.example.com');
    assert.equal(pushed.subject, `wh/ce@${image.digest}`);
    assert.ok(!Number.isNaN(Date.parse(pushed.time)));
    assert.equal(pushed.datacontenttype, 'application/json');
    // the request that caused it, for joining the event with the access log
    assert.match(String(pushed.data.requestId), /^[0-9a-f-]{36}$/);
    assert.deepEqual({ ...pushed.data, requestId: undefined }, {
      requestId: undefined,
      repository: 'wh/ce',
      digest: image.digest,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.oci.image.config.v1+json',
      size: image.body.length,
      tags: ['v1'],
      created: true,
    });
    const tag = events.find((e) => e.type === 'berth.tag.pushed')!;
    assert.equal(tag.subject, 'wh/ce:v1');
    // the caller's name, never the rest of its identity
    await reg.pushManifest('wh/ce', 'v2', image.body);
    await until(() => receiver.received.length >= 6, 5000, 'the retag');
    const retag = receiver.json<CloudEvent>().find((e) => e.subject === 'wh/ce:v2')!;
    assert.equal(retag.data.actor, undefined, 'anonymous');
    const res = await reg.req('DELETE', '/v2/wh/ce/manifests/v2', { headers: { 'X-User': 'ann' } });
    assert.equal(res.status, 202);
    await until(() => receiver.json<CloudEvent>().some((e) => e.type === 'berth.tag.deleted'), 5000, 'the delete');
    const deleted = receiver.json<CloudEvent>().find((e) => e.type === 'berth.tag.deleted')!;
    assert.deepEqual(deleted.data.actor, { name: 'ann' });
    assert.ok(!receiver.received.some((r) => r.body.includes('secretClaim')));
  });

  it("distribution's envelope: actions, targets, actor and source as distribution names them", async () => {
    hooks({ endpoints: [endpoint({ format: 'distribution' })], baseUrl: 'https://registry.example.com/' });
    const image = await reg.pushImage('wh/dist', { tag: 'v1' });
    await until(() => receiver.received.length >= 3, 5000, 'three deliveries');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(receiver.received.length, 3, 'blob, blob, manifest: the tag push is the manifest push');
    assert.ok(receiver.received.every((r) => r.headers['content-type'] === DISTRIBUTION_TYPE));
    const events = receiver.json<Envelope>().flatMap((e) => e.events);
    const manifest = events.find((e) => e.target.mediaType === OCI_MANIFEST)!;
    assert.equal(manifest.action, 'push');
    assert.deepEqual(manifest.target, {
      mediaType: OCI_MANIFEST,
      digest: image.digest,
      size: image.body.length,
      length: image.body.length,
      artifactType: 'application/vnd.oci.image.config.v1+json',
      repository: 'wh/dist',
      url: `https://registry.example.com/v2/wh/dist/manifests/${image.digest}`,
      tag: 'v1',
    });
    assert.deepEqual(manifest.actor, {});
    assert.equal(typeof manifest.source.addr, 'string');
    assert.match(manifest.source.instanceID ?? '', /^[0-9a-f-]{36}$/);
    const blob = events.find((e) => e.target.digest === image.config.digest)!;
    assert.equal(blob.action, 'push');
    assert.equal(blob.target.url, `https://registry.example.com/v2/wh/dist/blobs/${image.config.digest}`);

    // a mount, and deletes naming only what distribution names
    receiver.received.length = 0;
    const as = { headers: { 'X-User': 'bob' } };
    assert.equal((await reg.req('POST', `/v2/wh/other/blobs/uploads/?mount=${image.config.digest}&from=wh/dist`, as)).status, 201);
    assert.equal((await reg.req('DELETE', `/v2/wh/dist/manifests/${image.digest}`, as)).status, 202);
    await until(() => receiver.received.length >= 2, 5000, 'mount and delete');
    const [mount, deleted] = receiver.json<Envelope>().flatMap((e) => e.events);
    assert.equal(mount?.action, 'mount');
    assert.equal(mount.target.fromRepository, 'wh/dist');
    assert.deepEqual(mount.actor, { name: 'bob' });
    assert.equal(deleted?.action, 'delete');
    assert.deepEqual(deleted.target, { digest: image.digest, repository: 'wh/dist' });
  });

  it('a manifest pushed with several tags: one distribution event per tag, in one envelope', async () => {
    hooks({ endpoints: [endpoint({ format: 'distribution', filter: { actions: ['manifest.pushed'] } })] });
    const image = await reg.pushImage('wh/tags', { tag: 'v1' });
    await until(() => receiver.received.length >= 1, 5000, 'the push');
    receiver.received.length = 0;
    const res = await reg.req('PUT', `/v2/wh/tags/manifests/${image.digest}?tag=a&tag=b`, { body: image.body, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(res.status, 201);
    await until(() => receiver.received.length >= 1, 5000, 'the tagged push');
    const [envelope] = receiver.json<Envelope>();
    assert.deepEqual(envelope?.events.map((e) => e.target.tag), ['a', 'b']);
    assert.equal(new Set(envelope.events.map((e) => e.id)).size, 2);
  });

  it('signs every request: the HMAC of "<timestamp>.<body>" verifies; a wrong secret, a changed body or an old timestamp does not', async () => {
    hooks({ endpoints: [endpoint({ filter: { actions: ['manifest.pushed'] } })] });
    await reg.pushImage('wh/signed', { tag: 'v1' });
    await until(() => receiver.received.length >= 1, 5000, 'a delivery');
    const r = receiver.received[0]!;
    const signature = r.headers['x-berth-signature'] as string;
    const timestamp = r.headers['x-berth-timestamp'] as string;
    assert.match(signature, /^sha256=[0-9a-f]{64}$/);
    assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 10);
    assert.equal(verifyPayload({ secret: SECRET, body: r.body, signature, timestamp }), true);
    assert.equal(verifyPayload({ secret: ['an-old-secret-being-rotated', SECRET], body: Buffer.from(r.body), signature, timestamp }), true);
    assert.equal(verifyPayload({ secret: 'another-secret-entirely-wrong', body: r.body, signature, timestamp }), false);
    assert.equal(verifyPayload({ secret: SECRET, body: r.body.replace('wh/signed', 'wh/signee'), signature, timestamp }), false);
    assert.equal(verifyPayload({ secret: SECRET, body: r.body, signature, timestamp: String(Number(timestamp) - 1) }), false, 'the timestamp is signed');
    assert.equal(verifyPayload({ secret: SECRET, body: r.body, signature, timestamp, now: Date.now() + 301_000 }), false, 'a replay later');
    assert.equal(verifyPayload({ secret: SECRET, body: r.body, signature: undefined, timestamp }), false);
    const event = JSON.parse(r.body) as CloudEvent;
    assert.equal(r.headers['x-berth-event-id'], event.id);
    assert.equal(r.headers['x-berth-event'], 'manifest.pushed');
    assert.equal(r.headers['x-berth-attempt'], '1');
  });

  it('without a secret, nothing is signed; configured headers are sent', async () => {
    hooks({ endpoints: [{ url: receiver.url, format: 'cloudevents', headers: { Authorization: 'Bearer t0ken' }, filter: { actions: ['manifest.pushed'] } }] });
    await reg.pushImage('wh/plain', { tag: 'v1' });
    await until(() => receiver.received.length >= 1, 5000, 'a delivery');
    assert.equal(receiver.received[0]!.headers['x-berth-signature'], undefined);
    assert.equal(receiver.received[0]!.headers.authorization, 'Bearer t0ken');
  });

  it('filters by repository glob, event type and media type, per endpoint', async () => {
    hooks({
      endpoints: [
        endpoint({ name: 'charts', url: receiver.urlFor('/charts'), filter: { repositories: 'charts/**', actions: ['manifest.pushed'] } }),
        endpoint({ name: 'helm', url: receiver.urlFor('/helm'), filter: { mediaTypes: ['application/vnd.cncf.helm.*'] } }),
        endpoint({ name: 'deletes', url: receiver.urlFor('/deletes'), filter: { actions: ['tag.deleted', 'manifest.deleted'], repositories: ['apps/*'] } }),
        endpoint({ name: 'pulls', url: receiver.urlFor('/pulls'), filter: { actions: ['manifest.pulled'] } }),
      ],
    });
    await reg.pushImage('charts/a/b', { tag: '1.0.0' });
    await reg.pushImage('apps/web', { tag: 'v1' });
    await reg.pushImage('apps/chart', { tag: '0.1.0', artifactType: 'application/vnd.cncf.helm.config.v1+json' });
    assert.equal((await reg.req('DELETE', '/v2/apps/web/manifests/v1')).status, 202);
    await (await reg.req('GET', '/v2/apps/web/manifests/nothing')).arrayBuffer();
    await (await reg.req('GET', '/v2/charts/a/b/manifests/1.0.0')).arrayBuffer();
    await until(() => receiver.received.length >= 4, 5000, () => `four deliveries (got ${receiver.received.map((r) => r.path).join(' ')})`);
    await new Promise((r) => setTimeout(r, 150));
    const at = (path: string) => receiver.json<CloudEvent>(path).map((e) => `${e.type} ${e.subject.replace(/@sha256:.*/, '')}`);
    assert.deepEqual(at('/charts'), ['berth.manifest.pushed charts/a/b']);
    assert.deepEqual(at('/helm'), ['berth.manifest.pushed apps/chart']);
    assert.deepEqual(at('/deletes'), ['berth.tag.deleted apps/web:v1']);
    assert.deepEqual(at('/pulls'), ['berth.manifest.pulled charts/a/b']);
  });

  it('a receiver down for a while, then back: nothing lost, duplicates only of the same ids, the same body at every attempt', async () => {
    const records: DeliveryRecord[] = [];
    const w = hooks({ endpoints: [endpoint()] });
    w.observe((r) => records.push(r));
    // first it answers 503, then its port is closed (connection refused)
    receiver.status = 503;
    const pushed = [];
    for (let i = 0; i < 3; i++) pushed.push(await reg.pushImage('wh/down', { tag: `v${i}`, seed: `down-${i}` }));
    await until(() => receiver.received.length >= 12, 5000, 'refused attempts');
    await receiver.down();
    for (let i = 3; i < 5; i++) pushed.push(await reg.pushImage('wh/down', { tag: `v${i}`, seed: `down-${i}` }));
    await until(() => records.filter((r) => r.outcome === 'failed' && r.status === undefined).length >= 8, 5000, 'connection failures');
    const bodies = new Map<string, string>();
    for (const r of receiver.received) bodies.set(r.headers['x-berth-event-id'] as string, r.body);
    receiver.status = 202;
    await receiver.up();
    // 5 pushes × (2 blobs, a manifest, a tag), except blobs pushed again: each image has its own config and layer
    const ids = new Set(records.filter((r) => r.outcome === 'queued').map((r) => r.eventId));
    assert.equal(ids.size, 20);
    await until(() => new Set(receiver.accepted().map((r) => r.headers['x-berth-event-id'])).size === 20, 10_000, 'every event delivered');
    await w.flush();
    const accepted = receiver.accepted();
    for (const r of accepted) {
      const id = r.headers['x-berth-event-id'] as string;
      assert.ok(ids.has(id), 'only events that happened');
      assert.equal((JSON.parse(r.body) as CloudEvent).id, id);
      if (bodies.has(id)) assert.equal(r.body, bodies.get(id), 'the same body at every attempt');
    }
    assert.ok(accepted.some((r) => Number(r.headers['x-berth-attempt']) > 1), 'retried');
    assert.equal(records.filter((r) => r.outcome === 'delivered').length, 20, 'each delivered once (at least once, and here exactly once)');
    assert.equal(await w.queue.size(), 0);
    assert.ok(records.every((r) => r.outcome !== 'dropped' && r.outcome !== 'gave-up'));
    for (const image of pushed) assert.ok(receiver.json<CloudEvent>().some((e) => e.subject === `wh/down@${image.digest}`));
  });

  it('honours Retry-After and gives up after retry.maxAttempts, with an error logged', async () => {
    const logger = quiet();
    const records: DeliveryRecord[] = [];
    const w = hooks({ endpoints: [endpoint({ filter: { actions: ['manifest.pushed'] } })], logger, retry: { minDelay: 10, maxDelay: 1000, maxAttempts: 3 } });
    w.observe((r) => records.push(r));
    receiver.status = 429;
    receiver.headers = { 'Retry-After': '1' };
    await reg.pushImage('wh/giveup', { tag: 'v1' });
    await until(() => records.some((r) => r.outcome === 'gave-up'), 8000, 'giving up');
    const times = receiver.received.map((r) => r.at);
    assert.equal(times.length, 3);
    assert.ok(times[1]! - times[0]! >= 900, `waited for Retry-After (${times[1]! - times[0]!} ms)`);
    assert.equal(logger.errors.length, 1);
    assert.match(logger.errors[0]!.msg ?? '', /given up/);
    assert.equal(await w.queue.size(), 0);
  });

  it('a full queue drops new deliveries with a logged warning and a dropped record; the request is not affected', async () => {
    const logger = quiet();
    const records: DeliveryRecord[] = [];
    await receiver.down();
    const w = hooks({ endpoints: [endpoint()], logger, queue: memoryQueue({ capacity: 3 }) });
    w.observe((r) => records.push(r));
    const res = await reg.req('PUT', '/v2/wh/full/manifests/v1', { body: '{}', headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(res.status, 400, 'an invalid manifest: no event');
    await reg.pushImage('wh/full', { tag: 'v1' });
    await reg.pushImage('wh/full', { tag: 'v2', seed: 'second' });
    await until(() => records.filter((r) => r.outcome === 'dropped').length >= 5, 5000, 'drops');
    assert.equal(records.filter((r) => r.outcome === 'queued').length, 3);
    assert.equal(await w.queue.size(), 3);
    assert.equal(logger.warnings.filter((l) => /queue is full/.test(l.msg ?? '')).length, 1, 'one line, not one per drop');
    await w.close();
    assert.ok(logger.warnings.some((l) => (l.obj as { alsoSinceLastLine?: number }).alsoSinceLastLine === 4), 'the rest counted at close');
  });

  it('a receiver that never answers does not slow requests; attempts time out', async () => {
    receiver.hang = true;
    const records: DeliveryRecord[] = [];
    const w = hooks({ endpoints: [endpoint({ timeout: 200 })] });
    w.observe((r) => records.push(r));
    const started = Date.now();
    for (let i = 0; i < 3; i++) await reg.pushImage('wh/slow', { tag: `v${i}`, seed: `slow-${i}` });
    assert.ok(Date.now() - started < 2000, 'pushes are not held up');
    await until(() => records.some((r) => r.outcome === 'failed'), 5000, 'a timeout');
    assert.match(records.find((r) => r.outcome === 'failed')?.error ?? '', /no answer within 200 ms/);
    receiver.hang = false;
  });

  it('refuses bad options with a message naming them', () => {
    const make = (options: object) => () => createWebhooks({ registry: reg.registry, endpoints: [endpoint()], ...options });
    assert.throws(make({ endpoints: [] }), /`endpoints` must be a non-empty list/);
    assert.throws(make({ endpoints: [{ url: 'ftp://x', format: 'cloudevents' }] }), /endpoints\[0\]\.url/);
    assert.throws(make({ endpoints: [{ url: receiver.url, format: 'json' }] }), /format/);
    assert.throws(make({ endpoints: [{ url: receiver.url, format: 'distribution', filter: { actions: ['upload.started'] } }] }), /no distribution-style form/);
    assert.throws(make({ endpoints: [{ url: receiver.url, format: 'cloudevents', filter: { actions: ['manifest.pushd'] } }] }), /unknown event type/);
    assert.throws(make({ endpoints: [{ url: receiver.url, format: 'cloudevents', filter: { repository: 'x' } }] }), /did you mean `endpoints\[0\]\.filter\.repositories`/);
    assert.throws(make({ endpoints: [endpoint(), endpoint()] }), /two endpoints are named/);
    assert.throws(make({ endpoints: [endpoint({ secret: 'short' })] }), /at least 16/);
    assert.throws(make({ timeout: 5000, leaseMs: 5000 }), /leaseMs/);
    assert.throws(make({ retries: 3 }), /unknown option `retries`/);
  });
});

describe('webhooks across a restart', () => {
  let reg: TestRegistry;
  let receiver: Receiver;
  const dirs: string[] = [];
  const databases: string[] = [];
  before(async () => {
    reg = await startRegistry();
  });
  after(async () => {
    await reg.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    if (uri !== undefined && databases.length > 0) {
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(uri);
      try {
        for (const name of databases) await client.db(name).dropDatabase();
      } finally {
        await client.close();
      }
    }
  });
  beforeEach(async () => {
    receiver = new Receiver();
    await receiver.up();
  });
  afterEach(() => receiver.down());

  const kinds: { name: string; keeps: boolean; skip?: string | false; queue: () => Promise<() => DeliveryQueue> }[] = [
    { name: 'memory', keeps: false, queue: async () => () => memoryQueue() },
    {
      name: 'fs',
      keeps: true,
      queue: async () => {
        const dir = await mkdtemp(join(tmpdir(), 'berth-hooks-'));
        dirs.push(dir);
        return () => fsQueue({ dir, fsync: false });
      },
    },
    {
      name: 'mongo',
      keeps: true,
      skip: uri === undefined && !required && 'MONGODB_URI is not set',
      queue: async () => {
        if (uri === undefined) throw new Error('BERTH_REQUIRE_MONGODB=1 but MONGODB_URI is not set');
        const dbName = `berth_hooks_${Date.now()}_${randomBytes(3).toString('hex')}`;
        databases.push(dbName);
        return () => mongoQueue({ uri, dbName });
      },
    },
  ];

  for (const kind of kinds) {
    it(`${kind.name} queue: ${kind.keeps ? 'deliveries queued while the receiver was down are sent after a restart' : 'a restart loses what was queued'}`, { skip: kind.skip }, async () => {
      const queue = await kind.queue();
      const endpoints: WebhookEndpoint[] = [{ url: receiver.url, format: 'cloudevents', secret: SECRET, filter: { actions: ['manifest.pushed', 'tag.pushed'] } }];
      await receiver.down();
      const before = createWebhooks({ registry: reg.registry, endpoints, queue: queue(), logger: quiet(), ...FAST });
      const queued: string[] = [];
      before.observe((r) => r.outcome === 'queued' && queued.push(r.eventId));
      await reg.pushImage(`wh/restart-${kind.name}`, { tag: 'v1', seed: kind.name });
      await until(() => queued.length === 2, 5000, 'two deliveries queued');
      await before.close();

      await receiver.up();
      const afterRestart = createWebhooks({ registry: reg.registry, endpoints, queue: queue(), logger: quiet(), ...FAST });
      try {
        if (!kind.keeps) {
          await afterRestart.flush();
          await new Promise((r) => setTimeout(r, 100));
          assert.equal(receiver.received.length, 0);
          return;
        }
        await until(() => receiver.accepted().length >= 2, 5000, 'deliveries after the restart');
        await afterRestart.flush();
        assert.deepEqual(receiver.accepted().map((r) => r.headers['x-berth-event-id']).sort(), [...queued].sort(), 'the same event ids');
        for (const r of receiver.accepted()) {
          assert.equal(verifyPayload({ secret: SECRET, body: r.body, signature: r.headers['x-berth-signature'] as string, timestamp: r.headers['x-berth-timestamp'] as string }), true);
        }
        assert.equal(await afterRestart.queue.size(), 0);
      } finally {
        await afterRestart.close();
      }
    });
  }

  it('two instances sharing one mongo queue: each event delivered once', { skip: uri === undefined && !required && 'MONGODB_URI is not set' }, async () => {
    if (uri === undefined) throw new Error('BERTH_REQUIRE_MONGODB=1 but MONGODB_URI is not set');
    const dbName = `berth_hooks_${Date.now()}_${randomBytes(3).toString('hex')}`;
    databases.push(dbName);
    const other = await startRegistry();
    const endpoints: WebhookEndpoint[] = [{ name: 'ci', url: receiver.url, format: 'cloudevents' }];
    const a = createWebhooks({ registry: reg.registry, endpoints, queue: mongoQueue({ uri, dbName }), logger: quiet(), ...FAST });
    const b = createWebhooks({ registry: other.registry, endpoints, queue: mongoQueue({ uri, dbName }), logger: quiet(), ...FAST });
    const delivered: string[] = [];
    for (const w of [a, b]) w.observe((r) => r.outcome === 'delivered' && delivered.push(r.eventId));
    try {
      receiver.status = () => 200;
      const work = [];
      for (let i = 0; i < 4; i++) work.push(reg.pushImage('wh/shared-a', { tag: `v${i}`, seed: `a${i}` }), other.pushImage('wh/shared-b', { tag: `v${i}`, seed: `b${i}` }));
      await Promise.all(work);
      await until(() => delivered.length >= 32, 10_000, '32 deliveries');
      await Promise.all([a.flush(), b.flush()]);
      const ids = receiver.accepted().map((r) => r.headers['x-berth-event-id']);
      assert.equal(ids.length, 32);
      assert.equal(new Set(ids).size, 32, 'no event delivered twice');
    } finally {
      await a.close();
      await b.close();
      await other.close();
    }
  });
});
