/**
 * The agent channel: a node's agent long-polls for its desired state (with
 * the keys of its EF pairs: the only place keys leave the controller) and
 * reports what it applied. An agent may read only its own node's state and
 * write only its own report.
 *
 *   GET  /esfc-agent/v1/nodes/NODE/desired?wait=S   If-None-Match: "gN"
 *        -> 200 {generation, config} ETag "gM", or 304 when nothing changed within S seconds
 *   POST /esfc-agent/v1/nodes/NODE/report           {desiredGeneration, appliedGeneration, error?, status?}
 *        (without status: the last report's status stands; agents send it on their heartbeat)
 */
import type { FunctionLiveness } from '../../agent/liveness/liveness.js';
import type { Controller } from '../controller.js';
import { RestconfFailure } from './errors.js';
import type { HttpReply } from './data.js';
import type { Principal } from './principal.js';

export const AGENT_PREFIX = '/esfc-agent/v1/';
const NODE_PATH = /^\/esfc-agent\/v1\/nodes\/([a-z0-9][a-z0-9-]{0,62})\/(desired|report)$/;
const MAX_WAIT_S = 60;

function nodeOf(p: Principal, url: URL, want: 'desired' | 'report'): string {
  const m = NODE_PATH.exec(url.pathname);
  if (!m || m[2] !== want) throw RestconfFailure.of('invalid-value', `no agent resource at ${url.pathname}`, { status: 404 });
  if (p.kind !== 'agent') throw RestconfFailure.of('access-denied', `${p.kind} ${p.name} is not an agent`, { status: 403 });
  if (p.name !== m[1]) throw RestconfFailure.of('access-denied', `agent ${p.name} may not use node ${m[1]}'s channel`, { status: 403 });
  return m[1]!;
}

export async function agentDesired(p: Principal, c: Controller, url: URL, method: string, ifNoneMatch: string | undefined, signal: AbortSignal): Promise<HttpReply> {
  const node = nodeOf(p, url, 'desired');
  if (method !== 'GET') throw RestconfFailure.of('operation-not-supported', 'desired state is read with GET', { status: 405 });
  const wait = Math.min(MAX_WAIT_S, Math.max(0, Number(url.searchParams.get('wait') ?? 0) || 0));
  const m = /^"g(\d+)"$/.exec(ifNoneMatch?.trim() ?? '');
  const known = m ? Number(m[1]) : undefined;
  if (wait > 0) await c.waitFor(node, known, wait * 1000, signal);
  const d = c.generationOf(node) === known ? undefined : c.desiredFor(node);
  if (!d) return { status: 304, headers: known !== undefined ? { etag: `"g${known}"` } : {} };
  const body = JSON.stringify(d);
  return { status: 200, headers: { etag: `"g${d.generation}"`, 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(body)) }, body };
}

export function agentReport(p: Principal, c: Controller, url: URL, method: string, body: string | undefined, seen: (node: string) => void): HttpReply {
  const node = nodeOf(p, url, 'report');
  if (method !== 'POST') throw RestconfFailure.of('operation-not-supported', 'reports are POSTed', { status: 405 });
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(body ?? '') as Record<string, unknown>;
  } catch {
    throw RestconfFailure.of('malformed-message', 'a report is a JSON object', { type: 'rpc' });
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw RestconfFailure.of('malformed-message', 'a report is a JSON object', { type: 'rpc' });
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);
  const applied = num(r.appliedGeneration);
  const desired = num(r.desiredGeneration);
  c.report(node, {
    ...(applied !== undefined ? { appliedGeneration: applied } : {}),
    ...(desired !== undefined ? { desiredGeneration: desired } : {}),
    ...(r.error && typeof r.error === 'object' ? { error: r.error as Record<string, unknown> } : {}),
    ...(r.status && typeof r.status === 'object' && !Array.isArray(r.status) ? { status: r.status as Record<string, unknown> } : {}),
    ...(Array.isArray(r.functions) ? { functions: functionsOf(r.functions) } : {}),
  });
  seen(node);
  return { status: 204, headers: {} };
}

/** The SFs' liveness as the agent judged it; entries that are not well formed are left out. */
function functionsOf(list: unknown[]): FunctionLiveness[] {
  return list.flatMap((x): FunctionLiveness[] => {
    const f = x as Record<string, unknown>;
    if (typeof f !== 'object' || f === null || typeof f.name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(f.name) || typeof f.live !== 'boolean') return [];
    return [{
      name: f.name, live: f.live, since: typeof f.since === 'string' ? f.since.slice(0, 40) : '',
      ...(typeof f.reason === 'string' ? { reason: f.reason.slice(0, 200) } : {}),
    }];
  });
}
