/**
 * Counter cells (index slot * STAT_MAX + stat) as the rows `esfc agent status`
 * prints: per port, what was received, then each outcome. The same for the
 * eBPF maps and for BMv2's esfc_counters. Pure.
 */
import { STAT_MAX } from '../datapath/layout.js';
import { receivedPerSlot, type StatName } from '../datapath/stat-names.js';
import type { CounterRow } from './snapshot.js';

export type Cells = ReadonlyMap<number, { packets: bigint; bytes: bigint }>;

export function counterRows(cells: Cells, stats: ReadonlyMap<number, StatName>, slotNames: ReadonlyMap<number, string>): CounterRow[] {
  const portOf = (slot: number): string => slotNames.get(slot) ?? (slot === 0 ? 'node' : `slot${slot}`);
  const rows: CounterRow[] = [...receivedPerSlot(cells, stats, STAT_MAX)].filter(([, c]) => c.packets || c.bytes).map(([slot, c]) => ({ port: portOf(slot), slot, stat: 'rx', drop: false, packets: c.packets, bytes: c.bytes }));
  for (const [index, c] of cells) {
    if (!c.packets && !c.bytes) continue;
    const slot = Math.floor(index / STAT_MAX);
    const s = stats.get(index % STAT_MAX);
    rows.push({ port: portOf(slot), slot, stat: s?.name ?? `stat${index % STAT_MAX}`, drop: s?.drop ?? false, packets: c.packets, bytes: c.bytes });
  }
  return rows;
}
