/**
 * Protection in the intent compiler, without root: a protected SF's node gets
 * the standby target on the hop into it and the standby's hops are there in
 * advance (same SPI); a failed SF is replaced by its standby or, unprotected,
 * by another SF of its kind; detours that would need two next hops or an
 * encryption across an untrusted domain are left to the controller and said so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLogger } from '../../agent/log.js';
import { Controller } from '../../controller/controller.js';
import { Kek } from '../../controller/keys/kek.js';
import { KeyStore } from '../../controller/keys/key-store.js';
import { openDb } from '../../controller/store/db.js';
import { protectionIntent } from '../../scenario/protection.js';
import type { NodeConfig } from '../../agent/config/types.js';
import { validateConfig } from '../../agent/config/validate-config.js';
import { withFailover } from '../../agent/liveness/failover.js';
import { compileIntent, IntentError, type Compiled } from '../../controller/intent/compile.js';
import { emptyAllocations } from '../../controller/intent/allocations.js';
import { intentFromDoc } from '../../controller/intent/from-doc.js';
import { decode, loadSchema } from '../../controller/yang/index.js';
import { PLAIN_FLOW, scenarioIntent, type ScenarioIntentOptions } from '../../scenario/intent.js';
import { planScenario } from '../../scenario/plan.js';

// Four nodes in a row, client at A, server at D. sf1@a sf2@b sf3@c in the chain; sf4@a stands in for sf1
// (same node), sf5@d for sf2 (another node, one the path does not otherwise use); sf6@c is a spare firewall.
const plan = planScenario({ nodeCount: 4, sfCount: 6, sfNodes: [0, 1, 2, 0, 3, 2] });
const KINDS = { sf1: 'vcpe', sf4: 'vcpe', sf2: 'cache', sf5: 'cache', sf3: 'firewall', sf6: 'firewall' };

function compile(o: Partial<ScenarioIntentOptions> = {}, failed: string[] = [], prev = emptyAllocations()): Compiled {
  const doc = scenarioIntent(plan, { flows: [PLAIN_FLOW], kinds: KINDS, protection: { sf1: 'sf4', sf2: 'sf5' }, ...o });
  const d = decode(loadSchema(), doc, {});
  assert.ok(d.ok, JSON.stringify(d.ok ? '' : d.errors));
  return compileIntent(intentFromDoc(d.value as Record<string, unknown>), prev, { failed: new Set(failed) });
}

const hopsOf = (c: NodeConfig, spi: number): string[] =>
  (c.paths.find((p) => p.layer === 'sf' && p.spi === spi)?.hops ?? []).map((h) => `${h.si}>${JSON.stringify(h.to)}${h.standby ? ` standby ${JSON.stringify(h.standby)}` : ''}${h.from ? ` from ${h.from.join('+')}` : ''}`);

test('a protected SF: its node has the standby target on the hop into it, the standby\'s hops are installed in advance', () => {
  const c = compile();
  const fwd = c.allocations.spis['all/forward']!;
  const a = c.nodes.get('node-a')!;
  const b = c.nodes.get('node-b')!;
  const cc = c.nodes.get('node-c')!;
  const d = c.nodes.get('node-d')!;
  // sf1 -> sf4 on the same node; sf2 on B -> sf5 on D over the underlay.
  assert.deepEqual(hopsOf(a, fwd), ['255>{"port":"sf1a"} standby {"port":"sf4a"}', '254>{"node":"node-b"}']);
  assert.deepEqual(hopsOf(b, fwd), ['254>{"port":"sf2a"} standby {"node":"node-d"} from node-a', '253>{"node":"node-c"}']);
  // D takes SI 254 from B for sf5 and hands SI 253 to C, which takes it from B (after sf2) or D (after sf5).
  assert.deepEqual(hopsOf(d, fwd), ['254>{"port":"sf5a"} from node-b', '253>{"node":"node-c"}', '252>{"deliver":"server"} from node-c']);
  assert.deepEqual(hopsOf(cc, fwd), ['253>{"port":"sf3a"} from node-b+node-d', '252>{"node":"node-d"}']);
  // Standby ports are on their nodes (watched by the agent), and every config is one the agent accepts.
  assert.ok(a.ports.some((p) => p.name === 'sf4a' && p.function === 'sf4'));
  assert.ok(d.ports.some((p) => p.name === 'sf5b' && p.function === 'sf5'));
  assert.ok(b.peers.some((p) => p.name === 'node-d'), 'the standby node is a peer of B');
  for (const cfg of c.nodes.values()) validateConfig(JSON.parse(JSON.stringify(cfg)));
  // The reverse path is protected the same way, through the SFs' other arms.
  const rev = c.allocations.spis['all/reverse']!;
  assert.ok(hopsOf(a, rev).includes('253>{"port":"sf1b"} standby {"port":"sf4b"} from node-b+node-d'), hopsOf(a, rev).join(' | '));
  assert.deepEqual(c.notes, []);
});

test('the agent\'s switch: hops into a failed SF go to the standby, the primary stays a valid source; unprotected ones are stranded', () => {
  const a = compile().nodes.get('node-a')!;
  const fwd = a.paths.find((p) => p.spi === compile().allocations.spis['all/forward'])!.spi;
  const r = withFailover(a, new Set(['sf1']), () => true);
  assert.deepEqual(r.switched.map((s) => [s.spi === fwd ? 'fwd' : 'rev', s.si, s.function, s.to]).sort(), [['fwd', 255, 'sf1', { port: 'sf4a' }], ['rev', 253, 'sf1', { port: 'sf4b' }]]);
  assert.deepEqual(hopsOf(r.cfg, fwd)[0], '255>{"port":"sf4a"} standby {"port":"sf1a"}');
  // Both down: nothing to switch to.
  const both = withFailover(a, new Set(['sf1', 'sf4']), () => true);
  assert.equal(both.switched.length, 0);
  assert.equal(both.stranded.length, 2);
  // The primary's namespace is gone: its ports leave the config, the switch stays.
  const gone = withFailover(a, new Set(['sf1']), (i) => !i.startsWith('sf1'));
  assert.ok(!gone.cfg.ports.some((p) => p.function === 'sf1'));
  assert.equal(hopsOf(gone.cfg, fwd)[0], '255>{"port":"sf4a"}');
});

test('a failed SF is replaced: by its standby (new SPI, make before break), or by another SF of its kind when unprotected; back when it returns', () => {
  const first = compile();
  const failed = compile({}, ['sf1', 'sf3'], first.allocations);
  const fwd = failed.allocations.spis['all/forward']!;
  assert.notEqual(fwd, first.allocations.spis['all/forward'], 'a changed path gets a new SPI');
  assert.deepEqual(hopsOf(failed.nodes.get('node-a')!, fwd), ['255>{"port":"sf4a"}', '254>{"node":"node-b"}']);
  assert.ok(hopsOf(failed.nodes.get('node-c')!, fwd).includes('253>{"port":"sf6a"} from node-b+node-d'), hopsOf(failed.nodes.get('node-c')!, fwd).join(' | '));
  assert.deepEqual(failed.notes.map((n) => n.problem).sort(), ['sf1 is reported down: sf4 on node-a takes its place', 'sf3 is reported down: sf6 on node-c takes its place']);
  // The failed SFs stay watched (their agent tells when they are back).
  assert.ok(failed.nodes.get('node-a')!.ports.some((p) => p.function === 'sf1'));
  assert.ok(failed.nodes.get('node-c')!.ports.some((p) => p.function === 'sf3'));
  const back = compile({}, [], failed.allocations);
  assert.deepEqual(hopsOf(back.nodes.get('node-a')!, back.allocations.spis['all/forward']!)[0], '255>{"port":"sf1a"} standby {"port":"sf4a"}');
  // Nothing of the kind left: the SF stays, and the note says what to do.
  const none = compile({}, ['sf3', 'sf6']);
  assert.match(none.notes.map((n) => n.problem).join(), /no other SF of kind firewall is up/);
});

test('protection that cannot be right is refused with the path and the fix; a detour that cannot be local is noted', () => {
  assert.throws(() => compile({ protection: { sf1: 'sf5' } }), (e: unknown) => e instanceof IntentError && /sf5 is a cache, sf1 a vcpe/.test(e.message) && /protection=sf1\/standby/.test(e.message));
  assert.throws(() => compile({ protection: { sf1: 'sf2' } }), (e: unknown) => e instanceof IntentError && /sf2 is already in the chain/.test(e.message));
  const doc = scenarioIntent(plan, { flows: [PLAIN_FLOW], kinds: KINDS });
  const intent = intentFromDoc(doc);
  intent.chains[0]!.protection = [{ serviceFunction: 'sf6', standby: 'sf3' }];
  assert.throws(() => compileIntent(intent, emptyAllocations()), (e: unknown) => e instanceof IntentError && /sf6 is not an SF of chain all-chain/.test(e.message));
  // sf3 at C protected by sf6 at C is fine; sf2 protected by sf6 at C is not: C hands SI 254 to B on the
  // way back and would have to take it back for sf6 (one next hop per position and node).
  assert.deepEqual(compile({ protection: { sf3: 'sf6' } }).notes, []);
  const notes = compile({ protection: { sf2: 'sf6' }, kinds: { ...KINDS, sf6: 'cache' } }).notes.map((n) => n.problem);
  assert.deepEqual(notes, ['flow all (reverse): sf6 cannot take over from sf2 on its own (node-c would need two next hops for SPI 2 SI 254)']);
});

test('probes and hold-down from the intent reach the agents\' configs', () => {
  const c = compile({ probeIntervalMs: 10, holdDownMs: 500 });
  const a = c.nodes.get('node-a')!;
  assert.deepEqual(a.liveness, {
    holdDownMs: 500,
    probes: ['sf1', 'sf4'].map((fn) => ({ function: fn, port: `${fn}a`, source: plan.client.ip, destination: plan.server.ip, intervalMs: 10 })),
  });
  validateConfig(JSON.parse(JSON.stringify(a)));
});

test('the controller compiles around what a node\'s own agent reports down, remembers it across a restart, and ignores other nodes speaking for it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-prot-'));
  const db = openDb(join(dir, 'controller.db'));
  const quiet = jsonLogger({}, () => undefined);
  const keys = new KeyStore(db, Kek.fromHex('5a'.repeat(32), 'test'), { lifetimeS: 60 });
  const firstHop = (c: Controller): unknown => {
    const cfg = c.desiredFor('node-a')!.config;
    const spi = cfg.classifier[0]!.spi;
    return cfg.paths.find((p) => p.layer === 'sf' && p.spi === spi)!.hops.find((h) => h.si === 255)!.to;
  };
  const fn = (name: string, live: boolean) => ({ name, live, since: new Date().toISOString(), ...(live ? {} : { reason: 'link x down' }) });
  try {
    let c = new Controller(db, keys, quiet);
    c.connected = () => false; // no agents to wait for
    c.drainMs = 0;
    c.commit({ principal: 'operator:test', method: 'PUT', path: '/' }, protectionIntent(plan), []);
    await c.settled();
    assert.deepEqual(firstHop(c), { port: 'sf1a' });
    // Another node cannot declare node A's SF down.
    c.report('node-b', { functions: [fn('sf1', false)] });
    assert.deepEqual(c.failedFunctions(), []);
    c.report('node-a', { functions: [fn('sf1', false), fn('sf4', true)] });
    assert.deepEqual(c.failedFunctions(), ['sf1']);
    await c.settled();
    assert.deepEqual(firstHop(c), { port: 'sf4a' }, 'the standby is placed for good');
    c.close();
    // A restarted controller keeps compiling around it until the agent says otherwise.
    c = new Controller(db, keys, quiet);
    c.connected = () => false;
    c.drainMs = 0;
    assert.deepEqual(c.failedFunctions(), ['sf1']);
    await c.settled();
    assert.deepEqual(firstHop(c), { port: 'sf4a' });
    c.report('node-a', { functions: [fn('sf1', true), fn('sf4', true)] });
    await c.settled();
    assert.deepEqual(c.failedFunctions(), []);
    assert.deepEqual(firstHop(c), { port: 'sf1a' });
    c.close();
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
