/**
 * The NSH oracle (test/lib/nsh-oracle.ts) is right before anything relies on
 * it: it reads docs/protocol.md's example frames as the document states, it
 * agrees with tshark (an independent dissector) field by field, it finds each
 * violation on a deliberately broken frame, it reports unassigned bits, and
 * its forwarding rules are RFC 8300's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkForwarding, decodeFrame, expectedAfter, type DecodeResult, type DecodedFrame, type Hop } from '../lib/nsh-oracle.js';
import { csum16, eth, gpe, ipv4, nsh, tcp, udp, type NshOpts } from '../../scenario/frames.js';
import { writePcap } from '../../scenario/pcap.js';
import { docExamples } from '../lib/protocol-examples.js';


function ok(r: DecodeResult, what = ''): DecodedFrame {
  if (!r.ok) assert.fail(`${what} not well formed: ${r.problems.join('; ')}`);
  return r;
}

// ---- frames for the tests, from the test-side builders (test/lib/frames.ts) ----

const MAC = { nodeA: '02:00:0a:fa:00:01', nodeB: '02:00:0a:fa:00:02', sf: '02:00:00:00:1a:02', sfPort: '02:00:00:00:1a:01' };
const INNER = ipv4({ src: '172.16.1.1', dst: '172.16.2.1', proto: 6, ttl: 64 }, tcp('172.16.1.1', '172.16.2.1', 40000, 25, Buffer.from('esfc-marker-7f3a')));
const ESP = ipv4({ src: '192.168.100.1', dst: '192.168.100.2', proto: 50 }, Buffer.concat([Buffer.from('0000100000000001', 'hex'), Buffer.alloc(32, 0x5a)]));
const CTX = Buffer.from('000000010000000200000003000000ff', 'hex');
const MD3 = { espi: 0x100, esi: 200, e: true, epoch: 7 };
const TLVS = [{ cls: 0x0101, type: 1, value: Buffer.from('abcdef') }, { cls: 0x0102, type: 2, value: Buffer.from('wxyz') }];

function ipv6(nextHeader: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payload.length, 4);
  h[6] = nextHeader;
  h[7] = 64;
  h[23] = 1; // 2001:db8::1 -> 2001:db8::2
  h.writeUInt32BE(0x20010db8, 8);
  h.writeUInt32BE(0x20010db8, 24);
  h[39] = 2;
  return Buffer.concat([h, payload]);
}
const INNER6 = ipv6(59, Buffer.from('no-next-hdr!')); // No Next Header, 12 bytes after it
const INNER_ETH = Buffer.concat([eth('02:00:00:00:00:02', '02:00:00:00:00:01', 0x0800), INNER]);

const nshOf = (o: Partial<NshOpts>): Buffer => nsh({ spi: 42, si: 254, ttl: 61, context: CTX, ...o });
const local = (n: Buffer, inner: Buffer = INNER): Buffer => Buffer.concat([eth(MAC.sf, MAC.sfPort, 0x894f), n, inner]);
function underlay(n: Buffer, inner: Buffer = INNER, gpeHeader: Buffer = gpe(), udpCsum = false): Buffer {
  const src = '10.250.0.1';
  const dst = '10.250.0.2';
  const u = udp(55250, 4790, Buffer.concat([gpeHeader, n, inner]), udpCsum ? { src, dst } : undefined);
  return Buffer.concat([eth(MAC.nodeB, MAC.nodeA, 0x0800), ipv4({ src, dst, proto: 17, ttl: 64, df: true }, u)]);
}

// Offsets in an underlay frame with IHL 5 and in a local frame.
const UL = { ip: 14, udp: 34, gpe: 42, nsh: 50 };
const LO = { nsh: 14 };

/** A copy of `f` with `edit` applied; `ipAt` lists IPv4 headers whose checksum is recomputed afterwards. */
function edited(f: Buffer, edit: (b: Buffer) => void, ipAt: number[] = []): Buffer {
  const b = Buffer.from(f);
  edit(b);
  for (const o of ipAt) {
    b.writeUInt16BE(0, o + 10);
    b.writeUInt16BE(csum16(b.subarray(o, o + (b[o]! & 0xf) * 4)), o + 10);
  }
  return b;
}

// ---- (a) the document's examples ----

test('every example frame in docs/protocol.md decodes as the document states', () => {
  const doc = docExamples();
  const expectedNames = ['inner-tcp', 'local-md1', 'underlay-md1', 'local-md2', 'underlay-md3', 'bad-md-type-0', 'bad-version-1', 'ttl-1', 'bad-length', 'truncated-gpe'];
  assert.deepEqual([...doc.keys()].sort(), expectedNames.sort(), 'a new example in docs/protocol.md needs its expectations here');
  const d = (name: string): DecodeResult => decodeFrame(doc.get(name)!);
  const innerTcp = doc.get('inner-tcp')!.subarray(14);

  const plain = ok(d('inner-tcp'), 'inner-tcp');
  assert.equal(plain.kind, 'plain-ipv4');
  assert.deepEqual(plain.eth, { dst: '02:00:00:00:0a:01', src: '02:00:00:00:0c:01', type: 0x0800 });
  assert.equal(plain.nsh, undefined);
  assert.equal(plain.inner.offset, 14);
  assert.equal(plain.inner.bytes.subarray(40).toString(), 'esfc-marker-7f3a');
  assert.deepEqual([plain.inner.bytes.readUInt16BE(2), plain.inner.bytes[9]], [56, 6]);

  const l1 = ok(d('local-md1'), 'local-md1');
  assert.equal(l1.kind, 'local-nsh');
  assert.deepEqual(l1.eth, { dst: MAC.sf, src: MAC.sfPort, type: 0x894f });
  assert.equal(l1.outer, undefined);
  const { metadata: m1, ...n1 } = l1.nsh!;
  assert.deepEqual(n1, { version: 0, oam: false, uBit1: 0, ttl: 62, lengthWords: 6, uBits4: 0, mdType: 1, nextProto: 1, spi: 42, si: 255, context: CTX });
  assert.deepEqual(m1, CTX);
  assert.deepEqual(l1.inner, { offset: 38, bytes: innerTcp });
  assert.deepEqual(l1.unassigned, []);

  const u1 = ok(d('underlay-md1'), 'underlay-md1');
  assert.equal(u1.kind, 'underlay');
  assert.deepEqual(u1.eth, { dst: MAC.nodeB, src: MAC.nodeA, type: 0x0800 });
  assert.deepEqual(u1.outer, {
    ipv4: { version: 4, ihl: 5, dscp: 0, ecn: 0, totalLength: 116, id: 0, df: true, mf: false, fragmentOffset: 0, ttl: 64, protocol: 17, checksum: 0x2483, src: '10.250.0.1', dst: '10.250.0.2' },
    udp: { srcPort: 55250, dstPort: 4790, length: 96, checksum: 0 },
    gpe: { reservedBits: 0, version: 0, i: true, p: true, b: false, o: false, reserved16: 0, nextProto: 4, vni: 0, reserved8: 0 },
  });
  const { metadata: mu1, ...nu1 } = u1.nsh!;
  assert.deepEqual(nu1, { version: 0, oam: false, uBit1: 0, ttl: 61, lengthWords: 6, uBits4: 0, mdType: 1, nextProto: 1, spi: 42, si: 254, context: CTX });
  assert.deepEqual(mu1, CTX);
  assert.deepEqual(u1.inner, { offset: 74, bytes: innerTcp });

  const l2 = ok(d('local-md2'), 'local-md2');
  assert.deepEqual([l2.nsh!.mdType, l2.nsh!.lengthWords, l2.nsh!.spi, l2.nsh!.si, l2.nsh!.ttl], [2, 7, 42, 255, 62]);
  assert.deepEqual(l2.nsh!.tlvs, [
    { cls: 0x0101, type: 1, uBit: 0, len: 6, value: Buffer.from('abcdef') },
    { cls: 0x0102, type: 2, uBit: 0, len: 4, value: Buffer.from('wxyz') },
  ]);
  assert.equal(l2.nsh!.context, undefined);
  assert.deepEqual(l2.inner, { offset: 42, bytes: innerTcp });

  const u3 = ok(d('underlay-md3'), 'underlay-md3');
  assert.deepEqual([u3.nsh!.mdType, u3.nsh!.lengthWords, u3.nsh!.nextProto, u3.nsh!.spi, u3.nsh!.si], [3, 4, 1, 42, 254]);
  assert.deepEqual(u3.nsh!.md3, { espi: 0x000100, esi: 200, e: true, reserved: 0, epoch: 7 });
  assert.equal(u3.inner.offset, 66);
  assert.deepEqual([u3.inner.bytes[9], u3.inner.bytes.readUInt32BE(20), u3.inner.bytes.readUInt32BE(24), u3.inner.bytes.length - 28], [50, 0x1000, 1, 32]);
  assert.equal(decodeFrame(doc.get('underlay-md3')!, { md3Type: 15 }).ok, false, 'with md3Type 15, MD type 3 is unknown');

  // TTL 1 is a well-formed frame; dropping it is the SFF's rule.
  const t1 = ok(d('ttl-1'), 'ttl-1');
  assert.equal(t1.nsh!.ttl, 1);
  assert.deepEqual(expectedAfter(t1.nsh!, ['sff']).forward, false);

  const bad = (name: string, re: RegExp): void => {
    const r = d(name);
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.ok(r.problems.some((p) => re.test(p)), `${name}: ${r.problems.join('; ')}`);
  };
  bad('bad-md-type-0', /MD type 0 is reserved/);
  bad('bad-version-1', /^NSH version 1/);
  bad('bad-length', /NSH Length 40 words .* beyond the frame/);
  bad('truncated-gpe', /VXLAN-GPE header beyond the frame \(3 bytes/);
});

test('the document\'s local-md1 -> underlay-md1 step is one SF and one SFF as RFC 8300 says', () => {
  const doc = docExamples();
  const from = decodeFrame(doc.get('local-md1')!);
  const to = decodeFrame(doc.get('underlay-md1')!);
  assert.deepEqual(checkForwarding(from, to, ['sf', 'sff']), []);
  assert.equal(checkForwarding(from, to, ['sff']).length > 0, true, 'without the SF the SI must not change');
});

// ---- (b) tshark agrees ----

let tshark = true;
try { execFileSync('tshark', ['--version'], { stdio: 'ignore' }); } catch { tshark = false; }

type Layers = Record<string, string[] | undefined>;

function dissect(frames: Buffer[]): Layers[] {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-oracle-'));
  try {
    const file = join(dir, 'frames.pcap');
    writePcap(file, frames);
    const fields = ['nsh.version', 'nsh.Obit', 'nsh.CBit', 'nsh.ttl', 'nsh.length', 'nsh.mdtype', 'nsh.nextproto', 'nsh.spi', 'nsh.si', 'nsh.contextheader',
      'nsh.metadataclass', 'nsh.metadatatype', 'nsh.metadataunassignedbit', 'nsh.metadatalen', 'nsh.metadata',
      'vxlan.flags', 'vxlan.ver', 'vxlan.p_bit', 'vxlan.i_bit', 'vxlan.next_proto', 'vxlan.vni',
      'ip.len', 'ip.src', 'ip.dst', 'ip.checksum.status', 'udp.length', 'udp.srcport', 'udp.checksum.status', 'ipv6.plen', '_ws.expert'];
    const out = execFileSync('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'json', ...fields.flatMap((f) => ['-e', f])],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
    return (JSON.parse(out) as { _source: { layers: Layers } }[]).map((p) => p._source.layers);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('tshark dissects the document\'s examples and more frames as the oracle decodes them', { skip: tshark ? false : 'tshark is not installed (scripts/setup.sh installs it)' }, () => {
  const frames: { name: string; bytes: Buffer }[] = [...docExamples()].map(([name, bytes]) => ({ name, bytes }));
  const withUBits = edited(local(nshOf({ spi: 7, si: 9, ttl: 33 })), (b) => {
    b[LO.nsh] |= 0x10; // U after O
    b[LO.nsh + 2] |= 0xa0; // U bits before MD type
  });
  const withTlvUBit = edited(local(nsh({ spi: 7, si: 9, ttl: 33, mdType: 2, tlvs: TLVS })), (b) => { b[LO.nsh + 11] |= 0x80; }); // the first TLV's U bit
  frames.push(
    { name: 'u-bits', bytes: withUBits },
    { name: 'tlv-u-bit', bytes: withTlvUBit },
    { name: 'oam', bytes: local(nshOf({ oam: true, ttl: 5 })) },
    { name: 'underlay-ipv6', bytes: underlay(nshOf({ nextProto: 2, spi: 0xabcdef, si: 3 }), INNER6) },
    { name: 'underlay-ethernet', bytes: underlay(nshOf({ nextProto: 3 }), INNER_ETH) },
    { name: 'udp-checksum', bytes: underlay(nshOf({}), INNER, gpe(), true) },
    { name: 'local-md2-empty', bytes: local(nsh({ spi: 1, si: 1, mdType: 2 })) },
    { name: 'bad-outer-csum', bytes: edited(underlay(nshOf({})), (b) => { b[UL.ip + 10] ^= 0xff; }) },
    { name: 'bad-inner-csum', bytes: edited(local(nshOf({})), (b) => { b[38 + 10] ^= 0xff; }) },
    { name: 'bad-udp-csum', bytes: edited(underlay(nshOf({}), INNER, gpe(), true), (b) => { b[UL.udp + 6] ^= 0x01; }) },
  );
  const layers = dissect(frames.map((f) => f.bytes));
  assert.equal(layers.length, frames.length);
  const num = (l: Layers, k: string, i = 0): number | undefined => (l[k]?.[i] === undefined ? undefined : Number(l[k]![i]));
  let compared = 0;
  frames.forEach(({ name, bytes }, idx) => {
    const l = layers[idx]!;
    const r = decodeFrame(bytes);
    const malformed = (l['_ws.expert'] ?? []).some((e) => /Malformed/.test(e));
    if (malformed) assert.equal(r.ok, false, `${name}: tshark finds it malformed, the oracle must too`);
    // Checksums: the oracle names a wrong checksum exactly when tshark finds one.
    const tsharkBad = [...(l['ip.checksum.status'] ?? []), ...(l['udp.checksum.status'] ?? [])].some((s) => s === '0');
    const oracleBad = !r.ok && r.problems.some((p) => /checksum .* wrong/.test(p));
    assert.equal(oracleBad, tsharkBad, `${name}: checksum verdicts differ: ${r.ok ? 'ok' : r.problems.join('; ')}`);
    if (!r.ok) return;
    if (r.outer) {
      assert.deepEqual([num(l, 'ip.len'), l['ip.src']?.[0], l['ip.dst']?.[0], num(l, 'udp.length'), num(l, 'udp.srcport')],
        [r.outer.ipv4.totalLength, r.outer.ipv4.src, r.outer.ipv4.dst, r.outer.udp.length, r.outer.udp.srcPort], `${name}: outer`);
      const flags = num(l, 'vxlan.flags')!;
      assert.deepEqual([flags & 0xff, num(l, 'vxlan.ver'), num(l, 'vxlan.p_bit'), num(l, 'vxlan.i_bit'), num(l, 'vxlan.next_proto'), num(l, 'vxlan.vni')],
        [bytes[UL.gpe], r.outer.gpe.version, Number(r.outer.gpe.p), Number(r.outer.gpe.i), r.outer.gpe.nextProto, r.outer.gpe.vni], `${name}: VXLAN-GPE`);
    }
    if (r.kind === 'plain-ipv4') assert.equal(num(l, 'ip.len'), r.inner.bytes.readUInt16BE(2), `${name}: IPv4 total length`);
    if (!r.nsh) return;
    const n = r.nsh;
    // tshark 4.0 names the U bit after O "C bit" and reads MD Type as the whole byte (both from pre-RFC drafts):
    // its low nibble is RFC 8300's MD Type, its high nibble the 4 unassigned bits.
    const md = num(l, 'nsh.mdtype')!;
    assert.deepEqual(
      { spi: num(l, 'nsh.spi'), si: num(l, 'nsh.si'), ttl: num(l, 'nsh.ttl'), mdType: md & 0xf, uBits4: md >> 4, nextProto: num(l, 'nsh.nextproto'), lengthWords: num(l, 'nsh.length'), version: num(l, 'nsh.version'), oam: num(l, 'nsh.Obit') !== 0, uBit1: num(l, 'nsh.CBit') !== 0 ? 1 : 0 },
      { spi: n.spi, si: n.si, ttl: n.ttl, mdType: n.mdType, uBits4: n.uBits4, nextProto: n.nextProto, lengthWords: n.lengthWords, version: n.version, oam: n.oam, uBit1: n.uBit1 },
      `${name}: NSH`);
    if (name === 'u-bits') assert.deepEqual([n.uBit1, n.uBits4], [1, 0xa]);
    if (name === 'tlv-u-bit') assert.deepEqual(n.tlvs!.map((t) => t.uBit), [1, 0]);
    // (and with those U bits set it knows no such MD type, so it shows no context or TLVs)
    if (n.context && md === n.mdType) assert.equal((l['nsh.contextheader'] ?? []).join(''), n.context.toString('hex'), `${name}: MD1 context`);
    if (n.tlvs && md === n.mdType) {
      const t = (k: string): number[] => (l[k] ?? []).map(Number);
      assert.deepEqual(
        { cls: t('nsh.metadataclass'), type: t('nsh.metadatatype'), len: t('nsh.metadatalen'), u: t('nsh.metadataunassignedbit').map((x) => (x ? 1 : 0)), value: l['nsh.metadata'] ?? [] },
        { cls: n.tlvs.map((x) => x.cls), type: n.tlvs.map((x) => x.type), len: n.tlvs.map((x) => x.len), u: n.tlvs.map((x) => x.uBit), value: n.tlvs.filter((x) => x.len > 0).map((x) => x.value.toString('hex')) },
        `${name}: MD2 TLVs`);
    }
    if (n.nextProto === 1) assert.equal(num(l, 'ip.len', r.outer ? 1 : 0), r.inner.bytes.readUInt16BE(2), `${name}: inner IPv4 total length`);
    if (n.nextProto === 2) assert.equal(num(l, 'ipv6.plen'), r.inner.bytes.readUInt16BE(4), `${name}: inner IPv6 payload length`);
    compared++;
  });
  assert.ok(compared >= 10, `only ${compared} NSH frames compared`);
});

// ---- (c) every violation is found ----

test('each violation is found on a deliberately broken frame, and named', () => {
  const base = underlay(nshOf({}));
  const baseLocal = local(nshOf({}));
  ok(decodeFrame(base), 'the unbroken underlay frame');
  ok(decodeFrame(baseLocal), 'the unbroken local frame');
  const ihl6 = (() => {
    // the same frame with a 24-byte outer IPv4 header (four NOP options), every length and checksum right
    const b = Buffer.concat([base.subarray(0, UL.udp), Buffer.from([1, 1, 1, 1]), base.subarray(UL.udp)]);
    b[UL.ip] = 0x46;
    b.writeUInt16BE(b.length - 14, UL.ip + 2);
    return edited(b, () => undefined, [UL.ip]);
  })();
  const md3 = (o: Partial<NshOpts> = {}): Buffer => nsh({ spi: 42, si: 254, ttl: 61, mdType: 3, md3: MD3, ...o });
  const tlvOverrun = edited(local(nsh({ spi: 42, si: 255, mdType: 2, tlvs: [{ cls: 1, type: 1, value: Buffer.from('abcd') }] })), (b) => { b[LO.nsh + 11] = 8; });
  const cases: { name: string; frame: Buffer; re: RegExp; only?: boolean; opts?: { md3Type: number } }[] = [
    { name: 'short Ethernet', frame: base.subarray(0, 10), re: /^Ethernet header beyond the frame/, only: true },
    { name: 'outer IPv4 checksum', frame: edited(base, (b) => { b[UL.ip + 10] ^= 0x10; }), re: /^outer IPv4 header checksum 0x.... wrong \(0x2483 expected\)/, only: true },
    { name: 'outer IHL 6', frame: ihl6, re: /^outer IPv4 IHL 6 \(esfc writes 5\)/, only: true },
    { name: 'outer total length below the frame', frame: Buffer.concat([base, Buffer.alloc(4)]), re: /^outer IPv4 total length 116 is not the 120 bytes/, only: true },
    { name: 'outer total length beyond the frame', frame: base.subarray(0, base.length - 2), re: /^outer IPv4 total length 116 is not the 114 bytes/ },
    { name: 'outer IPv4 fragment', frame: edited(base, (b) => { b.writeUInt16BE(0x2000, UL.ip + 6); }, [UL.ip]), re: /^outer IPv4 is a fragment/, only: true },
    { name: 'UDP length', frame: edited(base, (b) => { b.writeUInt16BE(b.readUInt16BE(UL.udp + 4) + 1, UL.udp + 4); }), re: /^UDP length 97 is not the IPv4 payload length 96/, only: true },
    { name: 'UDP checksum', frame: edited(underlay(nshOf({}), INNER, gpe(), true), (b) => { b[UL.udp + 7] ^= 0x01; }), re: /^UDP checksum 0x.... wrong/, only: true },
    { name: 'UDP header cut', frame: edited(base.subarray(0, UL.udp + 4), (b) => { b.writeUInt16BE(24, UL.ip + 2); }, [UL.ip]), re: /^UDP header beyond the frame/ },
    { name: 'GPE P bit', frame: underlay(nshOf({}), INNER, gpe(4, 0x08)), re: /^VXLAN-GPE P bit not set/, only: true },
    { name: 'GPE version', frame: underlay(nshOf({}), INNER, gpe(4, 0x1c)), re: /^VXLAN-GPE version 1 \(must be 0\)/, only: true },
    { name: 'GPE next protocol', frame: underlay(nshOf({}), INNER, gpe(3)), re: /^VXLAN-GPE next protocol 0x03 is not NSH/, only: true },
    { name: 'NSH version', frame: underlay(nshOf({ version: 2 })), re: /^NSH version 2 \(must be 0\)/, only: true },
    { name: 'NSH base header cut', frame: baseLocal.subarray(0, LO.nsh + 5), re: /^NSH base and service path headers beyond the frame \(5 bytes left/, only: true },
    { name: 'MD1 context cut', frame: baseLocal.subarray(0, LO.nsh + 12), re: /^NSH Length 6 words \(24 bytes\) runs beyond the frame \(12 bytes left\)/, only: true },
    { name: 'MD1 Length 7', frame: local(nshOf({ context: Buffer.concat([CTX, Buffer.alloc(4)]), lengthWords: 7 })), re: /^NSH Length 7 inconsistent with MD type 1 \(must be 6\)/, only: true },
    { name: 'MD3 Length 5', frame: local(Buffer.concat([md3({ lengthWords: 5 }), Buffer.alloc(4)]), ESP), re: /^NSH Length 5 inconsistent with MD type 3 \(esfc MD3, must be 4\)/, only: true },
    { name: 'MD2 Length 1', frame: local(nsh({ spi: 1, si: 1, mdType: 2, lengthWords: 1 })), re: /^NSH Length 1 below 2/ },
    { name: 'MD2 TLVs overrun the Length', frame: tlvOverrun, re: /^MD2 TLV at NSH byte 8 \(class 0x0001, type 1, length 8\) runs past the NSH Length \(4 words\)/, only: true },
    { name: 'MD type 0', frame: local(nsh({ spi: 1, si: 1, mdType: 0, lengthWords: 2 })), re: /^NSH MD type 0 is reserved/, only: true },
    { name: 'MD type 5', frame: local(nsh({ spi: 1, si: 1, mdType: 5, lengthWords: 2 })), re: /^NSH MD type 0x5 unknown/, only: true },
    { name: 'MD type 0xF by default', frame: local(md3({ mdType: 15 }), ESP), re: /^NSH MD type 0xf unknown \(experimental\)/, only: true },
    { name: 'MD type 3 when MD3 is 0xF', frame: local(md3(), ESP), re: /^NSH MD type 0x3 unknown/, only: true, opts: { md3Type: 15 } },
    { name: 'next protocol MPLS', frame: local(nshOf({ nextProto: 5 })), re: /^NSH next protocol 0x05 \(MPLS\) not supported by esfc/, only: true },
    { name: 'next protocol NSH', frame: local(nshOf({ nextProto: 4 })), re: /^NSH next protocol 0x04 \(NSH\) not supported/, only: true },
    { name: 'next protocol experiment', frame: local(nshOf({ nextProto: 0xfe })), re: /^NSH next protocol 0xfe \(Experiment 1\) not supported/, only: true },
    { name: 'next protocol unassigned', frame: local(nshOf({ nextProto: 0x42 })), re: /^NSH next protocol 0x42 unassigned/, only: true },
    { name: 'IPv4 said, IPv6 inside', frame: local(nshOf({ nextProto: 1 }), INNER6), re: /^inner IPv4 version 6, not 4/ },
    { name: 'inner IPv4 checksum', frame: edited(baseLocal, (b) => { b[38 + 11] ^= 0x01; }), re: /^inner IPv4 header checksum 0x.... wrong \(0xdf9d expected\)/, only: true },
    { name: 'inner IPv4 total length beyond', frame: baseLocal.subarray(0, baseLocal.length - 1), re: /^inner IPv4 total length 56 exceeds the 55 bytes there/, only: true },
    { name: 'inner IPv4 cut', frame: baseLocal.subarray(0, 38 + 12), re: /^inner IPv4 header beyond the frame \(12 bytes left/, only: true },
    { name: 'IPv6 said, IPv4 inside', frame: local(nshOf({ nextProto: 2 }), Buffer.concat([INNER, Buffer.alloc(4)])), re: /^inner IPv6 version 4, not 6/, only: true },
    { name: 'inner IPv6 payload beyond', frame: local(nshOf({ nextProto: 2 }), INNER6.subarray(0, INNER6.length - 1)), re: /^inner IPv6 payload length 12 exceeds the 11 bytes/, only: true },
    { name: 'Ethernet said, 10 bytes inside', frame: local(nshOf({ nextProto: 3 }), Buffer.alloc(10)), re: /^inner Ethernet frame of 10 bytes/, only: true },
    { name: 'MD3 E=0 on the underlay', frame: underlay(md3({ md3: { ...MD3, e: false } }), ESP), re: /^MD3 with E=0 on the underlay/, only: true },
    { name: 'MD3 E=1 without ESP', frame: underlay(md3(), INNER), re: /^MD3 with E=1 but the inner IPv4 protocol is 6, not ESP/, only: true },
    { name: 'MD3 E=1 not IPv4', frame: underlay(md3({ nextProto: 2 }), INNER6), re: /^MD3 with E=1 but next protocol 0x02/, only: true },
    { name: 'plain IPv4 checksum', frame: edited(Buffer.concat([eth(MAC.sf, MAC.sfPort, 0x0800), INNER]), (b) => { b[24] ^= 0xff; }), re: /^IPv4 header checksum/, only: true },
    { name: 'plain IPv6 cut', frame: Buffer.concat([eth(MAC.sf, MAC.sfPort, 0x86dd), INNER6.subarray(0, 30)]), re: /^IPv6 header beyond the frame/, only: true },
  ];
  for (const c of cases) {
    const r = decodeFrame(c.frame, c.opts);
    assert.equal(r.ok, false, `${c.name}: decoded as well formed`);
    if (r.ok) continue;
    assert.ok(r.problems.some((p) => c.re.test(p)), `${c.name}: ${c.re} not among: ${r.problems.join('; ')}`);
    if (c.only) assert.equal(r.problems.length, 1, `${c.name}: one break, one problem: ${r.problems.join('; ')}`);
  }
  // Every violation at once, not just the first.
  const many = edited(underlay(nshOf({ version: 1, mdType: 0, lengthWords: 2, nextProto: 9 }), INNER, gpe(3, 0x18)), (b) => { b[UL.ip + 10] ^= 1; });
  const r = decodeFrame(many);
  assert.equal(r.ok, false);
  if (!r.ok) {
    for (const re of [/outer IPv4 header checksum/, /P bit not set/, /VXLAN-GPE version 1/, /VXLAN-GPE next protocol 0x03/, /NSH version 1/, /MD type 0 is reserved/, /next protocol 0x09 unassigned/]) {
      assert.ok(r.problems.some((p) => re.test(p)), `${re} not among: ${r.problems.join('; ')}`);
    }
  }
  assert.throws(() => decodeFrame(base, { md3Type: 2 }), /md3Type 2/);
});

test('well-formed variations decode as ok', () => {
  const cases: { name: string; frame: Buffer; kind: string; opts?: { md3Type: number } }[] = [
    { name: 'MD2 with no TLVs (Length 2)', frame: local(nsh({ spi: 1, si: 1, mdType: 2 })), kind: 'local-nsh' },
    { name: 'MD2 with an empty TLV', frame: local(nsh({ spi: 1, si: 1, mdType: 2, tlvs: [{ cls: 9, type: 9, value: Buffer.alloc(0) }] })), kind: 'local-nsh' },
    { name: 'TTL 0 (an SFF wraps it to 63)', frame: underlay(nshOf({ ttl: 0 })), kind: 'underlay' },
    { name: 'O bit', frame: underlay(nshOf({ oam: true })), kind: 'underlay' },
    { name: 'inner IPv6', frame: underlay(nshOf({ nextProto: 2 }), INNER6), kind: 'underlay' },
    { name: 'inner Ethernet', frame: local(nshOf({ nextProto: 3 }), INNER_ETH), kind: 'local-nsh' },
    { name: 'right UDP checksum', frame: underlay(nshOf({}), INNER, gpe(), true), kind: 'underlay' },
    { name: 'MD3 as 0xF', frame: underlay(nsh({ spi: 42, si: 254, mdType: 15, md3: MD3 }), ESP), kind: 'underlay', opts: { md3Type: 15 } },
    { name: 'MD3 E=0 on a local port', frame: local(nsh({ spi: 42, si: 254, mdType: 3, md3: { ...MD3, e: false } })), kind: 'local-nsh' },
    { name: 'Ethernet padding after the inner IPv4', frame: Buffer.concat([local(nshOf({})), Buffer.alloc(6)]), kind: 'local-nsh' },
    { name: 'plain IPv6', frame: Buffer.concat([eth(MAC.sf, MAC.sfPort, 0x86dd), INNER6]), kind: 'plain-ipv6' },
    { name: 'UDP to another port', frame: Buffer.concat([eth(MAC.sf, MAC.sfPort, 0x0800), ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17 }, udp(1, 4789, Buffer.alloc(8)))]), kind: 'plain-ipv4' },
    { name: 'ARP', frame: Buffer.concat([eth('ff:ff:ff:ff:ff:ff', MAC.sf, 0x0806), Buffer.alloc(28)]), kind: 'other' },
  ];
  for (const c of cases) {
    const r = ok(decodeFrame(c.frame, c.opts), c.name);
    assert.equal(r.kind, c.kind, c.name);
  }
  const padded = ok(decodeFrame(Buffer.concat([local(nshOf({})), Buffer.alloc(6)])));
  assert.deepEqual(padded.inner.bytes, INNER, 'the inner IPv4 packet is cut to its total length');
  const m = ok(decodeFrame(underlay(nsh({ spi: 42, si: 254, mdType: 15, md3: MD3 }), ESP), { md3Type: 15 }));
  assert.deepEqual(m.nsh!.md3, { ...MD3, reserved: 0 });
});

// ---- (d) unassigned bits ----

test('unassigned bits are decoded, reported as unassigned, and not violations', () => {
  const f = edited(underlay(nsh({ spi: 7, si: 9, ttl: 33, mdType: 2, tlvs: TLVS }), INNER, gpe(4, 0xcc)), (b) => {
    b[UL.nsh] |= 0x10;
    b[UL.nsh + 2] |= 0x50;
    b[UL.nsh + 23] |= 0x80; // the second TLV's U bit (its header is NSH bytes 20..23)
    b.writeUInt16BE(0xbeef, UL.gpe + 1);
    b[UL.gpe + 7] = 0x11;
  });
  const r = ok(decodeFrame(f), 'U bits set');
  assert.deepEqual([r.nsh!.uBit1, r.nsh!.uBits4, r.nsh!.mdType, r.nsh!.ttl, r.nsh!.lengthWords], [1, 5, 2, 33, 7]);
  assert.deepEqual(r.nsh!.tlvs!.map((t) => [t.uBit, t.len]), [[0, 6], [1, 4]]);
  assert.deepEqual([r.outer!.gpe.reservedBits, r.outer!.gpe.reserved16, r.outer!.gpe.reserved8, r.outer!.gpe.p, r.outer!.gpe.i], [3, 0xbeef, 0x11, true, true]);
  assert.deepEqual(r.unassigned, [
    'VXLAN-GPE R bits are 3 (reserved)',
    'VXLAN-GPE 16 reserved bits are 0xbeef',
    'VXLAN-GPE last 8 reserved bits are 0x11',
    'NSH U bit after O is 1 (unassigned, RFC 8300 2.2)',
    'NSH U bits before MD Type are 0x5 (unassigned, RFC 8300 2.2)',
    'MD2 TLV at NSH byte 20: U bit is 1 (unassigned, RFC 8300 2.5.1)',
  ]);
  const m3 = ok(decodeFrame(edited(local(nsh({ spi: 1, si: 2, mdType: 3, md3: MD3 }), ESP), (b) => { b[LO.nsh + 12] |= 0x40; })));
  assert.deepEqual(m3.nsh!.md3, { ...MD3, reserved: 0x4000 });
  assert.deepEqual(m3.unassigned, ['MD3 reserved bits are 0x4000']);

  // A forwarder must carry them through unchanged.
  const sffOut = edited(f, (b) => {
    const w = b.readUInt16BE(UL.nsh);
    b.writeUInt16BE((w & ~0x0fc0) | (32 << 6), UL.nsh);
  });
  assert.deepEqual(checkForwarding(decodeFrame(f), decodeFrame(sffOut), ['sff']), []);
  const cleared = edited(sffOut, (b) => { b[UL.nsh] &= ~0x10; b[UL.nsh + 2] &= 0x0f; });
  const p = checkForwarding(decodeFrame(f), decodeFrame(cleared), ['sff']);
  assert.deepEqual(p, [
    'unassigned U bit after O changed from 1 to 0 (RFC 8300 2.2: preserved unmodified)',
    'unassigned U bits before MD Type changed from 5 to 0 (RFC 8300 2.2: preserved unmodified)',
  ]);
  const tlvU = edited(sffOut, (b) => { b[UL.nsh + 23] &= 0x7f; });
  assert.match(checkForwarding(decodeFrame(f), decodeFrame(tlvU), ['sff']).join('; '), /context headers changed/);
});

// ---- the forwarding rules ----

test('expectedAfter: an SFF decrements TTL (0 wraps to 63), an SF decrements SI', () => {
  const cases: [number, number, Hop[], ReturnType<typeof expectedAfter>][] = [
    [254, 61, ['sff'], { forward: true, si: 254, ttl: 60 }],
    [254, 61, ['sf'], { forward: true, si: 253, ttl: 61 }],
    [255, 62, ['sf', 'sff'], { forward: true, si: 254, ttl: 61 }],
    [255, 63, ['sff', 'sf', 'sff'], { forward: true, si: 254, ttl: 61 }],
    [254, 0, ['sff'], { forward: true, si: 254, ttl: 63 }],
    [254, 61, [], { forward: true, si: 254, ttl: 61 }],
  ];
  for (const [si, ttl, hops, exp] of cases) assert.deepEqual(expectedAfter({ si, ttl }, hops), exp, `${si}/${ttl} ${hops.join(',')}`);
  assert.match((expectedAfter({ si: 254, ttl: 1 }, ['sff']) as { reason: string }).reason, /TTL reaches 0/);
  assert.match((expectedAfter({ si: 3, ttl: 2 }, ['sff', 'sf', 'sff']) as { reason: string }).reason, /TTL reaches 0/);
  assert.match((expectedAfter({ si: 0, ttl: 9 }, ['sf']) as { reason: string }).reason, /SI 0 cannot be decremented/);
  assert.match((expectedAfter({ si: 1, ttl: 9 }, ['sf', 'sff']) as { reason: string }).reason, /SI 0 at an SFF/);
});

test('checkForwarding finds each wrong relation between an input and an output frame', () => {
  const input = decodeFrame(local(nshOf({ si: 254, ttl: 61 })));
  const good = underlay(nshOf({ si: 254, ttl: 60 }));
  assert.deepEqual(checkForwarding(input, decodeFrame(good), ['sff']), []);
  const md3In = decodeFrame(underlay(nsh({ spi: 42, si: 254, ttl: 61, mdType: 3, md3: MD3 }), ESP));
  assert.deepEqual(checkForwarding(md3In, decodeFrame(local(nsh({ spi: 42, si: 254, ttl: 60, mdType: 3, md3: MD3 }), ESP)), ['sff']), [], 'MD3 transit: TTL only');
  const cases: [string, Buffer, RegExp, Hop[]?][] = [
    ['SI decremented by an SFF', underlay(nshOf({ si: 253, ttl: 60 })), /^SI 253, expected 254/],
    ['TTL not decremented', underlay(nshOf({ si: 254, ttl: 61 })), /^TTL 61, expected 60/],
    ['SI not decremented by the SF', underlay(nshOf({ si: 254, ttl: 60 })), /^SI 254, expected 253/, ['sf', 'sff']],
    ['SPI changed', underlay(nshOf({ spi: 43, si: 254, ttl: 60 })), /^SPI changed from 42 to 43/],
    ['O bit set', underlay(nshOf({ si: 254, ttl: 60, oam: true })), /^O bit changed from false to true/],
    ['context changed', underlay(nshOf({ si: 254, ttl: 60, context: Buffer.alloc(16) })), /^context headers changed from 000000010000000200000003000000ff to 0{32}/],
    ['MD type changed', underlay(nsh({ spi: 42, si: 254, ttl: 60, mdType: 2 })), /^MD type changed from 1 to 2/],
    ['next protocol changed', underlay(nshOf({ si: 254, ttl: 60, nextProto: 3 }), INNER_ETH), /^next protocol changed from 1 to 3/],
    ['inner packet changed', underlay(nshOf({ si: 254, ttl: 60 }), ipv4({ src: '172.16.1.1', dst: '172.16.2.1', proto: 6, ttl: 63 }, INNER.subarray(20))), /^inner packet changed/],
    ['malformed output', underlay(nshOf({ si: 254, ttl: 60, version: 1 })), /^output malformed: NSH version 1/],
    ['NSH removed', Buffer.concat([eth(MAC.sf, MAC.sfPort, 0x0800), INNER]), /^output carries no NSH \(plain-ipv4\)/],
  ];
  for (const [name, out, re, hops] of cases) {
    const p = checkForwarding(input, decodeFrame(out), hops ?? ['sff']);
    assert.ok(p.some((x) => re.test(x)), `${name}: ${re} not among: ${p.join('; ')}`);
  }
  // An SF may rewrite the inner packet; an SFF may not.
  const rewritten = underlay(nshOf({ si: 253, ttl: 60 }), ipv4({ src: '172.16.1.1', dst: '172.16.2.1', proto: 6, ttl: 63 }, INNER.subarray(20)));
  assert.deepEqual(checkForwarding(input, decodeFrame(rewritten), ['sf', 'sff']), []);
  // A forwarded frame that RFC 8300 drops.
  assert.deepEqual(checkForwarding(decodeFrame(local(nshOf({ ttl: 1 }))), decodeFrame(good), ['sff']),
    ['forwarded, but should have been dropped: TTL reaches 0 at an SFF (RFC 8300 2.2; it arrived as 1)']);
  assert.match(checkForwarding(decodeFrame(local(nshOf({ version: 1 }))), decodeFrame(good), ['sff'])[0]!, /^input malformed: NSH version 1/);
  // esfc's SF proxy restores MD2 without its TLVs: a deviation the caller has to allow explicitly.
  const md2In = decodeFrame(local(nsh({ spi: 42, si: 254, ttl: 61, mdType: 2, tlvs: TLVS })));
  const md2Out = decodeFrame(underlay(nsh({ spi: 42, si: 253, ttl: 60, mdType: 2 })));
  assert.match(checkForwarding(md2In, md2Out, ['sf', 'sff']).join('; '), /NSH Length changed from 7 to 2/);
  assert.deepEqual(checkForwarding(md2In, md2Out, ['sf', 'sff'], { md2TlvsDropped: true }), []);
});
