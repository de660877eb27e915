/**
 * Whether a node needs BMv2, and how it is wired, from its configuration and
 * what compile() made of it. Pure.
 *
 * - hook p4: BMv2 is the node's SFF; each esfc port is a BMv2 port, numbered
 *   from 1 in the order of the interfaces' names (stable across restarts).
 * - a punt port: BMv2 sits on the punt veth's far end (port 1); esfc_tx
 *   sends every frame back to the eBPF core behind the slow-path header.
 */
import type { NodeConfig } from '../config/types.js';
import type { DesiredState } from '../datapath/compile.js';
import { PortKind } from '../datapath/layout.js';
import type { Bmv2Layout } from './bmv2-runtime.js';

export class Bmv2LayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Bmv2LayoutError';
  }
}

/** Undefined when the node needs no BMv2. `puntPeer` is the far end of the punt port's veth, if found here. */
export function bmv2Layout(cfg: NodeConfig, desired: DesiredState, puntPeer?: { ifname: string; netns?: string }): Bmv2Layout | undefined {
  const p4 = desired.attachments.filter((a) => a.hook === 'p4').sort((a, b) => (a.ifname < b.ifname ? -1 : a.ifname > b.ifname ? 1 : 0));
  if (p4.length) {
    const ports = p4.map((a, i) => ({ port: i + 1, ifname: a.ifname, ifindex: a.ifindex }));
    return { ports: ports.map(({ port, ifname }) => ({ port, ifname })), wiring: { mode: 'ports', ports: ports.map(({ port, ifindex }) => ({ port, ifindex })) } };
  }
  const punt = cfg.ports.find((p) => p.kind === 'punt');
  if (!punt) return undefined;
  if (!puntPeer) throw new Bmv2LayoutError(`punt port ${punt.name}: ${punt.interface} is not a veth whose peer the agent can find; BMv2 runs on the peer`);
  if (puntPeer.netns) throw new Bmv2LayoutError(`punt port ${punt.name}: the peer of ${punt.interface} (${puntPeer.ifname}) is in namespace ${puntPeer.netns}; BMv2 runs beside the agent, so keep both ends of the punt veth in the node's namespace`);
  const ifindexes = [...desired.ports].filter(([, p]) => p.kind !== PortKind.none && p.kind !== PortKind.punt).map(([i]) => i).sort((a, b) => a - b);
  return { ports: [{ port: 1, ifname: puntPeer.ifname }], wiring: { mode: 'punt', port: 1, ifindexes } };
}
