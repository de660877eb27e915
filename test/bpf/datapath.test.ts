/**
 * The forwarding core through BPF_PROG_TEST_RUN, on both hooks with the same
 * cases: byte-exact output for classify/proxy/encap/decap/NSH-aware/end of
 * chain, every drop reason hit and counted.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { validateConfig } from '../../agent/config/validate-config.js';
import type { NodeConfig } from '../../agent/config/types.js';
import { compile } from '../../agent/datapath/compile.js';
import { planMaps } from '../../agent/datapath/plan.js';
import { applyOps, readActivePorts, readGenerations, readState, writeState } from '../../agent/datapath/tables.js';
import { KernelDatapath, readCounters } from '../../agent/datapath/kernel-datapath.js';
import { receivedPerSlot } from '../../agent/datapath/stat-names.js';
import { fromAddresses, MapName, slowPathDecode, slowPathEncode, NextHopKind, NH_F_EF, NH_F_FROM_MAP, nextHopCodec, pathKeyCodec, peerSrcKeyCodec, PROBE_MAGIC, PROBE_PORT, probeSeenCodec, STAT_MAX, STAT_PUNT } from '../../agent/datapath/layout.js';
import { probeFrame, probeMapReader } from '../../agent/liveness/probe.js';
import { listLinks } from '../../agent/node/links.js';
import { skbContext, testRun, xdpContext } from '../../agent/kernel/test-run.js';
import { enterPrivateNetns } from '../lib/private-netns.js';
import { takeSnapshot } from '../../agent/status/take-snapshot.js';
import { eth, flowPort, fragment, ipv4, nsh, tcp, underlay, gpe, udp } from '../../scenario/frames.js';
import { checkForwarding, decodeFrame } from '../lib/nsh-oracle.js';
import { counterDelta, differences, type RecordedCase } from '../lib/differential.js';
import { Bmv2Replay } from '../lib/bmv2-replay.js';
import { generationEntities, type P4Entity } from '../../agent/p4/p4-entities.js';
import { bmv2Missing } from '../lib/bmv2-harness.js';

const isRoot = process.getuid?.() === 0;
const PIN = `/sys/fs/bpf/esfc-test-dp-${process.pid}`;
const MAC = {
  ul: '02:00:0a:fa:00:01', nodeB: '02:00:0a:fa:00:02', nodeC: '02:00:0a:fa:00:03',
  edge: '02:00:00:00:0a:01', client: '02:00:00:00:0c:01',
  sf1a: '02:00:00:00:1a:01', sf1aPeer: '02:00:00:00:1a:02',
  sf1b: '02:00:00:00:1b:01', sf1bPeer: '02:00:00:00:1b:02',
  nsf: '02:00:00:00:2a:01', nsfPeer: '02:00:00:00:2a:02',
  big: '02:00:00:00:3a:01', bigPeer: '02:00:00:00:3a:02',
  punt: '02:00:00:00:4a:01',
};
const BIG_IFINDEX = 70000;
const TC = { OK: 0, SHOT: 2, REDIRECT: 7 };
const XDP = { DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 };

const config: NodeConfig = validateConfig({
  apiVersion: 'esfc.io/v1alpha1',
  node: { name: 'unit', pinDir: PIN },
  underlay: { interface: 'ul0', address: '10.250.0.1', hook: 'auto' },
  peers: [{ name: 'node-b', address: '10.250.0.2', mac: MAC.nodeB }, { name: 'node-c', address: '10.250.0.3', mac: MAC.nodeC }],
  ports: [
    { name: 'client', interface: 'edge-c', kind: 'edge', peerMac: MAC.client },
    { name: 'sf1a', interface: 'sf1a', kind: 'sf-proxy', function: 'sf1', peerMac: MAC.sf1aPeer },
    { name: 'sf1b', interface: 'sf1b', kind: 'sf-proxy', function: 'sf1', peerMac: MAC.sf1bPeer },
    { name: 'nsf', interface: 'nsf', kind: 'sf', function: 'nsf1', peerMac: MAC.nsfPeer },
    // An interface whose ifindex does not fit the esfc_ports array (hosts with thousands of interfaces).
    { name: 'big', interface: 'big0', kind: 'sf', function: 'bigsf', peerMac: MAC.bigPeer },
  ],
  paths: [
    { spi: 1, hops: [{ si: 255, to: { port: 'sf1a' } }, { si: 254, to: { node: 'node-b' } }] },
    { spi: 2, hops: [{ si: 253, to: { port: 'sf1b' }, from: 'node-b' }, { si: 252, to: { deliver: 'client' } }] },
    { spi: 9, hops: [{ si: 255, to: { port: 'nsf' }, from: 'node-b' }, { si: 254, to: { node: 'node-b' } }] },
    { spi: 10, hops: [{ si: 255, to: { port: 'nsf' } }, { si: 254, to: { deliver: 'client' } }] },
    // Node B hands SPI 3 at SI 200 to this node, which passes it on to node C: a transit hop.
    { spi: 3, hops: [{ si: 200, to: { node: 'node-c' }, from: ['node-b'] }] },
    // The end of a chain whose payload is an Ethernet frame (NSH Next Protocol 0x3).
    { spi: 4, hops: [{ si: 250, to: { deliver: 'client' }, from: 'node-b' }] },
    // From node B through NSH-unaware SF1 and back to node B: NSH leaves and comes back.
    { spi: 5, hops: [{ si: 240, to: { port: 'sf1a' }, from: 'node-b' }, { si: 239, to: { node: 'node-b' } }] },
    { spi: 6, hops: [{ si: 255, to: { port: 'big' }, from: 'node-b' }, { si: 254, to: { node: 'node-b' } }] },
  ],
  classifier: [
    { port: 'client', destination: '172.16.2.0/24', protocol: 'tcp', destinationPorts: { from: 25, to: 25 }, spi: 1 },
    // No ports: every fragment of a datagram can follow this rule.
    { port: 'client', destination: '172.16.3.0/24', spi: 10 },
  ],
});

const C = { ip: '172.16.1.1', port: 40000 };
const S = { ip: '172.16.2.1', port: 25 };
const payload = Buffer.from('esfc-marker-7f3a');
const inner = (ttl = 64): Buffer => ipv4({ src: C.ip, dst: S.ip, proto: 6, ttl }, tcp(C.ip, S.ip, C.port, S.port, payload));
const sport = flowPort(C.ip, S.ip, C.port, S.port, 6);
const innerRev = ipv4({ src: S.ip, dst: C.ip, proto: 6 }, tcp(S.ip, C.ip, S.port, C.port, payload));

/** The slow-path header, built here from docs/protocol.md rather than by the agent's helper. */
const spHdr = (ifi: number): Buffer => {
  const h = Buffer.from('02e5fc00000002e5fc00000088b500000000', 'hex');
  h.writeUInt32BE(ifi >>> 0, 14);
  return h;
};

/** A frame from node B over the underlay. */
const ulFrame = (n: Buffer, payloadAfter = inner()): Buffer => Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), underlay({ src: '10.250.0.2', dst: '10.250.0.1', sport: 50002 }, Buffer.concat([n, payloadAfter]))]);

let dp: KernelDatapath | undefined;
/** Every drop case, filled while the suites are declared, for the coverage check at the end. */
const dropCases: { stat: string }[] = [];
let linksNow: Awaited<ReturnType<typeof listLinks>> | undefined;
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

/**
 * Every frame the TC cases run, with what the eBPF core did: replayed through
 * BMv2 at the end of the file (the differential suite), so each case here is
 * also a case there.
 */
const recorded: RecordedCase[] = [];
const slotNamesSeen = new Map<number, string>();
/*
 * Reading both generations back costs thousands of syscalls, so a generation's
 * tables are read once per test: tests change tables in hooks, or stage the
 * inactive generation and switch to it, never the active one mid-test.
 */
let tablesEpoch = 0;
let lastTables: { key: string; entities: P4Entity[] } | undefined;

/** The generation's tables as they are in the maps now, as P4Runtime entities (one object while unchanged). */
function tablesNow(gen: number): P4Entity[] {
  if (lastTables?.key === `${tablesEpoch}/${gen}`) return lastTables.entities;
  const t = readGenerations(dp!.maps)[gen]!;
  assert.ok(t.config, `generation ${gen} has no config`);
  const entities = generationEntities(t, t.config, gen);
  const same = lastTables && JSON.stringify(entities, big) === JSON.stringify(lastTables.entities, big);
  lastTables = { key: `${tablesEpoch}/${gen}`, entities: same ? lastTables!.entities : entities };
  return lastTables.entities;
}
const big = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

type Hook = 'xdp' | 'tc';
function run(hook: Hook, port: string, frame: Buffer, gso?: { segs: number; size: number }) {
  const ifi = ifindex.get(port === 'client' ? 'edge-c' : port === 'big' ? 'big0' : port)!;
  assert.ok(ifi, `no interface for port ${port}`);
  if (hook === 'tc') {
    // Frames from BMv2 itself (the punt port) and GSO skbs have no BMv2 counterpart.
    const record = !gso && port !== 'punt0';
    const before = record ? dp!.readCounters() : undefined;
    const r = testRun(dp!.programFd('tc'), { data: frame, ctx: skbContext({ ifindex: ifi, gsoSegs: gso?.segs, gsoSize: gso?.size }) });
    const verdict = r.retval === TC.REDIRECT ? 'redirect' : r.retval === TC.SHOT ? 'drop' : r.retval === TC.OK ? 'pass' : `tc${r.retval}`;
    if (before) {
      const gen = readState(dp!.maps).active;
      for (const [slot, n] of dp!.slotNames) slotNamesSeen.set(slot, n);
      recorded.push({ port, ifindex: ifi, frame: Buffer.from(frame), gen, tables: tablesNow(gen), verdict, data: Buffer.from(r.data), counted: counterDelta(before, dp!.readCounters()) });
    }
    return { verdict, data: r.data, ctx: r.ctx };
  }
  const r = testRun(dp!.programFd('xdp'), { data: frame, ctx: xdpContext({ ingressIfindex: ifi, dataLen: frame.length }) });
  return { verdict: r.retval === XDP.REDIRECT || r.retval === XDP.TX ? 'redirect' : r.retval === XDP.DROP ? 'drop' : r.retval === XDP.PASS ? 'pass' : `xdp${r.retval}`, data: r.data, ctx: r.ctx };
}


describe('forwarding core (BPF_PROG_TEST_RUN)', { skip: isRoot ? false : 'needs root (BPF and a private network namespace)' }, () => {
  beforeEach(() => { tablesEpoch++; });
  before(async () => {
    enterPrivateNetns();
    const mk = (name: string, mac: string, mtu: number) => execFileSync('ip', ['link', 'add', name, 'mtu', String(mtu), 'address', mac, 'type', 'veth', 'peer', 'name', `${name}-p`]);
    mk('ul0', MAC.ul, 1600);
    mk('edge-c', MAC.edge, 1500);
    mk('sf1a', MAC.sf1a, 1500);
    mk('sf1b', MAC.sf1b, 1500);
    mk('nsf', MAC.nsf, 1500);
    // The slow path's veth: the underlay's MTU plus the slow-path header.
    mk('punt0', MAC.punt, 1600 + 18);
    execFileSync('ip', ['link', 'add', 'big0', 'index', String(BIG_IFINDEX), 'address', MAC.big, 'type', 'veth', 'peer', 'name', 'big0-p']);
    const links = await listLinks();
    linksNow = links;
    for (const [n, l] of links) ifindex.set(n, l.ifindex);
    dp = KernelDatapath.open(PIN, 'unit-test');
    const desired = compile(config, { links, peerMacs: new Map([['node-b', MAC.nodeB], ['node-c', MAC.nodeC]]), existingSlots: new Map() });
    // As the agent does: write the inactive generation (1 on a fresh datapath), then switch to it.
    assert.equal(readState(dp.maps).active, 0);
    applyOps(dp.maps, planMaps(desired, readGenerations(dp.maps)[1]!, 1));
    writeState(dp.maps, { active: 1, generation: 1n });
    dp.slotNames = desired.slotNames;
    stats = new Map([...dp.statNames].map(([v, s]) => [v, s.name]));
    // An EF-layer entry so MD3 forwarding has somewhere to go, which node B may send.
    dp.maps[MapName.outer].update(pathKeyCodec.encode({ spi: 0x100, si: 200, gen: 1 }), nextHopCodec.encode({
      kind: NextHopKind.remote, ifindex: ifindex.get('ul0')!, flags: 0, mtu: 1600, saddr_be: '10.250.0.1', daddr_be: '10.250.0.2', smac: MAC.ul, dmac: MAC.nodeB, sf_id: 0,
      from_be: fromAddresses(['10.250.0.2']),
    }));
    // A position whose next hop is an EF port, which node B may send: what a misplaced EF would get
    // (the agent never configures this; the datapath still refuses plaintext for an EF from the underlay).
    dp.maps[MapName.inner].update(pathKeyCodec.encode({ spi: 8, si: 255, gen: 1 }), nextHopCodec.encode({
      kind: NextHopKind.local, ifindex: ifindex.get('nsf')!, flags: NH_F_EF, mtu: 1500, saddr_be: '0.0.0.0', daddr_be: '0.0.0.0', smac: MAC.nsf, dmac: MAC.nsfPeer, sf_id: 0,
      from_be: fromAddresses(['10.250.0.2']),
    }));
    // A position with more senders than a next hop holds: they are in esfc_peer_sources (node B among them).
    dp.maps[MapName.inner].update(pathKeyCodec.encode({ spi: 11, si: 255, gen: 1 }), nextHopCodec.encode({
      kind: NextHopKind.local, ifindex: ifindex.get('nsf')!, flags: NH_F_FROM_MAP, mtu: 1500, saddr_be: '0.0.0.0', daddr_be: '0.0.0.0', smac: MAC.nsf, dmac: MAC.nsfPeer, sf_id: 0,
    }));
    for (const saddr_be of ['10.250.0.2', '10.250.1.1', '10.250.1.2', '10.250.1.3', '10.250.1.4']) {
      dp.maps[MapName.peerSources].update(peerSrcKeyCodec.encode({ saddr_be, spi: 11, si: 255, gen: 1 }), Buffer.from([1, 0, 0, 0]));
    }
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

      test('a position with more underlay senders than its next hop holds: a sender listed in esfc_peer_sources passes, another does not', () => {
        const from = (src: string, mac: string): Buffer => Buffer.concat([eth(MAC.ul, mac, 0x0800),
          underlay({ src, dst: '10.250.0.1', sport: 50003 }, Buffer.concat([nsh({ spi: 11, si: 255, ttl: 10 }), inner()]))]);
        const r = run(hook, 'ul0', from('10.250.0.2', MAC.nodeB));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data, Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x894f), nsh({ spi: 11, si: 255, ttl: 9 }), inner()]));
        const before = counter('ul0', 'drop_peer_source');
        assert.equal(run(hook, 'ul0', from('10.250.0.3', MAC.nodeC)).verdict, 'drop');
        assert.equal(counter('ul0', 'drop_peer_source'), before + 1n);
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

      test('TTL: an incoming 0 is decremented to 63 and forwarded (RFC 8300 2.2: the field wraps)', () => {
        const r = run(hook, 'ul0', ulFrame(nsh({ spi: 9, si: 255, ttl: 0 })));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data.subarray(14, 14 + 24), nsh({ spi: 9, si: 255, ttl: 63 }));
      });

      test('transit hop: from node B straight on to node C (TTL-1, outer addresses rewritten, entropy kept)', () => {
        const body = (ttl: number) => Buffer.concat([nsh({ spi: 3, si: 200, ttl }), inner()]);
        const r = run(hook, 'ul0', Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), underlay({ src: '10.250.0.2', dst: '10.250.0.1', sport: 51234 }, body(30))]));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data.toString('hex'), Buffer.concat([eth(MAC.nodeC, MAC.ul, 0x0800), underlay({ src: '10.250.0.1', dst: '10.250.0.3', sport: 51234 }, body(29))]).toString('hex'));
      });

      test('end of chain with an Ethernet payload (Next Protocol 0x3): delivered as the Ethernet frame it is', () => {
        const arp = Buffer.concat([eth('ff:ff:ff:ff:ff:ff', '02:00:00:00:99:01', 0x0806), Buffer.from('0001080006040001020000009901ac100101000000000000ac100102', 'hex')]);
        const r = run(hook, 'ul0', ulFrame(nsh({ spi: 4, si: 250, nextProto: 3 }), arp));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data.toString('hex'), arp.toString('hex'));
      });

      test('fragments a rule without ports matches are classified, every one of them', () => {
        const toNet3 = ipv4({ src: C.ip, dst: '172.16.3.1', proto: 17 }, udp(4000, 53, Buffer.alloc(64, 7)));
        for (const f of [fragment(toNet3, { mf: true, offset: 0 }), fragment(toNet3, { mf: false, offset: 10 })]) {
          const r = run(hook, 'client', Buffer.concat([eth(MAC.edge, MAC.client, 0x0800), f]));
          assert.equal(r.verdict, 'redirect');
          assert.deepEqual(r.data.subarray(0, 14 + 24), Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x894f), nsh({ spi: 10, si: 255, ttl: 62 })]));
        }
        // Fragments no rule could match are not esfc's business.
        const udpTo2 = ipv4({ src: C.ip, dst: S.ip, proto: 17 }, udp(4000, 25, Buffer.alloc(64)));
        assert.equal(run(hook, 'client', Buffer.concat([eth(MAC.edge, MAC.client, 0x0800), fragment(udpTo2, { mf: true, offset: 0 })])).verdict, 'pass');
      });

      test('a port whose ifindex is beyond the array (70000) forwards through the hash fallback, both ways', () => {
        const r = run(hook, 'ul0', ulFrame(nsh({ spi: 6, si: 255, ttl: 10 })));
        assert.equal(r.verdict, 'redirect');
        assert.deepEqual(r.data.subarray(0, 14 + 8), Buffer.concat([eth(MAC.bigPeer, MAC.big, 0x894f), nsh({ spi: 6, si: 255, ttl: 9 }).subarray(0, 8)]));
        const back = run(hook, 'big0', Buffer.concat([eth(MAC.big, MAC.bigPeer, 0x894f), nsh({ spi: 6, si: 254, ttl: 9 }), inner()]));
        assert.equal(back.verdict, 'redirect');
        assert.equal(back.data.subarray(14 + 16, 14 + 20).join('.'), '10.250.0.2', 'VXLAN-GPE to node B');
      });

      // RFC 8300 2.2: unassigned bits "MUST be ignored and preserved unmodified".
      const unassigned = [{ at: 0, bit: 0x10, name: 'the U bit after O' }, ...[0x10, 0x20, 0x40, 0x80].map((bit) => ({ at: 2, bit, name: `unassigned bit 0x${bit.toString(16)} before MD type` }))];
      for (const u of unassigned) {
        const flag = (n: Buffer): Buffer => { const c = Buffer.from(n); c[u.at] = c[u.at]! | u.bit; return c; };
        test(`${u.name} is preserved: SF -> remote, underlay -> SF, transit, and across the NSH-unaware SF proxy`, () => {
          const ctx = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
          const a = run(hook, 'nsf', Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), flag(nsh({ spi: 9, si: 254, ttl: 9, context: ctx })), inner()]));
          assert.equal(a.verdict, 'redirect');
          assert.deepEqual(a.data.subarray(14 + 36, 14 + 36 + 24), flag(nsh({ spi: 9, si: 254, ttl: 8, context: ctx })));
          const b = run(hook, 'ul0', ulFrame(flag(nsh({ spi: 9, si: 255, ttl: 10 }))));
          assert.deepEqual(b.data.subarray(14, 14 + 24), flag(nsh({ spi: 9, si: 255, ttl: 9 })));
          const c = run(hook, 'ul0', ulFrame(flag(nsh({ spi: 3, si: 200, ttl: 30 }))));
          assert.deepEqual(c.data.subarray(14 + 36, 14 + 36 + 24), flag(nsh({ spi: 3, si: 200, ttl: 29 })));
          // Through the proxy: NSH is stripped towards SF1 and rebuilt (SI-1) when SF1 hands the flow back.
          const flow = ipv4({ src: '172.16.5.1', dst: '172.16.6.1', proto: 17 }, udp(7000 + u.bit, 8000, payload));
          const out = run(hook, 'ul0', ulFrame(flag(nsh({ spi: 5, si: 240, ttl: 40, context: ctx })), flow));
          assert.deepEqual(out.data, Buffer.concat([eth(MAC.sf1aPeer, MAC.sf1a, 0x0800), flow]));
          const ret = run(hook, 'sf1b', Buffer.concat([eth(MAC.sf1b, MAC.sf1bPeer, 0x0800), flow]));
          assert.equal(ret.verdict, 'redirect');
          assert.deepEqual(ret.data.subarray(14 + 36, 14 + 36 + 24), flag(nsh({ spi: 5, si: 239, ttl: 38, context: ctx })));
        });
      }

      // Every RFC 8300 rule (and each of esfc's own) has its own counter.
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
        { name: 'plaintext NSH for an EF port from the underlay (a misplaced EF, invariant 2)', port: 'ul0', stat: 'drop_layer', frame: () => ulFrame(nsh({ spi: 8, si: 255 })) },
        { name: 'a valid position injected from the transit network (no peer address)', port: 'ul0', stat: 'drop_peer_source', frame: () => Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), underlay({ src: '10.250.0.9', dst: '10.250.0.1', sport: 50002 }, Buffer.concat([nsh({ spi: 2, si: 253 }), innerRev]))]) },
        { name: 'a peer sending a position assigned to another peer', port: 'ul0', stat: 'drop_peer_source', frame: () => Buffer.concat([eth(MAC.ul, MAC.nodeC, 0x0800), underlay({ src: '10.250.0.3', dst: '10.250.0.1', sport: 50002 }, Buffer.concat([nsh({ spi: 2, si: 253 }), innerRev]))]) },
        { name: 'an MD type 3 position injected from the transit network', port: 'ul0', stat: 'drop_peer_source', frame: () => Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), underlay({ src: '10.250.0.9', dst: '10.250.0.1', sport: 50002 }, Buffer.concat([nsh({ spi: 9, si: 255, mdType: 3, md3: { espi: 0x100, esi: 200, e: true, epoch: 1 } }), Buffer.alloc(40)]))]) },
        { name: 'a first fragment of a flow a port-scoped rule could match', port: 'client', stat: 'drop_fragment', frame: () => Buffer.concat([eth(MAC.edge, MAC.client, 0x0800), fragment(inner(), { mf: true, offset: 0 })]) },
        { name: 'a later fragment (no ports) of such a flow', port: 'client', stat: 'drop_fragment', frame: () => Buffer.concat([eth(MAC.edge, MAC.client, 0x0800), fragment(inner(), { mf: false, offset: 185 })]) },
      ];
      dropCases.push(...drops);
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

      // The slow path (docs/protocol.md "Slow-path header"): BMv2 behind the punt port.
      describe('slow path: punt port with the slow-path header', () => {
        let saved: { state: ReturnType<typeof readState>; slotNames: Map<number, string> } | undefined;
        before(() => {
          // The same node with a punt port, in the other generation, switched in for these tests only.
          const withPunt = validateConfig({ ...JSON.parse(JSON.stringify(config)), ports: [...JSON.parse(JSON.stringify(config.ports)), { name: 'punt0', interface: 'punt0', kind: 'punt' }] });
          const existingSlots = new Map([...readActivePorts(dp!.maps)].map(([ifi, p]) => [ifi, p.slot]));
          const desired = compile(withPunt, { links: linksNow!, peerMacs: new Map([['node-b', MAC.nodeB], ['node-c', MAC.nodeC]]), existingSlots });
          assert.ok(desired.attachments.some((a) => a.ifname === 'punt0' && a.hook === 'tc'), 'the punt port is attached (TC on a veth)');
          assert.equal(desired.config.punt_ifindex, ifindex.get('punt0'));
          const state = readState(dp!.maps);
          saved = { state, slotNames: dp!.slotNames };
          const other = 1 - state.active;
          applyOps(dp!.maps, planMaps(desired, readGenerations(dp!.maps)[other]!, other));
          writeState(dp!.maps, { active: other, generation: state.generation + 1n });
          dp!.slotNames = desired.slotNames;
        });
        after(() => {
          if (!saved) return;
          writeState(dp!.maps, saved.state);
          dp!.slotNames = saved.slotNames;
        });

        const tlvs9 = Array.from({ length: 9 }, (_, i) => ({ cls: 0x0101, type: i + 1, value: Buffer.from([i, i, i, i]) }));
        const punted: { name: string; port: string; frame: () => Buffer }[] = [
          { name: 'MD type 2 with 9 TLVs (more than the fast path walks)', port: 'ul0', frame: () => ulFrame(nsh({ spi: 9, si: 255, mdType: 2, tlvs: tlvs9 })) },
          { name: 'an unknown MD type', port: 'ul0', frame: () => ulFrame(nsh({ spi: 9, si: 255, mdType: 5, lengthWords: 2 })) },
          { name: 'OAM (O bit) on a port without OAM forwarding', port: 'ul0', frame: () => ulFrame(nsh({ spi: 9, si: 255, oam: true })) },
          { name: 'MD type 2 with 9 TLVs from an NSH-aware SF', port: 'nsf', frame: () => Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), nsh({ spi: 9, si: 254, mdType: 2, tlvs: tlvs9 }), inner()]) },
        ];
        for (const c of punted) {
          test(`punted: ${c.name} -> slow-path header naming the ingress port + the frame as it arrived`, () => {
            const f = c.frame();
            const before = counter(c.port, 'punt');
            const r = run(hook, c.port, f);
            assert.equal(r.verdict, 'redirect');
            assert.equal(r.data.toString('hex'), Buffer.concat([spHdr(ifindex.get(c.port)!), f]).toString('hex'));
            assert.deepEqual(slowPathDecode(r.data), { ifindex: ifindex.get(c.port)!, frame: f });
            assert.equal(counter(c.port, 'punt'), before + 1n);
          });
        }

        const back: { name: string; to: string; frame: () => Buffer }[] = [
          { name: 'Ethernet/NSH to an NSH-aware SF', to: 'nsf', frame: () => Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x894f), nsh({ spi: 9, si: 255, ttl: 9, mdType: 2, tlvs: tlvs9 }), inner()]) },
          { name: 'VXLAN-GPE/NSH out of the underlay', to: 'ul0', frame: () => Buffer.concat([eth(MAC.nodeB, MAC.ul, 0x0800), underlay({ src: '10.250.0.1', dst: '10.250.0.2', sport }, Buffer.concat([nsh({ spi: 9, si: 254, ttl: 8, oam: true }), inner()]))]) },
          { name: 'a plain frame to a port beyond the ifindex array (esfc_ports_big)', to: 'big0', frame: () => Buffer.concat([eth(MAC.bigPeer, MAC.big, 0x0800), inner()]) },
        ];
        for (const c of back) {
          test(`from the slow path: ${c.name} -> header popped, sent out of the named port, counted slow_path`, () => {
            const f = c.frame();
            const before = counter('punt0', 'slow_path');
            const r = run(hook, 'punt0', Buffer.concat([spHdr(ifindex.get(c.to)!), f]));
            assert.equal(r.verdict, 'redirect');
            assert.equal(r.data.toString('hex'), f.toString('hex'));
            assert.equal(counter('punt0', 'slow_path'), before + 1n);
          });
        }

        test('a frame from the slow path is never punted again, whatever it carries', () => {
          // An unknown MD type would be punted from any other port; from BMv2 it just leaves.
          const f = Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x894f), nsh({ spi: 9, si: 255, mdType: 5, lengthWords: 2 }), inner()]);
          const punts = counter('punt0', 'punt');
          const r = run(hook, 'punt0', Buffer.concat([spHdr(ifindex.get('nsf')!), f]));
          assert.equal(r.verdict, 'redirect');
          assert.deepEqual(r.data, f);
          assert.equal(counter('punt0', 'punt'), punts);
        });

        const plain = Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x0800), inner()]);
        const refused: { name: string; stat: string; frame: () => Buffer }[] = [
          { name: 'not a slow-path frame (IPv4)', stat: 'drop_slow_path_egress', frame: () => plain },
          { name: 'not a slow-path frame (NSH)', stat: 'drop_slow_path_egress', frame: () => Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x894f), nsh({ spi: 9, si: 255 }), inner()]) },
          { name: 'naming an interface that is no esfc port (lo)', stat: 'drop_slow_path_egress', frame: () => Buffer.concat([spHdr(1), plain]) },
          { name: 'naming an ifindex that does not exist', stat: 'drop_slow_path_egress', frame: () => Buffer.concat([spHdr(0xfffffff0), plain]) },
          { name: 'naming the punt port itself', stat: 'drop_slow_path_egress', frame: () => Buffer.concat([spHdr(ifindex.get('punt0')!), plain]) },
          { name: 'a slow-path header with no Ethernet frame behind it', stat: 'drop_malformed', frame: () => Buffer.concat([spHdr(ifindex.get('nsf')!), plain.subarray(0, 13)]) },
          { name: 'a slow-path header cut short', stat: 'drop_malformed', frame: () => spHdr(ifindex.get('nsf')!).subarray(0, 16) },
        ];
        for (const d of refused) {
          test(`from the slow path, dropped: ${d.name} -> ${d.stat}`, () => {
            const before = counter('punt0', d.stat);
            const slowPath = counter('punt0', 'slow_path');
            const r = run(hook, 'punt0', d.frame());
            assert.equal(r.verdict, 'drop');
            assert.equal(counter('punt0', d.stat), before + 1n);
            assert.equal(counter('punt0', 'slow_path'), slowPath);
          });
        }
        dropCases.push({ stat: 'drop_slow_path_egress' });

        test('status shows the punt port\'s counters under their BTF names (slow_path, drop_slow_path_egress) and its received count', () => {
          const rows = takeSnapshot(dp!, 'unit', PIN, 1).counters.filter((c) => c.port === 'punt0');
          const row = (stat: string) => rows.find((c) => c.stat === stat);
          assert.ok(row('slow_path')!.packets > 0n);
          assert.equal(row('slow_path')!.drop, false);
          assert.ok(row('drop_slow_path_egress')!.packets > 0n);
          assert.equal(row('drop_slow_path_egress')!.drop, true);
          assert.ok(row('rx')!.packets >= row('slow_path')!.packets + row('drop_slow_path_egress')!.packets);
        });
      });

      // Liveness probes (bpf/lib/probe.h): what the agent sends into an NSH-unaware SF, back out of it.
      describe('liveness probes', () => {
        const sfIdOf = (iface: string): number => readActivePorts(dp!.maps).get(ifindex.get(iface)!)!.sf_id;
        const probeTo = { srcMac: MAC.sf1a, dstMac: MAC.sf1aPeer, source: '192.0.2.1', destination: '192.0.2.2' };
        /** The frame as the SF hands it back (routed: TTL 63, new MACs), built independently of the agent's builder. */
        const back = (sfId: number, seq: number, o: { magic?: bigint; cut?: number; toPort?: number } = {}): Buffer => {
          const pl = Buffer.alloc(24);
          pl.writeBigUInt64BE(o.magic ?? PROBE_MAGIC, 0);
          pl.writeUInt32BE(sfId, 8);
          pl.writeUInt32BE(seq, 12);
          pl.writeBigUInt64BE(123456789n, 16);
          const f = Buffer.concat([eth(MAC.sf1b, MAC.sf1bPeer, 0x0800), ipv4({ src: probeTo.source, dst: probeTo.destination, proto: 17, ttl: 63 }, udp(PROBE_PORT, o.toPort ?? PROBE_PORT, pl))]);
          return o.cut ? f.subarray(0, f.length - o.cut) : f;
        };
        const seen = (sfId: number) => {
          const k = Buffer.alloc(4);
          k.writeUInt32LE(sfId);
          const v = dp!.maps[MapName.probe].lookup(k);
          return v ? probeSeenCodec.decode(v) : undefined;
        };

        test('the agent builds the frame byte for byte as specified (Ethernet/IPv4 TTL 64, DF, checksum/UDP to the probe port/magic, sf_id, seq, time)', () => {
          const pl = Buffer.alloc(24);
          pl.write('ESFCprob', 0, 'latin1');
          pl.writeUInt32BE(7, 8);
          pl.writeUInt32BE(0xfffffffe, 12);
          pl.writeBigUInt64BE(42n, 16);
          const want = Buffer.concat([eth(MAC.sf1aPeer, MAC.sf1a, 0x0800), ipv4({ src: probeTo.source, dst: probeTo.destination, proto: 17, ttl: 64 }, udp(PROBE_PORT, PROBE_PORT, pl))]);
          assert.equal(probeFrame({ ...probeTo, sfId: 7 }, 0xfffffffe, 42n).toString('hex'), want.toString('hex'));
        });

        test('a probe of the port\'s SF coming back is recorded (time, seq, count) and consumed, on either arm', () => {
          const sfId = sfIdOf('sf1b');
          assert.ok(sfId > 0);
          assert.equal(sfIdOf('sf1a'), sfId, 'both arms of SF1 share its id');
          const before = seen(sfId);
          const probesBefore = counter('sf1b', 'probe');
          const t0 = process.hrtime.bigint();
          const r = run(hook, 'sf1b', back(sfId, 1000));
          assert.equal(r.verdict, 'drop');
          const s = seen(sfId);
          assert.ok(s, 'no esfc_probe entry');
          assert.equal(s.seq, 1000);
          assert.equal(s.count, (before?.count ?? 0) + 1);
          assert.ok(s.ns >= t0 && s.ns <= process.hrtime.bigint(), 'bpf_ktime_get_ns is the agent\'s CLOCK_MONOTONIC');
          assert.equal(counter('sf1b', 'probe'), probesBefore + 1n);
          // The other arm, and the agent's own reader.
          assert.equal(run(hook, 'sf1a', Buffer.concat([eth(MAC.sf1a, MAC.sf1aPeer, 0x0800), back(sfId, 1001).subarray(14)])).verdict, 'drop');
          assert.deepEqual(probeMapReader(dp!.maps[MapName.probe])(sfId)?.seq, 1001);
          assert.equal(seen(sfId)!.count, (before?.count ?? 0) + 2);
          // A frame from the agent's builder is recognised too (what the SF routes back unchanged but for TTL).
          const own = probeFrame({ ...probeTo, sfId }, 1002, process.hrtime.bigint());
          assert.equal(run(hook, 'sf1b', own).verdict, 'drop');
          assert.equal(seen(sfId)!.seq, 1002);
        });

        const normal: { name: string; port: string; frame: (sfId: number) => Buffer; verdict: string; stat: string }[] = [
          { name: 'another SF\'s id', port: 'sf1b', frame: (id) => back(id + 1, 5), verdict: 'drop', stat: 'drop_proxy_state' },
          { name: 'a wrong magic', port: 'sf1b', frame: (id) => back(id, 5, { magic: PROBE_MAGIC ^ 1n }), verdict: 'drop', stat: 'drop_proxy_state' },
          { name: 'a payload one byte short', port: 'sf1b', frame: (id) => back(id, 5, { cut: 1 }), verdict: 'drop', stat: 'drop_proxy_state' },
          { name: 'another UDP port', port: 'sf1b', frame: (id) => back(id, 5, { toPort: PROBE_PORT + 1 }), verdict: 'drop', stat: 'drop_proxy_state' },
          { name: 'an NSH-aware SF port', port: 'nsf', frame: () => Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x0800), back(sfIdOf('nsf'), 5).subarray(14)]), verdict: 'pass', stat: 'pass' },
          { name: 'an edge port', port: 'client', frame: (id) => Buffer.concat([eth(MAC.edge, MAC.client, 0x0800), back(id, 5).subarray(14)]), verdict: 'pass', stat: 'pass' },
        ];
        for (const n of normal) {
          test(`not a probe of this SF: ${n.name} takes the usual path (${n.stat}), nothing recorded`, () => {
            const sfId = sfIdOf('sf1b');
            const frame = n.frame(sfId);
            const sfIdInFrame = frame.length >= 14 + 20 + 8 + 12 ? frame.readUInt32BE(14 + 20 + 8 + 8) : sfId;
            const mine = seen(sfId);
            const theirs = seen(sfIdInFrame);
            const before = counter(n.port, n.stat);
            const probes = counter(n.port, 'probe');
            const r = run(hook, n.port, frame);
            assert.equal(r.verdict, n.verdict);
            assert.equal(counter(n.port, n.stat), before + 1n);
            assert.equal(counter(n.port, 'probe'), probes);
            assert.deepEqual(seen(sfId), mine, 'the SF\'s entry is untouched');
            assert.deepEqual(seen(sfIdInFrame), theirs, 'no entry for the id in the frame');
          });
        }
      });

      test('VXLAN-GPE for another address is left to the stack', () => {
        const f = Buffer.concat([eth(MAC.ul, MAC.nodeB, 0x0800), underlay({ src: '10.250.0.2', dst: '10.250.0.9', sport: 1 }, Buffer.concat([nsh({ spi: 9, si: 255 }), inner()]))]);
        assert.equal(run(hook, 'ul0', f).verdict, 'pass');
      });
    });
  }

  test('tc: a header push the kernel refuses is dropped and counted (drop_adjust)', () => {
    // BPF_PROG_TEST_RUN sets gso_size but no gso_type: adjust_room refuses to grow such a GSO skb.
    run('tc', 'client', Buffer.concat([eth(MAC.edge, MAC.client, 0x0800), inner()]));
    const before = counter('sf1b', 'drop_adjust');
    const r = run('tc', 'sf1b', Buffer.concat([eth(MAC.sf1b, MAC.sf1bPeer, 0x0800), inner(63)]), { segs: 4, size: 1000 });
    assert.equal(r.verdict, 'drop');
    assert.equal(counter('sf1b', 'drop_adjust'), before + 1n);
  });

  test('tc: a slow-path frame that arrives as a GSO skb cannot be popped: dropped and counted (drop_adjust)', () => {
    const withPunt = validateConfig({ ...JSON.parse(JSON.stringify(config)), ports: [...JSON.parse(JSON.stringify(config.ports)), { name: 'punt0', interface: 'punt0', kind: 'punt' }] });
    const existingSlots = new Map([...readActivePorts(dp!.maps)].map(([ifi, p]) => [ifi, p.slot]));
    const desired = compile(withPunt, { links: linksNow!, peerMacs: new Map([['node-b', MAC.nodeB], ['node-c', MAC.nodeC]]), existingSlots });
    const state = readState(dp!.maps);
    const slotNames = dp!.slotNames;
    const other = 1 - state.active;
    applyOps(dp!.maps, planMaps(desired, readGenerations(dp!.maps)[other]!, other));
    writeState(dp!.maps, { active: other, generation: state.generation + 1n });
    dp!.slotNames = desired.slotNames;
    try {
      const f = Buffer.concat([spHdr(ifindex.get('nsf')!), eth(MAC.nsfPeer, MAC.nsf, 0x0800), inner()]);
      const before = counter('punt0', 'drop_adjust');
      const r = run('tc', 'punt0', f, { segs: 4, size: 1000 });
      assert.equal(r.verdict, 'drop');
      assert.equal(counter('punt0', 'drop_adjust'), before + 1n);
      // The same frame, not GSO, goes through.
      assert.equal(run('tc', 'punt0', f).verdict, 'redirect');
    } finally {
      writeState(dp!.maps, state);
      dp!.slotNames = slotNames;
    }
  });

  test('the agent\'s slow-path helpers: the header as docs/protocol.md specifies, and back', () => {
    const f = Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x0800), inner()]);
    assert.equal(slowPathEncode(0x01020304, f).toString('hex'), Buffer.concat([spHdr(0x01020304), f]).toString('hex'));
    assert.deepEqual(slowPathDecode(slowPathEncode(70000, f)), { ifindex: 70000, frame: f });
    assert.equal(slowPathDecode(f), undefined, 'not a slow-path frame');
    assert.equal(slowPathDecode(spHdr(5)), undefined, 'no frame behind the header');
  });

  test('generations: a new rule set is staged unseen and switched in with one write, and back', () => {
    const frame = Buffer.concat([eth(MAC.edge, MAC.client, 0x0800), inner()]);
    const viaSf1 = Buffer.concat([eth(MAC.sf1aPeer, MAC.sf1a, 0x0800), inner()]);
    assert.deepEqual(run('tc', 'client', frame).data, viaSf1);
    const changed = validateConfig({ ...JSON.parse(JSON.stringify(config)), classifier: [{ port: 'client', destination: '172.16.2.0/24', spi: 10 }] });
    const desired = compile(changed, { links: linksNow!, peerMacs: new Map([['node-b', MAC.nodeB], ['node-c', MAC.nodeC]]), existingSlots: new Map() });
    const state = readState(dp!.maps);
    const other = 1 - state.active;
    applyOps(dp!.maps, planMaps(desired, readGenerations(dp!.maps)[other]!, other));
    try {
      assert.deepEqual(run('tc', 'client', frame).data, viaSf1, 'staged, not yet in force');
      writeState(dp!.maps, { active: other, generation: state.generation + 1n });
      const r = run('tc', 'client', frame);
      assert.deepEqual(r.data.subarray(0, 14 + 8), Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x894f), nsh({ spi: 10, si: 255, ttl: 62 }).subarray(0, 8)]), 'the new rule set in force');
    } finally {
      writeState(dp!.maps, state);
    }
    assert.deepEqual(run('tc', 'client', frame).data, viaSf1, 'switched back with one write');
  });

  for (const hook of ['tc', 'xdp'] as const) {
    test(`${hook}: malformed, truncated and random frames: every one counted, every forwarded one well-formed with SI and TTL as RFC 8300 says`, () => {
      // Deterministic pseudo-random bytes, so a failure can be replayed.
      let seed = 0x2545f491;
      const rnd = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32; };
      // Starting points: underlay -> NSH-aware SF, SF -> underlay, and a transit hop (underlay -> underlay).
      const starts: { port: string; frame: Buffer; headerEnd: number }[] = [
        { port: 'ul0', frame: ulFrame(nsh({ spi: 9, si: 255, ttl: 10 })), headerEnd: 14 + 36 + 24 },
        { port: 'nsf', frame: Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), nsh({ spi: 9, si: 254, ttl: 9, context: Buffer.alloc(16, 0x5a) }), inner()]), headerEnd: 14 + 24 },
        { port: 'ul0', frame: ulFrame(nsh({ spi: 3, si: 200, ttl: 30, mdType: 2, tlvs: [{ cls: 0x0101, type: 9, value: Buffer.from('tlv-v') }] })), headerEnd: 14 + 36 + 24 },
      ];
      const payloadProblem = (p: string): boolean => /^(inner |)IPv[46] /.test(p) || p.startsWith('inner ');
      const rxBefore = counter('ul0', 'rx') + counter('nsf', 'rx');
      let runs = 0;
      let forwarded = 0;
      const check = (label: string, port: string, input: Buffer): void => {
        const r = run(hook, port, input);
        runs++;
        assert.ok(['drop', 'pass', 'redirect'].includes(r.verdict), `${label}: verdict ${r.verdict}`);
        if (r.verdict !== 'redirect') return;
        forwarded++;
        const inD = decodeFrame(input);
        const outD = decodeFrame(r.data);
        if (inD.ok) {
          // A well-formed frame leaves well-formed, one SFF further along its path.
          assert.ok(outD.ok, `${label}: forwarded a broken frame: ${outD.ok ? '' : outD.problems.join('; ')}`);
          assert.deepEqual(checkForwarding(inD, outD, ['sff']), [], `${label}: ${input.toString('hex')}`);
        } else {
          // esfc does not read payloads, but what it writes and every header it acts on must be valid.
          const broken = outD.ok ? [] : outD.problems.filter((p) => !payloadProblem(p));
          assert.deepEqual(broken, [], `${label}: forwarded with broken headers (input problems: ${inD.problems.join('; ')})`);
        }
      };
      for (const [n, st] of starts.entries()) {
        // Every truncation inside the headers. BPF_PROG_TEST_RUN refuses frames under 14
        // bytes, and on TC IPv4 frames under 34 (it builds the skb with an IP header).
        for (let len = hook === 'tc' && st.port === 'ul0' ? 34 : 14; len < st.headerEnd; len++) {
          check(`start ${n} cut at ${len}`, st.port, st.frame.subarray(0, len));
        }
        // Lying Length fields: every value 0..63 for MD types 1, 2 and 3.
        const nshAt = st.port === 'ul0' ? 14 + 36 : 14;
        for (const md of [1, 2, 3]) {
          for (let words = 0; words < 64; words++) {
            const f = Buffer.from(st.frame);
            f[nshAt + 1] = (f[nshAt + 1]! & 0xc0) | words;
            f[nshAt + 2] = (f[nshAt + 2]! & 0xf0) | md;
            check(`start ${n} MD${md} Length ${words}`, st.port, f);
          }
        }
        // Random bit flips in the headers.
        for (let i = 0; i < 1000; i++) {
          const f = Buffer.from(st.frame);
          for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) f[Math.floor(rnd() * st.headerEnd)] ^= 1 << Math.floor(rnd() * 8);
          check(`start ${n} flips #${i}`, st.port, f);
        }
      }
      // Random garbage.
      for (let i = 0; i < 500; i++) {
        const f = Buffer.from(Array.from({ length: 34 + Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)));
        check(`garbage #${i}`, i % 2 ? 'ul0' : 'nsf', f);
      }
      assert.ok(forwarded > 100, `only ${forwarded} of ${runs} frames were forwarded: the mutations should leave many valid`);
      assert.equal(counter('ul0', 'rx') + counter('nsf', 'rx') - rxBefore, BigInt(runs), 'every frame was seen and counted');
    });
  }

  test('every drop reason the datapath knows is hit by a test in this file', () => {
    const reasons = [...dp!.statNames.values()].filter((n) => n.drop).map((n) => n.name).sort();
    const hit = new Set(['drop_adjust', ...dropCases.map((d) => d.stat)]);
    assert.deepEqual(reasons.filter((r) => !hit.has(r)), []);
  });

  // GSO through encapsulation is checked end to end (test/e2e): BPF_PROG_TEST_RUN
  // cannot make a TCP GSO skb (it sets gso_size but not gso_type), and
  // bpf_skb_adjust_room rightly refuses to grow a GSO skb of unknown type.
});

/**
 * The differential suite: every TC frame above, replayed through the P4
 * program on BMv2 wired as the slow path, with the same tables. What the eBPF
 * core forwarded BMv2 must forward to the same port with the same bytes; what
 * it dropped or passed BMv2 must not send; both count the same cell. What the
 * eBPF core punts is exactly what BMv2 is for: it must not punt it again.
 */

describe('the P4 program on BMv2 decides as the eBPF core (differential)', { skip: !isRoot ? 'needs root' : bmv2Missing() }, () => {
  test('every TC frame of this file through BMv2: same verdict, same output bytes and port, same counter', { timeout: 30 * 60_000 }, async () => {
    assert.ok(recorded.length > 3000, `only ${recorded.length} frames recorded`);
    const cellName = (cell: number): string => `${slotNamesSeen.get(Math.floor(cell / STAT_MAX)) ?? `slot${Math.floor(cell / STAT_MAX)}`}/${stats.get(cell % STAT_MAX) ?? cell % STAT_MAX}`;
    const byMac = new Map([...linksNow!.values()].map((l) => [l.mac, l.ifindex]));
    const egressOf = (mac: Buffer): number | undefined => byMac.get([...mac].map((b) => b.toString(16).padStart(2, '0')).join(':'));
    // The slow path's class: what the eBPF core punts, or drops for want of a punt port.
    const slowPathStats = new Set([STAT_PUNT, ...[...stats].filter(([, n]) => n === 'drop_no_punt_port' || n === 'drop_oam').map(([v]) => v)]);
    assert.equal(slowPathStats.size, 3);
    const isPunt = (c: RecordedCase): boolean => [...c.counted.keys()].some((cell) => slowPathStats.has(cell % STAT_MAX));
    const sending = new Set([...stats].filter(([, n]) => ['fwd_local', 'fwd_proxy', 'fwd_remote', 'end_of_chain', 'punt', 'slow_path'].includes(n)).map(([v]) => v));
    assert.equal(sending.size, 6);
    const replay = await Bmv2Replay.start([...new Set([...linksNow!.values()].map((l) => l.ifindex))], sending);
    const failures: string[] = [];
    let forwarded = 0;
    let slowForwarded = 0;
    try {
      const t0 = Date.now();
      for (const c of recorded.filter((c) => !isPunt(c))) {
        await replay.load(c.tables, c.gen);
        const o = await replay.replay(c.ifindex, c.frame);
        if (o.output) forwarded++;
        const d = differences(c, o, cellName, egressOf);
        if (d.length) failures.push(`${c.port} ${c.frame.toString('hex')}: ${d.join('; ')}`);
      }
      // What the eBPF core punts (or would, given a punt port), BMv2 handles: counted once, never punted again.
      const punted = recorded.filter(isPunt);
      assert.ok(punted.length >= 20, `only ${punted.length} frames of the slow path's class recorded`);
      for (const c of punted) {
        await replay.load(c.tables, c.gen);
        const o = await replay.replay(c.ifindex, c.frame);
        const total = [...o.counted.values()].reduce((a, b) => a + b, 0n);
        const again = [...o.counted.keys()].some((cell) => cell % STAT_MAX === STAT_PUNT);
        if (total !== 1n || again) failures.push(`punted ${c.port} ${c.frame.toString('hex')}: BMv2 counted ${[...o.counted].map(([k, n]) => `${cellName(k)}+${n}`).join(' ')}`);
        if (o.output) {
          slowForwarded++;
          // Forwarded one SFF further along its path, headers well-formed.
          const inD = decodeFrame(c.frame);
          const outD = decodeFrame(o.output.frame);
          if (inD.ok && (!outD.ok || checkForwarding(inD, outD, ['sff']).length)) failures.push(`punted ${c.port} ${c.frame.toString('hex')}: BMv2 forwarded it wrongly: ${o.output.frame.toString('hex')}`);
        }
      }
      const strays = await replay.drain();
      assert.deepEqual(strays.map((f) => f.toString('hex')), [], 'BMv2 sent frames no case accounts for');
      console.log(`differential: ${recorded.length} frames (${punted.length} of the slow path's class, ${slowForwarded} of them forwarded by BMv2), ${forwarded} forwarded by both, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      await replay.close();
    }
    assert.equal(failures.length, 0, `${failures.length} of ${recorded.length} frames differ; the first:\n${failures.slice(0, 15).join('\n')}`);
  });
});
