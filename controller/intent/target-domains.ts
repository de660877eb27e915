/**
 * Which domains a write targets, from the intent before and after it: the
 * domains whose controllers must execute it and answer it on the replicated
 * orchestration log (docs/ledger.md). It reads the intent only, never what a
 * controller compiled or saw of its agents, so every validator computes the
 * same set from the same log.
 *
 * A node counts for a changed entry when the entry can place traffic on it:
 * a node entry itself; a service function's node; for a chain, the nodes of
 * its SFs, their standbys and every SF of the same kinds (an unprotected SF
 * fails over to one of them), and the ingress and egress nodes of the flows
 * on it; for a flow, its own nodes and its chain's. A changed domain entry
 * targets that domain. A write that changes none of these (signing keys, an
 * empty change) targets every domain the intent names. An operation targets
 * the domains of the flows it reaches (flowDomains).
 */
import { intentFromDoc } from './from-doc.js';
import type { Intent, IntentChain, IntentFlow } from './types.js';

type Doc = Record<string, unknown>;

const EMPTY: Intent = { domains: [], nodes: [], serviceFunctions: [], chains: [], flows: [] };

function intentOf(doc: Doc): Intent {
  try {
    return intentFromDoc(doc);
  } catch {
    // A document the model refuses changes nothing a node runs; the fallback (every domain) answers it.
    return EMPTY;
  }
}

/** Names of the entries that differ between two lists keyed by name, with both versions. */
function changed<T extends { name: string }>(a: readonly T[], b: readonly T[]): T[] {
  const before = new Map(a.map((e) => [e.name, JSON.stringify(e)]));
  const after = new Map(b.map((e) => [e.name, JSON.stringify(e)]));
  const out: T[] = [];
  for (const e of a) if (after.get(e.name) !== before.get(e.name)) out.push(e);
  for (const e of b) if (before.get(e.name) !== after.get(e.name)) out.push(e);
  return out;
}

function chainNodes(i: Intent, chain: IntentChain): string[] {
  const named = new Set([...chain.serviceFunctions, ...chain.protection.map((p) => p.standby)]);
  const kinds = new Set(i.serviceFunctions.filter((s) => named.has(s.name)).map((s) => s.kind));
  const sfNodes = i.serviceFunctions.filter((s) => named.has(s.name) || kinds.has(s.kind)).map((s) => s.node);
  const flowNodes = i.flows.filter((f) => f.chain === chain.name).flatMap((f) => [f.ingress.node, f.egress.node]);
  return [...sfNodes, ...flowNodes];
}

function flowNodes(i: Intent, flow: IntentFlow): string[] {
  const chain = i.chains.find((c) => c.name === flow.chain);
  return [flow.ingress.node, flow.egress.node, ...(chain ? chainNodes(i, chain) : [])];
}

export function targetDomains(beforeDoc: Doc, afterDoc: Doc): string[] {
  const a = intentOf(beforeDoc);
  const b = intentOf(afterDoc);
  const domainOf = new Map([...a.nodes, ...b.nodes].map((n) => [n.name, n.domain]));
  const out = new Set<string>();
  const nodes = (names: readonly string[]): void => {
    for (const n of names) {
      const d = domainOf.get(n);
      if (d !== undefined) out.add(d);
    }
  };
  for (const d of changed(a.domains, b.domains)) out.add(d.name);
  for (const n of changed(a.nodes, b.nodes)) out.add(n.domain);
  nodes(changed(a.serviceFunctions, b.serviceFunctions).map((s) => s.node));
  const changedChains = new Set(changed(a.chains, b.chains).map((c) => c.name));
  const changedFlows = new Set(changed(a.flows, b.flows).map((f) => f.name));
  for (const i of [a, b]) {
    for (const c of i.chains) if (changedChains.has(c.name)) nodes(chainNodes(i, c));
    for (const f of i.flows) if (changedFlows.has(f.name)) nodes(flowNodes(i, f));
  }
  if (out.size === 0) for (const d of [...a.domains, ...b.domains]) out.add(d.name);
  return [...out].sort();
}

/**
 * The domains an operation on these flows targets (an invocation changes no
 * intent): the domains of each flow's nodes and its chain's, as for a write
 * of the flow; every domain when it names none.
 */
export function flowDomains(doc: Doc, flows: readonly string[]): string[] {
  const i = intentOf(doc);
  const domainOf = new Map(i.nodes.map((n) => [n.name, n.domain]));
  const names = new Set(flows);
  const out = new Set<string>();
  for (const f of i.flows) {
    if (!names.has(f.name)) continue;
    for (const n of flowNodes(i, f)) {
      const d = domainOf.get(n);
      if (d !== undefined) out.add(d);
    }
  }
  if (out.size === 0) for (const d of i.domains) out.add(d.name);
  return [...out].sort();
}
