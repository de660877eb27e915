/**
 * Who may do what (an RFC 8341 NACM-style rule set, fixed): operators read
 * and write all intent and read all state; a tenant reads the domains and
 * service functions it builds chains from, and reads and writes only the
 * chains and flows whose tenant is itself; agents use their own channel and
 * nothing here. A refusal is RFC 8341's access-denied (403).
 */
import type { Principal } from './principal.js';
import { RestconfFailure } from './errors.js';

export type Access = 'read' | 'write';

/** Top-level data nodes a tenant may read; within chains and flows, only its own entries. */
const TENANT_READABLE = new Set(['esfc-intent:domains', 'esfc-intent:service-functions', 'esfc-intent:chains', 'esfc-intent:flows']);
const TENANT_OWNED = new Set(['esfc-intent:chains', 'esfc-intent:flows']);

export function denied(p: Principal, what: string, path: string): RestconfFailure {
  return RestconfFailure.of('access-denied', `${p.kind} ${p.name} may not ${what}`, { path, status: 403 });
}

/**
 * May `p` touch the data node `top` (module-qualified top-level name, or
 * undefined for the whole datastore) this way? Entry ownership is checked
 * separately (tenantOwns), because it needs the data.
 */
export function checkAccess(p: Principal, access: Access, top: string | undefined, path: string): void {
  if (p.kind === 'operator') return;
  if (p.kind === 'agent') throw denied(p, `${access} RESTCONF data (agents use /esfc-agent/v1)`, path);
  if (top === undefined) {
    if (access === 'write') throw denied(p, 'replace the whole datastore', path);
    return; // a read of everything is filtered to what the tenant may see
  }
  if (access === 'read' ? !TENANT_READABLE.has(top) : !TENANT_OWNED.has(top)) throw denied(p, `${access} ${top}`, path);
}

/** For tenants: the entries of chains/flows they may see or change are their own. */
export function tenantOwns(p: Principal, entry: Record<string, unknown>): boolean {
  return p.kind !== 'tenant' || entry.tenant === p.name;
}

export function isTenantOwnedTop(top: string | undefined): boolean {
  return top !== undefined && TENANT_OWNED.has(top);
}
