/**
 * DESIGN.md's scenario with its encrypted hops, as data: SF1 at ISP-A,
 * SF2 at ISP-B, SF3 at ISP-C; e-mail (25, 110) goes SF1 -> EF1 -> EF2 -> SF3,
 * web (80, 443) goes SF1 -> EF3 -> EF4 -> SF2 -> EF5 -> EF6 -> SF3, each EF
 * pair with its own keys, and both flows come back the same way reversed.
 * Pure: addresses, MACs, keys and agent configs.
 */
import { randomBytes } from 'node:crypto';
import type { EncryptedHopConfig, HopKeyConfig, HopTarget, NodeConfig, PathConfig, PortConfig } from '../agent/config/types.js';
import { CONFIG_API_VERSION } from '../agent/config/types.js';
import { chain, planScenario, type ScenarioPlan, type SfPlan } from './plan.js';

export interface EfPlan {
  name: string;       // ef1
  node: string;       // node-a
  address: string;    // tunnel endpoint
  mac: string;        // its eth0
  hostMac: string;    // the node's ef port
}

export type Elem = { sf: string } | { pair: [string, string] };

export interface FlowPath {
  name: string;
  spi: number;
  /** Forward paths enter at the client and use the SFs' A arms. */
  forward: boolean;
  elems: Elem[];
}

export interface EncryptedPlan {
  base: ScenarioPlan;
  efs: EfPlan[];
  paths: FlowPath[];
  /** Key generations by E-SPI (both ends of a pair share them). */
  keys: Map<number, HopKeyConfig[]>;
  /** MTU of the EF veths: room for ESP and MD type 3 around a 1500-byte packet. */
  efMtu: number;
  /** Classifier: which ports go on which path (client side by destination port, server side by source port). */
  classes: { spi: number; ports: number[]; side: 'client' | 'server' }[];
}

export const MAIL_PORTS = [25, 110];
export const WEB_PORTS = [80, 443];

/** E-SPI of the k-th encrypted hop of a path. */
export const espiOf = (spi: number, k: number): number => spi * 100 + k;

export function newKey(spi: number, epoch: number, aes256: boolean, notAfter?: Date): HopKeyConfig {
  const k: HopKeyConfig = { spi, epoch, key: randomBytes(aes256 ? 36 : 20).toString('hex') };
  if (notAfter) k.notAfter = notAfter.toISOString();
  return k;
}

export function planEncryptedScenario(opts: { placeEf?: Record<string, string> } = {}): EncryptedPlan {
  const base = planScenario({ sfCount: 3, nodeCount: 3, underlayMtu: 1700 });
  const place: Record<string, string> = { ef1: 'node-a', ef2: 'node-c', ef3: 'node-a', ef4: 'node-b', ef5: 'node-b', ef6: 'node-c', ...opts.placeEf };
  const efs = Object.entries(place).map(([name, node], i) => ({
    name, node, address: `10.200.0.${i + 1}`, mac: `02:00:00:00:e${i + 1}:02`, hostMac: `02:00:00:00:e${i + 1}:01`,
  }));
  const paths: FlowPath[] = [
    { name: 'mail', spi: 10, forward: true, elems: [{ sf: 'sf1' }, { pair: ['ef1', 'ef2'] }, { sf: 'sf3' }] },
    { name: 'mail-back', spi: 11, forward: false, elems: [{ sf: 'sf3' }, { pair: ['ef2', 'ef1'] }, { sf: 'sf1' }] },
    { name: 'web', spi: 20, forward: true, elems: [{ sf: 'sf1' }, { pair: ['ef3', 'ef4'] }, { sf: 'sf2' }, { pair: ['ef5', 'ef6'] }, { sf: 'sf3' }] },
    { name: 'web-back', spi: 21, forward: false, elems: [{ sf: 'sf3' }, { pair: ['ef6', 'ef5'] }, { sf: 'sf2' }, { pair: ['ef4', 'ef3'] }, { sf: 'sf1' }] },
  ];
  const classes: EncryptedPlan['classes'] = [
    { spi: 10, ports: MAIL_PORTS, side: 'client' }, { spi: 20, ports: WEB_PORTS, side: 'client' },
    { spi: 11, ports: MAIL_PORTS, side: 'server' }, { spi: 21, ports: WEB_PORTS, side: 'server' },
  ];
  return { base, efs, paths, keys: keysFor(paths), efMtu: 1600, classes };
}

function keysFor(paths: FlowPath[]): Map<number, HopKeyConfig[]> {
  const keys = new Map<number, HopKeyConfig[]>();
  let spiSeq = 0x1000;
  for (const p of paths) {
    p.elems.filter((e) => 'pair' in e).forEach((_, k) => {
      // AES-256 on the mail pairs, AES-128 on the others: both key sizes in every run.
      keys.set(espiOf(p.spi, k), [newKey(spiSeq++, 1, p.name.startsWith('mail'))]);
    });
  }
  return keys;
}

/**
 * Two nodes, client on the first and server on the second, and a chain of n
 * hops of one kind: n NSH-unaware SFs placed alternately on the two nodes, or
 * n EF pairs, each from one node to the other (every encrypted hop crosses
 * the underlay). For the paper's Figure 9: the same hop count both ways.
 */
export function planLinearChain(kind: 'sf' | 'ef', n: number, ports: number[]): EncryptedPlan {
  const base = planScenario({ sfCount: kind === 'sf' ? n : 0, nodeCount: 2, underlayMtu: 1700 });
  const sfs = base.nodes.flatMap((x) => x.sfs).sort((a, b) => Number(a.name.slice(2)) - Number(b.name.slice(2)));
  for (const x of base.nodes) x.sfs = [];
  sfs.forEach((sf, k) => { sf.node = base.nodes[k % 2]!.name; base.nodes[k % 2]!.sfs.push(sf); });
  const efs: EfPlan[] = [];
  const pairs: [string, string][] = [];
  for (let k = 0; kind === 'ef' && k < n; k++) {
    const a = efs.length + 1, b = efs.length + 2;
    efs.push({ name: `ef${a}`, node: base.nodes[k % 2]!.name, address: `10.200.0.${a}`, mac: `02:00:00:00:e${a.toString(16)}:02`, hostMac: `02:00:00:00:e${a.toString(16)}:01` });
    efs.push({ name: `ef${b}`, node: base.nodes[(k + 1) % 2]!.name, address: `10.200.0.${b}`, mac: `02:00:00:00:e${b.toString(16)}:02`, hostMac: `02:00:00:00:e${b.toString(16)}:01` });
    pairs.push([`ef${a}`, `ef${b}`]);
  }
  const fwd: Elem[] = kind === 'sf' ? sfs.map((s) => ({ sf: s.name })) : pairs.map((p) => ({ pair: p }));
  const back: Elem[] = kind === 'sf' ? [...fwd].reverse() : [...pairs].reverse().map(([a, b]) => ({ pair: [b, a] as [string, string] }));
  const paths: FlowPath[] = [
    { name: 'chain', spi: 10, forward: true, elems: fwd },
    { name: 'chain-back', spi: 11, forward: false, elems: back },
  ];
  return { base, efs, paths, keys: keysFor(paths), efMtu: 1600, classes: [{ spi: 10, ports, side: 'client' }, { spi: 11, ports, side: 'server' }] };
}

interface NodeParts { ports: PortConfig[]; paths: Map<string, PathConfig>; hops: EncryptedHopConfig[] }

/** Agent configuration of every node. nsOf maps an EF name to its namespace. */
export function encryptedConfigs(ep: EncryptedPlan, o: { pinRoot: string; nsOf: (ef: string) => string }): Map<string, NodeConfig> {
  const plan = ep.base;
  const sfs = new Map<string, SfPlan>(chain(plan).map((s) => [s.name, s]));
  const efs = new Map(ep.efs.map((e) => [e.name, e]));
  const parts = new Map<string, NodeParts>(plan.nodes.map((n) => [n.name, { ports: [], paths: new Map(), hops: [] }]));
  const part = (node: string): NodeParts => parts.get(node)!;
  const hop = (node: string, layer: 'sf' | 'ef', spi: number, si: number, to: HopTarget, from?: string): void => {
    const id = `${layer}/${spi}`;
    const paths = part(node).paths;
    if (!paths.has(id)) paths.set(id, { spi, layer, hops: [] });
    paths.get(id)!.hops.push({ si, to, ...(from ? { from: [from] } : {}) });
  };

  for (const n of plan.nodes) {
    const ports = part(n.name).ports;
    if (n.name === plan.client.node) ports.push({ name: 'client', interface: 'edge-c', kind: 'edge', hook: 'auto', peerMac: plan.client.mac, forwardOam: false });
    if (n.name === plan.server.node) ports.push({ name: 'server', interface: 'edge-s', kind: 'edge', hook: 'auto', peerMac: plan.server.mac, forwardOam: false });
    for (const sf of n.sfs) {
      for (const arm of [sf.armA, sf.armB]) ports.push({ name: arm.host, interface: arm.host, kind: 'sf-proxy', hook: 'auto', peerMac: arm.sfMac, function: sf.name, forwardOam: false });
    }
  }
  for (const e of ep.efs) part(e.node).ports.push({ name: e.name, interface: e.name, kind: 'ef', hook: 'auto', peerMac: e.mac, function: e.name, forwardOam: false });

  for (const p of ep.paths) {
    let si = 255;
    let at = p.forward ? plan.client.node : plan.server.node;
    let pairNo = 0;
    // The node the next position arrives from over the underlay, if it does.
    let from: string | undefined;
    const goTo = (node: string): void => {
      from = undefined;
      if (node !== at) {
        hop(at, 'sf', p.spi, si, { node });
        from = at;
      }
      at = node;
    };
    for (const e of p.elems) {
      if ('sf' in e) {
        const sf = sfs.get(e.sf)!;
        goTo(sf.node);
        hop(sf.node, 'sf', p.spi, si, { port: p.forward ? sf.armA.host : sf.armB.host }, from);
      } else {
        const [a, b] = [efs.get(e.pair[0])!, efs.get(e.pair[1])!];
        const espi = espiOf(p.spi, pairNo++);
        const keys = ep.keys.get(espi)!;
        goTo(a.node);
        hop(a.node, 'sf', p.spi, si, { port: a.name }, from);
        part(a.node).hops.push({ ef: a.name, role: 'encrypt', spi: p.spi, si, espi, peer: b.address, keys, replayWindow: 128 });
        hop(a.node, 'ef', espi, 255, a.node === b.node ? { port: b.name } : { node: b.node });
        if (a.node !== b.node) hop(b.node, 'ef', espi, 255, { port: b.name }, a.node);
        part(b.node).hops.push({ ef: b.name, role: 'decrypt', spi: p.spi, si, espi, peer: a.address, keys, replayWindow: 128 });
        at = b.node;
      }
      si--;
    }
    goTo(p.forward ? plan.server.node : plan.client.node);
    hop(at, 'sf', p.spi, si, { deliver: p.forward ? 'server' : 'client' }, from);
  }

  const out = new Map<string, NodeConfig>();
  for (const n of plan.nodes) {
    const pp = part(n.name);
    const cfg: NodeConfig = {
      apiVersion: CONFIG_API_VERSION,
      node: { name: n.name, pinDir: `${o.pinRoot}/${n.name}`, nshTtl: 63, md3Type: 3 },
      underlay: { interface: 'ul0', address: n.ulIp, hook: 'auto' },
      peers: plan.nodes.filter((x) => x.name !== n.name).map((x) => ({ name: x.name, address: x.ulIp, mac: x.ulMac })),
      ports: pp.ports,
      paths: [...pp.paths.values()],
      classifier: [],
      efs: ep.efs.filter((e) => e.node === n.name).map((e) => ({ name: e.name, netns: o.nsOf(e.name), interface: 'eth0', address: e.address })),
      encryptedHops: pp.hops,
    };
    for (const c of ep.classes) {
      if (n.name !== (c.side === 'client' ? plan.client.node : plan.server.node)) continue;
      for (const protocol of ['tcp', 'udp'] as const) {
        for (const port of c.ports) {
          cfg.classifier.push(c.side === 'client'
            ? { port: 'client', protocol, spi: c.spi, source: '172.16.1.0/24', destination: '172.16.2.0/24', destinationPorts: { from: port, to: port } }
            : { port: 'server', protocol, spi: c.spi, source: '172.16.2.0/24', destination: '172.16.1.0/24', sourcePorts: { from: port, to: port } });
        }
      }
    }
    out.set(n.name, cfg);
  }
  return out;
}
