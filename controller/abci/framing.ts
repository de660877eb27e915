/**
 * CometBFT's socket framing: each protobuf message is preceded by its length
 * as an unsigned varint (libs/protoio in cometbft v0.38: binary.PutUvarint;
 * Tendermint before 0.35 used a zigzag varint, which this is not).
 */
import { varintSize } from './proto.js';

export class AbciFramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AbciFramingError';
  }
}

export function frame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(varintSize(msg.length) + msg.length);
  let v = msg.length;
  let i = 0;
  while (v >= 0x80) {
    out[i++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[i++] = v;
  out.set(msg, i);
  return out;
}

/**
 * Splits a byte stream into messages. A message's body is copied once into a
 * buffer of its final size, so a 20 MB block arriving in 64 KB chunks is not
 * re-concatenated per chunk.
 */
export class FrameDecoder {
  private head: Buffer = Buffer.alloc(0); // bytes of an incomplete length prefix
  private body: Buffer | undefined;
  private filled = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /** Feeds a chunk; returns the messages it completed, in order. Throws AbciFramingError on a bad prefix. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.body === undefined) {
        // Accumulate the prefix one byte at a time: at most 10 bytes.
        const b = chunk[off++]!;
        this.head = Buffer.concat([this.head, Buffer.of(b)]);
        if (b & 0x80) {
          if (this.head.length >= 10) throw new AbciFramingError('length prefix longer than 10 bytes');
          continue;
        }
        let len = 0;
        for (let i = this.head.length - 1; i >= 0; i--) len = len * 128 + (this.head[i]! & 0x7f);
        this.head = Buffer.alloc(0);
        if (len > this.maxMessageBytes) throw new AbciFramingError(`message of ${len} bytes exceeds the limit of ${this.maxMessageBytes}`);
        if (len === 0) {
          out.push(Buffer.alloc(0));
          continue;
        }
        this.body = Buffer.allocUnsafe(len);
        this.filled = 0;
      }
      const n = Math.min(this.body.length - this.filled, chunk.length - off);
      chunk.copy(this.body, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.body.length) {
        out.push(this.body);
        this.body = undefined;
      }
    }
    return out;
  }

  /** True when no message is half-read (a connection closing now loses nothing). */
  get idle(): boolean {
    return this.body === undefined && this.head.length === 0;
  }
}
