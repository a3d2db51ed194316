/**
 * The delivery-queue contract on every queue: memory, fs and mongo (the mongo one against the
 * MongoDB-wire server in MONGODB_URI; without it the mongo cases skip, and BERTH_REQUIRE_MONGODB=1
 * turns that skip into a failure, as test/storage/mongo.test.ts does).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Delivery, type DeliveryQueue, fsQueue, memoryQueue, mongoQueue } from '../../lib/index.js';

const uri = process.env.MONGODB_URI;
const required = process.env.BERTH_REQUIRE_MONGODB === '1';
const run = `berth_queue_${Date.now()}_${randomBytes(3).toString('hex')}`;
const dirs: string[] = [];
let databases = 0;

after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  if (uri !== undefined && databases > 0) {
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient(uri);
    try {
      for (let i = 0; i < databases; i++) await client.db(`${run}_${i}`).dropDatabase();
    } finally {
      await client.close();
    }
  }
});

export function delivery(n: number, endpoint = 'a', at = new Date(Date.now() - 1000)): Delivery {
  return { id: `${endpoint}|e${n}`, endpoint, eventId: `e${n}`, eventType: 'manifest.pushed', body: `{"n":${n}}`, contentType: 'application/json', attempts: 0, createdAt: at, dueAt: at };
}

interface Kind {
  name: string;
  /** A fresh queue, and a function opening the same queue again (a restart). */
  make(capacity?: number): Promise<{ queue: DeliveryQueue; reopen: () => DeliveryQueue }>;
  persistent: boolean;
  skip?: string | false;
}

const kinds: Kind[] = [
  { name: 'memory', persistent: false, make: async (capacity) => ({ queue: memoryQueue({ capacity }), reopen: () => memoryQueue({ capacity }) }) },
  {
    name: 'fs',
    persistent: true,
    make: async (capacity) => {
      const dir = await mkdtemp(join(tmpdir(), 'berth-queue-'));
      dirs.push(dir);
      return { queue: fsQueue({ dir, capacity, fsync: false }), reopen: () => fsQueue({ dir, capacity, fsync: false }) };
    },
  },
  {
    name: 'mongo',
    persistent: true,
    skip: uri === undefined && !required && 'MONGODB_URI is not set',
    make: async (capacity) => {
      if (uri === undefined) throw new Error('BERTH_REQUIRE_MONGODB=1 but MONGODB_URI is not set: start one with `eval "$(bash scripts/mongo-server.sh start)"`');
      const dbName = `${run}_${databases++}`;
      return { queue: mongoQueue({ uri, dbName, capacity }), reopen: () => mongoQueue({ uri, dbName, capacity }) };
    },
  },
];

for (const kind of kinds) {
  describe(`delivery queue: ${kind.name}`, { skip: kind.skip }, () => {
    it('enqueue, claim the due ones oldest first, ack', async () => {
      const { queue } = await kind.make();
      try {
        await queue.init?.();
        assert.equal(await queue.enqueue([delivery(2, 'a', new Date(Date.now() - 500)), delivery(1, 'a', new Date(Date.now() - 900)), delivery(3, 'a', new Date(Date.now() + 60_000))]), 3);
        assert.equal(await queue.size(), 3);
        const claimed = await queue.claim(10, 10_000, ['a']);
        assert.deepEqual(claimed.map((d) => d.eventId), ['e1', 'e2'], 'the future one is not due');
        assert.equal(claimed[0]?.body, '{"n":1}');
        assert.ok(claimed[0]?.createdAt instanceof Date);
        assert.deepEqual(await queue.claim(10, 10_000, ['a']), [], 'claimed ones are held');
        assert.equal(await queue.ack(claimed[0].id, claimed[0].lease), true);
        assert.equal(await queue.ack(claimed[0].id, claimed[0].lease), false, 'gone');
        assert.equal(await queue.size(), 2);
      } finally {
        await queue.close?.();
      }
    });

    it('claims only the endpoints asked for, and at most n', async () => {
      const { queue } = await kind.make();
      try {
        await queue.enqueue([delivery(1, 'a'), delivery(2, 'b'), delivery(3, 'a'), delivery(4, 'a')]);
        const claimed = await queue.claim(2, 10_000, ['a']);
        assert.equal(claimed.length, 2);
        assert.ok(claimed.every((d) => d.endpoint === 'a'));
        assert.deepEqual((await queue.claim(5, 10_000, ['b', 'c'])).map((d) => d.id), ['b|e2']);
      } finally {
        await queue.close?.();
      }
    });

    it('retryAt releases the claim until the given time, with the attempts; a stale lease counts for nothing', async () => {
      const { queue } = await kind.make();
      try {
        await queue.enqueue([delivery(1)]);
        const [first] = await queue.claim(1, 10_000, ['a']);
        assert.ok(first);
        assert.equal(await queue.retryAt(first.id, 'not-the-lease', new Date(), 1), false);
        assert.equal(await queue.retryAt(first.id, first.lease, new Date(Date.now() + 150), 1, 'HTTP 503'), true);
        assert.deepEqual(await queue.claim(1, 10_000, ['a']), [], 'not yet due');
        await new Promise((r) => setTimeout(r, 200));
        const [again] = await queue.claim(1, 10_000, ['a']);
        assert.equal(again?.attempts, 1);
        assert.equal(again.lastError, 'HTTP 503');
        assert.notEqual(again.lease, first.lease);
        assert.equal(await queue.ack(again.id, first.lease), false, 'the old lease cannot ack');
        assert.equal(await queue.ack(again.id, again.lease), true);
      } finally {
        await queue.close?.();
      }
    });

    it('a claim whose lease ran out is due again (its worker died), and the late worker cannot ack it', async () => {
      const { queue } = await kind.make();
      try {
        await queue.enqueue([delivery(1)]);
        const [dead] = await queue.claim(1, 100, ['a']);
        assert.ok(dead);
        await new Promise((r) => setTimeout(r, 150));
        const [taken] = await queue.claim(1, 10_000, ['a']);
        assert.equal(taken?.id, dead.id);
        assert.equal(await queue.ack(dead.id, dead.lease), false);
        assert.equal(await queue.size(), 1);
      } finally {
        await queue.close?.();
      }
    });

    it('is bounded: past its capacity, enqueue takes only what fits; an id queued already counts as taken', async () => {
      const { queue } = await kind.make(3);
      try {
        assert.equal(await queue.enqueue([delivery(1), delivery(2)]), 2);
        assert.equal(await queue.enqueue([delivery(3), delivery(4), delivery(5)]), 1);
        assert.equal(await queue.size(), 3);
        if (kind.name !== 'mongo') assert.equal(await queue.enqueue([delivery(1)]), 1);
        const claimed = await queue.claim(1, 10_000, ['a']);
        await queue.ack(claimed[0]!.id, claimed[0]!.lease);
        assert.equal(await queue.enqueue([delivery(6), delivery(7)]), 1);
      } finally {
        await queue.close?.();
      }
    });

    it(kind.persistent ? 'keeps its deliveries across a restart, attempts included; held ones are due again' : 'loses its deliveries with the process', async () => {
      const { queue, reopen } = await kind.make();
      await queue.enqueue([delivery(1), delivery(2), delivery(3)]);
      const [held] = await queue.claim(1, 60_000, ['a']);
      const [retried] = await queue.claim(1, 60_000, ['a']);
      await queue.retryAt(retried!.id, retried!.lease, new Date(Date.now() - 1), 2, 'ECONNREFUSED');
      await queue.close?.();
      const again = reopen();
      try {
        if (!kind.persistent) {
          assert.equal(await again.size(), 0);
          return;
        }
        assert.equal(await again.size(), 3);
        // fs: the process that held a claim is gone, so it is due at once; mongo: when its lease runs out (instances share it)
        const claimed = await again.claim(10, 10_000, ['a']);
        const ids = claimed.map((d) => d.id).sort();
        const all = ['a|e1', 'a|e2', 'a|e3'];
        assert.deepEqual(ids, kind.name === 'fs' ? all : all.filter((id) => id !== held!.id));
        assert.equal(claimed.find((d) => d.id === retried!.id)?.attempts, 2);
      } finally {
        await again.close?.();
      }
    });

    it('two workers claiming at once never get the same delivery', async () => {
      const { queue, reopen } = await kind.make();
      // the memory and fs queues serve one process: two workers there share one queue object
      const other = kind.name === 'mongo' ? reopen() : queue;
      try {
        await queue.enqueue(Array.from({ length: 40 }, (_, i) => delivery(i)));
        const seen: string[] = [];
        await Promise.all(
          [queue, other, queue, other].map(async (q) => {
            for (;;) {
              const claimed = await q.claim(3, 10_000, ['a']);
              if (claimed.length === 0) return;
              for (const d of claimed) {
                seen.push(d.id);
                assert.equal(await q.ack(d.id, d.lease), true);
              }
            }
          }),
        );
        assert.equal(seen.length, 40);
        assert.equal(new Set(seen).size, 40);
      } finally {
        if (other !== queue) await other.close?.();
        await queue.close?.();
      }
    });
  });
}

describe('fs queue specifics', () => {
  it('sets a damaged delivery file aside and keeps the others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-queue-'));
    dirs.push(dir);
    const first = fsQueue({ dir, fsync: false });
    await first.enqueue([delivery(1)]);
    await first.close?.();
    await writeFile(join(dir, 'deliveries', 'broken.json'), '{"id":');
    const warnings: unknown[] = [];
    const again = fsQueue({ dir, logger: { warn: (obj) => warnings.push(obj), error: () => undefined } });
    try {
      assert.equal(await again.size(), 1);
      assert.equal(warnings.length, 1);
      assert.ok((await readdir(join(dir, 'deliveries'))).includes('broken.json.damaged'));
    } finally {
      await again.close?.();
    }
  });

  it('refuses a directory another live process holds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-queue-'));
    dirs.push(dir);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'deliveries'), { recursive: true });
    await writeFile(join(dir, 'lock'), `${process.ppid}\n`);
    const queue = fsQueue({ dir });
    await assert.rejects(queue.size(), /held by process/);
    await queue.close?.();
  });
});

if (uri === undefined) {
  describe('mongo queue: needs a server', () => {
    if (required) it('needs a MongoDB server', () => assert.fail('BERTH_REQUIRE_MONGODB=1 but MONGODB_URI is not set: start one with `eval "$(bash scripts/mongo-server.sh start)"`'));
    else it('needs MONGODB_URI (start a server with `eval "$(bash scripts/mongo-server.sh start)"`)', { skip: 'MONGODB_URI is not set' }, () => undefined);
  });
}
