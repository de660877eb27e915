import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig, ConfigError } from '../../agent/config/validate-config.js';
import { compile, sfIdFor, type Environment, type LinkInfo, type VethPeerInfo } from '../../agent/datapath/compile.js';
import { planMaps, type ActualTables } from '../../agent/datapath/plan.js';
import { flowKeyCodec, fromAddresses, MapName, NextHopKind, NH_F_FROM_MAP, NH_F_PEER, NH_MAX_FROM, PortKind } from '../../agent/datapath/layout.js';
import { purgeProxyFlows, type TableMap, type TableMaps } from '../../agent/datapath/tables.js';
import { planScenario, scenarioConfigs } from '../../scenario/plan.js';
import type { NodeConfig } from '../../agent/config/types.js';

const plan = planScenario();
const configs = scenarioConfigs(plan, { pinRoot: '/sys/fs/bpf/t' });

function envFor(cfg: NodeConfig, mtu = { ul: 1600, port: 1500 }): Environment {
  const links = new Map<string, LinkInfo>();
  let i = 10;
  links.set('ul0', { name: 'ul0', ifindex: 2, mac: '02:00:0a:fa:00:01', mtu: mtu.ul, kind: 'veth' });
  for (const p of cfg.ports) links.set(p.interface, { name: p.interface, ifindex: i++, mac: `02:aa:00:00:00:${i.toString(16).padStart(2, '0')}`, mtu: mtu.port, kind: 'veth' });
  return { links, peerMacs: new Map(cfg.peers.map((p) => [p.name, p.mac!])), existingSlots: new Map() };
}

const empty = (): ActualTables => ({ ports: new Map(), inner: new Map(), outer: new Map(), sources: new Map(), peerSources: new Map(), classifier: [], config: undefined });

test('node A: classifier, proxy hop to SF1, remote hop to node B, end of the reverse chain', () => {
  const cfg = validateConfig(configs.get('node-a'));
  const d = compile(cfg, envFor(cfg));
  const sf1a = d.inner.get('1/255')!;
  assert.equal(sf1a.kind, NextHopKind.proxy);
  assert.equal(sf1a.dmac, plan.nodes[0]!.sfs[0]!.armA.sfMac);
  assert.equal(sf1a.flags & NH_F_PEER, NH_F_PEER);
  const toB = d.inner.get('1/254')!;
  assert.equal(toB.kind, NextHopKind.remote);
  assert.equal(toB.daddr_be, '10.250.0.2');
  assert.equal(toB.dmac, '02:00:0a:fa:00:02');
  assert.equal(d.inner.get('2/252')!.kind, NextHopKind.end);
  assert.equal(d.classifier.length, 1);
  assert.equal(d.classifier[0]!.dst_be, '172.16.2.0');
  assert.equal(d.classifier[0]!.dst_mask_be, '255.255.255.0');
  // Both arms of SF1 may hand back SPI 1 at SI 254 (invariant 3), and nothing else on SPI 1.
  const srcs = [...d.sources.values()].filter((s) => s.spi === 1);
  assert.deepEqual(srcs.map((s) => s.si), [254, 254]);
  assert.equal([...d.ports.values()].filter((p) => p.kind === PortKind.underlay).length, 1);
  assert.ok(d.attachments.every((a) => a.hook === 'tc'), 'auto picks TC on veth ports');
});

test('plan: nothing twice, one path change is one write, removal deletes exactly it', () => {
  const cfg = validateConfig(configs.get('node-a'));
  const d = compile(cfg, envFor(cfg));
  const first = planMaps(d, empty(), 0);
  assert.ok(first.length > 5);
  const actual: ActualTables = {
    ports: d.ports, inner: d.inner, outer: d.outer, sources: d.sources, peerSources: d.peerSources, classifier: d.classifier, config: d.config,
  };
  assert.deepEqual(planMaps(d, actual, 0), [], 'the same state plans nothing');

  const changed = JSON.parse(JSON.stringify(cfg)) as NodeConfig;
  changed.peers[0]!.mac = '02:00:0a:fa:00:99';
  const d2 = compile(validateConfig(changed), envFor(changed));
  const ops = planMaps(d2, actual, 0);
  assert.deepEqual(ops.map((o) => `${o.op} ${o.what}`), ['put inner hop 1/254']);

  const removed = JSON.parse(JSON.stringify(cfg)) as NodeConfig;
  removed.paths = removed.paths.filter((p) => p.spi !== 2);
  const d3 = compile(validateConfig(removed), envFor(cfg));
  const ops3 = planMaps(d3, actual, 0);
  assert.ok(ops3.every((o) => o.op === 'delete'));
  assert.deepEqual(ops3.filter((o) => o.what.startsWith('inner')).map((o) => o.what).sort(), ['inner hop 2/252', 'inner hop 2/253']);
});

test('MTU: a port whose full-size packets cannot fit the underlay after encapsulation is refused with the fix', () => {
  const cfg = validateConfig(configs.get('node-a'));
  assert.throws(() => compile(cfg, envFor(cfg, { ul: 1500, port: 1500 })), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /raise the MTU of ul0 to 1560 or lower .* to 1440/);
    return true;
  });
});

test('XDP forced on a veth SF port is refused and says why', () => {
  const raw = JSON.parse(JSON.stringify(configs.get('node-a'))) as NodeConfig;
  raw.ports[1]!.hook = 'xdp';
  const cfg = validateConfig(raw);
  assert.throws(() => compile(cfg, envFor(cfg)), /CHECKSUM_PARTIAL/);
});

test('a missing interface is named', () => {
  const cfg = validateConfig(configs.get('node-b'));
  const env = envFor(cfg);
  (env.links as Map<string, LinkInfo>).delete('sf2b');
  assert.throws(() => compile(cfg, env), /interface sf2b does not exist/);
});

test('counter slots survive a re-plan', () => {
  const cfg = validateConfig(configs.get('node-a'));
  const env = envFor(cfg);
  const d = compile(cfg, env);
  const slots = new Map([...d.ports].map(([ifindex, p]) => [ifindex, p.slot]));
  const d2 = compile(cfg, { ...env, existingSlots: slots });
  assert.deepEqual(new Map([...d2.ports].map(([i, p]) => [i, p.slot])), slots);
});

test('SF ids come from the function name: reordering or removing other SFs changes no id', () => {
  const cfg = validateConfig(configs.get('node-a'));
  const ids = (c: NodeConfig) => new Map(c.ports.filter((p) => p.function).map((p) => [p.function!, [...compile(c, envFor(c)).ports.values()].find((x) => x.mac === envFor(c).links.get(p.interface)!.mac)!.sf_id]));
  const before = ids(cfg);
  const reordered = JSON.parse(JSON.stringify(cfg)) as NodeConfig;
  reordered.ports.reverse();
  const extra = JSON.parse(JSON.stringify(cfg)) as NodeConfig;
  extra.ports.unshift({ name: 'fw0', interface: 'fw0', kind: 'sf', hook: 'auto', peerMac: '02:00:00:00:f0:01', function: 'firewall', forwardOam: false });
  for (const c of [reordered, extra]) {
    const after = ids(validateConfig(c));
    for (const [fn, id] of before) assert.equal(after.get(fn), id, `${fn} kept its id`);
  }
  assert.notEqual(ids(validateConfig(extra)).get('firewall'), before.get('sf1'));
  assert.equal(sfIdFor('sf1'), before.get('sf1'));
  // A collision moves to the next free id, never 0.
  assert.equal(sfIdFor('sf1', new Set([sfIdFor('sf1')])), sfIdFor('sf1') + 1);
});

test('an interface with ifindex 70000 is a port like any other (esfc_ports_big holds it)', () => {
  const cfg = validateConfig(configs.get('node-a'));
  const env = envFor(cfg);
  const l = env.links.get('sf1a')!;
  (env.links as Map<string, LinkInfo>).set('sf1a', { ...l, ifindex: 70000 });
  const d = compile(cfg, env);
  assert.ok(d.ports.has(70000));
  const ops = planMaps(d, empty(), 1);
  assert.ok(ops.some((o) => o.map === 'esfc_ports_big' && o.key.readUInt32LE(0) === 70000 && o.key.readUInt32LE(4) === 1), 'written to the hash for generation 1');
  assert.ok(ops.filter((o) => o.map === 'esfc_ports').every((o) => o.key.readUInt32LE(0) >= 65536 && o.key.readUInt32LE(0) < 2 * 65536), 'array entries of generation 1');
});

test('XDP on a veth underlay: refused when a transit hop would XDP_TX into a peer without an XDP program, warned when the peer is not visible', () => {
  const plan2 = planScenario({ sfCount: 2, sfNodes: [0, 2] });
  const b = scenarioConfigs(plan2, { pinRoot: '/sys/fs/bpf/t', transit: 'node-b', underlayHook: 'xdp' }).get('node-b')!;
  const cfg = validateConfig(JSON.parse(JSON.stringify(b)));
  const base = envFor(cfg);
  const peer = (p: VethPeerInfo['peer']): Environment => ({ ...base, vethPeers: new Map([['ul0', p ? { peer: p } : {}]]) });
  assert.throws(() => compile(cfg, peer({ ifname: 'p1', netns: 'ul', xdp: false, gro: true })), /XDP on ul0 sends frames into veth ul0 .*no XDP program.*attach an XDP program to p1 in netns ul/s);
  assert.ok(compile(cfg, peer({ ifname: 'p1', netns: 'ul', xdp: true, gro: false })));
  const warned = compile(cfg, peer(undefined));
  assert.equal(warned.warnings[0]?.event, 'xdp_delivery_unknown');
  // With TC on the underlay nothing is asked of the peer.
  const tc = validateConfig({ ...JSON.parse(JSON.stringify(b)), underlay: { ...b.underlay, hook: 'tc' } });
  assert.deepEqual(compile(tc, peer({ ifname: 'p1', xdp: false, gro: false })).warnings, []);
});

test('peer sources: what each peer may send over the underlay is in the next hop itself, no lookup more', () => {
  const cfg = validateConfig(configs.get('node-b'));
  const d = compile(cfg, envFor(cfg));
  assert.deepEqual(d.inner.get('1/254')?.from_be, fromAddresses(['10.250.0.1']));
  assert.deepEqual(d.inner.get('2/254')?.from_be, fromAddresses(['10.250.0.3']));
  // A position that never arrives over the underlay accepts nobody there.
  const local = [...d.inner.entries()].filter(([id]) => id !== '1/254' && id !== '2/254');
  assert.ok(local.length > 0);
  for (const [id, nh] of local) assert.deepEqual(nh.from_be, Buffer.alloc(4 * NH_MAX_FROM), id);
  assert.equal(d.peerSources.size, 0);
});

test('peer sources: a position with more senders than a next hop holds goes to esfc_peer_sources, flagged', () => {
  const b = JSON.parse(JSON.stringify(configs.get('node-b'))) as NodeConfig;
  const extra = [1, 2, 3, 4, 5].map((i) => ({ name: `p${i}`, address: `10.250.1.${i}`, mac: `02:00:00:00:01:0${i}` }));
  b.peers.push(...extra);
  const hop = b.paths.flatMap((p) => p.hops).find((h) => h.from?.length)!;
  hop.from = extra.map((p) => p.name);
  const cfg = validateConfig(b);
  const d = compile(cfg, envFor(cfg));
  const nh = [...d.inner.values()].find((x) => x.flags & NH_F_FROM_MAP)!;
  assert.ok(nh, 'the next hop says its senders are in the map');
  assert.deepEqual(nh.from_be, Buffer.alloc(4 * NH_MAX_FROM));
  assert.deepEqual([...d.peerSources.values()].map((k) => k.saddr_be).sort(), extra.map((p) => p.address));
  // Four fit in the next hop.
  hop.from = extra.slice(0, 4).map((p) => p.name);
  const d4 = compile(validateConfig(b), envFor(validateConfig(b)));
  assert.equal(d4.peerSources.size, 0);
  assert.ok([...d4.inner.values()].some((x) => x.from_be?.equals(fromAddresses(extra.slice(0, 4).map((p) => p.address)))));
});

test('proxy state of SFs that left the configuration is purged, the rest kept', () => {
  const entries = new Map<string, Buffer>();
  const key = (sf: number, port: number): Buffer => flowKeyCodec.encode({ sf_id: sf, saddr_be: '172.16.1.1', daddr_be: '172.16.2.1', sport_be: port, dport_be: 80, proto: 6 });
  for (const [sf, port] of [[11, 1], [11, 2], [22, 3], [33, 4]] as const) entries.set(key(sf, port).toString('hex'), Buffer.alloc(28));
  const map: TableMap = {
    maxEntries: 100,
    lookup: (k) => entries.get(k.toString('hex')),
    update: (k, v) => { entries.set(k.toString('hex'), v); },
    delete: (k) => { entries.delete(k.toString('hex')); },
    keys: () => [...entries.keys()].map((h) => Buffer.from(h, 'hex')),
  };
  const maps = { [MapName.proxyFlows]: map } as unknown as TableMaps;
  assert.equal(purgeProxyFlows(maps, new Set([11, 33])), 3);
  assert.deepEqual([...entries.keys()], [key(22, 3).toString('hex')]);
});

test('a punt port is attached like any virtual port (TC on a veth: frames from BMv2 come in there), and warned about when narrower than the widest port plus the slow-path header', () => {
  const raw = JSON.parse(JSON.stringify(configs.get('node-a')));
  raw.ports.push({ name: 'punt', interface: 'punt0', kind: 'punt' });
  const cfg = validateConfig(raw);
  const env = envFor(cfg);
  const l = env.links.get('punt0')!;
  const d = compile(cfg, env);
  assert.deepEqual(d.attachments.find((a) => a.port === 'punt'), { port: 'punt', ifname: 'punt0', ifindex: l.ifindex, hook: 'tc' });
  assert.equal(d.config.punt_ifindex, l.ifindex);
  assert.equal(d.ports.get(l.ifindex)!.kind, PortKind.punt);
  assert.equal(d.slotNames.get(d.ports.get(l.ifindex)!.slot), 'punt');
  const w = d.warnings.find((x) => x.event === 'punt_mtu');
  assert.match(String(w?.fields.fix), /raise the MTU of punt0 and its peer to 1618/, 'the underlay (1600) is the widest');
  const links = new Map(env.links);
  links.set('punt0', { ...l, mtu: 1618 });
  assert.deepEqual(compile(cfg, { ...env, links }).warnings.filter((x) => x.event === 'punt_mtu'), []);
});

test('XDP on a veth underlay: the punt veth is one of the veths XDP sends frames into (its peer needs GRO or an XDP program)', () => {
  const plan2 = planScenario({ sfCount: 2, sfNodes: [0, 2] });
  const b = JSON.parse(JSON.stringify(scenarioConfigs(plan2, { pinRoot: '/sys/fs/bpf/t', transit: 'node-b', underlayHook: 'xdp' }).get('node-b')!));
  b.ports.push({ name: 'punt', interface: 'punt0', kind: 'punt' });
  const cfg = validateConfig(b);
  const base = envFor(cfg);
  const links = new Map(base.links);
  links.set('punt0', { ...links.get('punt0')!, mtu: 1618 });
  const env = (punt: VethPeerInfo['peer']): Environment => ({
    ...base, links,
    vethPeers: new Map([['ul0', { peer: { ifname: 'p1', xdp: true, gro: false } }], ['punt0', { peer: punt }]]),
  });
  assert.throws(() => compile(cfg, env({ ifname: 'punt0-p', netns: 'bmv2', xdp: false, gro: false })), /sends frames into veth punt0 \(frames the fast path cannot handle are punted into it.*ethtool -K punt0-p gro on in netns bmv2/s);
  assert.ok(compile(cfg, env({ ifname: 'punt0-p', netns: 'bmv2', xdp: false, gro: true })));
});
