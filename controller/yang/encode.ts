/**
 * Decoded YANG data -> RFC 7951 JSON, for every reply the RESTCONF server
 * sends: member names qualified at the top level and where the module
 * changes, 64-bit integers as strings, smaller ones as numbers, empty as
 * [null], members in schema order. Each value is checked against its type
 * on the way out: data that does not fit the schema is a bug in the
 * controller, and it raises YangEncodeError (with the path) rather than
 * reaching a client.
 *
 * The reply's shape follows the target like decode's bodies do: a bare
 * document, {"ietf-restconf:data": {...}} for the datastore resource, or
 * {"module:node": ...} for a data resource ([entry] for a list entry).
 * An operation's output (encodeOutput) is {"module:output": {...}}.
 */
import { instanceIdentifier, type DataPath, type PathStep } from './data-path.js';
import { DATASTORE_MEMBER } from './decode.js';
import { fillDocument, fillNode } from './defaults.js';
import type { JsonValue } from './json-text.js';
import { targetKind, type ResourceTarget } from './resource-path.js';
import type { DataNode, InnerNode, LeafLike, ListNode, RpcNode, SchemaTree } from './schema.js';
import { hasState, memberName } from './schema.js';
import { describeJson, fromJs, toJson, toLexical, type YangScalar } from './values.js';
import { isYangObject, type YangValue } from './yang-value.js';

export class YangEncodeError extends Error {
  readonly code = 'ESFC_YANG_ENCODE';
  constructor(readonly path: string, readonly problem: string) {
    super(`cannot encode ${path}: ${problem}`);
  }
}

export interface EncodeOptions {
  /** What the value is (the request's target); a bare document when absent. */
  readonly target?: ResourceTarget;
  /** RFC 8040 4.8.1 'content': config only, state only, or both (default). */
  readonly content?: 'all' | 'config' | 'nonconfig';
  /** Add schema defaults to the reply (RFC 6243 report-all); default false (explicit). */
  readonly withDefaults?: boolean;
}

export type JsonObject = { [member: string]: JsonValue };

class Encoder {
  constructor(private readonly tree: SchemaTree, private readonly content: 'all' | 'config' | 'nonconfig') {}

  private fail(at: DataPath, problem: string): never {
    throw new YangEncodeError(instanceIdentifier(at), problem);
  }

  /** Whether a node appears under the content filter (keys of shown list entries always do). */
  private shown(node: DataNode): boolean {
    if (this.content === 'all') return true;
    if (this.content === 'config') return node.config;
    if (node.kind === 'leaf' && node.isKey) return true;
    return hasState(node);
  }

  members(parent: InnerNode | undefined, obj: YangValue, at: DataPath): JsonObject {
    if (!isYangObject(obj)) return this.fail(at, `expected an object of members, got ${describeJson(obj)}`);
    const children = parent ? parent.children : this.tree.roots;
    const byName = new Map(children.map((c) => [memberName(c), c]));
    for (const k of Object.keys(obj)) {
      if (!byName.has(k)) this.fail(at, `"${k}" is not a member here (expected one of: ${[...byName.keys()].join(', ')})`);
    }
    const out: JsonObject = {};
    for (const child of children) {
      const name = memberName(child);
      const v = obj[name];
      if (v === undefined || !this.shown(child)) continue;
      const j = this.node(child, v, at);
      // Under a content filter a container may end up with nothing to show.
      if (this.content !== 'all' && isYangObject(j as YangValue) && Object.keys(j as object).length === 0 && child.kind === 'container' && !child.presence) continue;
      out[name] = j;
    }
    return out;
  }

  node(node: DataNode, v: YangValue, parentAt: DataPath): JsonValue {
    const here: PathStep[] = [...parentAt, { node }];
    switch (node.kind) {
      case 'container':
        return this.members(node, v, here);
      case 'leaf':
        return this.scalar(node, v, here);
      case 'leaf-list':
        if (!Array.isArray(v)) return this.fail(here, `a leaf-list is an array, got ${describeJson(v)}`);
        return v.map((x) => this.scalar(node, x, here));
      case 'list':
        if (!Array.isArray(v)) return this.fail(here, `a list is an array of entries, got ${describeJson(v)}`);
        return v.map((e) => this.entry(node, e, parentAt));
    }
  }

  entry(list: ListNode, e: YangValue, parentAt: DataPath): JsonObject {
    if (!isYangObject(e)) return this.fail([...parentAt, { node: list }], `a list entry is an object, got ${describeJson(e)}`);
    const keys = list.keys.map((k) => {
      const v = e[memberName(k)];
      if (v === undefined) this.fail([...parentAt, { node: list }], `an entry has no key '${k.name}'`);
      return toLexical(this.checked(k, v, [...parentAt, { node: list }]));
    });
    return this.members(list, e, [...parentAt, { node: list, keys }]);
  }

  private checked(leaf: LeafLike, v: YangValue, at: DataPath): YangScalar {
    if (isYangObject(v) || Array.isArray(v)) this.fail(at, `${leaf.name} takes a single value, got ${describeJson(v)}`);
    const r = fromJs(leaf.valueType, v);
    if (!r.ok) this.fail(at, r.problem);
    return r.value;
  }

  scalar(leaf: LeafLike, v: YangValue, at: DataPath): JsonValue {
    return toJson(this.checked(leaf, v, at));
  }
}

/** Encodes decoded data as the RFC 7951 JSON reply for `opts.target` (a bare document without one). */
export function encode(tree: SchemaTree, value: YangValue, opts: EncodeOptions = {}): JsonObject {
  const enc = new Encoder(tree, opts.content ?? 'all');
  const target = opts.target;
  if (!target || targetKind(target) === 'datastore') {
    const doc = opts.withDefaults && isYangObject(value) ? fillDocument(tree, value) : value;
    const members = enc.members(undefined, doc, []);
    return target ? { [DATASTORE_MEMBER]: members } : members;
  }
  const steps = target.steps;
  const last = steps[steps.length - 1]!;
  const node = last.node;
  const parentAt = steps.slice(0, -1);
  const member = `${node.module.name}:${node.name}`;
  switch (targetKind(target)) {
    case 'list-entry': {
      const entry = opts.withDefaults && isYangObject(value) ? (fillNode(tree, node, [value]) as YangValue[])[0]! : value;
      return { [member]: [enc.entry(node as ListNode, entry, parentAt)] };
    }
    case 'leaf-list-entry':
      return { [member]: [enc.scalar(node as LeafLike, value, steps)] };
    default:
      return { [member]: enc.node(node, opts.withDefaults ? fillNode(tree, node, value) : value, parentAt) };
  }
}

/** The member an operation's output travels in (RFC 8040 3.6.2): named 'output', in the rpc's module. */
export const outputMember = (rpc: RpcNode): string => `${rpc.module.name}:output`;

/**
 * An operation's output parameters (simple member names, values as decode
 * yields them: bigint or number for 64-bit integers, null for empty) as the
 * reply body {"module:output": {...}}. Like every reply, checked against the
 * schema on the way out (YangEncodeError): output that does not fit the rpc
 * is a bug in its handler. An rpc without an output statement has none.
 */
export function encodeOutput(tree: SchemaTree, rpc: RpcNode, output: Readonly<Record<string, unknown>>): JsonObject {
  const io = rpc.output;
  if (!io) throw new YangEncodeError(rpc.schemaPath, 'the rpc has no output');
  // unknown -> YangValue: members() and node() check every value's shape and type before using it.
  return { [outputMember(rpc)]: new Encoder(tree, 'all').members(io, output as YangValue, [{ node: io }]) };
}
