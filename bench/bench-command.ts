/**
 * `esfc bench fastpath`: packets per second through one node and TCP through
 * 0..25 SF hops, esfc next to its baselines in the same run, BMv2 among them
 * (the software switch the paper's SFFs ran on) when it is installed. Prints
 * tables, writes bench/out/fastpath.json and two SVG charts.
 * `esfc bench encryption`: see encryption.ts; `esfc bench provisioning`: provisioning.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { barChart, lineChart } from './chart.js';
import { measurePps, P4_PACING, type PpsMode, type PpsResult } from './pps.js';
import { measureTcp, type TcpMode, type TcpResult } from './tcp-hops.js';
import { ScenarioNet } from '../scenario/net.js';
import { p4Paths, P4PathsError } from '../agent/p4/p4-paths.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f2 = (x: number): string => x.toFixed(2);
/** Rates far below 1 (BMv2's) keep three significant digits instead of rounding to 0.0x. */
const fr = (x: number): string => (Math.abs(x) >= 1 || x === 0 || !Number.isFinite(x) ? f2(x) : x.toPrecision(3));
/** Speed-ups over BMv2 are in the hundreds: whole numbers are enough there. */
const fx = (x: number): string => (Number.isFinite(x) ? (x >= 10 ? x.toFixed(0) : f2(x)) : 'n/a');
/** SF hop counts BMv2 runs at: it is slow, and two points show how it scales. */
const P4_HOPS = [1, 5];

/** Why the BMv2 rows cannot run here, or undefined when they can. */
function bmv2Missing(): string | undefined {
  try {
    p4Paths();
    return undefined;
  } catch (e) {
    if (e instanceof P4PathsError) return e.message;
    throw e;
  }
}
const USAGE = 'usage: esfc bench fastpath [--quick] [--out DIR] [--only pps|tcp] [--runs N]\n'
  + '         --runs N: iperf3 runs per TCP row, reported as median (min-max); default 3, 1 with --quick\n'
  + '       esfc bench encryption [--quick] [--out DIR] [--only tcp|rekey]\n'
  + '       esfc bench control [--quick] [--out DIR]\n'
  + '       esfc bench provisioning [--quick] [--out DIR] [--only failover|keys]\n'
  + '       esfc bench ledger [--quick] [--out DIR] [--only embedded,delay,replicated] [--validators 1,4,7]\n';

/** One TCP row for the progress log: median, spread and every run. */
function runLine(r: TcpResult): string {
  if (r.samples.length === 1) return `${fr(r.gbpsMedian)} Gbit/s (${r.samples[0]!.retransmits} retransmits)`;
  return `${fr(r.gbpsMedian)} Gbit/s median (${fr(r.gbpsMin)}-${fr(r.gbpsMax)}; runs ${r.samples.map((x) => fr(x.gbps)).join(', ')}; retransmits ${r.samples.map((x) => x.retransmits).join(', ')})`;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      quick: { type: 'boolean' }, out: { type: 'string', default: 'bench/out' }, only: { type: 'string' }, runs: { type: 'string' }, validators: { type: 'string' },
    },
  });
  if (positionals[0] === 'control') {
    const { benchControl } = await import('./control.js');
    return benchControl({ quick: values.quick === true, out: values.out! });
  }
  // Hidden: the kernel lab's side of `esfc bench provisioning` (its key-change rows).
  if (positionals[0] === 'provisioning-keys') {
    const { keyChangesCommand } = await import('./provisioning-keys.js');
    return keyChangesCommand(values.quick === true);
  }
  if (positionals[0] === 'provisioning') {
    const { benchProvisioning } = await import('./provisioning.js');
    return benchProvisioning({ quick: values.quick === true, out: values.out!, ...(values.only ? { only: values.only } : {}) });
  }
  if (positionals[0] === 'ledger') {
    const validators = values.validators?.split(',').map(Number);
    if (validators && !validators.every((n) => Number.isInteger(n) && n >= 1 && n <= 10)) {
      process.stderr.write(`--validators wants a comma-separated list of validator counts from 1 to 10, not ${JSON.stringify(values.validators)}\n${USAGE}`);
      return 2;
    }
    const { benchLedger } = await import('./ledger.js');
    return benchLedger({ quick: values.quick === true, out: values.out!, ...(values.only ? { only: values.only } : {}), ...(validators ? { validators } : {}) });
  }
  if (positionals[0] === 'encryption') {
    const { benchEncryption } = await import('./encryption.js');
    return benchEncryption({ quick: values.quick === true, out: values.out!, ...(values.only ? { only: values.only } : {}) });
  }
  if (positionals[0] !== 'fastpath') {
    process.stderr.write(USAGE);
    return 2;
  }
  if (values.runs !== undefined && !/^[1-9][0-9]*$/.test(values.runs)) {
    process.stderr.write(`--runs wants a whole number >= 1, not ${JSON.stringify(values.runs)}\n${USAGE}`);
    return 2;
  }
  await ScenarioNet.sweep();
  const quick = values.quick === true;
  // TCP rows: 3 runs each by default; --quick takes 1 unless --runs says otherwise (the table then says so).
  const tcpRuns = values.runs !== undefined ? Number(values.runs) : quick ? 1 : 3;
  const out = values.out!;
  mkdirSync(out, { recursive: true });
  const log = (s: string): void => { process.stdout.write(`${s}\n`); };
  const noBmv2 = bmv2Missing();
  if (noBmv2) log(`note: BMv2 rows skipped (pps esfc-p4, TCP esfc-p4 at ${P4_HOPS.join(' and ')} hops): ${noBmv2}\n`);
  // BMv2's pps window: the paced generator's counting time per run.
  const p4Pacing = { ...P4_PACING, seconds: quick ? 2 : P4_PACING.seconds };

  // ---- packets per second through one node
  const pps: { mode: PpsMode; runs: PpsResult[]; mpps: number }[] = [];
  /** esfc's (and the kernel's) rate over BMv2's (ratios of medians). */
  let ppsSpeedup: Partial<Record<PpsMode, number>> | undefined;
  if (values.only !== 'tcp') {
    const repeat = quick ? 1 : 3;
    const frames = quick ? 1_000_000 : 3_000_000;
    log(`pps: 128 B frames (esfc: IPv4/UDP/VXLAN-GPE/NSH MD1 around a 54 B inner packet), one veth (MTU 1600) into one node and back, ${frames} frames x ${repeat} runs, median`);
    if (!noBmv2) log(`pps: esfc-p4 (BMv2): the generator paced at ${p4Pacing.offeredPps / 1e3} kpps (above what BMv2 forwards), frames back counted over ${p4Pacing.seconds} s after ${p4Pacing.warmupSeconds} s of warm-up, x ${repeat} runs, median`);
    const modes: PpsMode[] = ['generator', 'kernel', 'bare', 'esfc-xdp', 'esfc-tc', ...(noBmv2 ? [] : ['esfc-p4' as const])];
    for (const mode of modes) {
      const runs: PpsResult[] = [];
      for (let i = 0; i < repeat; i++) runs.push(await measurePps(mode, frames, false, p4Pacing));
      pps.push({ mode, runs, mpps: median(runs.map((r) => r.pps)) / 1e6 });
      if (mode !== 'esfc-p4') log(`  ${mode.padEnd(10)} ${f2(pps.at(-1)!.mpps)} Mpps`);
      else {
        const offered = median(runs.map((r) => r.offeredPps));
        log(`  ${mode.padEnd(10)} ${fr(pps.at(-1)!.mpps)} Mpps (${(pps.at(-1)!.mpps * 1e3).toFixed(1)} kpps of ${(offered / 1e3).toFixed(1)} kpps offered)`);
        // A BMv2 that keeps up with the pacing is not saturated: its rate is the offered one, a lower bound.
        if (pps.at(-1)!.mpps * 1e6 >= 0.9 * offered) log(`  note: BMv2 forwarded >= 90% of the offered load: the esfc-p4 rate is a lower bound (raise P4_PACING.offeredPps in bench/pps.ts)`);
      }
    }
    const get = (m: PpsMode): number => pps.find((p) => p.mode === m)?.mpps ?? NaN;
    const p4 = !noBmv2;
    log('');
    // The generator shares the core with the node, so these rates are "generator + node"
    // and ratios between paths are compressed towards 1 (conservative for esfc).
    log(`| path | Mpps (generator and node share a core) | x kernel | x bare XDP |${p4 ? ' x BMv2 |' : ''}`);
    log(`|---|---|---|---|${p4 ? '---|' : ''}`);
    for (const m of ['kernel', 'bare', 'esfc-xdp', 'esfc-tc', ...(p4 ? ['esfc-p4' as const] : [])] as PpsMode[]) {
      const name = m === 'esfc-p4' ? 'esfc-p4 (BMv2, paced)' : m;
      // BMv2's row alone needs more digits than two decimals.
      const f = m === 'esfc-p4' ? fr : f2;
      log(`| ${name} | ${f(get(m))} | ${f(get(m) / get('kernel'))} | ${f(get(m) / get('bare'))} |${p4 ? ` ${fx(get(m) / get('esfc-p4'))} |` : ''}`);
    }
    log(`| generator alone (node drops at XDP) | ${f2(get('generator'))} | | |${p4 ? ' |' : ''}`);
    log(`bar: esfc XDP >= 3x kernel forwarding: ${get('esfc-xdp') / get('kernel') >= 3 ? 'met' : 'NOT met'} (${f2(get('esfc-xdp') / get('kernel'))}x)`);
    log(`bar: esfc XDP >= 0.7 of bare XDP: ${get('esfc-xdp') / get('bare') >= 0.7 ? 'met' : 'NOT met'} (${f2(get('esfc-xdp') / get('bare'))})`);
    if (p4) ppsSpeedup = { 'esfc-xdp': get('esfc-xdp') / get('esfc-p4'), 'esfc-tc': get('esfc-tc') / get('esfc-p4'), kernel: get('kernel') / get('esfc-p4') };
    if (p4) log(`speed-up over BMv2 (the paper's SFF): esfc XDP ${fx(get('esfc-xdp') / get('esfc-p4'))}x, esfc TC ${fx(get('esfc-tc') / get('esfc-p4'))}x, kernel forwarding ${fx(get('kernel') / get('esfc-p4'))}x`);
    const colors: Partial<Record<PpsMode, string>> = { kernel: '#888', bare: '#333', 'esfc-xdp': '#1f77b4', 'esfc-tc': '#2ca02c', 'esfc-p4': '#ff7f0e' };
    writeFileSync(join(out, 'fastpath-pps.svg'), barChart({
      title: `Packets per second through one node (128 B frames, veth)${p4 ? '; esfc-p4 = BMv2' : ''}`, yLabel: 'Mpps',
      // BMv2's bar is a sliver labelled 0.00 on this scale: its name carries the rate.
      bars: pps.filter((p) => p.mode !== 'generator').map((p) => ({ name: p.mode === 'esfc-p4' ? `BMv2 ${(p.mpps * 1e3).toFixed(1)} kpps` : p.mode, value: p.mpps, color: colors[p.mode] ?? '#000' })),
    }));
  }

  // ---- TCP through N SF hops: every row is `runs` iperf3 runs; tables, ratios, bars and the chart use medians
  const tcp: TcpResult[] = [];
  /** esfc's (and the kernel's) rate over BMv2's at each hop count BMv2 ran at (ratios of medians). */
  const tcpSpeedup: Record<string, Partial<Record<TcpMode, number>>> = {};
  const seconds = quick ? 2 : 5;
  if (values.only !== 'pps') {
    const hops = quick ? [0, 1, 5, 25] : [0, 1, 2, 5, 10, 15, 20, 25];
    log('');
    log(`tcp: one iperf3 stream, ${seconds} s, MTU 1500 on every endpoint and SF, underlay MTU 1600 (veth bridge), three compute nodes, SFs as NSH-unaware namespaces behind the esfc proxy`);
    log(`tcp: ${tcpRuns === 1 ? `1 run per row${quick ? ' (--quick)' : ''}: single samples, no spread` : `${tcpRuns} runs per row (topology built once per row, runs back to back): median (min-max)`}`);
    if (!noBmv2) log(`tcp: esfc-p4 = every node on BMv2 (hook p4), at ${P4_HOPS.join(' and ')} hops; senders into BMv2 ports (SFs, client, server, underlay bridge) with tx checksum offload and TSO off, as BMv2's packet sockets need whole frames`);
    tcp.push(await measureTcp('direct', 0, seconds, tcpRuns));
    log(`  direct veth: ${runLine(tcp[0]!)}`);
    for (const h of hops) {
      const p4Here = !noBmv2 && P4_HOPS.includes(h);
      for (const mode of ['kernel', 'nodes', 'esfc-tc', 'esfc-xdp', ...(p4Here ? ['esfc-p4' as const] : [])] as TcpMode[]) {
        const r = await measureTcp(mode, h, seconds, tcpRuns);
        tcp.push(r);
        log(`  ${mode.padEnd(9)} ${String(h).padStart(2)} hops: ${runLine(r)}`);
      }
    }
    const row = (m: TcpMode, h: number): TcpResult | undefined => tcp.find((r) => r.mode === m && r.hops === h);
    const direct = tcp[0]!.gbpsMedian;
    const at = (m: TcpMode, h: number): number => row(m, h)?.gbpsMedian ?? NaN;
    const cell = (m: TcpMode, h: number): string => {
      const r = row(m, h);
      if (!r) return 'n/a';
      return tcpRuns === 1 ? fr(r.gbpsMedian) : `${fr(r.gbpsMedian)} (${fr(r.gbpsMin)}-${fr(r.gbpsMax)})`;
    };
    log('');
    log(`| SF hops (Gbit/s, ${tcpRuns === 1 ? `1 run per row${quick ? ', --quick' : ''}` : `median (min-max) of ${tcpRuns} runs`}) | kernel, SFs wired to each other | kernel, routed by the nodes | esfc TC (auto) | esfc XDP underlay | esfc TC / direct veth | esfc TC / SFs wired | esfc TC / routed by nodes |`);
    log('|---|---|---|---|---|---|---|---|');
    for (const h of hops) log(`| ${h} | ${cell('kernel', h)} | ${cell('nodes', h)} | ${cell('esfc-tc', h)} | ${cell('esfc-xdp', h)} | ${f2(at('esfc-tc', h) / direct)} | ${f2(at('esfc-tc', h) / at('kernel', h))} | ${f2(at('esfc-tc', h) / at('nodes', h))} |`);
    log(tcpRuns === 1
      ? `(Gbit/s, ${seconds} s, 1 run per row${quick ? ' (--quick)' : ''}: single samples, no spread; direct veth ${f2(direct)})`
      : `(Gbit/s, ${seconds} s per run: median of ${tcpRuns} runs (min-max); ratios of medians; direct veth ${cell('direct', 0)})`);
    const last = hops.at(-1)!;
    // With a spread, say when the two rows a bar compares overlap: the verdict is then within the noise.
    const overlap = (a: TcpMode, b: TcpMode): string => {
      const x = row(a, last), y = row(b, last);
      if (tcpRuns === 1 || !x || !y) return '';
      return x.gbpsMin <= y.gbpsMax && y.gbpsMin <= x.gbpsMax ? '; the two rows\' ranges overlap' : '; the two rows\' ranges do not overlap';
    };
    log(`bar: at ${last} hops esfc >= 0.25 of direct veth: ${at('esfc-tc', last) / direct >= 0.25 ? 'met' : 'NOT met'} (${f2(at('esfc-tc', last) / direct)})`);
    log(`bar: at ${last} hops esfc no slower than the same SFs wired to each other by veths and kernel routing: ${at('esfc-tc', last) >= at('kernel', last) ? 'met' : 'NOT met'} (${f2(at('esfc-tc', last) / at('kernel', last))}${overlap('esfc-tc', 'kernel')})`);
    log(`bar: at ${last} hops esfc no slower than the same SFs on the same nodes chained by the nodes' kernel routing: ${at('esfc-tc', last) >= at('nodes', last) ? 'met' : 'NOT met'} (${f2(at('esfc-tc', last) / at('nodes', last))}${overlap('esfc-tc', 'nodes')})`);
    const p4Hops = P4_HOPS.filter((h) => row('esfc-p4', h));
    if (p4Hops.length) {
      log('');
      log(`| SF hops (Gbit/s, ${tcpRuns === 1 ? '1 run per row' : `median (min-max) of ${tcpRuns} runs`}) | BMv2 (every node hook p4) | kernel, SFs wired to each other | esfc TC (auto) | esfc XDP underlay | esfc TC / BMv2 | esfc XDP / BMv2 | kernel / BMv2 |`);
      log('|---|---|---|---|---|---|---|---|');
      for (const h of p4Hops) {
        const b = at('esfc-p4', h);
        log(`| ${h} | ${cell('esfc-p4', h)} | ${cell('kernel', h)} | ${cell('esfc-tc', h)} | ${cell('esfc-xdp', h)} | ${fx(at('esfc-tc', h) / b)} | ${fx(at('esfc-xdp', h) / b)} | ${fx(at('kernel', h) / b)} |`);
        tcpSpeedup[String(h)] = { 'esfc-tc': at('esfc-tc', h) / b, 'esfc-xdp': at('esfc-xdp', h) / b, kernel: at('kernel', h) / b };
      }
      log('(BMv2: simple_switch_grpc as each node\'s SFF, what the paper\'s SFFs ran on; ratios of medians: esfc\'s speed-up over it)');
    }
    const points = (m: TcpMode) => hops.map((x) => {
      const r = row(m, x);
      return r ? { x, y: r.gbpsMedian, ...(tcpRuns > 1 ? { lo: r.gbpsMin, hi: r.gbpsMax } : {}) } : { x, y: NaN };
    });
    const d = tcp[0]!;
    writeFileSync(join(out, 'fastpath-tcp.svg'), lineChart({
      title: 'TCP, one stream, through N SF hops (MTU 1500, veth)', xLabel: 'SF hops', yLabel: 'Gbit/s',
      note: tcpRuns > 1 ? `median of ${tcpRuns} runs of ${seconds} s; whiskers: min-max` : `1 run of ${seconds} s per point: no spread`,
      series: [
        // Measured once at 0 hops; its whisker is drawn there only.
        { name: 'direct veth', color: '#888', points: hops.map((x, i) => ({ x, y: direct, ...(tcpRuns > 1 && i === 0 ? { lo: d.gbpsMin, hi: d.gbpsMax } : {}) })) },
        { name: 'kernel, SFs wired', color: '#333', points: points('kernel') },
        { name: 'kernel, routed by nodes', color: '#d62728', points: points('nodes') },
        { name: 'esfc TC (auto)', color: '#2ca02c', points: points('esfc-tc') },
        { name: 'esfc XDP underlay', color: '#1f77b4', points: points('esfc-xdp') },
        ...(p4Hops.length ? [{ name: `BMv2 (hook p4), ${p4Hops.join(', ')} hops`, color: '#ff7f0e', points: points('esfc-p4') }] : []),
      ],
    }));
  }

  writeFileSync(join(out, 'fastpath.json'), JSON.stringify({
    date: new Date().toISOString(), kernel: release(), cpus: cpus().length,
    topology: {
      pps: 'generator namespace --veth (MTU 1600)--> node namespace; the node sends every frame back out the same port to a counting XDP sink; generator = BPF_PROG_RUN XDP live frames',
      tcp: 'client - node A - node B - node C - server over a bridge underlay (MTU 1600); SFs (MTU 1500) spread over the nodes. Baselines: kernel = the same SF namespaces wired to each other by veths (no nodes); nodes = the esfc topology with no esfc, the node namespaces chaining the SFs by policy routing',
      notes: [
        'esfc-xdp: XDP on the underlay ports only; the agent refuses XDP on veth SF ports (frames with CHECKSUM_PARTIAL from local endpoints cannot survive XDP_REDIRECT)',
        'esfc-xdp TCP: underlay bridge ports with tx checksum offload off (a wire delivers finished checksums) and GRO on the receiving endpoints (NAPI for XDP_REDIRECT into veth)',
        `esfc-p4: the node(s) with underlay hook p4: the agent runs simple_switch_grpc (BMv2, log level warn) with one BMv2 port per esfc port and pushes the P4 program over P4Runtime; no eBPF program is attached. BMv2 is what the paper's SFFs ran on`,
        `esfc-p4 pps: the generator paced at ${p4Pacing.offeredPps} pps (BMv2 forwards far fewer; a burst at the generator's rate would measure packet-socket drops), frames back counted over ${p4Pacing.seconds} s after ${p4Pacing.warmupSeconds} s of warm-up (runs[].seconds, runs[].offeredPps); the underlay address is on the node's port for the agent's UDP 4790 sink`,
        `esfc-p4 TCP: every node on BMv2, at ${P4_HOPS.join(' and ')} SF hops only; every sender into a BMv2 port (SF ends, client, server, underlay bridge ports) with tx checksum offload (and so TSO) off: BMv2's packet sockets need whole, checksummed frames`,
      ],
    },
    bmv2: noBmv2 ? { skipped: noBmv2 } : {
      ppsPacing: p4Pacing, tcpHops: P4_HOPS,
      speedup: { fields: 'rate of the row named over BMv2\'s (ratio of medians)', pps: ppsSpeedup ?? null, tcp: tcpSpeedup },
    },
    mtu: { endpoints: 1500, underlay: 1600 },
    tcpMethod: {
      seconds, runs: tcpRuns,
      rows: 'each row builds its topology once and runs iperf3 `runs` times in it, back to back',
      fields: 'gbpsMedian: median of samples[].gbps (what tables, ratios, bars and the chart use); gbpsMin/gbpsMax: spread of the runs; retransmitsMedian: median of samples[].retransmits. Earlier results (bench/results/fastpath-2026-11-22.json) have one sample per row in gbps/retransmits.',
    },
    pps, tcp,
  }, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2));
  log(`\nwrote ${join(out, 'fastpath.json')}, ${join(out, 'fastpath-pps.svg')}, ${join(out, 'fastpath-tcp.svg')}`);
  return 0;
}
