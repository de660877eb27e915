/** Builds a NodeSnapshot from the live (pinned) datapath. */
import { STAT_MAX } from '../datapath/layout.js';
import { receivedPerSlot } from '../datapath/stat-names.js';
import type { KernelDatapath } from '../datapath/kernel-datapath.js';
import type { ActualTables } from '../datapath/plan.js';
import type { CounterRow, NodeSnapshot } from './snapshot.js';

/** `active`: the tables in force if the caller knows them (the agent does), else they are read. */
export function takeSnapshot(dp: KernelDatapath, node: string, pinDir: string, generation: number, active?: ActualTables): NodeSnapshot {
  const counters: CounterRow[] = [];
  const cells = dp.readCounters();
  for (const [slot, c] of receivedPerSlot(cells, dp.statNames, STAT_MAX)) {
    counters.push({ port: dp.slotNames.get(slot) ?? `slot${slot}`, slot, stat: 'rx', drop: false, packets: c.packets, bytes: c.bytes });
  }
  for (const [index, c] of cells) {
    const slot = Math.floor(index / STAT_MAX);
    const stat = dp.statNames.get(index % STAT_MAX);
    counters.push({
      port: dp.slotNames.get(slot) ?? (slot === 0 ? 'node' : `slot${slot}`),
      slot, stat: stat?.name ?? `stat${index % STAT_MAX}`, drop: stat?.drop ?? false,
      packets: c.packets, bytes: c.bytes,
    });
  }
  return { node, pinDir, generation, hooks: dp.hookStatus(), tables: dp.tableSizes(active), counters };
}
