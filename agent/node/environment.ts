/**
 * What compile() needs to know about the node: its interfaces, the peers'
 * underlay MACs, and, for XDP on a veth underlay, whether the veths its
 * frames are sent into can receive them. Read-only.
 */
import type { NodeConfig } from '../config/types.js';
import { chooseHook, type Environment } from '../datapath/compile.js';
import { listLinks } from './links.js';
import { resolvePeerMacs } from './neighbours.js';
import { vethPeers } from './veth-peer.js';

export async function gatherEnvironment(cfg: NodeConfig, existingSlots: ReadonlyMap<number, number> = new Map()): Promise<Environment> {
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
    env.vethPeers = await vethPeers([ul.name, ...cfg.ports.map((p) => p.interface).filter((n) => links.get(n)?.kind === 'veth')]);
  }
  return env;
}
