/**
 * plan(desired, actual): the map writes that turn what the kernel holds into
 * what the configuration wants, and nothing else. Pure, so that the same
 * config applied twice plans nothing, and a one-path change plans one path.
 */
import type { DesiredState, Tables } from './compile.js';
import {
  classRuleCodec, configCodec, MapName, nextHopCodec, pathKeyCodec, portCodec, srcKeyCodec,
  type EsfcClassRule, type EsfcConfig,
} from './layout.js';

/** What the maps hold now, decoded; config is absent until the node was configured. */
export interface ActualTables extends Tables {
  config: EsfcConfig | undefined;
}

export interface MapOp {
  map: MapName;
  op: 'put' | 'delete';
  key: Buffer;
  value?: Buffer;
  /** Human-readable description for the log. */
  what: string;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

function parsePathId(id: string): { spi: number; si: number } {
  const [spi, si] = id.split('/').map(Number);
  return { spi: spi!, si: si! };
}

function diffMap<V extends object>(
  map: MapName, desired: Map<string, V>, actual: Map<string, V>,
  encKey: (id: string) => Buffer, encVal: (v: V) => Buffer, label: string,
): { puts: MapOp[]; deletes: MapOp[] } {
  const puts: MapOp[] = [];
  const deletes: MapOp[] = [];
  for (const [id, v] of desired) {
    const a = actual.get(id);
    const val = encVal(v);
    if (!a || !encVal(a).equals(val)) puts.push({ map, op: 'put', key: encKey(id), value: val, what: `${label} ${id}` });
  }
  for (const id of actual.keys()) {
    if (!desired.has(id)) deletes.push({ map, op: 'delete', key: encKey(id), what: `${label} ${id}` });
  }
  return { puts, deletes };
}

/**
 * Order matters for a datapath that keeps forwarding while it is changed:
 * add ports, paths and sources before the classifier rules that lead into
 * them; stop classifying before removing paths; enable the node last.
 */
export function planMaps(desired: DesiredState, actual: ActualTables, classifierSize: number): MapOp[] {
  const pathKey = (id: string): Buffer => pathKeyCodec.encode(parsePathId(id));
  const ports = diffMap(MapName.ports,
    new Map([...desired.ports].map(([k, v]) => [String(k), v])),
    new Map([...actual.ports].map(([k, v]) => [String(k), v])),
    (id) => u32(Number(id)), (v) => portCodec.encode(v), 'port ifindex');
  const inner = diffMap(MapName.inner, desired.inner, actual.inner, pathKey, (v) => nextHopCodec.encode(v), 'inner hop');
  const outer = diffMap(MapName.outer, desired.outer, actual.outer, pathKey, (v) => nextHopCodec.encode(v), 'outer hop');
  const one = Buffer.from([1, 0, 0, 0]);
  const sources = diffMap(MapName.sources, desired.sources, actual.sources,
    (id) => { const [i, spi, si] = id.split('/').map(Number); return srcKeyCodec.encode({ ifindex: i!, spi: spi!, si: si! }); },
    () => one, 'source');

  const classifier: MapOp[] = [];
  const empty = classRuleCodec.encode({} as EsfcClassRule);
  for (let i = 0; i < classifierSize; i++) {
    const want = desired.classifier[i] ? classRuleCodec.encode(desired.classifier[i]!) : empty;
    const have = actual.classifier[i] ? classRuleCodec.encode(actual.classifier[i]!) : empty;
    if (!want.equals(have)) classifier.push({ map: MapName.classifier, op: 'put', key: u32(i), value: want, what: `classifier rule ${i}` });
  }
  // Rules are scanned until the first invalid one: write the tail first when shrinking.
  classifier.reverse();

  const cfg: MapOp[] = [];
  const wantCfg = configCodec.encode(desired.config);
  if (!actual.config || !configCodec.encode(actual.config).equals(wantCfg)) {
    cfg.push({ map: MapName.config, op: 'put', key: u32(0), value: wantCfg, what: 'node config' });
  }
  // esfc_ports is an array: a port is removed by writing an unused (kind 0) entry.
  const emptyPort = portCodec.encode({ kind: 0, slot: 0, sf_id: 0, flags: 0, mtu: 0, underlay_ip_be: '0.0.0.0', mac: '00:00:00:00:00:00' });
  const portDeletes = ports.deletes.map((d) => ({ ...d, op: 'put' as const, value: emptyPort }));
  return [
    ...ports.puts, ...inner.puts, ...outer.puts, ...sources.puts,
    ...classifier,
    ...inner.deletes, ...outer.deletes, ...sources.deletes, ...portDeletes,
    ...cfg,
  ];
}

