/**
 * NETLINK_XFRM messages, encoded and decoded. Pure: no sockets, no FFI.
 *
 * Layouts are those of <linux/netlink.h> and <linux/xfrm.h> on 64-bit Linux;
 * every offset the codec uses comes from `Layout`, which a test compares with
 * offsetof()/sizeof() from a C program compiled against the installed headers.
 * Decoders check every length against the bytes actually present (lengths in
 * a reply are data, not facts) and fail with XfrmDecodeError, never reading
 * out of bounds.
 */
import { XfrmDecodeError, XfrmSpecError, type DecodeFault, type KernelDetail } from './xfrm-errors.js';
import type {
  Lifetime, Mark, Policy, PolicyDir, PolicyId, PolicySpec, ReplayState, Sa, SaCurrent, SaExtraFlag, SaFlag, SaId,
  SaSpec, Selector, Template, XfrmMode,
} from './xfrm-types.js';

/** C struct name -> member -> byte offset, plus `sizeof`. */
export const Layout = {
  nlmsghdr: { sizeof: 16, nlmsg_len: 0, nlmsg_type: 4, nlmsg_flags: 6, nlmsg_seq: 8, nlmsg_pid: 12 },
  nlmsgerr: { sizeof: 20, error: 0, msg: 4 },
  nlattr: { sizeof: 4, nla_len: 0, nla_type: 2 },
  sockaddr_nl: { sizeof: 12, nl_family: 0, nl_pad: 2, nl_pid: 4, nl_groups: 8 },
  xfrm_selector: {
    sizeof: 56, daddr: 0, saddr: 16, dport: 32, dport_mask: 34, sport: 36, sport_mask: 38, family: 40,
    prefixlen_d: 42, prefixlen_s: 43, proto: 44, ifindex: 48, user: 52,
  },
  xfrm_id: { sizeof: 24, daddr: 0, spi: 16, proto: 20 },
  xfrm_lifetime_cfg: {
    sizeof: 64, soft_byte_limit: 0, hard_byte_limit: 8, soft_packet_limit: 16, hard_packet_limit: 24,
    soft_add_expires_seconds: 32, hard_add_expires_seconds: 40, soft_use_expires_seconds: 48, hard_use_expires_seconds: 56,
  },
  xfrm_lifetime_cur: { sizeof: 32, bytes: 0, packets: 8, add_time: 16, use_time: 24 },
  xfrm_stats: { sizeof: 12, replay_window: 0, replay: 4, integrity_failed: 8 },
  xfrm_usersa_info: {
    sizeof: 224, sel: 0, id: 56, saddr: 80, lft: 96, curlft: 160, stats: 192, seq: 204, reqid: 208, family: 212,
    mode: 214, replay_window: 215, flags: 216,
  },
  xfrm_usersa_id: { sizeof: 24, daddr: 0, spi: 16, family: 20, proto: 22 },
  xfrm_userpolicy_info: {
    sizeof: 168, sel: 0, lft: 56, curlft: 120, priority: 152, index: 156, dir: 160, action: 161, flags: 162, share: 163,
  },
  xfrm_userpolicy_id: { sizeof: 64, sel: 0, index: 56, dir: 60 },
  xfrm_user_tmpl: {
    sizeof: 64, id: 0, family: 24, saddr: 28, reqid: 44, mode: 48, share: 49, optional: 50, aalgos: 52, ealgos: 56, calgos: 60,
  },
  xfrm_mark: { sizeof: 8, v: 0, m: 4 },
  xfrm_algo_aead: { sizeof: 72, alg_name: 0, alg_key_len: 64, alg_icv_len: 68, alg_key: 72 },
  xfrm_replay_state: { sizeof: 12, oseq: 0, seq: 4, bitmap: 8 },
  xfrm_replay_state_esn: { sizeof: 24, bmp_len: 0, oseq: 4, seq: 8, oseq_hi: 12, seq_hi: 16, replay_window: 20, bmp: 24 },
} as const;

const HDR = Layout.nlmsghdr, ERR = Layout.nlmsgerr, NLA = Layout.nlattr, SNL = Layout.sockaddr_nl;
const SEL = Layout.xfrm_selector, XID = Layout.xfrm_id, LFT = Layout.xfrm_lifetime_cfg, CUR = Layout.xfrm_lifetime_cur;
const STATS = Layout.xfrm_stats, SA = Layout.xfrm_usersa_info, SAID = Layout.xfrm_usersa_id;
const POL = Layout.xfrm_userpolicy_info, POLID = Layout.xfrm_userpolicy_id, TMPL = Layout.xfrm_user_tmpl;
const MARK = Layout.xfrm_mark, AEAD = Layout.xfrm_algo_aead, RPL = Layout.xfrm_replay_state, ESN = Layout.xfrm_replay_state_esn;

export const NLMSG_HDRLEN = HDR.sizeof;
export const NlFlag = {
  request: 0x1, multi: 0x2, ack: 0x4, dumpIntr: 0x10, excl: 0x200, create: 0x400, replace: 0x100, dump: 0x300,
  /** On NLMSG_ERROR: only the request's header was echoed (NETLINK_CAP_ACK). */
  capped: 0x100,
  /** On NLMSG_ERROR / NLMSG_DONE: extended-ack TLVs follow. */
  ackTlvs: 0x200,
} as const;
export const NlType = { noop: 1, error: 2, done: 3, overrun: 4 } as const;
export const XfrmMsg = {
  newSa: 0x10, delSa: 0x11, getSa: 0x12, newPolicy: 0x13, delPolicy: 0x14, getPolicy: 0x15,
  expire: 0x18, updPolicy: 0x19, updSa: 0x1a, polExpire: 0x1b,
} as const;
export const XfrmAttr = {
  tmpl: 5, ltimeVal: 9, replayVal: 10, policyType: 16, algAead: 18, mark: 21, replayEsnVal: 23, saExtraFlags: 24, ifId: 31,
} as const;
export const NlmsgerrAttr = { msg: 1, offs: 2, missType: 5 } as const;

export const AF_INET = 2;
export const AF_NETLINK = 16;
const AF_UNSPEC = 0;
const IPPROTO_ESP = 50;
const XFRM_INF = 0xffffffffffffffffn;
/** XFRMA_REPLAY_ESN_MAX: the kernel's limit on the window, in bits. */
export const MAX_REPLAY_WINDOW = 4096;
/** The legacy xfrm_replay_state holds a 32-bit bitmap; larger windows need the ESN-form state. */
const LEGACY_WINDOW = 32;
const AEAD_NAME = 'rfc4106(gcm(aes))';
const AEAD_KEY_BYTES = [20, 28, 36];
const AEAD_ICV_BITS = 128;

const DIRS: readonly PolicyDir[] = ['in', 'out', 'fwd'];
const MODES: readonly XfrmMode[] = ['transport', 'tunnel'];
const STATE_ESN = 0x80;
const STATE_FLAGS: ReadonlyArray<[SaFlag, number]> = [
  ['noecn', 0x1], ['decap-dscp', 0x2], ['nopmtudisc', 0x4], ['wildrecv', 0x8], ['icmp', 0x10], ['af-unspec', 0x20], ['align4', 0x40],
];
const EXTRA_FLAGS: ReadonlyArray<[SaExtraFlag, number]> = [['dont-encap-dscp', 0x1], ['oseq-may-wrap', 0x2]];

const align4 = (n: number): number => (n + 3) & ~3;

// --- bounds ------------------------------------------------------------------

function fail(fault: DecodeFault, what: string, detail: string): never {
  throw new XfrmDecodeError(fault, what, detail);
}

/** The one gate before any fixed-offset read: `len` bytes at `off` must exist. */
function need(b: Buffer, off: number, len: number, what: string): void {
  if (off < 0 || len < 0 || off + len > b.length) fail('truncated', what, `need ${len} bytes at offset ${off}, have ${b.length}`);
}

// --- validation of specs ---------------------------------------------------------

function u32(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new XfrmSpecError(field, `${v} is not a 32-bit unsigned integer`);
  return v;
}

function intIn(v: number, lo: number, hi: number, field: string): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new XfrmSpecError(field, `${v} is not an integer in [${lo}, ${hi}]`);
  return v;
}

function u64(v: bigint | number, field: string): bigint {
  const b = typeof v === 'bigint' ? v : Number.isSafeInteger(v) ? BigInt(v) : -1n;
  if (b < 0n || b >= XFRM_INF) throw new XfrmSpecError(field, `${v} is not a 64-bit limit`);
  return b;
}

// --- addresses and selectors -------------------------------------------------------

export function ipv4ToBytes(a: string, field = 'address'): Buffer {
  const p = a.split('.');
  const n = p.map((x) => (/^\d{1,3}$/.test(x) ? Number(x) : NaN));
  if (n.length !== 4 || n.some((x) => !(x >= 0 && x <= 255))) throw new XfrmSpecError(field, `not an IPv4 address: ${JSON.stringify(a)}`);
  return Buffer.from(n);
}

const readIpv4 = (b: Buffer, off: number): string => `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;

function parsePrefix(s: string, field: string): { addr: Buffer; len: number } {
  const [addr, len, extra] = s.split('/');
  if (extra !== undefined || addr === undefined) throw new XfrmSpecError(field, `not an IPv4 prefix: ${JSON.stringify(s)}`);
  return { addr: ipv4ToBytes(addr, field), len: len === undefined ? 32 : intIn(/^\d+$/.test(len) ? Number(len) : NaN, 0, 32, `${field} prefix length`) };
}

function writeSelector(b: Buffer, off: number, sel: Selector, field: string): void {
  const src = parsePrefix(sel.src, `${field}.src`), dst = parsePrefix(sel.dst, `${field}.dst`);
  dst.addr.copy(b, off + SEL.daddr);
  src.addr.copy(b, off + SEL.saddr);
  if (sel.dport !== undefined) {
    b.writeUInt16BE(intIn(sel.dport, 0, 0xffff, `${field}.dport`), off + SEL.dport);
    b.writeUInt16BE(0xffff, off + SEL.dport_mask);
  }
  if (sel.sport !== undefined) {
    b.writeUInt16BE(intIn(sel.sport, 0, 0xffff, `${field}.sport`), off + SEL.sport);
    b.writeUInt16BE(0xffff, off + SEL.sport_mask);
  }
  b.writeUInt16LE(AF_INET, off + SEL.family);
  b.writeUInt8(dst.len, off + SEL.prefixlen_d);
  b.writeUInt8(src.len, off + SEL.prefixlen_s);
  b.writeUInt8(intIn(sel.proto ?? 0, 0, 255, `${field}.proto`), off + SEL.proto);
  b.writeInt32LE(intIn(sel.ifindex ?? 0, 0, 0x7fffffff, `${field}.ifindex`), off + SEL.ifindex);
}

/** `b` must hold a whole xfrm_selector at `off` (callers check the enclosing struct). */
function readSelector(b: Buffer, off: number, what: string): Selector {
  const family = b.readUInt16LE(off + SEL.family);
  if (family !== AF_INET && family !== AF_UNSPEC) fail('unsupported', what, `selector address family ${family} (esfc models IPv4)`);
  const pd = b[off + SEL.prefixlen_d]!, ps = b[off + SEL.prefixlen_s]!;
  if (pd > 32 || ps > 32) fail('malformed', what, `IPv4 prefix length ${Math.max(pd, ps)}`);
  const sel: Selector = { src: `${readIpv4(b, off + SEL.saddr)}/${ps}`, dst: `${readIpv4(b, off + SEL.daddr)}/${pd}` };
  const proto = b[off + SEL.proto]!;
  if (proto) sel.proto = proto;
  if (b.readUInt16BE(off + SEL.sport_mask)) sel.sport = b.readUInt16BE(off + SEL.sport);
  if (b.readUInt16BE(off + SEL.dport_mask)) sel.dport = b.readUInt16BE(off + SEL.dport);
  const ifindex = b.readInt32LE(off + SEL.ifindex);
  if (ifindex) sel.ifindex = ifindex;
  return sel;
}

const ANY: Selector = { src: '0.0.0.0/0', dst: '0.0.0.0/0' };

// --- lifetimes ---------------------------------------------------------------------

function writeLifetimeCfg(b: Buffer, off: number, lt: Lifetime | undefined): void {
  // Byte and packet limits: XFRM_INF is "none"; expiry times: 0 is "never".
  const limit = (v: bigint | number | undefined, f: string): bigint => (v ? u64(v, `lifetime.${f}`) : XFRM_INF);
  b.writeBigUInt64LE(limit(lt?.softBytes, 'softBytes'), off + LFT.soft_byte_limit);
  b.writeBigUInt64LE(limit(lt?.hardBytes, 'hardBytes'), off + LFT.hard_byte_limit);
  b.writeBigUInt64LE(limit(lt?.softPackets, 'softPackets'), off + LFT.soft_packet_limit);
  b.writeBigUInt64LE(limit(lt?.hardPackets, 'hardPackets'), off + LFT.hard_packet_limit);
  b.writeBigUInt64LE(u64(lt?.softSeconds ?? 0, 'lifetime.softSeconds'), off + LFT.soft_add_expires_seconds);
  b.writeBigUInt64LE(u64(lt?.hardSeconds ?? 0, 'lifetime.hardSeconds'), off + LFT.hard_add_expires_seconds);
}

function readLifetimeCfg(b: Buffer, off: number): Lifetime | undefined {
  const lt: Lifetime = {};
  const limit = (o: number): bigint | undefined => { const v = b.readBigUInt64LE(off + o); return v === XFRM_INF || v === 0n ? undefined : v; };
  const seconds = (o: number): number | undefined => { const v = b.readBigUInt64LE(off + o); return v === 0n ? undefined : Number(v); };
  const fields: Array<[keyof Lifetime, bigint | number | undefined]> = [
    ['softBytes', limit(LFT.soft_byte_limit)], ['hardBytes', limit(LFT.hard_byte_limit)],
    ['softPackets', limit(LFT.soft_packet_limit)], ['hardPackets', limit(LFT.hard_packet_limit)],
    ['softSeconds', seconds(LFT.soft_add_expires_seconds)], ['hardSeconds', seconds(LFT.hard_add_expires_seconds)],
  ];
  for (const [k, v] of fields) if (v !== undefined) Object.assign(lt, { [k]: v });
  return Object.keys(lt).length ? lt : undefined;
}

/** `b` must hold a whole xfrm_lifetime_cur at `off`. */
const readCurrent = (b: Buffer, off: number): SaCurrent => ({
  bytes: b.readBigUInt64LE(off + CUR.bytes), packets: b.readBigUInt64LE(off + CUR.packets),
  addTime: Number(b.readBigUInt64LE(off + CUR.add_time)), useTime: Number(b.readBigUInt64LE(off + CUR.use_time)),
});

// --- attributes ------------------------------------------------------------------------

export function attr(type: number, payload: Buffer): Buffer {
  const len = NLA.sizeof + payload.length;
  if (len > 0xffff) throw new XfrmSpecError(`attribute ${type}`, `${payload.length} bytes do not fit a netlink attribute`);
  const b = Buffer.alloc(align4(len));
  b.writeUInt16LE(len, NLA.nla_len);
  b.writeUInt16LE(type, NLA.nla_type);
  payload.copy(b, NLA.sizeof);
  return b;
}

export type Attrs = Map<number, Buffer>;

/** Attributes from `off` to the end of `b`; the first of a repeated type wins. */
export function parseAttrs(b: Buffer, off: number, what: string): Attrs {
  const out: Attrs = new Map();
  while (off < b.length) {
    need(b, off, NLA.sizeof, `${what} attribute header`);
    const len = b.readUInt16LE(off + NLA.nla_len);
    const type = b.readUInt16LE(off + NLA.nla_type) & 0x3fff; // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
    if (len < NLA.sizeof) fail('malformed', `${what} attribute ${type}`, `nla_len ${len} is shorter than its header`);
    need(b, off, len, `${what} attribute ${type}`);
    if (!out.has(type)) out.set(type, b.subarray(off + NLA.sizeof, off + len));
    // The last attribute may omit its padding.
    off = Math.min(b.length, off + align4(len));
  }
  return out;
}

/** An attribute whose payload must be at least `size` bytes. */
function fixedAttr(a: Attrs, type: number, size: number, what: string): Buffer | undefined {
  const v = a.get(type);
  if (v) need(v, 0, size, what);
  return v;
}

const u32Attr = (type: number, v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return attr(type, b); };

function markAttr(m: Mark, field: string): Buffer {
  const b = Buffer.alloc(MARK.sizeof);
  b.writeUInt32LE(u32(m.value, `${field}.value`), MARK.v);
  b.writeUInt32LE(u32(m.mask, `${field}.mask`), MARK.m);
  return attr(XfrmAttr.mark, b);
}

function readMark(a: Attrs): Mark | undefined {
  const m = fixedAttr(a, XfrmAttr.mark, MARK.sizeof, 'XFRMA_MARK');
  return m && { value: m.readUInt32LE(MARK.v), mask: m.readUInt32LE(MARK.m) };
}

function readIfId(a: Attrs): number | undefined {
  const v = fixedAttr(a, XfrmAttr.ifId, 4, 'XFRMA_IF_ID');
  return v?.readUInt32LE(0) || undefined;
}

/** mark and if_id: the attributes an SA, a policy and their ids share. */
function keyAttrs(o: { mark?: Mark; ifId?: number }, field: string): Buffer[] {
  const out: Buffer[] = [];
  if (o.mark) out.push(markAttr(o.mark, `${field}.mark`));
  if (o.ifId) out.push(u32Attr(XfrmAttr.ifId, u32(o.ifId, `${field}.ifId`)));
  return out;
}

function withKeyAttrs<T extends { mark?: Mark; ifId?: number }>(o: T, a: Attrs): T {
  const mark = readMark(a);
  if (mark) o.mark = mark;
  const ifId = readIfId(a);
  if (ifId) o.ifId = ifId;
  return o;
}

// --- netlink framing ----------------------------------------------------------------------

export interface NlHeader { type: number; flags: number; seq: number; pid: number }
export interface NlMessage extends NlHeader { payload: Buffer }

export function encodeNlmsg(h: NlHeader, payload: Buffer): Buffer {
  const b = Buffer.alloc(HDR.sizeof + payload.length);
  b.writeUInt32LE(b.length, HDR.nlmsg_len);
  b.writeUInt16LE(h.type, HDR.nlmsg_type);
  b.writeUInt16LE(h.flags, HDR.nlmsg_flags);
  b.writeUInt32LE(h.seq >>> 0, HDR.nlmsg_seq);
  b.writeUInt32LE(h.pid >>> 0, HDR.nlmsg_pid);
  payload.copy(b, HDR.sizeof);
  return b;
}

function readHeader(b: Buffer, off: number): NlHeader & { len: number } {
  return {
    len: b.readUInt32LE(off + HDR.nlmsg_len), type: b.readUInt16LE(off + HDR.nlmsg_type),
    flags: b.readUInt16LE(off + HDR.nlmsg_flags), seq: b.readUInt32LE(off + HDR.nlmsg_seq), pid: b.readUInt32LE(off + HDR.nlmsg_pid),
  };
}

/** Split a datagram into messages; payloads are views into `b`. */
export function parseMessages(b: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off < b.length) {
    need(b, off, HDR.sizeof, 'netlink message header');
    const { len, ...h } = readHeader(b, off);
    if (len < HDR.sizeof) fail('malformed', 'netlink message', `nlmsg_len ${len} is shorter than its header`);
    need(b, off, len, `netlink message type ${h.type}`);
    out.push({ ...h, payload: b.subarray(off + HDR.sizeof, off + len) });
    off = Math.min(b.length, off + align4(len));
  }
  return out;
}

export interface NlError extends KernelDetail { errno: number }

function readExtack(b: Buffer, off: number, what: string): KernelDetail {
  const a = parseAttrs(b, off, what);
  const d: KernelDetail = {};
  const msg = a.get(NlmsgerrAttr.msg);
  if (msg) { const z = msg.indexOf(0); d.message = msg.subarray(0, z < 0 ? msg.length : z).toString('utf8'); }
  const offs = fixedAttr(a, NlmsgerrAttr.offs, 4, 'NLMSGERR_ATTR_OFFS');
  if (offs) d.offset = offs.readUInt32LE(0);
  const miss = fixedAttr(a, NlmsgerrAttr.missType, 4, 'NLMSGERR_ATTR_MISS_TYPE');
  if (miss) d.missingAttr = miss.readUInt32LE(0);
  return d;
}

/** NLMSG_ERROR: errno 0 is an ACK. The request (or only its header, when capped) is echoed before the TLVs. */
export function parseError(m: NlHeader & { payload: Buffer }): NlError {
  const p = m.payload;
  need(p, 0, ERR.sizeof, 'nlmsgerr');
  const errno = 0 - p.readInt32LE(ERR.error);
  if (!(m.flags & NlFlag.ackTlvs)) return { errno };
  const echoed = p.readUInt32LE(ERR.msg + HDR.nlmsg_len);
  if (echoed < HDR.sizeof) fail('malformed', 'nlmsgerr', `echoed nlmsg_len ${echoed}`);
  const tlvs = ERR.msg + (m.flags & NlFlag.capped ? HDR.sizeof : align4(echoed));
  need(p, 0, tlvs, 'nlmsgerr echoed request');
  return { errno, ...readExtack(p, tlvs, 'nlmsgerr') };
}

/** NLMSG_DONE ends a dump; a negative int in it is the dump's error. */
export function parseDone(m: NlHeader & { payload: Buffer }): NlError {
  if (m.payload.length < 4) return { errno: 0 };
  const errno = 0 - m.payload.readInt32LE(0);
  return m.flags & NlFlag.ackTlvs ? { errno, ...readExtack(m.payload, 4, 'NLMSG_DONE') } : { errno };
}

export type ReplyResult = { messages: NlMessage[]; error?: NlError; interrupted: boolean };

/**
 * Gathers the answer to one request from the datagrams that arrive, skipping
 * what belongs to other requests. A plain request ends with its ACK (we
 * always ask for one, so success is explicit); a dump ends with NLMSG_DONE.
 */
export class ReplyCollector {
  private readonly messages: NlMessage[] = [];
  private interrupted = false;

  constructor(private readonly seq: number, private readonly portId: number | undefined, private readonly dump: boolean) {}

  /** Undefined while more is to come. Payloads are copied: the datagram buffer may be reused. */
  feed(datagram: Buffer): ReplyResult | undefined {
    for (const m of parseMessages(datagram)) {
      if (m.seq !== this.seq >>> 0 || (this.portId !== undefined && m.pid !== this.portId)) continue;
      if (m.flags & NlFlag.dumpIntr) this.interrupted = true;
      switch (m.type) {
        case NlType.noop: continue;
        case NlType.overrun: return fail('malformed', 'netlink reply', 'NLMSG_OVERRUN: messages were lost');
        case NlType.error: {
          const e = parseError(m);
          if (e.errno === 0 && this.dump) continue;
          return this.result(e.errno ? e : undefined);
        }
        case NlType.done: {
          const e = parseDone(m);
          return this.result(e.errno ? e : undefined);
        }
        default:
          this.messages.push({ ...m, payload: Buffer.from(m.payload) });
      }
    }
    return undefined;
  }

  private result(error: NlError | undefined): ReplyResult {
    return error ? { messages: this.messages, error, interrupted: this.interrupted } : { messages: this.messages, interrupted: this.interrupted };
  }
}

export function encodeSockaddrNl(pid: number, groups: number): Buffer {
  const b = Buffer.alloc(SNL.sizeof);
  b.writeUInt16LE(AF_NETLINK, SNL.nl_family);
  b.writeUInt32LE(pid >>> 0, SNL.nl_pid);
  b.writeUInt32LE(groups >>> 0, SNL.nl_groups);
  return b;
}

export function decodeSockaddrNl(b: Buffer): { family: number; pid: number; groups: number } {
  need(b, 0, SNL.sizeof, 'sockaddr_nl');
  return { family: b.readUInt16LE(SNL.nl_family), pid: b.readUInt32LE(SNL.nl_pid), groups: b.readUInt32LE(SNL.nl_groups) };
}

// --- SAs -----------------------------------------------------------------------------------

function aeadAttr(s: SaSpec): Buffer {
  const { name, key, icvBits } = s.aead;
  if (name !== AEAD_NAME) throw new XfrmSpecError('aead.name', `${JSON.stringify(name)} (esfc uses ${AEAD_NAME})`);
  if (!AEAD_KEY_BYTES.includes(key.length)) throw new XfrmSpecError('aead.key', `${key.length} bytes; want the AES key and 4-byte salt: ${AEAD_KEY_BYTES.join(', ')}`);
  if (icvBits !== AEAD_ICV_BITS) throw new XfrmSpecError('aead.icvBits', `${icvBits}; want ${AEAD_ICV_BITS}`);
  const b = Buffer.alloc(AEAD.sizeof + key.length);
  b.write(name, AEAD.alg_name, 'latin1');
  b.writeUInt32LE(key.length * 8, AEAD.alg_key_len);
  b.writeUInt32LE(icvBits, AEAD.alg_icv_len);
  key.copy(b, AEAD.alg_key);
  return attr(XfrmAttr.algAead, b);
}

/** How a window travels: ESN, or a window the 32-bit legacy bitmap cannot hold, needs XFRMA_REPLAY_ESN_VAL. */
function usesBitmapForm(s: SaSpec): boolean {
  return s.esn || s.replayWindow > LEGACY_WINDOW;
}

function replayEsnAttr(window: number): Buffer {
  const words = Math.ceil(window / 32);
  const b = Buffer.alloc(ESN.sizeof + words * 4);
  b.writeUInt32LE(words, ESN.bmp_len);
  b.writeUInt32LE(window, ESN.replay_window);
  return attr(XfrmAttr.replayEsnVal, b);
}

function flagBits<F extends string>(flags: readonly F[] | undefined, table: ReadonlyArray<[F, number]>, field: string): number {
  let bits = 0;
  for (const f of flags ?? []) {
    const bit = table.find(([n]) => n === f)?.[1];
    if (bit === undefined) throw new XfrmSpecError(field, `unknown flag ${JSON.stringify(f)}`);
    bits |= bit;
  }
  return bits;
}

const flagNames = <F extends string>(bits: number, table: ReadonlyArray<[F, number]>): F[] => table.filter(([, b]) => bits & b).map(([n]) => n);

function writeSaIdentity(b: Buffer, s: SaSpec): void {
  ipv4ToBytes(s.dst, 'dst').copy(b, SA.id + XID.daddr);
  b.writeUInt32BE(u32(s.spi, 'spi'), SA.id + XID.spi);
  b.writeUInt8(IPPROTO_ESP, SA.id + XID.proto);
  ipv4ToBytes(s.src, 'src').copy(b, SA.saddr);
  b.writeUInt16LE(AF_INET, SA.family);
  b.writeUInt32LE(u32(s.reqid, 'reqid'), SA.reqid);
  const mode = MODES.indexOf(s.mode);
  if (mode < 0) throw new XfrmSpecError('mode', JSON.stringify(s.mode));
  b.writeUInt8(mode, SA.mode);
}

/** XFRM_MSG_NEWSA / UPDSA payload: xfrm_usersa_info and its attributes. */
export function encodeSa(s: SaSpec): Buffer {
  if (s.proto !== 'esp') throw new XfrmSpecError('proto', JSON.stringify(s.proto));
  intIn(s.replayWindow, 0, MAX_REPLAY_WINDOW, 'replayWindow');
  const info = Buffer.alloc(SA.sizeof);
  writeSelector(info, SA.sel, s.selector ?? ANY, 'selector');
  writeSaIdentity(info, s);
  writeLifetimeCfg(info, SA.lft, s.lifetime);
  const bitmap = usesBitmapForm(s);
  // The kernel refuses a legacy window next to XFRMA_REPLAY_ESN_VAL.
  info.writeUInt8(bitmap ? 0 : s.replayWindow, SA.replay_window);
  info.writeUInt8(flagBits(s.flags, STATE_FLAGS, 'flags') | (s.esn ? STATE_ESN : 0), SA.flags);

  const attrs = [aeadAttr(s)];
  if (bitmap) attrs.push(replayEsnAttr(s.replayWindow));
  attrs.push(...keyAttrs(s, 'sa'));
  const extra = flagBits(s.extraFlags, EXTRA_FLAGS, 'extraFlags');
  if (extra) attrs.push(u32Attr(XfrmAttr.saExtraFlags, extra));
  return Buffer.concat([info, ...attrs]);
}

function readAead(a: Attrs): SaSpec['aead'] {
  const v = fixedAttr(a, XfrmAttr.algAead, AEAD.sizeof, 'XFRMA_ALG_AEAD');
  if (!v) fail('unsupported', 'SA', 'no XFRMA_ALG_AEAD (esfc installs AEAD SAs only)');
  const raw = v.subarray(AEAD.alg_name, AEAD.alg_name + 64);
  const z = raw.indexOf(0);
  const name = raw.subarray(0, z < 0 ? raw.length : z).toString('latin1');
  const bits = v.readUInt32LE(AEAD.alg_key_len), icv = v.readUInt32LE(AEAD.alg_icv_len);
  if (bits % 8) fail('malformed', 'XFRMA_ALG_AEAD', `key length ${bits} bits is not whole bytes`);
  need(v, AEAD.alg_key, bits / 8, 'XFRMA_ALG_AEAD key');
  if (name !== AEAD_NAME || icv !== AEAD_ICV_BITS) fail('unsupported', 'XFRMA_ALG_AEAD', `${name} with a ${icv}-bit ICV`);
  return { name: AEAD_NAME, key: Buffer.from(v.subarray(AEAD.alg_key, AEAD.alg_key + bits / 8)), icvBits: AEAD_ICV_BITS };
}

function readReplay(info: Buffer, a: Attrs): { window: number; replay: ReplayState } {
  const esn = fixedAttr(a, XfrmAttr.replayEsnVal, ESN.sizeof, 'XFRMA_REPLAY_ESN_VAL');
  if (esn) {
    const words = esn.readUInt32LE(ESN.bmp_len);
    need(esn, ESN.bmp, words * 4, 'XFRMA_REPLAY_ESN_VAL bitmap');
    return {
      window: esn.readUInt32LE(ESN.replay_window),
      replay: {
        seq: esn.readUInt32LE(ESN.seq), oseq: esn.readUInt32LE(ESN.oseq), seqHi: esn.readUInt32LE(ESN.seq_hi),
        oseqHi: esn.readUInt32LE(ESN.oseq_hi), bitmapWords: words, form: 'bitmap',
      },
    };
  }
  const r = fixedAttr(a, XfrmAttr.replayVal, RPL.sizeof, 'XFRMA_REPLAY_VAL');
  return {
    window: info[SA.replay_window]!,
    replay: { seq: r?.readUInt32LE(RPL.seq) ?? 0, oseq: r?.readUInt32LE(RPL.oseq) ?? 0, seqHi: 0, oseqHi: 0, bitmapWords: 1, form: 'legacy' },
  };
}

function readSaIdentity(p: Buffer): Pick<Sa, 'src' | 'dst' | 'spi' | 'proto' | 'mode' | 'reqid'> {
  const family = p.readUInt16LE(SA.family);
  if (family !== AF_INET) fail('unsupported', 'SA', `address family ${family} (esfc models IPv4)`);
  const proto = p[SA.id + XID.proto]!;
  if (proto !== IPPROTO_ESP) fail('unsupported', 'SA', `IP protocol ${proto} (esfc models ESP)`);
  const mode = MODES[p[SA.mode]!];
  if (!mode) fail('unsupported', 'SA', `mode ${p[SA.mode]}`);
  return {
    src: readIpv4(p, SA.saddr), dst: readIpv4(p, SA.id + XID.daddr), spi: p.readUInt32BE(SA.id + XID.spi), proto: 'esp',
    mode, reqid: p.readUInt32LE(SA.reqid),
  };
}

/** The payload of XFRM_MSG_NEWSA (a dump entry or a GETSA answer). */
export function decodeSa(p: Buffer): Sa {
  need(p, 0, SA.sizeof, 'xfrm_usersa_info');
  const a = parseAttrs(p, SA.sizeof, 'SA');
  const { window, replay } = readReplay(p, a);
  const flags = p[SA.flags]!;
  // The current lifetime also travels in XFRMA_LTIME_VAL; both are the same snapshot.
  const ltime = fixedAttr(a, XfrmAttr.ltimeVal, CUR.sizeof, 'XFRMA_LTIME_VAL');
  const sa: Sa = {
    ...readSaIdentity(p), aead: readAead(a), replayWindow: window, esn: (flags & STATE_ESN) !== 0,
    selector: readSelector(p, SA.sel, 'SA selector'),
    curlft: ltime ? readCurrent(ltime, 0) : readCurrent(p, SA.curlft),
    stats: {
      replayWindow: p.readUInt32LE(SA.stats + STATS.replay_window), replay: p.readUInt32LE(SA.stats + STATS.replay),
      integrityFailed: p.readUInt32LE(SA.stats + STATS.integrity_failed),
    },
    seq: replay.seq, oseq: replay.oseq, replay,
  };
  const lifetime = readLifetimeCfg(p, SA.lft);
  if (lifetime) sa.lifetime = lifetime;
  const fl = flagNames(flags, STATE_FLAGS);
  if (fl.length) sa.flags = fl;
  const extra = fixedAttr(a, XfrmAttr.saExtraFlags, 4, 'XFRMA_SA_EXTRA_FLAGS');
  const xf = extra ? flagNames(extra.readUInt32LE(0), EXTRA_FLAGS) : [];
  if (xf.length) sa.extraFlags = xf;
  return withKeyAttrs(sa, a);
}

/** XFRM_MSG_GETSA / DELSA payload. */
export function encodeSaId(id: SaId): Buffer {
  if (id.proto !== 'esp') throw new XfrmSpecError('proto', JSON.stringify(id.proto));
  const b = Buffer.alloc(SAID.sizeof);
  ipv4ToBytes(id.dst, 'dst').copy(b, SAID.daddr);
  b.writeUInt32BE(u32(id.spi, 'spi'), SAID.spi);
  b.writeUInt16LE(AF_INET, SAID.family);
  b.writeUInt8(IPPROTO_ESP, SAID.proto);
  return Buffer.concat([b, ...keyAttrs(id, 'id')]);
}

/** The payload of XFRM_MSG_DELSA notifications, and a check of encodeSaId. */
export function decodeSaId(p: Buffer): SaId {
  need(p, 0, SAID.sizeof, 'xfrm_usersa_id');
  const family = p.readUInt16LE(SAID.family), proto = p[SAID.proto]!;
  if (family !== AF_INET || proto !== IPPROTO_ESP) fail('unsupported', 'SA id', `family ${family}, protocol ${proto}`);
  const id: SaId = { dst: readIpv4(p, SAID.daddr), spi: p.readUInt32BE(SAID.spi), proto: 'esp' };
  const mark = readMark(parseAttrs(p, SAID.sizeof, 'SA id'));
  if (mark) id.mark = mark;
  return id;
}

// --- policies ---------------------------------------------------------------------------------

function encodeTemplate(t: Template, i: number): Buffer {
  const f = `templates[${i}]`;
  if (t.proto !== 'esp') throw new XfrmSpecError(`${f}.proto`, JSON.stringify(t.proto));
  const mode = MODES.indexOf(t.mode);
  if (mode < 0) throw new XfrmSpecError(`${f}.mode`, JSON.stringify(t.mode));
  const b = Buffer.alloc(TMPL.sizeof);
  ipv4ToBytes(t.dst, `${f}.dst`).copy(b, TMPL.id + XID.daddr);
  b.writeUInt32BE(u32(t.spi ?? 0, `${f}.spi`), TMPL.id + XID.spi);
  b.writeUInt8(IPPROTO_ESP, TMPL.id + XID.proto);
  b.writeUInt16LE(AF_INET, TMPL.family);
  ipv4ToBytes(t.src, `${f}.src`).copy(b, TMPL.saddr);
  b.writeUInt32LE(u32(t.reqid, `${f}.reqid`), TMPL.reqid);
  b.writeUInt8(mode, TMPL.mode);
  // Any algorithm: the SA decides.
  b.writeUInt32LE(0xffffffff, TMPL.aalgos);
  b.writeUInt32LE(0xffffffff, TMPL.ealgos);
  b.writeUInt32LE(0xffffffff, TMPL.calgos);
  return b;
}

function decodeTemplate(raw: Buffer, off: number): Template {
  const family = raw.readUInt16LE(off + TMPL.family), proto = raw[off + TMPL.id + XID.proto]!;
  if (family !== AF_INET) fail('unsupported', 'template', `address family ${family}`);
  if (proto !== IPPROTO_ESP) fail('unsupported', 'template', `IP protocol ${proto}`);
  const mode = MODES[raw[off + TMPL.mode]!];
  if (!mode) fail('unsupported', 'template', `mode ${raw[off + TMPL.mode]}`);
  const t: Template = {
    src: readIpv4(raw, off + TMPL.saddr), dst: readIpv4(raw, off + TMPL.id + XID.daddr), proto: 'esp', mode,
    reqid: raw.readUInt32LE(off + TMPL.reqid),
  };
  const spi = raw.readUInt32BE(off + TMPL.id + XID.spi);
  if (spi) t.spi = spi;
  return t;
}

function readTemplates(a: Attrs): Template[] {
  const raw = a.get(XfrmAttr.tmpl);
  if (!raw) return [];
  if (raw.length % TMPL.sizeof) fail('truncated', 'XFRMA_TMPL', `${raw.length} bytes is not a whole number of ${TMPL.sizeof}-byte templates`);
  const out: Template[] = [];
  for (let off = 0; off < raw.length; off += TMPL.sizeof) out.push(decodeTemplate(raw, off));
  return out;
}

function dirIndex(dir: PolicyDir): number {
  const i = DIRS.indexOf(dir);
  if (i < 0) throw new XfrmSpecError('dir', JSON.stringify(dir));
  return i;
}

function readDir(b: Buffer, off: number, what: string): PolicyDir {
  const d = b[off]!;
  // 3..5 are per-socket policies (XFRM_POLICY_MAX + dir): not esfc's.
  return DIRS[d] ?? fail('unsupported', what, `direction ${d}`);
}

/** XFRM_MSG_NEWPOLICY / UPDPOLICY payload. */
export function encodePolicy(p: PolicySpec): Buffer {
  const info = Buffer.alloc(POL.sizeof);
  writeSelector(info, POL.sel, p.selector, 'selector');
  writeLifetimeCfg(info, POL.lft, undefined);
  info.writeUInt32LE(u32(p.priority, 'priority'), POL.priority);
  info.writeUInt32LE(u32(p.index ?? 0, 'index'), POL.index);
  info.writeUInt8(dirIndex(p.dir), POL.dir);
  if (p.action !== 'allow' && p.action !== 'block') throw new XfrmSpecError('action', JSON.stringify(p.action));
  info.writeUInt8(p.action === 'block' ? 1 : 0, POL.action);
  const attrs: Buffer[] = [];
  if (p.templates.length) attrs.push(attr(XfrmAttr.tmpl, Buffer.concat(p.templates.map(encodeTemplate))));
  return Buffer.concat([info, ...attrs, ...keyAttrs(p, 'policy')]);
}

/** The payload of XFRM_MSG_NEWPOLICY (a dump entry or a GETPOLICY answer). */
export function decodePolicy(b: Buffer): Policy {
  need(b, 0, POL.sizeof, 'xfrm_userpolicy_info');
  const a = parseAttrs(b, POL.sizeof, 'policy');
  const action = b[POL.action]!;
  if (action > 1) fail('malformed', 'policy', `action ${action}`);
  const pol: Policy = {
    dir: readDir(b, POL.dir, 'policy'), selector: readSelector(b, POL.sel, 'policy selector'),
    priority: b.readUInt32LE(POL.priority), index: b.readUInt32LE(POL.index), action: action === 1 ? 'block' : 'allow',
    templates: readTemplates(a), curlft: readCurrent(b, POL.curlft),
  };
  return withKeyAttrs(pol, a);
}

/** XFRM_MSG_GETPOLICY / DELPOLICY payload: by index when there is one, else by selector. */
export function encodePolicyId(id: PolicyId): Buffer {
  const b = Buffer.alloc(POLID.sizeof);
  if ('index' in id) b.writeUInt32LE(u32(id.index, 'index'), POLID.index);
  else writeSelector(b, POLID.sel, id.selector, 'selector');
  b.writeUInt8(dirIndex(id.dir), POLID.dir);
  return Buffer.concat([b, ...keyAttrs(id, 'id')]);
}

export function decodePolicyId(b: Buffer): PolicyId {
  need(b, 0, POLID.sizeof, 'xfrm_userpolicy_id');
  const a = parseAttrs(b, POLID.sizeof, 'policy id');
  const dir = readDir(b, POLID.dir, 'policy id');
  const index = b.readUInt32LE(POLID.index);
  const id: PolicyId = index ? { dir, index } : { dir, selector: readSelector(b, POLID.sel, 'policy id selector') };
  return withKeyAttrs(id, a);
}
