/**
 * The byte codec of the orchestration log (docs/ledger.md "Canonical
 * encoding"): big-endian integers, fixed-length byte strings and
 * length-prefixed UTF-8. The Reader is strict because a transaction's id is
 * the hash of its bytes: if two byte strings decoded to the same value, a
 * replay could slip past duplicate detection under a second id. So anything
 * that is not the one canonical encoding (a length past the end, invalid
 * UTF-8, a u64 a JS number cannot hold exactly) is a LedgerDecodeError that
 * names the field and the offset where it failed.
 */

export class LedgerDecodeError extends Error {
  override readonly name = 'LedgerDecodeError';

  constructor(
    /** The field being read, e.g. "request.path" or "block.transaction[3]". */
    readonly field: string,
    /** Byte offset (in the buffer given to the Reader) where that field starts. */
    readonly offset: number,
    problem: string,
  ) {
    super(`${field} at byte ${offset}: ${problem}`);
  }
}

/** A value the Writer cannot encode (a caller bug, not untrusted input). */
export class LedgerEncodeError extends Error {
  override readonly name = 'LedgerEncodeError';

  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
  }
}

const TWO_32 = 0x1_0000_0000;
/** The high word of Number.MAX_SAFE_INTEGER (2^53 - 1). */
const MAX_SAFE_HIGH = 0x1f_ffff;
// ignoreBOM: a leading U+FEFF is content, not a marker to drop, or "\uFEFF/x" and "/x" would decode alike.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** A lone surrogate would be written as U+FFFD and decode to a different string than was signed. */
const LONE_SURROGATE = /\p{Cs}/u;

export class Reader {
  private pos: number;

  /** Reads buf[start, end); offsets in errors are relative to buf. */
  constructor(readonly buf: Buffer, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, field: string): number {
    const at = this.pos;
    if (n > this.end - at) throw new LedgerDecodeError(field, at, `needs ${n} bytes, ${this.end - at} left`);
    this.pos = at + n;
    return at;
  }

  u8(field: string): number {
    return this.buf[this.need(1, field)]!;
  }

  u16(field: string): number {
    return this.buf.readUInt16BE(this.need(2, field));
  }

  u32(field: string): number {
    return this.buf.readUInt32BE(this.need(4, field));
  }

  /** A u64 as a JS number; values above 2^53 - 1 are refused (they would not round-trip). */
  u64(field: string): number {
    const at = this.need(8, field);
    const hi = this.buf.readUInt32BE(at);
    if (hi > MAX_SAFE_HIGH) throw new LedgerDecodeError(field, at, 'u64 above 2^53 - 1');
    return hi * TWO_32 + this.buf.readUInt32BE(at + 4);
  }

  /** A full-range u64 (e.g. nanosecond timestamps). */
  u64big(field: string): bigint {
    return this.buf.readBigUInt64BE(this.need(8, field));
  }

  /** n bytes as a view into the input (no copy). */
  bytes(n: number, field: string): Buffer {
    const at = this.need(n, field);
    return this.buf.subarray(at, at + n);
  }

  /** A length-prefixed byte string; a length past the end is reported at the length's offset. */
  private prefixed(lengthBytes: 2 | 4, field: string): Buffer {
    const at = this.pos;
    const n = lengthBytes === 2 ? this.u16(field) : this.u32(field);
    if (n > this.end - this.pos) throw new LedgerDecodeError(field, at, `length ${n} runs past the end (${this.end - this.pos} bytes left)`);
    return this.bytes(n, field);
  }

  /** u16 length + bytes (a view). */
  bytes16(field: string): Buffer {
    return this.prefixed(2, field);
  }

  /** u32 length + bytes (a view). */
  bytes32(field: string): Buffer {
    return this.prefixed(4, field);
  }

  private text(lengthBytes: 2 | 4, field: string): string {
    const start = this.pos;
    const raw = lengthBytes === 2 ? this.bytes16(field) : this.bytes32(field);
    try {
      return utf8.decode(raw);
    } catch {
      throw new LedgerDecodeError(field, start, 'invalid UTF-8');
    }
  }

  /** u16 length + UTF-8 (fatal decoding). */
  string16(field: string): string {
    return this.text(2, field);
  }

  /** u32 length + UTF-8 (fatal decoding). */
  string32(field: string): string {
    return this.text(4, field);
  }

  /** Refuses trailing bytes: an encoding has exactly one length. */
  done(field: string): void {
    if (this.pos !== this.end) throw new LedgerDecodeError(field, this.pos, `${this.end - this.pos} trailing bytes`);
  }
}

/**
 * Writes into one buffer. Callers that know the final size pass it so the
 * bytes are written once with no growth copies (the hot path: transactions
 * and blocks); otherwise the buffer doubles as needed.
 */
export class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(capacity, 16));
  }

  get length(): number {
    return this.pos;
  }

  private room(n: number): number {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private int(v: number, max: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new LedgerEncodeError(field, `${v} is not an integer in [0, ${max}]`);
  }

  u8(v: number, field: string): this {
    this.int(v, 0xff, field);
    const at = this.room(1);
    this.buf[at] = v;
    return this;
  }

  u16(v: number, field: string): this {
    this.int(v, 0xffff, field);
    const at = this.room(2);
    this.buf.writeUInt16BE(v, at);
    return this;
  }

  u32(v: number, field: string): this {
    this.int(v, 0xffff_ffff, field);
    const at = this.room(4);
    this.buf.writeUInt32BE(v, at);
    return this;
  }

  u64(v: number, field: string): this {
    this.int(v, Number.MAX_SAFE_INTEGER, field);
    const at = this.room(8);
    this.buf.writeUInt32BE(Math.floor(v / TWO_32), at);
    this.buf.writeUInt32BE(v % TWO_32, at + 4);
    return this;
  }

  u64big(v: bigint, field: string): this {
    if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new LedgerEncodeError(field, `${v} is not a u64`);
    const at = this.room(8);
    this.buf.writeBigUInt64BE(v, at);
    return this;
  }

  /** Exactly n bytes (n given so a wrong-length id is caught here, not by a reader later). */
  fixed(b: Uint8Array, n: number, field: string): this {
    if (b.length !== n) throw new LedgerEncodeError(field, `${b.length} bytes, expected ${n}`);
    const at = this.room(n);
    this.buf.set(b, at);
    return this;
  }

  bytes(b: Uint8Array): this {
    const at = this.room(b.length);
    this.buf.set(b, at);
    return this;
  }

  bytes16(b: Uint8Array, field: string): this {
    return this.u16(b.length, field).bytes(b);
  }

  bytes32(b: Uint8Array, field: string): this {
    return this.u32(b.length, field).bytes(b);
  }

  private text(s: string, lengthBytes: 2 | 4, field: string): this {
    if (LONE_SURROGATE.test(s)) throw new LedgerEncodeError(field, 'string has a lone UTF-16 surrogate (not encodable as UTF-8)');
    const n = Buffer.byteLength(s, 'utf8');
    if (lengthBytes === 2) this.u16(n, `${field} length`);
    else this.u32(n, `${field} length`);
    const at = this.room(n);
    this.buf.write(s, at, n, 'utf8');
    return this;
  }

  string16(s: string, field: string): this {
    return this.text(s, 2, field);
  }

  string32(s: string, field: string): this {
    return this.text(s, 4, field);
  }

  /** The bytes written, as a view of the internal buffer (no copy; the Writer must not be used after). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** UTF-8 byte length of a string, for exact pre-sizing. */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
