/**
 * What to change in an EF's XFRM state, in an order that never drops a
 * packet: the RFC 9061 make-before-break order. New inbound SAs first (the
 * peer may start sending with the new key at any moment), then policies,
 * then new outbound SAs (XFRM sends with the newest matching SA), then the
 * old outbound, old inbound SAs and stale policies. Only objects in esfc's
 * mark/reqid range are ever deleted. Pure.
 *
 * Each operation has a phase: 'stage' operations add (and can be undone if
 * the reconcile fails before the datapath switches to the new generation),
 * 'retire' operations remove what the new generation no longer uses and run
 * after the switch.
 */
import type { PolicySpec, SaSpec } from '../xfrm/xfrm-types.js';
import { isEsfcReqid } from './ef-layout.js';
import { ownsMark } from './compile-ef.js';

type Mark = { value: number; mask: number };

/** What the planner needs to know of an SA the kernel holds. */
export interface SaSeen { src: string; dst: string; spi: number; reqid: number; mark?: Mark; key?: Buffer }
export interface PolicySeen { dir: PolicySpec['dir']; selector: PolicySpec['selector']; priority: number; mark?: Mark; templates: PolicySpec['templates'] }

export type XfrmOp = (
  | { op: 'add-sa'; sa: SaSpec }
  | { op: 'delete-sa'; sa: SaSeen }
  | { op: 'add-policy'; policy: PolicySpec }
  | { op: 'update-policy'; policy: PolicySpec; previous: PolicySeen }
  | { op: 'delete-policy'; policy: PolicySeen }
) & { phase: 'stage' | 'retire' };

const saId = (s: { dst: string; spi: number }): string => `${s.dst}|${s.spi >>> 0}`;
const policyId = (p: { dir: string; mark?: Mark }): string => `${p.dir}|${p.mark?.value ?? 0}`;

function samePolicy(a: PolicySpec, b: PolicySeen): boolean {
  const t = (x: PolicySpec['templates']) => JSON.stringify(x.map((y) => [y.src, y.dst, y.proto, y.mode, y.reqid]));
  return a.priority === b.priority && a.selector.src === b.selector.src && a.selector.dst === b.selector.dst && t(a.templates) === t(b.templates);
}

export function planXfrm(desired: { sas: readonly SaSpec[]; policies: readonly PolicySpec[]; localAddress: string },
  actual: { sas: readonly SaSeen[]; policies: readonly PolicySeen[] }): XfrmOp[] {
  const have = new Map(actual.sas.map((s) => [saId(s), s]));
  const want = new Map(desired.sas.map((s) => [saId(s), s]));
  const adds: SaSpec[] = [];
  const dels: SaSeen[] = [];
  for (const [id, s] of want) {
    const h = have.get(id);
    if (!h) { adds.push(s); continue; }
    // Same SPI with other key material: an operator reused an SPI; replace it.
    if (h.key && !h.key.equals(s.aead.key)) { dels.push(h); adds.push(s); }
  }
  for (const [id, h] of have) if (!want.has(id) && isEsfcReqid(h.reqid)) dels.push(h);

  const inbound = (s: { dst: string }): boolean => s.dst === desired.localAddress;
  const ops: XfrmOp[] = [];
  // A replaced SA must go before its successor with the same SPI comes.
  for (const d of dels.filter((x) => want.has(saId(x)))) ops.push({ op: 'delete-sa', sa: d, phase: 'stage' });
  for (const s of adds.filter(inbound)) ops.push({ op: 'add-sa', sa: s, phase: 'stage' });

  const havePol = new Map(actual.policies.filter((p) => ownsMark(p.mark)).map((p) => [policyId(p), p]));
  const wantPol = new Map(desired.policies.map((p) => [policyId(p), p]));
  for (const [id, p] of wantPol) {
    const h = havePol.get(id);
    if (!h) ops.push({ op: 'add-policy', policy: p, phase: 'stage' });
    else if (!samePolicy(p, h)) ops.push({ op: 'update-policy', policy: p, previous: h, phase: 'stage' });
  }
  for (const s of adds.filter((x) => !inbound(x))) ops.push({ op: 'add-sa', sa: s, phase: 'stage' });
  const stale = dels.filter((x) => !want.has(saId(x)));
  for (const d of stale.filter((x) => !inbound(x))) ops.push({ op: 'delete-sa', sa: d, phase: 'retire' });
  for (const d of stale.filter(inbound)) ops.push({ op: 'delete-sa', sa: d, phase: 'retire' });
  for (const [id, h] of havePol) if (!wantPol.has(id)) ops.push({ op: 'delete-policy', policy: h, phase: 'retire' });
  return ops;
}
