import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRegistry, memoryStorage } from '../../lib/index.js';

describe('createRegistry options', () => {
  const storage = memoryStorage();
  const refuses = (options: unknown, pattern: RegExp) =>
    assert.throws(() => createRegistry(options as never), (err: unknown) => err instanceof TypeError && pattern.test(err.message));

  it('accepts the minimum and exposes the store', () => {
    const registry = createRegistry({ storage });
    assert.equal(typeof registry, 'function');
    assert.equal(registry.storage, storage);
  });

  it('refuses what is not an options object', () => {
    refuses(undefined, /options must be an object/);
    refuses('fs', /options must be an object/);
  });

  it('names a missing or incomplete store', () => {
    refuses({}, /`storage.blobs` is missing/);
    refuses({ storage: { ...storage, tags: undefined } }, /`storage.tags` is missing/);
  });

  it('suggests the right spelling of an unknown option', () => {
    refuses({ storage, publicpath: '' }, /unknown option "publicpath"; did you mean "publicPath"\?/);
    refuses({ storage, colour: 1 }, /unknown option "colour"\.$/);
  });

  it('checks each option type', () => {
    refuses({ storage, authorize: true }, /`authorize` must be a function/);
    refuses({ storage, challenge: 5 }, /`challenge` must be a string or a function/);
    refuses({ storage, publicPath: '/reg/' }, /`publicPath` must be a path without a trailing slash/);
    refuses({ storage, maxManifestBytes: -1 }, /`maxManifestBytes` must be a positive integer \(got -1\)/);
    refuses({ storage, uploadTimeout: 1.5 }, /`uploadTimeout` must be a positive integer/);
    refuses({ storage, deletes: 'no' }, /`deletes` must be true or false/);
    refuses({ storage, automaticMount: 1 }, /`automaticMount` must be true or false/);
    refuses({ storage, logger: console.log }, /`logger` must have warn/);
  });

  it('accepts every documented option', () => {
    createRegistry({
      storage,
      authorize: () => ({ allowed: true }),
      challenge: ({ accesses }) => `Basic realm="${String(accesses.length)}"`,
      publicPath: '',
      maxManifestBytes: 1024,
      uploadTimeout: 1000,
      deletes: false,
      automaticMount: false,
      logger: { warn() {}, error() {} },
    });
  });
});
