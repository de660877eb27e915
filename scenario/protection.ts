/**
 * The protection scenario (test/e2e/failover, bench provisioning): four
 * nodes in a row, client at A, server at D. SF1 (A), SF2 (B), SF3 (C) make
 * the chain; SF4 on A stands in for SF1 (same node), SF5 on D for SF2 (on
 * another node, one the path does not otherwise pass); SF3 is unprotected
 * and SF6 on C is a spare of its kind the controller can place instead.
 */
import { PLAIN_FLOW, scenarioIntent, type IntentDoc } from './intent.js';
import type { ScenarioNet } from './net.js';
import { planScenario, type ScenarioPlan } from './plan.js';
import { nsh } from './sh.js';

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

/** An SF's client-side link goes down inside its namespace, as when it crashes with its interface. */
export function sfLinkDown(net: ScenarioNet, sf: string): Promise<string> {
  return nsh(net.ns(sf), ['ip', 'link', 'set', 'eth0', 'down']);
}

/** Back up, with the route Linux removed with the link (an SF restarting sets it up again). */
export async function sfLinkUp(net: ScenarioNet, sf: string): Promise<void> {
  const arm = net.plan.nodes.flatMap((n) => n.sfs).find((s) => s.name === sf)!.armA;
  await nsh(net.ns(sf), ['ip', 'link', 'set', 'eth0', 'up']);
  await nsh(net.ns(sf), ['ip', 'route', 'replace', '172.16.1.0/24', 'via', arm.hostIp]);
}

/** The SF stops forwarding with its links up (a stopped process): only a probe through it notices. */
export function sfForwarding(net: ScenarioNet, sf: string, on: boolean): Promise<string> {
  return nsh(net.ns(sf), ['sysctl', '-qw', `net.ipv4.ip_forward=${on ? 1 : 0}`]);
}

/** Packets the SF received on its client-side arm (the forward path enters there). */
export async function sfRx(net: ScenarioNet, sf: string): Promise<number> {
  const j = JSON.parse(await nsh(net.ns(sf), ['ip', '-s', '-j', 'link', 'show', 'eth0'])) as { stats64: { rx: { packets: number } } }[];
  return j[0]!.stats64.rx.packets;
}
