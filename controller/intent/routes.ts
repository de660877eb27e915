/**
 * Which domains traffic between two domains crosses: the shortest route over
 * the domains' neighbour links (ties broken by name, so the answer is
 * stable). A hop is encrypted when any domain on its route is untrusted.
 */
import type { IntentDomain } from './types.js';

export function domainRoute(domains: readonly IntentDomain[], from: string, to: string): string[] | undefined {
  if (from === to) return [from];
  const links = new Map<string, Set<string>>(domains.map((d) => [d.name, new Set<string>()]));
  // Links are symmetric whichever side declared them.
  for (const d of domains) {
    for (const n of d.neighbours) {
      links.get(d.name)?.add(n);
      links.get(n)?.add(d.name);
    }
  }
  const prev = new Map<string, string>([[from, from]]);
  let frontier = [from];
  while (frontier.length && !prev.has(to)) {
    const next: string[] = [];
    for (const d of frontier) {
      for (const n of [...(links.get(d) ?? [])].sort()) {
        if (prev.has(n)) continue;
        prev.set(n, d);
        next.push(n);
      }
    }
    frontier = next;
  }
  if (!prev.has(to)) return undefined;
  const route = [to];
  while (route[0] !== from) route.unshift(prev.get(route[0]!)!);
  return route;
}
