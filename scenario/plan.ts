/**
 * The scenario of DESIGN.md as data: three compute nodes (ISP-A, ISP-B,
 * ISP-C) on one underlay, a client behind node A, a server behind node C,
 * and NSH-unaware SFs in namespaces behind esfc's proxy. Forward path SPI 1
 * goes SF1 (A) -> SF2 (B) -> SF3 (C); the reverse path SPI 2 goes back
 * through SF3, SF2, SF1, so TCP works both ways through the chain.
 * Pure: addresses, MACs and agent configs. The namespaces are built by
 * net.ts.
 */
import type { HookChoice, NodeConfig, PathConfig, PortConfig } from '../agent/config/types.js';
import { CONFIG_API_VERSION } from '../agent/config/types.js';

export interface SfPlan {
  name: string;          // sf1
  node: string;          // node-a
  /** Arm facing the client side (forward path enters here). */
  armA: { host: string; sf: string; hostIp: string; sfIp: string; hostMac: string; sfMac: string };
  /** Arm facing the server side. */
  armB: { host: string; sf: string; hostIp: string; sfIp: string; hostMac: string; sfMac: string };
}

export interface NodePlan {
  name: string;          // node-a
  ulIp: string;
  ulMac: string;
  sfs: SfPlan[];
}

export interface ScenarioPlan {
  nodes: NodePlan[];
  client: { ip: string; mac: string; gw: string; gwMac: string; node: string };
  server: { ip: string; mac: string; gw: string; gwMac: string; node: string };
  underlayMtu: number;
  edgeMtu: number;
  forwardSpi: number;
  reverseSpi: number;
}

export interface ScenarioOptions {
  /** SF hops in the chain, spread round-robin over the nodes (the paper's Figure 9 axis). */
  sfCount?: number;
  nodeCount?: number;
  underlayMtu?: number;
  /** Node index of each SF, instead of spreading them (e.g. [0, 2]: none on the middle node). */
  sfNodes?: number[];
}

const mac = (a: number, b: number, c: number): string =>
  `02:00:${[a, b, c].map((x) => x.toString(16).padStart(2, '0')).join(':')}:01`.slice(0, 17);

export function planScenario(opts: ScenarioOptions = {}): ScenarioPlan {
  const nodeCount = opts.nodeCount ?? 3;
  const sfCount = opts.sfCount ?? 3;
  const nodes: NodePlan[] = [];
  for (let i = 0; i < nodeCount; i++) {
    nodes.push({ name: `node-${String.fromCharCode(97 + i)}`, ulIp: `10.250.0.${i + 1}`, ulMac: `02:00:0a:fa:00:${(i + 1).toString(16).padStart(2, '0')}`, sfs: [] });
  }
  // SFs in chain order; with more SFs than nodes, consecutive SFs share a node block-wise.
  for (let k = 0; k < sfCount; k++) {
    const n = nodes[opts.sfNodes?.[k] ?? Math.min(nodeCount - 1, Math.floor((k * nodeCount) / sfCount))]!;
    const id = k + 1;
    const arm = (side: number) => ({
      host: `sf${id}${side === 1 ? 'a' : 'b'}`,
      sf: side === 1 ? 'eth0' : 'eth1',
      hostIp: `10.${100 + side}.${id}.2`,
      sfIp: `10.${100 + side}.${id}.1`,
      hostMac: mac(0x10 + side, id >> 8, id & 0xff),
      sfMac: mac(0x20 + side, id >> 8, id & 0xff),
    });
    n.sfs.push({ name: `sf${id}`, node: n.name, armA: arm(1), armB: arm(2) });
  }
  return {
    nodes,
    client: { ip: '172.16.1.1', mac: '02:00:00:00:0c:01', gw: '172.16.1.254', gwMac: '02:00:00:00:0a:01', node: nodes[0]!.name },
    server: { ip: '172.16.2.1', mac: '02:00:00:00:0d:01', gw: '172.16.2.254', gwMac: '02:00:00:00:0a:02', node: nodes[nodeCount - 1]!.name },
    underlayMtu: opts.underlayMtu ?? 1600,
    edgeMtu: 1500,
    forwardSpi: 1,
    reverseSpi: 2,
  };
}

/** Every SF in chain order. */
export function chain(plan: ScenarioPlan): SfPlan[] {
  return plan.nodes.flatMap((n) => n.sfs).sort((a, b) => Number(a.name.slice(2)) - Number(b.name.slice(2)));
}

export interface ConfigOptions {
  pinRoot: string;
  /** One hook for every node's underlay, or per node name (the others auto). */
  underlayHook?: HookChoice | Record<string, HookChoice>;
  /** A node every hop between two other nodes passes through (remote in, remote out), as across a provider's core. */
  transit?: string;
}

/** Agent configuration of every node, keyed by node name. */
export function scenarioConfigs(plan: ScenarioPlan, opts: ConfigOptions): Map<string, NodeConfig> {
  const sfs = chain(plan);
  const out = new Map<string, NodeConfig>();
  for (const node of plan.nodes) {
    const ports: PortConfig[] = [];
    if (node.name === plan.client.node) ports.push({ name: 'client', interface: 'edge-c', kind: 'edge', hook: 'auto', peerMac: plan.client.mac, forwardOam: false });
    if (node.name === plan.server.node) ports.push({ name: 'server', interface: 'edge-s', kind: 'edge', hook: 'auto', peerMac: plan.server.mac, forwardOam: false });
    for (const sf of node.sfs) {
      ports.push({ name: sf.armA.host, interface: sf.armA.host, kind: 'sf-proxy', hook: 'auto', peerMac: sf.armA.sfMac, function: sf.name, forwardOam: false });
      ports.push({ name: sf.armB.host, interface: sf.armB.host, kind: 'sf-proxy', hook: 'auto', peerMac: sf.armB.sfMac, function: sf.name, forwardOam: false });
    }
    const forward: PathConfig = { spi: plan.forwardSpi, layer: 'sf', hops: [] };
    const reverse: PathConfig = { spi: plan.reverseSpi, layer: 'sf', hops: [] };
    const n = sfs.length;
    // Position si is handled at `here` after `prev`: hops on the way, and where it arrives from.
    const place = (path: PathConfig, si: number, prev: string, here: string, to: PathConfig['hops'][number]['to']): void => {
      const via = opts.transit && prev !== here && prev !== opts.transit && here !== opts.transit ? opts.transit : undefined;
      const last = via ?? prev;
      if (prev === node.name && here !== node.name) path.hops.push({ si, to: { node: via ?? here } });
      if (via === node.name) path.hops.push({ si, to: { node: here }, from: [prev] });
      if (here === node.name) path.hops.push({ si, to, ...(last !== here ? { from: [last] } : {}) });
    };
    // Forward: SI 255 - k reaches SF k+1; SI 255 - n is the end of the chain.
    for (let k = 0; k <= n; k++) {
      const prev = k === 0 ? plan.client.node : sfs[k - 1]!.node;
      if (k < n) place(forward, 255 - k, prev, sfs[k]!.node, { port: sfs[k]!.armA.host });
      else place(forward, 255 - k, prev, plan.server.node, { deliver: 'server' });
    }
    for (let k = 0; k <= n; k++) {
      const sf = sfs[n - 1 - k];
      const prev = k === 0 ? plan.server.node : sfs[n - k]!.node;
      if (k < n) place(reverse, 255 - k, prev, sf!.node, { port: sf!.armB.host });
      else place(reverse, 255 - k, prev, plan.client.node, { deliver: 'client' });
    }
    const cfg: NodeConfig = {
      apiVersion: CONFIG_API_VERSION,
      node: { name: node.name, pinDir: `${opts.pinRoot}/${node.name}`, nshTtl: 63, md3Type: 3 },
      underlay: { interface: 'ul0', address: node.ulIp, hook: typeof opts.underlayHook === 'string' ? opts.underlayHook : opts.underlayHook?.[node.name] ?? 'auto' },
      peers: plan.nodes.filter((p) => p.name !== node.name).map((p) => ({ name: p.name, address: p.ulIp, mac: p.ulMac })),
      ports,
      paths: [forward, reverse].filter((p) => p.hops.length > 0),
      classifier: [], efs: [], encryptedHops: [],
    };
    if (node.name === plan.client.node) cfg.classifier.push({ port: 'client', destination: '172.16.2.0/24', spi: plan.forwardSpi });
    if (node.name === plan.server.node) cfg.classifier.push({ port: 'server', destination: '172.16.1.0/24', spi: plan.reverseSpi });
    out.set(node.name, cfg);
  }
  return out;
}
