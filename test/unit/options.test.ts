import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowAll, createRegistry, memoryStorage, pullOnly } from '../../lib/index.js';

describe('createRegistry options', () => {
  const storage = memoryStorage();
  const refuses = (options: unknown, pattern: RegExp) =>
    assert.throws(() => createRegistry(options as never), (err: unknown) => err instanceof TypeError && pattern.test(err.message));

  it('accepts the minimum (a store and a policy) and exposes the store', () => {
    for (const authorize of [pullOnly, allowAll]) {
      const registry = createRegistry({ storage, authorize });
      assert.equal(typeof registry, 'function');
      assert.equal(registry.storage, storage);
    }
  });

  it('refuses to start without an auth policy: the host picks one explicitly', () => {
    refuses({ storage }, /choose who may do what with `authorize`: pullOnly .*allowAll .*basicAuth/);
    refuses({ storage, authorize: undefined }, /choose who may do what/);
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
    refuses({ storage, authorize: pullOnly, challenge: 5 }, /`challenge` must be a string or a function/);
    refuses({ storage, authorize: pullOnly, publicPath: '/reg/' }, /`publicPath` must be a path without a trailing slash/);
    refuses({ storage, authorize: pullOnly, maxManifestBytes: -1 }, /`maxManifestBytes` must be a positive integer \(got -1\)/);
    refuses({ storage, authorize: pullOnly, uploadTimeout: 1.5 }, /`uploadTimeout` must be a positive integer/);
    refuses({ storage, authorize: pullOnly, deletes: 'no' }, /`deletes` must be true or false/);
    refuses({ storage, authorize: pullOnly, automaticMount: 1 }, /`automaticMount` must be true or false/);
    refuses({ storage, authorize: pullOnly, logger: console.log }, /`logger` must have warn/);
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
