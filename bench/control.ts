/**
 * `esfc bench control`: the control plane, in one run.
 * - intent compile time for 100, 1,000 and 10,000 chains (pure);
 * - RESTCONF write -> every affected agent applied (median, p99): real agents
 *   on the three-node scenario (namespaces, BPF) for one chain, and simulated
 *   agents (real TLS clients in a worker thread that acknowledge at once: the
 *   controller's share) with 1, 10 and 100 chains;
 * - fan-out: 1,000 agent connections (simulated, real TLS) and one write that
 *   changes every node: time until the last agent has its new state;
 * - soft provisioning at 64 pps: a chain edited SF1 -> SF3 and back under a
 *   probe, losses and the longest gap between packets.
 * Prints a table, writes bench/out/control.json and two charts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { jsonLogger } from '../agent/log.js';
import { startController, type Embedded, type EmbeddedOptions } from '../controller/embedded.js';
import { signIfWrite } from '../controller/ledger-client.js';
import { generateKey, registeredKey, type GeneratedKey } from '../controller/ledger/index.js';
import { compileIntent } from '../controller/intent/compile.js';
import { emptyAllocations } from '../controller/intent/allocations.js';
import { intentFromDoc } from '../controller/intent/from-doc.js';
import { controllerEndpoint, readBundle } from '../controller/pki/index.js';
import { PLAIN_FLOW, scenarioIntent } from '../scenario/intent.js';
import { planScenario } from '../scenario/plan.js';
import { ScenarioNet } from '../scenario/net.js';
import { runProbe } from '../scenario/udp-probe.js';
import { barChart, lineChart } from './chart.js';
import { now, SimulatedAgents } from './simulated-agents.js';

const quiet = jsonLogger({}, () => undefined);
const J = 'application/yang-data+json';
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const f1 = (x: number): string => x.toFixed(1);

/** K nodes in one trusted domain, one SF each; flow i enters at node i%K, crosses SF (i+1)%K, leaves at (i+2)%K. */
export function syntheticIntent(chains: number, nodes = Math.max(3, Math.ceil(chains / 50))): Record<string, unknown> {
  const ip = (i: number): string => `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  const mac = (i: number, k: number): string => `02:${k.toString(16).padStart(2, '0')}:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  const node = (i: number): string => `n${i}`;
  return {
    'esfc-intent:domains': { domain: [{ name: 'dc', trust: 'trusted' }] },
    'esfc-intent:nodes': {
      node: Array.from({ length: nodes }, (_, i) => ({
        name: node(i), domain: 'dc', underlay: { interface: 'ul0', address: ip(i + 1), mac: mac(i, 1) },
        port: [
          { name: 'e', interface: 'e0', kind: 'edge', 'peer-mac': mac(i, 2) },
          { name: 'sa', interface: 'sa', kind: 'sf-proxy', 'peer-mac': mac(i, 3) },
          { name: 'sb', interface: 'sb', kind: 'sf-proxy', 'peer-mac': mac(i, 4) },
        ],
      })),
    },
    'esfc-intent:service-functions': {
      'service-function': Array.from({ length: nodes }, (_, i) => ({ name: `sf${i}`, kind: 'firewall', node: node(i), 'ingress-port': 'sa', 'egress-port': 'sb' })),
    },
    'esfc-intent:chains': { chain: Array.from({ length: chains }, (_, i) => ({ name: `c${i}`, tenant: 't', 'service-function': [`sf${(i + 1) % nodes}`] })) },
    'esfc-intent:flows': { flow: Array.from({ length: chains }, (_, i) => flowEntry(i, nodes)) },
  };
}

function flowEntry(i: number, nodes: number): Record<string, unknown> {
  return {
    name: `f${i}`, tenant: 't', chain: `c${i % 100_000}`, bidirectional: false,
    ingress: { node: `n${i % nodes}`, port: 'e' }, egress: { node: `n${(i + 2) % nodes}`, port: 'e' },
    match: [{ id: 1, 'destination-prefix': `10.200.${(i >> 8) & 255}.${i & 255}/32` }],
  };
}

function compileTimes(sizes: number[], runs: number): { chains: number; nodes: number; ms: number[] }[] {
  return sizes.map((n) => {
    const doc = syntheticIntent(n);
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = process.hrtime.bigint();
      compileIntent(intentFromDoc(doc), emptyAllocations());
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return { chains: n, nodes: Math.max(3, Math.ceil(n / 50)), ms };
  });
}

/** A controller whose orchestration log knows the bench's operator key (generated here: the bench is the operator). */
async function startWithOperator(dir: string, opts: EmbeddedOptions = {}): Promise<{ c: Embedded; key: GeneratedKey }> {
  const key = generateKey('ed25519');
  return { c: await startController(dir, quiet, { ...opts, ledgerKeys: [registeredKey(key, 'operator', 'bench')] }), key };
}

/** The operator's RESTCONF calls; its data writes are signed (the signature is part of what is measured). */
async function operator(c: Embedded, key: GeneratedKey): Promise<(method: string, path: string, body?: unknown) => Promise<number>> {
  const d = controllerEndpoint(c.url, readBundle(await c.enroll('operator', 'bench'))).dispatcher;
  return async (method, path, body) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const r = await request(`${c.url}${path}`, {
      method: method as 'GET', dispatcher: d, headers: { ...(text === undefined ? {} : { 'content-type': J }), ...signIfWrite(key.signer, method, path, text) }, ...(text === undefined ? {} : { body: text }),
    });
    const t = await r.body.text();
    if (r.statusCode >= 300) throw new Error(`${method} ${path}: ${r.statusCode} ${t}`);
    return r.statusCode;
  };
}

/** One flow added and removed, `rounds` times: ms from the write until every affected, connected agent applied every phase. */
async function writeToApplied(c: Embedded, call: (m: string, p: string, b?: unknown) => Promise<number>, flow: Record<string, unknown>, rounds: number): Promise<{ add: number[]; remove: number[] }> {
  const add: number[] = [];
  const remove: number[] = [];
  await c.controller.settled();
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await call('POST', '/restconf/data/esfc-intent:flows', { 'esfc-intent:flow': [flow] });
    await c.controller.settled();
    add.push(performance.now() - t);
    t = performance.now();
    await call('DELETE', `/restconf/data/esfc-intent:flows/flow=${String(flow.name)}`);
    await c.controller.settled();
    remove.push(performance.now() - t);
  }
  return { add, remove };
}

export async function simulated(chains: number, rounds: number): Promise<{ chains: number; nodes: number; add: number[]; remove: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-bench-ctl-'));
  const { c, key } = await startWithOperator(dir);
  let agents: SimulatedAgents | undefined;
  try {
    const call = await operator(c, key);
    const doc = syntheticIntent(chains);
    const nodes = (doc['esfc-intent:nodes'] as { node: { name: string }[] }).node.map((n) => n.name);
    const specs = [];
    for (const n of nodes) specs.push({ node: n, bundle: await c.enroll('agent', n) });
    agents = new SimulatedAgents(c.url, specs);
    await agents.started();
    await call('PUT', '/restconf/data', { 'ietf-restconf:data': doc });
    await c.controller.settled();
    const r = await writeToApplied(c, call, { ...flowEntry(chains, nodes.length), chain: 'c0' }, rounds);
    return { chains, nodes: nodes.length, ...r };
  } finally {
    await agents?.close();
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function fanOut(agentsCount: number): Promise<{ agents: number; lastMs: number; medianMs: number; firstLastMs: number; setupS: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-bench-fan-'));
  const { c, key } = await startWithOperator(dir);
  let agents: SimulatedAgents | undefined;
  try {
    const t0 = performance.now();
    const call = await operator(c, key);
    const doc = syntheticIntent(1, agentsCount);
    const specs = [];
    for (let i = 0; i < agentsCount; i++) specs.push({ node: `n${i}`, bundle: await c.enroll('agent', `n${i}`) });
    agents = new SimulatedAgents(c.url, specs);
    await agents.started();
    await call('PUT', '/restconf/data', { 'ietf-restconf:data': doc });
    // Every agent has its first state and is waiting on the next.
    await agents.waitAll(new Map(), 120_000);
    await c.controller.settled();
    await new Promise((r) => setTimeout(r, 500));
    const setupS = (performance.now() - t0) / 1000;
    // A write that changes every node's state (their NSH TTL). The first one after the agents
    // connected also opens their second connection (the report's, beside the long poll): it is
    // reported apart; the steady state is the second.
    const change = async (ttl: number): Promise<number[]> => {
      const patch = { 'ietf-restconf:data': { 'esfc-intent:nodes': { node: Array.from({ length: agentsCount }, (_, i) => ({ name: `n${i}`, 'nsh-ttl': ttl })) } } };
      const before = agents!.latest();
      const t = now();
      await call('PATCH', '/restconf/data', patch);
      const arrived = (await agents!.waitAll(before, 60_000)).map((at) => at - t);
      await c.controller.settled();
      return arrived;
    };
    const first = await change(60);
    const arrived = await change(50);
    return { agents: agentsCount, lastMs: Math.max(...arrived), medianMs: pct(arrived, 50), firstLastMs: Math.max(...first), setupS };
  } finally {
    await agents?.close();
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Real agents on the scenario's namespaces, provisioned by an embedded controller over its Unix socket. */
export async function realAgents(rounds: number, out: (s: string) => void): Promise<{ add: number[]; remove: number[]; soft: { lost: number; total: number; maxGapMs: number }[]; agentSteps: Record<string, number> }> {
  const plan = planScenario();
  const net = await ScenarioNet.build(plan, {}, 'bc');
  const dir = mkdtempSync(join(tmpdir(), 'esfc-bench-real-'));
  const sock = join(dir, 'controller.sock');
  const { c, key } = await startWithOperator(dir, { unix: sock });
  try {
    const call = await operator(c, key);
    for (const n of plan.nodes) await net.startControllerAgent(n.name, `unix:${sock}`, await c.enroll('agent', n.name));
    await call('PUT', '/restconf/data', { 'ietf-restconf:data': scenarioIntent(plan, { flows: [PLAIN_FLOW] }) });
    await c.controller.settled();
    out('  real agents: provisioned\n');
    const extra = {
      name: 'extra', tenant: 'acme', chain: 'all-chain', sensitive: false, bidirectional: true,
      ingress: { node: plan.client.node, port: 'client' }, egress: { node: plan.server.node, port: 'server' },
      match: [{ id: 1, protocol: 'udp', 'source-prefix': '172.16.1.0/24', 'destination-prefix': '172.16.2.0/24', 'destination-ports': { from: 9999, to: 9999 } }],
    };
    const from = new Map(plan.nodes.map((n) => [n.name, net.logs.get(n.name)?.length ?? 0]));
    const w = await writeToApplied(c, call, extra, rounds);
    // Where an agent's share goes: its own per-step timings from config_applied.
    const steps = new Map<string, number[]>();
    for (const n of plan.nodes) {
      for (const l of (net.logs.get(n.name) ?? []).slice(from.get(n.name))) {
        if (l.event !== 'config_applied') continue;
        for (const [k, v] of Object.entries(l.ms as Record<string, number>)) steps.set(k, [...(steps.get(k) ?? []), v]);
      }
    }
    const agentSteps = Object.fromEntries([...steps].map(([k, v]) => [k, pct(v, 50)]));
    out(`  agent reconcile, median ms per step: ${Object.entries(agentSteps).map(([k, v]) => `${k} ${f1(v)}`).join(', ')}\n`);
    const soft: { lost: number; total: number; maxGapMs: number }[] = [];
    const chain = '/restconf/data/esfc-intent:chains/chain=all-chain/service-function';
    for (let i = 0; i < 3; i++) {
      const r = await runProbe(net, plan.server.ip, 7400 + i, 6, async () => {
        await new Promise((res) => setTimeout(res, 800));
        for (const sfs of [['sf1', 'sf3'], ['sf1', 'sf2', 'sf3']]) {
          await call('PUT', chain, { 'esfc-intent:service-function': sfs });
          await c.controller.settled();
        }
      });
      soft.push({ lost: r.lost, total: r.total, maxGapMs: r.maxGapMs ?? NaN });
      out(`  soft provisioning run ${i + 1}: ${r.lost} of ${r.total} lost, longest gap ${f1(r.maxGapMs ?? NaN)} ms\n`);
    }
    return { ...w, soft, agentSteps };
  } finally {
    await net.destroy();
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchControl(o: { quick: boolean; out: string; only?: string }): Promise<number> {
  const out = (s: string): void => { process.stdout.write(s); };
  const rounds = o.quick ? 5 : 20;
  mkdirSync(o.out, { recursive: true });
  await ScenarioNet.sweep();
  out(`bench control: ${rounds} rounds per write measurement; ${cpus().length} CPUs, kernel ${release()}\n`);

  out('compile: synthetic intent (one trusted domain, 50 flows per node, one SF per chain), 5 runs each\n');
  const compile = compileTimes(o.quick ? [100, 1000] : [100, 1000, 10_000], 5);
  for (const r of compile) out(`  ${r.chains} chains (${r.nodes} nodes): median ${f1(pct(r.ms, 50))} ms\n`);

  out('write -> applied, simulated agents (the controller\'s share: compile, store, distribute, phases)\n');
  const sim = [];
  for (const n of [1, 10, 100]) {
    const r = await simulated(n, rounds);
    sim.push(r);
    out(`  ${n} chains: add a flow median ${f1(pct(r.add, 50))} ms, p99 ${f1(pct(r.add, 99))}; remove median ${f1(pct(r.remove, 50))} ms, p99 ${f1(pct(r.remove, 99))}\n`);
  }

  out('fan-out: simulated agents over real TLS, one write that changes every node\n');
  const fan = await fanOut(o.quick ? 200 : 1000);
  out(`  ${fan.agents} agents (set up in ${f1(fan.setupS)} s): median ${f1(fan.medianMs)} ms, last ${f1(fan.lastMs)} ms (first change after connecting: last ${f1(fan.firstLastMs)} ms)\n`);

  out('real agents: three nodes in namespaces, write -> applied and soft provisioning at 64 pps\n');
  const real = await realAgents(rounds, out);
  out(`  add a flow: median ${f1(pct(real.add, 50))} ms, p99 ${f1(pct(real.add, 99))}; remove: median ${f1(pct(real.remove, 50))} ms, p99 ${f1(pct(real.remove, 99))}\n`);

  const compile10k = compile.find((r) => r.chains === 10_000);
  const lost = real.soft.reduce((a, r) => a + r.lost, 0);
  const rows = [
    ['write -> applied, 1 chain, 3 real agents (add a flow: make + switch)', `median ${f1(pct(real.add, 50))} ms, p99 ${f1(pct(real.add, 99))} ms`, '< 100 ms', pct(real.add, 50) < 100 ? 'met' : 'NOT met'],
    ['write -> applied, 1 chain, 3 real agents (remove a flow: switch + drain 200 ms + break)', `median ${f1(pct(real.remove, 50))} ms, p99 ${f1(pct(real.remove, 99))} ms`, '', ''],
    ...sim.map((r) => [`write -> applied, ${r.chains} chains, ${r.nodes} simulated agents (add / remove)`, `${f1(pct(r.add, 50))} / ${f1(pct(r.remove, 50))} ms median, p99 ${f1(pct(r.add, 99))} / ${f1(pct(r.remove, 99))}`, '', '']),
    [`fan-out: ${fan.agents} agents over TLS (connections established)`, `last ${f1(fan.lastMs)} ms (median ${f1(fan.medianMs)})`, '< 1 s', fan.lastMs < 1000 ? 'met' : 'NOT met'],
    [`fan-out: the first change after ${fan.agents} agents connected (each opens its second connection)`, `last ${f1(fan.firstLastMs)} ms`, '', ''],
    ...compile.map((r) => [`compile ${r.chains} chains`, `${f1(pct(r.ms, 50))} ms median (${r.nodes} nodes)`, r.chains === 10_000 ? '< 1 s' : '', r.chains === 10_000 ? (pct(r.ms, 50) < 1000 ? 'met' : 'NOT met') : '']),
    ['soft provisioning at 64 pps (SF1->SF3 and back, 3 runs)', `${lost} lost of ${real.soft.reduce((a, r) => a + r.total, 0)}; longest gap ${real.soft.map((r) => f1(r.maxGapMs)).join(', ')} ms`, '0 packets', lost === 0 ? 'met' : 'NOT met'],
  ];
  out('\n| measurement | result | bar | |\n|---|---|---|---|\n');
  for (const r of rows) out(`| ${r.join(' | ')} |\n`);
  out(`\nlinearity: compile ms per chain: ${compile.map((r) => `${r.chains}: ${(pct(r.ms, 50) / r.chains * 1000).toFixed(1)} us`).join(', ')}\n`);

  writeFileSync(join(o.out, 'control.json'), JSON.stringify({
    date: new Date().toISOString(), host: { kernel: release(), cpus: cpus().length }, rounds,
    compile, simulated: sim, fanOut: fan, real, compile10kMs: compile10k ? pct(compile10k.ms, 50) : undefined,
  }, null, 2));
  writeFileSync(join(o.out, 'control-compile.svg'), lineChart({
    title: 'Intent compile time', xLabel: 'chains', yLabel: 'ms (median of 5)',
    series: [{ name: 'compile', color: '#1f77b4', points: compile.map((r) => ({ x: r.chains, y: pct(r.ms, 50), lo: Math.min(...r.ms), hi: Math.max(...r.ms) })) }],
  }));
  writeFileSync(join(o.out, 'control-latency.svg'), barChart({
    title: 'RESTCONF write -> every affected agent applied (median, ms)', yLabel: 'ms',
    bars: [
      { name: 'real, add', value: pct(real.add, 50), color: '#2ca02c' },
      { name: 'real, remove', value: pct(real.remove, 50), color: '#98df8a' },
      ...sim.map((r) => ({ name: `sim ${r.chains}, add`, value: pct(r.add, 50), color: '#1f77b4' })),
      { name: `fan-out ${fan.agents}, last`, value: fan.lastMs, color: '#ff7f0e' },
    ],
  }));
  out(`\nwrote ${join(o.out, 'control.json')}, control-compile.svg, control-latency.svg\n`);
  return 0;
}
