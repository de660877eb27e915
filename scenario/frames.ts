/**
 * Byte-exact frame builders (tests, the pps benchmark, forged-frame probes): Ethernet, IPv4, TCP/UDP, VXLAN-GPE,
 * NSH (MD1, MD2, MD3). Written from RFC 791/793/768, RFC 8300 and
 * draft-ietf-nvo3-vxlan-gpe, independently of the BPF code they check.
 */
import { ipv4ToBytes, macToBytes } from '../agent/datapath/struct-codec.js';

export function csum16(b: Buffer, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length % 2) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export function eth(dst: string, src: string, type: number): Buffer {
  const b = Buffer.alloc(14);
  macToBytes(dst).copy(b, 0);
  macToBytes(src).copy(b, 6);
  b.writeUInt16BE(type, 12);
  return b;
}

export interface Ipv4Opts { src: string; dst: string; proto: number; ttl?: number; tos?: number; id?: number; df?: boolean }

export function ipv4(o: Ipv4Opts, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0, 4);
  h.writeUInt16BE(o.df === false ? 0 : 0x4000, 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  ipv4ToBytes(o.src).copy(h, 12);
  ipv4ToBytes(o.dst).copy(h, 16);
  h.writeUInt16BE(csum16(h), 10);
  return Buffer.concat([h, payload]);
}

/**
 * The same IPv4 packet marked as a fragment: MF flag and fragment offset (in
 * 8-byte units), DF cleared, checksum recomputed. The payload is kept as is,
 * so a non-first fragment still has bytes where ports were (esfc must not read them).
 */
export function fragment(packet: Buffer, f: { mf: boolean; offset: number }): Buffer {
  const p = Buffer.from(packet);
  p.writeUInt16BE((f.mf ? 0x2000 : 0) | (f.offset & 0x1fff), 6);
  p.writeUInt16BE(0, 10);
  p.writeUInt16BE(csum16(p.subarray(0, (p[0]! & 0xf) * 4)), 10);
  return p;
}

function pseudoSum(src: string, dst: string, proto: number, len: number): number {
  const p = Buffer.concat([ipv4ToBytes(src), ipv4ToBytes(dst), Buffer.from([0, proto, len >> 8, len & 0xff])]);
  let s = 0;
  for (let i = 0; i < p.length; i += 2) s += p.readUInt16BE(i);
  return s;
}

export function tcp(src: string, dst: string, sport: number, dport: number, payload: Buffer, seq = 1): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq, 4);
  h[12] = 5 << 4;
  h[13] = 0x18; // PSH ACK
  h.writeUInt16BE(65535, 14);
  const seg = Buffer.concat([h, payload]);
  seg.writeUInt16BE(csum16(seg, pseudoSum(src, dst, 6, seg.length)), 16);
  return seg;
}

export function udp(sport: number, dport: number, payload: Buffer, csum?: { src: string; dst: string }): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  const d = Buffer.concat([h, payload]);
  if (csum) d.writeUInt16BE(csum16(d, pseudoSum(csum.src, csum.dst, 17, d.length)) || 0xffff, 6);
  return d;
}

export function gpe(nextProto = 4, flags = 0x0c, vni = 0): Buffer {
  const b = Buffer.alloc(8);
  b[0] = flags;
  b[3] = nextProto;
  b.writeUInt32BE(vni << 8, 4);
  return b;
}

export interface NshOpts {
  spi: number;
  si: number;
  ttl?: number;
  mdType?: number;
  nextProto?: number;
  oam?: boolean;
  version?: number;
  /** Length in 4-byte words; computed when absent. */
  lengthWords?: number;
  context?: Buffer;          // MD1: 16 bytes
  tlvs?: { cls: number; type: number; value: Buffer }[]; // MD2
  md3?: { espi: number; esi: number; e: boolean; epoch: number };
}

export function nsh(o: NshOpts): Buffer {
  const md = o.mdType ?? 1;
  let body: Buffer;
  if (o.md3) {
    body = Buffer.alloc(8);
    body.writeUInt32BE(((o.md3.espi << 8) | o.md3.esi) >>> 0, 0);
    body.writeUInt32BE(((o.md3.e ? 0x80000000 : 0) | o.md3.epoch) >>> 0, 4);
  } else if (md === 1) {
    body = o.context ?? Buffer.alloc(16);
  } else if (md === 2) {
    body = Buffer.concat((o.tlvs ?? []).map((t) => {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(t.cls, 0);
      h[2] = t.type;
      h[3] = t.value.length & 0x7f;
      const pad = Buffer.alloc((4 - (t.value.length % 4)) % 4);
      return Buffer.concat([h, t.value, pad]);
    }));
  } else {
    body = Buffer.alloc(0);
  }
  const words = o.lengthWords ?? (8 + body.length) / 4;
  const b = Buffer.alloc(8);
  const w0 = ((o.version ?? 0) << 14) | (o.oam ? 0x2000 : 0) | (((o.ttl ?? 63) & 0x3f) << 6) | (words & 0x3f);
  b.writeUInt16BE(w0, 0);
  b[2] = md & 0x0f;
  b[3] = o.nextProto ?? 1;
  b.writeUInt32BE(((o.spi << 8) | o.si) >>> 0, 4);
  return Buffer.concat([b, body]);
}

/** UDP source port esfc derives from the inner 5-tuple (docs/protocol.md). */
export function flowPort(saddr: string, daddr: string, sport: number, dport: number, proto: number): number {
  const n = (a: string): number => ipv4ToBytes(a).readUInt32BE(0);
  let h = (n(saddr) ^ n(daddr) ^ (((sport << 16) | dport) >>> 0) ^ proto) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return 49152 | (h & 0x3fff);
}

/** IPv4/UDP 4790/VXLAN-GPE around an NSH packet, as esfc sends it between nodes. */
export function underlay(o: { src: string; dst: string; sport: number; tos?: number }, nshAndInner: Buffer): Buffer {
  const g = Buffer.concat([gpe(), nshAndInner]);
  return ipv4({ src: o.src, dst: o.dst, proto: 17, ttl: 64, tos: o.tos ?? 0, df: true }, udp(o.sport, 4790, g));
}
