/**
 * Desired datapath state from a node configuration and what the node's
 * interfaces look like. Pure: the caller gathers the environment (links,
 * resolved MACs, existing counter slots) and applies the result.
 */
import type { HookChoice, NodeConfig, PortConfig } from '../config/types.js';
import { ConfigError, parsePrefix, type ConfigProblem } from '../config/validate-config.js';
import {
  ABI_VERSION, fromAddresses, MAX_BIG_PORTS, MAX_CLASS_RULES, MAX_IFINDEX, MAX_PORTS, NextHopKind, NH_F_EF, NH_F_FROM_MAP, NH_F_PEER, NH_MAX_FROM, PORT_F_OAM_FORWARD, PortKind, SLOW_PATH_HDR_LEN, SRC_EF_LAYER,
  type EsfcClassRule, type EsfcConfig, type EsfcNextHop, type EsfcPeerSrcKey, type EsfcPort,
  type EsfcSrcKey,
} from './layout.js';

export interface LinkInfo {
  name: string;
  ifindex: number;
  mac: string;
  mtu: number;
  /** rtnetlink info_kind: "veth", "tun", "bridge"...; "" for a physical NIC. */
  kind: string;
}

/** The far end of a veth, as far as XDP delivery into it is concerned. */
export interface VethPeerInfo {
  /** Its name, the namespace it is in (absent: this one), whether it has a native XDP program or GRO on; undefined when it could not be found. */
  peer?: { ifname: string; netns?: string; xdp: boolean; gro: boolean };
}

export interface Environment {
  links: ReadonlyMap<string, LinkInfo>;
  /** Underlay MAC of each peer, by peer name (config value or neighbour table). */
  peerMacs: ReadonlyMap<string, string>;
  /** Counter slots already in use, by ifindex, so counters survive re-plans. */
  existingSlots: ReadonlyMap<number, number>;
  /** For XDP on a veth underlay: the peers of the veths its frames are sent into, by local ifname. */
  vethPeers?: ReadonlyMap<string, VethPeerInfo>;
}

/** Where a port's frames are handled: an eBPF hook, or BMv2's port (the node's SFF on BMv2). */
export type Hook = 'xdp' | 'tc' | 'p4';

export interface Attachment {
  port: string;
  ifname: string;
  ifindex: number;
  hook: Hook;
}

/** One generation of the datapath tables, decoded: what compile() wants and what readTables() finds. */
export interface Tables {
  /** By ifindex (esfc_ports below MAX_IFINDEX, esfc_ports_big above). */
  ports: Map<number, EsfcPort>;
  inner: Map<string, EsfcNextHop>;
  outer: Map<string, EsfcNextHop>;
  sources: Map<string, EsfcSrcKey>;
  peerSources: Map<string, EsfcPeerSrcKey>;
  /** Classifier rules in priority order. */
  classifier: EsfcClassRule[];
}

export interface DesiredState extends Tables {
  config: EsfcConfig;
  attachments: Attachment[];
  /** Slot -> port name, for counters. */
  slotNames: Map<number, string>;
  /** Things an operator should know that do not stop the configuration. */
  warnings: { event: string; fields: Record<string, unknown> }[];
}

/** Encapsulation added in front of an inner IP packet on the underlay (IPv4+UDP+GPE+NSH MD1). */
export const MAX_ENCAP_OVERHEAD = 20 + 8 + 8 + 24;

export const pathKeyId = (spi: number, si: number): string => `${spi}/${si}`;
export const srcKeyId = (k: EsfcSrcKey): string => `${k.ifindex}/${k.spi}/${k.si}`;
export const peerSrcKeyId = (k: EsfcPeerSrcKey): string => `${k.saddr_be}/${k.spi}/${k.si}`;

/**
 * SF ids key the proxy's flow state. They come from the function's name
 * (FNV-1a), not from its position in the config, so renumbering or removing
 * other SFs never hands one SF's recorded paths to another.
 */
export function sfIdFor(fn: string, taken: ReadonlySet<number> = new Set()): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(fn)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  // 0 means "no SF"; a collision within the node moves to the next free id.
  for (let id = h || 1; ; id = (id + 1) >>> 0 || 1) if (!taken.has(id)) return id;
}

const VIRTUAL_KINDS = new Set(['veth', 'tun', 'tap', 'bridge', 'dummy', 'macvlan', 'ipvlan', 'vxlan', 'netkit', 'bond', 'vlan']);

export function chooseHook(choice: HookChoice, link: LinkInfo): Hook {
  if (choice !== 'auto') return choice;
  return VIRTUAL_KINDS.has(link.kind) ? 'tc' : 'xdp';
}

const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };

function maskOf(len: number): string {
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.');
}

function andMask(addr: string, mask: string): string {
  const a = addr.split('.').map(Number);
  const m = mask.split('.').map(Number);
  return a.map((x, i) => x & m[i]!).join('.');
}

export function compile(cfg: NodeConfig, env: Environment): DesiredState {
  const problems: ConfigProblem[] = [];
  let bigPorts = 0;
  const link = (ifname: string, path: string): LinkInfo | undefined => {
    const l = env.links.get(ifname);
    if (!l) problems.push({ path, problem: `interface ${ifname} does not exist on this node`, fix: 'create it or correct the name' });
    else if (l.ifindex >= MAX_IFINDEX && ++bigPorts > MAX_BIG_PORTS) {
      problems.push({ path, problem: `more than ${MAX_BIG_PORTS} ports have an ifindex of ${MAX_IFINDEX} or more`, fix: 'split the node' });
      return undefined;
    }
    return l;
  };

  const out: DesiredState = {
    ports: new Map(), inner: new Map(), outer: new Map(), sources: new Map(), peerSources: new Map(), classifier: [],
    config: { abi_version: ABI_VERSION, md3_type: cfg.node.md3Type, punt_ifindex: 0, default_ttl: cfg.node.nshTtl },
    attachments: [], slotNames: new Map(), warnings: [],
  };

  // Slots: keep the ones in use, hand out the lowest free otherwise (slot 0 is the node).
  const used = new Set<number>([0]);
  const slotFor = (ifindex: number): number => {
    const s = env.existingSlots.get(ifindex);
    if (s !== undefined && !used.has(s)) { used.add(s); return s; }
    for (let i = 1; i < MAX_PORTS; i++) if (!used.has(i)) { used.add(i); return i; }
    throw new ConfigError([{ path: 'ports', problem: 'out of counter slots', fix: 'use fewer ports' }]);
  };
  // Existing slots first, so a new port never steals one.
  const portIfindex = new Map<string, LinkInfo>();
  const sfIds = new Map<string, number>();
  for (const fn of [...new Set(cfg.ports.flatMap((p) => (p.function ? [p.function] : [])))].sort()) {
    sfIds.set(fn, sfIdFor(fn, new Set(sfIds.values())));
  }
  const sfIdOf = (fn: string): number => sfIds.get(fn)!;

  let underlayLink: LinkInfo | undefined;
  if (cfg.underlay) underlayLink = link(cfg.underlay.interface, 'underlay.interface');
  cfg.ports.forEach((p, i) => {
    const l = link(p.interface, `ports[${i}].interface`);
    if (l) portIfindex.set(p.name, l);
  });
  const ordered: [string, LinkInfo][] = [...portIfindex.entries()];
  if (underlayLink) ordered.unshift(['underlay', underlayLink]);
  ordered.sort((a, b) => (env.existingSlots.has(b[1].ifindex) ? 1 : 0) - (env.existingSlots.has(a[1].ifindex) ? 1 : 0));
  const slots = new Map<number, number>();
  for (const [, l] of ordered) slots.set(l.ifindex, slotFor(l.ifindex));

  const kindCode: Record<PortConfig['kind'], number> = {
    edge: PortKind.classify, sf: PortKind.sf, 'sf-proxy': PortKind.sfProxy, ef: PortKind.ef, punt: PortKind.punt,
  };

  if (cfg.underlay && underlayLink) {
    const slot = slots.get(underlayLink.ifindex)!;
    out.ports.set(underlayLink.ifindex, {
      kind: PortKind.underlay, slot, sf_id: 0, flags: 0, mtu: underlayLink.mtu,
      underlay_ip_be: cfg.underlay.address, mac: underlayLink.mac,
    });
    out.slotNames.set(slot, 'underlay');
    out.attachments.push({ port: 'underlay', ifname: underlayLink.name, ifindex: underlayLink.ifindex, hook: chooseHook(cfg.underlay.hook, underlayLink) });
  }

  cfg.ports.forEach((p, i) => {
    const l = portIfindex.get(p.name);
    if (!l) return;
    const slot = slots.get(l.ifindex)!;
    out.ports.set(l.ifindex, {
      kind: kindCode[p.kind], slot, sf_id: p.function ? sfIdOf(p.function) : 0,
      flags: p.forwardOam ? PORT_F_OAM_FORWARD : 0, mtu: l.mtu, underlay_ip_be: '0.0.0.0', mac: l.mac,
    });
    out.slotNames.set(slot, p.name);
    // The punt port is attached too: frames BMv2 sends back come in on it (slow-path header first).
    if (p.kind === 'punt') out.config.punt_ifindex = l.ifindex;
    const hook = chooseHook(p.hook, l);
    if (hook === 'xdp' && l.kind === 'veth' && p.kind !== 'ef') {
      problems.push({
        path: `ports[${i}].hook`,
        problem: `XDP on veth port ${p.interface} would get frames whose checksums the local endpoint left to offload (CHECKSUM_PARTIAL); XDP_REDIRECT loses that state and TCP through the chain breaks, and XDP on a veth also turns off TSO/GRO for the endpoint`,
        fix: 'use "hook": "tc" or "auto" on virtual ports; XDP is for frames that arrive from the wire (the underlay)',
      });
    }
    out.attachments.push({ port: p.name, ifname: l.name, ifindex: l.ifindex, hook });
  });

  const portByName = new Map(cfg.ports.map((p) => [p.name, p]));
  // Every port of the SF behind a hop may hand the packet back with SI-1;
  // what an EF may emit follows from its encrypted hops (below).
  const sfReturns = (port: string, spi: number, si: number): void => {
    const p = portByName.get(port);
    if (!p || p.kind === 'ef') return;
    for (const q of cfg.ports) {
      const ql = portIfindex.get(q.name);
      if (q.function !== p.function || !ql) continue;
      const key: EsfcSrcKey = { ifindex: ql.ifindex, spi, si: si - 1 };
      out.sources.set(srcKeyId(key), key);
    }
  };
  let hasRemote = false;
  for (const path of cfg.paths) {
    for (const h of path.hops) {
      let nh: EsfcNextHop | undefined;
      // The other SF of a protected position may return packets too: sent to it before a
      // switch, or still inside it after one, they are not dropped at the way back.
      if (path.layer === 'sf' && h.standby && 'port' in h.standby) sfReturns(h.standby.port, path.spi, h.si);
      if ('port' in h.to) {
        const p = portByName.get(h.to.port)!;
        const l = portIfindex.get(p.name);
        if (!l) continue;
        const kind = p.kind === 'sf-proxy' ? NextHopKind.proxy : NextHopKind.local;
        nh = {
          kind, ifindex: l.ifindex, mtu: l.mtu, saddr_be: '0.0.0.0', daddr_be: '0.0.0.0',
          flags: (l.kind === 'veth' ? NH_F_PEER : 0) | (p.kind === 'ef' ? NH_F_EF : 0),
          smac: l.mac, dmac: p.peerMac ?? '00:00:00:00:00:00', sf_id: p.function ? sfIdOf(p.function) : 0,
        };
        if (path.layer === 'sf') sfReturns(p.name, path.spi, h.si);
      } else if ('node' in h.to) {
        hasRemote = true;
        const peer = cfg.peers.find((x) => x.name === (h.to as { node: string }).node)!;
        const mac = env.peerMacs.get(peer.name);
        if (!underlayLink || !cfg.underlay) continue;
        if (!mac) {
          problems.push({ path: `peers[${cfg.peers.indexOf(peer)}].mac`, problem: `no MAC known for ${peer.address} on ${underlayLink.name}`, fix: 'add "mac" to the peer, or make the peer reachable so its neighbour entry resolves' });
          continue;
        }
        nh = {
          kind: NextHopKind.remote, ifindex: underlayLink.ifindex, flags: 0, mtu: underlayLink.mtu,
          saddr_be: cfg.underlay.address, daddr_be: peer.address, smac: underlayLink.mac, dmac: mac, sf_id: 0,
        };
      } else {
        const p = portByName.get(h.to.deliver)!;
        const l = portIfindex.get(p.name);
        if (!l) continue;
        nh = {
          kind: NextHopKind.end, ifindex: l.ifindex, flags: l.kind === 'veth' ? NH_F_PEER : 0, mtu: l.mtu,
          saddr_be: '0.0.0.0', daddr_be: '0.0.0.0', smac: l.mac, dmac: p.peerMac!, sf_id: 0,
        };
      }
      // What each peer may send us over the underlay (the transit network may send nothing):
      // in the next hop itself, or in esfc_peer_sources when there are more senders than it holds.
      const senders = [...new Set((h.from ?? []).map((name) => cfg.peers.find((x) => x.name === name)!.address))];
      if (senders.length <= NH_MAX_FROM) {
        nh.from_be = fromAddresses(senders);
      } else {
        nh.from_be = fromAddresses([]);
        nh.flags |= NH_F_FROM_MAP;
        for (const saddr_be of senders) {
          const key: EsfcPeerSrcKey = { saddr_be, spi: path.layer === 'ef' ? (path.spi | SRC_EF_LAYER) >>> 0 : path.spi, si: h.si };
          out.peerSources.set(peerSrcKeyId(key), key);
        }
      }
      (path.layer === 'ef' ? out.outer : out.inner).set(pathKeyId(path.spi, h.si), nh);
    }
  }

  // Invariant 3 for EFs: an encrypting EF emits only its EF-layer path (MD type 3,
  // E-SI 255), a decrypting one only the SF-layer position after the pair.
  for (const h of cfg.encryptedHops) {
    for (const q of cfg.ports) {
      const ql = portIfindex.get(q.name);
      if (q.kind !== 'ef' || q.function !== h.ef || !ql) continue;
      const key: EsfcSrcKey = h.role === 'encrypt'
        ? { ifindex: ql.ifindex, spi: (h.espi | SRC_EF_LAYER) >>> 0, si: 255 }
        : { ifindex: ql.ifindex, spi: h.spi, si: h.si - 1 };
      out.sources.set(srcKeyId(key), key);
    }
  }

  if (hasRemote && underlayLink) {
    cfg.ports.forEach((p, i) => {
      const l = portIfindex.get(p.name);
      if (!l || p.kind === 'punt') return;
      if (l.mtu + MAX_ENCAP_OVERHEAD > underlayLink!.mtu) {
        problems.push({
          path: `ports[${i}]`,
          problem: `${p.interface} has MTU ${l.mtu}; with ${MAX_ENCAP_OVERHEAD} bytes of VXLAN-GPE/NSH its full-size packets exceed the underlay ${underlayLink!.name} MTU ${underlayLink!.mtu}`,
          fix: `raise the MTU of ${underlayLink!.name} to ${l.mtu + MAX_ENCAP_OVERHEAD} or lower ${p.interface} (and the endpoint behind it) to ${underlayLink!.mtu - MAX_ENCAP_OVERHEAD}`,
        });
      }
    });
  }

  checkPuntMtu(cfg, out, underlayLink, portIfindex);

  if (cfg.classifier.length > MAX_CLASS_RULES) {
    problems.push({ path: 'classifier', problem: `${cfg.classifier.length} rules; the datapath holds ${MAX_CLASS_RULES}`, fix: 'merge rules (prefixes, port ranges)' });
  }
  checkXdpDelivery(cfg, env, out, problems);

  cfg.classifier.forEach((r) => {
    const src = parsePrefix(r.source ?? '0.0.0.0/0')!;
    const dst = parsePrefix(r.destination ?? '0.0.0.0/0')!;
    const sm = maskOf(src.len), dm = maskOf(dst.len);
    const proto = r.protocol === undefined ? 0 : typeof r.protocol === 'number' ? r.protocol : PROTO[r.protocol]!;
    const inIf = r.port ? portIfindex.get(r.port)?.ifindex ?? 0 : 0;
    out.classifier.push({
      in_ifindex: inIf, src_be: andMask(src.addr, sm), src_mask_be: sm, dst_be: andMask(dst.addr, dm), dst_mask_be: dm,
      sport_lo: r.sourcePorts?.from ?? 0, sport_hi: r.sourcePorts?.to ?? 65535,
      dport_lo: r.destinationPorts?.from ?? 0, dport_hi: r.destinationPorts?.to ?? 65535,
      proto, valid: 1, spi: r.spi,
    });
  });

  if (problems.length) throw new ConfigError(problems, 'node environment');
  return out;
}

/**
 * Frames the XDP program sends into a veth reach the veth's peer only if the
 * peer can take them: XDP_REDIRECT into a local port needs an XDP program or
 * NAPI (GRO on) at the far end, XDP_TX back out of the underlay (a transit
 * hop) needs an XDP program there (GRO is not enough, measured on 6.18).
 * Otherwise veth drops them after esfc counted them as forwarded. Refuse
 * what is known to lose them; warn where the peer cannot be seen from here.
 */
function checkXdpDelivery(cfg: NodeConfig, env: Environment, out: DesiredState, problems: ConfigProblem[]): void {
  const ul = out.attachments.find((a) => a.port === 'underlay');
  if (!ul || ul.hook !== 'xdp') return;
  for (const [ifname, why] of xdpTargets(cfg, env, ul.ifname)) {
    if (env.links.get(ifname)?.kind !== 'veth') continue;
    const xdpTx = ifname === ul.ifname;
    const info = env.vethPeers?.get(ifname)?.peer;
    const where = info ? `${info.ifname}${info.netns ? ` (netns ${info.netns})` : ''}` : undefined;
    const inNs = info?.netns ? ` in netns ${info.netns}` : '';
    const peerFix = xdpTx
      ? `attach an XDP program to ${info?.ifname ?? 'its peer'}${inNs} (one that passes frames, e.g. ip link set dev ${info?.ifname ?? 'PEER'} xdp object bpf/build/esfc_xdp_pass.o program esfc_xdp_pass)`
      : `ethtool -K ${info?.ifname ?? 'PEER'} gro on${inNs} (or an XDP program there)`;
    const fix = `${peerFix}, or use "hook": "tc" on the underlay`;
    if (!info) {
      out.warnings.push({ event: 'xdp_delivery_unknown', fields: { ifname, why, note: `the peer of veth ${ifname} is not visible from this namespace: frames XDP sends into it are lost unless the peer has ${xdpTx ? 'an XDP program' : 'GRO on or an XDP program'}`, fix } });
    } else if (!info.xdp && (xdpTx || !info.gro)) {
      problems.push({
        path: 'underlay.hook',
        problem: `XDP on ${ul.ifname} sends frames into veth ${ifname} (${why}); its peer ${where} has ${xdpTx ? 'no XDP program' : 'neither an XDP program nor GRO on'}, so veth would drop them after esfc counted them as forwarded`,
        fix,
      });
    }
  }
}

/**
 * Punted frames are 18 bytes longer than they arrived (the slow-path header),
 * and a veth drops frames longer than its MTU allows without a trace: the punt
 * interface (and its peer, where BMv2 sends from) needs the largest MTU of the
 * node's other ports plus the header. Only full-size frames are lost
 * otherwise, so this warns rather than refuses.
 */
function checkPuntMtu(cfg: NodeConfig, out: DesiredState, underlayLink: LinkInfo | undefined, portIfindex: ReadonlyMap<string, LinkInfo>): void {
  const punt = cfg.ports.find((p) => p.kind === 'punt');
  const pl = punt && portIfindex.get(punt.name);
  if (!punt || !pl) return;
  const others = [...portIfindex.entries()].filter(([n]) => n !== punt.name).map(([, l]) => l);
  if (underlayLink) others.push(underlayLink);
  const widest = others.reduce<LinkInfo | undefined>((w, l) => (!w || l.mtu > w.mtu ? l : w), undefined);
  if (!widest || pl.mtu >= widest.mtu + SLOW_PATH_HDR_LEN) return;
  out.warnings.push({
    event: 'punt_mtu',
    fields: {
      ifname: pl.name, mtu: pl.mtu, widest: widest.name, widestMtu: widest.mtu,
      note: `frames punted from ${widest.name} carry a ${SLOW_PATH_HDR_LEN}-byte slow-path header; full-size ones exceed ${pl.name}'s MTU and are dropped after esfc counted them as punted (a veth does so without a trace)`,
      fix: `raise the MTU of ${pl.name} and its peer to ${widest.mtu + SLOW_PATH_HDR_LEN}`,
    },
  });
}

/** The veths XDP-handled frames leave through, with the reason. */
function xdpTargets(cfg: NodeConfig, env: Environment, ulIfname: string): Map<string, string> {
  const out = new Map<string, string>();
  const byName = new Map(cfg.ports.map((p) => [p.name, p]));
  // What the underlay cannot handle in bounded time goes to the slow path.
  const punt = cfg.ports.find((p) => p.kind === 'punt');
  if (punt && env.links.has(punt.interface)) out.set(punt.interface, 'frames the fast path cannot handle are punted into it (slow path)');
  for (const path of cfg.paths) {
    for (const h of path.hops) {
      if ('node' in h.to) {
        if (h.from?.length) out.set(ulIfname, 'transit hops send frames back out of the underlay with XDP_TX');
      } else {
        const p = byName.get('port' in h.to ? h.to.port : h.to.deliver);
        if (p && env.links.has(p.interface)) out.set(p.interface, 'frames from the underlay are redirected into it');
      }
    }
  }
  return out;
}

