/**
 * `esfc demo`: the scenario of docs/design.md on this machine, in three acts,
 * provisioned through the controller's RESTCONF API alone.
 * 1. The fast path: three compute nodes (ISP-A, ISP-B, ISP-C) as namespaces
 *    on one underlay, the controller and one esfc agent per node (the real
 *    CLI, mutual TLS), NSH-unaware SFs behind esfc's proxy:
 *    client -> SF1 (A) -> SF2 (B) -> SF3 (C) -> server; ping, iperf3 and live
 *    per-node counters; the chain edited to SF1 -> SF3 and back under a
 *    64 pps probe.
 * 2. The encrypted hops (demo-encrypted.ts): the same nodes with six EFs and
 *    two micro-segmented flows; on a host without ESP this act runs in the
 *    kernel lab.
 * 3. Protection (demo-protection.ts): an SF fails under a 64 pps probe and
 *    its standby takes over; an unprotected one is placed again.
 * Removes everything it created, also on Ctrl-C.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { ControllerProcess } from '../scenario/controller-process.js';
import { PLAIN_FLOW, scenarioIntent } from '../scenario/intent.js';
import { planScenario } from '../scenario/plan.js';
import { ScenarioNet } from '../scenario/net.js';
import { nsh, sh, spawnInNs, stopProcess, waitForLine } from '../scenario/sh.js';
import { runProbe } from '../scenario/udp-probe.js';
import { hostHasEsp, labKernelRelease, runInLab } from '../lab/kernel-lab.js';
import { demoEncrypted } from './demo-encrypted.js';
import { demoProtection } from './demo-protection.js';

const CLI = fileURLToPath(new URL('../agent/cli.js', import.meta.url));

/** Act 2 where ESP exists: here, or in the kernel lab. */
async function encryptedAct(): Promise<number> {
  if (process.env.ESFC_IN_LAB === '1') return demoEncrypted(6);
  if (hostHasEsp()) return demoEncrypted(1);
  process.stdout.write(`\nthis kernel has no ESP: the encrypted act runs in the kernel lab (${labKernelRelease()} under qemu TCG, about 10x slower; boots in seconds)\n`);
  const r = await runInLab([process.execPath, CLI, 'demo', '--act', 'encrypted'], {
    env: { ESFC_IN_LAB: '1' }, timeoutMs: 20 * 60_000, cwd: fileURLToPath(new URL('../../', import.meta.url)),
    onOutput: (s) => process.stdout.write(s),
  });
  if (r.exitCode !== 0) process.stdout.write(`kernel lab: ${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}\n${r.console.slice(-2000)}\n`);
  return r.exitCode ?? 1;
}

interface Counter { port: string; stat: string; drop: boolean; packets: number; bytes: number }

const SHOWN = ['classified', 'fwd_proxy', 'proxy_return', 'fwd_remote', 'end_of_chain'];

async function counters(net: ScenarioNet, node: string): Promise<Counter[]> {
  const out = await net.cli(node, ['agent', 'status', '--json', '--pin-dir', net.configs.get(node)!.node.pinDir]);
  return (JSON.parse(out) as { counters: Counter[] }).counters;
}

function line(node: string, cs: Counter[], prev: Counter[] | undefined, dt: number): string {
  const sum = (list: Counter[] | undefined, pred: (c: Counter) => boolean, f: 'packets' | 'bytes') => (list ?? []).filter(pred).reduce((a, c) => a + c[f], 0);
  const cells = SHOWN.map((s) => {
    const p = sum(cs, (c) => c.stat === s, 'packets');
    const rate = prev ? (p - sum(prev, (c) => c.stat === s, 'packets')) / dt : 0;
    return `${s} ${String(p).padStart(8)} (${rate.toFixed(0).padStart(6)}/s)`;
  });
  const drops = sum(cs, (c) => c.drop, 'packets');
  return `  ${node}  ${cells.join('  ')}  drops ${drops}`;
}

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { seconds: { type: 'string', default: '10' }, act: { type: 'string', default: 'all' } } });
  if (!/^\d+$/.test(values.seconds) || Number(values.seconds) < 3) {
    process.stderr.write(`esfc demo: --seconds ${JSON.stringify(values.seconds)} is not a whole number of seconds, 3 or more\n`);
    return 2;
  }
  if (!['all', 'fastpath', 'encrypted', 'protection'].includes(values.act)) {
    process.stderr.write(`esfc demo: --act ${JSON.stringify(values.act)} is not one of all, fastpath, encrypted, protection\n`);
    return 2;
  }
  const seconds = Number(values.seconds);
  if (values.act === 'encrypted') return encryptedAct();
  if (values.act === 'protection') return demoProtection();
  const first = await fastPathAct(seconds);
  if (values.act === 'fastpath') return first;
  const second = await encryptedAct();
  return (await demoProtection()) || first || second;
}

async function fastPathAct(seconds: number): Promise<number> {
  const out = (x: string): void => { process.stdout.write(x); };
  const plan = planScenario();
  out('esfc demo: building three compute nodes, a client, a server and three SFs (network namespaces)\n');
  const net = await ScenarioNet.build(plan, {}, 'demo');
  const dir = mkdtempSync(join(tmpdir(), 'esfc-demo-ctl-'));
  const ctl = new ControllerProcess(dir);
  const stop = async (): Promise<void> => {
    await net.destroy();
    await ctl.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => { void stop().then(() => process.exit(130)); });
  try {
    const bundles = await ctl.enroll([['operator', 'demo'], ...plan.nodes.map((n) => ['agent', n.name] as ['agent', string])]);
    out(`\n$ esfc ctl keygen --out demo.key; esfc controller init --state ${dir} --operator-key demo=demo.pub; esfc controller enroll --agent NODE ... (the operator's signing key, a CA, a key-encryption key, the orchestration log, a certificate per agent)\n`);
    await ctl.start();
    out(`$ esfc controller --state ${dir} --unix ${ctl.socket}\n`);
    for (const node of plan.nodes) {
      out(`$ esfc agent --controller ${ctl.endpoint} --node ${node.name} --cert ${bundles.get(`agent:${node.name}`)}   (in ${node.name}'s namespace)\n`);
      await net.startControllerAgent(node.name, ctl.endpoint, bundles.get(`agent:${node.name}`)!);
    }
    const op = ctl.client(bundles.get('operator:demo')!);
    const intent = scenarioIntent(plan, { flows: [PLAIN_FLOW] });
    out('\nprovisioning through RESTCONF alone: PUT /restconf/data with the intent, signed with the operator\'s key (committed to the orchestration log first)\n');
    out('  domains isp-a (trusted) - isp-b - isp-c (trusted); nodes node-a/b/c with their ports; SFs sf1 (vcpe), sf2 (cache), sf3 (firewall)\n');
    out('  chain all-chain = sf1 -> sf2 -> sf3 for tenant acme; flow "all": 172.16.1.0/24 -> 172.16.2.0/24 and back, not sensitive\n');
    const t0 = Date.now();
    await op.ok('PUT', '/restconf/data', { 'ietf-restconf:data': intent });
    await op.converged();
    out(`  every agent applied its desired state ${Date.now() - t0} ms after the write\n`);
    out(`\n$ esfc ctl status\n${await sh([process.execPath, CLI, 'ctl', 'status', '--controller', ctl.endpoint, '--cert', bundles.get('operator:demo')!])}`);
    out(`\nthe chain: client ${plan.client.ip} -> ${plan.nodes.map((n) => `${n.sfs.map((x) => x.name).join(',')} @ ${n.name}`).join(' -> ')} -> server ${plan.server.ip}\n`);
    out('\n$ ping -c 3 172.16.2.1   (from the client)\n');
    out(await nsh(net.ns('client'), ['ping', '-c', '3', '-i', '0.2', plan.server.ip]));

    out(`\n$ iperf3 -c 172.16.2.1 -t ${seconds}   (one TCP stream through the chain; counters about every second)\n`);
    const srv = spawnInNs(net.ns('server'), ['iperf3', '-s', '-1', '--forceflush']);
    await waitForLine(srv, (l) => l.includes('Server listening'), 10_000);
    const started = Date.now();
    let running = true;
    const client = nsh(net.ns('client'), ['iperf3', '-c', plan.server.ip, '-t', String(seconds), '-J'], { timeoutMs: (seconds + 30) * 1000 })
      .finally(() => { running = false; });
    let prev = new Map<string, Counter[]>();
    let last = Date.now();
    // Rows are labelled with the time they were read (reading three nodes takes a while), while iperf3 runs.
    while (running) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!running) break;
      const now = Date.now();
      out(`t=${((now - started) / 1000).toFixed(1)}s\n`);
      const next = new Map<string, Counter[]>();
      for (const node of plan.nodes) {
        const cs = await counters(net, node.name);
        next.set(node.name, cs);
        out(line(node.name, cs, prev.get(node.name), (now - last) / 1000) + '\n');
      }
      prev = next;
      last = now;
    }
    const j = JSON.parse(await client) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits: number } } };
    await stopProcess(srv);
    out(`\niperf3: ${(j.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s through 3 SFs on 3 nodes (veth, MTU ${plan.edgeMtu}, underlay MTU ${plan.underlayMtu}), ${j.end.sum_sent.retransmits} retransmits\n`);

    out('\nsoft provisioning under a 64 pps probe: the chain becomes sf1 -> sf3, then sf1 -> sf2 -> sf3 again\n');
    const chain = '/restconf/data/esfc-intent:chains/chain=all-chain/service-function';
    const probe = await runProbe(net, plan.server.ip, 7300, 8, async () => {
      await new Promise((r) => setTimeout(r, 1000));
      for (const sfs of [['sf1', 'sf3'], ['sf1', 'sf2', 'sf3']]) {
        const t = Date.now();
        await op.ok('PUT', chain, { 'esfc-intent:service-function': sfs });
        await op.converged();
        out(`  PUT ${chain} ${JSON.stringify(sfs)}: applied by every agent (new paths, then the classifier, then the old paths) in ${Date.now() - t} ms\n`);
      }
    });
    out(`  probe: ${probe.total} sent, ${probe.lost} lost, longest gap between packets ${probe.maxGapMs?.toFixed(0) ?? '?'} ms (the paper's soft provisioning: 1.2 s)\n`);

    out('\nfull status of node B (esfc agent status --pin-dir ...):\n');
    out(await net.cli('node-b', ['agent', 'status', '--pin-dir', net.configs.get('node-b')!.node.pinDir]));
    return probe.lost === 0 ? 0 : 1;
  } finally {
    out('\ncleaning up: agents and controller stopped, datapaths uninstalled, namespaces removed\n');
    await stop();
  }
}
