/**
 * NETLINK_XFRM messages, encoded and decoded. Pure: no sockets. Layouts are
 * those of <linux/xfrm.h> on 64-bit Linux (a test compiles a C program and
 * compares every offset used here with offsetof()).
 */
import type { Lifetime, Mark, Policy, PolicyDir, PolicyId, PolicySpec, Sa, SaId, SaSpec, Selector, Template } from './xfrm-types.js';

export const NLMSG_HDRLEN = 16;
export const NlFlag = { request: 0x1, multi: 0x2, ack: 0x4, excl: 0x200, create: 0x400, dump: 0x300, capped: 0x100, ackTlvs: 0x200 } as const;
export const NlType = { noop: 1, error: 2, done: 3 } as const;
export const XfrmMsg = {
  newSa: 0x10, delSa: 0x11, getSa: 0x12, newPolicy: 0x13, delPolicy: 0x14, getPolicy: 0x15,
  expire: 0x18, updPolicy: 0x19, updSa: 0x1a, polExpire: 0x1b,
} as const;
export const XfrmAttr = { tmpl: 5, ltimeVal: 9, replayVal: 10, algAead: 18, mark: 21, replayEsnVal: 23, saExtraFlags: 24, ifId: 31 } as const;
const NLMSGERR_ATTR_MSG = 1;
const NLMSGERR_ATTR_OFFS = 2;

export const Size = { selector: 56, usersaInfo: 224, usersaId: 24, userpolicyInfo: 168, userpolicyId: 64, userTmpl: 64, algoAead: 72, replayEsn: 24, mark: 8, lifetimeCur: 32 } as const;
/** Offsets the codec uses, by struct; compared with the C header in a test. */
export const Offsets = {
  xfrm_selector: { daddr: 0, saddr: 16, dport: 32, sport: 36, family: 40, prefixlen_d: 42, prefixlen_s: 43, proto: 44, ifindex: 48 },
  xfrm_usersa_info: { id: 56, saddr: 80, lft: 96, curlft: 160, stats: 192, seq: 204, reqid: 208, family: 212, mode: 214, replay_window: 215, flags: 216 },
  xfrm_usersa_id: { spi: 16, family: 20, proto: 22 },
  xfrm_userpolicy_info: { lft: 56, curlft: 120, priority: 152, index: 156, dir: 160, action: 161, flags: 162, share: 163 },
  xfrm_userpolicy_id: { index: 56, dir: 60 },
  xfrm_user_tmpl: { id: 0, family: 24, saddr: 28, reqid: 44, mode: 48, share: 49, optional: 50, aalgos: 52, ealgos: 56, calgos: 60 },
  xfrm_id: { spi: 16, proto: 20 },
} as const;

const AF_INET = 2;
const IPPROTO_ESP = 50;
const XFRM_STATE_ESN = 128;
const XFRM_INF = 0xffffffffffffffffn;
const DIRS: readonly PolicyDir[] = ['in', 'out', 'fwd'];

export class XfrmDecodeError extends Error {
  readonly code = 'ESFC_XFRM_DECODE';
  constructor(readonly what: string, readonly need: number, readonly have: number) {
    super(`truncated ${what}: need ${need} bytes, have ${have}`);
  }
}

const align4 = (n: number): number => (n + 3) & ~3;

function need(b: Buffer, off: number, len: number, what: string): void {
  if (off + len > b.length) throw new XfrmDecodeError(what, off + len, b.length);
}

// --- addresses and selectors -------------------------------------------

export function ipv4ToBytes(a: string): Buffer {
  const p = a.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${a}`);
  return Buffer.from(p);
}

const bytesToIpv4 = (b: Buffer, off: number): string => `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;

function prefix(s: string): { addr: string; len: number } {
  const [addr, len] = s.split('/');
  return { addr: addr!, len: len === undefined ? 32 : Number(len) };
}

function writeSelector(b: Buffer, off: number, sel: Selector): void {
  const src = prefix(sel.src), dst = prefix(sel.dst);
  ipv4ToBytes(dst.addr).copy(b, off);
  ipv4ToBytes(src.addr).copy(b, off + 16);
  if (sel.dport !== undefined) { b.writeUInt16BE(sel.dport, off + 32); b.writeUInt16BE(0xffff, off + 34); }
  if (sel.sport !== undefined) { b.writeUInt16BE(sel.sport, off + 36); b.writeUInt16BE(0xffff, off + 38); }
  b.writeUInt16LE(AF_INET, off + 40);
  b.writeUInt8(dst.len, off + 42);
  b.writeUInt8(src.len, off + 43);
  b.writeUInt8(sel.proto ?? 0, off + 44);
  b.writeInt32LE(sel.ifindex ?? 0, off + 48);
}

function readSelector(b: Buffer, off: number): Selector {
  const sel: Selector = { src: `${bytesToIpv4(b, off + 16)}/${b[off + 43]}`, dst: `${bytesToIpv4(b, off)}/${b[off + 42]}` };
  if (b[off + 44]) sel.proto = b[off + 44]!;
  if (b.readUInt16BE(off + 34)) sel.dport = b.readUInt16BE(off + 32);
  if (b.readUInt16BE(off + 38)) sel.sport = b.readUInt16BE(off + 36);
  const ifindex = b.readInt32LE(off + 48);
  if (ifindex) sel.ifindex = ifindex;
  return sel;
}

function writeLifetimeCfg(b: Buffer, off: number, lt: Lifetime | undefined): void {
  const lim = (v: bigint | number | undefined): bigint => (v ? BigInt(v) : XFRM_INF);
  b.writeBigUInt64LE(lim(lt?.softBytes), off);
  b.writeBigUInt64LE(lim(lt?.hardBytes), off + 8);
  b.writeBigUInt64LE(lim(lt?.softPackets), off + 16);
  b.writeBigUInt64LE(lim(lt?.hardPackets), off + 24);
  // Expiry times are seconds after add; 0 means never.
  b.writeBigUInt64LE(BigInt(lt?.softSeconds ?? 0), off + 32);
  b.writeBigUInt64LE(BigInt(lt?.hardSeconds ?? 0), off + 40);
}

function readLifetimeCfg(b: Buffer, off: number): Lifetime {
  const lt: Lifetime = {};
  const lim = (o: number): bigint | undefined => { const v = b.readBigUInt64LE(off + o); return v === XFRM_INF || v === 0n ? undefined : v; };
  const sb = lim(0), hb = lim(8), sp = lim(16), hp = lim(24);
  if (sb) lt.softBytes = sb;
  if (hb) lt.hardBytes = hb;
  if (sp) lt.softPackets = sp;
  if (hp) lt.hardPackets = hp;
  const ss = Number(b.readBigUInt64LE(off + 32)), hs = Number(b.readBigUInt64LE(off + 40));
  if (ss) lt.softSeconds = ss;
  if (hs) lt.hardSeconds = hs;
  return lt;
}

const readCur = (b: Buffer, off: number) => ({
  bytes: b.readBigUInt64LE(off), packets: b.readBigUInt64LE(off + 8),
  addTime: Number(b.readBigUInt64LE(off + 16)), useTime: Number(b.readBigUInt64LE(off + 24)),
});

// --- attributes ---------------------------------------------------------

export function attr(type: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(align4(4 + payload.length));
  b.writeUInt16LE(4 + payload.length, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

export function parseAttrs(b: Buffer, off: number): Map<number, Buffer[]> {
  const out = new Map<number, Buffer[]>();
  while (off + 4 <= b.length) {
    const len = b.readUInt16LE(off);
    const type = b.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4 || off + len > b.length) throw new XfrmDecodeError(`attribute ${type}`, off + Math.max(len, 4), b.length);
    const list = out.get(type) ?? [];
    list.push(b.subarray(off + 4, off + len));
    out.set(type, list);
    off += align4(len);
  }
  return out;
}

function markAttr(m: Mark): Buffer {
  const b = Buffer.alloc(Size.mark);
  b.writeUInt32LE(m.value >>> 0, 0);
  b.writeUInt32LE(m.mask >>> 0, 4);
  return attr(XfrmAttr.mark, b);
}

const u32Attr = (type: number, v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return attr(type, b); };

function readMark(a: Map<number, Buffer[]>): Mark | undefined {
  const m = a.get(XfrmAttr.mark)?.[0];
  if (!m) return undefined;
  need(m, 0, Size.mark, 'xfrm_mark');
  return { value: m.readUInt32LE(0), mask: m.readUInt32LE(4) };
}

const readIfId = (a: Map<number, Buffer[]>): number | undefined => {
  const v = a.get(XfrmAttr.ifId)?.[0];
  if (!v) return undefined;
  need(v, 0, 4, 'XFRMA_IF_ID');
  return v.readUInt32LE(0) || undefined;
};

// --- messages -------------------------------------------------------------

export function nlmsg(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(NLMSG_HDRLEN);
  h.writeUInt32LE(NLMSG_HDRLEN + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, payload]);
}

export interface NlMessage { type: number; flags: number; seq: number; payload: Buffer }

/** Split a datagram into netlink messages. */
export function parseMessages(b: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= b.length) {
    const len = b.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > b.length) throw new XfrmDecodeError('netlink message', off + Math.max(len, NLMSG_HDRLEN), b.length);
    out.push({ type: b.readUInt16LE(off + 4), flags: b.readUInt16LE(off + 6), seq: b.readUInt32LE(off + 8), payload: b.subarray(off + NLMSG_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

export interface NlError { errno: number; message?: string; offset?: number }

/** NLMSG_ERROR payload: errno 0 is an ACK. Extended-ack TLVs follow the echoed request. */
export function parseError(m: NlMessage): NlError {
  need(m.payload, 0, 4 + NLMSG_HDRLEN, 'nlmsgerr');
  const errno = -m.payload.readInt32LE(0);
  const out: NlError = { errno };
  if (!(m.flags & NlFlag.ackTlvs)) return out;
  const echoed = m.flags & NlFlag.capped ? NLMSG_HDRLEN : m.payload.readUInt32LE(4);
  const tlvOff = 4 + align4(echoed);
  if (tlvOff > m.payload.length) return out;
  const a = parseAttrs(m.payload, tlvOff);
  const msg = a.get(NLMSGERR_ATTR_MSG)?.[0];
  if (msg) out.message = msg.subarray(0, msg.indexOf(0) < 0 ? msg.length : msg.indexOf(0)).toString();
  const offs = a.get(NLMSGERR_ATTR_OFFS)?.[0];
  if (offs && offs.length >= 4) out.offset = offs.readUInt32LE(0);
  return out;
}

export function encodeSa(s: SaSpec): Buffer {
  const info = Buffer.alloc(Size.usersaInfo);
  writeSelector(info, 0, s.selector ?? { src: '0.0.0.0/0', dst: '0.0.0.0/0' });
  ipv4ToBytes(s.dst).copy(info, 56);
  info.writeUInt32BE(s.spi >>> 0, 56 + 16);
  info.writeUInt8(IPPROTO_ESP, 56 + 20);
  ipv4ToBytes(s.src).copy(info, 80);
  writeLifetimeCfg(info, 96, s.lifetime);
  info.writeUInt32LE(s.reqid >>> 0, 208);
  info.writeUInt16LE(AF_INET, 212);
  info.writeUInt8(s.mode === 'tunnel' ? 1 : 0, 214);
  // With ESN the window travels in XFRMA_REPLAY_ESN_VAL and this byte must be 0.
  info.writeUInt8(s.esn ? 0 : Math.min(s.replayWindow, 255), 215);
  info.writeUInt8(s.esn ? XFRM_STATE_ESN : 0, 216);

  const aead = Buffer.alloc(Size.algoAead + s.aead.key.length);
  aead.write(s.aead.name, 0, 'latin1');
  aead.writeUInt32LE(s.aead.key.length * 8, 64);
  aead.writeUInt32LE(s.aead.icvBits, 68);
  s.aead.key.copy(aead, Size.algoAead);
  const attrs = [attr(XfrmAttr.algAead, aead)];
  if (s.esn) {
    const words = Math.max(1, Math.ceil(s.replayWindow / 32));
    const esn = Buffer.alloc(Size.replayEsn + words * 4);
    esn.writeUInt32LE(words, 0);
    esn.writeUInt32LE(s.replayWindow, 20);
    attrs.push(attr(XfrmAttr.replayEsnVal, esn));
  }
  if (s.mark) attrs.push(markAttr(s.mark));
  if (s.ifId) attrs.push(u32Attr(XfrmAttr.ifId, s.ifId));
  return Buffer.concat([info, ...attrs]);
}

export function decodeSa(p: Buffer): Sa {
  need(p, 0, Size.usersaInfo, 'xfrm_usersa_info');
  const a = parseAttrs(p, Size.usersaInfo);
  const flags = p[216]!;
  const esnRaw = a.get(XfrmAttr.replayEsnVal)?.[0];
  let replayWindow = p[215]!, seq = 0, oseq = 0;
  if (esnRaw) {
    need(esnRaw, 0, Size.replayEsn, 'xfrm_replay_state_esn');
    oseq = esnRaw.readUInt32LE(4);
    seq = esnRaw.readUInt32LE(8);
    replayWindow = esnRaw.readUInt32LE(20);
  } else {
    const r = a.get(XfrmAttr.replayVal)?.[0];
    if (r && r.length >= 12) { oseq = r.readUInt32LE(0); seq = r.readUInt32LE(4); }
  }
  const aeadRaw = a.get(XfrmAttr.algAead)?.[0];
  let aead: Sa['aead'] = { name: 'rfc4106(gcm(aes))', key: Buffer.alloc(0), icvBits: 128 };
  if (aeadRaw) {
    need(aeadRaw, 0, Size.algoAead, 'xfrm_algo_aead');
    const keyLen = aeadRaw.readUInt32LE(64) / 8;
    need(aeadRaw, Size.algoAead, keyLen, 'xfrm_algo_aead key');
    const name = aeadRaw.subarray(0, 64);
    aead = {
      name: name.subarray(0, name.indexOf(0) < 0 ? 64 : name.indexOf(0)).toString('latin1') as Sa['aead']['name'],
      key: Buffer.from(aeadRaw.subarray(Size.algoAead, Size.algoAead + keyLen)),
      icvBits: aeadRaw.readUInt32LE(68) as 128,
    };
  }
  const sa: Sa = {
    src: bytesToIpv4(p, 80), dst: bytesToIpv4(p, 56), spi: p.readUInt32BE(72), proto: 'esp',
    mode: p[214] === 1 ? 'tunnel' : 'transport', reqid: p.readUInt32LE(208), aead,
    replayWindow, esn: (flags & XFRM_STATE_ESN) !== 0, selector: readSelector(p, 0),
    curlft: readCur(p, 160),
    stats: { replayWindow: p.readUInt32LE(192), replay: p.readUInt32LE(196), integrityFailed: p.readUInt32LE(200) },
    seq, oseq,
  };
  const lt = readLifetimeCfg(p, 96);
  if (Object.keys(lt).length) sa.lifetime = lt;
  const mark = readMark(a);
  if (mark) sa.mark = mark;
  const ifId = readIfId(a);
  if (ifId) sa.ifId = ifId;
  return sa;
}

export function encodeSaId(id: SaId): Buffer {
  const b = Buffer.alloc(Size.usersaId);
  ipv4ToBytes(id.dst).copy(b, 0);
  b.writeUInt32BE(id.spi >>> 0, 16);
  b.writeUInt16LE(AF_INET, 20);
  b.writeUInt8(IPPROTO_ESP, 22);
  return id.mark ? Buffer.concat([b, markAttr(id.mark)]) : b;
}

function encodeTemplate(t: Template): Buffer {
  const b = Buffer.alloc(Size.userTmpl);
  ipv4ToBytes(t.dst).copy(b, 0);
  b.writeUInt32BE((t.spi ?? 0) >>> 0, 16);
  b.writeUInt8(IPPROTO_ESP, 20);
  b.writeUInt16LE(AF_INET, 24);
  ipv4ToBytes(t.src).copy(b, 28);
  b.writeUInt32LE(t.reqid >>> 0, 44);
  b.writeUInt8(t.mode === 'tunnel' ? 1 : 0, 48);
  // Any algorithm: the SA decides.
  b.writeUInt32LE(0xffffffff, 52);
  b.writeUInt32LE(0xffffffff, 56);
  b.writeUInt32LE(0xffffffff, 60);
  return b;
}

export function encodePolicy(p: PolicySpec): Buffer {
  const info = Buffer.alloc(Size.userpolicyInfo);
  writeSelector(info, 0, p.selector);
  writeLifetimeCfg(info, 56, undefined);
  info.writeUInt32LE(p.priority >>> 0, 152);
  info.writeUInt32LE((p.index ?? 0) >>> 0, 156);
  info.writeUInt8(DIRS.indexOf(p.dir), 160);
  info.writeUInt8(p.action === 'block' ? 1 : 0, 161);
  const attrs: Buffer[] = [];
  if (p.templates.length) attrs.push(attr(XfrmAttr.tmpl, Buffer.concat(p.templates.map(encodeTemplate))));
  if (p.mark) attrs.push(markAttr(p.mark));
  if (p.ifId) attrs.push(u32Attr(XfrmAttr.ifId, p.ifId));
  return Buffer.concat([info, ...attrs]);
}

export function decodePolicy(b: Buffer): Policy {
  need(b, 0, Size.userpolicyInfo, 'xfrm_userpolicy_info');
  const a = parseAttrs(b, Size.userpolicyInfo);
  const templates: Template[] = [];
  const raw = a.get(XfrmAttr.tmpl)?.[0];
  if (raw) {
    if (raw.length % Size.userTmpl) throw new XfrmDecodeError('xfrm_user_tmpl list', align4(raw.length) + Size.userTmpl, raw.length);
    for (let off = 0; off < raw.length; off += Size.userTmpl) {
      const t: Template = {
        dst: bytesToIpv4(raw, off), src: bytesToIpv4(raw, off + 28), proto: 'esp',
        mode: raw[off + 48] === 1 ? 'tunnel' : 'transport', reqid: raw.readUInt32LE(off + 44),
      };
      const spi = raw.readUInt32BE(off + 16);
      if (spi) t.spi = spi;
      templates.push(t);
    }
  }
  const dir = DIRS[b[160]!];
  if (!dir) throw new XfrmDecodeError(`policy direction ${b[160]}`, 0, 0);
  const pol: Policy = {
    dir, selector: readSelector(b, 0), priority: b.readUInt32LE(152), index: b.readUInt32LE(156),
    action: b[161] === 1 ? 'block' : 'allow', templates, curlft: readCur(b, 120),
  };
  const mark = readMark(a);
  if (mark) pol.mark = mark;
  const ifId = readIfId(a);
  if (ifId) pol.ifId = ifId;
  return pol;
}

export function encodePolicyId(id: PolicyId): Buffer {
  const b = Buffer.alloc(Size.userpolicyId);
  writeSelector(b, 0, id.selector);
  b.writeUInt8(DIRS.indexOf(id.dir), 60);
  const attrs: Buffer[] = [];
  if (id.mark) attrs.push(markAttr(id.mark));
  if (id.ifId) attrs.push(u32Attr(XfrmAttr.ifId, id.ifId));
  return Buffer.concat([b, ...attrs]);
}
