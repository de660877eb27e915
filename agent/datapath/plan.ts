/**
 * plan(desired, actual, gen): the map writes that turn what one generation of
 * the tables holds into what the configuration wants, and nothing else.
 * Pure, so that the same config applied twice plans nothing, and a one-path
 * change plans one path. The generation written is not the one packets read
 * (the agent switches to it afterwards), so the order of the writes does not
 * matter for forwarding; deletes go first so a nearly full table has room.
 */
import type { DesiredState, Tables } from './compile.js';
import {
  classRuleCodec, configCodec, MapName, MAX_CLASS_RULES, MAX_IFINDEX, nextHopCodec, pathKeyCodec, peerSrcKeyCodec,
  portCodec, portKeyCodec, srcKeyCodec,
  type EsfcClassRule, type EsfcConfig,
} from './layout.js';

/** What one generation of the maps holds, decoded; config is absent until it was configured. */
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

function ids(id: string): number[] {
  return id.split('/').map(Number);
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

const EMPTY_PORT = portCodec.encode({ kind: 0, slot: 0, sf_id: 0, flags: 0, mtu: 0, underlay_ip_be: '0.0.0.0', mac: '00:00:00:00:00:00' });
const EMPTY_RULE = classRuleCodec.encode({} as EsfcClassRule);

/** What planMaps needs of a desired state: its tables and node config. */
export type TablesWanted = Pick<DesiredState, keyof Tables | 'config'>;

/** The tables a generation holds once `desired` is written into it. */
export function tablesAfter(desired: TablesWanted): ActualTables {
  const { ports, inner, outer, sources, peerSources, classifier, config } = desired;
  return { ports, inner, outer, sources, peerSources, classifier, config };
}

export function planMaps(desired: TablesWanted, actual: ActualTables, gen: number): MapOp[] {
  const pathKey = (id: string): Buffer => { const [spi, si] = ids(id); return pathKeyCodec.encode({ spi: spi!, si: si!, gen }); };
  // esfc_ports is an array (a port is removed by writing an unused, kind 0, entry); large ifindexes live in a hash.
  const portOps = diffMap(MapName.ports,
    new Map([...desired.ports].map(([k, v]) => [String(k), v])),
    new Map([...actual.ports].map(([k, v]) => [String(k), v])),
    (id) => (Number(id) < MAX_IFINDEX ? u32(gen * MAX_IFINDEX + Number(id)) : portKeyCodec.encode({ ifindex: Number(id), gen })),
    (v) => portCodec.encode(v), 'port ifindex');
  const toBig = (op: MapOp): MapOp => (op.key.length === 4 ? op : { ...op, map: MapName.portsBig });
  const ports = {
    puts: portOps.puts.map(toBig),
    deletes: portOps.deletes.map((d) => (d.key.length === 4 ? { ...d, op: 'put' as const, value: EMPTY_PORT } : toBig(d))),
  };
  const inner = diffMap(MapName.inner, desired.inner, actual.inner, pathKey, (v) => nextHopCodec.encode(v), 'inner hop');
  const outer = diffMap(MapName.outer, desired.outer, actual.outer, pathKey, (v) => nextHopCodec.encode(v), 'outer hop');
  const one = u32(1);
  const sources = diffMap(MapName.sources, desired.sources, actual.sources,
    (id) => { const [ifindex, spi, si] = ids(id); return srcKeyCodec.encode({ ifindex: ifindex!, spi: spi!, si: si!, gen }); },
    () => one, 'source');
  const peerSources = diffMap(MapName.peerSources, desired.peerSources, actual.peerSources,
    (id) => { const [saddr, spi, si] = id.split('/'); return peerSrcKeyCodec.encode({ saddr_be: saddr!, spi: Number(spi), si: Number(si), gen }); },
    () => one, 'peer source');

  const classifier: MapOp[] = [];
  for (let i = 0; i < MAX_CLASS_RULES; i++) {
    const want = desired.classifier[i] ? classRuleCodec.encode(desired.classifier[i]!) : EMPTY_RULE;
    const have = actual.classifier[i] ? classRuleCodec.encode(actual.classifier[i]!) : EMPTY_RULE;
    if (!want.equals(have)) classifier.push({ map: MapName.classifier, op: 'put', key: u32(gen * MAX_CLASS_RULES + i), value: want, what: `classifier rule ${i}` });
  }

  const cfg: MapOp[] = [];
  const wantCfg = configCodec.encode(desired.config);
  if (!actual.config || !configCodec.encode(actual.config).equals(wantCfg)) {
    cfg.push({ map: MapName.config, op: 'put', key: u32(gen), value: wantCfg, what: 'node config' });
  }
  return [
    ...inner.deletes, ...outer.deletes, ...sources.deletes, ...peerSources.deletes, ...ports.deletes,
    ...ports.puts, ...inner.puts, ...outer.puts, ...sources.puts, ...peerSources.puts,
    ...classifier, ...cfg,
  ];
}
