/**
 * Rekeying an EF pair the way the controller will: make-before-break in the
 * RFC 9061 order, through the agents' config files (each step waits until
 * the agent applied it).
 */
import type { HopKeyConfig, NodeConfig } from '../agent/config/types.js';
import { encryptedConfigs, type EncryptedPlan } from './encrypted.js';
import type { ScenarioNet } from './net.js';

/** Configs of the given nodes with the key list of one EF pair replaced. */
export function withKeys(ep: EncryptedPlan, net: ScenarioNet, espi: number, keys: HopKeyConfig[], nodes: string[]): Map<string, NodeConfig> {
  ep.keys.set(espi, keys);
  const first = ep.base.nodes[0]!.name;
  const pinRoot = net.configs.get(first)!.node.pinDir.replace(new RegExp(`/${first}$`), '');
  const all = encryptedConfigs(ep, { pinRoot, nsOf: (ef) => net.ns(ef) });
  return new Map(nodes.map((n) => [n, all.get(n)!]));
}

async function apply(net: ScenarioNet, node: string, cfg: NodeConfig): Promise<void> {
  const r = await net.applyConfig(node, cfg);
  if (r !== 'applied') throw new Error(`${node} rejected a rekey step`);
}

/**
 * New inbound SA at the decrypting end, then the new outbound at the
 * encrypting end (XFRM sends with it from then on), then, once packets
 * protected with the old key had time to arrive, the old SAs go.
 */
export async function rekey(net: ScenarioNet, ep: EncryptedPlan, espi: number, enc: string, dec: string, next: HopKeyConfig, drainMs = 200): Promise<void> {
  const old = ep.keys.get(espi)!.at(-1)!;
  await apply(net, dec, withKeys(ep, net, espi, [old, next], [dec]).get(dec)!);
  await apply(net, enc, withKeys(ep, net, espi, [old, next], [enc]).get(enc)!);
  await new Promise((r) => setTimeout(r, drainMs));
  const only = withKeys(ep, net, espi, [next], [dec, enc]);
  await apply(net, dec, only.get(dec)!);
  await apply(net, enc, only.get(enc)!);
}
