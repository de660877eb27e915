/**
 * The protection scenario (test/e2e/failover, bench provisioning): four
 * nodes in a row, client at A, server at D. SF1 (A), SF2 (B), SF3 (C) make
 * the chain; SF4 on A stands in for SF1 (same node), SF5 on D for SF2 (on
 * another node, one the path does not otherwise pass); SF3 is unprotected
 * and SF6 on C is a spare of its kind the controller can place instead.
 */
import { PLAIN_FLOW, scenarioIntent, type IntentDoc } from './intent.js';
import { planScenario, type ScenarioPlan } from './plan.js';

export const protectionPlan = (): ScenarioPlan => planScenario({ nodeCount: 4, sfCount: 6, sfNodes: [0, 1, 2, 0, 3, 2] });

export const PROTECTION_KINDS: Record<string, string> = { sf1: 'vcpe', sf4: 'vcpe', sf2: 'cache', sf5: 'cache', sf3: 'firewall', sf6: 'firewall' };

export interface ProtectionIntentOptions {
  /** Protect SF1 and SF2 (default) or nothing. */
  protect?: boolean;
  probeIntervalMs?: number;
  holdDownMs?: number;
}

export function protectionIntent(plan: ScenarioPlan, o: ProtectionIntentOptions = {}): IntentDoc {
  return scenarioIntent(plan, {
    flows: [PLAIN_FLOW], kinds: PROTECTION_KINDS,
    ...(o.protect === false ? {} : { protection: { sf1: 'sf4', sf2: 'sf5' } }),
    ...(o.probeIntervalMs ? { probeIntervalMs: o.probeIntervalMs } : {}),
    ...(o.holdDownMs !== undefined ? { holdDownMs: o.holdDownMs } : {}),
  });
}
