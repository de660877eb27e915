/**
 * One iperf3 TCP stream through N service functions (the paper's Figure 9
 * axis), in one run, against baselines on the same machine:
 *   direct   client and server on one veth (the ceiling)
 *   kernel   the same NSH-unaware SF namespaces chained by plain kernel routing
 *   esfc-tc  esfc, TC on every port (auto), SFs spread over three nodes
 *   esfc-xdp esfc with XDP on the underlay ports (the underlay behaves as a wire)
 */
import { planScenario } from '../test/lib/scenario.js';
import { ScenarioNet } from '../test/lib/scenario-net.js';
import { nsh, sh, spawnInNs, stopProcess, waitForLine } from '../test/lib/sh.js';

export type TcpMode = 'direct' | 'kernel' | 'esfc-tc' | 'esfc-xdp';
export interface TcpResult { mode: TcpMode; hops: number; gbps: number; retransmits: number }

async function iperf(serverNs: string, clientNs: string, ip: string, seconds: number): Promise<{ gbps: number; retransmits: number }> {
  const srv = spawnInNs(serverNs, ['iperf3', '-s', '-1', '--forceflush']);
  try {
    await waitForLine(srv, (l) => l.includes('Server listening'), 10_000);
    const out = await nsh(clientNs, ['iperf3', '-c', ip, '-t', String(seconds), '-J'], { timeoutMs: (seconds + 30) * 1000 });
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits: number } } };
    return { gbps: j.end.sum_received.bits_per_second / 1e9, retransmits: j.end.sum_sent.retransmits };
  } finally {
    await stopProcess(srv);
  }
}

/** client - sf1 - ... - sfN - server, one veth per link, kernel IP forwarding in every SF. */
async function kernelChain(mode: 'direct' | 'kernel', hops: number, seconds: number): Promise<TcpResult> {
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
    const r = await iperf(names.at(-1)!, names[0]!, `10.200.${hops}.2`, seconds);
    return { mode, hops, ...r };
  } finally {
    for (const n of names) await sh(['ip', 'netns', 'del', n]).catch(() => undefined);
  }
}

async function esfcChain(mode: 'esfc-tc' | 'esfc-xdp', hops: number, seconds: number): Promise<TcpResult> {
  const plan = planScenario({ sfCount: hops });
  const net = await ScenarioNet.build(plan, mode === 'esfc-xdp' ? { underlayHook: 'xdp', wire: true, endpointGro: true } : {}, `b${mode === 'esfc-xdp' ? 'x' : 't'}`);
  try {
    await net.startAgents();
    const r = await iperf(net.ns('server'), net.ns('client'), plan.server.ip, seconds);
    return { mode, hops, ...r };
  } finally {
    await net.destroy();
  }
}

export async function measureTcp(mode: TcpMode, hops: number, seconds: number): Promise<TcpResult> {
  if (mode === 'direct') return kernelChain('direct', 0, seconds);
  if (mode === 'kernel') return kernelChain('kernel', hops, seconds);
  return esfcChain(mode, hops, seconds);
}
