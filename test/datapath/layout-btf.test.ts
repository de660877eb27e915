/**
 * The TypeScript codecs against the BTF of the compiled objects (the C header
 * is the single source of truth): sizes, member offsets and member sizes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Btf } from '../../agent/kernel/btf.js';
import {
  allCodecs, STAT_DROP_FIRST, STAT_EVENT_FIRST, STAT_MAX, PortKind, NextHopKind, PROBE_MAGIC, PROBE_PAYLOAD_LEN, PROBE_PORT, probeSeenCodec,
  ETH_P_SLOW_PATH, SLOW_PATH_HDR_LEN, SLOW_PATH_MAC, STAT_DROP_SLOW_PATH_EGRESS, STAT_PUNT, STAT_SLOW_PATH,
} from '../../agent/datapath/layout.js';
import { fieldSize, type StructCodec } from '../../agent/datapath/struct-codec.js';
import { efCodecs, EfDir, EF_MARK_BASE, EF_STAT_MAX } from '../../agent/ef/ef-layout.js';
import { statNamesFromEnum } from '../../agent/datapath/stat-names.js';
import { SkbCtx, XdpCtx } from '../../agent/kernel/test-run.js';

const obj = (name: string): Btf => new Btf(readFileSync(fileURLToPath(new URL(`../../../bpf/build/${name}`, import.meta.url))));

const objects: [string, readonly StructCodec<object>[]][] = [['esfc_tc.o', allCodecs], ['esfc_xdp.o', allCodecs], ['esfc_ef.o', efCodecs]];
for (const [file, codecs] of objects) {
  test(`codecs match the BTF of ${file}`, () => {
    const btf = obj(file);
    for (const codec of codecs) {
      const s = btf.struct(codec.cName);
      assert.ok(s, `struct ${codec.cName} missing from ${file}`);
      assert.equal(codec.size, s.size, `${codec.cName} size`);
      for (const f of codec.fields) {
        const m: { offsetBits: number; size: number } | undefined = s.members.find((x) => x.name === f.name);
        assert.ok(m, `${codec.cName}.${f.name} not in the C struct`);
        assert.equal(f.offset * 8, m.offsetBits, `${codec.cName}.${f.name} offset`);
        assert.equal(fieldSize(f), m.size, `${codec.cName}.${f.name} size`);
      }
      // Every non-padding C member is decoded by TypeScript.
      for (const m of s.members) {
        if (m.name === 'pad') continue;
        assert.ok(codec.fields.some((f) => f.name === m.name), `${codec.cName}.${m.name} has no TypeScript field`);
      }
    }
  });
}

test('enums shared with C: port kinds, next-hop kinds, counter layout', () => {
  const btf = obj('esfc_tc.o');
  const ports = btf.enumValues('esfc_port_kind')!;
  assert.equal(ports.get('ESFC_PORT_UNDERLAY'), PortKind.underlay);
  assert.equal(ports.get('ESFC_PORT_SF_PROXY'), PortKind.sfProxy);
  assert.equal(ports.get('ESFC_PORT_CLASSIFY'), PortKind.classify);
  const nh = btf.enumValues('esfc_nh_kind')!;
  assert.equal(nh.get('ESFC_NH_PROXY'), NextHopKind.proxy);
  assert.equal(nh.get('ESFC_NH_END'), NextHopKind.end);
  const stats = btf.enumValues('esfc_stat')!;
  const names = statNamesFromEnum(stats);
  assert.equal(stats.get('ESFC_STAT_MAX'), STAT_MAX);
  assert.equal(stats.get('ESFC_STAT_DROP_FIRST'), STAT_DROP_FIRST);
  assert.equal(stats.get('ESFC_STAT_EVENT_FIRST'), STAT_EVENT_FIRST);
  assert.equal(names.get(stats.get('ESFC_STAT_CLASSIFIED')!)!.event, true);
  assert.equal(names.get(stats.get('ESFC_STAT_DROP_NO_PATH')!)!.name, 'drop_no_path');
  assert.equal(names.get(stats.get('ESFC_STAT_DROP_NO_PATH')!)!.drop, true);
  assert.equal(names.get(stats.get('ESFC_STAT_FWD_REMOTE')!)!.drop, false);
  assert.ok([...stats.values()].every((v) => v <= STAT_MAX));
});

test('liveness probes: wire constants, the esfc_probe map and a terminal counter', () => {
  const header = readFileSync(fileURLToPath(new URL('../../../bpf/include/esfc_shared.h', import.meta.url)), 'utf8');
  const define = (n: string): bigint => BigInt(new RegExp(`#define ${n}\\s+(0x[0-9a-fA-F]+|\\d+)`).exec(header)![1]!);
  assert.equal(define('ESFC_PROBE_PORT'), BigInt(PROBE_PORT));
  assert.equal(define('ESFC_PROBE_MAGIC'), PROBE_MAGIC);
  assert.equal(Buffer.from('ESFCprob').readBigUInt64BE(), PROBE_MAGIC);
  // The payload struct is packed and not in BTF (only a pointer into the frame uses it): its size from the header's members.
  const body = /struct esfc_probe_payload \{([^}]*)\}/.exec(header)![1]!;
  const sizes: Record<string, number> = { __u8: 1, __u16: 2, __u32: 4, __u64: 8 };
  const len = [...body.matchAll(/(__u\d+)\s+\w+(?:\[(\d+)\])?;/g)].reduce((n, m) => n + sizes[m[1]!]! * Number(m[2] ?? 1), 0);
  assert.equal(len, PROBE_PAYLOAD_LEN);
  for (const file of ['esfc_tc.o', 'esfc_xdp.o']) {
    const btf = obj(file);
    const names = statNamesFromEnum(btf.enumValues('esfc_stat')!);
    const probe = [...names.values()].find((n) => n.name === 'probe');
    assert.ok(probe, `${file}: no ESFC_STAT_PROBE`);
    assert.equal(probe.value, 6, 'appended after punt (numbers are ABI)');
    assert.equal(probe.drop || probe.event, false, 'terminal: a port\'s received count includes probes');
    assert.ok(btf.struct(probeSeenCodec.cName), `${file}: struct esfc_probe_seen`);
  }
});

test('slow path: the header\'s wire constants, and the stat numbers p4/stats.p4 shares', () => {
  const header = readFileSync(fileURLToPath(new URL('../../../bpf/include/esfc_shared.h', import.meta.url)), 'utf8');
  const define = (n: string): string => new RegExp(`#define ${n}\\s+(\\{[^}]*\\}|\\S+)`).exec(header)![1]!;
  assert.equal(Number(define('ESFC_ETH_P_SLOW_PATH')), ETH_P_SLOW_PATH);
  assert.equal(Number(define('ESFC_SLOW_PATH_HDR_LEN')), SLOW_PATH_HDR_LEN);
  const mac = define('ESFC_SLOW_PATH_MAC').replace(/[{}\s]/g, '').split(',').map((b) => Number(b).toString(16).padStart(2, '0')).join(':');
  assert.equal(mac, SLOW_PATH_MAC);
  // Packed and only reached through a pointer into the frame: its size from the header's members.
  const body = /struct esfc_slow_path_hdr \{([^}]*)\}/.exec(header)![1]!;
  const len = [...body.matchAll(/__(?:u|be)(\d+)\s+\w+(?:\[(\d+)\])?;/g)].reduce((n, m) => n + (Number(m[1]) / 8) * Number(m[2] ?? 1), 0);
  assert.equal(len, SLOW_PATH_HDR_LEN);
  for (const file of ['esfc_tc.o', 'esfc_xdp.o']) {
    const btf = obj(file);
    assert.equal(btf.enumValues('esfc_port_kind')!.get('ESFC_PORT_PUNT'), PortKind.punt);
    const stats = btf.enumValues('esfc_stat')!;
    const names = statNamesFromEnum(stats);
    assert.equal(stats.get('ESFC_STAT_PUNT'), STAT_PUNT);
    assert.equal(stats.get('ESFC_STAT_SLOW_PATH'), STAT_SLOW_PATH, 'numbers are ABI, shared with p4/stats.p4');
    assert.equal(stats.get('ESFC_STAT_DROP_SLOW_PATH_EGRESS'), STAT_DROP_SLOW_PATH_EGRESS, 'numbers are ABI, shared with p4/stats.p4');
    const sp = names.get(STAT_SLOW_PATH)!;
    assert.deepEqual([sp.name, sp.drop, sp.event], ['slow_path', false, false], `${file}: slow_path is terminal`);
    const eg = names.get(STAT_DROP_SLOW_PATH_EGRESS)!;
    assert.deepEqual([eg.name, eg.drop], ['drop_slow_path_egress', true], `${file}: a drop reason`);
  }
});

test('EF glue constants shared with C: SA directions, marks, counter layout', () => {
  const btf = obj('esfc_ef.o');
  const stats = btf.enumValues('esfc_ef_stat')!;
  assert.equal(stats.get('ESFC_EF_STAT_MAX'), EF_STAT_MAX);
  const names = statNamesFromEnum(stats, 'ESFC_EF_STAT_');
  assert.equal(names.get(stats.get('ESFC_EF_STAT_DROP_CLEAR')!)!.name, 'drop_clear');
  assert.equal(names.get(stats.get('ESFC_EF_STAT_DROP_CLEAR')!)!.drop, true);
  assert.equal(names.get(stats.get('ESFC_EF_STAT_ENCRYPTED')!)!.drop, false);
  // #defines are not in BTF: the header is read as text for them.
  const header = readFileSync(fileURLToPath(new URL('../../../bpf/include/esfc_shared.h', import.meta.url)), 'utf8');
  const define = (n: string): number => Number(new RegExp(`#define ${n}\\s+(\\S+)`).exec(header)![1]);
  assert.equal(define('ESFC_EF_DIR_OUT'), EfDir.out);
  assert.equal(define('ESFC_EF_DIR_IN'), EfDir.in);
  assert.equal(define('ESFC_EF_MARK_BASE'), EF_MARK_BASE);
});

test('the __sk_buff and xdp_md offsets used for BPF_PROG_TEST_RUN match this kernel', { skip: readableVmlinux() ? false : 'no /sys/kernel/btf/vmlinux' }, () => {
  const btf = new Btf(readFileSync('/sys/kernel/btf/vmlinux'));
  const skb = btf.struct('__sk_buff')!;
  const off = (name: string) => skb.members.find((m) => m.name === name)!.offsetBits / 8;
  assert.equal(skb.size, SkbCtx.size);
  assert.equal(off('ifindex'), SkbCtx.ifindex);
  assert.equal(off('ingress_ifindex'), SkbCtx.ingressIfindex);
  assert.equal(off('gso_segs'), SkbCtx.gsoSegs);
  assert.equal(off('gso_size'), SkbCtx.gsoSize);
  const xdp = btf.struct('xdp_md')!;
  assert.equal(xdp.size, XdpCtx.size);
  assert.equal(xdp.members.find((m) => m.name === 'ingress_ifindex')!.offsetBits / 8, XdpCtx.ingressIfindex);
  assert.equal(xdp.members.find((m) => m.name === 'data_end')!.offsetBits / 8, XdpCtx.dataEnd);
});

function readableVmlinux(): boolean {
  try { readFileSync('/sys/kernel/btf/vmlinux').subarray(0, 4); return true; } catch { return false; }
}
