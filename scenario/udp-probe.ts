/**
 * A sequence-numbered UDP stream for loss measurements (64 pps as in the
 * paper's Table 1). Run as a process inside a namespace:
 *   node udp-probe.js send DST PORT PPS SECONDS
 *   node udp-probe.js recv PORT            (prints a JSON summary on SIGTERM)
 */
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import type { ScenarioNet } from './net.js';
import { spawnInNs, waitForLine } from './sh.js';

export interface ProbeSummary {
  received: number;
  lost: number;
  lostSeqs: number[];
  reordered: number;
  highest: number;
}

export function summarize(seqs: readonly number[], sent?: number): ProbeSummary {
  const seen = new Set(seqs);
  const highest = sent !== undefined ? sent - 1 : Math.max(-1, ...seqs);
  const lostSeqs: number[] = [];
  for (let i = 0; i <= highest; i++) if (!seen.has(i)) lostSeqs.push(i);
  let reordered = 0;
  for (let i = 1; i < seqs.length; i++) if (seqs[i]! < seqs[i - 1]!) reordered++;
  return { received: seen.size, lost: lostSeqs.length, lostSeqs: lostSeqs.slice(0, 50), reordered, highest };
}

function send(dst: string, port: number, pps: number, seconds: number): void {
  const s = createSocket('udp4');
  const total = Math.round(pps * seconds);
  const start = process.hrtime.bigint();
  let seq = 0;
  const tick = (): void => {
    const due = Number((process.hrtime.bigint() - start) / 1_000_000n) * pps / 1000;
    while (seq < total && seq <= due) {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(seq++, 0);
      b.writeBigUInt64BE(BigInt(Date.now()), 4);
      PROBE_MARKER.copy(b, 12);
      // The first packet is out: the caller's action (a key change, a failure) starts under traffic.
      if (seq === 1) s.send(b, port, dst, () => process.stdout.write(JSON.stringify({ started: 0 }) + '\n'));
      else s.send(b, port, dst);
    }
    if (seq < total) setTimeout(tick, 2);
    else setTimeout(() => { process.stdout.write(JSON.stringify({ sent: total }) + '\n'); s.close(); }, 50);
  };
  tick();
}

const PROBE = fileURLToPath(import.meta.url);

export interface ProbeRun extends ProbeSummary {
  total: number;
  /** Longest time between two packets arriving (ms): the outage, where losses alone would miss a stall. */
  maxGapMs?: number;
  /** The last packet that arrived: its sequence number, when it was sent and when it arrived (ms). */
  last?: { seq: number; sentAt: number; recvAt: number };
  /** The first one that arrived (a path that is being set up: when it started to carry). */
  first?: { seq: number; sentAt: number; recvAt: number };
}

/**
 * 64 pps from the scenario's client to its server for `seconds`, while
 * `during` runs (from the first packet sent); `slow` stretches the waits
 * (the kernel lab runs ~10x slower).
 */
export async function runProbe(net: ScenarioNet, server: string, port: number, seconds: number, during: () => Promise<void>, slow = 1): Promise<ProbeRun> {
  const recv = spawnInNs(net.ns('server'), [process.execPath, PROBE, 'recv', String(port)]);
  await waitForLine(recv, (l) => l.includes('listening'), 15_000 * slow);
  const send = spawnInNs(net.ns('client'), [process.execPath, PROBE, 'send', server, String(port), '64', String(seconds)]);
  const sent = waitForLine(send, (l) => l.includes('"sent"'), (seconds + 30) * 1000 * slow);
  // Not before the stream flows: a sender that starts slowly (the lab) would otherwise miss the start of `during`.
  await waitForLine(send, (l) => l.includes('"started"'), 15_000 * slow);
  await during();
  const total = (JSON.parse(await sent) as { sent: number }).sent;
  await new Promise((r) => setTimeout(r, 500 * slow));
  const line = waitForLine(recv, (l) => l.includes('"seqs"'), 15_000 * slow);
  recv.kill('SIGTERM');
  const r = JSON.parse(await line) as { seqs: number[]; last?: ProbeRun['last']; first?: ProbeRun['first']; maxGapMs?: number };
  return {
    total, ...summarize(r.seqs, total), ...(r.last ? { last: r.last } : {}), ...(r.first ? { first: r.first } : {}),
    ...(r.maxGapMs !== undefined ? { maxGapMs: r.maxGapMs } : {}),
  };
}

/** In every probe payload: a capture of an encrypted hop must never contain it. */
export const PROBE_MARKER = Buffer.from('ESFC-PLAINTEXT-MARKER');

function recv(port: number): void {
  const s = createSocket('udp4');
  const seqs: number[] = [];
  let last: { seq: number; sentAt: number; recvAt: number } | undefined;
  let first: typeof last;
  let prevAt: bigint | undefined;
  let maxGapNs = 0n;
  s.on('message', (m) => {
    if (m.length < 4) return;
    const now = process.hrtime.bigint();
    if (prevAt !== undefined && now - prevAt > maxGapNs) maxGapNs = now - prevAt;
    prevAt = now;
    seqs.push(m.readUInt32BE(0));
    if (m.length >= 12) last = { seq: m.readUInt32BE(0), sentAt: Number(m.readBigUInt64BE(4)), recvAt: Date.now() };
    first ??= last;
  });
  s.bind(port, () => process.stdout.write(JSON.stringify({ listening: port }) + '\n'));
  process.on('SIGTERM', () => {
    process.stdout.write(JSON.stringify({ seqs, last, first, maxGapMs: Number(maxGapNs) / 1e6 }) + '\n');
    s.close();
    process.exit(0);
  });
}

if (process.argv[1]?.endsWith('udp-probe.js')) {
  const [mode, a, b, c, d] = process.argv.slice(2);
  if (mode === 'send') send(a!, Number(b), Number(c), Number(d));
  else if (mode === 'recv') recv(Number(a));
  else { process.stderr.write('usage: udp-probe send DST PORT PPS SECONDS | recv PORT\n'); process.exit(2); }
}
