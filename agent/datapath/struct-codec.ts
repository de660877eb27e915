/**
 * Fixed-layout C structs as TypeScript codecs. Each codec lists its fields
 * with offsets so a test can compare them, field by field, with the BTF of
 * the compiled BPF objects (the C header is the single source of truth).
 */
import { endianness } from 'node:os';

export type FieldType = 'u8' | 'u16' | 'u32' | 'u64' | 'ipv4' | 'be16' | 'mac' | 'bytes';

export interface FieldSpec {
  /** Member name in the C struct. */
  readonly name: string;
  readonly offset: number;
  readonly type: FieldType;
  /** Byte length; needed for 'bytes' only. */
  readonly length?: number;
}

export type FieldValue = number | bigint | string | Buffer;

const LE = endianness() === 'LE';

export function fieldSize(f: FieldSpec): number {
  switch (f.type) {
    case 'u8': return 1;
    case 'u16': case 'be16': return 2;
    case 'u32': case 'ipv4': return 4;
    case 'u64': return 8;
    case 'mac': return 6;
    case 'bytes': return f.length ?? 0;
  }
}

export class StructCodec<T extends object> {
  constructor(
    /** C struct name, as in BTF. */
    readonly cName: string,
    readonly size: number,
    readonly fields: readonly FieldSpec[],
  ) {}

  encode(value: T): Buffer {
    const buf = Buffer.alloc(this.size);
    const rec = value as Record<string, FieldValue | undefined>;
    for (const f of this.fields) {
      const v = rec[f.name];
      if (v === undefined) continue;
      writeField(buf, f, v);
    }
    return buf;
  }

  decode(buf: Buffer): T {
    if (buf.length < this.size) {
      throw new RangeError(`${this.cName}: need ${this.size} bytes, got ${buf.length}`);
    }
    const out: Record<string, FieldValue> = {};
    for (const f of this.fields) out[f.name] = readField(buf, f);
    return out as T;
  }
}

function writeField(buf: Buffer, f: FieldSpec, v: FieldValue): void {
  const o = f.offset;
  switch (f.type) {
    case 'u8': buf.writeUInt8(Number(v), o); return;
    case 'u16': if (LE) buf.writeUInt16LE(Number(v), o); else buf.writeUInt16BE(Number(v), o); return;
    case 'be16': buf.writeUInt16BE(Number(v), o); return;
    case 'u32': if (LE) buf.writeUInt32LE(Number(v) >>> 0, o); else buf.writeUInt32BE(Number(v) >>> 0, o); return;
    case 'u64': if (LE) buf.writeBigUInt64LE(BigInt(v as number | bigint), o); else buf.writeBigUInt64BE(BigInt(v as number | bigint), o); return;
    case 'ipv4': ipv4ToBytes(String(v)).copy(buf, o); return;
    case 'mac': macToBytes(String(v)).copy(buf, o); return;
    case 'bytes': (v as Buffer).copy(buf, o, 0, f.length); return;
  }
}

function readField(buf: Buffer, f: FieldSpec): FieldValue {
  const o = f.offset;
  switch (f.type) {
    case 'u8': return buf.readUInt8(o);
    case 'u16': return LE ? buf.readUInt16LE(o) : buf.readUInt16BE(o);
    case 'be16': return buf.readUInt16BE(o);
    case 'u32': return LE ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
    case 'u64': return LE ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o);
    case 'ipv4': return Array.from(buf.subarray(o, o + 4)).join('.');
    case 'mac': return bytesToMac(buf.subarray(o, o + 6));
    case 'bytes': return Buffer.from(buf.subarray(o, o + (f.length ?? 0)));
  }
}

export function ipv4ToBytes(addr: string): Buffer {
  const parts = addr.split('.').map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new TypeError(`not an IPv4 address: ${JSON.stringify(addr)}`);
  }
  return Buffer.from(parts);
}

export function macToBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new TypeError(`not a MAC address: ${JSON.stringify(mac)}`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function bytesToMac(b: Buffer): string {
  return Array.from(b).map((x) => x.toString(16).padStart(2, '0')).join(':');
}
