/**
 * The intent compiler: intent -> each node's desired state, in exactly the
 * shape the agent validates and applies from a file (agent/config/types.ts).
 * Pure: the numbers it hands out come from and go back to `Allocations`.
 *
 * For every flow, in each direction it runs, the path is
 *   ingress edge -> the chain's SFs in order -> egress edge
 * with SI 255 at the first SF, one less per SF. Wherever two consecutive
 * elements sit on nodes whose domains are linked through an untrusted domain
 * (the route between them included), and the flow is sensitive, an EF pair is
 * inserted: the encrypting EF on the node of the element before the hop, the
 * decrypting EF on the node of the element after it (invariant 2 by
 * construction), the pair taking one SI. Keys are not the compiler's business:
 * `encryptedHops[].keys` is left empty and filled, per node, by whoever sends
 * the state to the node's agent.
 */
import {
  CONFIG_API_VERSION, type ClassifierRule, type EncryptedHopConfig, type HopTarget, type NodeConfig, type PathConfig,
  type PortConfig,
} from '../../agent/config/types.js';
import { MAX_CLASS_RULES as MAX_CLASSIFIER_RULES } from '../../agent/datapath/layout.js';
import { Allocator, type Allocations } from './allocations.js';
import { domainRoute } from './routes.js';
import type { Intent, IntentEfSlot, IntentFlow, IntentMatch, IntentNode, IntentServiceFunction } from './types.js';

export interface IntentProblem {
  /** RESTCONF data path of the offending node, e.g. /esfc-intent:flows/flow=web/chain. */
  path: string;
  problem: string;
  fix: string;
}

export class IntentError extends Error {
  readonly code = 'ESFC_INTENT_INVALID';
  constructor(readonly problems: IntentProblem[]) {
    super(`intent refused: ${problems.length} problem(s):\n${problems.map((p) => `  ${p.path}: ${p.problem} (fix: ${p.fix})`).join('\n')}`);
  }
}

export interface EfPair {
  espi: number;
  flow: string;
  direction: Direction;
  enc: { node: string; ef: string };
  dec: { node: string; ef: string };
}

export interface Compiled {
  /** Desired state per node; encryptedHops carry no keys yet. */
  nodes: Map<string, NodeConfig>;
  /** Every EF pair, for the key source. */
  pairs: EfPair[];
  allocations: Allocations;
}

export type Direction = 'forward' | 'reverse';

/** The longest chain of positions one path can have (SI 255 down to 1). */
const MAX_POSITIONS = 254;

const q = (s: string): string => encodeURIComponent(s);
const P = {
  flow: (f: string, leaf?: string) => `/esfc-intent:flows/flow=${q(f)}${leaf ? `/${leaf}` : ''}`,
  chain: (c: string, leaf?: string) => `/esfc-intent:chains/chain=${q(c)}${leaf ? `/${leaf}` : ''}`,
  sf: (s: string, leaf?: string) => `/esfc-intent:service-functions/service-function=${q(s)}${leaf ? `/${leaf}` : ''}`,
  node: (n: string, leaf?: string) => `/esfc-intent:nodes/node=${q(n)}${leaf ? `/${leaf}` : ''}`,
  domain: (d: string, leaf?: string) => `/esfc-intent:domains/domain=${q(d)}${leaf ? `/${leaf}` : ''}`,
};

/** One element of a path: an edge port or an SF arm, on a node. */
interface Element { name: string; node: string; port: string; sf?: IntentServiceFunction }

class NodeParts {
  readonly paths = new Map<string, PathConfig>();
  readonly hops: EncryptedHopConfig[] = [];
  readonly classifier: ClassifierRule[] = [];
  readonly functions = new Map<string, string>();   // port name -> function behind it
  readonly efs = new Map<string, IntentEfSlot>();

  hop(layer: 'sf' | 'ef', spi: number, si: number, to: HopTarget, from?: string): void {
    const id = `${layer}/${spi}`;
    if (!this.paths.has(id)) this.paths.set(id, { spi, layer, hops: [] });
    this.paths.get(id)!.hops.push({ si, to, ...(from ? { from: [from] } : {}) });
  }
}

export function compileIntent(intent: Intent, prev: Allocations): Compiled {
  const problems: IntentProblem[] = [];
  const nodes = new Map(intent.nodes.map((n) => [n.name, n]));
  const domains = new Map(intent.domains.map((d) => [d.name, d]));
  const sfs = new Map(intent.serviceFunctions.map((s) => [s.name, s]));
  const chains = new Map(intent.chains.map((c) => [c.name, c]));
  checkInfrastructure(intent, nodes, domains, problems);
  const flows = [...intent.flows].sort((a, b) => a.name.localeCompare(b.name));
  for (const f of flows) checkFlow(f, nodes, sfs, chains, problems);
  if (problems.length) throw new IntentError(problems);

  const alloc = new Allocator(prev);
  const parts = new Map(intent.nodes.map((n) => [n.name, new NodeParts()]));
  const pairs: EfPair[] = [];
  const crossesUntrusted = (a: string, b: string): boolean => {
    const route = domainRoute(intent.domains, nodes.get(a)!.domain, nodes.get(b)!.domain)!;
    return route.some((d) => domains.get(d)!.trust === 'untrusted');
  };
  // EF slots: an end keeps the slot it had; new ends take the least used slot of their node (declaration order on ties).
  const load = new Map<string, number>();
  const slotFor = (node: IntentNode, id: string): IntentEfSlot | undefined => {
    const got = alloc.ef(`${id}@${node.name}`, (n) => node.efs.some((e) => e.name === n), () => {
      const ranked = [...node.efs].sort((a, b) => (load.get(`${node.name}/${a.name}`) ?? 0) - (load.get(`${node.name}/${b.name}`) ?? 0));
      return ranked[0]?.name;
    });
    if (got?.fresh) load.set(`${node.name}/${got.name}`, (load.get(`${node.name}/${got.name}`) ?? 0) + 1);
    return node.efs.find((e) => e.name === got?.name);
  };
  // Keep every slot that is still valid before handing out new ones, so a new flow never takes an old pair's slot.
  for (const [id, name] of Object.entries(prev.efs)) {
    const at = id.lastIndexOf('@');
    const node = nodes.get(id.slice(at + 1));
    if (node?.efs.some((e) => e.name === name)) load.set(`${node.name}/${name}`, (load.get(`${node.name}/${name}`) ?? 0) + 1);
  }

  for (const f of flows) {
    const chain = chains.get(f.chain)!;
    for (const direction of (f.bidirectional ? ['forward', 'reverse'] : ['forward']) as Direction[]) {
      const fwd = direction === 'forward';
      const start = fwd ? f.ingress : f.egress;
      const end = fwd ? f.egress : f.ingress;
      const seq = chain.serviceFunctions.map((n) => sfs.get(n)!);
      if (!fwd) seq.reverse();
      const elements: Element[] = [
        { name: fwd ? 'ingress' : 'egress', node: start.node, port: start.port },
        ...seq.map((sf) => ({ name: sf.name, node: sf.node, port: fwd ? sf.ingressPort : sf.egressPort, sf })),
        { name: fwd ? 'egress' : 'ingress', node: end.node, port: end.port },
      ];
      const signature = elements.map((e, i) => `${e.name}@${e.node}${i && needsPair(f, elements[i - 1]!, e, crossesUntrusted) ? '+ef' : ''}`).join('>');
      const spi = alloc.spi(`${f.name}/${direction}`, signature);
      let si = 255;
      let at = start.node;
      let from: string | undefined;
      const goTo = (node: string): void => {
        from = undefined;
        if (node === at) return;
        parts.get(at)!.hop('sf', spi, si, { node });
        from = at;
        at = node;
      };
      const positions = seq.length + elements.slice(1).filter((el, i) => needsPair(f, elements[i]!, el, crossesUntrusted)).length;
      if (positions > MAX_POSITIONS) {
        problems.push({ path: P.chain(chain.name, 'service-function'), problem: `flow ${f.name} needs ${positions} path positions (SFs and EF pairs); NSH has ${MAX_POSITIONS}`, fix: 'shorten the chain' });
        continue;
      }
      for (let i = 1; i < elements.length; i++) {
        const prevEl = elements[i - 1]!;
        const el = elements[i]!;
        if (needsPair(f, prevEl, el, crossesUntrusted)) {
          const pairId = `${f.name}/${[prevEl.name, el.name].sort().join('~')}`;
          const encNode = nodes.get(prevEl.node)!;
          const decNode = nodes.get(el.node)!;
          const enc = slotFor(encNode, pairId);
          const dec = slotFor(decNode, pairId);
          const route = domainRoute(intent.domains, encNode.domain, decNode.domain)!.join(' -> ');
          for (const [node, slot] of [[encNode, enc], [decNode, dec]] as const) {
            if (!slot) {
              problems.push({
                path: P.node(node.name, 'encryption-function'),
                problem: `flow ${f.name} goes from ${prevEl.name} on ${prevEl.node} to ${el.name} on ${el.node} through ${route}, which is not all trusted: it needs an encryption function on ${node.name}, which offers none`,
                fix: `declare an encryption-function (netns, interface, address, ef port) on ${node.name}, or mark the flow "sensitive": false`,
              });
            }
          }
          if (!enc || !dec) continue;
          const espi = alloc.espi(`${f.name}/${direction}/${prevEl.name}>${el.name}`);
          const encParts = parts.get(encNode.name)!;
          const decParts = parts.get(decNode.name)!;
          encParts.hop('sf', spi, si, { port: enc.port }, from);
          encParts.hops.push({ ef: enc.name, role: 'encrypt', spi, si, espi, peer: dec.address, keys: [], replayWindow: 128 });
          encParts.hop('ef', espi, 255, encNode === decNode ? { port: dec.port } : { node: decNode.name });
          if (encNode !== decNode) decParts.hop('ef', espi, 255, { port: dec.port }, encNode.name);
          decParts.hops.push({ ef: dec.name, role: 'decrypt', spi, si, espi, peer: enc.address, keys: [], replayWindow: 128 });
          encParts.efs.set(enc.name, enc);
          decParts.efs.set(dec.name, dec);
          encParts.functions.set(enc.port, enc.name);
          decParts.functions.set(dec.port, dec.name);
          pairs.push({ espi, flow: f.name, direction, enc: { node: encNode.name, ef: enc.name }, dec: { node: decNode.name, ef: dec.name } });
          // The plaintext comes out of the decrypting EF on its node.
          si--;
          at = decNode.name;
          from = undefined;
        }
        if (el.sf) {
          goTo(el.node);
          const p = parts.get(el.node)!;
          p.hop('sf', spi, si, { port: el.port }, from);
          p.functions.set(el.sf.ingressPort, el.sf.name);
          p.functions.set(el.sf.egressPort, el.sf.name);
          si--;
          from = undefined;
        } else {
          goTo(el.node);
          parts.get(el.node)!.hop('sf', spi, si, { deliver: el.port }, from);
        }
      }
      const rules = parts.get(start.node)!.classifier;
      for (const m of f.match) rules.push(classifierRule(start.port, fwd ? m : mirror(m), spi));
    }
  }
  for (const [name, p] of parts) {
    if (p.classifier.length > MAX_CLASSIFIER_RULES) {
      problems.push({ path: P.node(name), problem: `the flows classified at ${name} need ${p.classifier.length} classifier rules; a node's datapath holds ${MAX_CLASSIFIER_RULES}`, fix: 'merge matches (prefixes, port ranges) or classify some flows at another node' });
    }
  }
  if (problems.length) throw new IntentError(problems);

  const out = new Map<string, NodeConfig>();
  for (const n of intent.nodes) out.set(n.name, nodeConfig(n, intent.nodes, parts.get(n.name)!));
  return { nodes: out, pairs, allocations: alloc.result() };
}

function needsPair(f: IntentFlow, a: Element, b: Element, crossesUntrusted: (a: string, b: string) => boolean): boolean {
  return f.sensitive && a.node !== b.node && crossesUntrusted(a.node, b.node);
}

function mirror(m: IntentMatch): IntentMatch {
  const out: IntentMatch = {};
  if (m.protocol !== undefined) out.protocol = m.protocol;
  if (m.destinationPrefix) out.sourcePrefix = m.destinationPrefix;
  if (m.sourcePrefix) out.destinationPrefix = m.sourcePrefix;
  if (m.destinationPorts) out.sourcePorts = m.destinationPorts;
  if (m.sourcePorts) out.destinationPorts = m.sourcePorts;
  return out;
}

function classifierRule(port: string, m: IntentMatch, spi: number): ClassifierRule {
  const r: ClassifierRule = { port, spi };
  if (m.protocol !== undefined) r.protocol = m.protocol;
  if (m.sourcePrefix) r.source = m.sourcePrefix;
  if (m.destinationPrefix) r.destination = m.destinationPrefix;
  if (m.sourcePorts) r.sourcePorts = m.sourcePorts;
  if (m.destinationPorts) r.destinationPorts = m.destinationPorts;
  return r;
}

function nodeConfig(n: IntentNode, all: readonly IntentNode[], p: NodeParts): NodeConfig {
  // Ports: every edge and punt port; SF and EF ports only when something uses them (they need a function).
  const ports: PortConfig[] = n.ports
    .filter((x) => x.kind === 'edge' || x.kind === 'punt' || p.functions.has(x.name))
    .map((x) => ({
      name: x.name, interface: x.interface, kind: x.kind, hook: x.hook, forwardOam: x.forwardOam,
      ...(x.peerMac ? { peerMac: x.peerMac } : {}), ...(p.functions.has(x.name) ? { function: p.functions.get(x.name)! } : {}),
    }));
  const bySpi = (a: PathConfig, b: PathConfig): number => (a.layer === b.layer ? a.spi - b.spi : a.layer === 'sf' ? -1 : 1);
  const paths = [...p.paths.values()].sort(bySpi).map((path) => ({ ...path, hops: [...path.hops].sort((a, b) => b.si - a.si) }));
  // Only the nodes this one exchanges traffic with: a node's state does not grow with the size of the network.
  const referenced = new Set(paths.flatMap((path) => path.hops.flatMap((h) => [...('node' in h.to ? [h.to.node] : []), ...(h.from ?? [])])));
  return {
    apiVersion: CONFIG_API_VERSION,
    node: { name: n.name, pinDir: `/sys/fs/bpf/esfc/${n.name}`, nshTtl: n.nshTtl, md3Type: n.md3Type },
    underlay: { interface: n.underlay.interface, address: n.underlay.address, hook: n.underlay.hook },
    peers: all.filter((x) => referenced.has(x.name)).map((x) => ({ name: x.name, address: x.underlay.address, ...(x.underlay.mac ? { mac: x.underlay.mac } : {}) })),
    ports,
    paths,
    classifier: p.classifier,
    efs: [...p.efs.values()].sort((a, b) => a.name.localeCompare(b.name)).map((e) => ({ name: e.name, netns: e.netns, interface: e.interface, address: e.address })),
    encryptedHops: [...p.hops].sort((a, b) => a.espi - b.espi || a.role.localeCompare(b.role)),
  };
}

function checkInfrastructure(intent: Intent, nodes: Map<string, IntentNode>, domains: Map<string, unknown>, problems: IntentProblem[]): void {
  for (const d of intent.domains) {
    for (const n of d.neighbours) {
      if (!domains.has(n)) problems.push({ path: P.domain(d.name, 'neighbours'), problem: `no domain named ${n}`, fix: 'declare it under domains or remove the link' });
    }
  }
  for (const n of intent.nodes) {
    if (!domains.has(n.domain)) problems.push({ path: P.node(n.name, 'domain'), problem: `no domain named ${n.domain}`, fix: 'declare the domain first' });
    for (const e of n.efs) {
      const port = n.ports.find((x) => x.name === e.port);
      if (!port || port.kind !== 'ef') problems.push({ path: `${P.node(n.name)}/encryption-function=${q(e.name)}/port`, problem: `${e.port} is not an ef port of ${n.name}`, fix: 'name a port of kind ef on the same node' });
    }
  }
  const addrs = new Map<string, string>();
  for (const n of intent.nodes) {
    const other = addrs.get(n.underlay.address);
    if (other) problems.push({ path: P.node(n.name, 'underlay/address'), problem: `${n.underlay.address} is also ${other}'s underlay address`, fix: 'one address per node' });
    addrs.set(n.underlay.address, n.name);
  }
  for (const sf of intent.serviceFunctions) {
    const node = nodes.get(sf.node);
    if (!node) {
      problems.push({ path: P.sf(sf.name, 'node'), problem: `no node named ${sf.node}`, fix: 'declare the node first' });
      continue;
    }
    const want = sf.nshAware ? 'sf' : 'sf-proxy';
    for (const leaf of ['ingressPort', 'egressPort'] as const) {
      const port = node.ports.find((x) => x.name === sf[leaf]);
      const yangLeaf = leaf === 'ingressPort' ? 'ingress-port' : 'egress-port';
      if (!port) problems.push({ path: P.sf(sf.name, yangLeaf), problem: `${sf.node} has no port ${sf[leaf]}`, fix: `declare it under nodes/node=${sf.node}/port` });
      else if (port.kind !== want) problems.push({ path: P.sf(sf.name, yangLeaf), problem: `port ${port.name} is a ${port.kind} port; an ${sf.nshAware ? 'NSH-aware' : 'NSH-unaware'} SF sits behind ${want} ports`, fix: `make the port kind ${want} or change nsh-aware` });
    }
  }
  const owner = new Map<string, string>();
  for (const sf of intent.serviceFunctions) {
    for (const port of new Set([sf.ingressPort, sf.egressPort])) {
      const id = `${sf.node}/${port}`;
      const other = owner.get(id);
      if (other) problems.push({ path: P.sf(sf.name), problem: `port ${port} of ${sf.node} already belongs to ${other}`, fix: 'one SF per port' });
      owner.set(id, sf.name);
    }
  }
}

function checkFlow(f: IntentFlow, nodes: Map<string, IntentNode>, sfs: Map<string, IntentServiceFunction>, chains: Map<string, { tenant: string; serviceFunctions: string[]; name: string }>, problems: IntentProblem[]): void {
  const chain = chains.get(f.chain);
  if (!chain) {
    problems.push({ path: P.flow(f.name, 'chain'), problem: `no chain named ${f.chain}`, fix: 'create the chain first' });
  } else {
    if (chain.tenant !== f.tenant) problems.push({ path: P.flow(f.name, 'tenant'), problem: `chain ${chain.name} belongs to tenant ${chain.tenant}, not ${f.tenant}`, fix: 'a flow can only take its own tenant\'s chains' });
    chain.serviceFunctions.forEach((n) => {
      if (!sfs.has(n)) problems.push({ path: P.chain(chain.name, 'service-function'), problem: `no service function named ${n}`, fix: 'declare it under service-functions' });
    });
    if (new Set(chain.serviceFunctions).size !== chain.serviceFunctions.length) {
      problems.push({ path: P.chain(chain.name, 'service-function'), problem: 'an SF appears twice in the chain', fix: 'each SF once per chain (its proxy state is per SF and flow)' });
    }
  }
  for (const side of ['ingress', 'egress'] as const) {
    const node = nodes.get(f[side].node);
    const port = node?.ports.find((x) => x.name === f[side].port);
    if (!node) problems.push({ path: P.flow(f.name, `${side}/node`), problem: `no node named ${f[side].node}`, fix: 'name a compute node' });
    else if (!port || port.kind !== 'edge') problems.push({ path: P.flow(f.name, `${side}/port`), problem: `${f[side].port} is not an edge port of ${node.name}`, fix: 'flows enter and leave through ports of kind edge' });
    else if (!port.peerMac) problems.push({ path: P.flow(f.name, `${side}/port`), problem: `edge port ${port.name} of ${node.name} has no peer-mac`, fix: 'add the MAC of the host behind it (packets are delivered there)' });
  }
  if (!f.match.length) problems.push({ path: P.flow(f.name, 'match'), problem: 'a flow needs at least one match', fix: 'add a match (prefixes, protocol, ports)' });
}
