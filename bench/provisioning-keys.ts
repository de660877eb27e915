/**
 * The key-change rows of `esfc bench provisioning` (the seed paper's Table 1,
 * 1.b-2 / 1.c "key change"):
 *
 * - measureKeyChanges: the AuC changes the e-mail flow's keys on request, N
 *   times back to back, on the DESIGN.md scenario (controller process, real
 *   agents, kernel XFRM) under a 64 pps UDP probe through the untrusted
 *   domain: packets lost, longest gap, how long one change takes. It needs
 *   ESP, so on a host without it the same code runs in the kernel lab (the
 *   CLI re-invoked there as `esfc bench provisioning-keys`).
 * - rollKeys: one rekey operation for 1, 10, 100 pairs at once, on a real
 *   controller with simulated agents (real TLS, acknowledge at once): the
 *   controller's share of rolling many pairs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Level, Logger } from '../agent/log.js';
import { startController } from '../controller/embedded.js';
import { generateKey, registeredKey } from '../controller/ledger/index.js';
import { compileIntent } from '../controller/intent/compile.js';
import { emptyAllocations } from '../controller/intent/allocations.js';
import { intentFromDoc } from '../controller/intent/from-doc.js';
import { controllerEndpoint, readBundle } from '../controller/pki/index.js';
import { hostHasEsp, runInLab } from '../lab/kernel-lab.js';
import { ControllerProcess, RestconfClient } from '../scenario/controller-process.js';
import { planEncryptedScenario } from '../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent, type IntentDoc } from '../scenario/intent.js';
import { ScenarioNet } from '../scenario/net.js';
import { runProbe } from '../scenario/udp-probe.js';
import { SimulatedAgents, type SimulatedAgentSpec } from './simulated-agents.js';

export interface KeyChangeResult {
  where: 'host' | 'kernel-lab';
  kernel: string;
  /** Key changes of the mail flow that finished while the probe was sending. */
  changes: number;
  /** EF pairs each change rolls (the mail flow: one each way). */
  pairsPerChange: number;
  pps: number;
  probeSeconds: number;
  sent: number;
  lost: number;
  lostPerChange: number;
  /** Longest time between two probe packets arriving at the server (ms; 15.6 at 64 pps with nothing in the way). */
  maxGapMs: number;
  /** One pair's change, rekey_started -> rekey_done as the AuC logs it (ms): median and every one. */
  changeMsMedian: number;
  changeMs: number[];
  /** One change of every pair of the flow, the request -> the last pair's rekey_done (ms), per change. */
  requestToDoneMs: number[];
}

/** Median ms of each AuC step (new inbound SA, new outbound SA, old ones removed) over the pairs. */
export interface StepMs {
  inbound: number;
  outbound: number;
  retire: number;
}

export interface RollRow {
  pairs: number;
  /** The rekey request -> every pair's rekey_done (ms). */
  ms: number;
  perPairMs: number;
  steps: StepMs;
}

const PPS = 64;
/** UDP 110 is in the mail flow's match (DESIGN_FLOWS): the probe rides the pair being changed. */
const MAIL_UDP_PORT = 110;
const RESULT_TAG = 'ESFC-BENCH-KEYS ';
const CLI = fileURLToPath(new URL('../agent/cli.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const REKEY = '/restconf/operations/esfc-intent:rekey';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: readonly number[]): number => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);
/** To 0.1 ms: the clocks and the event loop say nothing finer. */
const r1 = (x: number): number => Math.round(x * 10) / 10;
const inLab = (): boolean => process.env.ESFC_IN_LAB === '1';

interface RekeyOutput { 'esfc-intent:output': { pairs: number; 'e-spi'?: number[] } }

/** POSTs the rekey operation; returns the E-SPIs the AuC started. */
async function requestRekey(op: RestconfClient, input: { flow?: string }): Promise<number[]> {
  const r = JSON.parse((await op.ok('POST', REKEY, { 'esfc-intent:input': input })).text) as RekeyOutput;
  return r['esfc-intent:output']['e-spi'] ?? [];
}

// ---------------------------------------------------------------- key changes under a probe

/**
 * The mail flow's keys changed `o.quick ? 3 : 5` times under a 64 pps probe.
 * Without ESP here, the same measurement runs in the kernel lab and its
 * result comes back as one tagged line.
 */
export async function measureKeyChanges(o: { quick: boolean; log: (s: string) => void }): Promise<KeyChangeResult> {
  if (inLab() || hostHasEsp()) return keyChangesHere(o.quick ? 3 : 5, o.log);
  o.log('key change: this kernel has no ESP; measuring in the kernel lab (Debian 6.1, qemu TCG)');
  let all = '';
  let partial = '';
  const lab = await runInLab([process.execPath, CLI, 'bench', 'provisioning-keys', ...(o.quick ? ['--quick'] : [])], {
    env: { ESFC_IN_LAB: '1' }, timeoutMs: 60 * 60_000, cwd: REPO,
    onOutput: (s) => {
      all += s;
      // Whole lines only, so the tagged line is never split between two log calls.
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (!l.startsWith(RESULT_TAG)) o.log(l);
    },
  });
  const line = (all || lab.output).split('\n').find((l) => l.startsWith(RESULT_TAG));
  if (lab.exitCode !== 0 || !line) {
    throw new Error(`key change in the kernel lab failed (${lab.timedOut ? 'timed out' : `exit ${String(lab.exitCode)}`})\n${lab.output.slice(-4000)}\n${lab.console.slice(-2000)}`);
  }
  return JSON.parse(line.slice(RESULT_TAG.length)) as KeyChangeResult;
}

/** `esfc bench provisioning-keys`: the lab's side of measureKeyChanges, the result last as one tagged JSON line. */
export async function keyChangesCommand(quick: boolean): Promise<number> {
  const r = await measureKeyChanges({ quick, log: (s) => { process.stdout.write(`${s}\n`); } });
  process.stdout.write(`${RESULT_TAG}${JSON.stringify(r)}\n`);
  return 0;
}

async function keyChangesHere(n: number, log: (s: string) => void): Promise<KeyChangeResult> {
  // Under TCG everything is ~10x slower: waits stretch, timings are only ratios.
  const slow = inLab() ? 6 : 1;
  const ep = planEncryptedScenario();
  const dir = mkdtempSync(join(tmpdir(), 'esfc-bench-keys-'));
  let net: ScenarioNet | undefined;
  const ctl = new ControllerProcess(join(dir, 'controller'));
  try {
    net = await ScenarioNet.build(ep.base, { encrypted: ep }, 'pk');
    const bundles = await ctl.enroll([['operator', 'bench'], ...ep.base.nodes.map((x) => ['agent', x.name] as ['agent', string])]);
    await ctl.start();
    for (const x of ep.base.nodes) await net.startControllerAgent(x.name, ctl.endpoint, bundles.get(`agent:${x.name}`)!);
    const op = ctl.client(bundles.get('operator:bench')!);
    await op.ok('PUT', '/restconf/data', { 'ietf-restconf:data': scenarioIntent(ep.base, { efs: ep.efs, nsOf: (e) => net!.ns(e), flows: DESIGN_FLOWS }) });
    await op.converged(120_000 * slow);
    log(`key change: DESIGN.md scenario provisioned by the controller (${inLab() ? 'kernel lab' : 'host'}); mail flow keys changed ${n} times under a ${PPS} pps probe`);

    const doneOf = (espi: number): Record<string, unknown>[] => ctl.logs.filter((l) => l.event === 'rekey_done' && l.espi === espi);
    /** One change of the mail flow's pairs: request, then every pair's rekey_done; returns the pairs and the ms it took. */
    const change = async (): Promise<{ espis: number[]; ms: number }> => {
      const t0 = performance.now();
      const espis = await requestRekey(op, { flow: 'mail' });
      if (!espis.length) throw new Error('the rekey operation started no pair for flow mail');
      const before = new Map(espis.map((e) => [e, doneOf(e).length]));
      const deadline = Date.now() + 60_000 * slow;
      while (!espis.every((e) => doneOf(e).length > before.get(e)!)) {
        if (Date.now() > deadline) throw new Error(`a key change did not finish: ${JSON.stringify(ctl.logs.filter((l) => String(l.event).startsWith('rekey')).slice(-6))}`);
        await sleep(20);
      }
      return { espis, ms: performance.now() - t0 };
    };

    // A first change outside the probe: it sizes the probe (a change's length depends on the
    // machine, and the lab's TCG is ~10x slower) and takes first-run costs out of the numbers.
    const warm = await change();
    log(`  warm-up change (not counted): ${warm.espis.length} pairs in ${warm.ms.toFixed(0)} ms`);
    const lead = 2 * slow;
    // Half as long again as the warm-up per change: the sender cannot be stopped early, and a
    // change that ends after it stopped is not counted (its losses would go unseen).
    const probeSeconds = Math.ceil(lead + (n * (warm.ms * 1.5 + 500 * slow)) / 1000 + 2 * slow);
    const fromLog = ctl.logs.length;
    const requestToDoneMs: number[] = [];
    let t0 = 0;
    let underProbe = 0;
    const probe = await runProbe(net, ep.base.server.ip, MAIL_UDP_PORT, probeSeconds, async () => {
      // The probe is flowing before the first change, and still after the last.
      await sleep(lead * 1000);
      t0 = Date.now();
      for (let i = 1; i <= n; i++) {
        const c = await change();
        requestToDoneMs.push(r1(c.ms));
        if (Date.now() - t0 < (probeSeconds - lead - 1) * 1000) underProbe++;
        log(`  change ${i}: ${c.espis.length} pairs, request -> last rekey_done ${c.ms.toFixed(0)} ms`);
      }
    }, slow);
    const changeMs = ctl.logs.slice(fromLog).filter((l) => l.event === 'rekey_done').map((l) => Number(l.ms));
    const r: KeyChangeResult = {
      where: inLab() ? 'kernel-lab' : 'host', kernel: release(), changes: underProbe, pairsPerChange: warm.espis.length,
      pps: PPS, probeSeconds, sent: probe.total, lost: probe.lost, lostPerChange: underProbe ? probe.lost / underProbe : NaN,
      maxGapMs: r1(probe.maxGapMs ?? NaN), changeMsMedian: median(changeMs), changeMs, requestToDoneMs,
    };
    log(`  ${r.changes} changes under the probe: ${r.lost} of ${r.sent} lost${probe.lostSeqs.length ? ` (seqs ${probe.lostSeqs.join(',')})` : ''}, longest gap ${r.maxGapMs.toFixed(1)} ms, one pair's change median ${r.changeMsMedian} ms`);
    if (underProbe < n) log(`  (${n - underProbe} changes finished after the probe stopped: not counted)`);
    return r;
  } finally {
    await net?.destroy();
    await ctl.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- rolling many pairs at once

/** Flows per ingress node: the classifier holds 64 rules per node. */
const FLOWS_PER_NODE = 50;

/**
 * `pairs` sensitive, unidirectional flows, each from an edge at ISP-A to one
 * SF at ISP-C across the untrusted ISP-B: one EF pair per flow (the hop into
 * the SF), none after it (SF and egress on the same node). Flow i enters at
 * a<i%K>, takes sf<i%K> on c<i%K>, K = pairs/50 rounded up.
 */
export function rollIntent(pairs: number): IntentDoc {
  const k = Math.max(1, Math.ceil(pairs / FLOWS_PER_NODE));
  const hex = (x: number): string => x.toString(16).padStart(2, '0');
  const mac = (side: number, i: number, port: number): string => `02:${hex(side)}:00:00:${hex(i)}:${hex(port)}`;
  const node = (side: 'a' | 'c', i: number): Record<string, unknown> => {
    const s = side === 'a' ? 0 : 1;
    return {
      name: `${side}${i}`, domain: `isp-${side}`,
      underlay: { interface: 'ul0', address: `10.250.${s}.${i + 1}`, mac: mac(s, i, 1) },
      port: [
        { name: 'e', interface: 'e0', kind: 'edge', 'peer-mac': mac(s, i, 2) },
        { name: 'ef0', interface: 'ef0', kind: 'ef', 'peer-mac': mac(s, i, 3) },
        ...(side === 'c' ? [{ name: 'sa', interface: 'sa', kind: 'sf-proxy', 'peer-mac': mac(s, i, 4) }, { name: 'sb', interface: 'sb', kind: 'sf-proxy', 'peer-mac': mac(s, i, 5) }] : []),
      ],
      'encryption-function': [{ name: 'ef0', netns: `ef-${side}${i}`, interface: 'eth0', address: `10.200.${s}.${i + 1}`, port: 'ef0' }],
    };
  };
  const idx = Array.from({ length: k }, (_, i) => i);
  return {
    'esfc-intent:domains': {
      domain: [
        { name: 'isp-a', trust: 'trusted', neighbours: ['isp-b'] },
        { name: 'isp-b', trust: 'untrusted', neighbours: ['isp-c'] },
        { name: 'isp-c', trust: 'trusted' },
      ],
    },
    'esfc-intent:nodes': { node: [...idx.map((i) => node('a', i)), ...idx.map((i) => node('c', i))] },
    'esfc-intent:service-functions': {
      'service-function': idx.map((i) => ({ name: `sf${i}`, kind: 'firewall', node: `c${i}`, 'nsh-aware': false, 'ingress-port': 'sa', 'egress-port': 'sb' })),
    },
    'esfc-intent:chains': { chain: idx.map((i) => ({ name: `k${i}`, tenant: 't', 'service-function': [`sf${i}`] })) },
    'esfc-intent:flows': {
      flow: Array.from({ length: pairs }, (_, j) => ({
        name: `f${j}`, tenant: 't', chain: `k${j % k}`, sensitive: true, bidirectional: false,
        ingress: { node: `a${j % k}`, port: 'e' }, egress: { node: `c${j % k}`, port: 'e' },
        match: [{ id: 1, 'destination-prefix': `10.64.${(j >> 8) & 255}.${j & 255}/32` }],
      })),
    },
  };
}

/** A logger that keeps the AuC's events with the time they happened (performance.now()), and drops the rest. */
class RekeyEvents implements Logger {
  readonly events: { at: number; event: string; fields: Record<string, unknown> }[] = [];
  log(_level: Level, event: string, fields: Record<string, unknown> = {}): void {
    if (event.startsWith('rekey')) this.events.push({ at: performance.now(), event, fields });
  }
  child(): Logger {
    return this;
  }
}

/** The time to roll the keys of N pairs in one rekey operation, for each N in `pairs`. */
export async function rollKeys(pairs: number[]): Promise<RollRow[]> {
  const rows: RollRow[] = [];
  for (const n of pairs) rows.push(await roll1(n));
  return rows;
}

async function roll1(n: number): Promise<RollRow> {
  const doc = rollIntent(n);
  const compiled = compileIntent(intentFromDoc(doc), emptyAllocations());
  if (compiled.pairs.length !== n) throw new Error(`the roll intent for ${n} pairs compiles to ${compiled.pairs.length}`);
  const dir = mkdtempSync(join(tmpdir(), 'esfc-bench-roll-'));
  const events = new RekeyEvents();
  // The bench is the operator: its signing key is made here, the controller's log gets the public half.
  const opKey = generateKey('ed25519');
  const c = await startController(dir, events, { ledgerKeys: [registeredKey(opKey, 'operator', 'bench')] });
  let agents: SimulatedAgents | undefined;
  try {
    const ep = controllerEndpoint(c.url, readBundle(await c.enroll('operator', 'bench')));
    const op = new RestconfClient(ep.origin, ep.dispatcher, opKey.signer);
    const specs: SimulatedAgentSpec[] = [];
    for (const node of compiled.nodes.keys()) specs.push({ node, bundle: await c.enroll('agent', node) });
    agents = new SimulatedAgents(c.url, specs);
    await agents.started();
    await op.ok('PUT', '/restconf/data', { 'ietf-restconf:data': doc });
    await c.controller.settled();
    if (c.controller.deployedPairs().length !== n) throw new Error(`${c.controller.deployedPairs().length} of ${n} pairs deployed`);
    // Every agent has acknowledged what it runs: the AuC's first step waits on nothing else.
    await op.converged(60_000);

    const from = events.events.length;
    const t0 = performance.now();
    const espis = await requestRekey(op, {});
    if (espis.length !== n) throw new Error(`the rekey operation started ${espis.length} of ${n} pairs`);
    const pending = new Set(espis);
    const deadline = Date.now() + 120_000;
    let last = t0;
    let seen = from;
    while (pending.size) {
      for (; seen < events.events.length; seen++) {
        const e = events.events[seen]!;
        if (e.event === 'rekey_done' && pending.delete(Number(e.fields.espi))) last = e.at;
        if (e.event === 'rekey_failed') throw new Error(`rekey failed: ${JSON.stringify(e.fields)}`);
      }
      if (pending.size && Date.now() > deadline) throw new Error(`${pending.size} of ${n} pairs never finished their key change`);
      if (pending.size) await sleep(5);
    }
    const ms = r1(last - t0);
    const stepMs = (name: keyof StepMs): number =>
      median(events.events.slice(from).filter((e) => e.event === 'rekey_step' && e.fields.step === name).map((e) => Number(e.fields.ms)));
    return { pairs: n, ms, perPairMs: r1(ms / n), steps: { inbound: stepMs('inbound'), outbound: stepMs('outbound'), retire: stepMs('retire') } };
  } finally {
    await agents?.close();
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
