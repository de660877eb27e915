/**
 * Counter names come from `enum esfc_stat` in the BTF of the compiled
 * object, so a drop reason is named once, in bpf/include/esfc_shared.h.
 */
export interface StatName {
  value: number;
  /** e.g. "drop_no_path", from ESFC_STAT_DROP_NO_PATH. */
  name: string;
  drop: boolean;
}

export function statNamesFromEnum(values: ReadonlyMap<string, number>): Map<number, StatName> {
  const first = values.get('ESFC_STAT_DROP_FIRST');
  if (first === undefined) throw new Error('enum esfc_stat has no ESFC_STAT_DROP_FIRST: BTF from another build?');
  const out = new Map<number, StatName>();
  for (const [k, v] of values) {
    if (k === 'ESFC_STAT_DROP_FIRST' || k === 'ESFC_STAT_MAX') continue;
    out.set(v, { value: v, name: k.replace(/^ESFC_STAT_/, '').toLowerCase(), drop: v >= first });
  }
  return out;
}
