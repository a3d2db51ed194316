/**
 * Push workflow (29 specs): a streamed upload (PATCH without Content-Range, then an empty closing PUT),
 * monolithic uploads (single POST with `?digest`, POST + PUT), a chunked upload (out-of-order chunk and
 * re-sent chunk → 416, status GET → 204 + Range), cross-repository mounts, manifest pushes, teardown.
 */
import type { HttpResponse } from '../client.js';
import { type ChunkedBlob, MEDIA, chunkedBlob } from '../content.js';
import { status } from '../harness.js';
import { type WorkflowContext, deleteBlob, deleteManifest, getBlob, getManifest, putManifest } from '../steps.js';
import { INVALID_TAG } from './pull.js';

const EMPTY_LAYER_TAG = 'emptylayer';

export function pushWorkflow({ suite, config, client, content }: WorkflowContext): void {
  const w = suite.workflow('Push', config.workflows.push);
  const { layer, blobA } = content;
  const config1 = content.configs[1]!;
  const manifest1 = content.manifests[1]!;
  const xns = config.crossmountNamespace;

  // state carried from spec to spec, as in the suite
  let lastResponse: HttpResponse | undefined;
  let sessionResponse: HttpResponse | undefined;
  let emptyLayerLocation = '';
  let chunked: ChunkedBlob = chunkedBlob();

  const post = (name?: string) => client.request('POST', '/v2/<name>/blobs/uploads/', name ? { name } : {});
  const patch = (location: string, data: Buffer, range?: string) => {
    const req = client.request('PATCH', location).header('Content-Type', 'application/octet-stream').body(data);
    if (range !== undefined) req.header('Content-Range', range);
    return req.send();
  };
  const putBlob = (location: string, digest: string, data?: Buffer) => {
    const req = client.request('PUT', location).query('digest', digest).header('Content-Type', 'application/octet-stream');
    if (data) req.body(data);
    return req.send();
  };
  const requireLast = (t: { fail(message: string): never }): HttpResponse => lastResponse ?? t.fail('no earlier response to continue from');

  w.context('Blob Upload Streamed', (spec) => {
    spec('PATCH request with blob in body should yield 202 response', async (t) => {
      const session = await post().send();
      t.expectNotEmpty(session.header('Location'), 'Location of the new session', session);
      // no Content-Range: the whole body is appended
      const resp = await patch(session.relativeLocation(), blobA.content);
      t.expectStatus(resp, status.is(202));
      lastResponse = resp;
    });
    spec('PUT request to session URL with digest should yield 201 response', async (t) => {
      const resp = await putBlob(requireLast(t).relativeLocation(), blobA.digest);
      t.expectStatus(resp, status.is(201));
      t.expectNotEmpty(resp.header('Location'), 'Location of the blob', resp);
    });
  });

  w.context('Blob Upload Monolithic', (spec) => {
    spec('GET nonexistent blob should result in 404 response', async (t) => {
      t.expectStatus(await getBlob(client, content.absentDigest), status.is(404));
    });
    spec('POST request with digest and blob should yield a 201 or 202', async (t) => {
      const resp = await post().query('digest', config1.digest).header('Content-Type', 'application/octet-stream').body(config1.content).send();
      t.expectNotEmpty(resp.header('Location'), 'Location', resp);
      t.expectStatus(resp, status.is(201, 202));
      lastResponse = resp;
    });
    spec('GET request to blob URL from prior request should yield 200 or 404 based on response code', async (t) => {
      const previous = requireLast(t);
      const resp = await getBlob(client, config1.digest);
      // 202 means the registry opened a session instead of storing the blob
      t.expectStatus(resp, status.is(previous.status === 202 ? 404 : 200));
    });
    spec('POST request should yield a session ID', async (t) => {
      const resp = await post().send();
      t.expectStatus(resp, status.is(202));
      lastResponse = resp;
    });
    spec('PUT upload of a blob should yield a 201 Response', async (t) => {
      const resp = await putBlob(requireLast(t).relativeLocation(), config1.digest, config1.content);
      t.expectNotEmpty(resp.header('Location'), 'Location of the blob', resp);
      t.expectStatus(resp, status.is(201));
    });
    spec('GET request to existing blob should yield 200 response', async (t) => {
      t.expectStatus(await getBlob(client, config1.digest), status.is(200));
    });
    spec('PUT upload of a layer blob should yield a 201 Response', async (t) => {
      const session = await post().send();
      const resp = await putBlob(session.relativeLocation(), layer.digest, layer.content);
      t.expectNotEmpty(resp.header('Location'), 'Location of the blob', resp);
      t.expectStatus(resp, status.is(201));
    });
    spec('GET request to existing layer should yield 200 response', async (t) => {
      t.expectStatus(await getBlob(client, layer.digest), status.is(200));
    });
  });

  w.context('Blob Upload Chunked', (spec) => {
    spec('Out-of-order blob upload should return 416', async (t) => {
      const session = await post().send();
      t.expectNotEmpty(session.header('Location'), 'Location of the new session', session);
      // a registry with a minimum chunk size gets chunks that big (the first one is then exactly the minimum)
      const minimum = session.header('OCI-Chunk-Min-Length');
      if (minimum !== '') {
        if (!/^[+-]?\d+$/.test(minimum)) t.fail(`OCI-Chunk-Min-Length: expected an integer, received ${JSON.stringify(minimum)}`, session);
        const min = Number(minimum);
        if (min > chunked.first.length) chunked = chunkedBlob(min * 2 - 2);
      }
      const resp = await patch(session.relativeLocation(), chunked.second, chunked.secondRange);
      t.expectStatus(resp, status.is(416));
    });
    spec('PATCH request with first chunk should return 202', async (t) => {
      const session = await post().send();
      t.expectNotEmpty(session.header('Location'), 'Location of the new session', session);
      sessionResponse = session;
      const resp = await patch(session.relativeLocation(), chunked.first, chunked.firstRange);
      t.expectStatus(resp, status.is(202));
      t.expectEqual(resp.header('Range'), chunked.firstRange, 'Range', resp);
      lastResponse = resp;
    });
    spec('Retry previous blob chunk should return 416', async (t) => {
      const session = sessionResponse ?? t.fail('no upload session from the previous spec');
      // the same chunk again, to the URL the POST returned
      t.expectStatus(await patch(session.relativeLocation(), chunked.first, chunked.firstRange), status.is(416));
    });
    spec('Get on stale blob upload should return 204 with a range and location', async (t) => {
      const session = sessionResponse ?? t.fail('no upload session from the previous spec');
      const resp = await client.request('GET', session.relativeLocation()).send();
      t.expectStatus(resp, status.is(204));
      t.expectNotEmpty(resp.header('Location'), 'Location', resp);
      t.expectEqual(resp.header('Range'), chunked.firstRange, 'Range', resp);
      lastResponse = resp;
    });
    spec('PATCH request with second chunk should return 202', async (t) => {
      const resp = await patch(requireLast(t).relativeLocation(), chunked.second, chunked.secondRange);
      t.expectStatus(resp, status.is(202));
      t.expectNotEmpty(resp.header('Location'), 'Location', resp);
      lastResponse = resp;
    });
    spec('PUT request with digest should return 201', async (t) => {
      const resp = await putBlob(requireLast(t).relativeLocation(), chunked.digest);
      t.expectStatus(resp, status.is(201));
      t.expectNotEmpty(resp.header('Location'), 'Location of the blob', resp);
    });
  });

  w.context('Cross-Repository Blob Mount', (spec) => {
    const mountAnswer = (t: { fail(message: string): never }) => lastResponse ?? t.fail('no mount response to inspect');
    spec('Cross-mounting of a blob without the from argument should yield session id', async (t) => {
      const resp = await post(xns).query('mount', content.absentDigest).send();
      t.expectStatus(resp, status.is(202));
      t.expectNotEmpty(resp.absoluteLocation(), 'Location of the fallback session', resp);
    });
    spec("POST request to mount another repository's blob should return 201 or 202", async (t) => {
      const resp = await post(xns).query('mount', blobA.digest).query('from', config.namespace).send();
      t.expectStatus(resp, status.is(201, 202));
      lastResponse = resp;
    });
    spec('GET request to test digest within cross-mount namespace should return 200', async (t) => {
      const mounted = mountAnswer(t);
      t.runOnlyIf(mounted.status === 201, `the mount answered ${mounted.status}, not 201`);
      t.expectEqual(mounted.relativeLocation(), `/v2/${xns}/blobs/${blobA.digest}`, 'Location of the mounted blob', mounted);
      t.expectStatus(await client.request('GET', mounted.relativeLocation()).send(), status.is(200));
    });
    spec('Cross-mounting of nonexistent blob should yield session id', async (t) => {
      const mounted = mountAnswer(t);
      t.runOnlyIf(mounted.status === 202, `the mount answered ${mounted.status}, not 202`);
      const prefix = `/v2/${xns}/blobs/uploads/`;
      t.expect(mounted.relativeLocation().startsWith(prefix), `Location: expected a session under ${prefix}, received ${JSON.stringify(mounted.relativeLocation())}`, mounted);
    });
    spec('Cross-mounting without from, and automatic content discovery enabled should return a 201', async (t) => {
      t.runOnlyIf(config.testAutomaticCrossmount, 'OCI_AUTOMATIC_CROSSMOUNT is not set');
      const mounted = mountAnswer(t);
      t.runOnlyIf(mounted.status === 201, `the mount with "from" answered ${mounted.status}, not 201`);
      t.runOnlyIf(config.automaticCrossmount, 'OCI_AUTOMATIC_CROSSMOUNT is false');
      t.expectStatus(await post(xns).query('mount', blobA.digest).send(), status.is(201));
    });
    spec('Cross-mounting without from, and automatic content discovery disabled should return a 202', async (t) => {
      t.runOnlyIf(config.testAutomaticCrossmount, 'OCI_AUTOMATIC_CROSSMOUNT is not set');
      const mounted = mountAnswer(t);
      t.runOnlyIf(mounted.status === 201, `the mount with "from" answered ${mounted.status}, not 201`);
      t.runOnlyIf(!config.automaticCrossmount, 'OCI_AUTOMATIC_CROSSMOUNT is true');
      t.expectStatus(await post(xns).query('mount', blobA.digest).send(), status.is(202));
    });
  });

  w.context('Manifest Upload', (spec) => {
    spec('GET nonexistent manifest should return 404', async (t) => {
      t.expectStatus(await getManifest(client, INVALID_TAG), status.is(404));
    });
    spec('PUT should accept a manifest upload', async (t) => {
      for (let i = 0; i < 4; i++) {
        const resp = await putManifest(client, `test${i}`, manifest1);
        t.expectNotEmpty(resp.header('Location'), `Location of tag test${i}`, resp);
        t.expectStatus(resp, status.is(201));
      }
    });
    spec('Registry should accept a manifest upload with no layers', async (t) => {
      const resp = await putManifest(client, EMPTY_LAYER_TAG, content.emptyLayerManifest);
      if (resp.status === 201) {
        emptyLayerLocation = resp.header('Location');
        t.expectNotEmpty(emptyLayerLocation, 'Location', resp);
      } else {
        t.warn(`image manifest with no layers is not supported (status ${resp.status})`);
      }
    });
    spec('GET request to manifest URL (digest) should yield 200 response', async (t) => {
      t.expectStatus(await getManifest(client, manifest1.digest, MEDIA.manifest), status.is(200));
    });
  });

  w.context('Teardown', (spec) => {
    const deleteManifests = () =>
      spec('Delete manifest created in tests', async (t) => {
        t.expectStatus(await deleteManifest(client, manifest1.digest), status.successOr(405));
        if (emptyLayerLocation !== '') {
          t.expectStatus(await deleteManifest(client, content.emptyLayerManifest.digest), status.successOr(405));
        }
      });
    if (config.deleteManifestBeforeBlobs) deleteManifests();
    spec('Delete config blob created in tests', async (t) => {
      t.expectStatus(await deleteBlob(client, config1.digest), status.successOr(404, 405));
    });
    spec('Delete layer blob created in setup', async (t) => {
      t.expectStatus(await deleteBlob(client, layer.digest), status.successOr(404, 405));
    });
    if (!config.deleteManifestBeforeBlobs) deleteManifests();
  });
}
