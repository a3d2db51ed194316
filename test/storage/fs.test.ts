import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fsStorage } from '../../lib/index.js';
import { testStorage } from '../../lib/testing/contract.js';

let root = '';
testStorage('fs', async () => fsStorage({ root: (root = await mkdtemp(join(tmpdir(), 'berth-fs-'))) }), {
  teardown: async () => {
    // nothing may be left staged: every write was renamed into place
    assert.deepEqual(await readdir(join(root, 'tmp')).catch(() => []), []);
    await rm(root, { recursive: true, force: true });
  },
});

describe('fs store: path safety', () => {
  it('refuses names, tags and digests that could leave the root', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-fs-'));
    const s = fsStorage({ root: dir });
    const d = `sha256:${'a'.repeat(64)}` as const;
    await assert.rejects(s.tags.get('../escape', 'v1'), /invalid repository name/);
    await assert.rejects(s.tags.get('a/../../etc', 'v1'), /invalid repository name/);
    await assert.rejects(s.tags.get('ok', '../../passwd'), /invalid tag/);
    await assert.rejects(s.blobs.stat('sha256:../../x'), /invalid digest/);
    await assert.rejects(s.manifests.get('ok%2F..', d), /invalid repository name/);
    assert.equal(await s.uploads.get('../../etc'), undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('needs a root', () => {
    assert.throws(() => fsStorage({ root: '' }), /root/);
  });
});
