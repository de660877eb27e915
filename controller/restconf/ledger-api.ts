/**
 * The orchestration log, read-only over the controller's HTTPS API (mutual
 * TLS, the same principals as RESTCONF): the whole log as its export bytes
 * (operators; what `esfc audit verify URL` checks) and history as JSON
 * (operators see everything, a tenant only its own requests and their
 * responses). Writes never come this way: they are RESTCONF data writes.
 */
import type { WriteLog } from '../orchestration-log.js';
import { transactionJson } from '../ledger/index.js';
import { RestconfFailure } from './errors.js';
import type { HttpReply } from './data.js';
import type { Principal } from './principal.js';

export const LEDGER_PREFIX = '/esfc-ledger/v1';

const ms = (v: string | null, what: string): number | undefined => {
  if (v === null) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw RestconfFailure.of('invalid-value', `${what}=${v}: give an ISO 8601 time or ms since the epoch`, { status: 400 });
  return t;
};

export function ledgerRead(p: Principal, log: WriteLog | undefined, url: URL, method: string): HttpReply {
  if (method !== 'GET') throw RestconfFailure.of('operation-not-supported', `${url.pathname} is read-only`, { status: 405 });
  if (!log) throw RestconfFailure.of('operation-not-supported', 'this controller runs without an orchestration log', { status: 404 });
  if (p.kind === 'agent') throw RestconfFailure.of('access-denied', `agent ${p.name} may not read the orchestration log`, { status: 403 });
  const what = url.pathname.slice(LEDGER_PREFIX.length);
  if (what === '/export') {
    if (p.kind !== 'operator') throw RestconfFailure.of('access-denied', `${p.kind} ${p.name} may not export the whole log (history shows your own)`, { status: 403 });
    const body = log.exportBytes();
    return { status: 200, headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, body };
  }
  if (what === '/history') {
    const q = url.searchParams;
    const tenant = p.kind === 'tenant' ? p.name : q.get('tenant') ?? undefined;
    if (p.kind === 'tenant' && q.get('tenant') !== null && q.get('tenant') !== p.name) {
      throw RestconfFailure.of('access-denied', `tenant ${p.name} may read only its own history`, { status: 403 });
    }
    const limit = q.get('limit') === null ? 1000 : Number(q.get('limit'));
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw RestconfFailure.of('invalid-value', 'limit: a whole number from 1 to 100000', { status: 400 });
    const from = ms(q.get('from'), 'from');
    const to = ms(q.get('to'), 'to');
    const rows = log.history({
      ...(tenant !== undefined ? { tenant } : {}), ...(q.get('chain') !== null ? { chain: q.get('chain')! } : {}),
      ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}), limit,
    });
    const body = JSON.stringify({
      'esfc-ledger:history': rows.map((r) => ({ height: r.meta.height, blockTime: new Date(r.meta.blockTime).toISOString(), ...(r.meta.tenant ? { tenant: r.meta.tenant } : {}), ...(r.meta.chain ? { chain: r.meta.chain } : {}), transaction: transactionJson(r.tx) })),
    });
    return { status: 200, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, body };
  }
  throw RestconfFailure.of('invalid-value', `no resource at ${url.pathname} (${LEDGER_PREFIX}/export, ${LEDGER_PREFIX}/history)`, { status: 404 });
}
