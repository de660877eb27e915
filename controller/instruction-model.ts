/**
 * What the orchestration log's validator asks of the controller's data model
 * (controller/ledger/validate.ts InstructionModel), answered by the RESTCONF
 * data API's own checks (DataApi.prepare) against the datastore as it is:
 * the same checks a write meets, so the log refuses exactly what the
 * controller would. Used by both modes (orchestration-log.ts,
 * replicated-orchestration.ts); they differ only in which domains execute.
 */
import type { InstructionModel, Request } from './ledger/index.js';
import type { DataApi, PreparedWrite } from './restconf/data.js';
import { RestconfFailure } from './restconf/errors.js';
import type { Principal } from './restconf/principal.js';

export const DATA_PREFIX = '/restconf/data';
/** Whom the log checks a write as when it has no signer to check it as: the access rules are the validator's own. */
export const LOG_PRINCIPAL: Principal = { kind: 'operator', name: 'orchestration-log', serial: '' };

const TENANT_TOPS: Record<string, string> = { 'esfc-intent:chains': 'chain', 'esfc-intent:flows': 'flow' };

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export const dataPathOf = (path: string): string | undefined =>
  path === DATA_PREFIX || path.startsWith(`${DATA_PREFIX}/`) ? path.slice(DATA_PREFIX.length) : undefined;

/**
 * A refusal of the data model or its access rules, as it was (tag, status,
 * error-path), with error-app-tag esfc-ledger:invalid-instruction (or
 * esfc-ledger:not-authorised for an access rule) where it had none.
 */
export function asInvalidInstruction(f: RestconfFailure): RestconfFailure {
  return new RestconfFailure(f.errors.map((e) => ({
    ...e, appTag: e.appTag ?? (e.tag === 'access-denied' ? 'esfc-ledger:not-authorised' : 'esfc-ledger:invalid-instruction'),
  })), f.status);
}

/** The principal a registered key acts as (its role and name). */
export function principalOfKey(key: { role: string; name: string } | undefined): Principal {
  if (key?.role === 'tenant') return { kind: 'tenant', name: key.name, serial: '' };
  return key?.role === 'operator' ? { kind: 'operator', name: key.name, serial: '' } : LOG_PRINCIPAL;
}

export class DatastoreModel implements InstructionModel {
  /** Whom check() checks the request being validated as (its signer: the access rules apply), else LOG_PRINCIPAL. */
  private checkAs: Principal | undefined;
  /** The model's own refusal of the last request checked: a write it refuses is answered with it (its tag, status and path). */
  private failure: RestconfFailure | undefined;

  constructor(private readonly data: DataApi, readonly domainsOf: (request: Request) => string[]) {}

  prepareAs(p: Principal, method: string, path: string, body: string, headers: Record<string, string | undefined> = {}): PreparedWrite {
    const dataPath = dataPathOf(path);
    if (dataPath === undefined) throw RestconfFailure.of('invalid-value', `${path} is not a data resource (${DATA_PREFIX}/...)`);
    return this.data.prepare(p, method, dataPath, new URLSearchParams(), headers, body === '' ? undefined : body);
  }

  /** Runs a validation with check() as `p`; returns its result and the model's refusal, if it refused. */
  validatingAs<T>(p: Principal | undefined, fn: () => T): { result: T; failure: RestconfFailure | undefined } {
    this.failure = undefined;
    this.checkAs = p;
    try {
      return { result: fn(), failure: this.failure };
    } finally {
      this.checkAs = undefined;
      this.failure = undefined;
    }
  }

  check(method: string, path: string, body: string): string | undefined {
    try {
      this.prepareAs(this.checkAs ?? LOG_PRINCIPAL, method, path, body);
      return undefined;
    } catch (e) {
      if (e instanceof RestconfFailure) {
        this.failure = e;
        return e.errors.map((x) => x.message).join('; ');
      }
      return (e as Error).message;
    }
  }

  tenantsTouched(method: string, path: string, body: string): string[] | 'other' {
    let w: PreparedWrite;
    try {
      w = this.prepareAs(LOG_PRINCIPAL, method, path, body);
    } catch {
      return 'other';
    }
    const tenants = new Set<string>();
    for (const top of new Set([...Object.keys(w.doc), ...Object.keys(w.next)])) {
      const a = w.doc[top];
      const b = w.next[top];
      if (JSON.stringify(a) === JSON.stringify(b)) continue;
      const list = TENANT_TOPS[top];
      if (!list) return 'other';
      const byName = (h: unknown): Map<string, Json> => new Map((isObj(h) && Array.isArray(h[list]) ? (h[list] as Json[]) : []).map((e) => [String(e['name']), e]));
      const ma = byName(a);
      const mb = byName(b);
      for (const name of new Set([...ma.keys(), ...mb.keys()])) {
        const ea = ma.get(name);
        const eb = mb.get(name);
        if (JSON.stringify(ea) === JSON.stringify(eb)) continue;
        for (const e of [ea, eb]) if (e) tenants.add(String(e['tenant']));
      }
    }
    return [...tenants];
  }
}
