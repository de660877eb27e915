/**
 * Reads the datapath tables out of the kernel (decoded, one generation at a
 * time) and applies planned writes. The only place that touches esfc's maps
 * for forwarding state.
 */
import { pathKeyId, peerSrcKeyId, srcKeyId } from './compile.js';
import {
  classRuleCodec, configCodec, flowKeyCodec, GENERATIONS, MapName, MAX_CLASS_RULES, MAX_IFINDEX, nextHopCodec, pathKeyCodec,
  peerSrcKeyCodec, portCodec, portKeyCodec, srcKeyCodec, stateCodec,
  type EsfcClassRule, type EsfcPeerSrcKey, type EsfcPort, type EsfcSrcKey, type EsfcState,
} from './layout.js';
import type { ActualTables, MapOp } from './plan.js';

/** The part of a BPF map this module needs; BpfMap provides it. */
export interface TableMap {
  readonly maxEntries: number;
  lookup(key: Buffer): Buffer | undefined;
  update(key: Buffer, value: Buffer): void;
  delete(key: Buffer): void;
  keys(): Iterable<Buffer>;
  /** Array maps: `count` values from index `start` in index order, in a few syscalls (BpfMap has it; a test double need not). */
  arrayValues?(start?: number, count?: number): Buffer;
}

export type TableMaps = Record<MapName, TableMap>;

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

function emptyTables(): ActualTables {
  return { ports: new Map(), inner: new Map(), outer: new Map(), sources: new Map(), peerSources: new Map(), classifier: [], config: undefined };
}

/** Array entries of esfc_ports for one generation; unused indices have kind 0. */
function readArrayPorts(m: TableMap, gen: number, into: Map<number, EsfcPort>): void {
  const start = gen * MAX_IFINDEX;
  if (m.arrayValues) {
    const all = m.arrayValues(start, MAX_IFINDEX);
    const size = all.length / MAX_IFINDEX;
    for (let i = 0; i < MAX_IFINDEX; i++) {
      // kind is the first u32: skip unused indices without decoding them.
      if (all.readUInt32LE(i * size) !== 0) into.set(i, portCodec.decode(all.subarray(i * size, (i + 1) * size)));
    }
    return;
  }
  for (let i = 0; i < MAX_IFINDEX; i++) {
    const v = m.lookup(u32(start + i));
    if (v && v.readUInt32LE(0) !== 0) into.set(i, portCodec.decode(v));
  }
}

/** Every generation's tables, each hash map walked once. */
export function readGenerations(maps: TableMaps): ActualTables[] {
  const gens = Array.from({ length: GENERATIONS }, emptyTables);
  gens.forEach((t, g) => readArrayPorts(maps[MapName.ports], g, t.ports));
  for (const k of maps[MapName.portsBig].keys()) {
    const key = portKeyCodec.decode(k);
    const v = maps[MapName.portsBig].lookup(k);
    if (v && key.gen < GENERATIONS) gens[key.gen]!.ports.set(key.ifindex, portCodec.decode(v));
  }
  for (const [name, field] of [[MapName.inner, 'inner'], [MapName.outer, 'outer']] as const) {
    const m = maps[name];
    for (const k of m.keys()) {
      const key = pathKeyCodec.decode(k);
      const v = m.lookup(k);
      if (v && key.gen < GENERATIONS) gens[key.gen]![field].set(pathKeyId(key.spi, key.si), nextHopCodec.decode(v));
    }
  }
  for (const k of maps[MapName.sources].keys()) {
    const { gen, ...key } = srcKeyCodec.decode(k);
    if (gen < GENERATIONS) gens[gen]!.sources.set(srcKeyId(key), key satisfies EsfcSrcKey);
  }
  for (const k of maps[MapName.peerSources].keys()) {
    const { gen, ...key } = peerSrcKeyCodec.decode(k);
    if (gen < GENERATIONS) gens[gen]!.peerSources.set(peerSrcKeyId(key), key satisfies EsfcPeerSrcKey);
  }
  gens.forEach((t, g) => {
    const rules: EsfcClassRule[] = [];
    for (let i = 0; i < MAX_CLASS_RULES; i++) {
      const v = maps[MapName.classifier].lookup(u32(g * MAX_CLASS_RULES + i));
      const r = v ? classRuleCodec.decode(v) : undefined;
      if (!r?.valid) break;
      rules.push(r);
    }
    t.classifier = rules;
    const raw = maps[MapName.config].lookup(u32(g));
    const cfg = raw ? configCodec.decode(raw) : undefined;
    t.config = cfg && cfg.abi_version ? cfg : undefined;
  });
  return gens;
}

/** Which generation the datapath reads, and the agent's generation number in force. */
export function readState(maps: TableMaps): EsfcState {
  const raw = maps[MapName.state].lookup(u32(0));
  const st = raw ? stateCodec.decode(raw) : { active: 0, generation: 0n };
  return { active: st.active & 1, generation: st.generation };
}

/** The switch: one map write, after which every new packet uses `state.active`. */
export function writeState(maps: TableMaps, state: EsfcState): void {
  maps[MapName.state].update(u32(0), stateCodec.encode(state));
}

/** The active generation's ports (for counters, status), without reading the rest. */
export function readActivePorts(maps: TableMaps): Map<number, EsfcPort> {
  const { active } = readState(maps);
  const ports = new Map<number, EsfcPort>();
  readArrayPorts(maps[MapName.ports], active, ports);
  for (const k of maps[MapName.portsBig].keys()) {
    const key = portKeyCodec.decode(k);
    const v = maps[MapName.portsBig].lookup(k);
    if (v && key.gen === active) ports.set(key.ifindex, portCodec.decode(v));
  }
  return ports;
}

/** Entries of one table in one generation (status: table sizes). */
export function countEntries(t: ActualTables, name: MapName): number | undefined {
  switch (name) {
    case MapName.ports: return t.ports.size;
    case MapName.inner: return t.inner.size;
    case MapName.outer: return t.outer.size;
    case MapName.sources: return t.sources.size;
    case MapName.peerSources: return t.peerSources.size;
    case MapName.classifier: return t.classifier.length;
    case MapName.config: return t.config ? 1 : 0;
    default: return undefined;
  }
}

/** Delete the proxy's flow state of the given SF ids; returns how many flows went. */
export function purgeProxyFlows(maps: TableMaps, sfIds: ReadonlySet<number>): number {
  const m = maps[MapName.proxyFlows];
  let n = 0;
  for (const k of [...m.keys()]) {
    if (sfIds.has(flowKeyCodec.decode(k).sf_id)) {
      m.delete(k);
      n++;
    }
  }
  return n;
}

/** Liveness probe records of SFs that left the configuration (esfc_probe holds 1024). */
export function purgeProbeRecords(maps: TableMaps, sfIds: ReadonlySet<number>): number {
  const m = maps[MapName.probe];
  let n = 0;
  for (const k of [...m.keys()]) {
    if (sfIds.has(k.readUInt32LE(0))) {
      m.delete(k);
      n++;
    }
  }
  return n;
}

export function applyOps(maps: TableMaps, ops: readonly MapOp[]): void {
  for (const op of ops) {
    const m = maps[op.map];
    if (op.op === 'put') m.update(op.key, op.value!);
    else m.delete(op.key);
  }
}
