/**
 * `esfc bench encryption`: the paper's Figure 9 question (does an EF hop cost
 * more than an SF hop?) and its rekey outage, on esfc.
 *
 * - TCP, one iperf3 stream, through n SF hops and through n EF-pair hops,
 *   same run, same two nodes: the ratio EF/SF per n.
 * - Packets lost per make-before-break rekey at 64 pps (paper: 7 per rekey).
 *
 * It needs a kernel with ESP; on a host without it the whole measurement runs
 * in the kernel lab (qemu TCG, emulated AES: absolute numbers there say
 * nothing about hardware, only the ratios and the loss count do).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { barChart, lineChart } from './chart.js';
import { newKey, planLinearChain, espiOf } from '../scenario/encrypted.js';
import { ScenarioNet } from '../scenario/net.js';
import { iperf } from '../scenario/iperf.js';
import { runProbe } from '../scenario/udp-probe.js';
import { rekey } from '../scenario/rekey.js';
import { hostHasEsp, runInLab } from '../lab/kernel-lab.js';

export interface ChainRow { kind: 'sf' | 'ef'; hops: number; gbps: number; retransmits: number }
export interface RekeyRow { rekeys: number; sent: number; lost: number; lostPerRekey: number; intervalMs: number }
export interface EncryptionResult { where: 'host' | 'kernel-lab'; kernel: string; seconds: number; chains: ChainRow[]; rekey: RekeyRow }

/** iperf3's default port: the chain classifies it. */
const IPERF_PORT = 5201;
const PROBE_PORT = 7000;
const CLI = fileURLToPath(new URL('../agent/cli.js', import.meta.url));
const RESULT_TAG = 'ESFC-BENCH-RESULT ';
const f2 = (x: number): string => x.toFixed(2);
const letters = (n: number): string => String.fromCharCode(97 + n);

async function measureChain(kind: 'sf' | 'ef', hops: number, seconds: number): Promise<ChainRow> {
  const ep = planLinearChain(kind, hops, [IPERF_PORT, PROBE_PORT]);
  const net = await ScenarioNet.build(ep.base, { encrypted: ep }, `b${kind}${letters(hops)}`);
  try {
    await net.startAgents();
    const r = await iperf(net.ns('server'), net.ns('client'), '172.16.2.1', seconds, 4);
    return { kind, hops, gbps: r.gbps, retransmits: r.retransmits };
  } finally {
    await net.destroy();
  }
}

async function measureRekey(rekeys: number, intervalMs: number, slow: number): Promise<RekeyRow> {
  const ep = planLinearChain('ef', 1, [IPERF_PORT, PROBE_PORT]);
  const net = await ScenarioNet.build(ep.base, { encrypted: ep }, 'brk');
  try {
    await net.startAgents();
    // A rekey is four config applications; in the lab one can take longer than the
    // interval, so the probe runs until the last rekey is surely done, and only
    // rekeys that finished while it was sending are counted.
    const seconds = Math.ceil((rekeys * Math.max(intervalMs, slow > 1 ? 12_000 : 0)) / 1000) + 5;
    let underTraffic = 0;
    let t0 = 0;
    const r = await runProbe(net, '172.16.2.1', PROBE_PORT, seconds, async () => {
      t0 = Date.now();
      for (let i = 1; i <= rekeys; i++) {
        await new Promise((res) => setTimeout(res, Math.max(0, t0 + i * intervalMs - Date.now())));
        await rekey(net, ep, espiOf(10, 0), 'node-a', 'node-b', newKey(0x30000 + i, 1 + i, true), 200 * slow);
        if (Date.now() - t0 < (seconds - 1) * 1000) underTraffic++;
      }
    }, slow);
    const span = Date.now() - t0;
    return { rekeys: underTraffic, sent: r.total, lost: r.lost, lostPerRekey: underTraffic ? r.lost / underTraffic : NaN, intervalMs: Math.round(span / rekeys) };
  } finally {
    await net.destroy();
  }
}

/** Runs where ESP works; prints progress and, last, the result as one tagged JSON line. */
export async function measureEncryption(quick: boolean, only?: string): Promise<EncryptionResult> {
  await ScenarioNet.sweep();
  const seconds = quick ? 3 : 5;
  const hops = quick ? [1, 3] : [1, 3, 5];
  const log = (s: string): void => { process.stdout.write(`${s}\n`); };
  const chains: ChainRow[] = [];
  const slow = process.env.ESFC_IN_LAB === '1' ? 6 : 1;
  for (const n of only === 'rekey' ? [] : hops) {
    for (const kind of ['sf', 'ef'] as const) {
      const r = await measureChain(kind, n, seconds);
      chains.push(r);
      log(`  ${kind} x${n}: ${f2(r.gbps * 1000)} Mbit/s (${r.retransmits} retransmits)`);
    }
  }
  const rk = only === 'tcp' ? { rekeys: 0, sent: 0, lost: 0, lostPerRekey: NaN, intervalMs: 0 } : await measureRekey(quick ? 4 : 10, 3000, slow);
  log(`  rekey: ${rk.rekeys} rekeys under a 64 pps probe (one every ${rk.intervalMs} ms): ${rk.lost} of ${rk.sent} lost`);
  const where = process.env.ESFC_IN_LAB === '1' ? 'kernel-lab' : 'host';
  return { where, kernel: release(), seconds, chains, rekey: rk };
}

function report(r: EncryptionResult, out: string): void {
  const log = (s: string): void => { process.stdout.write(`${s}\n`); };
  const at = (k: 'sf' | 'ef', n: number) => r.chains.find((c) => c.kind === k && c.hops === n)!;
  const hops = [...new Set(r.chains.map((c) => c.hops))];
  log('');
  log(`encryption: ${r.where === 'kernel-lab' ? 'kernel lab (Debian kernel under qemu TCG; AES-GCM emulated: compare ratios only)' : 'host'}, kernel ${r.kernel}`);
  log('topology: client - node A - node B - server, bridge underlay MTU 1700; SFs MTU 1500 alternating between the nodes; EF pairs alternating direction (every EF hop crosses the underlay), EF veths MTU 1600; one iperf3 TCP stream, ' + `${r.seconds} s`);
  log('');
  log('| hops | SF chain (Mbit/s) | EF chain (Mbit/s) | EF / SF |');
  log('|---|---|---|---|');
  for (const n of hops) log(`| ${n} | ${f2(at('sf', n).gbps * 1000)} | ${f2(at('ef', n).gbps * 1000)} | ${f2(at('ef', n).gbps / at('sf', n).gbps)} |`);
  log('(Under TCG the EF column measures qemu\'s emulation of AES-GCM, not esfc: compare on a host with ESP.)');
  log('');
  log(`| rekeys under traffic (make-before-break, one every ${r.rekey.intervalMs} ms) | probe packets (64 pps) | lost | lost per rekey | paper |`);
  log('|---|---|---|---|---|');
  log(`| ${r.rekey.rekeys} | ${r.rekey.sent} | ${r.rekey.lost} | ${f2(r.rekey.lostPerRekey)} | 7 (0.1 s) |`);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'encryption.json'), JSON.stringify({ date: new Date().toISOString(), host: { kernel: release(), cpus: cpus().length }, mtu: { endpoints: 1500, efs: 1600, underlay: 1700 }, ...r }, null, 2));
  writeFileSync(join(out, 'encryption-tcp.svg'), lineChart({
    title: `TCP through n SF hops and n EF hops (${r.where})`, xLabel: 'hops', yLabel: 'Mbit/s',
    series: [
      { name: 'SF hops', color: '#333', points: hops.map((x) => ({ x, y: at('sf', x).gbps * 1000 })) },
      { name: 'EF hops (ESP)', color: '#2ca02c', points: hops.map((x) => ({ x, y: at('ef', x).gbps * 1000 })) },
    ],
  }));
  writeFileSync(join(out, 'encryption-rekey.svg'), barChart({
    title: 'Packets lost per rekey at 64 pps', yLabel: 'packets',
    bars: [{ name: 'paper (7)', value: 7, color: '#888' }, { name: 'esfc', value: r.rekey.lostPerRekey, color: '#2ca02c' }],
  }));
  log(`\nwrote ${join(out, 'encryption.json')}, ${join(out, 'encryption-tcp.svg')}, ${join(out, 'encryption-rekey.svg')}`);
}

export async function benchEncryption(opts: { quick: boolean; out: string; only?: string }): Promise<number> {
  if (process.env.ESFC_IN_LAB === '1' || hostHasEsp()) {
    const r = await measureEncryption(opts.quick, opts.only);
    if (process.env.ESFC_IN_LAB === '1') process.stdout.write(`${RESULT_TAG}${JSON.stringify(r)}\n`);
    else report(r, opts.out);
    return 0;
  }
  process.stdout.write('encryption: this kernel has no ESP; measuring in the kernel lab (Debian 6.1, qemu TCG)\n');
  let all = '';
  const lab = await runInLab([process.execPath, CLI, 'bench', 'encryption', ...(opts.quick ? ['--quick'] : []), ...(opts.only ? ['--only', opts.only] : [])], {
    env: { ESFC_IN_LAB: '1' }, timeoutMs: 120 * 60_000, cwd: fileURLToPath(new URL('../../', import.meta.url)),
    onOutput: (s) => { all += s; process.stdout.write(s.split('\n').filter((l) => !l.startsWith(RESULT_TAG)).join('\n')); },
  });
  const line = (all || lab.output).split('\n').find((l) => l.startsWith(RESULT_TAG));
  if (lab.exitCode !== 0 || !line) {
    process.stderr.write(`bench in the kernel lab failed (${lab.timedOut ? 'timed out' : `exit ${lab.exitCode}`})\n${lab.output.slice(-4000)}\n${lab.console.slice(-2000)}\n`);
    return 1;
  }
  report(JSON.parse(line.slice(RESULT_TAG.length)) as EncryptionResult, opts.out);
  return 0;
}
