/**
 * Two example-app processes on different ports sharing one MongoDB database (issue 7, item 8): an upload
 * started on one, continued on the other and finished on the first; the same blob and the same tag pushed
 * through both at once; pulls from both byte-identical; and one instance killed with SIGKILL in the middle of a
 * PATCH while the other finishes the upload. Needs MONGODB_URI (skips without it, fails with
 * BERTH_REQUIRE_MONGODB=1); uses a fresh database, dropped at the end.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type IncomingHttpHeaders, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type Binary, MongoClient } from 'mongodb';

const uri = process.env.MONGODB_URI;
const required = process.env.BERTH_REQUIRE_MONGODB === '1';
const MiB = 1024 * 1024;
const sha = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request to 127.0.0.1:`port`, the whole body at once. */
function send(port: number, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(body && { 'Content-Length': String(body.length) }), ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The path of an upload's Location, whichever instance it came from (any instance serves it). */
const pathOf = (location: string | undefined) => new URL(location ?? assert.fail('no Location'), 'http://x').pathname;

class Instance {
  readonly port: number;
  readonly process: ChildProcess;
  log = '';

  constructor(port: number, dbName: string) {
    this.port = port;
    this.process = spawn(process.execPath, ['--import', 'tsx', 'example-app/server.ts'], {
      env: { ...process.env, PORT: String(port), BERTH_STORE: 'mongo', MONGODB_URI: uri, BERTH_MONGO_DB: dbName },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (this.log += d.toString());
    this.process.stdout?.on('data', keep);
    this.process.stderr?.on('data', keep);
  }

  async ready(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (this.log.includes('berth example app on')) return;
      if (this.process.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`example app on port ${this.port} did not start:\n${this.log}`);
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = once(this.process, 'exit');
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

async function pushBlob(port: number, repository: string, data: Buffer): Promise<void> {
  const res = await send(port, 'POST', `/v2/${repository}/blobs/uploads/?digest=${sha(data)}`, data, { 'Content-Type': 'application/octet-stream' });
  assert.equal(res.status, 201, `POST ?digest on :${port}: ${res.body.toString()}`);
}

if (uri === undefined) {
  describe('multi-instance (mongo store)', () => {
    if (required) it('needs a MongoDB server', () => assert.fail('BERTH_REQUIRE_MONGODB=1 but MONGODB_URI is not set'));
    else it('needs MONGODB_URI (start a server with `eval "$(bash scripts/mongo-server.sh start)"`)', { skip: 'MONGODB_URI is not set' }, () => undefined);
  });
} else {
  describe('two example-app instances on one database', () => {
    const dbName = `berth_multi_${Date.now()}_${randomBytes(3).toString('hex')}`;
    const client = new MongoClient(uri);
    const base = Number(process.env.BERTH_MULTI_PORT ?? 5170);
    let a: Instance;
    let b: Instance;
    const files = () => client.db(dbName).collection<{ _id: Binary; filename: string; length: number; chunkSize: number }>('berth.files');
    const chunks = () => client.db(dbName).collection<{ files_id: Binary; n: number }>('berth.chunks');

    before(async () => {
      a = new Instance(base, dbName);
      b = new Instance(base + 1, dbName);
      await Promise.all([a.ready(), b.ready()]);
    });
    after(async () => {
      // an instance that died by itself (not the one this test kills) tells why
      if (b.process.exitCode !== null || b.process.signalCode !== null) console.error(`instance B exited early:\n${b.log}`);
      await Promise.all([a.stop(), b.stop()]);
      await client.db(dbName).dropDatabase();
      await client.close();
    });

    /** Every stored blob has exactly its chunks: nothing partial, duplicated or left over. */
    async function assertTidy(): Promise<void> {
      let expected = 0;
      for await (const file of files().find()) {
        const n = Math.ceil(file.length / file.chunkSize);
        assert.equal(await chunks().countDocuments({ files_id: file._id }), n, `chunks of ${file.filename}`);
        expected += n;
      }
      assert.equal(await chunks().countDocuments(), expected, 'no chunk outside a blob');
      assert.equal(await client.db(dbName).collection('berth.uploads').countDocuments({ kind: { $ne: 'upload' } }), 0, 'no blob write or deletion left half-done');
    }

    it('an upload started on A, continued on B, finished on A; pulls from both are byte-identical', async () => {
      const data = randomBytes(Math.round(4.5 * MiB));
      const cuts = [0, Math.round(1.3 * MiB), Math.round(3.1 * MiB), data.length];
      const post = await send(a.port, 'POST', '/v2/multi/across/blobs/uploads/');
      assert.equal(post.status, 202);
      const path = pathOf(post.headers.location);
      for (const [i, port] of [a.port, b.port].entries()) {
        const part = data.subarray(cuts[i], cuts[i + 1]);
        const patch = await send(port, 'PATCH', path, part, { 'Content-Type': 'application/octet-stream', 'Content-Range': `${cuts[i]}-${(cuts[i + 1] as number) - 1}` });
        assert.equal(patch.status, 202, `PATCH ${i} on :${port}: ${patch.body.toString()}`);
        assert.equal(patch.headers.range, `0-${(cuts[i + 1] as number) - 1}`);
      }
      // the other instance sees the progress
      const status = await send(a.port, 'GET', path);
      assert.equal(status.status, 204);
      assert.equal(status.headers.range, `0-${(cuts[2] as number) - 1}`);
      // a re-sent chunk loses on either instance
      assert.equal((await send(b.port, 'PATCH', path, data.subarray(0, 10), { 'Content-Range': '0-9' })).status, 416);
      const put = await send(a.port, 'PUT', `${path}?digest=${sha(data)}`, data.subarray(cuts[2]), { 'Content-Type': 'application/octet-stream' });
      assert.equal(put.status, 201, put.body.toString());
      for (const port of [a.port, b.port]) {
        const got = await send(port, 'GET', `/v2/multi/across/blobs/${sha(data)}`);
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(data), `bytes from :${port}`);
        const range = await send(port, 'GET', `/v2/multi/across/blobs/${sha(data)}`, undefined, { Range: `bytes=${MiB - 5}-${2 * MiB + 4}` });
        assert.equal(range.status, 206);
        assert.ok(range.body.equals(data.subarray(MiB - 5, 2 * MiB + 5)));
      }
      await assertTidy();
    });

    it('the same blob pushed through both at once is stored once', async () => {
      const data = randomBytes(3 * MiB + 12345);
      await Promise.all([pushBlob(a.port, 'multi/same-a', data), pushBlob(b.port, 'multi/same-b', data), pushBlob(a.port, 'multi/same-c', data), pushBlob(b.port, 'multi/same-a', data)]);
      assert.equal(await files().countDocuments({ filename: sha(data) }), 1, 'one GridFS file per digest');
      for (const [port, repository] of [[a.port, 'multi/same-b'], [b.port, 'multi/same-c'], [b.port, 'multi/same-a']] as const) {
        const got = await send(port, 'GET', `/v2/${repository}/blobs/${sha(data)}`);
        assert.ok(got.body.equals(data), `${repository} from :${port}`);
      }
      // deleting it from one repository leaves it in the others
      assert.equal((await send(a.port, 'DELETE', `/v2/multi/same-b/blobs/${sha(data)}`)).status, 202);
      assert.equal((await send(b.port, 'HEAD', `/v2/multi/same-b/blobs/${sha(data)}`)).status, 404);
      assert.equal((await send(b.port, 'GET', `/v2/multi/same-c/blobs/${sha(data)}`)).body.length, data.length);
      await assertTidy();
    });

    it('the same tag pushed through both at once ends on one of the two manifests, the same on both', async () => {
      const config = Buffer.from('{}');
      await pushBlob(a.port, 'multi/tag', config);
      const manifests = ['one', 'two', 'three', 'four'].map((title) =>
        Buffer.from(JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
          layers: [],
          annotations: { 'org.opencontainers.image.title': title },
        })),
      );
      const pushes = await Promise.all(
        manifests.map((m, i) => send(i % 2 ? b.port : a.port, 'PUT', '/v2/multi/tag/manifests/latest', m, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' })),
      );
      assert.deepEqual(pushes.map((p) => p.status), [201, 201, 201, 201]);
      const [fromA, fromB] = await Promise.all([send(a.port, 'GET', '/v2/multi/tag/manifests/latest'), send(b.port, 'GET', '/v2/multi/tag/manifests/latest')]);
      assert.ok(fromA.body.equals(fromB.body), 'both instances answer the same manifest');
      assert.ok(manifests.some((m) => m.equals(fromA.body)), 'one of those pushed, byte for byte');
      assert.equal(fromA.headers['docker-content-digest'], sha(fromA.body));
      const tags = JSON.parse((await send(b.port, 'GET', '/v2/multi/tag/tags/list')).body.toString()) as { tags: string[] };
      assert.deepEqual(tags.tags, ['latest']);
    });

    it('an instance killed (SIGKILL) in the middle of a PATCH: the other one finishes the upload', async () => {
      const data = randomBytes(8 * MiB + 999);
      const first = 2 * MiB + 100; // the PATCH that completes on A
      const post = await send(a.port, 'POST', '/v2/multi/killed/blobs/uploads/');
      const path = pathOf(post.headers.location);
      const id = path.split('/').pop() as string;
      assert.equal((await send(a.port, 'PATCH', path, data.subarray(0, first), { 'Content-Range': `0-${first - 1}` })).status, 202);
      const session = await client.db(dbName).collection<{ _id: string; fileId: Binary; nextN: number }>('berth.uploads').findOne({ _id: id });
      assert.ok(session, 'the session is in the database');

      // a second PATCH on A sends 5 MiB of its 6 and stalls (chunks go out in batches of 4 MiB); A is killed once chunks of it are in the database
      const dying = request({ host: '127.0.0.1', port: a.port, method: 'PATCH', path, headers: { 'Content-Range': `${first}-${data.length - 1}`, 'Content-Length': String(data.length - first) } });
      const failed = new Promise<void>((resolve) => {
        dying.on('error', () => resolve());
        dying.on('response', (res) => {
          res.resume();
          resolve();
        });
      });
      dying.write(data.subarray(first, first + 5 * MiB));
      const deadline = Date.now() + 20_000;
      while ((await chunks().countDocuments({ files_id: session.fileId })) <= session.nextN) {
        assert.ok(Date.now() < deadline, 'the stalled PATCH wrote chunks');
        await new Promise((r) => setTimeout(r, 50));
      }
      a.process.kill('SIGKILL');
      await once(a.process, 'exit');
      await failed;
      const leftovers = await chunks().countDocuments({ files_id: session.fileId, n: { $gte: session.nextN } });
      assert.ok(leftovers > 0, 'the killed PATCH left chunks past the session');

      // B sees the last acknowledged state
      const status = await send(b.port, 'GET', path);
      assert.equal(status.status, 204);
      assert.equal(status.headers.range, `0-${first - 1}`);
      // the dead process's claim blocks appends (416, same Range) until it lapses; then B continues
      let patch: Answer;
      const until = Date.now() + 30_000;
      for (;;) {
        patch = await send(b.port, 'PATCH', path, data.subarray(first), { 'Content-Range': `${first}-${data.length - 1}` });
        if (patch.status !== 416) break;
        assert.equal(patch.headers.range, `0-${first - 1}`);
        assert.ok(Date.now() < until, 'the dead instance’s claim lapsed');
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(patch.status, 202, patch.body.toString());
      const put = await send(b.port, 'PUT', `${path}?digest=${sha(data)}`, undefined, { 'Content-Length': '0' });
      assert.equal(put.status, 201, put.body.toString());
      const got = await send(b.port, 'GET', `/v2/multi/killed/blobs/${sha(data)}`);
      assert.ok(got.body.equals(data), 'the blob is whole');
      await assertTidy();
    });
  });
}
