/**
 * An independent decoder ("oracle") for the frames esfc forwards, written
 * from the specifications and not from esfc's parser:
 *
 * - RFC 8300 (NSH): base header Ver(2) O(1) U(1) TTL(6) Length(6) U(4)
 *   MD Type(4) Next Protocol(8); service path header SPI(24) SI(8); MD type 1
 *   = 16-byte fixed context (Length 6); MD type 2 = TLVs Class(16) Type(8)
 *   U(1) Len(7, bytes), value padded to 4 bytes (Length >= 2, TLVs fill it);
 *   MD type 0 reserved; 0xF experimental; Next Protocol 1 IPv4, 2 IPv6,
 *   3 Ethernet, 4 NSH, 5 MPLS, 0xFE/0xFF experiments.
 * - draft-ietf-nvo3-vxlan-gpe: flags R R Ver(2) I P B O, 16 reserved bits,
 *   Next Protocol (4 = NSH), VNI(24), 8 reserved bits; UDP port 4790.
 * - RFC 791 (IPv4 header, checksum, total length), RFC 768 (UDP length and
 *   checksum), RFC 8200 (IPv6 header).
 * - esfc's own MD type 3 (docs/protocol.md): Length 4; word 2 E-SPI(24)
 *   E-SI(8); word 3 E(1) reserved(15) epoch(16); its MD type value is
 *   configurable (3..15, default 3).
 *
 * Pure functions, no I/O. decodeFrame() says whether one frame is well formed
 * and lists every violation it finds; checkForwarding() says whether an
 * output frame relates to its input as RFC 8300 says for the hops in between.
 */

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_NSH = 0x894f;
export const VXLAN_GPE_PORT = 4790;

export interface DecodeOptions {
  /** The MD type value esfc uses for its MD type 3 header (node.md3Type, 3..15; default 3). */
  md3Type?: number;
}

export interface EthernetHeader { dst: string; src: string; type: number }

export interface Ipv4Header {
  version: number; ihl: number; dscp: number; ecn: number; totalLength: number;
  id: number; df: boolean; mf: boolean; fragmentOffset: number;
  ttl: number; protocol: number; checksum: number; src: string; dst: string;
}

export interface UdpHeader { srcPort: number; dstPort: number; length: number; checksum: number }

export interface GpeHeader {
  /** The two R bits at the top of the flags byte. */
  reservedBits: number;
  version: number; i: boolean; p: boolean; b: boolean; o: boolean;
  reserved16: number; nextProto: number; vni: number; reserved8: number;
}

export interface Tlv { cls: number; type: number; uBit: number; len: number; value: Buffer }

export interface Md3 { espi: number; esi: number; e: boolean; reserved: number; epoch: number }

export interface NshHeader {
  version: number;
  oam: boolean;
  /** The unassigned U bit after O. */
  uBit1: number;
  ttl: number;
  lengthWords: number;
  /** The 4 unassigned bits before MD Type. */
  uBits4: number;
  mdType: number;
  nextProto: number;
  spi: number;
  si: number;
  /** Everything between the service path header and Length (context or TLVs, as on the wire). */
  metadata: Buffer;
  context?: Buffer;
  tlvs?: Tlv[];
  md3?: Md3;
}

export type FrameKind = 'underlay' | 'local-nsh' | 'plain-ipv4' | 'plain-ipv6' | 'other';

export interface DecodedFrame {
  ok: true;
  kind: FrameKind;
  eth: EthernetHeader;
  outer?: { ipv4: Ipv4Header; udp: UdpHeader; gpe: GpeHeader };
  nsh?: NshHeader;
  /** The packet after the last header decoded here; an IP packet is cut to its own length (no Ethernet padding). */
  inner: { offset: number; bytes: Buffer };
  /** Non-zero unassigned or reserved bits: not violations (receivers ignore them), but forwarders must preserve them. */
  unassigned: string[];
}

export interface MalformedFrame { ok: false; problems: string[] }

export type DecodeResult = DecodedFrame | MalformedFrame;

const NEXT_PROTO_NAMES: Record<number, string> = { 1: 'IPv4', 2: 'IPv6', 3: 'Ethernet', 4: 'NSH', 5: 'MPLS', 0xfe: 'Experiment 1', 0xff: 'Experiment 2' };
/** The Next Protocol values esfc forwards (docs/protocol.md; RFC 8300 2.2 lets an implementation drop the others). */
const NEXT_PROTO_SUPPORTED = new Set([1, 2, 3]);

const hex = (n: number, digits = 2): string => `0x${n.toString(16).padStart(digits, '0')}`;
const mac = (b: Buffer, o: number): string => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ip4 = (b: Buffer, o: number): string => [...b.subarray(o, o + 4)].join('.');

/** RFC 1071 one's-complement sum of 16-bit words, folded (not inverted). */
function onesSum(b: Buffer, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length % 2) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Findings of one decode: violations and set unassigned bits. */
interface Findings { problems: string[]; unassigned: string[] }

function readIpv4(b: Buffer, o: number): Ipv4Header {
  const flags = b.readUInt16BE(o + 6);
  return {
    version: b[o]! >> 4, ihl: b[o]! & 0xf, dscp: b[o + 1]! >> 2, ecn: b[o + 1]! & 3, totalLength: b.readUInt16BE(o + 2),
    id: b.readUInt16BE(o + 4), df: (flags & 0x4000) !== 0, mf: (flags & 0x2000) !== 0, fragmentOffset: flags & 0x1fff,
    ttl: b[o + 8]!, protocol: b[o + 9]!, checksum: b.readUInt16BE(o + 10), src: ip4(b, o + 12), dst: ip4(b, o + 16),
  };
}

/**
 * Checks an IPv4 header at `o` with `end - o` bytes available (RFC 791): version, IHL, the header inside the
 * bytes, checksum, and a total length covering the header and not beyond the bytes (or, with `exact`, equal to
 * them). Returns the header, or undefined when not even 20 bytes are there.
 */
function checkIpv4(label: string, b: Buffer, o: number, end: number, f: Findings, exact = false): Ipv4Header | undefined {
  const avail = end - o;
  if (avail < 20) {
    f.problems.push(`${label} header beyond the frame (${avail} bytes left, 20 needed)`);
    return undefined;
  }
  const h = readIpv4(b, o);
  if (h.version !== 4) f.problems.push(`${label} version ${h.version}, not 4`);
  if (h.ihl < 5) f.problems.push(`${label} IHL ${h.ihl} below 5`);
  else if (h.ihl * 4 > avail) f.problems.push(`${label} header (IHL ${h.ihl}) beyond the frame (${avail} bytes left)`);
  else if (onesSum(b.subarray(o, o + h.ihl * 4)) !== 0xffff) {
    const copy = Buffer.from(b.subarray(o, o + h.ihl * 4));
    copy.writeUInt16BE(0, 10);
    f.problems.push(`${label} header checksum ${hex(h.checksum, 4)} wrong (${hex(~onesSum(copy) & 0xffff, 4)} expected)`);
  }
  if (h.totalLength < h.ihl * 4) f.problems.push(`${label} total length ${h.totalLength} shorter than its header`);
  if (exact && h.totalLength !== avail) f.problems.push(`${label} total length ${h.totalLength} is not the ${avail} bytes after the Ethernet header`);
  if (!exact && h.totalLength > avail) f.problems.push(`${label} total length ${h.totalLength} exceeds the ${avail} bytes there`);
  return h;
}

/** Checks an IPv6 header (RFC 8200): version, 40 bytes, payload length within the bytes. Returns the packet length. */
function checkIpv6(label: string, b: Buffer, o: number, end: number, f: Findings): number | undefined {
  const avail = end - o;
  if (avail < 40) {
    f.problems.push(`${label} header beyond the frame (${avail} bytes left, 40 needed)`);
    return undefined;
  }
  if (b[o]! >> 4 !== 6) f.problems.push(`${label} version ${b[o]! >> 4}, not 6`);
  const len = 40 + b.readUInt16BE(o + 4);
  if (len > avail) f.problems.push(`${label} payload length ${len - 40} exceeds the ${avail - 40} bytes there`);
  return len;
}

/** Checks the packet at `o` is what `nextProto` says; returns its length (IP packets cut to their own length). */
function checkInner(nextProto: number, b: Buffer, o: number, end: number, f: Findings): number {
  const avail = end - o;
  if (nextProto === 1) {
    const h = checkIpv4('inner IPv4', b, o, end, f);
    return h && h.totalLength >= 20 && h.totalLength <= avail ? h.totalLength : avail;
  }
  if (nextProto === 2) {
    const len = checkIpv6('inner IPv6', b, o, end, f);
    return len !== undefined && len <= avail ? len : avail;
  }
  if (nextProto === 3 && avail < 14) f.problems.push(`inner Ethernet frame of ${avail} bytes, shorter than an Ethernet header (14)`);
  return avail;
}

/** Decodes NSH at `o` (RFC 8300 2, esfc MD3) and the packet after it, up to `end`. */
function decodeNsh(b: Buffer, o: number, end: number, md3Type: number, onUnderlay: boolean, f: Findings): { nsh: NshHeader; inner: { offset: number; bytes: Buffer } } | undefined {
  const avail = end - o;
  if (avail < 8) {
    f.problems.push(`NSH base and service path headers beyond the frame (${avail} bytes left, 8 needed)`);
    return undefined;
  }
  const w0 = b.readUInt16BE(o);
  const nsh: NshHeader = {
    version: w0 >> 14, oam: ((w0 >> 13) & 1) === 1, uBit1: (w0 >> 12) & 1, ttl: (w0 >> 6) & 0x3f, lengthWords: w0 & 0x3f,
    uBits4: b[o + 2]! >> 4, mdType: b[o + 2]! & 0xf, nextProto: b[o + 3]!,
    spi: b.readUIntBE(o + 4, 3), si: b[o + 7]!, metadata: Buffer.alloc(0),
  };
  const P = f.problems;
  if (nsh.version !== 0) P.push(`NSH version ${nsh.version} (must be 0)`);
  if (nsh.uBit1) f.unassigned.push('NSH U bit after O is 1 (unassigned, RFC 8300 2.2)');
  if (nsh.uBits4) f.unassigned.push(`NSH U bits before MD Type are ${hex(nsh.uBits4, 1)} (unassigned, RFC 8300 2.2)`);

  const hdrBytes = nsh.lengthWords * 4;
  const fits = hdrBytes <= avail;
  if (nsh.lengthWords < 2) P.push(`NSH Length ${nsh.lengthWords} below 2 (the base and service path headers alone are 2 words)`);
  else if (!fits) P.push(`NSH Length ${nsh.lengthWords} words (${hdrBytes} bytes) runs beyond the frame (${avail} bytes left)`);
  const hdrEnd = o + Math.max(8, Math.min(hdrBytes, avail));
  nsh.metadata = Buffer.from(b.subarray(o + 8, hdrEnd));

  const md = nsh.mdType;
  if (md === 0) P.push('NSH MD type 0 is reserved (RFC 8300 2.2)');
  else if (md === 1) {
    if (nsh.lengthWords !== 6) P.push(`NSH Length ${nsh.lengthWords} inconsistent with MD type 1 (must be 6)`);
    else if (fits) nsh.context = Buffer.from(nsh.metadata);
  } else if (md === 2) {
    if (nsh.lengthWords >= 2 && fits) {
      nsh.tlvs = [];
      for (let q = o + 8; q < hdrEnd;) {
        const at = q - o;
        if (hdrEnd - q < 4) { P.push(`MD2 TLV header at NSH byte ${at} cut short by the NSH Length (${nsh.lengthWords} words)`); break; }
        const t: Tlv = { cls: b.readUInt16BE(q), type: b[q + 2]!, uBit: b[q + 3]! >> 7, len: b[q + 3]! & 0x7f, value: Buffer.alloc(0) };
        const padded = Math.ceil(t.len / 4) * 4;
        if (q + 4 + padded > hdrEnd) { P.push(`MD2 TLV at NSH byte ${at} (class ${hex(t.cls, 4)}, type ${t.type}, length ${t.len}) runs past the NSH Length (${nsh.lengthWords} words): the TLVs do not fill it exactly`); break; }
        t.value = Buffer.from(b.subarray(q + 4, q + 4 + t.len));
        if (t.uBit) f.unassigned.push(`MD2 TLV at NSH byte ${at}: U bit is 1 (unassigned, RFC 8300 2.5.1)`);
        nsh.tlvs.push(t);
        q += 4 + padded;
      }
    }
  } else if (md === md3Type) {
    if (nsh.lengthWords !== 4) P.push(`NSH Length ${nsh.lengthWords} inconsistent with MD type ${md} (esfc MD3, must be 4)`);
    else if (fits) {
      const w3 = b.readUInt32BE(o + 12);
      nsh.md3 = { espi: b.readUIntBE(o + 8, 3), esi: b[o + 11]!, e: w3 >>> 31 === 1, reserved: (w3 >>> 16) & 0x7fff, epoch: w3 & 0xffff };
      if (nsh.md3.reserved) f.unassigned.push(`MD3 reserved bits are ${hex(nsh.md3.reserved, 4)}`);
      if (!nsh.md3.e && onUnderlay) P.push('MD3 with E=0 on the underlay (esfc invariant 1: only E=1 leaves a node)');
      if (nsh.md3.e && nsh.nextProto !== 1) P.push(`MD3 with E=1 but next protocol ${hex(nsh.nextProto)}: its payload is IPv4/ESP`);
    }
  } else {
    P.push(`NSH MD type ${hex(md, 1)} unknown${md === 0xf ? ' (experimental)' : ''} (esfc knows 1, 2 and MD3 = ${hex(md3Type, 1)})`);
  }

  const np = nsh.nextProto;
  if (!NEXT_PROTO_SUPPORTED.has(np)) {
    P.push(`NSH next protocol ${hex(np)} ${NEXT_PROTO_NAMES[np] ? `(${NEXT_PROTO_NAMES[np]}) not supported by esfc` : 'unassigned'}`);
  }
  const innerOff = o + hdrBytes;
  if (nsh.lengthWords < 2 || !fits) return { nsh, inner: { offset: Math.min(innerOff, end), bytes: Buffer.alloc(0) } };
  const len = NEXT_PROTO_SUPPORTED.has(np) ? checkInner(np, b, innerOff, end, f) : end - innerOff;
  if (nsh.md3?.e && np === 1 && end - innerOff >= 20 && b[innerOff + 9] !== 50) P.push(`MD3 with E=1 but the inner IPv4 protocol is ${b[innerOff + 9]}, not ESP (50)`);
  return { nsh, inner: { offset: innerOff, bytes: Buffer.from(b.subarray(innerOff, innerOff + len)) } };
}

function readGpe(b: Buffer, o: number): GpeHeader {
  const fl = b[o]!;
  return {
    reservedBits: fl >> 6, version: (fl >> 4) & 3, i: (fl & 8) !== 0, p: (fl & 4) !== 0, b: (fl & 2) !== 0, o: (fl & 1) !== 0,
    reserved16: b.readUInt16BE(o + 1), nextProto: b[o + 3]!, vni: b.readUIntBE(o + 4, 3), reserved8: b[o + 7]!,
  };
}

/**
 * Decodes one Ethernet frame (not a GSO super-packet) and checks it against the specifications:
 * underlay (IPv4/UDP 4790/VXLAN-GPE/NSH), local NSH (EtherType 0x894F), plain IPv4 or IPv6, or other.
 * `ok: false` lists every violation found, each naming the field.
 */
export function decodeFrame(frame: Buffer, opts: DecodeOptions = {}): DecodeResult {
  const md3Type = opts.md3Type ?? 3;
  if (!Number.isInteger(md3Type) || md3Type < 3 || md3Type > 15) throw new RangeError(`md3Type ${md3Type}: esfc allows 3..15`);
  if (frame.length < 14) return { ok: false, problems: [`Ethernet header beyond the frame (${frame.length} bytes, 14 needed)`] };
  const f: Findings = { problems: [], unassigned: [] };
  const eth: EthernetHeader = { dst: mac(frame, 0), src: mac(frame, 6), type: frame.readUInt16BE(12) };
  const end = frame.length;
  let kind: FrameKind = 'other';
  let outer: DecodedFrame['outer'];
  let nsh: NshHeader | undefined;
  let inner: DecodedFrame['inner'] = { offset: 14, bytes: Buffer.from(frame.subarray(14)) };

  if (eth.type === ETHERTYPE_NSH) {
    kind = 'local-nsh';
    const d = decodeNsh(frame, 14, end, md3Type, false, f);
    if (d) ({ nsh, inner } = d);
  } else if (eth.type === ETHERTYPE_IPV4) {
    const isUnderlay = end - 14 >= 20 && frame[23] === 17 && (frame[14]! & 0xf) >= 5
      && end >= 14 + (frame[14]! & 0xf) * 4 + 4 && frame.readUInt16BE(14 + (frame[14]! & 0xf) * 4 + 2) === VXLAN_GPE_PORT;
    if (!isUnderlay) {
      kind = 'plain-ipv4';
      const h = checkIpv4('IPv4', frame, 14, end, f);
      if (h && h.totalLength >= 20 && h.totalLength <= end - 14) inner = { offset: 14, bytes: Buffer.from(frame.subarray(14, 14 + h.totalLength)) };
    } else {
      kind = 'underlay';
      const ip = checkIpv4('outer IPv4', frame, 14, end, f, true)!;
      if (ip.ihl !== 5) f.problems.push(`outer IPv4 IHL ${ip.ihl} (esfc writes 5)`);
      if (ip.mf || ip.fragmentOffset) f.problems.push(`outer IPv4 is a fragment (MF ${Number(ip.mf)}, offset ${ip.fragmentOffset})`);
      const u = 14 + ip.ihl * 4;
      if (end - u < 8) f.problems.push(`UDP header beyond the frame (${end - u} bytes left, 8 needed)`);
      else {
        const udp: UdpHeader = { srcPort: frame.readUInt16BE(u), dstPort: frame.readUInt16BE(u + 2), length: frame.readUInt16BE(u + 4), checksum: frame.readUInt16BE(u + 6) };
        if (udp.length !== ip.totalLength - ip.ihl * 4) f.problems.push(`UDP length ${udp.length} is not the IPv4 payload length ${ip.totalLength - ip.ihl * 4}`);
        if (udp.length < 8) f.problems.push(`UDP length ${udp.length} below 8`);
        const udpEnd = Math.min(end, u + Math.max(8, udp.length));
        if (udp.checksum !== 0 && udp.length >= 8 && u + udp.length <= end) {
          const pseudo = Buffer.alloc(12);
          frame.copy(pseudo, 0, 26, 34);
          pseudo[9] = 17;
          pseudo.writeUInt16BE(udp.length, 10);
          if (onesSum(frame.subarray(u, u + udp.length), onesSum(pseudo)) !== 0xffff) f.problems.push(`UDP checksum ${hex(udp.checksum, 4)} wrong (RFC 768; 0 would mean none)`);
        }
        const g = u + 8;
        if (udpEnd - g < 8) f.problems.push(`VXLAN-GPE header beyond the frame (${Math.max(0, udpEnd - g)} bytes left, 8 needed)`);
        else {
          const gpe = readGpe(frame, g);
          if (!gpe.p) f.problems.push('VXLAN-GPE P bit not set (no next protocol)');
          if (gpe.version !== 0) f.problems.push(`VXLAN-GPE version ${gpe.version} (must be 0)`);
          if (gpe.nextProto !== 4) f.problems.push(`VXLAN-GPE next protocol ${hex(gpe.nextProto)} is not NSH (0x04)`);
          if (gpe.reservedBits) f.unassigned.push(`VXLAN-GPE R bits are ${gpe.reservedBits} (reserved)`);
          if (gpe.reserved16) f.unassigned.push(`VXLAN-GPE 16 reserved bits are ${hex(gpe.reserved16, 4)}`);
          if (gpe.reserved8) f.unassigned.push(`VXLAN-GPE last 8 reserved bits are ${hex(gpe.reserved8)}`);
          outer = { ipv4: ip, udp, gpe };
          const d = decodeNsh(frame, g + 8, udpEnd, md3Type, true, f);
          if (d) ({ nsh, inner } = d);
        }
      }
    }
  } else if (eth.type === ETHERTYPE_IPV6) {
    kind = 'plain-ipv6';
    const len = checkIpv6('IPv6', frame, 14, end, f);
    if (len !== undefined && len <= end - 14) inner = { offset: 14, bytes: Buffer.from(frame.subarray(14, 14 + len)) };
  }

  if (f.problems.length) return { ok: false, problems: f.problems };
  return { ok: true, kind, eth, ...(outer ? { outer } : {}), ...(nsh ? { nsh } : {}), inner, unassigned: f.unassigned };
}

/**
 * One element between an input and an output frame:
 * - 'sff': an SFF forwards the packet: TTL - 1 (0 wraps to 63), SI unchanged; dropped when TTL becomes 0
 *   (RFC 8300 2.2), and, by esfc's rule (docs/protocol.md), when SI is 0.
 * - 'sf': a Service Function or SFC proxy: SI - 1, TTL unchanged (RFC 8300 2.3).
 */
export type Hop = 'sff' | 'sf';

export type Expectation = { forward: true; si: number; ttl: number } | { forward: false; reason: string };

/** What RFC 8300 says the SI and TTL become after `hops`, or why the packet must not be forwarded. */
export function expectedAfter(nsh: { si: number; ttl: number }, hops: readonly Hop[]): Expectation {
  let { si, ttl } = nsh;
  for (const hop of hops) {
    if (hop === 'sff') {
      ttl = (ttl + 63) & 0x3f;
      if (ttl === 0) return { forward: false, reason: `TTL reaches 0 at an SFF (RFC 8300 2.2; it arrived as ${nsh.ttl})` };
      if (si === 0) return { forward: false, reason: 'SI 0 at an SFF (esfc does not forward SI 0, docs/protocol.md)' };
    } else {
      if (si === 0) return { forward: false, reason: 'SI 0 cannot be decremented by an SF' };
      si -= 1;
    }
  }
  return { forward: true, si, ttl };
}

export interface ForwardingAllowances {
  /** esfc's SF proxy restores MD2 with Length 2 and no TLVs (docs/protocol.md, "The SF proxy"). */
  md2TlvsDropped?: boolean;
}

/**
 * Problems in `output` as the result of forwarding `input` through `hops` (empty: it conforms):
 * both frames well formed; SPI kept; SI and TTL as expectedAfter() says; Ver, the O bit (RFC 8300 2.2: not
 * modified along the SFP) and every unassigned bit preserved; MD type, Length, next protocol and the
 * context / TLVs unchanged; and, when no SF is among the hops, the inner packet unchanged byte for byte.
 */
export function checkForwarding(input: DecodeResult, output: DecodeResult, hops: readonly Hop[], allow: ForwardingAllowances = {}): string[] {
  const out: string[] = [];
  if (!input.ok) out.push(...input.problems.map((p) => `input malformed: ${p}`));
  if (!output.ok) out.push(...output.problems.map((p) => `output malformed: ${p}`));
  if (!input.ok || !output.ok) return out;
  const a = input.nsh;
  const b = output.nsh;
  if (!a) out.push(`input carries no NSH (${input.kind})`);
  if (!b) out.push(`output carries no NSH (${output.kind})`);
  if (!a || !b) return out;
  const exp = expectedAfter(a, hops);
  if (!exp.forward) return [`forwarded, but should have been dropped: ${exp.reason}`];
  const same = (what: string, x: number | boolean, y: number | boolean, why = ''): void => {
    if (x !== y) out.push(`${what} changed from ${String(x)} to ${String(y)}${why}`);
  };
  same('SPI', a.spi, b.spi);
  if (b.si !== exp.si) out.push(`SI ${b.si}, expected ${exp.si} (input SI ${a.si} after ${hops.join(', ') || 'no hop'})`);
  if (b.ttl !== exp.ttl) out.push(`TTL ${b.ttl}, expected ${exp.ttl} (input TTL ${a.ttl} after ${hops.join(', ') || 'no hop'})`);
  same('NSH version', a.version, b.version);
  same('O bit', a.oam, b.oam, ' (RFC 8300 2.2: MUST NOT be modified along the SFP)');
  same('unassigned U bit after O', a.uBit1, b.uBit1, ' (RFC 8300 2.2: preserved unmodified)');
  same('unassigned U bits before MD Type', a.uBits4, b.uBits4, ' (RFC 8300 2.2: preserved unmodified)');
  same('next protocol', a.nextProto, b.nextProto);
  const md2Dropped = allow.md2TlvsDropped === true && a.mdType === 2 && b.mdType === 2 && b.lengthWords === 2;
  if (!md2Dropped) {
    same('MD type', a.mdType, b.mdType);
    same('NSH Length', a.lengthWords, b.lengthWords);
    if (!a.metadata.equals(b.metadata)) out.push(`context headers changed from ${a.metadata.toString('hex') || '(none)'} to ${b.metadata.toString('hex') || '(none)'}`);
  }
  if (!hops.includes('sf') && !input.inner.bytes.equals(output.inner.bytes)) out.push('inner packet changed (no SF in between; NSH does not alter the inner packet)');
  return out;
}
