/** Builds a NodeSnapshot from the live (pinned) datapath. */
import { counterRows } from './counter-rows.js';
import type { KernelDatapath } from '../datapath/kernel-datapath.js';
import type { ActualTables } from '../datapath/plan.js';
import type { NodeSnapshot } from './snapshot.js';

/** `active`: the tables in force if the caller knows them (the agent does), else they are read. */
export function takeSnapshot(dp: KernelDatapath, node: string, pinDir: string, generation: number, active?: ActualTables): NodeSnapshot {
  const counters = counterRows(dp.readCounters(), dp.statNames, dp.slotNames);
  return { node, pinDir, generation, hooks: dp.hookStatus(), tables: dp.tableSizes(active), counters };
}
