/**
 * The eBPF core and the P4 program side by side: what one frame did on each
 * (verdict, output bytes, counters), and where they differ.
 */
import type { EsfcCounter } from '../../agent/datapath/layout.js';
import type { P4Entity } from '../../agent/p4/p4-entities.js';

/** One frame through the eBPF core (BPF_PROG_TEST_RUN on TC). */
export interface RecordedCase {
  port: string;
  ifindex: number;
  frame: Buffer;
  /** The generation the tables were read in. */
  gen: number;
  /** That generation's tables then, as the agent would write them to BMv2. */
  tables: readonly P4Entity[];
  verdict: string;
  data: Buffer;
  /** Counter cells (slot * STAT_MAX + stat) that changed, by how many packets. */
  counted: Map<number, bigint>;
}

/** One frame through BMv2: the counter cells it changed and what came out, if anything. */
export interface Bmv2Outcome {
  counted: Map<number, bigint>;
  /** The egress port it named (slow-path header) and the frame behind the header. */
  output?: { ifindex: number; frame: Buffer };
}

export function counterDelta(before: ReadonlyMap<number, EsfcCounter>, after: ReadonlyMap<number, EsfcCounter>): Map<number, bigint> {
  const d = new Map<number, bigint>();
  for (const [i, c] of after) {
    const n = c.packets - (before.get(i)?.packets ?? 0n);
    if (n) d.set(i, n);
  }
  return d;
}

const cells = (m: ReadonlyMap<number, bigint>, name: (i: number) => string): string =>
  [...m].sort(([a], [b]) => a - b).map(([i, n]) => `${name(i)}+${n}`).join(' ') || '(nothing)';

/**
 * Differences between the two targets for one frame, as sentences; none when
 * they agree. `egressOf(mac)` names the port that sends with that source MAC.
 */
export function differences(bpf: RecordedCase, bmv2: Bmv2Outcome, name: (cell: number) => string,
  egressOf: (srcMac: Buffer) => number | undefined): string[] {
  const out: string[] = [];
  const a = cells(bpf.counted, name);
  const b = cells(bmv2.counted, name);
  if (a !== b) out.push(`counters: eBPF ${a}, BMv2 ${b}`);
  if (bpf.verdict === 'redirect') {
    if (!bmv2.output) {
      out.push(`eBPF forwarded (${bpf.data.length} bytes), BMv2 sent nothing`);
    } else {
      if (!bmv2.output.frame.equals(bpf.data)) {
        out.push(`output bytes differ:\n  eBPF ${bpf.data.toString('hex')}\n  BMv2 ${bmv2.output.frame.toString('hex')}`);
      }
      const want = bpf.data.length >= 12 ? egressOf(bpf.data.subarray(6, 12)) : undefined;
      if (want !== undefined && want !== bmv2.output.ifindex) out.push(`egress: eBPF's frame leaves by ifindex ${want}, BMv2 named ${bmv2.output.ifindex}`);
    }
  } else if (bmv2.output) {
    out.push(`eBPF: ${bpf.verdict}, BMv2 sent ${bmv2.output.frame.length} bytes out of ifindex ${bmv2.output.ifindex}`);
  }
  return out;
}
