/**
 * The node's compiled tables (agent/datapath/compile.ts, the same compile that
 * fills the BPF maps) as P4Runtime table entries of p4/esfc.p4, and the diff
 * between what BMv2 holds and what it should. Pure: no gRPC here.
 *
 * Names are the program's (p4/esfc.p4): tables and actions by their short
 * names, match fields and parameters as declared there.
 */
import type { EsfcClassRule, EsfcConfig, EsfcNextHop, EsfcPort } from '../datapath/layout.js';
import { MAX_CLASS_RULES, NH_MAX_FROM, PortKind } from '../datapath/layout.js';
import type { Tables } from '../datapath/compile.js';

export type P4Match =
  | { kind: 'exact'; value: bigint }
  | { kind: 'ternary'; value: bigint; mask: bigint }
  | { kind: 'range'; low: bigint; high: bigint };

export interface P4Entity {
  table: string;
  /** By match field name; a field left out (ternary or range) matches anything. */
  match: Record<string, P4Match>;
  action: string;
  params: Record<string, bigint>;
  /** Ternary/range tables: larger wins (P4Runtime 9.1). */
  priority?: number;
}

/** How BMv2's ports relate to the node's interfaces. */
export type Bmv2Wiring =
  /** Slow path behind the eBPF core: one BMv2 port on the punt veth; frames carry the slow-path header both ways. */
  | { mode: 'punt'; port: number; ifindexes: readonly number[] }
  /** The `p4` hook: each esfc port is a BMv2 port of its own. */
  | { mode: 'ports'; ports: readonly { port: number; ifindex: number }[] };

/** Tables whose entries carry a generation: written for the inactive one, then esfc_state switches. */
export const GENERATION_TABLES = [
  'esfc_config', 'esfc_ports', 'esfc_inner', 'esfc_outer', 'esfc_sources', 'esfc_peer_sources',
  'esfc_classifier', 'esfc_classifier_l3',
] as const;
/** Tables that describe the wiring, not a generation. */
export const WIRING_TABLES = ['esfc_rx', 'esfc_tx'] as const;

const exact = (value: bigint | number): P4Match => ({ kind: 'exact', value: BigInt(value) });

export function ipv4ToBig(a: string): bigint {
  const b = a.split('.').map(Number);
  return BigInt((((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!) >>> 0);
}

export function macToBig(m: string): bigint {
  return BigInt(`0x${m.split(':').join('') || '0'}`);
}

function nextHopParams(nh: EsfcNextHop): Record<string, bigint> {
  const from = nh.from_be ?? Buffer.alloc(4 * NH_MAX_FROM);
  const p: Record<string, bigint> = {
    kind: BigInt(nh.kind), ifindex: BigInt(nh.ifindex), flags: BigInt(nh.flags), mtu: BigInt(nh.mtu),
    saddr: ipv4ToBig(nh.saddr_be), daddr: ipv4ToBig(nh.daddr_be), smac: macToBig(nh.smac), dmac: macToBig(nh.dmac),
    sf_id: BigInt(nh.sf_id),
  };
  for (let i = 0; i < NH_MAX_FROM; i++) p[`from${i}`] = BigInt(from.readUInt32BE(4 * i));
  return p;
}

function portParams(p: EsfcPort): Record<string, bigint> {
  return {
    kind: BigInt(p.kind), slot: BigInt(p.slot), sf_id: BigInt(p.sf_id), flags: BigInt(p.flags), mtu: BigInt(p.mtu),
    underlay_ip: ipv4ToBig(p.underlay_ip_be), mac: macToBig(p.mac),
  };
}

const pathOf = (id: string): [number, number] => {
  const [spi, si] = id.split('/').map(Number);
  return [spi!, si!];
};

/** rule_uses_ports() of bpf/lib/classify.h. */
export const ruleUsesPorts = (r: EsfcClassRule): boolean =>
  r.sport_lo !== 0 || r.sport_hi !== 0xffff || r.dport_lo !== 0 || r.dport_hi !== 0xffff;

function classifierEntries(rules: readonly EsfcClassRule[], gen: number): P4Entity[] {
  const out: P4Entity[] = [];
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    // As the eBPF scan: an invalid rule ends the list.
    if (!r.valid) break;
    // Wildcards are left out, as P4Runtime wants them (and as BMv2 reads them back).
    const l3: Record<string, P4Match> = { gen: exact(gen) };
    if (r.in_ifindex) l3['in_ifindex'] = { kind: 'ternary', value: BigInt(r.in_ifindex), mask: 0xffffffffn };
    const ternary = (field: string, value: string, mask: string): void => {
      const m = ipv4ToBig(mask);
      if (m) l3[field] = { kind: 'ternary', value: ipv4ToBig(value) & m, mask: m };
    };
    ternary('saddr', r.src_be, r.src_mask_be);
    ternary('daddr', r.dst_be, r.dst_mask_be);
    if (r.proto) l3['proto'] = { kind: 'ternary', value: BigInt(r.proto), mask: 0xffn };
    const ports: Record<string, P4Match> = {};
    if (r.sport_lo !== 0 || r.sport_hi !== 0xffff) ports['sport'] = { kind: 'range', low: BigInt(r.sport_lo), high: BigInt(r.sport_hi) };
    if (r.dport_lo !== 0 || r.dport_hi !== 0xffff) ports['dport'] = { kind: 'range', low: BigInt(r.dport_lo), high: BigInt(r.dport_hi) };
    const priority = MAX_CLASS_RULES - i;
    out.push({
      table: 'esfc_classifier', priority, action: 'classify', params: { spi: BigInt(r.spi) },
      match: { ...l3, ...ports },
    });
    out.push({
      table: 'esfc_classifier_l3', priority, match: l3, action: 'classify_l3',
      params: { spi: BigInt(r.spi), uses_ports: ruleUsesPorts(r) ? 1n : 0n },
    });
  }
  return out;
}

/** One generation of the tables as entries (everything but esfc_state, esfc_rx and esfc_tx). */
export function generationEntities(t: Tables, config: EsfcConfig, gen: number): P4Entity[] {
  const out: P4Entity[] = [{
    table: 'esfc_config', match: { gen: exact(gen) }, action: 'set_config',
    params: { md3_type: BigInt(config.md3_type), default_ttl: BigInt(config.default_ttl) },
  }];
  for (const [ifindex, p] of t.ports) {
    // The punt port is the eBPF side's; BMv2 never sees a frame that arrived on it.
    if (p.kind === PortKind.none || p.kind === PortKind.punt) continue;
    out.push({ table: 'esfc_ports', match: { gen: exact(gen), ifindex: exact(ifindex) }, action: 'set_port', params: portParams(p) });
  }
  for (const [table, m] of [['esfc_inner', t.inner], ['esfc_outer', t.outer]] as const) {
    for (const [id, nh] of m) {
      const [spi, si] = pathOf(id);
      out.push({ table, match: { gen: exact(gen), spi: exact(spi), si: exact(si) }, action: 'set_next_hop', params: nextHopParams(nh) });
    }
  }
  for (const k of t.sources.values()) {
    out.push({ table: 'esfc_sources', match: { gen: exact(gen), ifindex: exact(k.ifindex), spi: exact(k.spi >>> 0), si: exact(k.si) }, action: 'source_hit', params: {} });
  }
  for (const k of t.peerSources.values()) {
    out.push({ table: 'esfc_peer_sources', match: { gen: exact(gen), saddr: exact(ipv4ToBig(k.saddr_be)), spi: exact(k.spi >>> 0), si: exact(k.si) }, action: 'peer_hit', params: {} });
  }
  out.push(...classifierEntries(t.classifier, gen));
  return out;
}

/** esfc_rx and esfc_tx for how BMv2 is wired. */
export function wiringEntities(w: Bmv2Wiring): P4Entity[] {
  if (w.mode === 'punt') {
    return [
      { table: 'esfc_rx', match: { port: exact(w.port) }, action: 'rx_punt', params: {} },
      ...w.ifindexes.map((ifindex): P4Entity => ({ table: 'esfc_tx', match: { ifindex: exact(ifindex) }, action: 'tx_punt', params: { port: BigInt(w.port) } })),
    ];
  }
  return w.ports.flatMap(({ port, ifindex }): P4Entity[] => [
    { table: 'esfc_rx', match: { port: exact(port) }, action: 'rx_port', params: { ifindex: BigInt(ifindex) } },
    { table: 'esfc_tx', match: { ifindex: exact(ifindex) }, action: 'tx_port', params: { port: BigInt(port) } },
  ]);
}

/** What identifies an entry in its table: the match (and priority), canonical. */
export function entityKey(e: P4Entity): string {
  const m = Object.keys(e.match).sort().map((f) => {
    const v = e.match[f]!;
    switch (v.kind) {
      case 'exact': return `${f}=${v.value}`;
      // A ternary value is only what its mask keeps.
      case 'ternary': return `${f}=${v.value & v.mask}&${v.mask}`;
      case 'range': return `${f}=${v.low}..${v.high}`;
    }
  });
  return `${e.table}|${m.join(',')}|${e.priority ?? 0}`;
}

const sameAction = (a: P4Entity, b: P4Entity): boolean =>
  a.action === b.action && Object.keys(a.params).length === Object.keys(b.params).length &&
  Object.entries(a.params).every(([k, v]) => b.params[k] === v);

export interface EntityDiff {
  insert: P4Entity[];
  modify: P4Entity[];
  delete: P4Entity[];
}

/** What to write so `actual` becomes `desired`: only changes, deletes of what nothing wants. */
export function diffEntities(desired: readonly P4Entity[], actual: readonly P4Entity[]): EntityDiff {
  const have = new Map(actual.map((e) => [entityKey(e), e]));
  const want = new Map(desired.map((e) => [entityKey(e), e]));
  const d: EntityDiff = { insert: [], modify: [], delete: [] };
  for (const [k, e] of want) {
    const cur = have.get(k);
    if (!cur) d.insert.push(e);
    else if (!sameAction(e, cur)) d.modify.push(e);
  }
  for (const [k, e] of have) if (!want.has(k)) d.delete.push(e);
  return d;
}

/** Entries of one generation among those read back (tables with a gen key). */
export function ofGeneration(entities: readonly P4Entity[], gen: number): P4Entity[] {
  return entities.filter((e) => {
    const g = e.match['gen'];
    return g?.kind === 'exact' && g.value === BigInt(gen);
  });
}
