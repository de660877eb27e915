/**
 * The program's P4Info as an index (names <-> ids, bit widths) and the codec
 * between P4Entity (agent/p4/p4-entities.ts: names and bigints) and
 * P4Runtime's TableEntry (ids and byte strings). Pure: no gRPC here.
 *
 * Byte strings are written in P4Runtime's canonical form (no leading zero
 * bytes, zero is one zero byte) and read in any width, so what is read back
 * compares equal to what was written.
 */
import type { P4Entity, P4Match } from './p4-entities.js';

interface Preamble { id: number; name: string; alias?: string }
export interface P4InfoJson {
  tables: { preamble: Preamble; matchFields?: { id: number; name: string; bitwidth: number; matchType: string }[]; actionRefs?: { id: number }[]; size?: string }[];
  actions: { preamble: Preamble; params?: { id: number; name: string; bitwidth: number }[] }[];
  counters?: { preamble: Preamble; size: string }[];
  registers?: { preamble: Preamble; size: number }[];
}

/** TableEntry as protobufjs objects it (camelCase; bytes as Buffer; 64-bit as string or number). */
export interface FieldMatchMsg {
  fieldId: number;
  exact?: { value: Uint8Array };
  ternary?: { value: Uint8Array; mask: Uint8Array };
  range?: { low: Uint8Array; high: Uint8Array };
  lpm?: { value: Uint8Array; prefixLen: number };
}
export interface TableEntryMsg {
  tableId: number;
  match?: FieldMatchMsg[];
  action?: { action?: { actionId: number; params?: { paramId: number; value: Uint8Array }[] } };
  priority?: number;
  isDefaultAction?: boolean;
}

export class P4InfoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'P4InfoError';
  }
}

interface Field { id: number; name: string; bitwidth: number; matchType: string }
interface TableInfo { id: number; name: string; fields: Map<string, Field>; byId: Map<number, Field> }
interface ActionInfo { id: number; name: string; params: Map<string, Field>; byId: Map<number, Field> }

const shortName = (p: Preamble): string => p.alias ?? p.name.split('.').pop()!;

/** Canonical P4Runtime byte string of v, which must fit in bitwidth bits. */
export function encodeValue(v: bigint, bitwidth: number, what: string): Buffer {
  if (v < 0n || v >> BigInt(bitwidth) !== 0n) throw new P4InfoError(`${what}: ${v} does not fit in bit<${bitwidth}>`);
  if (v === 0n) return Buffer.from([0]);
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

export function decodeValue(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

export class P4Info {
  readonly tables = new Map<string, TableInfo>();
  readonly actions = new Map<string, ActionInfo>();
  readonly counters = new Map<string, { id: number; size: number }>();
  private readonly tableById = new Map<number, TableInfo>();
  private readonly actionById = new Map<number, ActionInfo>();

  constructor(readonly json: P4InfoJson) {
    for (const t of json.tables) {
      const fields = new Map((t.matchFields ?? []).map((f) => [f.name, { ...f }]));
      const info: TableInfo = { id: t.preamble.id, name: shortName(t.preamble), fields, byId: new Map([...fields.values()].map((f) => [f.id, f])) };
      this.tables.set(info.name, info);
      this.tableById.set(info.id, info);
    }
    for (const a of json.actions) {
      const params = new Map((a.params ?? []).map((p) => [p.name, { ...p, matchType: '' }]));
      const info: ActionInfo = { id: a.preamble.id, name: shortName(a.preamble), params, byId: new Map([...params.values()].map((p) => [p.id, p])) };
      this.actions.set(info.name, info);
      this.actionById.set(info.id, info);
    }
    for (const c of json.counters ?? []) this.counters.set(shortName(c.preamble), { id: c.preamble.id, size: Number(c.size) });
  }

  table(name: string): TableInfo {
    const t = this.tables.get(name);
    if (!t) throw new P4InfoError(`table ${name} is not in the program's P4Info (tables: ${[...this.tables.keys()].join(', ')})`);
    return t;
  }

  action(name: string): ActionInfo {
    const a = this.actions.get(name);
    if (!a) throw new P4InfoError(`action ${name} is not in the program's P4Info`);
    return a;
  }

  counter(name: string): { id: number; size: number } {
    const c = this.counters.get(name);
    if (!c) throw new P4InfoError(`counter ${name} is not in the program's P4Info`);
    return c;
  }

  tableName(id: number): string {
    const t = this.tableById.get(id);
    if (!t) throw new P4InfoError(`table id ${id} is not in the program's P4Info`);
    return t.name;
  }

  private encodeAction(e: Pick<P4Entity, 'table' | 'action' | 'params'>): TableEntryMsg['action'] {
    const a = this.action(e.action);
    for (const k of Object.keys(e.params)) {
      if (!a.params.has(k)) throw new P4InfoError(`${e.table}: action ${e.action} has no parameter ${k}`);
    }
    const params = [...a.params.values()].map((p) => {
      const v = e.params[p.name];
      if (v === undefined) throw new P4InfoError(`${e.table}: action ${e.action} needs parameter ${p.name}`);
      return { paramId: p.id, value: encodeValue(v, p.bitwidth, `${e.table}.${e.action}.${p.name}`) };
    });
    return { action: { actionId: a.id, params } };
  }

  encodeEntry(e: P4Entity): TableEntryMsg {
    const t = this.table(e.table);
    const match: FieldMatchMsg[] = [];
    for (const [name, m] of Object.entries(e.match)) {
      const f = t.fields.get(name);
      if (!f) throw new P4InfoError(`${e.table} has no match field ${name}`);
      const what = `${e.table}.${name}`;
      const want = f.matchType.toLowerCase();
      if (m.kind !== want) throw new P4InfoError(`${what} is ${want}, given ${m.kind}`);
      switch (m.kind) {
        case 'exact': match.push({ fieldId: f.id, exact: { value: encodeValue(m.value, f.bitwidth, what) } }); break;
        case 'ternary': match.push({ fieldId: f.id, ternary: { value: encodeValue(m.value & m.mask, f.bitwidth, what), mask: encodeValue(m.mask, f.bitwidth, what) } }); break;
        case 'range': match.push({ fieldId: f.id, range: { low: encodeValue(m.low, f.bitwidth, what), high: encodeValue(m.high, f.bitwidth, what) } }); break;
      }
    }
    match.sort((a, b) => a.fieldId - b.fieldId);
    const out: TableEntryMsg = { tableId: t.id, match, action: this.encodeAction(e) };
    if (e.priority !== undefined) out.priority = e.priority;
    return out;
  }

  /** A table's default action (match left out, is_default_action set). */
  encodeDefault(table: string, action: string, params: Record<string, bigint>): TableEntryMsg {
    const t = this.table(table);
    return { tableId: t.id, isDefaultAction: true, action: this.encodeAction({ table, action, params }) };
  }

  decodeEntry(m: TableEntryMsg): P4Entity {
    const t = this.tableById.get(m.tableId);
    if (!t) throw new P4InfoError(`read back an entry of table id ${m.tableId}, which the P4Info does not have`);
    const match: Record<string, P4Match> = {};
    for (const fm of m.match ?? []) {
      const f = t.byId.get(fm.fieldId);
      if (!f) throw new P4InfoError(`${t.name}: read back match field id ${fm.fieldId}, which the P4Info does not have`);
      if (fm.exact) match[f.name] = { kind: 'exact', value: decodeValue(fm.exact.value) };
      else if (fm.ternary) match[f.name] = { kind: 'ternary', value: decodeValue(fm.ternary.value), mask: decodeValue(fm.ternary.mask) };
      else if (fm.range) match[f.name] = { kind: 'range', low: decodeValue(fm.range.low), high: decodeValue(fm.range.high) };
      else throw new P4InfoError(`${t.name}.${f.name}: read back a match kind the agent does not use`);
    }
    const act = m.action?.action;
    const a = act ? this.actionById.get(act.actionId) : undefined;
    if (!act || !a) throw new P4InfoError(`${t.name}: read back an entry without a known direct action`);
    const params: Record<string, bigint> = {};
    for (const p of act.params ?? []) {
      const info = a.byId.get(p.paramId);
      if (!info) throw new P4InfoError(`${t.name}: action ${a.name} read back with unknown parameter id ${p.paramId}`);
      params[info.name] = decodeValue(p.value);
    }
    const out: P4Entity = { table: t.name, match, action: a.name, params };
    if (m.priority) out.priority = m.priority;
    return out;
  }
}

/** One line naming an entry, for errors and logs (values only, never keys: the tables hold none). */
export function describeEntity(e: P4Entity): string {
  const m = Object.entries(e.match).map(([k, v]) => {
    switch (v.kind) {
      case 'exact': return `${k}=${v.value}`;
      case 'ternary': return `${k}=${v.value}&${v.mask}`;
      case 'range': return `${k}=${v.low}..${v.high}`;
    }
  });
  return `${e.table}[${m.join(',')}]${e.priority ? `@${e.priority}` : ''} -> ${e.action}`;
}
