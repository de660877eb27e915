/** The strict byte codec: round trips, and every refusal names its field and offset. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LedgerDecodeError, LedgerEncodeError, Reader, Writer } from '../../controller/ledger/codec.js';

const decodeError = (field: string, offset: number) => (e: unknown): boolean =>
  e instanceof LedgerDecodeError && e.field === field && e.offset === offset;

test('writer and reader round-trip every field type, big-endian', () => {
  const id = Buffer.alloc(32, 7);
  const b = new Writer(4)
    .u8(0xab, 'a').u16(0x1234, 'b').u32(0xdeadbeef, 'c').u64(Number.MAX_SAFE_INTEGER, 'd').u64big(0xffff_ffff_ffff_ffffn, 'e')
    .fixed(id, 32, 'f').string16('chaîne ✓', 'g').string32('', 'h').bytes16(Buffer.from([1, 2]), 'i')
    .finish();
  assert.deepEqual([...b.subarray(0, 7)], [0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef]);
  const r = new Reader(b);
  assert.equal(r.u8('a'), 0xab);
  assert.equal(r.u16('b'), 0x1234);
  assert.equal(r.u32('c'), 0xdeadbeef);
  assert.equal(r.u64('d'), Number.MAX_SAFE_INTEGER);
  assert.equal(r.u64big('e'), 0xffff_ffff_ffff_ffffn);
  assert.deepEqual(r.bytes(32, 'f'), id);
  assert.equal(r.string16('g'), 'chaîne ✓');
  assert.equal(r.string32('h'), '');
  assert.deepEqual([...r.bytes16('i')], [1, 2]);
  r.done('all');
});

test('reader refusals: past the end, trailing bytes, u64 above 2^53, invalid UTF-8', () => {
  assert.throws(() => new Reader(Buffer.from([1, 2, 3])).u32('x'), decodeError('x', 0));
  const trailing = new Reader(Buffer.from([1, 2]));
  trailing.u8('a');
  assert.throws(() => trailing.done('tx'), decodeError('tx', 1));
  // A length that runs past the end is refused at the length's offset.
  assert.throws(() => new Reader(Buffer.from([0, 5, 0x61])).string16('path'), decodeError('path', 0));
  assert.throws(() => new Reader(Buffer.from([0, 0x20, 0, 0, 0, 0, 0, 0])).u64('ts'), decodeError('ts', 0));
  assert.equal(new Reader(Buffer.from([0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).u64('ts'), Number.MAX_SAFE_INTEGER);
  for (const bad of [[0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xff]]) {
    const b = Buffer.from([0, bad.length, ...bad]);
    assert.throws(() => new Reader(b).string16('path'), (e: unknown) => e instanceof LedgerDecodeError && /invalid UTF-8/.test(e.message), `${bad}`);
  }
});

test('a leading BOM is content (kept), so two byte strings never decode to one string', () => {
  const withBom = new Writer().string16('\uFEFF/x', 'p').finish();
  assert.equal(new Reader(withBom).string16('p'), '\uFEFF/x');
});

test('writer refusals: out-of-range integers, wrong fixed length, lone surrogates', () => {
  assert.throws(() => new Writer().u8(256, 'a'), LedgerEncodeError);
  assert.throws(() => new Writer().u16(-1, 'a'), LedgerEncodeError);
  assert.throws(() => new Writer().u64(2 ** 53, 'a'), LedgerEncodeError);
  assert.throws(() => new Writer().u64(1.5, 'a'), LedgerEncodeError);
  assert.throws(() => new Writer().fixed(Buffer.alloc(31), 32, 'keyId'), /keyId: 31 bytes, expected 32/);
  assert.throws(() => new Writer().string16('a\uD800b', 'path'), /lone UTF-16 surrogate/);
  assert.doesNotThrow(() => new Writer().string16('😀', 'path'));
});
