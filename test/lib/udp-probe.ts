/**
 * A sequence-numbered UDP stream for loss measurements (64 pps as in the
 * paper's Table 1). Run as a process inside a namespace:
 *   node udp-probe.js send DST PORT PPS SECONDS
 *   node udp-probe.js recv PORT            (prints a JSON summary on SIGTERM)
 */
import { createSocket } from 'node:dgram';

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
      s.send(b, port, dst);
    }
    if (seq < total) setTimeout(tick, 2);
    else setTimeout(() => { process.stdout.write(JSON.stringify({ sent: total }) + '\n'); s.close(); }, 50);
  };
  tick();
}

/** In every probe payload: a capture of an encrypted hop must never contain it. */
export const PROBE_MARKER = Buffer.from('ESFC-PLAINTEXT-MARKER');

function recv(port: number): void {
  const s = createSocket('udp4');
  const seqs: number[] = [];
  let last: { seq: number; sentAt: number; recvAt: number } | undefined;
  s.on('message', (m) => {
    if (m.length < 4) return;
    seqs.push(m.readUInt32BE(0));
    if (m.length >= 12) last = { seq: m.readUInt32BE(0), sentAt: Number(m.readBigUInt64BE(4)), recvAt: Date.now() };
  });
  s.bind(port, () => process.stdout.write(JSON.stringify({ listening: port }) + '\n'));
  process.on('SIGTERM', () => {
    process.stdout.write(JSON.stringify({ seqs, last }) + '\n');
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
