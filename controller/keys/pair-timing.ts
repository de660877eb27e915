/**
 * When a pair's keys change and how long each of its keys lives. The
 * controller's --rekey-interval and --key-lifetime hold for every pair whose
 * chain has no rekey-interval of its own; a chain's own interval I gives its
 * pairs keys that live 2*I, whatever the global lifetime L: max(L, 2*I) would
 * keep a 10 s chain's keys for hours, min(L, 2*I) would kill a 2 h chain's
 * keys before they change. 2*I leaves, like the global default, one whole
 * interval for a change to complete before the old key stops the flow.
 */
import type { EfPair } from '../intent/compile.js';
import type { KeyGenerationInfo } from './key-store.js';

export interface KeyTiming {
  /** Seconds between key changes, counted from the newest key. */
  rekeyIntervalS: number;
  /** Seconds a new key lives (its SAs' hard lifetime). */
  lifetimeS: number;
}

export function pairTiming(p: Pick<EfPair, 'rekeyIntervalS'>, global: KeyTiming): KeyTiming {
  return p.rekeyIntervalS === undefined ? global : { rekeyIntervalS: p.rekeyIntervalS, lifetimeS: 2 * p.rekeyIntervalS };
}

/**
 * Is a change of the pair whose newest key is `newest` due at `now`? Once the
 * key is one interval old, or earlier when it would not live the rest of its
 * interval plus the slack the pair's keys get (lifetime - interval): a key
 * made before its chain's interval grew or was removed, or a first key made
 * with the global lifetime for a chain whose interval is longer.
 */
export function changeDue(newest: KeyGenerationInfo | undefined, t: KeyTiming, now: number): boolean {
  // Keys made by a controller before it recorded when (created is null) are due now.
  if (!newest?.created) return true;
  if (now - Date.parse(newest.created) >= t.rekeyIntervalS * 1000) return true;
  return newest.notAfter !== undefined && Date.parse(newest.notAfter) - now <= (t.lifetimeS - t.rekeyIntervalS) * 1000;
}
