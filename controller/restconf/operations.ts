/**
 * Operation resources (RFC 8040 3.3.2, 3.6): GET /restconf/operations lists
 * every rpc of the schema; POST /restconf/operations/<module>:<rpc> invokes
 * one. The input is decoded and checked like a data body (every problem
 * reported with its error-path, leafrefs against the current datastore)
 * before the handler sees it, so a handler never runs on input the model
 * refuses; its output is encoded per RFC 7951 and checked on the way out.
 *
 * An invocation is an orchestration operation like a data write: its
 * request is signed by the invoker and goes through the orchestration log
 * (controller/instruction-model.ts checks it with prepare() and runs it
 * once committed), and the handler says what it reaches (scope) so the log
 * can refuse a tenant's invocation on another tenant's chain and, on the
 * replicated log, pick the domains that execute it.
 *
 * Who may invoke: operators and tenants reach the handler, which gets the
 * principal and decides what the operation may touch for it (another
 * tenant's chain exists, so a tenant naming it passes the model and the
 * handler answers access-denied, as the data resource does); agents use
 * their own channel, as for data.
 */
import {
  decodeInput, encodeOutput, findOperation, outputMember, parseJsonText, validateParameterReferences, type ContainerNode, type RpcNode, type SchemaTree,
  type YangObject,
} from '../yang/index.js';
import { isYangObject } from '../yang/yang-value.js';
import { checkAccess, denied, isTenantOwnedTop, tenantOwns } from './access.js';
import { YANG_JSON, type HttpReply } from './data.js';
import { RestconfFailure } from './errors.js';
import type { Principal } from './principal.js';

/** What an invocation acts on: the orchestration log checks the tenants, and the replicated log asks the flows' domains to execute it. */
export interface OperationScope {
  /** Tenants whose chains or flows the input names; 'other' when it reaches what no tenant owns (a tenant's invocation is then refused). */
  tenants: string[] | 'other';
  /** Flows the invocation reaches: the domains of their nodes execute it (none: every domain). */
  flows: string[];
}

/**
 * One operation. `input` holds the decoded input parameters: RFC 7951
 * simple member names, values as the YANG decoder yields them (numbers up to
 * 32 bits, bigint for 64-bit integers, null for empty), schema defaults
 * filled in.
 */
export interface OperationHandler {
  /** What the input reaches in `doc` (the intent now), whoever asks: it must not depend on anything but the input and the intent. */
  scope(input: Record<string, unknown>, doc: Readonly<Record<string, unknown>>): OperationScope;
  /**
   * Runs it as `p`. Returns the output parameters in the same form, or
   * undefined for none (204). A RestconfFailure thrown here becomes the
   * error reply.
   */
  invoke(p: Principal, input: Record<string, unknown>): Promise<Record<string, unknown> | undefined>;
}

/** Handlers by "module:rpc" (e.g. "esfc-intent:rekey"). */
export type OperationHandlers = ReadonlyMap<string, OperationHandler>;

export const OPERATIONS_ROOT = '/restconf/operations';

/** An operation's invocation, checked (principal, input, references) and not run yet (OperationsApi.prepare). */
export interface Invocation {
  /** "module:rpc" */
  readonly id: string;
  readonly principal: Principal;
  readonly input: Readonly<Record<string, unknown>>;
  /** The handler's scope of this input, on the datastore now. */
  scope(): OperationScope;
  /** Runs the handler: 200 with the output, or 204 when it has none (RFC 8040 3.6.2). */
  run(): Promise<HttpReply>;
}

/** A handler for something the schema has no rpc for: a typo would otherwise surface as a 404 in production. */
export class UnknownOperationHandlerError extends Error {
  readonly code = 'ESFC_RESTCONF_UNKNOWN_OPERATION';
  constructor(readonly operation: string, readonly known: readonly string[]) {
    super(`a handler is given for ${operation}, which is not an rpc of the schema (rpcs: ${known.join(', ') || 'none'})`);
  }
}

const LIST_ALLOW = 'GET, HEAD, OPTIONS';
const INVOKE_ALLOW = 'OPTIONS, POST';
const OPERATION_ID = /^([A-Za-z_][A-Za-z0-9_.-]*):([A-Za-z_][A-Za-z0-9_.-]*)$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const operationId = (rpc: RpcNode): string => `${rpc.module.name}:${rpc.name}`;

function jsonReply(status: number, body: string, extra: Record<string, string> = {}, head = false): HttpReply {
  return { status, headers: { 'content-type': YANG_JSON, 'content-length': String(Buffer.byteLength(body)), ...extra }, ...(head ? {} : { body }) };
}

/** 405 needs an Allow header (RFC 9110 15.5.6), which a thrown RestconfFailure cannot carry. */
function methodNotAllowed(method: string, path: string, allow: string): HttpReply {
  const f = RestconfFailure.of('operation-not-supported', `${method} is not supported on ${path}; allowed: ${allow}`, { status: 405 });
  return jsonReply(405, f.body(), { allow });
}

/** Agents use /esfc-agent/v1; everyone else may ask (the handler decides what for). */
function checkInvoke(p: Principal, path: string): void {
  if (p.kind === 'agent') throw denied(p, 'invoke RESTCONF operations (agents use /esfc-agent/v1)', path);
}

/**
 * The datastore as `p` may read it: a tenant sees only the top-level nodes
 * it may read and, in chains and flows, its own entries. A refusal of a
 * tenant's input lists existing names from this, never other tenants'.
 */
function readableBy(p: Principal, doc: YangObject): YangObject {
  if (p.kind !== 'tenant') return doc;
  const out: YangObject = {};
  for (const [top, v] of Object.entries(doc)) {
    try {
      checkAccess(p, 'read', top, `/${top}`);
    } catch (e) {
      if (e instanceof RestconfFailure) continue;
      throw e;
    }
    if (!isTenantOwnedTop(top) || !isYangObject(v)) {
      out[top] = v;
      continue;
    }
    const holder: YangObject = {};
    for (const [k, list] of Object.entries(v)) holder[k] = Array.isArray(list) ? list.filter((e) => isYangObject(e) && tenantOwns(p, e)) : list;
    out[top] = holder;
  }
  return out;
}

export class OperationsApi {
  private readonly handlers: OperationHandlers;

  /**
   * `datastore` gives the current intent datastore (decoded data, as every
   * write stored it); input leafrefs are checked against it at each call.
   * Throws UnknownOperationHandlerError for a handler without an rpc.
   */
  constructor(
    private readonly tree: SchemaTree,
    handlers: OperationHandlers,
    private readonly datastore: () => Readonly<Record<string, unknown>>,
  ) {
    const known = tree.operations.map(operationId);
    for (const id of handlers.keys()) if (!known.includes(id)) throw new UnknownOperationHandlerError(id, known);
    this.handlers = handlers;
  }

  /**
   * Answers what is not an invocation (the list, OPTIONS, a method other than
   * POST); undefined for a POST to an operation, which is a write: it goes
   * through the orchestration log (prepare, then run when committed).
   * `path` is the path after OPERATIONS_ROOT ('' for the list).
   */
  route(p: Principal, method: string, path: string): HttpReply | undefined {
    if (path === '' || path === '/') return this.list(method);
    const full = `${OPERATIONS_ROOT}${path}`;
    this.find(path.slice(1), full);
    if (method === 'OPTIONS') return { status: 200, headers: { allow: INVOKE_ALLOW } };
    if (method !== 'POST') return methodNotAllowed(method, full, INVOKE_ALLOW);
    checkInvoke(p, full);
    return undefined;
  }

  /**
   * Checks an invocation of the operation at `path` (the whole path, under
   * OPERATIONS_ROOT) with body `text` as `p`: the model's refusal (404, 501,
   * the input's errors with their paths, leafrefs against the datastore now)
   * is thrown as a RestconfFailure.
   */
  prepare(p: Principal, path: string, text: string | undefined): Invocation {
    if (!path.startsWith(`${OPERATIONS_ROOT}/`)) throw RestconfFailure.of('invalid-value', `${path} is not an operation (${OPERATIONS_ROOT}/module:rpc)`, { status: 404 });
    const rpc = this.find(path.slice(OPERATIONS_ROOT.length + 1), path);
    checkInvoke(p, path);
    const id = operationId(rpc);
    const handler = this.handlers.get(id);
    if (!handler) throw RestconfFailure.of('operation-not-supported', `${id} is in the schema, but this server does not implement it`, { type: 'application', status: 501 });

    const parsed = text === undefined || text === '' ? undefined : parseJsonText(text);
    if (parsed && !parsed.ok) throw RestconfFailure.fromYang(parsed.errors);
    const d = decodeInput(this.tree, rpc, parsed?.value);
    if (!d.ok) throw RestconfFailure.fromYang(d.errors);
    // decodeInput returns the members of the input node: always an object.
    const input: YangObject = isYangObject(d.value) ? d.value : {};
    if (rpc.input) this.checkReferences(p, rpc.input, input);
    return {
      id, principal: p, input,
      scope: () => handler.scope(input, this.datastore()),
      run: async () => {
        const result = await handler.invoke(p, input);
        if (result === undefined || !rpc.output) return { status: 204, headers: {} };
        const reply = encodeOutput(this.tree, rpc, result);
        const params = reply[outputMember(rpc)];
        // RFC 8040 3.6.2: no output parameters, no body.
        if (isYangObject(params) && Object.keys(params).length === 0) return { status: 204, headers: {} };
        return jsonReply(200, JSON.stringify(reply), { 'cache-control': 'no-cache' });
      },
    };
  }

  /**
   * Input leafrefs must name something in the whole datastore (whether the
   * principal may touch it is the handler's question). For a tenant the
   * same check runs again on what it may read, only for its messages: every
   * value missing from the whole is missing from the part too, at the same
   * path, and those messages list only the tenant's own names.
   */
  private checkReferences(p: Principal, io: ContainerNode, input: YangObject): void {
    // The datastore holds only decoded data: every write went through decode().
    const doc = this.datastore() as YangObject;
    const refs = validateParameterReferences(this.tree, io, input, doc);
    if (!refs.length) return;
    if (p.kind !== 'tenant') throw RestconfFailure.fromYang(refs);
    const paths = new Set(refs.map((e) => e.path));
    throw RestconfFailure.fromYang(validateParameterReferences(this.tree, io, input, readableBy(p, doc)).filter((e) => paths.has(e.path)));
  }

  /** RFC 8040 3.3.2: every operation the server has, each as "module:rpc": [null]. */
  private list(method: string): HttpReply {
    if (method === 'OPTIONS') return { status: 200, headers: { allow: LIST_ALLOW } };
    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(method, OPERATIONS_ROOT, LIST_ALLOW);
    const ops = Object.fromEntries(this.tree.operations.map((o) => [operationId(o), [null]]));
    return jsonReply(200, JSON.stringify({ 'ietf-restconf:operations': ops }), { 'cache-control': 'no-cache' }, method === 'HEAD');
  }

  /** The rpc a path segment names, or 404 (RFC 8040 table: invalid-value) saying what exists. */
  private find(segment: string, full: string): RpcNode {
    const known = (): string => this.tree.operations.map(operationId).join(', ') || 'none';
    let id: string | undefined;
    try {
      id = decodeURIComponent(segment);
    } catch {
      id = undefined;
    }
    const m = id === undefined ? null : OPERATION_ID.exec(id);
    if (!m) {
      const like = id !== undefined && IDENTIFIER.test(id) ? this.tree.operations.find((o) => o.name === id) : undefined;
      const hint = like ? `: operations are named module:rpc, e.g. ${operationId(like)} (RFC 8040 3.3.2)` : `; operations: ${known()}`;
      throw RestconfFailure.of('invalid-value', `no operation at ${full}${hint}`, { status: 404 });
    }
    const rpc = findOperation(this.tree, m[1]!, m[2]!);
    if (!rpc) throw RestconfFailure.of('invalid-value', `no operation ${id} (operations: ${known()})`, { status: 404 });
    return rpc;
  }
}
