/**
 * The scenario as an operator and a tenant would write it to the controller:
 * RFC 7951 JSON of YANG module esfc-intent. ISP-A, ISP-B (untrusted) and
 * ISP-C in a row; a compute node each with its ports and EF slots; SF1 (vCPE)
 * at A, SF2 (cache) at B, SF3 (firewall) at C; chains and flows of tenant
 * "acme". No SPI, SI, table entry or key appears: the controller compiles
 * them.
 */
import type { EfPlan } from './encrypted.js';
import type { ScenarioPlan } from './plan.js';

export interface FlowIntent {
  name: string;
  /** SF names in order. */
  chain: string[];
  sensitive: boolean;
  protocols?: ('tcp' | 'udp')[];
  /** Destination ports (one match entry per protocol and port); absent: any. */
  ports?: number[];
}

export interface ScenarioIntentOptions {
  /** EF slots on the nodes (none: the nodes offer no encryption functions). */
  efs?: EfPlan[];
  /** Network namespace of each EF slot. */
  nsOf?: (ef: string) => string;
  flows: FlowIntent[];
  tenant?: string;
  /** SF kind by name (default: DESIGN.md's vcpe, cache, firewall for sf1..sf3). */
  kinds?: Record<string, string>;
  /** Protected SF -> its standby, in every chain that has the SF. */
  protection?: Record<string, string>;
  /** Liveness probes through every SF (client address to server address), at this interval (ms). */
  probeIntervalMs?: number;
  /** Hold-down of every node (ms). */
  holdDownMs?: number;
}

export type IntentDoc = Record<string, unknown>;

const SF_KIND = ['vcpe', 'cache', 'firewall'];

/** DESIGN.md's flows: e-mail and web encrypted across ISP-B, video not. */
export const DESIGN_FLOWS: FlowIntent[] = [
  { name: 'mail', chain: ['sf1', 'sf3'], sensitive: true, protocols: ['tcp', 'udp'], ports: [25, 110] },
  { name: 'web', chain: ['sf1', 'sf2', 'sf3'], sensitive: true, protocols: ['tcp', 'udp'], ports: [80, 443] },
];
export const VIDEO_FLOW: FlowIntent = { name: 'video', chain: ['sf1', 'sf2', 'sf3'], sensitive: false, protocols: ['udp'], ports: [5004, 5005] };
/** The plain chain of the fast-path scenario: everything between the client's and the server's networks, SF1 -> SF2 -> SF3, not encrypted. */
export const PLAIN_FLOW: FlowIntent = { name: 'all', chain: ['sf1', 'sf2', 'sf3'], sensitive: false };

export function scenarioIntent(plan: ScenarioPlan, o: ScenarioIntentOptions): IntentDoc {
  const efs = o.efs ?? [];
  const nsOf = o.nsOf ?? ((ef: string) => ef);
  const tenant = o.tenant ?? 'acme';
  const domainOf = (node: string): string => `isp-${node.slice(-1)}`;
  const sfs = plan.nodes.flatMap((n) => n.sfs);
  const match = (f: FlowIntent): Record<string, unknown>[] => {
    const base = { 'source-prefix': '172.16.1.0/24', 'destination-prefix': '172.16.2.0/24' };
    if (!f.ports) return [{ id: 1, ...base }];
    return (f.protocols ?? ['tcp']).flatMap((protocol) => f.ports!.map((p) => ({ protocol, ...base, 'destination-ports': { from: p, to: p } })))
      .map((m, i) => ({ id: i + 1, ...m }));
  };
  return {
    'esfc-intent:domains': {
      domain: plan.nodes.map((n, i) => ({
        name: domainOf(n.name),
        // The middle domain is the untrusted transit (ISP-B); domains are linked in a row.
        trust: i > 0 && i < plan.nodes.length - 1 ? 'untrusted' : 'trusted',
        ...(i + 1 < plan.nodes.length ? { neighbours: [domainOf(plan.nodes[i + 1]!.name)] } : {}),
      })),
    },
    'esfc-intent:nodes': {
      node: plan.nodes.map((n) => ({
        name: n.name, domain: domainOf(n.name),
        underlay: { interface: 'ul0', address: n.ulIp, mac: n.ulMac },
        ...(o.holdDownMs !== undefined ? { 'hold-down': o.holdDownMs } : {}),
        port: [
          ...(n.name === plan.client.node ? [{ name: 'client', interface: 'edge-c', kind: 'edge', 'peer-mac': plan.client.mac }] : []),
          ...(n.name === plan.server.node ? [{ name: 'server', interface: 'edge-s', kind: 'edge', 'peer-mac': plan.server.mac }] : []),
          ...n.sfs.flatMap((sf) => [sf.armA, sf.armB].map((arm) => ({ name: arm.host, interface: arm.host, kind: 'sf-proxy', 'peer-mac': arm.sfMac }))),
          ...efs.filter((e) => e.node === n.name).map((e) => ({ name: e.name, interface: e.name, kind: 'ef', 'peer-mac': e.mac })),
        ],
        ...(efs.some((e) => e.node === n.name)
          ? { 'encryption-function': efs.filter((e) => e.node === n.name).map((e) => ({ name: e.name, netns: nsOf(e.name), interface: 'eth0', address: e.address, port: e.name })) }
          : {}),
      })),
    },
    'esfc-intent:service-functions': {
      'service-function': sfs.map((sf) => ({
        name: sf.name, kind: o.kinds?.[sf.name] ?? SF_KIND[Number(sf.name.slice(2)) - 1] ?? 'sf', node: sf.node, 'nsh-aware': false,
        'ingress-port': sf.armA.host, 'egress-port': sf.armB.host,
        ...(o.probeIntervalMs ? { 'liveness-probe': { source: plan.client.ip, destination: plan.server.ip, interval: o.probeIntervalMs } } : {}),
      })),
    },
    'esfc-intent:chains': {
      chain: o.flows.map((f) => {
        const protection = f.chain.filter((sf) => o.protection?.[sf]).map((sf) => ({ 'service-function': sf, standby: o.protection![sf]! }));
        return { name: `${f.name}-chain`, tenant, 'service-function': f.chain, ...(protection.length ? { protection } : {}) };
      }),
    },
    'esfc-intent:flows': {
      flow: o.flows.map((f) => ({
        name: f.name, tenant, chain: `${f.name}-chain`, sensitive: f.sensitive, bidirectional: true,
        ingress: { node: plan.client.node, port: 'client' }, egress: { node: plan.server.node, port: 'server' },
        match: match(f),
      })),
    },
  };
}
