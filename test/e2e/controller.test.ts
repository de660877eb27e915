/**
 * The controller end to end, on the scenario's namespaces: the controller
 * process and three agents with client certificates; the scenario provisioned
 * through RESTCONF alone; a chain edited and back under a 64 pps probe with no
 * loss; kill -9 of the controller under traffic; a foreign certificate; an
 * agent that was down catches up; a desired state an agent cannot apply is
 * reported, not half-applied.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControllerProcess, type RestconfClient } from '../../scenario/controller-process.js';
import { PLAIN_FLOW, scenarioIntent } from '../../scenario/intent.js';
import { planScenario } from '../../scenario/plan.js';
import { CLI, ScenarioNet } from '../../scenario/net.js';
import { collectJsonLines, nsh, spawnInNs, stopProcess } from '../../scenario/sh.js';
import { runProbe } from '../../scenario/udp-probe.js';
import { iperf } from '../../scenario/iperf.js';

const isRoot = process.getuid?.() === 0;
const plan = planScenario();
const CHAIN = '/restconf/data/esfc-intent:chains/chain=all-chain/service-function';

async function ping(net: ScenarioNet, count = 3): Promise<number> {
  const out = await nsh(net.ns('client'), ['ping', '-c', String(count), '-i', '0.2', '-W', '2', plan.server.ip]).catch((e: Error) => e.message);
  return Number(/(\d+) received/.exec(out)?.[1] ?? 0);
}

describe('controller + three agents: the scenario from RESTCONF alone', { skip: isRoot ? false : 'needs root (namespaces, BPF)' }, () => {
  let net: ScenarioNet;
  let ctl: ControllerProcess;
  let op: RestconfClient;
  let bundles: Map<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'esfc-e2e-ctl-'));

  before(async () => {
    net = await ScenarioNet.build(plan, {}, 'k');
    ctl = new ControllerProcess(dir);
    bundles = await ctl.enroll([['operator', 'alice'], ...plan.nodes.map((n) => ['agent', n.name] as ['agent', string])]);
    await ctl.start();
    op = ctl.client(bundles.get('operator:alice')!);
    for (const n of plan.nodes) await net.startControllerAgent(n.name, ctl.endpoint, bundles.get(`agent:${n.name}`)!);
    await op.ok('PUT', '/restconf/data', { 'ietf-restconf:data': scenarioIntent(plan, { flows: [PLAIN_FLOW] }) });
    await op.converged();
  });
  after(async () => {
    await net?.destroy();
    await ctl?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('provisioned from intent: every agent applied its generation, ping and TCP cross SF1 -> SF2 -> SF3', async () => {
    const st = await op.nodesState();
    assert.deepEqual(st.map((n) => [n.name, n.connected, n.applied === n.desired]), plan.nodes.map((n) => [n.name, true, true]));
    assert.equal(await ping(net), 3);
    const r = await iperf(net.ns('server'), net.ns('client'), plan.server.ip, 2);
    assert.ok(r.bytes > 1_000_000, `TCP moved ${r.bytes} bytes`);
    // The agents applied exactly what they were sent: the controller's config for node B has SF2's proxy ports.
    const hooks = JSON.parse((await op.ok('GET', '/restconf/data/esfc-state:nodes-state/node=node-b/hook')).text) as { 'esfc-state:hook': { ifname: string }[] };
    assert.deepEqual(hooks['esfc-state:hook'].map((h) => h.ifname).sort(), ['sf2a', 'sf2b', 'ul0']);
  });

  test('SF1 -> SF2 -> SF3 becomes SF1 -> SF3 and back under a 64 pps probe: 0 packets lost', { timeout: 120_000 }, async () => {
    const r = await runProbe(net, plan.server.ip, 7100, 8, async () => {
      await new Promise((res) => setTimeout(res, 1000));
      await op.ok('PUT', CHAIN, { 'esfc-intent:service-function': ['sf1', 'sf3'] });
      await op.converged();
      assert.equal(await ping(net, 1), 1, 'the short chain works');
      await op.ok('PUT', CHAIN, { 'esfc-intent:service-function': ['sf1', 'sf2', 'sf3'] });
      await op.converged();
    });
    process.stdout.write(`# soft provisioning: ${r.total} probe packets at 64 pps, ${r.lost} lost, longest gap between replies ${r.maxGapMs ?? '?'} ms\n`);
    assert.equal(r.lost, 0, `lost ${JSON.stringify(r.lostSeqs)}`);
    // Both edits went through the phases, node by node.
    const phases = ctl.logs.filter((l) => l.event === 'rollout_phase').map((l) => l.phase);
    assert.ok(phases.filter((p) => p === 'switch').length >= 2, `phases: ${phases.join(',')}`);
  });

  test('kill -9 of the controller under traffic: traffic goes on, an acknowledged write survives, agents reconnect', { timeout: 120_000 }, async () => {
    await op.ok('PUT', '/restconf/data/esfc-intent:chains/chain=all-chain/description', { 'esfc-intent:description': 'before the kill' });
    const r = await runProbe(net, plan.server.ip, 7200, 5, async () => {
      await new Promise((res) => setTimeout(res, 1000));
      await ctl.kill9();
      await new Promise((res) => setTimeout(res, 2000));
      await ctl.start();
    });
    assert.equal(r.lost, 0, `lost ${JSON.stringify(r.lostSeqs)} while the controller was down`);
    const d = JSON.parse((await op.ok('GET', '/restconf/data/esfc-intent:chains/chain=all-chain/description')).text) as Record<string, string>;
    assert.equal(d['esfc-intent:description'], 'before the kill');
    const deadline = Date.now() + 30_000;
    while (!(await op.nodesState()).every((n) => n.connected) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
    assert.ok((await op.nodesState()).every((n) => n.connected), 'every agent reconnected');
    for (const n of plan.nodes) assert.ok(net.logs.get(n.name)!.some((l) => l.event === 'controller_unreachable'), `${n.name} noticed`);
  });

  test('an agent with a certificate of another CA is refused and gets nothing', { timeout: 60_000 }, async () => {
    const other = new ControllerProcess(mkdtempSync(join(tmpdir(), 'esfc-other-')));
    try {
      const foreign = (await other.enroll([['agent', 'node-b']])).get('agent:node-b')!;
      const log: Record<string, unknown>[] = [];
      const pinDir = `${net.configs.get('node-b')!.node.pinDir}-foreign`;
      const p = spawnInNs(net.ns('node-b'), [process.execPath, CLI, 'agent', '--controller', ctl.endpoint, '--node', 'node-b', '--cert', foreign, '--pin-dir', pinDir, '--metrics-port', '0']);
      collectJsonLines(p, log);
      const deadline = Date.now() + 15_000;
      while (!log.some((l) => l.event === 'controller_unreachable') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      await stopProcess(p);
      assert.ok(log.some((l) => l.event === 'controller_unreachable'), 'it cannot get through the handshake');
      assert.ok(!log.some((l) => l.event === 'config_applied'), 'it got no desired state');
      await nsh(net.ns('node-b'), [process.execPath, CLI, 'agent', '--uninstall', '--pin-dir', pinDir]).catch(() => undefined);
    } finally {
      rmSync(other.dir, { recursive: true, force: true });
    }
  });

  test('an agent that was down catches up to the current generation when it returns', { timeout: 120_000 }, async () => {
    await net.stopAgent('node-c');
    await op.ok('PUT', '/restconf/data/esfc-intent:nodes/node=node-c/nsh-ttl', { 'esfc-intent:nsh-ttl': 40 });
    await new Promise((res) => setTimeout(res, 500));
    const behind = (await op.nodesState()).find((n) => n.name === 'node-c')!;
    assert.ok(behind.applied! < behind.desired, 'node C is behind while its agent is down');
    assert.equal(await ping(net, 2), 2, 'the pinned datapath forwards meanwhile');
    await net.startControllerAgent('node-c', ctl.endpoint, bundles.get('agent:node-c')!);
    await op.converged(60_000);
  });

  test('a desired state the agent cannot apply is reported back with its reason and nothing of it is applied', { timeout: 120_000 }, async () => {
    const from = net.logs.get('node-b')!.length;
    // Valid intent, but node B has no interface by that name: only the node can tell.
    await op.ok('PUT', '/restconf/data/esfc-intent:nodes/node=node-b/port=sf2b/interface', { 'esfc-intent:interface': 'nosuch0' });
    const rej = await net.waitForLog('node-b', (l) => l.event === 'config_rejected', 30_000, from);
    assert.match(String(rej.error ?? ''), /interface nosuch0 does not exist/);
    const deadline = Date.now() + 15_000;
    let b = (await op.nodesState()).find((n) => n.name === 'node-b')!;
    while (!b.lastError && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 200));
      b = (await op.nodesState()).find((n) => n.name === 'node-b')!;
    }
    assert.match(b.lastError ?? '', /nosuch0/);
    assert.ok(b.applied! < b.desired);
    assert.equal(await ping(net, 2), 2, 'the last good state still forwards');
    await op.ok('PUT', '/restconf/data/esfc-intent:nodes/node=node-b/port=sf2b/interface', { 'esfc-intent:interface': 'sf2b' });
    await op.converged();
  });
});
