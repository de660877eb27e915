/**
 * Counter names come from `enum esfc_stat` in the BTF of the compiled
 * object, so a drop reason is named once, in bpf/include/esfc_shared.h.
 */
export interface StatName {
  value: number;
  /** e.g. "drop_no_path", from ESFC_STAT_DROP_NO_PATH. */
  name: string;
  drop: boolean;
  /** Counted on top of the packet's terminal outcome (classified, proxy_return). */
  event: boolean;
}

export function statNamesFromEnum(values: ReadonlyMap<string, number>): Map<number, StatName> {
  const first = values.get('ESFC_STAT_DROP_FIRST');
  const events = values.get('ESFC_STAT_EVENT_FIRST');
  if (first === undefined || events === undefined) throw new Error('enum esfc_stat lacks ESFC_STAT_DROP_FIRST/EVENT_FIRST: BTF from another build?');
  const out = new Map<number, StatName>();
  for (const [k, v] of values) {
    if (k === 'ESFC_STAT_DROP_FIRST' || k === 'ESFC_STAT_EVENT_FIRST' || k === 'ESFC_STAT_MAX') continue;
    out.set(v, { value: v, name: k.replace(/^ESFC_STAT_/, '').toLowerCase(), drop: v >= first, event: v >= events && v < first });
  }
  return out;
}

/**
 * Packets received per port slot: every packet ends in exactly one terminal
 * stat, so the sum of those is what the port saw (the datapath keeps no
 * separate receive counter, to save an update per packet).
 */
export function receivedPerSlot(cells: ReadonlyMap<number, { packets: bigint; bytes: bigint }>, names: ReadonlyMap<number, StatName>, statMax: number): Map<number, { packets: bigint; bytes: bigint }> {
  const out = new Map<number, { packets: bigint; bytes: bigint }>();
  for (const [i, c] of cells) {
    const n = names.get(i % statMax);
    if (!n || n.event) continue;
    const slot = Math.floor(i / statMax);
    const acc = out.get(slot) ?? { packets: 0n, bytes: 0n };
    acc.packets += c.packets;
    acc.bytes += c.bytes;
    out.set(slot, acc);
  }
  return out;
}
