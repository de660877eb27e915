/**
 * The XFRM netlink codec, pure: its struct layouts against the kernel's own
 * headers (compiled with gcc), encode -> decode round trips, replies that
 * lie about their lengths, and the kernel's error messages with extended ack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AF_INET, AF_NETLINK, attr, decodePolicy, decodePolicyId, decodeSa, decodeSaId, encodeNlmsg, encodePolicy, encodePolicyId,
  encodeSa, encodeSaId, Layout, MAX_REPLAY_WINDOW, NlFlag, NlmsgerrAttr, NlType, parseAttrs, parseError, parseMessages,
  ReplyCollector, XfrmAttr, XfrmMsg,
} from '../../agent/xfrm/xfrm-codec.js';
import { NETLINK_CONSTANTS } from '../../agent/kernel/netlink-socket.js';
import { RTNL } from '../../agent/node/links.js';
import { XfrmDecodeError, XfrmError, XfrmSpecError } from '../../agent/xfrm/xfrm-errors.js';
import type { PolicySpec, Sa, SaSpec } from '../../agent/xfrm/xfrm-types.js';

const SA = Layout.xfrm_usersa_info, POL = Layout.xfrm_userpolicy_info, HDR = Layout.nlmsghdr;

// --- the layouts, checked by the compiler that knows them -------------------------------------

/** Constants the codec and the socket use, by the C expression that defines them. */
const CONSTANTS: Record<string, number | bigint> = {
  AF_INET, AF_NETLINK, XFRMA_REPLAY_ESN_MAX: MAX_REPLAY_WINDOW,
  NLM_F_REQUEST: NlFlag.request, NLM_F_MULTI: NlFlag.multi, NLM_F_ACK: NlFlag.ack, NLM_F_DUMP_INTR: NlFlag.dumpIntr,
  NLM_F_EXCL: NlFlag.excl, NLM_F_CREATE: NlFlag.create, NLM_F_REPLACE: NlFlag.replace, NLM_F_DUMP: NlFlag.dump,
  NLM_F_CAPPED: NlFlag.capped, NLM_F_ACK_TLVS: NlFlag.ackTlvs,
  NLMSG_NOOP: NlType.noop, NLMSG_ERROR: NlType.error, NLMSG_DONE: NlType.done, NLMSG_OVERRUN: NlType.overrun,
  NLMSGERR_ATTR_MSG: NlmsgerrAttr.msg, NLMSGERR_ATTR_OFFS: NlmsgerrAttr.offs, NLMSGERR_ATTR_MISS_TYPE: NlmsgerrAttr.missType,
  XFRM_MSG_NEWSA: XfrmMsg.newSa, XFRM_MSG_DELSA: XfrmMsg.delSa, XFRM_MSG_GETSA: XfrmMsg.getSa, XFRM_MSG_UPDSA: XfrmMsg.updSa,
  XFRM_MSG_NEWPOLICY: XfrmMsg.newPolicy, XFRM_MSG_DELPOLICY: XfrmMsg.delPolicy, XFRM_MSG_GETPOLICY: XfrmMsg.getPolicy,
  XFRM_MSG_UPDPOLICY: XfrmMsg.updPolicy, XFRM_MSG_EXPIRE: XfrmMsg.expire, XFRM_MSG_POLEXPIRE: XfrmMsg.polExpire,
  XFRMA_TMPL: XfrmAttr.tmpl, XFRMA_LTIME_VAL: XfrmAttr.ltimeVal, XFRMA_REPLAY_VAL: XfrmAttr.replayVal,
  XFRMA_POLICY_TYPE: XfrmAttr.policyType, XFRMA_ALG_AEAD: XfrmAttr.algAead, XFRMA_MARK: XfrmAttr.mark,
  XFRMA_REPLAY_ESN_VAL: XfrmAttr.replayEsnVal, XFRMA_SA_EXTRA_FLAGS: XfrmAttr.saExtraFlags, XFRMA_IF_ID: XfrmAttr.ifId,
  ...Object.fromEntries(Object.entries(NETLINK_CONSTANTS)),
  // rtnetlink, for the link dump (agent/node/links.ts).
  ...Object.fromEntries(Object.entries(RTNL).filter(([k]) => k !== 'IFINFOMSG_SIZE')),
  'sizeof(struct ifinfomsg)': RTNL.IFINFOMSG_SIZE,
};

function cProgram(): string {
  const lines: string[] = [];
  for (const [struct, fields] of Object.entries(Layout)) {
    for (const field of Object.keys(fields)) {
      const expr = field === 'sizeof' ? `sizeof(struct ${struct})` : `offsetof(struct ${struct}, ${field})`;
      lines.push(`  printf("\\"${struct}.${field}\\": %zu,\\n", (size_t)${expr});`);
    }
  }
  for (const name of Object.keys(CONSTANTS)) lines.push(`  printf("\\"${name}\\": %llu,\\n", (unsigned long long)(${name}));`);
  return [
    '#include <stddef.h>', '#include <stdio.h>', '#include <sys/socket.h>', '#include <linux/netlink.h>', '#include <linux/xfrm.h>', '#include <linux/rtnetlink.h>', '#include <linux/if_link.h>',
    '#include <sched.h>', '#include <errno.h>',
    'int main(void) {', '  printf("{\\n");', ...lines, '  printf("\\"end\\": 0}\\n");', '  return 0;', '}',
  ].join('\n');
}

function compileAndRun(source: string): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-xfrm-layout-'));
  try {
    writeFileSync(join(dir, 'layout.c'), source);
    execFileSync('gcc', ['-Wall', '-Werror', '-D_GNU_SOURCE', '-o', join(dir, 'layout'), join(dir, 'layout.c')], { stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(execFileSync(join(dir, 'layout')).toString()) as Record<string, number>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('every struct size, field offset and constant the codec uses matches the installed kernel headers (gcc)', () => {
  const c = compileAndRun(cProgram());
  const wrong: string[] = [];
  for (const [struct, fields] of Object.entries(Layout)) {
    for (const [field, ours] of Object.entries(fields)) {
      if (c[`${struct}.${field}`] !== ours) wrong.push(`${struct}.${field}: codec ${ours}, C ${c[`${struct}.${field}`]}`);
    }
  }
  for (const [name, ours] of Object.entries(CONSTANTS)) if (BigInt(c[name]!) !== BigInt(ours)) wrong.push(`${name}: codec ${ours}, C ${c[name]}`);
  assert.deepEqual(wrong, []);
  // The sizes the brief names, spelled out so a change to Layout itself is also caught.
  assert.deepEqual([SA.sizeof, POL.sizeof, Layout.xfrm_user_tmpl.sizeof, Layout.xfrm_usersa_id.sizeof, Layout.xfrm_userpolicy_id.sizeof], [224, 168, 64, 24, 64]);
});

// --- fixtures ---------------------------------------------------------------------------------

const key128 = Buffer.from('000102030405060708090a0b0c0d0e0f10111213', 'hex');
const key256 = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeffcafef00d', 'hex');

const fullSa: SaSpec = {
  src: '192.0.2.1', dst: '192.0.2.2', spi: 0xc0ffee01, proto: 'esp', mode: 'tunnel', reqid: 0x10203,
  aead: { name: 'rfc4106(gcm(aes))', key: key256, icvBits: 128 }, replayWindow: 128, esn: true,
  mark: { value: 0x5a000001, mask: 0xff0000ff }, ifId: 42,
  lifetime: { softSeconds: 3000, hardSeconds: 3600, softBytes: 1n << 40n, hardBytes: 1n << 41n, softPackets: 1000000n, hardPackets: 2000000n },
  selector: { src: '10.1.0.0/16', dst: '10.2.3.0/24', proto: 17, sport: 4789, dport: 6081, ifindex: 7 },
  flags: ['noecn', 'af-unspec'], extraFlags: ['dont-encap-dscp', 'oseq-may-wrap'],
};

const minimalSa: SaSpec = {
  src: '10.0.0.1', dst: '10.0.0.2', spi: 0x100, proto: 'esp', mode: 'transport', reqid: 1,
  aead: { name: 'rfc4106(gcm(aes))', key: key128, icvBits: 128 }, replayWindow: 32, esn: false,
};

const fullPolicy: PolicySpec = {
  dir: 'fwd', selector: { src: '10.1.0.0/16', dst: '10.2.0.0/16', proto: 6, dport: 443 }, priority: 1000, action: 'allow',
  mark: { value: 0x100, mask: 0xf00 }, ifId: 9, index: 0x7a,
  templates: [
    { src: '192.0.2.1', dst: '192.0.2.2', proto: 'esp', mode: 'tunnel', reqid: 7, spi: 0x1234 },
    { src: '0.0.0.0', dst: '192.0.2.9', proto: 'esp', mode: 'transport', reqid: 8 },
  ],
};

/** What the kernel adds to an SA it reports: counters, the current lifetime, replay state. */
function asKernelReports(payload: Buffer, cur: { bytes: bigint; packets: bigint; add: bigint; use: bigint }): Buffer {
  const p = Buffer.from(payload);
  const C = Layout.xfrm_lifetime_cur, S = Layout.xfrm_stats;
  p.writeUInt32LE(3, SA.stats + S.replay);
  p.writeUInt32LE(4, SA.stats + S.integrity_failed);
  p.writeUInt32LE(5, SA.stats + S.replay_window);
  const ltime = Buffer.alloc(C.sizeof);
  ltime.writeBigUInt64LE(cur.bytes, C.bytes);
  ltime.writeBigUInt64LE(cur.packets, C.packets);
  ltime.writeBigUInt64LE(cur.add, C.add_time);
  ltime.writeBigUInt64LE(cur.use, C.use_time);
  return Buffer.concat([p, attr(XfrmAttr.ltimeVal, ltime)]);
}

/** Replace one attribute's payload (first of its type) in a message body after `start`. */
function withAttr(b: Buffer, start: number, type: number, payload: Buffer): Buffer {
  const parts: Buffer[] = [b.subarray(0, start)];
  let off = start;
  while (off < b.length) {
    const len = b.readUInt16LE(off);
    const t = b.readUInt16LE(off + 2);
    parts.push(t === type ? attr(type, payload) : b.subarray(off, off + ((len + 3) & ~3)));
    off += (len + 3) & ~3;
  }
  return Buffer.concat(parts);
}

/** An SA without the kernel's running state: what was asked for. */
function specOf(s: Sa): Partial<Sa> {
  const o: Partial<Sa> = { ...s };
  for (const k of ['curlft', 'stats', 'seq', 'oseq', 'replay'] as const) delete o[k];
  return o;
}

const attrOf = (b: Buffer, start: number, type: number): Buffer => Buffer.from(parseAttrs(b, start, 't').get(type)!);

// --- round trips ------------------------------------------------------------------------------

test('an SA with every optional attribute survives encode -> decode', () => {
  const sa = decodeSa(encodeSa(fullSa));
  const { curlft, stats, seq, oseq, replay, ...spec } = sa;
  assert.deepEqual(spec, { ...fullSa, lifetime: { ...fullSa.lifetime } });
  assert.deepEqual(replay, { seq: 0, oseq: 0, seqHi: 0, oseqHi: 0, bitmapWords: 4, form: 'bitmap' });
  assert.deepEqual([seq, oseq], [0, 0]);
  assert.deepEqual(curlft, { bytes: 0n, packets: 0n, addTime: 0, useTime: 0 });
  assert.deepEqual(stats, { replayWindow: 0, replay: 0, integrityFailed: 0 });
});

test('a minimal SA round-trips with the legacy replay state and an any-to-any IPv4 selector', () => {
  const p = encodeSa(minimalSa);
  assert.equal(p[SA.replay_window], 32, 'a window of 32 fits the legacy state');
  assert.equal(p[SA.flags], 0);
  assert.equal(parseAttrs(p, SA.sizeof, 'SA').has(XfrmAttr.replayEsnVal), false);
  const sa = decodeSa(p);
  assert.deepEqual(specOf(sa), { ...minimalSa, selector: { src: '0.0.0.0/0', dst: '0.0.0.0/0' } });
  assert.equal(sa.replay.form, 'legacy');
});

test('replay windows: ESN and windows above 32 travel in XFRMA_REPLAY_ESN_VAL, with a zero legacy window', () => {
  for (const [w, esn, words] of [[64, false, 2], [4096, true, 128], [0, true, 0], [33, false, 2]] as const) {
    const p = encodeSa({ ...minimalSa, replayWindow: w, esn });
    assert.equal(p[SA.replay_window], 0, `window ${w}`);
    assert.equal(p[SA.flags], esn ? 0x80 : 0);
    const e = attrOf(p, SA.sizeof, XfrmAttr.replayEsnVal);
    assert.equal(e.readUInt32LE(Layout.xfrm_replay_state_esn.bmp_len), words);
    assert.equal(e.length, Layout.xfrm_replay_state_esn.sizeof + words * 4);
    const sa = decodeSa(p);
    assert.deepEqual([sa.replayWindow, sa.esn, sa.replay.bitmapWords], [w, esn, words]);
  }
});

test('an SA as the kernel reports it: counters, XFRMA_LTIME_VAL, ESN sequence numbers, legacy replay state', () => {
  const base = asKernelReports(encodeSa(fullSa), { bytes: 1500n, packets: 10n, add: 1_700_000_000n, use: 1_700_000_005n });
  const esn = Buffer.alloc(Layout.xfrm_replay_state_esn.sizeof + 16);
  const E = Layout.xfrm_replay_state_esn;
  esn.writeUInt32LE(4, E.bmp_len); esn.writeUInt32LE(11, E.oseq); esn.writeUInt32LE(12, E.seq);
  esn.writeUInt32LE(1, E.oseq_hi); esn.writeUInt32LE(2, E.seq_hi); esn.writeUInt32LE(128, E.replay_window);
  const sa = decodeSa(withAttr(base, SA.sizeof, XfrmAttr.replayEsnVal, esn));
  assert.deepEqual(sa.curlft, { bytes: 1500n, packets: 10n, addTime: 1_700_000_000, useTime: 1_700_000_005 });
  assert.deepEqual(sa.stats, { replayWindow: 5, replay: 3, integrityFailed: 4 });
  assert.deepEqual(sa.replay, { seq: 12, oseq: 11, seqHi: 2, oseqHi: 1, bitmapWords: 4, form: 'bitmap' });
  assert.deepEqual([sa.seq, sa.oseq], [12, 11]);

  const legacy = encodeSa(minimalSa);
  const r = Buffer.alloc(Layout.xfrm_replay_state.sizeof);
  r.writeUInt32LE(21, Layout.xfrm_replay_state.oseq); r.writeUInt32LE(22, Layout.xfrm_replay_state.seq);
  const l = decodeSa(Buffer.concat([legacy, attr(XfrmAttr.replayVal, r)]));
  assert.deepEqual(l.replay, { seq: 22, oseq: 21, seqHi: 0, oseqHi: 0, bitmapWords: 1, form: 'legacy' });
});

test('SA and policy ids round-trip, by selector and by index', () => {
  assert.deepEqual(decodeSaId(encodeSaId({ dst: '192.0.2.2', spi: 0xffffffff, proto: 'esp', mark: { value: 1, mask: 2 } })),
    { dst: '192.0.2.2', spi: 0xffffffff, proto: 'esp', mark: { value: 1, mask: 2 } });
  const bySel = { dir: 'in' as const, selector: { src: '10.0.0.0/8', dst: '10.9.0.0/16', proto: 17, sport: 53 }, mark: { value: 3, mask: 3 }, ifId: 4 };
  assert.deepEqual(decodePolicyId(encodePolicyId(bySel)), bySel);
  const byIndex = { dir: 'out' as const, index: 0x69 };
  const raw = encodePolicyId(byIndex);
  assert.equal(raw.readUInt32LE(Layout.xfrm_userpolicy_id.index), 0x69);
  assert.equal(raw[Layout.xfrm_userpolicy_id.dir], 1);
  assert.deepEqual(decodePolicyId(raw), byIndex);
});

test('a policy with two templates, mark, if_id and index survives encode -> decode', () => {
  const { curlft, ...spec } = decodePolicy(encodePolicy(fullPolicy));
  assert.deepEqual(spec, fullPolicy);
  assert.deepEqual(curlft, { bytes: 0n, packets: 0n, addTime: 0, useTime: 0 });
  const block = decodePolicy(encodePolicy({ dir: 'in', selector: { src: '0.0.0.0/0', dst: '1.2.3.4' }, priority: 0, action: 'block', templates: [] }));
  assert.deepEqual(block, {
    dir: 'in', selector: { src: '0.0.0.0/0', dst: '1.2.3.4/32' }, priority: 0, index: 0, action: 'block', templates: [],
    curlft: { bytes: 0n, packets: 0n, addTime: 0, useTime: 0 },
  });
});

test('fields land where the kernel reads them (network order SPI and ports, host order reqid, INF limits)', () => {
  const p = encodeSa(fullSa);
  assert.equal(p.readUInt32BE(SA.id + Layout.xfrm_id.spi), 0xc0ffee01);
  assert.equal(p[SA.id + Layout.xfrm_id.proto], 50);
  assert.equal(p.readUInt32LE(SA.reqid), 0x10203);
  assert.equal(p.readUInt16LE(SA.family), AF_INET);
  assert.equal(p[SA.mode], 1);
  assert.equal(p.readUInt16BE(SA.sel + Layout.xfrm_selector.dport), 6081);
  assert.equal(p.readUInt16BE(SA.sel + Layout.xfrm_selector.dport_mask), 0xffff);
  assert.deepEqual([...p.subarray(SA.saddr, SA.saddr + 4)], [192, 0, 2, 1]);
  const inf = encodeSa(minimalSa);
  assert.equal(inf.readBigUInt64LE(SA.lft + Layout.xfrm_lifetime_cfg.hard_byte_limit), 0xffffffffffffffffn);
  assert.equal(inf.readBigUInt64LE(SA.lft + Layout.xfrm_lifetime_cfg.hard_add_expires_seconds), 0n);
  const aead = attrOf(p, SA.sizeof, XfrmAttr.algAead);
  assert.equal(aead.readUInt32LE(Layout.xfrm_algo_aead.alg_key_len), 288);
  assert.equal(aead.readUInt32LE(Layout.xfrm_algo_aead.alg_icv_len), 128);
  assert.equal(aead.subarray(0, 17).toString(), 'rfc4106(gcm(aes))');
  const pol = encodePolicy(fullPolicy);
  assert.equal(pol[POL.dir], 2);
  const tmpl = attrOf(pol, POL.sizeof, XfrmAttr.tmpl);
  assert.equal(tmpl.length, 128);
  assert.equal(tmpl.readUInt32LE(Layout.xfrm_user_tmpl.ealgos), 0xffffffff);
});

test('requests the kernel would misread are refused before they are built', () => {
  const bad: Array<[string, () => Buffer]> = [
    ['dst', () => encodeSa({ ...minimalSa, dst: '10.0.0.256' })],
    ['src', () => encodeSa({ ...minimalSa, src: '2001:db8::1' })],
    ['aead.key', () => encodeSa({ ...minimalSa, aead: { ...minimalSa.aead, key: Buffer.alloc(16) } })],
    ['replayWindow', () => encodeSa({ ...minimalSa, replayWindow: MAX_REPLAY_WINDOW + 1 })],
    ['spi', () => encodeSa({ ...minimalSa, spi: 2 ** 32 })],
    ['selector.dst prefix length', () => encodeSa({ ...minimalSa, selector: { src: '0.0.0.0/0', dst: '10.0.0.0/33' } })],
    ['selector.sport', () => encodePolicy({ ...fullPolicy, selector: { ...fullPolicy.selector, sport: 70000 } })],
    ['flags', () => encodeSa({ ...minimalSa, flags: ['bogus' as 'noecn'] })],
    ['sa.mark.mask', () => encodeSa({ ...minimalSa, mark: { value: 1, mask: -1 } })],
    ['lifetime.hardBytes', () => encodeSa({ ...minimalSa, lifetime: { hardBytes: -5 } })],
    ['dir', () => encodePolicy({ ...fullPolicy, dir: 'sideways' as 'in' })],
  ];
  for (const [field, f] of bad) assert.throws(f, (e: unknown) => e instanceof XfrmSpecError && e.field === field, field);
});

// --- replies that lie -------------------------------------------------------------------------------

const decodeError = (fault?: string) => (e: unknown): boolean => e instanceof XfrmDecodeError && (fault === undefined || e.fault === fault);

test('every truncation of an SA, a policy and a datagram fails with XfrmDecodeError or decodes, never reads past the end', () => {
  const sa = asKernelReports(encodeSa(fullSa), { bytes: 1n, packets: 1n, add: 1n, use: 1n });
  const pol = encodePolicy(fullPolicy);
  const datagram = Buffer.concat([
    encodeNlmsg({ type: XfrmMsg.newSa, flags: NlFlag.multi, seq: 1, pid: 2 }, sa),
    encodeNlmsg({ type: NlType.done, flags: NlFlag.multi, seq: 1, pid: 2 }, Buffer.alloc(4)),
  ]);
  const cases: Array<[string, Buffer, (b: Buffer) => unknown, number]> = [
    ['SA', sa, decodeSa, SA.sizeof], ['policy', pol, decodePolicy, POL.sizeof], ['datagram', datagram, parseMessages, 0],
  ];
  for (const [name, whole, decode, fixed] of cases) {
    for (let cut = 0; cut < whole.length; cut++) {
      const part = Buffer.from(whole.subarray(0, cut)); // a copy: no bytes beyond `cut` to read by mistake
      try {
        decode(part);
      } catch (e) {
        assert.ok(e instanceof XfrmDecodeError, `${name} cut at ${cut}: ${String(e)}`);
        continue;
      }
      assert.ok(cut >= fixed, `${name} cut at ${cut} inside the fixed struct decoded`);
    }
  }
});

test('lying lengths inside a reply are refused with a typed error', () => {
  const sa = encodeSa(fullSa);
  const aead = attrOf(sa, SA.sizeof, XfrmAttr.algAead);
  const longKey = Buffer.from(aead); longKey.writeUInt32LE(512, Layout.xfrm_algo_aead.alg_key_len);
  assert.throws(() => decodeSa(withAttr(sa, SA.sizeof, XfrmAttr.algAead, longKey)), decodeError('truncated'), 'alg_key_len beyond the attribute');
  const oddKey = Buffer.from(aead); oddKey.writeUInt32LE(161, Layout.xfrm_algo_aead.alg_key_len);
  assert.throws(() => decodeSa(withAttr(sa, SA.sizeof, XfrmAttr.algAead, oddKey)), decodeError('malformed'), 'alg_key_len not whole bytes');
  const esn = attrOf(sa, SA.sizeof, XfrmAttr.replayEsnVal); esn.writeUInt32LE(100, Layout.xfrm_replay_state_esn.bmp_len);
  assert.throws(() => decodeSa(withAttr(sa, SA.sizeof, XfrmAttr.replayEsnVal, esn)), decodeError('truncated'), 'bmp_len beyond the attribute');
  assert.throws(() => decodeSa(withAttr(sa, SA.sizeof, XfrmAttr.mark, Buffer.alloc(4))), decodeError('truncated'), 'short XFRMA_MARK');
  assert.throws(() => decodeSa(Buffer.concat([encodeSa(minimalSa), attr(XfrmAttr.replayVal, Buffer.alloc(8))])), decodeError('truncated'), 'short XFRMA_REPLAY_VAL');
  assert.throws(() => decodeSa(Buffer.concat([encodeSa(minimalSa), attr(XfrmAttr.ltimeVal, Buffer.alloc(31))])), decodeError('truncated'), 'short XFRMA_LTIME_VAL');
  const pol = encodePolicy(fullPolicy);
  assert.throws(() => decodePolicy(withAttr(pol, POL.sizeof, XfrmAttr.tmpl, Buffer.alloc(65))), decodeError('truncated'), 'XFRMA_TMPL not whole templates');

  const nlaTooLong = Buffer.from(sa); nlaTooLong.writeUInt16LE(0xfff0, SA.sizeof);
  assert.throws(() => decodeSa(nlaTooLong), decodeError('truncated'), 'nla_len past the end');
  const nlaTooShort = Buffer.from(sa); nlaTooShort.writeUInt16LE(2, SA.sizeof);
  assert.throws(() => decodeSa(nlaTooShort), decodeError('malformed'), 'nla_len shorter than its header');

  const msg = encodeNlmsg({ type: XfrmMsg.newSa, flags: 0, seq: 1, pid: 0 }, sa);
  const long = Buffer.from(msg); long.writeUInt32LE(msg.length + 4, HDR.nlmsg_len);
  assert.throws(() => parseMessages(long), decodeError('truncated'), 'nlmsg_len past the datagram');
  const short = Buffer.from(msg); short.writeUInt32LE(8, HDR.nlmsg_len);
  assert.throws(() => parseMessages(short), decodeError('malformed'), 'nlmsg_len shorter than the header');
});

test('objects esfc does not model are reported as unsupported, not mis-decoded', () => {
  const v6 = encodeSa(minimalSa); v6.writeUInt16LE(10, SA.family);
  assert.throws(() => decodeSa(v6), decodeError('unsupported'));
  const ah = encodeSa(minimalSa); ah[SA.id + Layout.xfrm_id.proto] = 51;
  assert.throws(() => decodeSa(ah), decodeError('unsupported'));
  const beet = encodeSa(minimalSa); beet[SA.mode] = 4;
  assert.throws(() => decodeSa(beet), decodeError('unsupported'));
  const socketPolicy = encodePolicy(fullPolicy); socketPolicy[POL.dir] = 3;
  assert.throws(() => decodePolicy(socketPolicy), decodeError('unsupported'));
  const noAead = encodeSa(minimalSa).subarray(0, SA.sizeof);
  assert.throws(() => decodeSa(noAead), decodeError('unsupported'));
});

/** A small deterministic PRNG, so a failure can be replayed. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('randomly corrupted replies decode or fail with XfrmDecodeError, nothing else (5000 cases)', () => {
  const rnd = mulberry32(0x5eed);
  const sa = asKernelReports(encodeSa(fullSa), { bytes: 1n, packets: 1n, add: 1n, use: 1n });
  const samples: Array<[Buffer, (b: Buffer) => unknown]> = [
    [encodeNlmsg({ type: XfrmMsg.newSa, flags: NlFlag.multi, seq: 9, pid: 0 }, sa), (b) => parseMessages(b).map((m) => decodeSa(m.payload))],
    [encodeNlmsg({ type: XfrmMsg.newPolicy, flags: NlFlag.multi, seq: 9, pid: 0 }, encodePolicy(fullPolicy)), (b) => parseMessages(b).map((m) => decodePolicy(m.payload))],
    [errorMessage(-22, 'bad thing', 236), (b) => new ReplyCollector(9, undefined, false).feed(b)],
  ];
  for (let i = 0; i < 5000; i++) {
    const [whole, decode] = samples[i % samples.length]!;
    const b = Buffer.from(whole);
    const flips = 1 + Math.floor(rnd() * 4);
    for (let f = 0; f < flips; f++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    try {
      decode(b);
    } catch (e) {
      assert.ok(e instanceof XfrmDecodeError, `case ${i}: ${String(e)}`);
    }
  }
});

// --- errors and replies ------------------------------------------------------------------------------

/** NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK and NETLINK_EXT_ACK. */
function errorMessage(errno: number, text: string, offset: number, capped = true, seq = 9): Buffer {
  const request = encodeNlmsg({ type: XfrmMsg.newSa, flags: NlFlag.request | NlFlag.ack, seq, pid: 0 }, encodeSa(minimalSa));
  const code = Buffer.alloc(4); code.writeInt32LE(errno);
  const offs = Buffer.alloc(4); offs.writeUInt32LE(offset);
  const echoed = capped ? request.subarray(0, HDR.sizeof) : request;
  const body = Buffer.concat([code, echoed, attr(NlmsgerrAttr.msg, Buffer.from(`${text}\0`)), attr(NlmsgerrAttr.offs, offs)]);
  return encodeNlmsg({ type: NlType.error, flags: NlFlag.ackTlvs | (capped ? NlFlag.capped : 0), seq, pid: 0 }, body);
}

test('an NLMSG_ERROR with extended ack decodes into errno, text and offset, capped or not', () => {
  for (const capped of [true, false]) {
    const [m] = parseMessages(errorMessage(-38, 'Requested AEAD algorithm not found', 244, capped));
    assert.deepEqual(parseError(m!), { errno: 38, message: 'Requested AEAD algorithm not found', offset: 244 });
  }
  const plainAck = encodeNlmsg({ type: NlType.error, flags: NlFlag.capped, seq: 1, pid: 0 }, Buffer.alloc(20));
  assert.deepEqual(parseError(parseMessages(plainAck)[0]!), { errno: 0 });
  const lying = errorMessage(-22, 'x', 0, false);
  lying.writeUInt32LE(4000, HDR.sizeof + 4); // the echoed request's nlmsg_len
  assert.throws(() => parseError(parseMessages(lying)[0]!), decodeError('truncated'));
  const stub = encodeNlmsg({ type: NlType.error, flags: 0, seq: 1, pid: 0 }, Buffer.alloc(8));
  assert.throws(() => parseError(parseMessages(stub)[0]!), decodeError('truncated'));
});

test('XfrmError names the operation, errno name, strerror text and the kernel\'s words', () => {
  const e = new XfrmError('add SA 10.0.0.1->10.0.0.2 spi 0x100', 22, { message: 'Invalid key length' });
  assert.equal(e.message, 'XFRM add SA 10.0.0.1->10.0.0.2 spi 0x100: EINVAL (Invalid argument): Invalid key length');
  assert.deepEqual([e.errno, e.errnoName, e.description, e.kernelMessage], [22, 'EINVAL', 'Invalid argument', 'Invalid key length']);
  const r = new ReplyCollector(9, 0, false).feed(errorMessage(-38, 'Requested AEAD algorithm not found', 244));
  const k = new XfrmError('add SA x', r!.error!.errno, r!.error!);
  assert.equal(k.message, 'XFRM add SA x: ENOSYS (Function not implemented): Requested AEAD algorithm not found; at byte 244 of the request');
});

test('replies: a dump gathers parts until NLMSG_DONE, skipping other requests\' messages; a GET ends with its ACK', () => {
  const part = (seq: number, pid: number, type: number = XfrmMsg.newPolicy, flags: number = NlFlag.multi) =>
    encodeNlmsg({ type, flags, seq, pid }, encodePolicy(fullPolicy));
  const done = (seq: number, errno = 0) => { const b = Buffer.alloc(4); b.writeInt32LE(-errno); return encodeNlmsg({ type: NlType.done, flags: NlFlag.multi, seq, pid: 77 }, b); };
  const dump = new ReplyCollector(5, 77, true);
  assert.equal(dump.feed(Buffer.concat([part(4, 77), part(5, 77), part(5, 78)])), undefined, 'an old seq and another port are skipped');
  const r = dump.feed(Buffer.concat([part(5, 77), done(5)]))!;
  assert.equal(r.messages.length, 2);
  assert.equal(r.error, undefined);
  assert.equal(r.interrupted, false);
  assert.deepEqual(decodePolicy(r.messages[0]!.payload).templates, fullPolicy.templates);

  const failing = new ReplyCollector(6, 77, true).feed(done(6, 105))!;
  assert.equal(failing.error!.errno, 105);
  const intr = new ReplyCollector(7, 77, true).feed(Buffer.concat([part(7, 77, XfrmMsg.newPolicy, NlFlag.multi | NlFlag.dumpIntr), done(7)]))!;
  assert.equal(intr.interrupted, true);

  const ack = encodeNlmsg({ type: NlType.error, flags: NlFlag.capped, seq: 8, pid: 77 }, Buffer.alloc(20));
  const get = new ReplyCollector(8, 77, false);
  assert.equal(get.feed(part(8, 77, XfrmMsg.newPolicy, 0)), undefined, 'the answer alone does not end a request: its ACK does');
  assert.equal(get.feed(ack)!.messages.length, 1);
});
