/**
 * Content Discovery workflow (16 specs): tags test0…test3 and the tag list with `n` and `last`; the
 * referrers API with referrers pushed before their subject exists, an index with a subject, an
 * artifactType filter, and a subject that never exists; then teardown.
 */
import type { HttpResponse } from '../client.js';
import { ANNOTATION_KEY, ARTIFACT_TYPE_A, EMPTY_JSON_DIGEST, MEDIA, type TestBlob } from '../content.js';
import { type Index, decodeIndex, decodeTagList } from '../gojson.js';
import { type SpecControl, status } from '../harness.js';
import { type WorkflowContext, deleteBlob, deleteManifest, listTags, putManifest, uploadBlob } from '../steps.js';

export function discoveryWorkflow({ suite, config, client, content }: WorkflowContext): void {
  const w = suite.workflow('Content Discovery', config.workflows.discovery);
  const { layer, referrers: refs } = content;
  const [config2, config4] = [content.configs[2]!, content.configs[4]!];
  const [manifest2, manifest3, manifest4] = [content.manifests[2]!, content.manifests[3]!, content.manifests[4]!];
  const setupSkipped = 'discovery setup is off (OCI_TAG_LIST is set)';
  let numTags = 4;
  let tagList: string[] = [];

  const tagsOf = (resp: HttpResponse): string[] => {
    const decoded = decodeTagList(resp.body);
    return decoded.ok ? (decoded.value.tags ?? []) : [];
  };

  w.context('Setup', (spec) => {
    spec('Populate registry with test blob', async (t) => {
      t.runOnlyIf(config.runDiscoverySetup, setupSkipped);
      t.expectStatus(await uploadBlob(client, config2), status.success);
    });
    spec('Populate registry with test layer', async (t) => {
      t.runOnlyIf(config.runDiscoverySetup, setupSkipped);
      t.expectStatus(await uploadBlob(client, layer), status.success);
    });
    spec('Populate registry with test tags', async (t) => {
      t.runOnlyIf(config.runDiscoverySetup, setupSkipped);
      for (let i = 0; i < numTags; i++) {
        const tag = `test${i}`;
        tagList.push(tag);
        t.expectStatus(await putManifest(client, tag, manifest2), status.success);
      }
      tagList = tagsOf(await listTags(client));
    });
    spec('Populate registry with test tags (no push)', async (t) => {
      t.runOnlyIf(!config.runDiscoverySetup, 'the discovery setup pushed its own tags');
      tagList = config.tagList;
    });
    spec('References setup', async (t) => {
      t.runOnlyIf(config.runDiscoverySetup, setupSkipped);
      t.expectEqual(refs.emptyJson.digest, EMPTY_JSON_DIGEST, 'digest of the empty JSON blob');
      const blob = async (b: TestBlob) => t.expectStatus(await uploadBlob(client, b), status.success);
      const manifest = async (m: TestBlob, reference: string, mediaType: string, subject?: string) => {
        const resp = await putManifest(client, reference, m, mediaType);
        t.expectStatus(resp, status.success);
        if (subject !== undefined) t.expectEqual(resp.header('OCI-Subject'), subject, 'OCI-Subject', resp);
      };

      await blob(refs.emptyJson);
      await blob(refs.blobA);
      // referrers pushed while their subject, manifest[4], does not exist yet
      await manifest(refs.aConfig, refs.aConfig.digest, MEDIA.manifest, manifest4.digest);
      await manifest(refs.aLayer, refs.aLayer.digest, MEDIA.manifest, manifest4.digest);
      await manifest(refs.index, refs.index.digest, MEDIA.index, manifest4.digest);
      // the subject itself
      await blob(config4);
      await blob(layer);
      await manifest(manifest4, 'tagtest0', MEDIA.manifest);
      // referrers pushed after their subject
      await blob(refs.blobB);
      await manifest(refs.bConfig, refs.bConfig.digest, MEDIA.manifest, manifest4.digest);
      await manifest(refs.bLayer, refs.bLayer.digest, MEDIA.manifest, manifest4.digest);
      // a referrer of manifest[3], which is never pushed
      await manifest(refs.cLayer, refs.cLayer.digest, MEDIA.manifest, manifest3.digest);
    });
  });

  w.context('Test content discovery endpoints (listing tags)', (spec) => {
    spec('GET request to list tags should yield 200 response', async (t) => {
      const resp = await listTags(client);
      t.expectStatus(resp, status.is(200));
      tagList = tagsOf(resp);
      numTags = tagList.length;
    });
    spec('GET number of tags should be limitable by `n` query parameter', async (t) => {
      const n = Math.floor(numTags / 2);
      const resp = await listTags(client, n);
      t.expectStatus(resp, status.is(200));
      tagList = tagsOf(resp);
      t.expectEqual(tagList.length, n, `number of tags with n=${n}`, resp);
    });
    spec('GET start of tag is set by `last` query parameter', async (t) => {
      const n = Math.floor(numTags / 2);
      tagList = tagsOf(await listTags(client, n));
      const last = tagList[n - 1] ?? t.fail(`no tag at position ${n - 1} of the first page (${tagList.length} tags) to continue from`);
      const resp = await listTags(client, n, last);
      t.expectStatus(resp, status.is(200));
      // the suite's remaining checks look at the first page again, so they hold whenever the above did
      t.expect(tagList.length <= n, `first page: expected at most ${n} tags, received ${tagList.length}`, resp);
    });
  });

  w.context('Test content discovery endpoints (listing references)', (spec) => {
    const referrersOf = async (t: SpecControl, digest: string, artifactType?: string): Promise<{ resp: HttpResponse; index: Index }> => {
      const req = client.request('GET', '/v2/<name>/referrers/<digest>', { digest });
      if (artifactType !== undefined) req.query('artifactType', artifactType);
      const resp = await req.send();
      t.expectStatus(resp, status.is(200));
      t.expectEqual(resp.header('Content-Type'), MEDIA.index, 'Content-Type', resp);
      const index = decodeIndex(resp.body);
      if (!index.ok) t.fail(`expected an image index, could not read it: ${index.error}`, resp);
      return { resp, index: index.value };
    };
    const expectOneAnnotationEach = (t: SpecControl, resp: HttpResponse, index: Index) => {
      for (const [i, d] of (index.manifests ?? []).entries()) {
        const annotations = d.annotations ?? {};
        t.expectEqual(Object.keys(annotations).length, 1, `manifests[${i}]: number of annotations`, resp);
        const expected = refs.annotations.get(d.digest ?? '') ?? '';
        t.expectEqual(annotations[ANNOTATION_KEY] ?? '', expected, `manifests[${i}]: annotation ${ANNOTATION_KEY}`, resp);
      }
    };
    const count = (index: Index) => index.manifests?.length ?? 0;

    spec('GET request to nonexistent blob should result in empty 200 response', async (t) => {
      const { resp, index } = await referrersOf(t, content.absentDigest);
      t.expectEqual(count(index), 0, 'number of referrers', resp);
    });
    spec('GET request to existing blob should yield 200', async (t) => {
      const { resp, index } = await referrersOf(t, manifest4.digest);
      t.expectEqual(count(index), 5, 'number of referrers', resp);
      const [first, second] = index.manifests ?? [];
      t.expect(first?.digest !== second?.digest, `manifests[0] and manifests[1] have the same digest ${first?.digest}`, resp);
      expectOneAnnotationEach(t, resp, index);
    });
    spec('GET request to existing blob with filter should yield 200', async (t) => {
      const { resp, index } = await referrersOf(t, manifest4.digest, ARTIFACT_TYPE_A);
      const applied = resp.header('OCI-Filters-Applied');
      if (applied !== '') {
        t.expectEqual(count(index), 2, `number of referrers of type ${ARTIFACT_TYPE_A}`, resp);
        t.expectEqual(applied, 'artifactType', 'OCI-Filters-Applied', resp);
      } else {
        t.expectEqual(count(index), 5, 'number of referrers (no filter applied)', resp);
      }
      expectOneAnnotationEach(t, resp, index);
      if (applied === '') t.warn('filtering by artifact-type is not implemented');
    });
    spec('GET request to missing manifest should yield 200', async (t) => {
      const { resp, index } = await referrersOf(t, manifest3.digest);
      t.expectEqual(count(index), 1, 'number of referrers', resp);
      t.expectEqual(index.manifests?.[0]?.digest ?? '', refs.cLayer.digest, 'manifests[0].digest', resp);
    });
  });

  w.context('Teardown', (spec) => {
    const gone = status.successOr(404, 405);
    const deleteAll = async (t: SpecControl, steps: Array<() => Promise<HttpResponse>>) => {
      for (const step of steps) t.expectStatus(await step(), gone);
    };
    const manifestsWithTags = [refs.index, manifest2, manifest4, refs.aConfig, refs.aLayer, refs.bConfig, refs.bLayer, refs.cLayer];
    const referrerManifests = [refs.index, refs.aConfig, refs.aLayer, manifest4, refs.bConfig, refs.bLayer];
    const referrerBlobs = [config4, refs.blobA, refs.blobB, refs.emptyJson];

    const deleteManifests = () =>
      spec('Delete created manifest & associated tags', async (t) => {
        t.runOnlyIf(config.runDiscoverySetup, setupSkipped);
        await deleteAll(t, manifestsWithTags.map((m) => () => deleteManifest(client, m.digest)));
      });
    if (config.deleteManifestBeforeBlobs) deleteManifests();
    spec('Delete config blob created in tests', async (t) => {
      t.runOnlyIf(config.runDiscoverySetup, setupSkipped);
      t.expectStatus(await deleteBlob(client, config2.digest), gone);
    });
    spec('Delete layer blob created in setup', async (t) => {
      t.runOnlyIf(config.runDiscoverySetup, setupSkipped);
      t.expectStatus(await deleteBlob(client, layer.digest), gone);
    });
    if (!config.deleteManifestBeforeBlobs) deleteManifests();
    spec('References teardown', async (t) => {
      t.runOnlyIf(config.runDiscoverySetup, setupSkipped);
      const manifests = referrerManifests.map((m) => () => deleteManifest(client, m.digest));
      const blobs = referrerBlobs.map((b) => () => deleteBlob(client, b.digest));
      await deleteAll(t, config.deleteManifestBeforeBlobs ? [...manifests, ...blobs] : [...blobs, ...manifests]);
    });
  });
}
