/**
 * How the nodes get from what they run to what the intent now says without a
 * packet lost (the paper's "soft provisioning" lost 1.2 s). A changed path
 * has a new SPI (controller/intent/allocations.ts), so both can exist at once:
 *
 *   make    every node gets the new paths, EFs and ports beside the old ones;
 *           classification stays as it was, so nothing uses them yet
 *   switch  classifier rules move to the new paths (one write per ingress
 *           node); packets in flight on the old paths still find them
 *   break   after a drain, what the new intent no longer has goes
 *
 * Each phase is a new generation of the nodes it changes; the controller
 * waits for their agents to report it applied before the next. Pure.
 */
import type {
  EncryptedHopConfig, HopConfig, NodeConfig, PathConfig,
} from '../agent/config/types.js';

export type Phase = 'make' | 'switch' | 'break';

const byKey = <T>(items: readonly T[], key: (t: T) => string): Map<string, T> => new Map(items.map((t) => [key(t), t]));

function unionBy<T>(a: readonly T[], b: readonly T[], key: (t: T) => string): T[] {
  const m = byKey(a, key);
  for (const x of b) m.set(key(x), x);
  return [...m.values()];
}

function unionPaths(a: readonly PathConfig[], b: readonly PathConfig[]): PathConfig[] {
  const m = new Map<string, PathConfig>(a.map((p) => [`${p.layer}/${p.spi}`, { ...p, hops: [...p.hops] }]));
  for (const p of b) {
    const id = `${p.layer}/${p.spi}`;
    const had = m.get(id);
    m.set(id, had ? { ...p, hops: unionBy<HopConfig>(had.hops, p.hops, (h) => String(h.si)).sort((x, y) => y.si - x.si) } : p);
  }
  return [...m.values()].sort((x, y) => (x.layer === y.layer ? x.spi - y.spi : x.layer === 'sf' ? -1 : 1));
}

/** Old and new at once: everything either has; classification from `classifierOf`. */
export function unionConfig(old: NodeConfig, next: NodeConfig, classifierOf: NodeConfig): NodeConfig {
  return {
    ...next,
    peers: unionBy(old.peers, next.peers, (p) => p.name),
    ports: unionBy(old.ports, next.ports, (p) => p.name),
    paths: unionPaths(old.paths, next.paths),
    classifier: classifierOf.classifier,
    efs: unionBy(old.efs, next.efs, (e) => e.name),
    encryptedHops: unionBy<EncryptedHopConfig>(old.encryptedHops, next.encryptedHops, (h) => `${h.ef}/${h.role}/${h.espi}`)
      .sort((a, b) => a.espi - b.espi || a.role.localeCompare(b.role)),
  };
}

/**
 * The states each node goes through, in order: make, switch, break (the
 * target). A node that is new or gone takes the target straight away in the
 * make phase (there is nothing of it to keep), and phases that change nothing
 * are left out.
 */
export function phases(current: ReadonlyMap<string, NodeConfig>, target: ReadonlyMap<string, NodeConfig>): { phase: Phase; nodes: Map<string, NodeConfig | undefined> }[] {
  const make = new Map<string, NodeConfig | undefined>();
  const sw = new Map<string, NodeConfig | undefined>();
  const brk = new Map<string, NodeConfig | undefined>();
  for (const name of new Set([...current.keys(), ...target.keys()])) {
    const old = current.get(name);
    const next = target.get(name);
    if (!old || !next) {
      // Added nodes get their whole state in the first phase; removed ones lose it in the last.
      if (next) make.set(name, next);
      else brk.set(name, undefined);
      continue;
    }
    make.set(name, unionConfig(old, next, old));
    sw.set(name, unionConfig(old, next, next));
    brk.set(name, next);
  }
  const out: { phase: Phase; nodes: Map<string, NodeConfig | undefined> }[] = [];
  let state = new Map<string, NodeConfig | undefined>(current);
  for (const [phase, m] of [['make', make], ['switch', sw], ['break', brk]] as const) {
    const changed = new Map<string, NodeConfig | undefined>();
    for (const [n, cfg] of m) if (JSON.stringify(state.get(n)) !== JSON.stringify(cfg)) changed.set(n, cfg);
    if (!changed.size) continue;
    out.push({ phase, nodes: changed });
    state = new Map([...state, ...changed]);
  }
  return out;
}
