/**
 * What the orchestration log's validator asks of the controller's data model
 * (controller/ledger/validate.ts InstructionModel), answered by the RESTCONF
 * data API's own checks (DataApi.prepare) and the operations API's
 * (OperationsApi.prepare) against the datastore as it is: the same checks a
 * write or an invocation meets, so the log refuses exactly what the
 * controller would. Used by both modes (orchestration-log.ts,
 * replicated-orchestration.ts); they differ only in which domains execute.
 */
import type { InstructionModel, Request } from './ledger/index.js';
import type { DataApi, HttpReply, PreparedWrite } from './restconf/data.js';
import { OPERATIONS_ROOT, type Invocation, type OperationsApi } from './restconf/operations.js';
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

/** A signed instruction, checked and not applied yet: a data write or an operation's invocation. */
export type Instruction = { kind: 'data'; write: PreparedWrite } | { kind: 'operation'; invocation: Invocation };

/** What an applied instruction gives: the RESTCONF reply, and the result its response records. */
export interface Applied { reply: HttpReply; result: Record<string, unknown> }

export const isOperationPath = (path: string): boolean => path.startsWith(`${OPERATIONS_ROOT}/`);

export class DatastoreModel implements InstructionModel {
  /** Whom check() checks the request being validated as (its signer: the access rules apply), else LOG_PRINCIPAL. */
  private checkAs: Principal | undefined;
  /** The model's own refusal of the last request checked: a write it refuses is answered with it (its tag, status and path). */
  private failure: RestconfFailure | undefined;

  constructor(private readonly data: DataApi, private readonly operations: OperationsApi, readonly domainsOf: (request: Request) => string[]) {}

  /** Checks an instruction as `p` against the datastore now; the model's refusal is thrown as a RestconfFailure. */
  prepareAs(p: Principal, method: string, path: string, body: string, headers: Record<string, string | undefined> = {}): Instruction {
    if (isOperationPath(path)) {
      if (method !== 'POST') throw RestconfFailure.of('operation-not-supported', `${method} is not supported on ${path}; operations are invoked with POST`, { status: 405 });
      return { kind: 'operation', invocation: this.operations.prepare(p, path, body === '' ? undefined : body) };
    }
    const dataPath = dataPathOf(path);
    if (dataPath === undefined) throw RestconfFailure.of('invalid-value', `${path} is neither a data resource (${DATA_PREFIX}/...) nor an operation (${OPERATIONS_ROOT}/...)`);
    return { kind: 'data', write: this.data.prepare(p, method, dataPath, new URLSearchParams(), headers, body === '' ? undefined : body) };
  }

  /**
   * Applies a checked instruction: commits a write (its result is the
   * revision it made), or runs an invocation (its result also holds the
   * operation's output, as RFC 7951 JSON). A write applies at once (the
   * replicated log applies it inside the commit that decides it).
   */
  apply(i: Instruction, revision: () => number): Applied | Promise<Applied> {
    if (i.kind === 'data') return { reply: this.data.commit(i.write), result: { revision: revision() } };
    return i.invocation.run().then((reply) => ({
      reply, result: { revision: revision(), ...(reply.body !== undefined ? { output: JSON.parse(reply.body.toString()) as unknown } : {}) },
    }));
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
    let i: Instruction;
    try {
      i = this.prepareAs(LOG_PRINCIPAL, method, path, body);
    } catch {
      return 'other';
    }
    if (i.kind === 'operation') return i.invocation.scope().tenants;
    const w = i.write;
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
