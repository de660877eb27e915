/**
 * Reads the datapath tables out of the kernel (decoded) and applies planned
 * writes. The only place that touches esfc's maps for forwarding state.
 */
import { pathKeyId, srcKeyId } from './compile.js';
import {
  classRuleCodec, configCodec, MapName, nextHopCodec, pathKeyCodec, portCodec, srcKeyCodec,
  type EsfcClassRule, type EsfcNextHop, type EsfcPort,
} from './layout.js';
import type { ActualTables, MapOp } from './plan.js';

/** The part of a BPF map this module needs; BpfMap provides it. */
export interface TableMap {
  readonly maxEntries: number;
  lookup(key: Buffer): Buffer | undefined;
  update(key: Buffer, value: Buffer): void;
  delete(key: Buffer): void;
  keys(): Iterable<Buffer>;
  /** Array maps: every value in index order in one go (BpfMap has it; a test double need not). */
  arrayValues?(): Buffer;
}

export type TableMaps = Record<MapName, TableMap>;

function readHops(m: TableMap): Map<string, EsfcNextHop> {
  const out = new Map<string, EsfcNextHop>();
  for (const k of m.keys()) {
    const v = m.lookup(k);
    if (!v) continue;
    const key = pathKeyCodec.decode(k);
    out.set(pathKeyId(key.spi, key.si), nextHopCodec.decode(v));
  }
  return out;
}

/** esfc_ports is an array indexed by ifindex; unused indices have kind 0. */
export function readPorts(m: TableMap): Map<number, EsfcPort> {
  const ports = new Map<number, EsfcPort>();
  if (m.arrayValues) {
    const all = m.arrayValues();
    const size = all.length / m.maxEntries;
    for (let i = 0; i < m.maxEntries; i++) {
      if (all.readUInt32LE(i * size) !== 0) ports.set(i, portCodec.decode(all.subarray(i * size, (i + 1) * size)));
    }
    return ports;
  }
  const key = Buffer.alloc(4);
  for (let i = 0; i < m.maxEntries; i++) {
    key.writeUInt32LE(i);
    const v = m.lookup(key);
    // kind is the first u32: skip unused indices without decoding them.
    if (v && v.readUInt32LE(0) !== 0) ports.set(i, portCodec.decode(v));
  }
  return ports;
}

export function readTables(maps: TableMaps): ActualTables {
  const ports = readPorts(maps[MapName.ports]);
  const sources = new Map<string, ReturnType<typeof srcKeyCodec.decode>>();
  for (const k of maps[MapName.sources].keys()) {
    const key = srcKeyCodec.decode(k);
    sources.set(srcKeyId(key), key);
  }
  const classifier: EsfcClassRule[] = [];
  const cm = maps[MapName.classifier];
  for (let i = 0; i < cm.maxEntries; i++) {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(i);
    const v = cm.lookup(key);
    classifier.push(v ? classRuleCodec.decode(v) : ({} as EsfcClassRule));
  }
  while (classifier.length && !classifier[classifier.length - 1]!.valid) classifier.pop();
  const cfgRaw = maps[MapName.config].lookup(Buffer.alloc(4));
  const config = cfgRaw ? configCodec.decode(cfgRaw) : undefined;
  return {
    ports, inner: readHops(maps[MapName.inner]), outer: readHops(maps[MapName.outer]), sources, classifier,
    config: config && config.abi_version ? config : undefined,
  };
}

export function applyOps(maps: TableMaps, ops: readonly MapOp[]): void {
  for (const op of ops) {
    const m = maps[op.map];
    if (op.op === 'put') m.update(op.key, op.value!);
    else m.delete(op.key);
  }
}
