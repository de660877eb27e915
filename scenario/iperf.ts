/** One iperf3 TCP stream between two namespaces, for benchmarks and tests. */
import { nsh, spawnInNs, stopProcess, waitForLine } from './sh.js';

export interface IperfResult { gbps: number; bytes: number; retransmits: number }

/** `slow` stretches the timeouts (the kernel lab runs ~10x slower). */
export async function iperf(serverNs: string, clientNs: string, ip: string, seconds: number, slow = 1): Promise<IperfResult> {
  const srv = spawnInNs(serverNs, ['iperf3', '-s', '-1', '--forceflush']);
  try {
    await waitForLine(srv, (l) => l.includes('Server listening'), 10_000 * slow);
    const out = await nsh(clientNs, ['iperf3', '-c', ip, '-t', String(seconds), '-J'], { timeoutMs: (seconds + 30 * slow) * 1000 });
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number; bytes: number }; sum_sent: { retransmits?: number } } };
    return { gbps: j.end.sum_received.bits_per_second / 1e9, bytes: j.end.sum_received.bytes, retransmits: j.end.sum_sent.retransmits ?? 0 };
  } finally {
    await stopProcess(srv);
  }
}
