import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDigest } from '../../lib/digest.js';
import { isRepositoryName, isTag } from '../../lib/names.js';

describe('repository names', () => {
  const cases: [string, boolean][] = [
    ['library/ubuntu', true],
    ['a', true],
    ['a/b/c/d', true],
    ['my-org/my.repo_name', true],
    ['a__b', true],
    ['a---b', true],
    ['a/blobs/uploads', true],
    ['', false],
    ['A', false],
    ['Upper/case', false],
    ['a/', false],
    ['/a', false],
    ['a//b', false],
    ['-a', false],
    ['a-', false],
    ['a..b', false],
    ['..', false],
    ['a/../b', false],
    ['a___b', false],
    ['a%2Fb', false],
    ['a b', false],
    ['_catalog', false],
    ['a'.repeat(255), true],
    ['a'.repeat(256), false],
  ];
  for (const [name, ok] of cases) {
    it(`${ok ? 'accepts' : 'refuses'} ${JSON.stringify(name.length > 40 ? `${name.slice(0, 10)}…(${name.length})` : name)}`, () => {
      assert.equal(isRepositoryName(name), ok);
    });
  }
});

describe('tags', () => {
  const cases: [string, boolean][] = [
    ['latest', true],
    ['v1.2.3', true],
    ['_private', true],
    ['UPPER-lower_1.0', true],
    [`sha256-${'a'.repeat(64)}`, true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['.hidden', false],
    ['-dash', false],
    ['', false],
    ['has:colon', false],
    ['has/slash', false],
    ['.INVALID_MANIFEST_NAME', false],
  ];
  for (const [tag, ok] of cases) {
    it(`${ok ? 'accepts' : 'refuses'} ${JSON.stringify(tag.length > 40 ? `${tag.slice(0, 10)}…(${tag.length})` : tag)}`, () => {
      assert.equal(isTag(tag), ok);
    });
  }
});

describe('digests', () => {
  const hex64 = 'a'.repeat(64);
  const cases: [string, 'ok' | 'malformed' | 'unsupported'][] = [
    [`sha256:${hex64}`, 'ok'],
    [`sha512:${'b'.repeat(128)}`, 'ok'],
    [`sha256:${'A'.repeat(64)}`, 'malformed'],
    [`sha256:${'a'.repeat(63)}`, 'malformed'],
    [`sha512:${hex64}`, 'malformed'],
    ['sha256:totallywrong', 'malformed'],
    ['sha256', 'malformed'],
    [':abc', 'malformed'],
    ['SHA256:abc', 'malformed'],
    [`sha256:${hex64}/../x`, 'malformed'],
    ['md5:d41d8cd98f00b204e9800998ecf8427e', 'unsupported'],
    ['multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8', 'unsupported'],
  ];
  for (const [value, expected] of cases) {
    it(`${expected}: ${value.slice(0, 30)}`, () => {
      const parsed = parseDigest(value);
      assert.equal(parsed.ok ? 'ok' : parsed.reason, expected);
    });
  }
});
