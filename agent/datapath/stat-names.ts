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

/** `prefix` is the enum's member prefix: ESFC_STAT_ (forwarding) or ESFC_EF_STAT_ (EF glue, which has no events). */
export function statNamesFromEnum(values: ReadonlyMap<string, number>, prefix = 'ESFC_STAT_'): Map<number, StatName> {
  const first = values.get(`${prefix}DROP_FIRST`);
  const events = values.get(`${prefix}EVENT_FIRST`) ?? first;
  if (first === undefined || events === undefined) throw new Error(`enum ${prefix} lacks ${prefix}DROP_FIRST: BTF from another build?`);
  const out = new Map<number, StatName>();
  for (const [k, v] of values) {
    if (k === `${prefix}DROP_FIRST` || k === `${prefix}EVENT_FIRST` || k === `${prefix}MAX`) continue;
    out.set(v, { value: v, name: k.slice(prefix.length).toLowerCase(), drop: v >= first, event: v >= events && v < first });
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
