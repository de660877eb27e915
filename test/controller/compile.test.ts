/**
 * The intent compiler, without root: DESIGN.md's scenario written as intent
 * compiles to the configs the encrypted-hop tests run; invariant-breaking
 * intent is refused with the reason; numbers stay put under edits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeConfig } from '../../agent/config/types.js';
import { validateConfig } from '../../agent/config/validate-config.js';
import { compileIntent, IntentError } from '../../controller/intent/compile.js';
import { emptyAllocations, type Allocations } from '../../controller/intent/allocations.js';
import type { Intent } from '../../controller/intent/types.js';
import { intentFromDoc } from '../../controller/intent/from-doc.js';
import { decode, loadSchema } from '../../controller/yang/index.js';
import { DESIGN_FLOWS, scenarioIntent, VIDEO_FLOW } from '../../scenario/intent.js';
import { encryptedConfigs, espiOf, planEncryptedScenario, type EncryptedPlan } from '../../scenario/encrypted.js';

const nsOf = (ef: string): string => `ns-${ef}`;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** DESIGN.md's scenario as intent (scenario/intent.ts), checked against the YANG model, as the compiler sees it. */
function scenarioIntentOf(ep: EncryptedPlan, withVideo = false): Intent {
  const doc = scenarioIntent(ep.base, { efs: ep.efs, nsOf, flows: [...DESIGN_FLOWS, ...(withVideo ? [VIDEO_FLOW] : [])] });
  const d = decode(loadSchema(), doc, {});
  assert.ok(d.ok, `the scenario's intent does not fit the YANG model: ${d.ok ? '' : JSON.stringify(d.errors)}`);
  return intentFromDoc(d.value as Record<string, unknown>);
}

/** The numbers the hand-written test configs use, as if an earlier compilation had handed them out. */
function testNumbers(): Allocations {
  const a = emptyAllocations();
  a.spis = { 'mail/forward': 10, 'mail/reverse': 11, 'web/forward': 20, 'web/reverse': 21 };
  a.espis = {
    'mail/forward/sf1>sf3/ef1>ef2': espiOf(10, 0), 'mail/reverse/sf3>sf1/ef2>ef1': espiOf(11, 0),
    'web/forward/sf1>sf2/ef3>ef4': espiOf(20, 0), 'web/forward/sf2>sf3/ef5>ef6': espiOf(20, 1), 'web/reverse/sf3>sf2/ef6>ef5': espiOf(21, 0), 'web/reverse/sf2>sf1/ef4>ef3': espiOf(21, 1),
  };
  a.nextSpi = 100;
  a.nextEspi = 10_000;
  return a;
}

const withoutKeys = (c: NodeConfig): NodeConfig => ({ ...clone(c), encryptedHops: c.encryptedHops.map((h) => ({ ...h, keys: [] })) });

test('DESIGN.md\'s scenario as intent compiles to exactly the per-node configs the encrypted-hop tests run', () => {
  const ep = planEncryptedScenario();
  const compiled = compileIntent(scenarioIntentOf(ep), testNumbers());
  const expected = encryptedConfigs(ep, { pinRoot: '/sys/fs/bpf/esfc', nsOf });
  for (const [node, want] of expected) {
    const got = compiled.nodes.get(node)!;
    assert.deepEqual(got, { ...withoutKeys(want), paths: [...want.paths].sort((a, b) => (a.layer === b.layer ? a.spi - b.spi : a.layer === 'sf' ? -1 : 1)), encryptedHops: withoutKeys(want).encryptedHops.sort((a, b) => a.espi - b.espi || a.role.localeCompare(b.role)) }, node);
    // With keys, it is a config the agent accepts.
    const keyed = clone(got);
    for (const h of keyed.encryptedHops) h.keys = [{ spi: 0x1000 + h.espi, epoch: 1, key: 'ab'.repeat(20) }];
    validateConfig(keyed);
  }
  assert.deepEqual(compiled.pairs.map((p) => `${p.espi}:${p.enc.node}/${p.enc.ef}>${p.dec.node}/${p.dec.ef}`).sort(), [
    '1000:node-a/ef1>node-c/ef2', '1100:node-c/ef2>node-a/ef1', '2000:node-a/ef3>node-b/ef4', '2001:node-b/ef5>node-c/ef6', '2100:node-c/ef6>node-b/ef5', '2101:node-b/ef4>node-a/ef3',
  ]);
});

test('a flow that is not sensitive crosses ISP-B without EFs', () => {
  const ep = planEncryptedScenario();
  const compiled = compileIntent(scenarioIntentOf(ep, true), testNumbers());
  const video = compiled.allocations.spis['video/forward']!;
  const b = compiled.nodes.get('node-b')!;
  const hops = b.paths.find((p) => p.spi === video && p.layer === 'sf')!.hops;
  assert.deepEqual(hops.map((h) => [h.si, h.to, h.from]), [[254, { port: 'sf2a' }, ['node-a']], [253, { node: 'node-c' }, undefined]]);
  assert.ok(!compiled.pairs.some((p) => p.flow === 'video'));
});

test('numbers are stable: adding, editing and removing one flow renumbers nothing else, and freed numbers are not reused', () => {
  const ep = planEncryptedScenario();
  const intent = scenarioIntentOf(ep, true);
  const first = compileIntent(intent, emptyAllocations());
  const before = clone(first.allocations);
  // Insert SF2 into the mail chain: the mail pair sf1>sf3 becomes sf1>sf2 and sf2>sf3.
  const edited = clone(intent);
  edited.chains[0]!.serviceFunctions = ['sf1', 'sf2', 'sf3'];
  const second = compileIntent(edited, first.allocations);
  // The edited flow's paths get new SPIs (make before break: the old ones forward what is in flight); no other path moves.
  for (const id of Object.keys(before.spis).filter((x) => !x.startsWith('mail/'))) assert.equal(second.allocations.spis[id], before.spis[id], id);
  for (const id of ['mail/forward', 'mail/reverse']) assert.ok(second.allocations.spis[id]! >= before.nextSpi, `${id} has a new SPI`);
  for (const id of Object.keys(before.espis).filter((x) => !x.startsWith('mail/'))) assert.equal(second.allocations.espis[id], before.espis[id], id);
  const espiOfPair = (a: Allocations, prefix: string): number | undefined => Object.entries(a.espis).find(([k]) => k.startsWith(prefix))?.[1];
  assert.ok(espiOfPair(before, 'mail/forward/sf1>sf3/') !== undefined, 'the mail pair was there');
  assert.equal(espiOfPair(second.allocations, 'mail/forward/sf1>sf3/'), undefined, 'the old pair is gone');
  assert.ok(espiOfPair(second.allocations, 'mail/forward/sf1>sf2/')! >= before.nextEspi, 'new pairs take new numbers');
  // Other flows' node configs are untouched where the mail chain does not pass.
  const webOnly = (c: NodeConfig, spis: number[]) => c.paths.filter((p) => spis.includes(p.spi));
  const web = [first.allocations.spis['web/forward']!, first.allocations.spis['web/reverse']!];
  for (const n of ['node-a', 'node-b', 'node-c']) assert.deepEqual(webOnly(second.nodes.get(n)!, web), webOnly(first.nodes.get(n)!, web), n);
  // Removing video frees its SPIs for good.
  const without = clone(edited);
  without.flows = without.flows.filter((f) => f.name !== 'video');
  const third = compileIntent(without, second.allocations);
  assert.equal(third.allocations.spis['video/forward'], undefined);
  const again = compileIntent(edited, third.allocations);
  assert.ok(again.allocations.spis['video/forward']! > before.spis['video/forward']!, 'a new SPI, not the old one');
  // The same intent twice: the same configs.
  assert.deepEqual(compileIntent(edited, second.allocations).nodes, second.nodes);
});

const refused: { name: string; edit: (i: Intent) => void; path: string; problem: RegExp }[] = [
  { name: 'a sensitive flow through ISP-B with no EF slot on node B (invariant 1 cannot hold)', edit: (i) => { i.nodes[1]!.efs = []; }, path: '/esfc-intent:nodes/node=node-b/encryption-function', problem: /needs an encryption function on node-b/ },
  { name: 'a flow on another tenant\'s chain', edit: (i) => { i.flows[0]!.tenant = 'mallory'; }, path: '/esfc-intent:flows/flow=mail/tenant', problem: /belongs to tenant acme/ },
  { name: 'a chain with an unknown SF', edit: (i) => { i.chains[0]!.serviceFunctions = ['sf1', 'sf9']; }, path: '/esfc-intent:chains/chain=mail-chain/service-function', problem: /no service function named sf9/ },
  { name: 'an SF behind a port of the wrong kind', edit: (i) => { i.serviceFunctions[0]!.nshAware = true; }, path: '/esfc-intent:service-functions/service-function=sf1/ingress-port', problem: /NSH-aware SF sits behind sf ports/ },
  { name: 'a flow entering through an SF port', edit: (i) => { i.flows[0]!.ingress.port = 'sf1a'; }, path: '/esfc-intent:flows/flow=mail/ingress/port', problem: /not an edge port/ },
  { name: 'an EF slot behind a port that is not an ef port', edit: (i) => { i.nodes[0]!.efs[0]!.port = 'sf1a'; }, path: '/esfc-intent:nodes/node=node-a/encryption-function=ef1/port', problem: /not an ef port/ },
  { name: 'a node in an unknown domain', edit: (i) => { i.nodes[2]!.domain = 'isp-z'; }, path: '/esfc-intent:nodes/node=node-c/domain', problem: /no domain named isp-z/ },
  { name: 'two SFs on one port', edit: (i) => { i.serviceFunctions[1]!.node = 'node-a'; i.serviceFunctions[1]!.ingressPort = 'sf1a'; }, path: '/esfc-intent:service-functions/service-function=sf2', problem: /already belongs to sf1/ },
];
for (const r of refused) {
  test(`refused with the reason: ${r.name}`, () => {
    const i = scenarioIntentOf(planEncryptedScenario());
    r.edit(i);
    assert.throws(() => compileIntent(i, emptyAllocations()), (e: unknown) => {
      assert.ok(e instanceof IntentError);
      const p = e.problems.find((x) => x.path === r.path);
      assert.ok(p, `no problem at ${r.path}: ${JSON.stringify(e.problems)}`);
      assert.match(p.problem, r.problem);
      assert.ok(p.fix.length > 10);
      return true;
    });
  });
}

test('an EF reported down: its pairs move to another EF slot of the node, as new pairs (new E-SPI, new keys) on new paths; the others stay', () => {
  const ep = planEncryptedScenario();
  const intent = scenarioIntentOf(ep);
  const first = compileIntent(intent, emptyAllocations());
  const ends = (c: typeof first) => c.pairs.map((p) => `${p.flow}/${p.direction}:${p.enc.node}/${p.enc.ef}>${p.dec.node}/${p.dec.ef}=${p.espi}`).sort();
  const mailFwd = first.pairs.find((p) => p.flow === 'mail' && p.direction === 'forward')!;
  assert.equal(`${mailFwd.enc.node}/${mailFwd.enc.ef}`, 'node-a/ef1');
  const moved = compileIntent(intent, first.allocations, { failedEfs: new Set(['node-a/ef1']) });
  const mailFwd2 = moved.pairs.find((p) => p.flow === 'mail' && p.direction === 'forward')!;
  assert.equal(`${mailFwd2.enc.node}/${mailFwd2.enc.ef}`, 'node-a/ef3', 'the other slot of node A');
  assert.ok(mailFwd2.espi >= first.allocations.nextEspi, 'a new pair: a new E-SPI, so the key store makes new keys');
  assert.ok(moved.allocations.spis['mail/forward']! >= first.allocations.nextSpi, 'a new path: make before break');
  assert.ok(!moved.pairs.some((p) => (p.enc.node === 'node-a' && p.enc.ef === 'ef1') || (p.dec.node === 'node-a' && p.dec.ef === 'ef1')), 'nothing left on ef1');
  // Web never used ef1: untouched.
  assert.deepEqual(ends(moved).filter((x) => x.startsWith('web/')), ends(first).filter((x) => x.startsWith('web/')));
  assert.equal(moved.allocations.spis['web/forward'], first.allocations.spis['web/forward']);
  // Every EF of node A down: the pairs stay (their flows fail closed) and the controller says so.
  const none = compileIntent(intent, first.allocations, { failedEfs: new Set(['node-a/ef1', 'node-a/ef3']) });
  assert.match(none.notes.map((n) => n.problem).join(), /every encryption function of node-a is reported down/);
});
