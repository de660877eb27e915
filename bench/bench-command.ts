/**
 * `esfc bench fastpath`: packets per second through one node and TCP through
 * 0..25 SF hops, esfc next to its baselines in the same run. Prints tables,
 * writes bench/out/fastpath.json and two SVG charts.
 * `esfc bench encryption`: see encryption.ts; `esfc bench provisioning`: provisioning.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { barChart, lineChart } from './chart.js';
import { measurePps, type PpsMode, type PpsResult } from './pps.js';
import { measureTcp, type TcpMode, type TcpResult } from './tcp-hops.js';
import { ScenarioNet } from '../scenario/net.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f2 = (x: number): string => x.toFixed(2);
const USAGE = 'usage: esfc bench fastpath [--quick] [--out DIR] [--only pps|tcp] [--runs N]\n'
  + '         --runs N: iperf3 runs per TCP row, reported as median (min-max); default 3, 1 with --quick\n'
  + '       esfc bench encryption [--quick] [--out DIR] [--only tcp|rekey]\n'
  + '       esfc bench control [--quick] [--out DIR]\n'
  + '       esfc bench provisioning [--quick] [--out DIR] [--only failover|keys]\n';

/** One TCP row for the progress log: median, spread and every run. */
function runLine(r: TcpResult): string {
  if (r.samples.length === 1) return `${f2(r.gbpsMedian)} Gbit/s (${r.samples[0]!.retransmits} retransmits)`;
  return `${f2(r.gbpsMedian)} Gbit/s median (${f2(r.gbpsMin)}-${f2(r.gbpsMax)}; runs ${r.samples.map((x) => f2(x.gbps)).join(', ')}; retransmits ${r.samples.map((x) => x.retransmits).join(', ')})`;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { quick: { type: 'boolean' }, out: { type: 'string', default: 'bench/out' }, only: { type: 'string' }, runs: { type: 'string' } },
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

  // ---- packets per second through one node
  const pps: { mode: PpsMode; runs: PpsResult[]; mpps: number }[] = [];
  if (values.only !== 'tcp') {
    const repeat = quick ? 1 : 3;
    const frames = quick ? 1_000_000 : 3_000_000;
    log(`pps: 128 B frames (esfc: IPv4/UDP/VXLAN-GPE/NSH MD1 around a 54 B inner packet), one veth into one node and back, ${frames} frames x ${repeat} runs, median`);
    for (const mode of ['generator', 'kernel', 'bare', 'esfc-xdp', 'esfc-tc'] as PpsMode[]) {
      const runs: PpsResult[] = [];
      for (let i = 0; i < repeat; i++) runs.push(await measurePps(mode, frames));
      pps.push({ mode, runs, mpps: median(runs.map((r) => r.pps)) / 1e6 });
      log(`  ${mode.padEnd(10)} ${f2(pps.at(-1)!.mpps)} Mpps`);
    }
    const get = (m: PpsMode) => pps.find((p) => p.mode === m)!.mpps;
    log('');
    // The generator shares the core with the node, so these rates are "generator + node"
    // and ratios between paths are compressed towards 1 (conservative for esfc).
    log('| path | Mpps (generator and node share a core) | x kernel | x bare XDP |');
    log('|---|---|---|---|');
    for (const m of ['kernel', 'bare', 'esfc-xdp', 'esfc-tc'] as PpsMode[]) {
      log(`| ${m} | ${f2(get(m))} | ${f2(get(m) / get('kernel'))} | ${f2(get(m) / get('bare'))} |`);
    }
    log(`| generator alone (node drops at XDP) | ${f2(get('generator'))} | | |`);
    log(`bar: esfc XDP >= 3x kernel forwarding: ${get('esfc-xdp') / get('kernel') >= 3 ? 'met' : 'NOT met'} (${f2(get('esfc-xdp') / get('kernel'))}x)`);
    log(`bar: esfc XDP >= 0.7 of bare XDP: ${get('esfc-xdp') / get('bare') >= 0.7 ? 'met' : 'NOT met'} (${f2(get('esfc-xdp') / get('bare'))})`);
    writeFileSync(join(out, 'fastpath-pps.svg'), barChart({
      title: 'Packets per second through one node (128 B frames, veth)', yLabel: 'Mpps',
      bars: pps.filter((p) => p.mode !== 'generator').map((p, i) => ({ name: p.mode, value: p.mpps, color: ['#888', '#333', '#1f77b4', '#2ca02c'][i]! })),
    }));
  }

  // ---- TCP through N SF hops: every row is `runs` iperf3 runs; tables, ratios, bars and the chart use medians
  const tcp: TcpResult[] = [];
  const seconds = quick ? 2 : 5;
  if (values.only !== 'pps') {
    const hops = quick ? [0, 1, 5, 25] : [0, 1, 2, 5, 10, 15, 20, 25];
    log('');
    log(`tcp: one iperf3 stream, ${seconds} s, MTU 1500 on every endpoint and SF, underlay MTU 1600 (veth bridge), three compute nodes, SFs as NSH-unaware namespaces behind the esfc proxy`);
    log(`tcp: ${tcpRuns === 1 ? `1 run per row${quick ? ' (--quick)' : ''}: single samples, no spread` : `${tcpRuns} runs per row (topology built once per row, runs back to back): median (min-max)`}`);
    tcp.push(await measureTcp('direct', 0, seconds, tcpRuns));
    log(`  direct veth: ${runLine(tcp[0]!)}`);
    for (const h of hops) {
      for (const mode of ['kernel', 'nodes', 'esfc-tc', 'esfc-xdp'] as TcpMode[]) {
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
      return tcpRuns === 1 ? f2(r.gbpsMedian) : `${f2(r.gbpsMedian)} (${f2(r.gbpsMin)}-${f2(r.gbpsMax)})`;
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
      ],
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
