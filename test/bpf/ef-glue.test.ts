/**
 * The EF glue (bpf/lib/ef.h) through BPF_PROG_TEST_RUN: what it does to the
 * frames on each side of XFRM, byte for byte, and that everything else is
 * dropped and counted. The XFRM half itself (and the decrypted-packet path,
 * which needs a real secpath) runs in the kernel-lab suites.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { loadObject, type LoadedObject } from '../../agent/kernel/loader.js';
import { skbContext, SkbCtx, testRun } from '../../agent/kernel/test-run.js';
import { ABI_VERSION, counterCodec, pathKeyCodec } from '../../agent/datapath/layout.js';
import { statNamesFromEnum } from '../../agent/datapath/stat-names.js';
import { Btf } from '../../agent/kernel/btf.js';
import { readFileSync } from 'node:fs';
import {
  efConfigCodec, efDecryptCodec, efEncryptCodec, EfDir, EfMapName, efSaCodec, EF_STAT_MAX, pairMark,
} from '../../agent/ef/ef-layout.js';
import { EF_OBJECT } from '../../agent/ef/ef-runtime.js';
import { eth, ipv4, nsh, tcp } from '../../scenario/frames.js';

const isRoot = process.getuid?.() === 0;
const PIN = `/sys/fs/bpf/esfc-test-ef-${process.pid}`;
const TC = { OK: 0, SHOT: 2, REDIRECT: 7 };
const SFF_MAC = '02:00:00:00:e1:01';
const EF_MAC = '02:00:00:00:e1:02';
const IFINDEX = 2;
const SPI = 10, SI = 254, ESPI = 101;
const OUT_SPI = 0x1001, IN_SPI = 0x2001;

function esp(spi: number, seq: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(spi, 0);
  h.writeUInt32BE(seq, 4);
  return Buffer.concat([h, body]);
}

const inner = ipv4({ src: '172.16.1.1', dst: '172.16.2.1', proto: 6 }, tcp('172.16.1.1', '172.16.2.1', 40000, 25, Buffer.from('MARKER-plaintext')));
const espPacket = (spi: number): Buffer => ipv4({ src: '10.200.1.1', dst: '10.200.2.1', proto: 50 }, esp(spi, 7, Buffer.alloc(64, 0xab)));

describe('EF glue (TC, BPF_PROG_TEST_RUN)', { skip: isRoot ? false : 'needs root' }, () => {
  let o: LoadedObject;
  let ingress: number, egress: number;
  const names = statNamesFromEnum(new Btf(readFileSync(EF_OBJECT())).enumValues('esfc_ef_stat')!, 'ESFC_EF_STAT_');
  const stat = (name: string): number => [...names.values()].find((n) => n.name === name)!.value;

  const counters = (): Map<string, bigint> => {
    const out = new Map<string, bigint>();
    const k = Buffer.alloc(4);
    for (let i = 0; i < EF_STAT_MAX; i++) {
      k.writeUInt32LE(i);
      let n = 0n;
      for (const c of o.maps.get(EfMapName.counters)!.lookupPerCpu(k)) n += counterCodec.decode(c).packets;
      const s = names.get(i);
      if (s && n) out.set(s.name, n);
    }
    return out;
  };
  const delta = (before: Map<string, bigint>, name: string): bigint => (counters().get(name) ?? 0n) - (before.get(name) ?? 0n);
  const run = (prog: number, frame: Buffer, mark = 0) => {
    const ctx = skbContext({ ifindex: IFINDEX });
    ctx.writeUInt32LE(mark, SkbCtx.mark);
    const r = testRun(prog, { data: frame, ctx });
    return { ...r, mark: r.ctx.readUInt32LE(SkbCtx.mark) };
  };

  before(() => {
    o = loadObject(EF_OBJECT(), PIN, ['esfc_ef_ingress', 'esfc_ef_egress'], Object.values(EfMapName));
    ingress = o.programs.get('esfc_ef_ingress')!;
    egress = o.programs.get('esfc_ef_egress')!;
    const m = (n: string) => o.maps.get(n)!;
    m(EfMapName.config).update(Buffer.alloc(4), efConfigCodec.encode({ abi_version: ABI_VERSION, md3_type: 3, ifindex: IFINDEX, nsh_ttl: 63 }));
    m(EfMapName.encrypt).update(pathKeyCodec.encode({ spi: SPI, si: SI, gen: 0 }), efEncryptCodec.encode({ mark: pairMark(ESPI), espi: ESPI }));
    m(EfMapName.decrypt).update(pathKeyCodec.encode({ spi: ESPI + 1, si: 255, gen: 0 }), efDecryptCodec.encode({ mark: pairMark(ESPI + 1) }));
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
    m(EfMapName.sas).update(u32(OUT_SPI), efSaCodec.encode({ dir: EfDir.out, spi: SPI, si: SI, espi: ESPI, esi: 255, epoch: 7, reqid: pairMark(ESPI) }));
    m(EfMapName.sas).update(u32(IN_SPI), efSaCodec.encode({ dir: EfDir.in, spi: 11, si: 253, espi: ESPI + 1, esi: 255, epoch: 3, reqid: pairMark(ESPI + 1) }));
  });
  after(() => {
    o?.close();
    rmSync(PIN, { recursive: true, force: true });
  });

  test('encrypting side: NSH (SPI, SI) of a pair is removed and the pair\'s mark set for XFRM', () => {
    const c0 = counters();
    const frame = Buffer.concat([eth(EF_MAC, SFF_MAC, 0x894f), nsh({ spi: SPI, si: SI }), inner]);
    const r = run(ingress, frame);
    // The skb was parsed as NSH: the glue loops it through ingress so the stack re-parses it as IPv4.
    assert.equal(r.retval, TC.REDIRECT);
    assert.deepEqual(r.data, Buffer.concat([eth(EF_MAC, SFF_MAC, 0x0800), inner]));
    assert.equal(r.mark, pairMark(ESPI));
    assert.equal(delta(c0, 'to_encrypt'), 1n);
  });

  test('second pass of that plaintext (marked) goes to the stack; unmarked plaintext is dropped', () => {
    const c0 = counters();
    const plain = Buffer.concat([eth(EF_MAC, SFF_MAC, 0x0800), inner]);
    assert.equal(run(ingress, plain, pairMark(ESPI)).retval, TC.OK);
    assert.equal(run(ingress, plain, 0).retval, TC.SHOT);
    assert.equal(delta(c0, 'drop_not_encrypted'), 1n);
  });

  test('an (SPI, SI) the EF has no pair for is dropped and counted', () => {
    const c0 = counters();
    const r = run(ingress, Buffer.concat([eth(EF_MAC, SFF_MAC, 0x894f), nsh({ spi: SPI, si: SI - 1 }), inner]));
    assert.equal(r.retval, TC.SHOT);
    assert.equal(delta(c0, 'drop_no_pair'), 1n);
  });

  test('ESP from XFRM leaves with MD type 3: SPI/SI in clear, E-SPI/E-SI, E=1 and the SA\'s key epoch', () => {
    const c0 = counters();
    const frame = Buffer.concat([eth(SFF_MAC, EF_MAC, 0x0800), espPacket(OUT_SPI)]);
    const r = run(egress, frame);
    assert.equal(r.retval, TC.OK);
    const want = Buffer.concat([eth(SFF_MAC, EF_MAC, 0x894f), nsh({ spi: SPI, si: SI, mdType: 3, md3: { espi: ESPI, esi: 255, e: true, epoch: 7 } }), espPacket(OUT_SPI)]);
    assert.deepEqual(r.data, want);
    assert.equal(delta(c0, 'encrypted'), 1n);
  });

  test('fail closed: plaintext, NSH, ESP of an SA esfc did not install, and ARP never leave the EF', () => {
    const c0 = counters();
    assert.equal(run(egress, Buffer.concat([eth(SFF_MAC, EF_MAC, 0x0800), inner])).retval, TC.SHOT);
    assert.equal(run(egress, Buffer.concat([eth(SFF_MAC, EF_MAC, 0x0800), espPacket(0x9999)])).retval, TC.SHOT);
    assert.equal(run(egress, Buffer.concat([eth(SFF_MAC, EF_MAC, 0x0806), Buffer.alloc(28)])).retval, TC.SHOT);
    assert.equal(run(egress, Buffer.concat([eth(SFF_MAC, EF_MAC, 0x894f), nsh({ spi: SPI, si: SI }), inner])).retval, TC.SHOT);
    // An inbound SA's SPI is not one to send with.
    assert.equal(run(egress, Buffer.concat([eth(SFF_MAC, EF_MAC, 0x0800), espPacket(IN_SPI)])).retval, TC.SHOT);
    assert.equal(delta(c0, 'drop_clear'), 3n);
    assert.equal(delta(c0, 'drop_unknown_sa'), 2n);
  });

  test('decrypting side: MD type 3 with E=1 for a pair is removed, ESP goes to XFRM with the pair\'s mark', () => {
    const c0 = counters();
    const frame = Buffer.concat([eth(EF_MAC, SFF_MAC, 0x894f), nsh({ spi: 11, si: 254, mdType: 3, md3: { espi: ESPI + 1, esi: 255, e: true, epoch: 3 } }), espPacket(IN_SPI)]);
    const r = run(ingress, frame);
    assert.equal(r.retval, TC.REDIRECT);
    assert.deepEqual(r.data, Buffer.concat([eth(EF_MAC, SFF_MAC, 0x0800), espPacket(IN_SPI)]));
    assert.equal(r.mark, pairMark(ESPI + 1));
    assert.equal(delta(c0, 'to_decrypt'), 1n);
  });

  test('MD type 3 with E=0, or for an EF path this EF does not end, is dropped', () => {
    const c0 = counters();
    const md3 = (e: boolean, espi: number) => Buffer.concat([eth(EF_MAC, SFF_MAC, 0x894f), nsh({ spi: 11, si: 254, mdType: 3, md3: { espi, esi: 255, e, epoch: 3 } }), espPacket(IN_SPI)]);
    assert.equal(run(ingress, md3(false, ESPI + 1)).retval, TC.SHOT);
    assert.equal(run(ingress, md3(true, ESPI + 50)).retval, TC.SHOT);
    assert.equal(delta(c0, 'drop_not_encrypted'), 1n);
    assert.equal(delta(c0, 'drop_no_pair'), 1n);
  });

  test('truncated and random frames are dropped or passed, never crash, and every verdict is counted or harmless', () => {
    const c0 = counters();
    const good = Buffer.concat([eth(EF_MAC, SFF_MAC, 0x894f), nsh({ spi: SPI, si: SI }), inner]);
    let shot = 0;
    for (let len = 14; len < good.length; len += 3) {
      const r = run(ingress, good.subarray(0, len).length < 34 ? Buffer.concat([good.subarray(0, len), Buffer.alloc(34 - len)]) : good.subarray(0, len));
      if (r.retval === TC.SHOT) shot++;
    }
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 200; i++) {
      const f = Buffer.from(Array.from({ length: 40 + (i % 80) }, rnd));
      f.writeUInt16BE(i % 2 ? 0x894f : 0x0800, 12);
      const r = run(i % 3 ? ingress : egress, f);
      assert.ok([TC.OK, TC.SHOT, TC.REDIRECT].includes(r.retval));
      if (r.retval === TC.SHOT) shot++;
    }
    const drops = [...counters()].filter(([n]) => names.get(stat(n))!.drop).reduce((a, [n, v]) => a + v - (c0.get(n) ?? 0n), 0n);
    assert.equal(drops, BigInt(shot), 'every dropped frame is in a drop counter');
    assert.ok(shot > 150);
  });
});
