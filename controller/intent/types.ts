/**
 * Intent: what operators and tenants write (YANG module esfc-intent), as the
 * compiler sees it. Operators describe the infrastructure (domains and their
 * trust, compute nodes with their ports and encryption-function slots,
 * service functions); tenants describe chains of SFs and the flows that take
 * them. Nothing here names an SPI, an SI, a table entry or a key.
 */
import type { HookChoice, PortKind } from '../../agent/config/types.js';

export type Trust = 'trusted' | 'untrusted';

export interface IntentDomain {
  name: string;
  trust: Trust;
  /** Domains this one has a direct link with (traffic between others transits it). */
  neighbours: string[];
}

export interface IntentPort {
  name: string;
  interface: string;
  kind: PortKind;
  peerMac?: string;
  hook: HookChoice;
  forwardOam: boolean;
}

/** An encryption-function slot a node offers: a namespace with an interface behind one of its ef ports. */
export interface IntentEfSlot {
  name: string;
  netns: string;
  interface: string;
  address: string;
  port: string;
}

export interface IntentNode {
  name: string;
  domain: string;
  underlay: { interface: string; address: string; mac?: string; hook: HookChoice };
  nshTtl: number;
  md3Type: number;
  /** How long a failed SF on this node must stay healthy before it is used again (ms). */
  holdDownMs: number;
  ports: IntentPort[];
  efs: IntentEfSlot[];
}

export interface IntentServiceFunction {
  name: string;
  kind: string;
  node: string;
  nshAware: boolean;
  /** Port the chain enters the SF through going forward (and leaves through coming back). */
  ingressPort: string;
  egressPort: string;
  /** A probe through the SF (NSH-unaware SFs); absent: link state only. */
  livenessProbe?: { source: string; destination: string; intervalMs: number };
}

export interface IntentChain {
  name: string;
  tenant: string;
  /** Seconds between key changes of the chain's EF pairs; absent: the controller's global interval. */
  rekeyIntervalS?: number;
  /** In chain order. */
  serviceFunctions: string[];
  /** Protected SFs of the chain and their standbys. */
  protection: { serviceFunction: string; standby: string }[];
}

export interface PortRange { from: number; to: number }

export interface IntentMatch {
  protocol?: 'tcp' | 'udp' | 'icmp' | number;
  sourcePrefix?: string;
  destinationPrefix?: string;
  sourcePorts?: PortRange;
  destinationPorts?: PortRange;
}

export interface IntentFlow {
  name: string;
  tenant: string;
  chain: string;
  /** false: never encrypted (the scenario's video). */
  sensitive: boolean;
  /** Where the flow is classified (an edge port) and where it is delivered. */
  ingress: { node: string; port: string };
  egress: { node: string; port: string };
  /** Any of these selects the flow (in the ingress direction). */
  match: IntentMatch[];
  /** Also the way back: classified at the egress port with the match mirrored. */
  bidirectional: boolean;
}

export interface Intent {
  domains: IntentDomain[];
  nodes: IntentNode[];
  serviceFunctions: IntentServiceFunction[];
  chains: IntentChain[];
  flows: IntentFlow[];
}
