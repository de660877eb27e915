/**
 * RFC 7951 JSON -> decoded YANG data, checked against the schema, with
 * every problem reported (not just the first) as a RESTCONF error carrying
 * its tag, its error-path and a message naming what was expected.
 *
 * What a body holds depends on the request's target (RFC 8040 4.5, 4.6):
 * - no target: a bare RFC 7951 document (e.g. a whole intent file), its
 *   top-level members qualified ("esfc-intent:chains");
 * - the datastore resource: {"ietf-restconf:data": {...document...}};
 * - a data resource: exactly one member, the target itself, qualified:
 *   {"esfc-intent:chain": [{...one entry...}]} for a list entry,
 *   {"esfc-intent:underlay": {...}} for a container, {"esfc-intent:tenant":
 *   "acme"} for a leaf.
 * An operation's input (decodeInput) is {"esfc-intent:input": {...}}, its
 * parameters decoded like the members of a container.
 * Leafrefs are decoded with their target's type here; whether the thing
 * they name exists is validateReferences()'s question (it needs the whole
 * datastore), or validateParameterReferences()'s for an operation's input.
 */
import { resourcePath, type DataPath, type PathStep } from './data-path.js';
import { fillDocument, fillEntry, fillNode } from './defaults.js';
import { restconfError, type ErrorTag, type RestconfError } from './errors.js';
import { targetKind, type ResourceTarget } from './resource-path.js';
import type { DataNode, InnerNode, LeafLike, LeafListNode, LeafNode, ListNode, RpcNode, SchemaTree } from './schema.js';
import { findModule, memberName } from './schema.js';
import { describeJson, fromJson, toLexical, type YangScalar } from './values.js';
import type { YangObject, YangValue } from './yang-value.js';

export interface DecodeOptions {
  /** What the body represents (parseResourcePath's result); a bare document when absent. */
  readonly target?: ResourceTarget;
  /**
   * Accept config false nodes (state reported by agents). Default false: in
   * a configuration body they are refused (bad-element).
   */
  readonly allowState?: boolean;
  /**
   * A partial body (PATCH merge, RFC 8040 4.6.1): mandatory leaves and
   * min-elements are not required, since the merge result is what must
   * have them (decode the merged datastore again to check it). Default false.
   */
  readonly partial?: boolean;
  /**
   * Fill in schema defaults (what the intent compiler wants). Default false:
   * encode(decode(x)) gives x back. Ignored for partial bodies: defaults
   * merged into a datastore would overwrite values the patch left alone.
   */
  readonly withDefaults?: boolean;
}

export type DecodeResult = { ok: true; value: YangValue } | { ok: false; errors: RestconfError[] };

/** The member a datastore-resource body is wrapped in (RFC 8040 3.3.1: ietf-restconf's 'data'). */
export const DATASTORE_MEMBER = 'ietf-restconf:data';

type Json = unknown;
const isJsonObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function splitMember(member: string): { module: string | undefined; name: string } {
  const i = member.indexOf(':');
  return i < 0 ? { module: undefined, name: member } : { module: member.slice(0, i), name: member.slice(i + 1) };
}

/** Where a path ends, for messages. */
const where = (at: DataPath): string => (at.length ? resourcePath(at) : 'the data root');

class Decoder {
  readonly errors: RestconfError[] = [];

  constructor(private readonly tree: SchemaTree, private readonly opts: DecodeOptions) {}

  private err(tag: ErrorTag, message: string, at: DataPath, appTag?: string): undefined {
    this.errors.push(restconfError(tag, tag === 'malformed-message' ? 'rpc' : 'application', message, at, appTag));
    return undefined;
  }

  private stateRefused(node: DataNode): boolean {
    return !node.config && !this.opts.allowState;
  }

  /** The members of a container, list entry or the root. `skipKeys`: a list entry's keys, decoded already. */
  members(parent: InnerNode | undefined, obj: Record<string, Json>, at: DataPath, skipKeys = false): YangObject {
    const children = parent ? parent.children : this.tree.roots;
    const found = new Map<DataNode, YangValue>();
    // Members given but refused: already reported, so not reported again as missing.
    const given = new Set<DataNode>();
    for (const [member, v] of Object.entries(obj)) {
      const { module, name } = splitMember(member);
      if (!parent && module === undefined) {
        this.err('malformed-message', `top-level member "${member}" must be qualified with its module ("module:${member}", RFC 7951 4)`, at);
        continue;
      }
      if (parent && module === parent.module.name) {
        this.err('malformed-message', `member "${member}" must be written "${name}": names are qualified only where the module changes (RFC 7951 4)`, at);
        continue;
      }
      const mod = module ?? parent!.module.name;
      if (!findModule(this.tree, mod)) {
        this.err('unknown-element', `member "${member}": no module '${mod}' is known here`, at);
        continue;
      }
      const child = children.find((c) => c.name === name && c.module.name === mod);
      if (!child) {
        this.err('unknown-element', `no "${member}" in ${where(at)}; expected one of: ${children.map(memberName).join(', ')}`, at);
        continue;
      }
      given.add(child);
      if (skipKeys && child.kind === 'leaf' && child.isKey) continue;
      if (this.stateRefused(child)) {
        this.err('bad-element', `"${member}" is state data (config false): it cannot be written`, [...at, { node: child }]);
        continue;
      }
      const d = this.node(child, v, at);
      if (d !== undefined) found.set(child, d);
    }
    if (!this.opts.partial) {
      for (const child of children) {
        if (!given.has(child) && !(skipKeys && child.kind === 'leaf' && child.isKey)) this.absent(child, at);
      }
    }
    const out: YangObject = {};
    for (const child of children) if (found.has(child)) out[memberName(child)] = found.get(child)!;
    return out;
  }

  /** A child the body leaves out: fine unless it, or something a non-presence container implies, is required. */
  private absent(node: DataNode, at: DataPath): void {
    if (this.stateRefused(node)) return;
    const here = [...at, { node }];
    switch (node.kind) {
      case 'leaf':
        if (node.mandatory) this.err('missing-element', `mandatory leaf '${node.name}' is missing from ${where(at)} (${describeLeaf(node)})`, here);
        break;
      case 'container':
        if (!node.presence) for (const c of node.children) this.absent(c, here);
        break;
      case 'list':
      case 'leaf-list':
        if (node.minElements > 0) this.tooFew(node, 0, here);
        break;
    }
  }

  private tooFew(node: ListNode | LeafListNode, n: number, at: DataPath): void {
    this.err('operation-failed', `${node.kind} '${node.name}' has ${n} element${n === 1 ? '' : 's'}; it needs at least ${node.minElements} (min-elements)`, at, 'too-few-elements');
  }

  private counts(node: ListNode | LeafListNode, n: number, at: DataPath): void {
    if (n < node.minElements && !this.opts.partial) this.tooFew(node, n, at);
    if (n > node.maxElements) this.err('operation-failed', `${node.kind} '${node.name}' has ${n} elements; at most ${node.maxElements} are allowed (max-elements)`, at, 'too-many-elements');
  }

  node(node: DataNode, v: Json, parentAt: DataPath): YangValue | undefined {
    const here: PathStep[] = [...parentAt, { node }];
    switch (node.kind) {
      case 'container':
        if (!isJsonObject(v)) return this.err('malformed-message', `container '${node.name}' is a JSON object (RFC 7951 5.1), got ${describeJson(v)}`, here);
        return this.members(node, v, here);
      case 'leaf':
        return this.leaf(node, v, here);
      case 'leaf-list':
        return this.leafList(node, v, here);
      case 'list': {
        if (!Array.isArray(v)) return this.err('malformed-message', `list '${node.name}' is a JSON array of objects (RFC 7951 5.4), got ${describeJson(v)}`, here);
        const entries: YangObject[] = [];
        const seen = new Set<string>();
        v.forEach((e, i) => {
          const d = this.entry(node, e, parentAt, i, seen);
          if (d) entries.push(d);
        });
        this.counts(node, v.length, here);
        return entries;
      }
    }
  }

  private scalar(leaf: LeafLike, v: Json, at: DataPath, what: string): YangScalar | undefined {
    if ((Array.isArray(v) && leaf.valueType.kind !== 'empty' && leaf.valueType.kind !== 'union') || isJsonObject(v)) {
      return this.err('malformed-message', `${what} takes a single value (${describeLeaf(leaf)}), got ${describeJson(v)}`, at);
    }
    const r = fromJson(leaf.valueType, v);
    if (!r.ok) return this.err('invalid-value', `${what}: ${r.problem}`, at);
    return r.value;
  }

  private leaf(node: LeafNode, v: Json, at: DataPath): YangScalar | undefined {
    return this.scalar(node, v, at, `leaf '${node.name}'`);
  }

  private leafList(node: LeafListNode, v: Json, at: DataPath): YangScalar[] | undefined {
    if (!Array.isArray(v)) return this.err('malformed-message', `leaf-list '${node.name}' is a JSON array (RFC 7951 5.3), got ${describeJson(v)}`, at);
    const out: YangScalar[] = [];
    const seen = new Set<string>();
    v.forEach((e, i) => {
      const d = this.scalar(node, e, at, `element #${i + 1} of leaf-list '${node.name}'`);
      if (d === undefined) return;
      // RFC 7950 7.7: in configuration, the values of a leaf-list are unique.
      const key = toLexical(d);
      if (node.config && seen.has(key)) {
        this.err('bad-element', `leaf-list '${node.name}' holds ${JSON.stringify(key)} twice (element #${i + 1}); configuration leaf-lists hold each value once`, at);
        return;
      }
      seen.add(key);
      out.push(d);
    });
    this.counts(node, v.length, at);
    return out;
  }

  /** One list entry: keys first (they name the entry in every later error), then the rest. */
  entry(list: ListNode, e: Json, parentAt: DataPath, index: number, seen?: Set<string>): YangObject | undefined {
    const listAt: PathStep[] = [...parentAt, { node: list }];
    if (!isJsonObject(e)) return this.err('malformed-message', `entry #${index + 1} of list '${list.name}' is not a JSON object (got ${describeJson(e)})`, listAt);
    const keyValues: YangScalar[] = [];
    let keysOk = true;
    for (const k of list.keys) {
      const v = e[memberName(k)];
      if (v === undefined) {
        keysOk = false;
        this.err('missing-element', `entry #${index + 1} of list '${list.name}' has no key leaf '${k.name}' (${describeLeaf(k)})`, listAt);
        continue;
      }
      const d = this.scalar(k, v, listAt, `entry #${index + 1} of list '${list.name}': key '${k.name}'`);
      if (d === undefined) keysOk = false;
      else keyValues.push(d);
    }
    const keys = keysOk ? keyValues.map(toLexical) : undefined;
    const entryAt: PathStep[] = keys ? [...parentAt, { node: list, keys }] : listAt;
    if (keys && seen) {
      const id = keys.join('\u0000');
      if (seen.has(id)) this.err('bad-element', `list '${list.name}' has two entries with ${list.keys.map((k, j) => `${k.name} ${JSON.stringify(keys[j])}`).join(', ')} (entry #${index + 1})`, entryAt);
      seen.add(id);
    }
    const rest = this.members(list, e, entryAt, true);
    if (!keys) return undefined;
    const out: YangObject = {};
    // Keys in schema order among the other members: where the module puts them.
    for (const child of list.children) {
      const name = memberName(child);
      const ki = list.keys.indexOf(child as LeafNode);
      if (ki >= 0) out[name] = keyValues[ki]!;
      else if (name in rest) out[name] = rest[name]!;
    }
    return out;
  }
}

function describeLeaf(leaf: LeafLike): string {
  return leaf.leafref ? `a leafref to ${leaf.leafref.target.schemaPath}` : `type ${leaf.type.name}`;
}

/** Decodes a request body (or a whole document) against the schema. */
export function decode(tree: SchemaTree, json: unknown, options: DecodeOptions = {}): DecodeResult {
  const opts: DecodeOptions = { ...options, withDefaults: options.withDefaults && !options.partial };
  const d = new Decoder(tree, opts);
  const result = (value: YangValue | undefined): DecodeResult =>
    d.errors.length || value === undefined ? { ok: false, errors: d.errors.length ? d.errors : [restconfError('malformed-message', 'rpc', 'the body holds no data')] } : { ok: true, value };
  const malformed = (message: string): DecodeResult => ({ ok: false, errors: [restconfError('malformed-message', 'rpc', message)] });

  const target = opts.target;
  if (!target) {
    if (!isJsonObject(json)) return malformed(`a YANG document is a JSON object, got ${describeJson(json)}`);
    const doc = d.members(undefined, json, []);
    return result(opts.withDefaults && !d.errors.length ? fillDocument(tree, doc, !!opts.allowState) : doc);
  }
  const kind = targetKind(target);
  if (kind === 'datastore') {
    if (!isJsonObject(json) || Object.keys(json).length !== 1 || !isJsonObject(json[DATASTORE_MEMBER])) {
      return malformed(`a body for the datastore resource is {"${DATASTORE_MEMBER}": {...}}`);
    }
    const doc = d.members(undefined, json[DATASTORE_MEMBER], []);
    return result(opts.withDefaults && !d.errors.length ? fillDocument(tree, doc, !!opts.allowState) : doc);
  }

  const steps = target.steps;
  const last = steps[steps.length - 1]!;
  const node = last.node;
  const parentAt = steps.slice(0, -1);
  const expected = `${node.module.name}:${node.name}`;
  if (!isJsonObject(json)) return malformed(`the body is a JSON object holding the target, {"${expected}": ...}; got ${describeJson(json)}`);
  const members = Object.keys(json);
  if (members.length !== 1) return malformed(`the body holds exactly the target resource, {"${expected}": ...}; it has ${members.length} members`);
  const member = members[0]!;
  if (member !== expected) {
    const { module, name } = splitMember(member);
    if (module === undefined) return malformed(`the body's member must be qualified: "${expected}", not "${member}" (RFC 7951 4)`);
    if (module === node.module.name && name === node.name) return malformed(`the body's member must be "${expected}"`);
    return { ok: false, errors: [restconfError('bad-element', 'application', `the body holds "${member}", but the request addresses ${expected}`, steps)] };
  }
  if (!node.config && !opts.allowState) {
    return { ok: false, errors: [restconfError('bad-element', 'application', `${expected} is state data (config false): it cannot be written`, steps)] };
  }
  const v = json[member];

  if (kind === 'list-entry') {
    const list = node as ListNode;
    if (!Array.isArray(v) || v.length !== 1) {
      return { ok: false, errors: [restconfError('malformed-message', 'rpc', `a list entry is sent as an array of one object, {"${expected}": [{...}]} (RFC 8040 4.5), got ${Array.isArray(v) ? `an array of ${v.length}` : describeJson(v)}`, steps)] };
    }
    const entry = d.entry(list, v[0], parentAt, 0);
    if (entry) {
      // RFC 8040 4.5: the keys in the body must be the keys in the URI.
      list.keys.forEach((k, j) => {
        const inBody = toLexical(entry[memberName(k)] as YangScalar);
        if (inBody !== last.keys![j]) {
          d.errors.push(restconfError('invalid-value', 'application', `key '${k.name}' is ${JSON.stringify(inBody)} in the body but ${JSON.stringify(last.keys![j])} in the request URI (RFC 8040 4.5)`, [...steps, { node: k }]));
        }
      });
    }
    return result(entry && opts.withDefaults && !d.errors.length ? fillEntry(tree, list, entry, !!opts.allowState) : entry);
  }
  if (kind === 'leaf-list-entry') {
    if (!Array.isArray(v) || v.length !== 1) {
      return { ok: false, errors: [restconfError('malformed-message', 'rpc', `a leaf-list entry is sent as an array of one value, {"${expected}": [value]}, got ${describeJson(v)}`, steps)] };
    }
    const values = d.node(node, v, parentAt) as YangScalar[] | undefined;
    const value = values?.[0];
    if (value !== undefined && toLexical(value) !== last.value) {
      d.errors.push(restconfError('invalid-value', 'application', `the body holds ${JSON.stringify(toLexical(value))} but the request URI ${JSON.stringify(last.value)} (RFC 8040 4.5)`, steps));
    }
    return result(value);
  }
  const value = d.node(node, v, parentAt);
  return result(value !== undefined && opts.withDefaults && !d.errors.length ? fillNode(tree, node, value, !!opts.allowState) : value);
}

/** The member an operation's input travels in (RFC 8040 3.6.1): named 'input', in the rpc's module. */
export const inputMember = (rpc: RpcNode): string => `${rpc.module.name}:input`;

/**
 * The body of a request invoking `rpc` (RFC 8040 3.6.1), or undefined when
 * the request has none, into the input parameters (simple member names,
 * values as for data), with schema defaults filled in: the operation acts
 * on what its parameters mean, and RFC 7950 7.6.1 gives absent ones their
 * defaults. Without a body every parameter is absent, so mandatory ones
 * are reported missing. An rpc without an input statement takes no body.
 */
export function decodeInput(tree: SchemaTree, rpc: RpcNode, json: unknown): DecodeResult {
  const malformed = (message: string): DecodeResult => ({ ok: false, errors: [restconfError('malformed-message', 'rpc', message)] });
  const io = rpc.input;
  const expected = inputMember(rpc);
  if (!io) return json === undefined ? { ok: true, value: {} } : malformed(`${rpc.module.name}:${rpc.name} has no input: the request takes no body (RFC 8040 3.6.1)`);
  let params: Record<string, Json> = {};
  if (json !== undefined) {
    if (!isJsonObject(json)) return malformed(`the body of an operation is {"${expected}": {...}}; got ${describeJson(json)}`);
    const members = Object.keys(json);
    if (members.length !== 1 || members[0] !== expected) {
      return malformed(`the body of an operation holds exactly {"${expected}": {...}} (RFC 8040 3.6.1); it has ${members.length ? members.map((m) => JSON.stringify(m)).join(', ') : 'no member'}`);
    }
    const v = json[expected];
    if (!isJsonObject(v)) return malformed(`"${expected}" is a JSON object of the input parameters (RFC 7951 5.1), got ${describeJson(v)}`);
    params = v;
  }
  // Parameters are config false (build-schema.ts): allowState lets them in, and no leaf-list needs unique values.
  const d = new Decoder(tree, { allowState: true });
  const value = d.members(io, params, [{ node: io }]);
  if (d.errors.length) return { ok: false, errors: d.errors };
  return { ok: true, value: fillEntry(tree, io, value, true) };
}
