/**
 * Content Management workflow (10 specs): push manifest[3] as `tagtest0`, delete the tag and then the
 * manifest, check the manifest and the tag are gone, delete the blobs and check a deleted blob is gone.
 */
import { decodeErrors, decodeTagList } from '../gojson.js';
import { status } from '../harness.js';
import { type WorkflowContext, deleteBlob, deleteManifest, getBlob, getManifest, listTags, putManifest, uploadBlob } from '../steps.js';

const TAG = 'tagtest0';

export function managementWorkflow({ suite, config, client, content }: WorkflowContext): void {
  const w = suite.workflow('Content Management', config.workflows.management);
  const { layer } = content;
  const config3 = content.configs[3]!;
  const manifest3 = content.manifests[3]!;
  let tagToDelete = '';
  let numTags = 0;
  let blobDeleteAllowed = true;

  w.context('Setup', (spec) => {
    spec('Populate registry with test config blob', async (t) => {
      t.expectStatus(await uploadBlob(client, config3), status.success);
    });
    spec('Populate registry with test layer', async (t) => {
      t.expectStatus(await uploadBlob(client, layer), status.success);
    });
    spec('Populate registry with test tag', async (t) => {
      tagToDelete = TAG;
      t.expectStatus(await putManifest(client, tagToDelete, manifest3), status.success);
    });
    spec('Check how many tags there are before anything gets deleted', async (t) => {
      const resp = await listTags(client);
      t.expectStatus(resp, status.is(200));
      const list = decodeTagList(resp.body);
      if (!list.ok) return t.fail(`expected a tag list, could not read it: ${list.error}`, resp);
      numTags = list.value.tags?.length ?? 0;
    });
  });

  w.context('Manifest delete', (spec) => {
    spec('DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)', async (t) => {
      // an empty tag leaves the path template unfilled: the request is refused and the spec fails, as in the suite
      const resp = await deleteManifest(client, tagToDelete);
      t.expectStatus(resp, status.is(400, 202, 405));
      if (resp.status === 400) {
        const errors = decodeErrors(resp.body);
        if (!errors.ok) return t.fail(`expected an OCI error body, could not read it: ${errors.error}`, resp);
        t.expectEqual(errors.value[0]?.code ?? '', 'UNSUPPORTED', 'errors[0].code of a refused tag delete', resp);
      }
    });
    spec('DELETE request to manifest (digest) should yield 202 response unless already deleted', async (t) => {
      t.expectStatus(await deleteManifest(client, manifest3.digest), status.is(202, 404));
    });
    spec('GET request to deleted manifest URL should yield 404 response, unless delete is disallowed', async (t) => {
      t.expectStatus(await getManifest(client, manifest3.digest), status.is(404, 200));
    });
    spec('GET request to tags list should reflect manifest deletion', async (t) => {
      const resp = await listTags(client);
      t.expectStatus(resp, status.is(404, 200));
      const expected = numTags - 1;
      if (resp.status === 200) {
        const list = decodeTagList(resp.body);
        if (!list.ok) return t.fail(`expected a tag list, could not read it: ${list.error}`, resp);
        t.expectEqual(list.value.tags?.length ?? 0, expected, 'number of tags after the deletes', resp);
      } else {
        t.expect(expected === 0, `tags list: 404, but ${expected} tag(s) should remain (${numTags} before one was deleted)`, resp);
      }
    });
  });

  w.context('Blob delete', (spec) => {
    spec('DELETE request to blob URL should yield 202 response', async (t) => {
      t.expectStatus(await deleteBlob(client, config3.digest), status.is(202, 404, 405));
      const resp = await deleteBlob(client, layer.digest);
      t.expectStatus(resp, status.is(202, 404, 405));
      if (resp.status === 405) blobDeleteAllowed = false;
    });
    spec('GET request to deleted blob URL should yield 404 response', async (t) => {
      t.runOnlyIf(blobDeleteAllowed, 'the registry refused blob deletes (405)');
      t.expectStatus(await getBlob(client, config3.digest), status.is(404));
    });
  });
}
