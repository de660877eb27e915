/**
 * A small BTF reader (pure): struct layouts and enum values from the .BTF
 * section of an ELF object or from raw BTF (/sys/kernel/btf/vmlinux).
 * Enough to check our codecs against the compiled C and to name counters.
 */
const BTF_MAGIC = 0xeb9f;
const K = { INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19 } as const;

interface BtfType {
  kind: number;
  name: string;
  vlen: number;
  kflag: boolean;
  sizeOrType: number;
  members: { name: string; type: number; offsetBits: number; bitfieldSize: number }[];
  enumValues: [string, number][];
  array?: { type: number; nelems: number };
}

export interface StructLayout {
  size: number;
  members: { name: string; offsetBits: number; bitfieldSize: number; size: number }[];
}

export class BtfError extends Error {}

function elfSection(buf: Buffer, want: string): Buffer | undefined {
  if (buf.readUInt32BE(0) !== 0x7f454c46) return undefined;
  if (buf[4] !== 2 || buf[5] !== 1) throw new BtfError('only little-endian ELF64 objects are supported');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const sh = (i: number) => {
    const o = shoff + i * shentsize;
    return { name: buf.readUInt32LE(o), offset: Number(buf.readBigUInt64LE(o + 0x18)), size: Number(buf.readBigUInt64LE(o + 0x20)) };
  };
  const strtab = sh(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    const nameStart = strtab.offset + s.name;
    const name = buf.subarray(nameStart, buf.indexOf(0, nameStart)).toString();
    if (name === want) return buf.subarray(s.offset, s.offset + s.size);
  }
  return undefined;
}

export class Btf {
  private readonly types: BtfType[] = [{ kind: 0, name: 'void', vlen: 0, kflag: false, sizeOrType: 0, members: [], enumValues: [] }];

  constructor(input: Buffer) {
    const raw = elfSection(input, '.BTF') ?? input;
    if (raw.readUInt16LE(0) !== BTF_MAGIC) throw new BtfError('no BTF (build with clang -g)');
    const hdrLen = raw.readUInt32LE(4);
    const typeOff = raw.readUInt32LE(8), typeLen = raw.readUInt32LE(12);
    const strOff = raw.readUInt32LE(16), strLen = raw.readUInt32LE(20);
    const strs = raw.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
    const str = (o: number): string => strs.subarray(o, strs.indexOf(0, o)).toString();
    let p = hdrLen + typeOff;
    const end = p + typeLen;
    while (p < end) {
      const nameOff = raw.readUInt32LE(p), info = raw.readUInt32LE(p + 4), st = raw.readUInt32LE(p + 8);
      p += 12;
      const kind = (info >>> 24) & 0x1f, vlen = info & 0xffff, kflag = (info >>> 31) === 1;
      const t: BtfType = { kind, name: str(nameOff), vlen, kflag, sizeOrType: st, members: [], enumValues: [] };
      switch (kind) {
        case K.INT: p += 4; break;
        case K.ARRAY: t.array = { type: raw.readUInt32LE(p), nelems: raw.readUInt32LE(p + 8) }; p += 12; break;
        case K.STRUCT: case K.UNION:
          for (let i = 0; i < vlen; i++, p += 12) {
            const off = raw.readUInt32LE(p + 8);
            t.members.push({ name: str(raw.readUInt32LE(p)), type: raw.readUInt32LE(p + 4), offsetBits: kflag ? off & 0xffffff : off, bitfieldSize: kflag ? off >>> 24 : 0 });
          }
          break;
        case K.ENUM:
          for (let i = 0; i < vlen; i++, p += 8) t.enumValues.push([str(raw.readUInt32LE(p)), kflag ? raw.readInt32LE(p + 4) : raw.readUInt32LE(p + 4)]);
          break;
        case K.ENUM64:
          for (let i = 0; i < vlen; i++, p += 12) t.enumValues.push([str(raw.readUInt32LE(p)), raw.readUInt32LE(p + 4) + raw.readUInt32LE(p + 8) * 2 ** 32]);
          break;
        case K.FUNC_PROTO: p += 8 * vlen; break;
        case K.VAR: p += 4; break;
        case K.DATASEC: p += 12 * vlen; break;
        case K.DECL_TAG: p += 4; break;
        default: break;
      }
      this.types.push(t);
    }
  }

  private find(kind: number, name: string): BtfType | undefined {
    return this.types.find((t) => t.kind === kind && t.name === name);
  }

  sizeOf(id: number): number {
    for (let i = 0; i < 32; i++) {
      const t = this.types[id];
      if (!t) throw new BtfError(`bad type id ${id}`);
      switch (t.kind) {
        case K.INT: case K.STRUCT: case K.UNION: case K.ENUM: case K.ENUM64: case K.FLOAT: case K.DATASEC: return t.sizeOrType;
        case K.PTR: return 8;
        case K.ARRAY: return this.sizeOf(t.array!.type) * t.array!.nelems;
        case K.TYPEDEF: case K.VOLATILE: case K.CONST: case K.RESTRICT: case K.TYPE_TAG: id = t.sizeOrType; break;
        default: throw new BtfError(`type ${id} (kind ${t.kind}) has no size`);
      }
    }
    throw new BtfError('type chain too long');
  }

  struct(name: string): StructLayout | undefined {
    const t = this.find(K.STRUCT, name);
    if (!t) return undefined;
    return {
      size: t.sizeOrType,
      members: t.members.map((m) => ({ name: m.name, offsetBits: m.offsetBits, bitfieldSize: m.bitfieldSize, size: this.sizeOf(m.type) })),
    };
  }

  enumValues(name: string): Map<string, number> | undefined {
    const t = this.find(K.ENUM, name) ?? this.find(K.ENUM64, name);
    return t ? new Map(t.enumValues) : undefined;
  }
}
