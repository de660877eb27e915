/**
 * TypeScript views of bpf/include/esfc_shared.h. Checked against the BTF of
 * bpf/build/*.o by test/datapath/layout-btf.test.ts; drop reason names come
 * from the BTF too (see stat-names.ts), so nothing here is "kept in sync".
 */
import { StructCodec } from './struct-codec.js';

export const ABI_VERSION = 3;
export const MAX_PORTS = 64;
export const MAX_IFINDEX = 65536;
export const MAX_BIG_PORTS = 1024;
/** Tables exist once per generation (esfc_shared.h "Generations"). */
export const GENERATIONS = 2;
export const MAX_CLASS_RULES = 64;
export const STAT_MAX = 40;
export const STAT_DROP_FIRST = 16;
export const STAT_EVENT_FIRST = 8;
export const SRC_EF_LAYER = 0x80000000;
/** Terminal stats that the P4 fallback shares by number (p4/stats.p4); names still come from BTF. */
export const STAT_PUNT = 5;
export const STAT_SLOW_PATH = 7;
export const STAT_DROP_SLOW_PATH_EGRESS = 35;

export const PortKind = { none: 0, underlay: 1, sf: 2, sfProxy: 3, ef: 4, classify: 5, punt: 6 } as const;
export const NextHopKind = { none: 0, local: 1, proxy: 2, remote: 3, end: 4 } as const;
export const PORT_F_OAM_FORWARD = 0x1;
export const NH_F_PEER = 0x1;
export const NH_F_EF = 0x2;
export const NH_F_FROM_MAP = 0x4;
/** Underlay senders a next hop holds itself (more go to esfc_peer_sources). */
export const NH_MAX_FROM = 4;

export interface EsfcPort {
  kind: number;
  slot: number;
  sf_id: number;
  flags: number;
  mtu: number;
  underlay_ip_be: string;
  mac: string;
}

export interface EsfcNextHop {
  kind: number;
  ifindex: number;
  flags: number;
  mtu: number;
  saddr_be: string;
  daddr_be: string;
  smac: string;
  dmac: string;
  sf_id: number;
  /** Up to NH_MAX_FROM IPv4 addresses, network order, 0 unused (fromAddresses builds it). */
  from_be?: Buffer;
}

export interface EsfcPathKey { spi: number; si: number; gen: number }
export interface EsfcPortKey { ifindex: number; gen: number }
/** A source entry without its generation (added when the key is written). */
export interface EsfcSrcKey { ifindex: number; spi: number; si: number }
export interface EsfcPeerSrcKey { saddr_be: string; spi: number; si: number }

export interface EsfcState {
  active: number;
  generation: bigint;
}

export interface EsfcClassRule {
  in_ifindex: number;
  src_be: string;
  src_mask_be: string;
  dst_be: string;
  dst_mask_be: string;
  sport_lo: number;
  sport_hi: number;
  dport_lo: number;
  dport_hi: number;
  proto: number;
  valid: number;
  spi: number;
}

export interface EsfcConfig {
  abi_version: number;
  md3_type: number;
  punt_ifindex: number;
  default_ttl: number;
}

export interface EsfcFlowKey {
  sf_id: number;
  saddr_be: string;
  daddr_be: string;
  sport_be: number;
  dport_be: number;
  proto: number;
}

export interface EsfcProxyState {
  spi: number;
  si: number;
  ttl: number;
  md_type: number;
  w0_bits: number;
  md_bits: number;
  context: Buffer;
}

export interface EsfcCounter { packets: bigint; bytes: bigint }

/**
 * Slow-path header (esfc_shared.h, docs/protocol.md "Slow-path header"): 18
 * bytes in front of every frame on the punt port. Towards BMv2 the ifindex is
 * the port the frame arrived on; from BMv2 the port it must leave by.
 */
export const ETH_P_SLOW_PATH = 0x88b5;
export const SLOW_PATH_HDR_LEN = 18;
export const SLOW_PATH_MAC = '02:e5:fc:00:00:00';

export interface EsfcSlowPathFrame {
  ifindex: number;
  /** The Ethernet frame behind the header (a view, not a copy). */
  frame: Buffer;
}

/** The slow-path header followed by `frame`. */
export function slowPathEncode(ifindex: number, frame: Buffer): Buffer {
  const h = Buffer.alloc(SLOW_PATH_HDR_LEN);
  const mac = Buffer.from(SLOW_PATH_MAC.split(':').map((x) => parseInt(x, 16)));
  mac.copy(h, 0);
  mac.copy(h, 6);
  h.writeUInt16BE(ETH_P_SLOW_PATH, 12);
  h.writeUInt32BE(ifindex >>> 0, 14);
  return Buffer.concat([h, frame]);
}

/** The header's ifindex and the frame behind it; undefined if `buf` is not a slow-path frame (EtherType, room for an Ethernet header behind). */
export function slowPathDecode(buf: Buffer): EsfcSlowPathFrame | undefined {
  if (buf.length < SLOW_PATH_HDR_LEN + 14 || buf.readUInt16BE(12) !== ETH_P_SLOW_PATH) return undefined;
  return { ifindex: buf.readUInt32BE(14), frame: buf.subarray(SLOW_PATH_HDR_LEN) };
}

/** The last liveness probe that came back out of an SF (esfc_probe, key: sf_id as a host-order u32). */
export interface EsfcProbeSeen {
  /** CLOCK_MONOTONIC at its arrival, ns (bpf_ktime_get_ns; process.hrtime.bigint() reads the same clock). */
  ns: bigint;
  seq: number;
  count: number;
}

export const portCodec = new StructCodec<EsfcPort>('esfc_port', 32, [
  { name: 'kind', offset: 0, type: 'u32' },
  { name: 'slot', offset: 4, type: 'u32' },
  { name: 'sf_id', offset: 8, type: 'u32' },
  { name: 'flags', offset: 12, type: 'u32' },
  { name: 'mtu', offset: 16, type: 'u32' },
  { name: 'underlay_ip_be', offset: 20, type: 'ipv4' },
  { name: 'mac', offset: 24, type: 'mac' },
]);

/** esfc_next_hop.from_be for these peer addresses (at most NH_MAX_FROM). */
export function fromAddresses(addresses: readonly string[]): Buffer {
  if (addresses.length > NH_MAX_FROM) throw new RangeError(`esfc_next_hop holds ${NH_MAX_FROM} senders, got ${addresses.length}`);
  const buf = Buffer.alloc(4 * NH_MAX_FROM);
  addresses.forEach((a, i) => Buffer.from(a.split('.').map(Number)).copy(buf, 4 * i));
  return buf;
}

export const nextHopCodec = new StructCodec<EsfcNextHop>('esfc_next_hop', 56, [
  { name: 'kind', offset: 0, type: 'u32' },
  { name: 'ifindex', offset: 4, type: 'u32' },
  { name: 'flags', offset: 8, type: 'u32' },
  { name: 'mtu', offset: 12, type: 'u32' },
  { name: 'saddr_be', offset: 16, type: 'ipv4' },
  { name: 'daddr_be', offset: 20, type: 'ipv4' },
  { name: 'smac', offset: 24, type: 'mac' },
  { name: 'dmac', offset: 30, type: 'mac' },
  { name: 'sf_id', offset: 36, type: 'u32' },
  { name: 'from_be', offset: 40, type: 'bytes', length: 16 },
]);

export const portKeyCodec = new StructCodec<EsfcPortKey>('esfc_port_key', 8, [
  { name: 'ifindex', offset: 0, type: 'u32' },
  { name: 'gen', offset: 4, type: 'u32' },
]);

export const pathKeyCodec = new StructCodec<EsfcPathKey>('esfc_path_key', 8, [
  { name: 'spi', offset: 0, type: 'u32' },
  { name: 'si', offset: 4, type: 'u8' },
  { name: 'gen', offset: 5, type: 'u8' },
]);

export const srcKeyCodec = new StructCodec<EsfcSrcKey & { gen: number }>('esfc_src_key', 12, [
  { name: 'ifindex', offset: 0, type: 'u32' },
  { name: 'spi', offset: 4, type: 'u32' },
  { name: 'si', offset: 8, type: 'u8' },
  { name: 'gen', offset: 9, type: 'u8' },
]);

export const peerSrcKeyCodec = new StructCodec<EsfcPeerSrcKey & { gen: number }>('esfc_peer_src_key', 12, [
  { name: 'saddr_be', offset: 0, type: 'ipv4' },
  { name: 'spi', offset: 4, type: 'u32' },
  { name: 'si', offset: 8, type: 'u8' },
  { name: 'gen', offset: 9, type: 'u8' },
]);

export const stateCodec = new StructCodec<EsfcState>('esfc_state', 16, [
  { name: 'active', offset: 0, type: 'u32' },
  { name: 'generation', offset: 8, type: 'u64' },
]);

export const classRuleCodec = new StructCodec<EsfcClassRule>('esfc_class_rule', 36, [
  { name: 'in_ifindex', offset: 0, type: 'u32' },
  { name: 'src_be', offset: 4, type: 'ipv4' },
  { name: 'src_mask_be', offset: 8, type: 'ipv4' },
  { name: 'dst_be', offset: 12, type: 'ipv4' },
  { name: 'dst_mask_be', offset: 16, type: 'ipv4' },
  { name: 'sport_lo', offset: 20, type: 'u16' },
  { name: 'sport_hi', offset: 22, type: 'u16' },
  { name: 'dport_lo', offset: 24, type: 'u16' },
  { name: 'dport_hi', offset: 26, type: 'u16' },
  { name: 'proto', offset: 28, type: 'u8' },
  { name: 'valid', offset: 29, type: 'u8' },
  { name: 'spi', offset: 32, type: 'u32' },
]);

export const configCodec = new StructCodec<EsfcConfig>('esfc_config', 16, [
  { name: 'abi_version', offset: 0, type: 'u32' },
  { name: 'md3_type', offset: 4, type: 'u32' },
  { name: 'punt_ifindex', offset: 8, type: 'u32' },
  { name: 'default_ttl', offset: 12, type: 'u32' },
]);

export const flowKeyCodec = new StructCodec<EsfcFlowKey>('esfc_flow_key', 20, [
  { name: 'sf_id', offset: 0, type: 'u32' },
  { name: 'saddr_be', offset: 4, type: 'ipv4' },
  { name: 'daddr_be', offset: 8, type: 'ipv4' },
  { name: 'sport_be', offset: 12, type: 'be16' },
  { name: 'dport_be', offset: 14, type: 'be16' },
  { name: 'proto', offset: 16, type: 'u8' },
]);

export const proxyStateCodec = new StructCodec<EsfcProxyState>('esfc_proxy_state', 28, [
  { name: 'spi', offset: 0, type: 'u32' },
  { name: 'si', offset: 4, type: 'u32' },
  { name: 'ttl', offset: 8, type: 'u8' },
  { name: 'md_type', offset: 9, type: 'u8' },
  { name: 'w0_bits', offset: 10, type: 'u8' },
  { name: 'md_bits', offset: 11, type: 'u8' },
  { name: 'context', offset: 12, type: 'bytes', length: 16 },
]);

export const counterCodec = new StructCodec<EsfcCounter>('esfc_counter', 16, [
  { name: 'packets', offset: 0, type: 'u64' },
  { name: 'bytes', offset: 8, type: 'u64' },
]);

export const probeSeenCodec = new StructCodec<EsfcProbeSeen>('esfc_probe_seen', 16, [
  { name: 'ns', offset: 0, type: 'u64' },
  { name: 'seq', offset: 8, type: 'u32' },
  { name: 'count', offset: 12, type: 'u32' },
]);

/**
 * Liveness probes (esfc_shared.h): UDP to this port, payload = magic (8 bytes),
 * sf_id, seq (u32 each), sender's CLOCK_MONOTONIC ns (u64), network order.
 */
export const PROBE_PORT = 0xe5fc;
export const PROBE_MAGIC = 0x4553464370726f62n;
export const PROBE_PAYLOAD_LEN = 24;

export const allCodecs: readonly StructCodec<object>[] = [
  portCodec, portKeyCodec, nextHopCodec, pathKeyCodec, srcKeyCodec, peerSrcKeyCodec, classRuleCodec,
  configCodec, stateCodec, flowKeyCodec, proxyStateCodec, counterCodec, probeSeenCodec,
] as readonly StructCodec<object>[];

/** Map names as pinned under the pin root (C: bpf/lib/maps.h). */
export const MapName = {
  state: 'esfc_state',
  ports: 'esfc_ports',
  portsBig: 'esfc_ports_big',
  inner: 'esfc_inner',
  outer: 'esfc_outer',
  sources: 'esfc_sources',
  peerSources: 'esfc_peer_sources',
  classifier: 'esfc_classifier',
  proxyFlows: 'esfc_proxy_flows',
  /** Not generation-switched: the datapath writes it, the liveness prober reads it. */
  probe: 'esfc_probe',
  config: 'esfc_config',
  counters: 'esfc_counters',
} as const;
export type MapName = (typeof MapName)[keyof typeof MapName];

/** Maps that hold no forwarding state: the generation-switch barrier (bpf/lib/maps.h). */
export const BarrierMapName = { outer: 'esfc_barrier', inner: 'esfc_barrier_inner' } as const;
