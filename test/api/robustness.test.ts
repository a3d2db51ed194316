/**
 * Robustness over HTTP, once per store (memoryStorage() and fsStorage() in a fresh temp dir):
 * concurrent pushes, concurrent chunks to one upload, concurrent tag updates, clients that abort
 * mid-body, idle-upload expiry, nothing left behind by a wrong digest, and uploads whose chunks
 * reached another registry instance sharing the store.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fsStorage, memoryStorage, type Storage } from '../../lib/index.js';
import {
  assertError,
  bytesOf,
  type Client,
  digestOf,
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  RANDOM,
  type TestRegistry,
  descriptor,
  startRegistry,
  withQuery,
} from './helpers.js';

type Kind = 'memory' | 'fs';

/** A store plus, for the fs store, its root (these tests look inside it). */
interface Fixture {
  storage: Storage;
  root: string | undefined;
  /** Another handle on the same data, as a second registry process would have (its own locks and caches). */
  sibling(): Storage;
  cleanup(): Promise<void>;
}

async function fixture(kind: Kind): Promise<Fixture> {
  if (kind === 'memory') {
    const storage = memoryStorage();
    return { storage, root: undefined, sibling: () => storage, cleanup: async () => undefined };
  }
  const root = await mkdtemp(join(tmpdir(), 'berth-robust-'));
  return {
    storage: fsStorage({ root, fsync: false }),
    root,
    sibling: () => fsStorage({ root, fsync: false }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function patch(reg: Client, location: string, chunk: Buffer, start: number): Promise<Response> {
  return reg.at('PATCH', location, {
    body: chunk,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${start + chunk.length - 1}` },
  });
}

/** The upload id at the end of a session Location. */
const idOf = (location: string): string => new URL(location, 'http://x').pathname.split('/').pop() ?? '';

/** The Range of an upload's status GET (asserting 204). */
async function rangeOf(reg: Client, location: string): Promise<string | null> {
  const res = await reg.at('GET', location);
  assert.equal(res.status, 204, `status GET: ${await res.clone().text()}`);
  return res.headers.get('range');
}

/**
 * Polls the status Range until it equals `expected` (a store may take a moment to roll back an aborted
 * body), then asserts it.
 */
async function settlesAt(reg: Client, location: string, expected: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  let range = await rangeOf(reg, location);
  while (range !== expected && Date.now() < deadline) {
    await sleep(25);
    range = await rangeOf(reg, location);
  }
  assert.equal(range, expected, 'upload Range after the aborted request');
}

/**
 * Sends a request head and `part` of its body, then drops the connection: the client went away
 * mid-body. `headers` announce more (a larger Content-Length) or use chunked encoding.
 */
function abandon(origin: string, method: string, path: string, headers: http.OutgoingHttpHeaders, part: Buffer): Promise<{ answered?: number }> {
  const url = new URL(origin);
  return new Promise((resolve) => {
    const outcome: { answered?: number } = {};
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false });
    req.on('error', () => undefined);
    req.on('response', (res) => {
      outcome.answered = res.statusCode;
      res.resume();
    });
    req.flushHeaders();
    req.write(part, () => {
      // let the server receive (and store) the part before the connection goes
      setTimeout(() => {
        req.destroy();
        resolve(outcome);
      }, 150);
    });
  });
}

/** A body whose second half is held back until `release` is called. */
function gated(data: Buffer): { body: AsyncIterable<Uint8Array>; release(): void } {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const half = Math.floor(data.length / 2);
  return {
    body: (async function* () {
      yield data.subarray(0, half);
      await gate;
      yield data.subarray(half);
    })(),
    release,
  };
}

/** Every regular file below `dir` (none when it does not exist). */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

const T = { timeout: 15_000 };

for (const kind of ['memory', 'fs'] as const) {
  describe(`robustness on the ${kind} store`, () => {
    let fx: Fixture;
    let reg: TestRegistry;
    before(async () => {
      fx = await fixture(kind);
      reg = await startRegistry({ storage: fx.storage });
    });
    after(async () => {
      await reg.close();
      await fx.cleanup();
    });

    it('two clients push the same blob at once through separate sessions, chunks interleaved → both 201, exact bytes', T, async () => {
      const name = `rb/same-${RANDOM()}`;
      const one = Buffer.from('x'.repeat(1000) + RANDOM());
      const two = Buffer.from('y'.repeat(2000) + RANDOM());
      const whole = Buffer.concat([one, two]);
      const digest = digestOf(whole);
      const [a, b] = await Promise.all([reg.startUpload(name), reg.startUpload(name)]);
      assert.notEqual(a, b);
      const firsts = await Promise.all([patch(reg, a, one, 0), patch(reg, b, one, 0)]);
      assert.deepEqual(
        firsts.map((r) => [r.status, r.headers.get('range')]),
        [
          [202, `0-${one.length - 1}`],
          [202, `0-${one.length - 1}`],
        ],
      );
      const seconds = await Promise.all([patch(reg, b, two, one.length), patch(reg, a, two, one.length)]);
      assert.deepEqual(
        seconds.map((r) => [r.status, r.headers.get('range')]),
        [
          [202, `0-${whole.length - 1}`],
          [202, `0-${whole.length - 1}`],
        ],
      );
      const closes = await Promise.all([a, b].map((l) => reg.at('PUT', withQuery(l, { digest }))));
      for (const res of closes) {
        assert.equal(res.status, 201, await res.clone().text());
        assert.equal(res.headers.get('docker-content-digest'), digest);
      }
      const get = await reg.req('GET', `/v2/${name}/blobs/${digest}`);
      assert.equal(get.status, 200);
      assert.deepEqual(await bytesOf(get), whole);
      // both sessions are gone
      for (const l of [a, b]) await assertError(await reg.at('GET', l), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('two concurrent PATCHes at the same offset of ONE upload → one 202, one 416; content is one body, never a mix', T, async () => {
      const name = `rb/race-${RANDOM()}`;
      const location = await reg.startUpload(name);
      const bodies = [Buffer.from('A'.repeat(64 * 1024)), Buffer.from('B'.repeat(64 * 1024))];
      const gates = bodies.map(gated);
      const sent = gates.map((g, i) =>
        reg.at('PATCH', location, {
          body: g.body,
          duplex: 'half',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${(bodies[i] as Buffer).length - 1}` },
        }),
      );
      await sleep(150); // both requests are in the server, each holding half its body
      for (const g of gates) g.release();
      const answers = await Promise.all(sent);
      const statuses = answers.map((r) => r.status);
      assert.deepEqual([...statuses].sort(), [202, 416], `statuses ${statuses.join(', ')}`);
      const winner = statuses.indexOf(202);
      const won = bodies[winner] as Buffer;
      const loser = answers[1 - winner] as Response;
      await assertError(loser, 416, 'BLOB_UPLOAD_INVALID');
      assert.equal(loser.headers.get('range'), `0-${won.length - 1}`);
      assert.equal(await rangeOf(reg, location), `0-${won.length - 1}`);
      // a mixed upload would not match the winner's digest
      const close = await reg.at('PUT', withQuery(location, { digest: digestOf(won) }));
      assert.equal(close.status, 201, await close.text());
      assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/${name}/blobs/${digestOf(won)}`)), won);
      assert.equal((await reg.req('HEAD', `/v2/${name}/blobs/${digestOf(bodies[1 - winner] as Buffer)}`)).status, 404);
    });

    it('10 concurrent manifest PUTs to one tag → all 201; the tag names one of them; all retrievable; listed once', T, async () => {
      const name = `rb/tag-${RANDOM()}`;
      const configData = JSON.stringify({ architecture: 'amd64', os: 'linux' });
      const layerData = 'layer ' + RANDOM();
      await reg.pushBlob(name, configData);
      await reg.pushBlob(name, layerData);
      const manifests = Array.from({ length: 10 }, (_, i) =>
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            config: descriptor(OCI_CONFIG, configData),
            layers: [descriptor(OCI_LAYER, layerData)],
            annotations: { n: String(i) },
          }),
        ),
      );
      const digests = manifests.map((m) => digestOf(m));
      const answers = await Promise.all(manifests.map((m) => reg.putManifest(name, 'latest', m)));
      answers.forEach((res, i) => {
        assert.equal(res.status, 201, `PUT #${i}`);
        assert.equal(res.headers.get('docker-content-digest'), digests[i]);
      });
      const tagged = await reg.req('GET', `/v2/${name}/manifests/latest`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(tagged.status, 200);
      const digest = tagged.headers.get('docker-content-digest') ?? '';
      const index = digests.indexOf(digest);
      assert.ok(index >= 0, `the tag resolves to one of the pushed manifests (got ${digest})`);
      assert.deepEqual(await bytesOf(tagged), manifests[index]);
      for (const [i, d] of digests.entries()) {
        const res = await reg.req('GET', `/v2/${name}/manifests/${d}`, { headers: { Accept: OCI_MANIFEST } });
        assert.equal(res.status, 200, `manifest #${i}`);
        assert.deepEqual(await bytesOf(res), manifests[i]);
      }
      const list = await reg.req('GET', `/v2/${name}/tags/list`);
      assert.equal(list.status, 200);
      assert.deepEqual(await list.json(), { name, tags: ['latest'] });
    });

    describe('a client aborting mid-body', () => {
      const one = Buffer.from('first chunk, completed: ' + 'c'.repeat(1000));
      const two = Buffer.from('second chunk: ' + 'd'.repeat(200_000));
      const whole = Buffer.concat([one, two]);
      const digest = digestOf(whole);

      async function afterwards(name: string, location: string, how: 'PATCH' | 'PUT'): Promise<void> {
        assert.equal((await reg.req('GET', '/v2/')).status, 200, 'the server stays healthy');
        assert.equal((await reg.req('GET', `/v2/${name}/blobs/${digest}`)).status, 404, 'no blob from the aborted request');
        await settlesAt(reg, location, `0-${one.length - 1}`);
        // the session is still usable: send the rest again, close, exact bytes
        if (how === 'PATCH') {
          const again = await patch(reg, location, two, one.length);
          assert.equal(again.status, 202, await again.text());
          assert.equal(again.headers.get('range'), `0-${whole.length - 1}`);
          const close = await reg.at('PUT', withQuery(location, { digest }));
          assert.equal(close.status, 201, await close.text());
        } else {
          const close = await reg.at('PUT', withQuery(location, { digest }), { body: two, headers: { 'Content-Type': 'application/octet-stream' } });
          assert.equal(close.status, 201, await close.text());
        }
        const get = await reg.req('GET', `/v2/${name}/blobs/${digest}`);
        assert.equal(get.status, 200);
        assert.deepEqual(await bytesOf(get), whole);
      }

      async function begun(name: string): Promise<string> {
        const location = await reg.startUpload(name);
        const first = await patch(reg, location, one, 0);
        assert.equal(first.status, 202, await first.text());
        return location;
      }

      it('monolithic closing PUT ?digest= with a larger Content-Length → rolled back, the session resumes', T, async () => {
        const name = `rb/abort-put-${RANDOM()}`;
        const location = await begun(name);
        const { answered } = await abandon(
          reg.origin,
          'PUT',
          withQuery(location, { digest }),
          { 'Content-Type': 'application/octet-stream', 'Content-Length': String(two.length) },
          two.subarray(0, 50_000),
        );
        assert.equal(answered, undefined, 'no answer to a request whose body never completed');
        await afterwards(name, location, 'PUT');
      });

      it('closing PUT ?digest= with a chunked body → rolled back, the session resumes', T, async () => {
        const name = `rb/abort-put-chunked-${RANDOM()}`;
        const location = await begun(name);
        await abandon(reg.origin, 'PUT', withQuery(location, { digest }), { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' }, two.subarray(0, 50_000));
        await afterwards(name, location, 'PUT');
      });

      it('PATCH with Content-Range and a larger Content-Length → rolled back, the session resumes', T, async () => {
        const name = `rb/abort-patch-${RANDOM()}`;
        const location = await begun(name);
        const { answered } = await abandon(
          reg.origin,
          'PATCH',
          location,
          {
            'Content-Type': 'application/octet-stream',
            'Content-Range': `${one.length}-${whole.length - 1}`,
            'Content-Length': String(two.length),
          },
          two.subarray(0, 50_000),
        );
        assert.equal(answered, undefined, 'no answer to a request whose body never completed');
        await afterwards(name, location, 'PATCH');
      });

      it('streamed PATCH (chunked, no Content-Range) → rolled back, the session resumes', T, async () => {
        const name = `rb/abort-stream-${RANDOM()}`;
        const location = await begun(name);
        await abandon(reg.origin, 'PATCH', location, { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' }, two.subarray(0, 50_000));
        await afterwards(name, location, 'PATCH');
      });

      it('single POST ?digest= → no blob; the server stays healthy', T, async () => {
        const name = `rb/abort-post-${RANDOM()}`;
        await abandon(
          reg.origin,
          'POST',
          `/v2/${name}/blobs/uploads/?digest=${digest}`,
          { 'Content-Type': 'application/octet-stream', 'Content-Length': String(whole.length) },
          whole.subarray(0, 50_000),
        );
        assert.equal((await reg.req('GET', '/v2/')).status, 200);
        assert.equal((await reg.req('GET', `/v2/${name}/blobs/${digest}`)).status, 404);
        assert.equal((await reg.req('GET', `/v2/rb/elsewhere/blobs/${digest}`)).status, 404);
      });
    });

    it('a wrong digest on the closing PUT leaves nothing visible or behind', T, async () => {
      const name = `rb/wrong-${RANDOM()}`;
      const data = Buffer.from('content whose digest the client gets wrong ' + RANDOM());
      const wrong = digestOf('something else entirely');
      const blobsBefore = fx.root ? await filesBelow(join(fx.root, 'blobs')) : [];
      const uploadsBefore = fx.root ? await readdir(join(fx.root, 'uploads')).catch(() => []) : [];

      // chunked upload, wrong digest on the empty closing PUT
      const location = await reg.startUpload(name);
      assert.equal((await patch(reg, location, data, 0)).status, 202);
      await assertError(await reg.at('PUT', withQuery(location, { digest: wrong })), 400, 'DIGEST_INVALID');
      // closing PUT carrying the body
      const other = await reg.startUpload(name);
      await assertError(await reg.at('PUT', withQuery(other, { digest: wrong }), { body: data }), 400, 'DIGEST_INVALID');
      // single POST
      await assertError(await reg.req('POST', `/v2/${name}/blobs/uploads/?digest=${wrong}`, { body: data }), 400, 'DIGEST_INVALID');

      for (const d of [wrong, digestOf(data)]) assert.equal((await reg.req('HEAD', `/v2/${name}/blobs/${d}`)).status, 404);
      for (const l of [location, other]) await assertError(await reg.at('GET', l), 404, 'BLOB_UPLOAD_UNKNOWN');
      for (const l of [location, other]) assert.equal(await fx.storage.uploads.get(idOf(l)), undefined);
      if (fx.root) {
        assert.deepEqual(await filesBelow(join(fx.root, 'blobs')), blobsBefore, 'no new file under blobs/');
        for (const l of [location, other]) assert.equal(await exists(join(fx.root, 'uploads', idOf(l))), false, 'no upload dir left');
        // the single POST's upload is gone too: no upload dir appeared
        const added = (await readdir(join(fx.root, 'uploads')).catch(() => [])).filter((d) => !uploadsBefore.includes(d));
        assert.deepEqual(added, [], 'no upload dir left behind');
      }
    });

    it('chunks received by another registry instance over the same store → re-hashed on close', T, async () => {
      const other = await startRegistry({ storage: fx.sibling() });
      try {
        const name = `rb/shared-${RANDOM()}`;
        const one = Buffer.from('chunk one via instance A ' + RANDOM());
        const two = Buffer.from('chunk two via instance B ' + RANDOM());
        const whole = Buffer.concat([one, two]);
        const digest = digestOf(whole);

        // A: POST, chunk 1; B: chunk 2; A: close (A's running hash stops at chunk 1)
        const location = await reg.startUpload(name);
        assert.equal((await patch(reg, location, one, 0)).status, 202);
        const second = await patch(other, location, two, one.length);
        assert.equal(second.status, 202, await second.text());
        assert.equal(second.headers.get('range'), `0-${whole.length - 1}`);
        const close = await reg.at('PUT', withQuery(location, { digest }));
        assert.equal(close.status, 201, await close.text());
        assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/${name}/blobs/${digest}`)), whole);
        assert.deepEqual(await bytesOf(await other.req('GET', `/v2/${name}/blobs/${digest}`)), whole);

        // B: POST, chunk 1; A: chunk 2 (A never saw the start); A: close
        const swapped = Buffer.concat([two, one]);
        const l2 = await other.startUpload(name);
        assert.equal((await patch(other, l2, two, 0)).status, 202);
        assert.equal((await patch(reg, l2, one, two.length)).status, 202);
        const close2 = await reg.at('PUT', withQuery(l2, { digest: digestOf(swapped) }));
        assert.equal(close2.status, 201, await close2.text());
        assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/${name}/blobs/${digestOf(swapped)}`)), swapped);

        // A: chunk 1; B: chunk 2; B: close with a wrong digest → 400 DIGEST_INVALID, nothing stored
        const other3 = Buffer.from('third blob, never stored ' + RANDOM());
        const l3 = await reg.startUpload(name);
        assert.equal((await patch(reg, l3, other3, 0)).status, 202);
        assert.equal((await patch(other, l3, one, other3.length)).status, 202);
        const wrong = digestOf(Buffer.concat([other3, two]));
        await assertError(await other.at('PUT', withQuery(l3, { digest: wrong })), 400, 'DIGEST_INVALID');
        assert.equal((await reg.req('HEAD', `/v2/${name}/blobs/${wrong}`)).status, 404);
        assert.equal((await reg.req('HEAD', `/v2/${name}/blobs/${digestOf(Buffer.concat([other3, one]))}`)).status, 404);
      } finally {
        await other.close();
      }
    });
  });

  describe(`upload expiry on the ${kind} store (uploadTimeout: 200)`, () => {
    let fx: Fixture;
    let reg: TestRegistry;
    before(async () => {
      fx = await fixture(kind);
      reg = await startRegistry({ storage: fx.storage, uploadTimeout: 200 });
    });
    after(async () => {
      await reg.close();
      await fx.cleanup();
    });

    it('an idle upload → PATCH, status GET and PUT answer 404 BLOB_UPLOAD_UNKNOWN; a fresh upload works', T, async () => {
      const name = `rb/idle-${RANDOM()}`;
      const chunk = Buffer.from('a chunk before going idle');
      const sessions = [await reg.startUpload(name), await reg.startUpload(name), await reg.startUpload(name)];
      for (const l of sessions) assert.equal((await patch(reg, l, chunk, 0)).status, 202);
      const [forPatch = '', forStatus = '', forPut = ''] = sessions;
      // still alive within the timeout
      assert.equal(await rangeOf(reg, forStatus), `0-${chunk.length - 1}`);
      await sleep(400);
      await assertError(await patch(reg, forPatch, chunk, chunk.length), 404, 'BLOB_UPLOAD_UNKNOWN');
      await assertError(await reg.at('GET', forStatus), 404, 'BLOB_UPLOAD_UNKNOWN');
      await assertError(await reg.at('PUT', withQuery(forPut, { digest: digestOf(chunk) })), 404, 'BLOB_UPLOAD_UNKNOWN');
      assert.equal((await reg.req('HEAD', `/v2/${name}/blobs/${digestOf(chunk)}`)).status, 404);
      // a fresh upload, chunked and monolithic
      const data = Buffer.from('fresh ' + RANDOM());
      const fresh = await reg.startUpload(name);
      assert.equal((await patch(reg, fresh, data, 0)).status, 202);
      const close = await reg.at('PUT', withQuery(fresh, { digest: digestOf(data) }));
      assert.equal(close.status, 201, await close.text());
      assert.deepEqual(await bytesOf(await reg.req('GET', `/v2/${name}/blobs/${digestOf(data)}`)), data);
      await reg.pushBlob(name, 'monolithic ' + RANDOM());
    });

    it('a new POST sweeps idle uploads from the store', T, async () => {
      const name = `rb/sweep-${RANDOM()}`;
      const idle = await reg.startUpload(name);
      assert.equal((await patch(reg, idle, Buffer.from('left behind'), 0)).status, 202);
      const id = idOf(idle);
      const dir = fx.root ? join(fx.root, 'uploads', id) : undefined;
      if (dir) assert.equal(await exists(dir), true, `upload dir ${dir} exists while in use`);
      assert.ok(await fx.storage.uploads.get(id));
      await sleep(400);
      // not touching the idle upload itself (that would delete it on the spot): a new POST triggers the sweep
      const fresh = await reg.startUpload(name);
      const deadline = Date.now() + 3000;
      while ((await fx.storage.uploads.get(id)) !== undefined && Date.now() < deadline) await sleep(25);
      assert.equal(await fx.storage.uploads.get(id), undefined, 'the idle upload was swept');
      if (dir) {
        while ((await exists(dir)) && Date.now() < deadline) await sleep(25);
        assert.equal(await exists(dir), false, `upload dir ${dir} removed by the sweep`);
      }
      // the new session was not swept
      assert.equal(await rangeOf(reg, fresh), '0-0');
    });
  });
}
