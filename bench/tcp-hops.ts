/**
 * One iperf3 TCP stream through N service functions (the paper's Figure 9
 * axis), in one run, against baselines on the same machine:
 *   direct   client and server on one veth (the ceiling)
 *   kernel   the same NSH-unaware SF namespaces chained by plain kernel routing
 *   esfc-tc  esfc, TC on every port (auto), SFs spread over three nodes
 *   esfc-xdp esfc with XDP on the underlay ports (the underlay behaves as a wire)
 *   nodes    the esfc topology (same SFs, same nodes, same veths) with no esfc:
 *            the node namespaces chain the SFs by policy routing (ip rule iif)
 *   esfc-p4  esfc with every node on BMv2 (hook p4): simple_switch_grpc is
 *            each node's SFF, as the paper's SFFs were; 1 and 5 hops only
 * Each row builds its topology once and runs iperf3 `runs` times in it, back
 * to back; the row reports the median and the min-max of those runs.
 */
import { chain, planScenario, type ScenarioPlan } from '../scenario/plan.js';
import { ScenarioNet } from '../scenario/net.js';
import { nsh, sh } from '../scenario/sh.js';
import { p4Paths } from '../agent/p4/p4-paths.js';
import { iperf } from '../scenario/iperf.js';

export type TcpMode = 'direct' | 'kernel' | 'nodes' | 'esfc-tc' | 'esfc-xdp' | 'esfc-p4';

/** One iperf3 run. */
export interface TcpSample { gbps: number; bytes: number; retransmits: number }

/**
 * One row: `runs` iperf3 runs in one topology. Tables, ratios, bars and the
 * chart's points use gbpsMedian; gbpsMin/gbpsMax are the spread (whiskers).
 */
export interface TcpResult {
  mode: TcpMode;
  hops: number;
  gbpsMedian: number;
  gbpsMin: number;
  gbpsMax: number;
  retransmitsMedian: number;
  samples: TcpSample[];
}

/** Median (mean of the middle two for an even count). Pure. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A row from its samples. Pure. */
export function summarize(mode: TcpMode, hops: number, samples: TcpSample[]): TcpResult {
  const g = samples.map((x) => x.gbps);
  return {
    mode, hops,
    gbpsMedian: median(g), gbpsMin: Math.min(...g), gbpsMax: Math.max(...g),
    retransmitsMedian: median(samples.map((x) => x.retransmits)),
    samples,
  };
}

/** `runs` iperf3 runs of `seconds` each between two namespaces, one after the other. */
async function iperfRuns(serverNs: string, clientNs: string, ip: string, seconds: number, runs: number): Promise<TcpSample[]> {
  const out: TcpSample[] = [];
  for (let i = 0; i < runs; i++) out.push(await iperf(serverNs, clientNs, ip, seconds));
  return out;
}

/** client - sf1 - ... - sfN - server, one veth per link, kernel IP forwarding in every SF. */
async function kernelChain(mode: 'direct' | 'kernel', hops: number, seconds: number, runs: number): Promise<TcpResult> {
  const tag = `esfc-k${process.pid}`;
  const names = ['client', ...Array.from({ length: hops }, (_, i) => `sf${i + 1}`), 'server'].map((n) => `${tag}-${n}`);
  try {
    for (const n of names) {
      await sh(['ip', 'netns', 'add', n]);
      await sh(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
    }
    for (let i = 0; i + 1 < names.length; i++) {
      await sh(['ip', '-n', names[i]!, 'link', 'add', 'kr0', 'type', 'veth', 'peer', 'name', 'kl0', 'netns', names[i + 1]!]);
      await sh(['ip', '-n', names[i]!, 'addr', 'add', `10.200.${i}.1/24`, 'dev', 'kr0']);
      await sh(['ip', '-n', names[i + 1]!, 'addr', 'add', `10.200.${i}.2/24`, 'dev', 'kl0']);
      await sh(['ip', '-n', names[i]!, 'link', 'set', 'dev', 'kr0', 'up']);
      await sh(['ip', '-n', names[i + 1]!, 'link', 'set', 'dev', 'kl0', 'up']);
    }
    // Everyone routes towards the server by default; SFs route the client's subnet back.
    for (let i = 0; i < names.length - 1; i++) await sh(['ip', '-n', names[i]!, 'route', 'add', 'default', 'via', `10.200.${i}.2`]);
    for (let i = 1; i < names.length - 1; i++) {
      await nsh(names[i]!, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      if (i > 1) await sh(['ip', '-n', names[i]!, 'route', 'add', '10.200.0.0/24', 'via', `10.200.${i - 1}.1`]);
    }
    await sh(['ip', '-n', names.at(-1)!, 'route', 'add', 'default', 'via', `10.200.${hops}.1`]);
    return summarize(mode, hops, await iperfRuns(names.at(-1)!, names[0]!, `10.200.${hops}.2`, seconds, runs));
  } finally {
    for (const n of names) await sh(['ip', 'netns', 'del', n]).catch(() => undefined);
  }
}

async function esfcChain(mode: 'esfc-tc' | 'esfc-xdp', hops: number, seconds: number, runs: number): Promise<TcpResult> {
  const plan = planScenario({ sfCount: hops });
  const net = await ScenarioNet.build(plan, mode === 'esfc-xdp' ? { underlayHook: 'xdp', wire: true, endpointGro: true } : {}, `b${mode === 'esfc-xdp' ? 'x' : 't'}`);
  try {
    await net.startAgents();
    return summarize(mode, hops, await iperfRuns(net.ns('server'), net.ns('client'), plan.server.ip, seconds, runs));
  } finally {
    await net.destroy();
  }
}

/**
 * Every node on BMv2. BMv2 reads its ports with packet sockets, which get a
 * frame as its sender handed it to the veth: a TCP GSO super-packet (bigger
 * than the MTU) or one with CHECKSUM_PARTIAL (checksum not yet computed)
 * reaches BMv2 as such and is dropped or forwarded corrupt. So every sender
 * into a BMv2 port finishes its frames itself (tx checksum offload off, which
 * also turns TSO off): the SFs' ends, the client's and server's, and the
 * underlay bridge's ports (wire). No GRO on BMv2's ports for the same reason.
 */
async function p4Chain(hops: number, seconds: number, runs: number): Promise<TcpResult> {
  // Fails with P4PathsError (BMv2 not installed) before building anything.
  p4Paths();
  const plan = planScenario({ sfCount: hops });
  const net = await ScenarioNet.build(plan, { underlayHook: 'p4', wire: true }, 'bp');
  try {
    for (const sf of plan.nodes.flatMap((n) => n.sfs)) {
      for (const arm of [sf.armA, sf.armB]) await nsh(net.ns(sf.name), ['ethtool', '-K', arm.sf, 'tx', 'off']);
    }
    for (const role of ['client', 'server']) await nsh(net.ns(role), ['ethtool', '-K', 'eth0', 'tx', 'off']);
    await net.startAgents();
    return summarize('esfc-p4', hops, await iperfRuns(net.ns('server'), net.ns('client'), plan.server.ip, seconds, runs));
  } finally {
    // destroy() uninstalls every node, which stops its BMv2 (killing an agent does not).
    await net.destroy();
  }
}

/**
 * Kernel routing in the node namespaces steers the chain: a packet's next hop
 * depends on the interface it came in on (one table per ingress interface)
 * and on its direction (destination prefix).
 */
async function routeThroughNodes(net: ScenarioNet, plan: ScenarioPlan): Promise<void> {
  const tables = new Map<string, number>();
  const ulIp = (node: string) => plan.nodes.find((n) => n.name === node)!.ulIp;
  const route = async (node: string, iif: string, prefix: string, via: string): Promise<void> => {
    const key = `${node}/${iif}`;
    if (!tables.has(key)) {
      tables.set(key, 100 + tables.size);
      await sh(['ip', '-n', net.ns(node), 'rule', 'add', 'iif', iif, 'lookup', String(tables.get(key)), 'pref', String(1000 + tables.size)]);
    }
    await sh(['ip', '-n', net.ns(node), 'route', 'add', prefix, 'via', via, 'table', String(tables.get(key))]);
  };
  for (const n of plan.nodes) {
    await nsh(net.ns(n.name), ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.all.send_redirects=0']);
  }
  const sfs = chain(plan);
  for (const dir of ['forward', 'reverse'] as const) {
    const prefix = dir === 'forward' ? '172.16.2.0/24' : '172.16.1.0/24';
    const start = dir === 'forward' ? plan.client : plan.server;
    const end = dir === 'forward' ? plan.server : plan.client;
    let cur = { node: start.node, iif: dir === 'forward' ? 'edge-c' : 'edge-s' };
    for (const sf of dir === 'forward' ? sfs : [...sfs].reverse()) {
      const inArm = dir === 'forward' ? sf.armA : sf.armB;
      const outArm = dir === 'forward' ? sf.armB : sf.armA;
      if (sf.node !== cur.node) {
        await route(cur.node, cur.iif, prefix, ulIp(sf.node));
        cur = { node: sf.node, iif: 'ul0' };
      }
      await route(cur.node, cur.iif, prefix, inArm.sfIp);
      cur = { node: sf.node, iif: outArm.host };
    }
    // The last node delivers through its connected edge subnet (main table).
    if (end.node !== cur.node) await route(cur.node, cur.iif, prefix, ulIp(end.node));
  }
}

async function nodesChain(hops: number, seconds: number, runs: number): Promise<TcpResult> {
  const plan = planScenario({ sfCount: hops });
  const net = await ScenarioNet.build(plan, {}, 'bn');
  try {
    await routeThroughNodes(net, plan);
    return summarize('nodes', hops, await iperfRuns(net.ns('server'), net.ns('client'), plan.server.ip, seconds, runs));
  } finally {
    await net.destroy();
  }
}

/** One row: the topology built once, `runs` (>= 1) iperf3 runs of `seconds` in it. */
export async function measureTcp(mode: TcpMode, hops: number, seconds: number, runs = 1): Promise<TcpResult> {
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`runs must be an integer >= 1, not ${runs}`);
  if (mode === 'direct') return kernelChain('direct', 0, seconds, runs);
  if (mode === 'kernel') return kernelChain('kernel', hops, seconds, runs);
  if (mode === 'nodes') return nodesChain(hops, seconds, runs);
  if (mode === 'esfc-p4') return p4Chain(hops, seconds, runs);
  return esfcChain(mode, hops, seconds, runs);
}
