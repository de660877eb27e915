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
 * construction), the pair taking one SI.
 *
 * Protection: an SF its agent reports down (`failed`) is replaced in the
 * chain by its standby, or (unprotected) by another SF of the same kind. A
 * protected SF that is up gets a detour compiled beside its path, on the
 * same SPI: its node's hop into it names a standby target (the standby's
 * port, or the standby's node over the underlay), and the standby's own hops
 * (and EF pairs after it) are installed in advance, so the agent that sees
 * the primary fail switches one entry. Keys are not the compiler's business:
 * `encryptedHops[].keys` is left empty and filled, per node, by whoever sends
 * the state to the node's agent.
 */
import {
  CONFIG_API_VERSION, type ClassifierRule, type EncryptedHopConfig, type HopConfig, type HopTarget, type NodeConfig, type PathConfig,
  type PortConfig, type ProbeConfig,
} from '../../agent/config/types.js';
import { MAX_CLASS_RULES as MAX_CLASSIFIER_RULES } from '../../agent/datapath/layout.js';
import { Allocator, type Allocations } from './allocations.js';
import { domainRoute } from './routes.js';
import type { Intent, IntentChain, IntentEfSlot, IntentFlow, IntentMatch, IntentNode, IntentServiceFunction } from './types.js';

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
  /** Its chain's rekey-interval (seconds), when the chain has one. */
  rekeyIntervalS?: number;
}

export interface Compiled {
  /** Desired state per node; encryptedHops carry no keys yet. */
  nodes: Map<string, NodeConfig>;
  /** Every EF pair, for the key source. */
  pairs: EfPair[];
  allocations: Allocations;
  /** What an operator should know that does not stop the intent (SFs replaced, detours not possible). */
  notes: IntentProblem[];
}

export interface CompileOptions {
  /** SFs their agents report down: their positions go to the standby, or to another SF of the same kind. */
  failed?: ReadonlySet<string>;
  /** EF slots ("node/slot") their agents report down: the pair ends on them move to another slot of the node. */
  failedEfs?: ReadonlySet<string>;
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

/** One element of a path: an edge port, an SF arm, or (transit) a node the path only passes through. */
interface Element { name: string; node: string; port: string; sf?: IntentServiceFunction; transit?: boolean }

/** Where an SF's hop went on a walked path: the entry its node's agent switches on failure. */
interface SfHopAt { node: string; si: number }

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

  find(layer: 'sf' | 'ef', spi: number, si: number): HopConfig | undefined {
    return this.paths.get(`${layer}/${spi}`)?.hops.find((h) => h.si === si);
  }
}

const sameTarget = (a: HopTarget, b: HopTarget): boolean => JSON.stringify(a) === JSON.stringify(b);

export function compileIntent(intent: Intent, prev: Allocations, opts: CompileOptions = {}): Compiled {
  const problems: IntentProblem[] = [];
  const notes: IntentProblem[] = [];
  const failed = opts.failed ?? new Set<string>();
  const nodes = new Map(intent.nodes.map((n) => [n.name, n]));
  const domains = new Map(intent.domains.map((d) => [d.name, d]));
  const sfs = new Map(intent.serviceFunctions.map((s) => [s.name, s]));
  const chains = new Map(intent.chains.map((c) => [c.name, c]));
  checkInfrastructure(intent, nodes, domains, problems);
  for (const c of intent.chains) checkProtection(c, sfs, problems);
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
  // EF slots: an end keeps the slot it had while it is up; new ends (and ends of a slot reported
  // down) take the least used healthy slot of their node (declaration order on ties). A pair is its
  // two slots: one that moves is a new pair (new E-SPI, new keys) on a new path (new SPI).
  const efDown = (node: string, slot: string): boolean => opts.failedEfs?.has(`${node}/${slot}`) === true;
  const load = new Map<string, number>();
  const slotFor = (node: IntentNode, id: string): IntentEfSlot | undefined => {
    const got = alloc.ef(`${id}@${node.name}`, (n) => node.efs.some((e) => e.name === n) && !efDown(node.name, n), () => {
      const ranked = [...node.efs].sort((a, b) => Number(efDown(node.name, a.name)) - Number(efDown(node.name, b.name))
        || (load.get(`${node.name}/${a.name}`) ?? 0) - (load.get(`${node.name}/${b.name}`) ?? 0));
      return ranked[0]?.name;
    });
    if (got?.fresh) load.set(`${node.name}/${got.name}`, (load.get(`${node.name}/${got.name}`) ?? 0) + 1);
    if (got && efDown(node.name, got.name) && !notes.some((n) => n.path === P.node(node.name, 'encryption-function'))) {
      notes.push({ path: P.node(node.name, 'encryption-function'), problem: `every encryption function of ${node.name} is reported down: its pairs stay where they are and their flows fail closed`, fix: `bring an EF of ${node.name} back, or declare another` });
    }
    return node.efs.find((e) => e.name === got?.name);
  };
  const pairIdOf = (f: IntentFlow, a: Element, b: Element): string => `${f.name}/${[a.name, b.name].sort().join('~')}`;
  // Keep every slot that is still valid before handing out new ones, so a new flow never takes an old pair's slot.
  for (const [id, name] of Object.entries(prev.efs)) {
    const at = id.lastIndexOf('@');
    const node = nodes.get(id.slice(at + 1));
    if (node?.efs.some((e) => e.name === name)) load.set(`${node.name}/${name}`, (load.get(`${node.name}/${name}`) ?? 0) + 1);
  }

  /**
   * One path along `elements` on SPI `spi`, its hops and EF pairs written to
   * `out`. Returns where each SF's hop went.
   */
  const walk = (f: IntentFlow, direction: Direction, spi: number, elements: Element[], out: Map<string, NodeParts>, outPairs: EfPair[]): Map<string, SfHopAt> => {
    const sfHops = new Map<string, SfHopAt>();
    let si = 255;
    let at = elements[0]!.node;
    let from: string | undefined;
    const goTo = (node: string): void => {
      if (node === at) return;
      // Passing through (a detour) keeps who handed the position to this node.
      out.get(at)!.hop('sf', spi, si, { node }, from);
      from = at;
      at = node;
    };
    for (let i = 1; i < elements.length; i++) {
      const prevEl = elements[i - 1]!;
      const el = elements[i]!;
      if (needsPair(f, prevEl, el, crossesUntrusted)) {
        const pairId = pairIdOf(f, prevEl, el);
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
        const espi = alloc.espi(`${f.name}/${direction}/${prevEl.name}>${el.name}/${enc.name}>${dec.name}`);
        const encParts = out.get(encNode.name)!;
        const decParts = out.get(decNode.name)!;
        goTo(encNode.name);
        encParts.hop('sf', spi, si, { port: enc.port }, from);
        encParts.hops.push({ ef: enc.name, role: 'encrypt', spi, si, espi, peer: dec.address, keys: [], replayWindow: 128 });
        encParts.hop('ef', espi, 255, encNode === decNode ? { port: dec.port } : { node: decNode.name });
        if (encNode !== decNode) decParts.hop('ef', espi, 255, { port: dec.port }, encNode.name);
        decParts.hops.push({ ef: dec.name, role: 'decrypt', spi, si, espi, peer: enc.address, keys: [], replayWindow: 128 });
        encParts.efs.set(enc.name, enc);
        decParts.efs.set(dec.name, dec);
        encParts.functions.set(enc.port, enc.name);
        decParts.functions.set(dec.port, dec.name);
        const rekeyIntervalS = chains.get(f.chain)!.rekeyIntervalS;
        outPairs.push({ espi, flow: f.name, direction, enc: { node: encNode.name, ef: enc.name }, dec: { node: decNode.name, ef: dec.name }, ...(rekeyIntervalS !== undefined ? { rekeyIntervalS } : {}) });
        // The plaintext comes out of the decrypting EF on its node.
        si--;
        at = decNode.name;
        from = undefined;
      }
      goTo(el.node);
      if (el.transit) continue;
      const p = out.get(el.node)!;
      if (el.sf) {
        p.hop('sf', spi, si, { port: el.port }, from);
        sfHops.set(el.sf.name, { node: el.node, si });
        p.functions.set(el.sf.ingressPort, el.sf.name);
        p.functions.set(el.sf.egressPort, el.sf.name);
        si--;
        from = undefined;
      } else {
        p.hop('sf', spi, si, { deliver: el.port }, from);
      }
    }
    return sfHops;
  };

  // SFs whose agents must watch them: every SF of a chain that carries a flow, primary or standby.
  const watched = new Set<string>();
  for (const f of flows) {
    const chain = chains.get(f.chain)!;
    const placement = place(chain, sfs, nodes, failed, notes);
    for (const n of [...chain.serviceFunctions, ...chain.protection.map((p) => p.standby), ...placement.map((x) => x.sf.name)]) watched.add(n);
    for (const direction of (f.bidirectional ? ['forward', 'reverse'] : ['forward']) as Direction[]) {
      const fwd = direction === 'forward';
      const start = fwd ? f.ingress : f.egress;
      const end = fwd ? f.egress : f.ingress;
      const seq = fwd ? placement : [...placement].reverse();
      const arm = (sf: IntentServiceFunction): string => (fwd ? sf.ingressPort : sf.egressPort);
      const elements: Element[] = [
        { name: fwd ? 'ingress' : 'egress', node: start.node, port: start.port },
        ...seq.map(({ sf }) => ({ name: sf.name, node: sf.node, port: arm(sf), sf })),
        { name: fwd ? 'egress' : 'ingress', node: end.node, port: end.port },
      ];
      // The EF slots are part of the path: a pair that moves to other EFs makes a new path.
      const efsOf = (a: Element, b: Element): string => `+ef(${slotFor(nodes.get(a.node)!, pairIdOf(f, a, b))?.name ?? '?'}>${slotFor(nodes.get(b.node)!, pairIdOf(f, a, b))?.name ?? '?'})`;
      const signature = elements.map((e, i) => `${e.name}@${e.node}${i && needsPair(f, elements[i - 1]!, e, crossesUntrusted) ? efsOf(elements[i - 1]!, e) : ''}`).join('>');
      const spi = alloc.spi(`${f.name}/${direction}`, signature);
      const positions = seq.length + elements.slice(1).filter((el, i) => needsPair(f, elements[i]!, el, crossesUntrusted)).length;
      if (positions > MAX_POSITIONS) {
        problems.push({ path: P.chain(chain.name, 'service-function'), problem: `flow ${f.name} needs ${positions} path positions (SFs and EF pairs); NSH has ${MAX_POSITIONS}`, fix: 'shorten the chain' });
        continue;
      }
      const sfHops = walk(f, direction, spi, elements, parts, pairs);
      // Detours: the path with each protected SF's position handed on by its node to the standby.
      seq.forEach(({ sf, standby }, k) => {
        const switchAt = sfHops.get(sf.name);
        if (!standby || !switchAt) return;
        const via: Element = { name: `via-${sf.name}`, node: sf.node, port: '', transit: true };
        const standbyEl: Element = { name: standby.name, node: standby.node, port: arm(standby), sf: standby };
        const variant = [...elements.slice(0, k + 1), via, standbyEl, ...elements.slice(k + 2)];
        const scratch = new Map(intent.nodes.map((n) => [n.name, new NodeParts()]));
        const scratchPairs: EfPair[] = [];
        const problemsBefore = problems.length;
        let conflict: string | undefined;
        // The detour starts where the plaintext arrived from another node: it cannot be encrypted there (invariant 2).
        if (needsPair(f, via, standbyEl, crossesUntrusted)) conflict = `the way from ${sf.node} to ${standby.node} crosses an untrusted domain`;
        else {
          walk(f, direction, spi, variant, scratch, scratchPairs);
          conflict = problems.length > problemsBefore ? 'it needs an encryption function that is not there' : mergeDetour(parts, scratch, switchAt, spi);
          problems.length = problemsBefore;
        }
        if (conflict) {
          notes.push({ path: `${P.chain(chain.name)}/protection=${q(sf.name)}`, problem: `flow ${f.name} (${direction}): ${standby.name} cannot take over from ${sf.name} on its own (${conflict})`, fix: `the controller places ${standby.name} when ${sf.name} is reported down (slower); a standby on ${sf.node} or in its domain switches at once` });
          return;
        }
        pairs.push(...scratchPairs.filter((x) => !pairs.some((y) => y.espi === x.espi)));
      });
      const rules = parts.get(start.node)!.classifier;
      for (const m of f.match) rules.push(classifierRule(start.port, fwd ? m : mirror(m), spi));
    }
  }
  // Watched SFs keep their ports (and probes) on their nodes even while no path uses them.
  const probes = new Map<string, ProbeConfig[]>();
  for (const name of [...watched].sort()) {
    const sf = sfs.get(name)!;
    const p = parts.get(sf.node)!;
    p.functions.set(sf.ingressPort, sf.name);
    p.functions.set(sf.egressPort, sf.name);
    if (sf.livenessProbe && !sf.nshAware && sf.ingressPort !== sf.egressPort) {
      probes.set(sf.node, [...(probes.get(sf.node) ?? []), { function: sf.name, port: sf.ingressPort, ...sf.livenessProbe }]);
    }
  }
  for (const [name, p] of parts) {
    if (p.classifier.length > MAX_CLASSIFIER_RULES) {
      problems.push({ path: P.node(name), problem: `the flows classified at ${name} need ${p.classifier.length} classifier rules; a node's datapath holds ${MAX_CLASSIFIER_RULES}`, fix: 'merge matches (prefixes, port ranges) or classify some flows at another node' });
    }
  }
  if (problems.length) throw new IntentError(problems);

  const out = new Map<string, NodeConfig>();
  for (const n of intent.nodes) out.set(n.name, nodeConfig(n, intent.nodes, parts.get(n.name)!, probes.get(n.name) ?? []));
  return { nodes: out, pairs, allocations: alloc.result(), notes };
}

/** The default hold-down, which node configs leave out. */
const DEFAULT_HOLD_DOWN_MS = 1000;

/**
 * The SF at each position of the chain, with the standby that can take over
 * from it at once. A failed SF gives its place to its standby, or else to
 * another SF of the same kind (same node first, then same domain); with none
 * left it stays (its packets are dropped until something is up again).
 */
function place(chain: IntentChain, sfs: ReadonlyMap<string, IntentServiceFunction>, nodes: ReadonlyMap<string, IntentNode>, failed: ReadonlySet<string>, notes: IntentProblem[]): { sf: IntentServiceFunction; standby?: IntentServiceFunction }[] {
  const inChain = new Set([...chain.serviceFunctions, ...chain.protection.map((p) => p.standby)]);
  const taken = new Set<string>();
  return chain.serviceFunctions.map((name) => {
    const primary = sfs.get(name)!;
    const standbyName = chain.protection.find((p) => p.serviceFunction === name)?.standby;
    const standby = standbyName ? sfs.get(standbyName) : undefined;
    if (!failed.has(name)) {
      taken.add(name);
      return { sf: primary, ...(standby && !failed.has(standby.name) ? { standby } : {}) };
    }
    let sf = standby && !failed.has(standby.name) ? standby : undefined;
    if (!sf) {
      const domain = nodes.get(primary.node)?.domain;
      const rank = (x: IntentServiceFunction): number => (x.node === primary.node ? 0 : nodes.get(x.node)?.domain === domain ? 1 : 2);
      sf = [...sfs.values()]
        .filter((x) => x.kind === primary.kind && !failed.has(x.name) && !inChain.has(x.name) && !taken.has(x.name))
        .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name))[0];
    }
    notes.push({
      path: P.chain(chain.name, 'service-function'),
      problem: sf ? `${name} is reported down: ${sf.name} on ${sf.node} takes its place` : `${name} is reported down and no other SF of kind ${primary.kind} is up`,
      fix: sf ? `none needed; ${name} gets its place back once its agent reports it up` : `bring ${name} back or declare another SF of kind ${primary.kind}`,
    });
    const chosen = sf ?? primary;
    taken.add(chosen.name);
    return { sf: chosen };
  });
}

/**
 * Adds a detour's hops to the path's. Both walks share the SPI, so a node
 * can hold one target per position: the detour may only add positions, or
 * agree with the path, except at the protected SF's own hop, which gets the
 * standby target. Returns why it cannot, or undefined once merged.
 */
function mergeDetour(parts: Map<string, NodeParts>, detour: Map<string, NodeParts>, switchAt: SfHopAt, spi: number): string | undefined {
  for (const [node, d] of detour) {
    const p = parts.get(node)!;
    for (const path of d.paths.values()) {
      for (const h of path.hops) {
        const had = p.find(path.layer, path.spi, h.si);
        if (!had || sameTarget(had.to, h.to)) continue;
        const isSwitch = node === switchAt.node && path.layer === 'sf' && path.spi === spi && h.si === switchAt.si;
        if (!isSwitch) return `${node} would need two next hops for SPI ${path.spi} SI ${h.si}`;
        if (had.standby && !sameTarget(had.standby, h.to)) return `${node} already has a standby for SPI ${spi} SI ${h.si}`;
      }
    }
    for (const e of d.hops) {
      if (p.hops.some((x) => x.ef === e.ef && x.role === e.role && (e.role === 'encrypt' ? x.spi === e.spi && x.si === e.si : x.espi === e.espi) && x.espi !== e.espi)) {
        return `EF ${e.ef} on ${node} would encrypt SPI ${e.spi} SI ${e.si} for two pairs`;
      }
    }
  }
  for (const [node, d] of detour) {
    const p = parts.get(node)!;
    for (const path of d.paths.values()) {
      for (const h of path.hops) {
        const had = p.find(path.layer, path.spi, h.si);
        if (!had) {
          p.hop(path.layer, path.spi, h.si, h.to);
          if (h.from) p.find(path.layer, path.spi, h.si)!.from = [...h.from];
          continue;
        }
        if (!sameTarget(had.to, h.to)) had.standby = h.to;
        const from = [...new Set([...(had.from ?? []), ...(h.from ?? [])])];
        if (from.length) had.from = from;
      }
    }
    for (const e of d.hops) if (!p.hops.some((x) => x.ef === e.ef && x.role === e.role && x.espi === e.espi)) p.hops.push(e);
    for (const [k, v] of d.efs) p.efs.set(k, v);
    for (const [k, v] of d.functions) p.functions.set(k, v);
  }
  return undefined;
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

function nodeConfig(n: IntentNode, all: readonly IntentNode[], p: NodeParts, probes: ProbeConfig[]): NodeConfig {
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
  const referenced = new Set(paths.flatMap((path) => path.hops.flatMap((h) => [
    ...('node' in h.to ? [h.to.node] : []), ...(h.standby && 'node' in h.standby ? [h.standby.node] : []), ...(h.from ?? []),
  ])));
  const liveness = probes.length || n.holdDownMs !== DEFAULT_HOLD_DOWN_MS ? { liveness: { holdDownMs: n.holdDownMs, probes } } : {};
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
    ...liveness,
  };
}

function checkProtection(c: IntentChain, sfs: ReadonlyMap<string, IntentServiceFunction>, problems: IntentProblem[]): void {
  const standbys = new Set<string>();
  for (const p of c.protection) {
    const at = `${P.chain(c.name)}/protection=${q(p.serviceFunction)}`;
    const sf = sfs.get(p.serviceFunction);
    const sb = sfs.get(p.standby);
    if (!c.serviceFunctions.includes(p.serviceFunction)) problems.push({ path: `${at}/service-function`, problem: `${p.serviceFunction} is not an SF of chain ${c.name}`, fix: `protect one of ${c.serviceFunctions.join(', ')}` });
    if (!sb) continue;
    if (c.serviceFunctions.includes(p.standby)) problems.push({ path: `${at}/standby`, problem: `${p.standby} is already in the chain`, fix: 'name an SF outside the chain (an SF appears once per chain)' });
    if (standbys.has(p.standby)) problems.push({ path: `${at}/standby`, problem: `${p.standby} already stands in for another SF of the chain`, fix: 'one standby per protected SF' });
    standbys.add(p.standby);
    if (sf && sf.kind !== sb.kind) problems.push({ path: `${at}/standby`, problem: `${p.standby} is a ${sb.kind}, ${p.serviceFunction} a ${sf.kind}`, fix: `name an SF of kind ${sf.kind}` });
  }
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
