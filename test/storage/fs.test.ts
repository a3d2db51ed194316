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

describe('fs store: repository usage written behind', () => {
  const digest = `sha256:${'b'.repeat(64)}` as const;

  it('is on disk after close: a new process reads the last figure of a burst of changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-fs-'));
    const first = fsStorage({ root: dir });
    await first.init?.();
    await first.links.add('usage/burst', digest);
    const changes = await Promise.all(Array.from({ length: 50 }, () => first.repositories.addUsage('usage/burst', 10)));
    assert.equal(Math.max(...changes.map((u) => u?.bytes ?? 0)), 500);
    await first.close?.();
    const second = fsStorage({ root: dir });
    await second.init?.();
    assert.deepEqual(await second.repositories.usage('usage/burst'), { bytes: 500, version: 50 });
    await second.close?.();
    await rm(dir, { recursive: true, force: true });
  });

  it('a delete racing usage changes leaves no entry behind to bring the repository back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-fs-'));
    const first = fsStorage({ root: dir });
    await first.init?.();
    await first.links.add('usage/gone', digest);
    const adds = Array.from({ length: 20 }, () => first.repositories.addUsage('usage/gone', 1));
    const deleted = first.repositories.delete('usage/gone');
    const late = Array.from({ length: 20 }, () => first.repositories.addUsage('usage/gone', 1));
    await Promise.all([...adds, deleted, ...late]);
    assert.equal(await deleted, true);
    await first.close?.();
    const second = fsStorage({ root: dir });
    await second.init?.();
    assert.equal(await second.repositories.has('usage/gone'), false);
    assert.deepEqual(await second.repositories.list({ n: 10 }), []);
    await second.close?.();
    await rm(dir, { recursive: true, force: true });
  });
});
