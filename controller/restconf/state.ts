/**
 * esfc-state: each node's operational state as YANG data (config false), from
 * the controller's desired generations and what the agents report. Agents
 * report no key material, and only the fields below are taken from a report.
 */
import type { YangObject } from '../yang/index.js';
import type { Controller } from '../controller.js';

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;
const HOOKS = new Set(['xdp', 'tc', 'tc-egress']);
const MECHANISMS = new Set(['xdp-link', 'tcx', 'cls_bpf']);

type R = Record<string, unknown>;
const u64 = (v: unknown): bigint => BigInt(Math.max(0, Math.trunc(Number(v) || 0)));
const u32 = (v: unknown): number => Math.max(0, Math.min(0xffffffff, Math.trunc(Number(v) || 0)));

/** A node is connected while its agent holds a subscription or reported recently. */
export const CONNECTED_WITHIN_MS = 15_000;

export function nodesState(c: Controller, lastSeen: (node: string) => number | undefined): YangObject {
  const nodes = c.nodes().map((name): YangObject => {
    const rep = c.reportOf(name);
    const seen = lastSeen(name);
    const status = (rep?.report ?? {}) as R;
    const entry: YangObject = {
      name,
      connected: seen !== undefined && Date.now() - seen < CONNECTED_WITHIN_MS,
      'desired-generation': BigInt(c.generationOf(name) ?? 0),
    };
    if (rep?.appliedGeneration !== undefined) entry['applied-generation'] = BigInt(rep.appliedGeneration);
    if (rep?.lastError) entry['last-error'] = rep.lastError;
    if (rep) entry['last-report'] = rep.at.replace(/\.\d+Z$/, 'Z');
    const hooks = ((status.hooks ?? []) as R[])
      .filter((h) => IFNAME.test(String(h.ifname)) && HOOKS.has(String(h.hook)) && MECHANISMS.has(String(h.mechanism)))
      .map((h): YangObject => ({
        ifname: String(h.ifname), hook: String(h.hook), mechanism: String(h.mechanism), 'program-id': u32(h.programId),
        ...(NAME.test(String(h.port)) ? { port: String(h.port) } : {}),
      }));
    if (hooks.length) entry.hook = hooks;
    const counters = ((status.counters ?? []) as R[])
      .filter((x) => NAME.test(String(x.port)) && typeof x.stat === 'string')
      .map((x): YangObject => ({ port: String(x.port), stat: String(x.stat), drop: x.drop === true, packets: u64(x.packets), bytes: u64(x.bytes) }));
    if (counters.length) entry.counter = counters;
    const efs = ((status.efs ?? []) as R[]).filter((e) => NAME.test(String(e.name))).map((e): YangObject => {
      const sas = ((e.sas ?? []) as R[]).filter((s) => s.dir === 'in' || s.dir === 'out').map((s): YangObject => ({
        spi: u32(s.spi), direction: String(s.dir), 'e-spi': u32(s.espi), packets: u64(s.packets), bytes: u64(s.bytes),
        'replay-errors': u32(s.replayErrors), 'integrity-failures': u32(s.integrityFailed),
      }));
      return { name: String(e.name), ...(sas.length ? { sa: sas } : {}) };
    });
    if (efs.length) entry['encryption-function'] = efs;
    const sfs = ((status.functions ?? []) as R[])
      .filter((f) => NAME.test(String(f.name)) && typeof f.live === 'boolean')
      .map((f): YangObject => ({
        name: String(f.name), live: f.live as boolean,
        ...(typeof f.since === 'string' && !Number.isNaN(Date.parse(f.since)) ? { since: f.since.replace(/\.\d+Z$/, 'Z') } : {}),
        ...(typeof f.reason === 'string' ? { reason: f.reason } : {}),
      }));
    if (sfs.length) entry['service-function'] = sfs;
    return entry;
  });
  return { 'esfc-state:nodes-state': { node: nodes } };
}
