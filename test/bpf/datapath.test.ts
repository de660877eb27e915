/**
 * The forwarding core through BPF_PROG_TEST_RUN, on both hooks with the same
 * cases: byte-exact output for classify/proxy/encap/decap/NSH-aware/end of
 * chain, every drop reason hit and counted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { validateConfig } from '../../agent/config/validate-config.js';
import type { NodeConfig } from '../../agent/config/types.js';
import { compile } from '../../agent/datapath/compile.js';
import { planMaps } from '../../agent/datapath/plan.js';
import { applyOps, readTables } from '../../agent/datapath/tables.js';
import { KernelDatapath, readCounters } from '../../agent/datapath/kernel-datapath.js';
import { receivedPerSlot } from '../../agent/datapath/stat-names.js';
import { MapName, NextHopKind, nextHopCodec, pathKeyCodec, STAT_MAX } from '../../agent/datapath/layout.js';
import { listLinks } from '../../agent/node/links.js';
import { skbContext, testRun, xdpContext } from '../../agent/kernel/test-run.js';
import { enterPrivateNetns } from '../lib/private-netns.js';
import { eth, flowPort, ipv4, nsh, tcp, underlay, gpe, udp } from '../lib/frames.js';

const isRoot = process.getuid?.() === 0;
const PIN = `/sys/fs/bpf/esfc-test-dp-${process.pid}`;
const MAC = {
  ul: '02:00:0a:fa:00:01', nodeB: '02:00:0a:fa:00:02',
  edge: '02:00:00:00:0a:01', client: '02:00:00:00:0c:01',
  sf1a: '02:00:00:00:1a:01', sf1aPeer: '02:00:00:00:1a:02',
  sf1b: '02:00:00:00:1b:01', sf1bPeer: '02:00:00:00:1b:02',
  nsf: '02:00:00:00:2a:01', nsfPeer: '02:00:00:00:2a:02',
};
const TC = { OK: 0, SHOT: 2, REDIRECT: 7 };
const XDP = { DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 };

const config: NodeConfig = validateConfig({
  apiVersion: 'esfc.io/v1alpha1',
  node: { name: 'unit', pinDir: PIN },
  underlay: { interface: 'ul0', address: '10.250.0.1', hook: 'auto' },
  peers: [{ name: 'node-b', address: '10.250.0.2', mac: MAC.nodeB }],
  ports: [
    { name: 'client', interface: 'edge-c', kind: 'edge', peerMac: MAC.client },
    { name: 'sf1a', interface: 'sf1a', kind: 'sf-proxy', function: 'sf1', peerMac: MAC.sf1aPeer },
    { name: 'sf1b', interface: 'sf1b', kind: 'sf-proxy', function: 'sf1', peerMac: MAC.sf1bPeer },
    { name: 'nsf', interface: 'nsf', kind: 'sf', function: 'nsf1', peerMac: MAC.nsfPeer },
  ],
  paths: [
    { spi: 1, hops: [{ si: 255, to: { port: 'sf1a' } }, { si: 254, to: { node: 'node-b' } }] },
    { spi: 2, hops: [{ si: 253, to: { port: 'sf1b' } }, { si: 252, to: { deliver: 'client' } }] },
    { spi: 9, hops: [{ si: 255, to: { port: 'nsf' } }, { si: 254, to: { node: 'node-b' } }] },
    { spi: 10, hops: [{ si: 255, to: { port: 'nsf' } }, { si: 254, to: { deliver: 'client' } }] },
  ],
  classifier: [{ port: 'client', destination: '172.16.2.0/24', protocol: 'tcp', destinationPorts: { from: 25, to: 25 }, spi: 1 }],
});

const C = { ip: '172.16.1.1', port: 40000 };
const S = { ip: '172.16.2.1', port: 25 };
const payload = Buffer.from('esfc-marker-7f3a');
const inner = (ttl = 64): Buffer => ipv4({ src: C.ip, dst: S.ip, proto: 6, ttl }, tcp(C.ip, S.ip, C.port, S.port, payload));
const sport = flowPort(C.ip, S.ip, C.port, S.port, 6);
const innerRev = ipv4({ src: S.ip, dst: C.ip, proto: 6 }, tcp(S.ip, C.ip, S.port, C.port, payload));

let dp: KernelDatapath | undefined;
let stats: Map<number, string>;
const ifindex = new Map<string, number>();

function counter(port: string, stat: string): bigint {
  const name = port === 'ul0' ? 'underlay' : port;
  const slot = [...dp!.slotNames].find(([, n]) => n === name)?.[0];
  assert.ok(slot !== undefined, `unknown port ${port}`);
  const cells = readCounters(dp!.maps[MapName.counters] as never);
  if (stat === 'rx') return receivedPerSlot(cells, dp!.statNames, STAT_MAX).get(slot)?.packets ?? 0n;
  const idx = [...stats].find(([, n]) => n === stat)?.[0];
  assert.ok(idx !== undefined, `unknown stat ${stat}`);
  return cells.get(slot * STAT_MAX + idx)?.packets ?? 0n;
}

type Hook = 'xdp' | 'tc';
function run(hook: Hook, port: string, frame: Buffer, gso?: { segs: number; size: number }) {
  const ifi = ifindex.get(port === 'client' ? 'edge-c' : port)!;
  assert.ok(ifi, `no interface for port ${port}`);
  if (hook === 'tc') {
    const r = testRun(dp!.programFd('tc'), { data: frame, ctx: skbContext({ ifindex: ifi, gsoSegs: gso?.segs, gsoSize: gso?.size }) });
    return { verdict: r.retval === TC.REDIRECT ? 'redirect' : r.retval === TC.SHOT ? 'drop' : r.retval === TC.OK ? 'pass' : `tc${r.retval}`, data: r.data, ctx: r.ctx };
  }
  const r = testRun(dp!.programFd('xdp'), { data: frame, ctx: xdpContext({ ingressIfindex: ifi, dataLen: frame.length }) });
  return { verdict: r.retval === XDP.REDIRECT || r.retval === XDP.TX ? 'redirect' : r.retval === XDP.DROP ? 'drop' : r.retval === XDP.PASS ? 'pass' : `xdp${r.retval}`, data: r.data, ctx: r.ctx };
}


describe('forwarding core (BPF_PROG_TEST_RUN)', { skip: isRoot ? false : 'needs root (BPF and a private network namespace)' }, () => {
  before(async () => {
    enterPrivateNetns();
    const mk = (name: string, mac: string, mtu: number) => execFileSync('ip', ['link', 'add', name, 'mtu', String(mtu), 'address', mac, 'type', 'veth', 'peer', 'name', `${name}-p`]);
    mk('ul0', MAC.ul, 1600);
    mk('edge-c', MAC.edge, 1500);
    mk('sf1a', MAC.sf1a, 1500);
    mk('sf1b', MAC.sf1b, 1500);
    mk('nsf', MAC.nsf, 1500);
    const links = await listLinks();
    for (const [n, l] of links) ifindex.set(n, l.ifindex);
    dp = KernelDatapath.open(PIN, 'unit-test');
    const desired = compile(config, { links, peerMacs: new Map([['node-b', MAC.nodeB]]), existingSlots: new Map() });
    applyOps(dp.maps, planMaps(desired, readTables(dp.maps), 64));
    dp.slotNames = desired.slotNames;
    stats = new Map([...dp.statNames].map(([v, s]) => [v, s.name]));
    // An EF-layer entry so MD3 forwarding has somewhere to go.
    dp.maps[MapName.outer].update(pathKeyCodec.encode({ spi: 0x100, si: 200 }), nextHopCodec.encode({
      kind: NextHopKind.remote, ifindex: ifindex.get('ul0')!, flags: 0, mtu: 1600, saddr_be: '10.250.0.1', daddr_be: '10.250.0.2', smac: MAC.ul, dmac: MAC.nodeB, sf_id: 0,
    }));
  });
  after(() => {
    dp?.close();
    rmSync(PIN, { recursive: true, force: true });
  });

  for (const hook of ['tc', 'xdp'] as const) {
    describe(`${hook} entry`, () => {
      test('classify: client TCP to port 25 -> NSH-unaware SF1 via the proxy (NSH never reaches the SF)', () => {
        const before = counter('client', 'classified');
        const r = run(hook, 'client', Buffer.concat([eth(MAC.edge, MAC.client, 0x0800), inner()]));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data, Buffer.concat([eth(MAC.sf1aPeer, MAC.sf1a, 0x0800), inner()]));
        assert.equal(counter('client', 'classified'), before + 1n);
      });

      test('unmatched traffic passes untouched', () => {
        const other = ipv4({ src: C.ip, dst: S.ip, proto: 17 }, udp(5000, 53, payload));
        const r = run(hook, 'client', Buffer.concat([eth(MAC.edge, MAC.client, 0x0800), other]));
        assert.equal(r.verdict, 'pass');
      });

      test('proxy return: SF1 hands the flow back -> NSH restored with SI-1, VXLAN-GPE to node B', () => {
        // The SF routed the packet: IP TTL 63 now.
        const back = inner(63);
        const r = run(hook, 'sf1b', Buffer.concat([eth(MAC.sf1b, MAC.sf1bPeer, 0x0800), back]));
        assert.equal(r.verdict, 'redirect');
        const want = Buffer.concat([eth(MAC.nodeB, MAC.ul, 0x0800),
          underlay({ src: '10.250.0.1', dst: '10.250.0.2', sport }, Buffer.concat([nsh({ spi: 1, si: 254, ttl: 61 }), back]))]);
        assert.deepEqual(r.data.toString('hex'), want.toString('hex'));
      });

      test('underlay in -> proxy out: VXLAN-GPE and NSH popped, plain IP to SF1', () => {
        const frame = Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800),
          underlay({ src: '10.250.0.2', dst: '10.250.0.1', sport: 50000 }, Buffer.concat([nsh({ spi: 2, si: 253, ttl: 60 }), innerRev]))]);
        const r = run(hook, 'ul0', frame);
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data, Buffer.concat([eth(MAC.sf1bPeer, MAC.sf1b, 0x0800), innerRev]));
      });

      test('end of chain: SF1 returns the reverse flow -> original packet delivered to the client', () => {
        const r = run(hook, 'sf1a', Buffer.concat([eth(MAC.sf1a, MAC.sf1aPeer, 0x0800), innerRev]));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data, Buffer.concat([eth(MAC.client, MAC.edge, 0x0800), innerRev]));
        assert.ok(counter('sf1a', 'end_of_chain') >= 1n, 'counted on the ingress port');
      });

      test('underlay in -> NSH-aware SF: Ethernet/NSH with TTL-1 and the same SI', () => {
        const body = Buffer.concat([nsh({ spi: 9, si: 255, ttl: 10 }), inner()]);
        const r = run(hook, 'ul0', Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), underlay({ src: '10.250.0.2', dst: '10.250.0.1', sport: 50001 }, body)]));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data, Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x894f), nsh({ spi: 9, si: 255, ttl: 9 }), inner()]));
      });

      test('NSH-aware SF -> remote node: VXLAN-GPE pushed in front of its NSH (MD1 context kept)', () => {
        const ctx = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
        const r = run(hook, 'nsf', Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), nsh({ spi: 9, si: 254, ttl: 9, context: ctx }), inner()]));
        assert.equal(r.verdict, 'redirect');
        const want = Buffer.concat([eth(MAC.nodeB, MAC.ul, 0x0800),
          underlay({ src: '10.250.0.1', dst: '10.250.0.2', sport }, Buffer.concat([nsh({ spi: 9, si: 254, ttl: 8, context: ctx }), inner()]))]);
        assert.deepEqual(r.data.toString('hex'), want.toString('hex'));
      });

      test('NSH-aware SF -> end of chain: NSH removed, original packet delivered', () => {
        const r = run(hook, 'nsf', Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), nsh({ spi: 10, si: 254, ttl: 9 }), inner()]));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data, Buffer.concat([eth(MAC.client, MAC.edge, 0x0800), inner()]));
      });

      test('MD type 2 with TLVs is forwarded with its TLVs', () => {
        const h = nsh({ spi: 9, si: 254, ttl: 9, mdType: 2, tlvs: [{ cls: 0x0101, type: 1, value: Buffer.from('abcdef') }] });
        const r = run(hook, 'nsf', Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), h, inner()]));
        assert.equal(r.verdict, 'redirect');
        const out = nsh({ spi: 9, si: 254, ttl: 8, mdType: 2, tlvs: [{ cls: 0x0101, type: 1, value: Buffer.from('abcdef') }] });
        assert.deepEqual(r.data.subarray(14 + 36), Buffer.concat([out, inner()]));
      });

      // Every RFC 8300 rule (and each of esfc's own) has its own counter.
      const ulFrame = (n: Buffer, payloadAfter = inner()) => Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), underlay({ src: '10.250.0.2', dst: '10.250.0.1', sport: 50002 }, Buffer.concat([n, payloadAfter]))]);
      const nsfFrame = (n: Buffer) => Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), n, inner()]);
      const drops: { name: string; port: string; stat: string; frame: () => Buffer }[] = [
        { name: 'truncated NSH', port: 'nsf', stat: 'drop_malformed', frame: () => Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), Buffer.from([0, 0x46])]) },
        { name: 'NSH version 1', port: 'ul0', stat: 'drop_nsh_version', frame: () => ulFrame(nsh({ spi: 9, si: 255, version: 1 })) },
        { name: 'MD1 with Length 5', port: 'ul0', stat: 'drop_nsh_length', frame: () => ulFrame(nsh({ spi: 9, si: 255, lengthWords: 5 })) },
        { name: 'Length beyond the packet', port: 'nsf', stat: 'drop_nsh_length', frame: () => Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), nsh({ spi: 9, si: 254, mdType: 2, lengthWords: 40 })]) },
        { name: 'MD type 0', port: 'ul0', stat: 'drop_md_type0', frame: () => ulFrame(nsh({ spi: 9, si: 255, mdType: 0, lengthWords: 2 })) },
        { name: 'unsupported next protocol', port: 'ul0', stat: 'drop_next_proto', frame: () => ulFrame(nsh({ spi: 9, si: 255, nextProto: 0x7 })) },
        { name: 'TTL expires here', port: 'ul0', stat: 'drop_ttl', frame: () => ulFrame(nsh({ spi: 9, si: 255, ttl: 1 })) },
        { name: 'SI 0', port: 'ul0', stat: 'drop_si_zero', frame: () => ulFrame(nsh({ spi: 9, si: 0 })) },
        { name: 'unknown SPI', port: 'ul0', stat: 'drop_no_path', frame: () => ulFrame(nsh({ spi: 777, si: 255 })) },
        { name: 'another chain injected from an SF (episode 3)', port: 'nsf', stat: 'drop_source', frame: () => nsfFrame(nsh({ spi: 1, si: 254 })) },
        { name: 'O bit without OAM forwarding or slow path', port: 'ul0', stat: 'drop_oam', frame: () => ulFrame(nsh({ spi: 9, si: 255, oam: true })) },
        { name: 'IP from an SF with no recorded path', port: 'sf1b', stat: 'drop_proxy_state', frame: () => Buffer.concat([eth(MAC.sf1b, MAC.sf1bPeer, 0x0800), ipv4({ src: '9.9.9.9', dst: S.ip, proto: 6 }, tcp('9.9.9.9', S.ip, 1, 2, payload))]) },
        { name: 'too big for the underlay after encapsulation', port: 'nsf', stat: 'drop_mtu', frame: () => Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), nsh({ spi: 9, si: 254 }), ipv4({ src: C.ip, dst: S.ip, proto: 17 }, udp(1, 2, Buffer.alloc(1560)))]) },
        { name: 'MD type 3 on an SF port (header-layer mismatch)', port: 'nsf', stat: 'drop_layer', frame: () => nsfFrame(nsh({ spi: 9, si: 254, mdType: 3, nextProto: 1, md3: { espi: 0x100, esi: 200, e: true, epoch: 7 } })) },
        { name: 'unknown MD type and no slow path', port: 'ul0', stat: 'drop_no_punt_port', frame: () => ulFrame(nsh({ spi: 9, si: 255, mdType: 5, lengthWords: 2 })) },
        { name: 'VXLAN-GPE without the P bit', port: 'ul0', stat: 'drop_gpe', frame: () => Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), ipv4({ src: '10.250.0.2', dst: '10.250.0.1', proto: 17 }, udp(1, 4790, Buffer.concat([gpe(4, 0x08), nsh({ spi: 9, si: 255 }), inner()])))]) },
        { name: 'truncated VXLAN-GPE', port: 'ul0', stat: 'drop_malformed', frame: () => Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), ipv4({ src: '10.250.0.2', dst: '10.250.0.1', proto: 17 }, udp(1, 4790, Buffer.from([0x0c, 0, 0])))]) },
        { name: 'MD type 3 with E=0 headed for the underlay', port: 'ul0', stat: 'drop_clear_on_underlay', frame: () => ulFrame(nsh({ spi: 9, si: 255, mdType: 3, md3: { espi: 0x100, esi: 200, e: false, epoch: 1 } }), Buffer.alloc(40)) },
      ];
      for (const d of drops) {
        test(`drop and count: ${d.name} -> ${d.stat}`, () => {
          const before = counter(d.port, d.stat);
          const r = run(hook, d.port, d.frame());
          assert.equal(r.verdict, 'drop');
          assert.equal(counter(d.port, d.stat), before + 1n);
        });
      }

      test('MD type 3 with E=1 is forwarded on (E-SPI, E-SI) by the outer table', () => {
        const h = nsh({ spi: 9, si: 255, ttl: 20, mdType: 3, md3: { espi: 0x100, esi: 200, e: true, epoch: 7 } });
        const esp = Buffer.alloc(48, 0xab);
        const r = run(hook, 'ul0', ulFrame(h, esp));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data.subarray(14 + 36), Buffer.concat([nsh({ spi: 9, si: 255, ttl: 19, mdType: 3, md3: { espi: 0x100, esi: 200, e: true, epoch: 7 } }), esp]));
        assert.equal(r.data.subarray(14 + 16, 14 + 20).join('.'), '10.250.0.2');
      });

      test('with a slow-path port, unknown MD types are punted to it unchanged and counted', () => {
        const cfgMap = dp!.maps[MapName.config];
        const saved = cfgMap.lookup(Buffer.alloc(4))!;
        const withPunt = Buffer.from(saved);
        withPunt.writeUInt32LE(ifindex.get('nsf')!, 8); // punt_ifindex: any existing port will do here
        cfgMap.update(Buffer.alloc(4), withPunt);
        try {
          const before = counter('ul0', 'punt');
          const f = ulFrame(nsh({ spi: 9, si: 255, mdType: 5, lengthWords: 2 }));
          const r = run(hook, 'ul0', f);
          assert.equal(r.verdict, 'redirect');
          assert.deepEqual(r.data, f, 'the slow path gets the frame as it arrived');
          assert.equal(counter('ul0', 'punt'), before + 1n);
        } finally {
          cfgMap.update(Buffer.alloc(4), saved);
        }
      });

      test('VXLAN-GPE for another address is left to the stack', () => {
        const f = Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), underlay({ src: '10.250.0.2', dst: '10.250.0.9', sport: 1 }, Buffer.concat([nsh({ spi: 9, si: 255 }), inner()]))]);
        assert.equal(run(hook, 'ul0', f).verdict, 'pass');
      });
    });
  }

  for (const hook of ['tc', 'xdp'] as const) {
    test(`${hook}: malformed, truncated and random frames are dropped or passed, never forwarded broken`, () => {
      // Deterministic pseudo-random bytes, so a failure can be replayed.
      let seed = 0x2545f491;
      const rnd = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32; };
      const valid = Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800),
        underlay({ src: '10.250.0.2', dst: '10.250.0.1', sport: 50003 }, Buffer.concat([nsh({ spi: 9, si: 255, ttl: 10 }), inner()]))]);
      const headerEnd = 14 + 36 + 24;
      const rxBefore = counter('ul0', 'rx');
      let runs = 0;
      // Every truncation inside the headers. BPF_PROG_TEST_RUN refuses frames under 14
      // bytes, and on TC IPv4 frames under 34 (it builds the skb with an IP header).
      for (let len = hook === 'tc' ? 34 : 14; len < headerEnd; len++) {
        const r = run(hook, 'ul0', valid.subarray(0, len));
        runs++;
        assert.ok(r.verdict === 'drop' || r.verdict === 'pass', `truncated at ${len}: ${r.verdict}`);
        if (len >= 14 + 36 + 8) assert.equal(r.verdict, 'drop', `NSH cut at ${len} must be a counted drop`);
      }
      // Lying Length fields: every value 0..63 in MD1 and MD2 frames.
      for (const md of [1, 2]) {
        for (let words = 0; words < 64; words++) {
          const f = Buffer.from(valid);
          f[14 + 36 + 1] = (f[14 + 36 + 1]! & 0xc0) | words;
          f[14 + 36 + 2] = md;
          const r = run(hook, 'ul0', f);
          runs++;
          const ok = (md === 1 && words === 6) || (md === 2 && words >= 2 && words <= 6);
          if (!ok) assert.notEqual(r.verdict, 'redirect', `MD${md} Length ${words} forwarded`);
        }
      }
      // Random flips in the headers and random garbage.
      for (let i = 0; i < 1500; i++) {
        const f = i % 3 === 0 ? Buffer.from(Array.from({ length: 34 + Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256))) : Buffer.from(valid);
        if (i % 3) for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) f[Math.floor(rnd() * headerEnd)] ^= 1 << Math.floor(rnd() * 8);
        const r = run(hook, 'ul0', f);
        runs++;
        assert.ok(['drop', 'pass', 'redirect'].includes(r.verdict), `frame ${i}: verdict ${r.verdict}`);
      }
      assert.equal(counter('ul0', 'rx') - rxBefore, BigInt(runs), 'every frame was seen and counted');
    });
  }

  // GSO through encapsulation is checked end to end (test/e2e): BPF_PROG_TEST_RUN
  // cannot make a TCP GSO skb (it sets gso_size but not gso_type), and
  // bpf_skb_adjust_room rightly refuses to grow a GSO skb of unknown type.
});
