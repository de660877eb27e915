/**
 * Soft provisioning, pure: a chain edit goes make -> switch -> break, every
 * intermediate state is one the agents accept, the old path keeps forwarding
 * until the classifier has moved, and nothing is left of it at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeConfig } from '../../agent/config/types.js';
import { validateConfig } from '../../agent/config/validate-config.js';
import { compileIntent } from '../../controller/intent/compile.js';
import { emptyAllocations } from '../../controller/intent/allocations.js';
import { intentFromDoc } from '../../controller/intent/from-doc.js';
import { phases } from '../../controller/rollout.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, PLAIN_FLOW, scenarioIntent } from '../../scenario/intent.js';

const keyed = (c: NodeConfig): NodeConfig => ({ ...c, encryptedHops: c.encryptedHops.map((h) => ({ ...h, keys: [{ spi: 0x1000 + h.espi, epoch: 1, key: 'ab'.repeat(20) }] })) });
const spisOf = (c: NodeConfig): number[] => c.paths.filter((p) => p.layer === 'sf').map((p) => p.spi).sort((a, b) => a - b);
const classified = (c: NodeConfig): number[] => [...new Set(c.classifier.map((r) => r.spi))].sort((a, b) => a - b);

test('SF1 -> SF2 -> SF3 becomes SF1 -> SF3 and back: make, switch, break; every state valid; the old path lives until nothing is classified onto it', () => {
  const plan = planEncryptedScenario().base;
  const doc = scenarioIntent(plan, { flows: [PLAIN_FLOW] });
  const first = compileIntent(intentFromDoc(doc), emptyAllocations());
  const short = structuredClone(doc) as { 'esfc-intent:chains': { chain: { 'service-function': string[] }[] } };
  short['esfc-intent:chains'].chain[0]!['service-function'] = ['sf1', 'sf3'];
  const second = compileIntent(intentFromDoc(short as Record<string, unknown>), first.allocations);
  const oldFwd = first.allocations.spis['all/forward']!;
  const newFwd = second.allocations.spis['all/forward']!;
  assert.notEqual(newFwd, oldFwd, 'the changed path has a new SPI');

  const steps = phases(first.nodes, second.nodes);
  assert.deepEqual(steps.map((s) => s.phase), ['make', 'switch', 'break']);
  const state = new Map(first.nodes);
  for (const s of steps) {
    for (const [n, cfg] of s.nodes) state.set(n, cfg!);
    for (const cfg of state.values()) validateConfig(keyed(cfg));
    const a = state.get('node-a')!;
    if (s.phase === 'make') {
      assert.ok(spisOf(a).includes(oldFwd) && spisOf(a).includes(newFwd), 'both paths exist');
      assert.deepEqual(classified(a), [oldFwd], 'still classified onto the old path');
      assert.ok(!s.nodes.has('node-a') || classified(s.nodes.get('node-a')!).includes(oldFwd));
    }
    if (s.phase === 'switch') {
      assert.deepEqual([...s.nodes.keys()].sort(), ['node-a', 'node-c'], 'only the classifying nodes change');
      assert.deepEqual(classified(a), [newFwd]);
      assert.ok(spisOf(state.get('node-b')!).includes(oldFwd), 'packets in flight on the old path still get through node B');
    }
  }
  for (const [n, cfg] of second.nodes) assert.deepEqual(state.get(n), cfg, `${n} ends at the target`);
  assert.ok(!spisOf(state.get('node-b')!).includes(oldFwd), 'nothing of the old path is left');

  // The same intent again: no phase at all.
  assert.deepEqual(phases(second.nodes, compileIntent(intentFromDoc(short as Record<string, unknown>), second.allocations).nodes), []);
});

test('with EF pairs: the new pairs are keyed and placed before anything is sent to them', () => {
  const ep = planEncryptedScenario();
  const doc = scenarioIntent(ep.base, { efs: ep.efs, flows: DESIGN_FLOWS });
  const first = compileIntent(intentFromDoc(doc), emptyAllocations());
  const edited = structuredClone(doc) as { 'esfc-intent:chains': { chain: { name: string; 'service-function': string[] }[] } };
  edited['esfc-intent:chains'].chain.find((c) => c.name === 'mail-chain')!['service-function'] = ['sf1', 'sf2', 'sf3'];
  const second = compileIntent(intentFromDoc(edited as Record<string, unknown>), first.allocations);
  const steps = phases(first.nodes, second.nodes);
  const make = steps[0]!;
  assert.equal(make.phase, 'make');
  const b = make.nodes.get('node-b')!;
  const newPairs = second.pairs.filter((p) => p.flow === 'mail' && !first.pairs.some((q) => q.espi === p.espi));
  assert.ok(newPairs.length >= 2);
  for (const p of newPairs.filter((x) => x.enc.node === 'node-b' || x.dec.node === 'node-b')) {
    assert.ok(b.encryptedHops.some((h) => h.espi === p.espi), `pair ${p.espi} is on node B in the make phase`);
  }
  const state = new Map(first.nodes);
  for (const s of steps) {
    for (const [n, cfg] of s.nodes) state.set(n, cfg!);
    for (const cfg of state.values()) validateConfig(keyed(cfg));
  }
});
