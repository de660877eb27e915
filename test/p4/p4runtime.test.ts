/**
 * The P4Runtime client against a real simple_switch_grpc running esfc's
 * program: the pipeline and its cookie, write/read/modify/delete of every
 * table the agent writes (the scenario's compiled nodes as entities), the
 * default action that switches generations, counters, and errors surfaced
 * with the gRPC status and each failed update's P4Runtime error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { validateConfig } from '../../agent/config/validate-config.js';
import { compile, type Environment, type LinkInfo } from '../../agent/datapath/compile.js';
import type { NodeConfig } from '../../agent/config/types.js';
import {
  diffEntities, entityKey, GENERATION_TABLES, generationEntities, WIRING_TABLES, wiringEntities, type P4Entity,
} from '../../agent/p4/p4-entities.js';
import { P4InfoError } from '../../agent/p4/p4info.js';
import { P4RuntimeClient, P4RuntimeError } from '../../agent/p4/p4runtime-client.js';
import { planScenario, scenarioConfigs } from '../../scenario/plan.js';
import { sh } from '../../scenario/sh.js';
import { Bmv2Harness } from '../lib/bmv2-harness.js';
import { enterPrivateNetns } from '../lib/private-netns.js';

const isRoot = process.getuid?.() === 0;
const configs = scenarioConfigs(planScenario(), { pinRoot: '/sys/fs/bpf/t' });

function envFor(cfg: NodeConfig): Environment {
  const links = new Map<string, LinkInfo>();
  links.set('ul0', { name: 'ul0', ifindex: 2, mac: '02:00:0a:fa:00:01', mtu: 1600, kind: 'veth' });
  cfg.ports.forEach((p, i) => links.set(p.interface, { name: p.interface, ifindex: 10 + i, mac: `02:aa:00:00:00:${(16 + i).toString(16)}`, mtu: 1500, kind: 'veth' }));
  return { links, peerMacs: new Map(cfg.peers.map((p) => [p.name, p.mac!])), existingSlots: new Map() };
}

function entitiesOf(node: string, gen: number, mutate?: (c: NodeConfig) => void): P4Entity[] {
  const raw = JSON.parse(JSON.stringify(configs.get(node))) as NodeConfig;
  mutate?.(raw);
  const cfg = validateConfig(raw);
  const d = compile(cfg, envFor(cfg));
  return generationEntities(d, d.config, gen);
}

const canon = (es: readonly P4Entity[]): string[] =>
  es.map((e) => `${entityKey(e)} ${e.action}(${Object.keys(e.params).sort().map((k) => `${k}=${e.params[k]}`).join(',')})`).sort();

describe('P4Runtime against simple_switch_grpc', { skip: isRoot ? false : 'needs root (a private network namespace for BMv2\'s ports)' }, () => {
  let bm: Bmv2Harness | undefined;
  const wiring = wiringEntities({ mode: 'ports', ports: [{ port: 1, ifindex: 2 }, { port: 2, ifindex: 10 }] });
  const nodeA = entitiesOf('node-a', 0);
  const nodeB = entitiesOf('node-b', 1);
  // The plain scenario has no encrypted hop: an E-SPI/E-SI position in the outer table, as an EF pair makes.
  const hop = nodeB.find((e) => e.table === 'esfc_inner')!;
  // And a position with more senders than a next hop holds (esfc_peer_sources).
  nodeB.push({ table: 'esfc_peer_sources', match: { gen: { kind: 'exact', value: 1n }, saddr: { kind: 'exact', value: 0x0afa0101n }, spi: { kind: 'exact', value: 11n }, si: { kind: 'exact', value: 255n } }, action: 'peer_hit', params: {} });
  nodeB.push({ ...hop, table: 'esfc_outer', match: { gen: { kind: 'exact', value: 1n }, spi: { kind: 'exact', value: 0x100n }, si: { kind: 'exact', value: 200n } } });

  before(async () => {
    enterPrivateNetns();
    await sh(['ip', 'link', 'add', 'bm1', 'type', 'veth', 'peer', 'name', 'bm1-p']);
    await sh(['ip', 'link', 'add', 'bm2', 'type', 'veth', 'peer', 'name', 'bm2-p']);
    for (const l of ['bm1', 'bm1-p', 'bm2', 'bm2-p']) {
      // No IPv6 neighbour discovery: BMv2's counters see only what a test sends.
      await sh(['sysctl', '-qw', `net.ipv6.conf.${l}.disable_ipv6=1`]);
      await sh(['ip', 'link', 'set', l, 'up']);
    }
    bm = await Bmv2Harness.start([{ port: 1, ifname: 'bm1' }, { port: 2, ifname: 'bm2' }], { pipeline: false });
  });

  after(async () => {
    await bm?.close();
  });

  test('pipeline: none at first, then the pushed program with its cookie; a second client finds it without pushing', async () => {
    assert.equal(await bm!.client.pipelineCookie(), undefined);
    await bm!.client.setPipeline(readFileSync(bm!.paths.programJson), 0x5eedn);
    assert.equal(await bm!.client.pipelineCookie(), 0x5eedn);
    assert.deepEqual(await bm!.client.readTable(), [], 'a new pipeline starts with empty tables');
  });

  test('every table the agent writes: insert, read back equal; the scenario\'s node A (gen 0) and node B (gen 1) side by side', async () => {
    const all = [...wiring, ...nodeA, ...nodeB];
    const tables = new Set(all.map((e) => e.table));
    for (const t of [...GENERATION_TABLES, ...WIRING_TABLES]) assert.ok(tables.has(t), `the scenario exercises ${t}`);
    await bm!.client.write(all.map((entity) => ({ type: 'INSERT', entity })));
    const back = await bm!.client.readTable();
    assert.deepEqual(canon(back), canon(all));
    assert.deepEqual(diffEntities(all, back), { insert: [], modify: [], delete: [] }, 'read-back diffs to nothing');
    assert.deepEqual(canon(await bm!.client.readTable('esfc_outer')), canon(all.filter((e) => e.table === 'esfc_outer')));
  });

  test('modify and delete: a changed peer MAC is one MODIFY, a removed path only DELETEs, and BMv2 then holds exactly the new state', async () => {
    const changed = entitiesOf('node-a', 0, (c) => {
      c.peers[0]!.mac = '02:00:0a:fa:00:99';
      c.paths = c.paths.filter((p) => p.spi !== 2);
    });
    const have = (await bm!.client.readTable()).filter((e) => e.match['gen']?.kind === 'exact' && e.match['gen'].value === 0n);
    const d = diffEntities(changed, have);
    assert.equal(d.insert.length, 0);
    assert.ok(d.modify.length >= 1 && d.modify.every((e) => e.table === 'esfc_inner' || e.table === 'esfc_outer'), 'the peer MAC is in next hops only');
    assert.ok(d.delete.length >= 2 && d.delete.some((e) => e.match['spi']?.kind === 'exact' && e.match['spi'].value === 2n));
    await bm!.client.write([
      ...d.delete.map((entity) => ({ type: 'DELETE' as const, entity })),
      ...d.modify.map((entity) => ({ type: 'MODIFY' as const, entity })),
    ]);
    const back = await bm!.client.readTable();
    assert.deepEqual(canon(back), canon([...wiring, ...changed, ...nodeB]));
  });

  test('the generation switch is esfc_state\'s default action, written and read back', async () => {
    assert.deepEqual(await bm!.client.readDefault('esfc_state'), { action: 'set_gen', params: { active: 0n, generation: 0n } });
    await bm!.client.setDefault('esfc_state', 'set_gen', { active: 1n, generation: 0xfeed_0000_0001n });
    assert.deepEqual(await bm!.client.readDefault('esfc_state'), { action: 'set_gen', params: { active: 1n, generation: 0xfeed_0000_0001n } });
  });

  test('counters: every cell of esfc_counters reads, all zero before traffic', async () => {
    const cells = await bm!.client.readCounter('esfc_counters');
    assert.equal(cells.size, bm!.p4info.counter('esfc_counters').size);
    assert.ok([...cells.values()].every((c) => c.packets === 0n && c.bytes === 0n));
    const one = await bm!.client.readCounter('esfc_counters', [41]);
    assert.deepEqual([...one.keys()], [41]);
  });

  test('errors: a duplicate insert and a delete of nothing come back with the gRPC status and each failed update\'s code and entry', async () => {
    const dup = nodeB.find((e) => e.table === 'esfc_ports')!;
    const ghost: P4Entity = { ...dup, match: { ...dup.match, ifindex: { kind: 'exact', value: 4242n } } };
    const ok = { ...dup, match: { ...dup.match, ifindex: { kind: 'exact' as const, value: 4343n } } };
    await assert.rejects(bm!.client.write([
      { type: 'INSERT', entity: dup }, { type: 'INSERT', entity: ok }, { type: 'DELETE', entity: ghost },
    ]), (e: unknown) => {
      assert.ok(e instanceof P4RuntimeError, String(e));
      assert.equal(e.operation, 'Write');
      assert.deepEqual(e.updates.map((u) => [u.index, u.codeName]), [[0, 'ALREADY_EXISTS'], [2, 'NOT_FOUND']]);
      assert.equal(e.updates[0]!.update?.entity, dup);
      assert.match(e.message, /ALREADY_EXISTS.*esfc_ports\[gen=1,ifindex=/);
      return true;
    });
    // The good update in the batch went in (CONTINUE_ON_ERROR), and nothing else changed.
    assert.ok((await bm!.client.readTable('esfc_ports')).some((e) => e.match['ifindex']?.kind === 'exact' && e.match['ifindex'].value === 4343n));
    await bm!.client.write([{ type: 'DELETE', entity: ok }]);
  });

  test('errors: a value wider than its field is refused before it is sent, naming the field', async () => {
    const e0 = nodeB.find((e) => e.table === 'esfc_inner')!;
    await assert.rejects(bm!.client.write([{ type: 'INSERT', entity: { ...e0, match: { ...e0.match, si: { kind: 'exact', value: 256n } } } }]),
      (e: unknown) => e instanceof P4InfoError && /esfc_inner\.si: 256 does not fit in bit<8>/.test(e.message));
    await assert.rejects(bm!.client.write([{ type: 'INSERT', entity: { ...e0, params: { ...e0.params, bogus: 1n } } }]),
      (e: unknown) => e instanceof P4InfoError && /has no parameter bogus/.test(e.message));
  });

  test('arbitration: a second controller with a lower election id is told it is not primary (it gets no stream to write with)', async () => {
    await assert.rejects(P4RuntimeClient.connect({ address: bm!.address, protoDir: bm!.paths.protoDir, p4info: bm!.p4info, deviceId: 1, electionId: 0 }),
      (e: unknown) => e instanceof P4RuntimeError && e.operation === 'arbitration' && /not primary/.test(e.message));
  });

  test('a restarted client (same election id) takes over: same cookie, same entries, no pipeline push', async () => {
    const before = canon(await bm!.client.readTable());
    bm!.client.close();
    const c = await P4RuntimeClient.connect({ address: bm!.address, protoDir: bm!.paths.protoDir, p4info: bm!.p4info, deviceId: 1 });
    try {
      assert.equal(await c.pipelineCookie(), 0x5eedn);
      assert.deepEqual(canon(await c.readTable()), before);
      await c.setDefault('esfc_state', 'set_gen', { active: 0n, generation: 2n });
    } finally {
      c.close();
    }
  });
});
