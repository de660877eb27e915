import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig, ConfigError } from '../../agent/config/validate-config.js';
import { compile, type Environment, type LinkInfo } from '../../agent/datapath/compile.js';
import { planMaps, type ActualTables } from '../../agent/datapath/plan.js';
import { NextHopKind, NH_F_PEER, PortKind } from '../../agent/datapath/layout.js';
import { planScenario, scenarioConfigs } from '../lib/scenario.js';
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
