/**
 * Pull workflow (24 specs): push two configs, a layer and two manifests (one tagged, one by digest),
 * then check blob and manifest HEAD/GET, 404s for absent content and an invalid tag, the error body
 * of a malformed digest, and delete everything again.
 */
import { MEDIA } from '../content.js';
import { decodeErrors } from '../gojson.js';
import { status } from '../harness.js';
import { ACCEPTED_ERROR_CODES, type WorkflowContext, deleteBlob, deleteManifest, getManifest, putManifest, uploadBlob } from '../steps.js';

/** A reference that is not a valid tag: registries must answer 404 on pull, not 400. */
export const INVALID_TAG = '.INVALID_MANIFEST_NAME';
const TAG = 'tagtest0';

export function pullWorkflow({ suite, config, client, content }: WorkflowContext): void {
  const w = suite.workflow('Pull', config.workflows.pull);
  const { configs, layer, manifests } = content;
  const [config0, config1] = [configs[0]!, configs[1]!];
  const [manifest0, manifest1] = [manifests[0]!, manifests[1]!];
  let tag = '';
  const setupSkipped = 'pull setup is off (OCI_TAG_NAME, OCI_MANIFEST_DIGEST and OCI_BLOB_DIGEST are set)';

  w.context('Setup', (spec) => {
    spec('Populate registry with test blob', async (t) => {
      t.runOnlyIf(config.runPullSetup, setupSkipped);
      t.expectStatus(await uploadBlob(client, config0), status.success);
    });
    spec('Populate registry with test blob', async (t) => {
      t.runOnlyIf(config.runPullSetup, setupSkipped);
      t.expectStatus(await uploadBlob(client, config1), status.success);
    });
    spec('Populate registry with test layer', async (t) => {
      t.runOnlyIf(config.runPullSetup, setupSkipped);
      t.expectStatus(await uploadBlob(client, layer), status.success);
    });
    spec('Populate registry with test manifest', async (t) => {
      t.runOnlyIf(config.runPullSetup, setupSkipped);
      tag = TAG;
      t.expectStatus(await putManifest(client, tag, manifest0), status.success);
    });
    spec('Populate registry with test manifest', async (t) => {
      t.runOnlyIf(config.runPullSetup, setupSkipped);
      t.expectStatus(await putManifest(client, manifest1.digest, manifest1), status.success);
    });
    spec('Get tag name from environment', async (t) => {
      t.runOnlyIf(!config.runPullSetup, 'the pull setup pushed its own content');
      if (config.tagName !== '') tag = config.tagName;
    });
  });

  w.context('Pull blobs', (spec) => {
    spec('HEAD request to nonexistent blob should result in 404 response', async (t) => {
      const resp = await client.request('HEAD', '/v2/<name>/blobs/<digest>', { digest: content.absentDigest }).send();
      t.expectStatus(resp, status.is(404));
    });
    spec('HEAD request to existing blob should yield 200', async (t) => {
      const resp = await client.request('HEAD', '/v2/<name>/blobs/<digest>', { digest: config0.digest }).send();
      t.expectStatus(resp, status.is(200));
      const digest = resp.header('Docker-Content-Digest');
      if (digest !== '') t.expectEqual(digest, config0.digest, 'Docker-Content-Digest', resp);
    });
    spec('GET nonexistent blob should result in 404 response', async (t) => {
      t.expectStatus(await client.request('GET', '/v2/<name>/blobs/<digest>', { digest: content.absentDigest }).send(), status.is(404));
    });
    spec('GET request to existing blob URL should yield 200', async (t) => {
      t.expectStatus(await client.request('GET', '/v2/<name>/blobs/<digest>', { digest: config0.digest }).send(), status.is(200));
    });
  });

  w.context('Pull manifests', (spec) => {
    const head = (reference: string, accept?: string) => {
      const req = client.request('HEAD', '/v2/<name>/manifests/<reference>', { reference });
      if (accept) req.header('Accept', accept);
      return req.send();
    };
    const headExisting = (name: string, reference: () => string, expectedDigest: string) =>
      spec(name, async (t) => {
        const ref = reference();
        t.expectNotEmpty(ref, 'tag to pull');
        const resp = await head(ref, MEDIA.manifest);
        t.expectStatus(resp, status.is(200));
        const digest = resp.header('Docker-Content-Digest');
        if (digest !== '') t.expectEqual(digest, expectedDigest, 'Docker-Content-Digest', resp);
      });
    const getExisting = (name: string, reference: () => string) =>
      spec(name, async (t) => {
        const ref = reference();
        t.expectNotEmpty(ref, 'tag to pull');
        t.expectStatus(await getManifest(client, ref, MEDIA.manifest), status.is(200));
      });

    spec('HEAD request to nonexistent manifest should return 404', async (t) => {
      t.expectStatus(await head(INVALID_TAG), status.is(404));
    });
    headExisting('HEAD request to manifest[0] path (digest) should yield 200 response', () => manifest0.digest, manifest0.digest);
    headExisting('HEAD request to manifest[1] path (digest) should yield 200 response', () => manifest1.digest, manifest1.digest);
    headExisting('HEAD request to manifest path (tag) should yield 200 response', () => tag, manifest0.digest);
    spec('GET nonexistent manifest should return 404', async (t) => {
      t.expectStatus(await getManifest(client, INVALID_TAG), status.is(404));
    });
    getExisting('GET request to manifest[0] path (digest) should yield 200 response', () => manifest0.digest);
    getExisting('GET request to manifest[1] path (digest) should yield 200 response', () => manifest1.digest);
    getExisting('GET request to manifest path (tag) should yield 200 response', () => tag);
  });

  w.context('Error codes', (spec) => {
    spec('400 response body should contain OCI-conforming JSON message', async (t) => {
      // a malformed digest, sent (as the suite does) with a stray manifest body on the GET
      const resp = await client
        .request('GET', '/v2/<name>/manifests/<reference>', { reference: 'sha256:totallywrong' })
        .header('Content-Type', MEDIA.manifest)
        .body(Buffer.from('this is not a manifest'))
        .send();
      t.expectStatus(resp, status.is(400, 404));
      if (resp.status === 400) {
        const errors = decodeErrors(resp.body);
        if (!errors.ok) return t.fail(`expected an OCI error body, could not read it: ${errors.error}`, resp);
        const code = errors.value[0]?.code ?? '';
        t.expect(ACCEPTED_ERROR_CODES.includes(code), `errors[0].code: expected a spec error code, received ${JSON.stringify(code)}`, resp);
      }
    });
  });

  w.context('Teardown', (spec) => {
    const deleteManifests = () => {
      for (const [label, manifest] of [['manifest[0]', manifest0], ['manifest[1]', manifest1]] as const) {
        spec(`Delete ${label} created in setup`, async (t) => {
          t.runOnlyIf(config.runPullSetup, setupSkipped);
          t.expectStatus(await deleteManifest(client, manifest.digest), status.successOr(405));
        });
      }
    };
    if (config.deleteManifestBeforeBlobs) deleteManifests();
    for (const [label, blob] of [['config[0] blob', config0], ['config[1] blob', config1], ['layer blob', layer]] as const) {
      spec(`Delete ${label} created in setup`, async (t) => {
        t.runOnlyIf(config.runPullSetup, setupSkipped);
        t.expectStatus(await deleteBlob(client, blob.digest), status.successOr(404, 405));
      });
    }
    if (!config.deleteManifestBeforeBlobs) deleteManifests();
  });
}
