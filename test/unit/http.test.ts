import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseByteRange, parseContentRange, uploadRange } from '../../lib/http.js';

describe('upload Content-Range', () => {
  const cases: [string, { start: number; end: number } | undefined][] = [
    ['0-21', { start: 0, end: 21 }],
    ['22-41', { start: 22, end: 41 }],
    ['bytes 0-9/10', { start: 0, end: 9 }],
    ['bytes=0-9', { start: 0, end: 9 }],
    ['5-5', { start: 5, end: 5 }],
    ['9-3', undefined],
    ['-5', undefined],
    ['a-b', undefined],
    ['0-', undefined],
    ['', undefined],
    ['0-99999999999999999999', undefined],
  ];
  for (const [header, expected] of cases) {
    it(JSON.stringify(header), () => assert.deepEqual(parseContentRange(header), expected));
  }
});

describe('blob Range', () => {
  const size = 10;
  const cases: [string | undefined, { start: number; end: number } | undefined | null][] = [
    [undefined, undefined],
    ['bytes=0-4', { start: 0, end: 5 }],
    ['bytes=5-', { start: 5, end: 10 }],
    ['bytes=-3', { start: 7, end: 10 }],
    ['bytes=-30', { start: 0, end: 10 }],
    ['bytes=8-100', { start: 8, end: 10 }],
    ['bytes=10-', null],
    ['bytes=-0', null],
    ['bytes=0-1,3-4', undefined],
    ['items=0-1', undefined],
    ['bytes=5-2', undefined],
  ];
  for (const [header, expected] of cases) {
    it(String(header), () => assert.deepEqual(parseByteRange(header, size), expected));
  }
  it('refuses any range of an empty blob', () => assert.equal(parseByteRange('bytes=-1', 0), null));
});

describe('upload Range header', () => {
  it('is inclusive, and 0-0 when empty', () => {
    assert.equal(uploadRange(0), '0-0');
    assert.equal(uploadRange(1), '0-0');
    assert.equal(uploadRange(22), '0-21');
  });
});
