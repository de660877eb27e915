/**
 * What compile() needs to know about the node: its interfaces, the peers'
 * underlay MACs, and, for XDP on a veth underlay, whether the veths its
 * frames are sent into can receive them. Read-only.
 */
import type { NodeConfig } from '../config/types.js';
import { chooseHook, type Environment, type LinkInfo, type VethPeerInfo } from '../datapath/compile.js';
import { listLinks } from './links.js';
import { resolvePeerMacs } from './neighbours.js';
import { vethPeers } from './veth-peer.js';

/**
 * Remembers where the veths of an XDP underlay lead. Finding out spawns ip
 * and ethtool in other namespaces (about 10 ms, several times that on a busy
 * node), and the controller drives reconciles back to back: the answer is
 * reused while the same veths (names and ifindexes) are asked about, for at
 * most `maxAgeMs`, so a peer that lost its XDP program is noticed within that.
 */
export class VethPeerCache {
  private entry: { key: string; at: number; peers: Map<string, VethPeerInfo> } | undefined;

  constructor(private readonly maxAgeMs = 30_000) {}

  async get(ifnames: readonly string[], links: ReadonlyMap<string, LinkInfo>): Promise<Map<string, VethPeerInfo>> {
    const key = ifnames.map((n) => `${n}:${links.get(n)?.ifindex}`).sort().join(',');
    const now = Date.now();
    if (this.entry && this.entry.key === key && now - this.entry.at < this.maxAgeMs) return this.entry.peers;
    const peers = await vethPeers(ifnames);
    this.entry = { key, at: now, peers };
    return peers;
  }
}

export async function gatherEnvironment(cfg: NodeConfig, existingSlots: ReadonlyMap<number, number> = new Map(), veths?: VethPeerCache): Promise<Environment> {
  const links = await listLinks();
  const peerMacs = new Map<string, string>();
  const unresolved = cfg.peers.filter((p) => !p.mac);
  for (const p of cfg.peers) if (p.mac) peerMacs.set(p.name, p.mac);
  if (unresolved.length && cfg.underlay && links.has(cfg.underlay.interface)) {
    const found = await resolvePeerMacs(cfg.underlay.interface, unresolved.map((p) => p.address));
    for (const p of unresolved) {
      const m = found.get(p.address);
      if (m) peerMacs.set(p.name, m);
    }
  }
  const env: Environment = { links, peerMacs, existingSlots };
  const ul = cfg.underlay ? links.get(cfg.underlay.interface) : undefined;
  if (cfg.underlay && ul?.kind === 'veth' && chooseHook(cfg.underlay.hook, ul) === 'xdp') {
    const ifnames = [ul.name, ...cfg.ports.map((p) => p.interface).filter((n) => links.get(n)?.kind === 'veth')];
    env.vethPeers = veths ? await veths.get(ifnames, links) : await vethPeers(ifnames);
  }
  return env;
}
