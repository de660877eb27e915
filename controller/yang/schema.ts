/**
 * The typed schema tree build-schema.ts derives from the YANG modules: the
 * one description of the controller's data that the codec, the path parser
 * and the reference check all read. Nothing here is written by hand for a
 * particular module.
 */
import type { SourceLocation } from './statements.js';

export interface ModuleInfo {
  readonly name: string;
  readonly prefix: string;
  readonly namespace: string;
  /** The most recent revision date, if the module has any. */
  readonly revision: string | undefined;
  readonly yangVersion: '1' | '1.1';
  /** Imported module names by the prefix this module gives them. */
  readonly imports: ReadonlyMap<string, string>;
  /** Absolute path of the .yang file, and its text (served by the YANG library). */
  readonly file: string;
  readonly source: string;
}

export type IntegerBase = 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64';

/** A closed interval; for lengths the bounds are character counts. */
export interface Interval {
  readonly min: bigint;
  readonly max: bigint;
}

export interface Pattern {
  /** The XSD pattern as written in the module. */
  readonly source: string;
  readonly regex: RegExp;
  /** YANG 1.1 `modifier invert-match`: the value must NOT match. */
  readonly invert: boolean;
  readonly errorMessage: string | undefined;
  readonly errorAppTag: string | undefined;
}

interface TypeBase {
  /** How messages name the type: a typedef as prefix:name ('inet:ipv4-address'), else the built-in name. */
  readonly name: string;
  /** Default (lexical form) inherited from a typedef, if any. */
  readonly default: string | undefined;
}

export interface IntegerType extends TypeBase {
  readonly kind: 'integer';
  readonly base: IntegerBase;
  /**
   * Range restrictions, outermost typedef first; a value must lie in some
   * interval of every one (each derivation can only narrow).
   */
  readonly ranges: readonly (readonly Interval[])[];
}

export interface StringType extends TypeBase {
  readonly kind: 'string';
  /** Length restrictions (in characters), like IntegerType.ranges. */
  readonly lengths: readonly (readonly Interval[])[];
  /** Every pattern applies (RFC 7950 9.4.5: patterns of derived types are ANDed). */
  readonly patterns: readonly Pattern[];
}

export interface BooleanType extends TypeBase {
  readonly kind: 'boolean';
}

export interface EmptyType extends TypeBase {
  readonly kind: 'empty';
}

export interface EnumerationType extends TypeBase {
  readonly kind: 'enumeration';
  readonly enums: readonly { readonly name: string; readonly value: number }[];
}

export interface UnionType extends TypeBase {
  readonly kind: 'union';
  /** Tried in order (RFC 7950 9.12; RFC 7951 6.10 for JSON). */
  readonly members: readonly ValueType[];
}

/** One step of a leafref path; predicates only of the form [key = current()/../...]. */
export interface LeafrefStep {
  readonly module: string;
  readonly name: string;
  readonly predicates: readonly LeafrefPredicate[];
}

export interface LeafrefPredicate {
  readonly key: { readonly module: string; readonly name: string };
  /** current()/ followed by `up` '..' steps, then these names (down). */
  readonly up: number;
  readonly down: readonly { readonly module: string; readonly name: string }[];
}

export interface LeafrefPath {
  /** As written in the module. */
  readonly text: string;
  /** Absolute paths start at the data root; relative ones at the leaf itself, going `up` levels first. */
  readonly absolute: boolean;
  readonly up: number;
  readonly steps: readonly LeafrefStep[];
}

export interface LeafrefType extends TypeBase {
  readonly kind: 'leafref';
  readonly path: LeafrefPath;
  readonly requireInstance: boolean;
}

/** Types a value can have (a leafref takes its target's). */
export type ValueType = IntegerType | StringType | BooleanType | EmptyType | EnumerationType | UnionType;
export type YangType = ValueType | LeafrefType;

export type DataNode = ContainerNode | ListNode | LeafNode | LeafListNode;
export type InnerNode = ContainerNode | ListNode;
export type LeafLike = LeafNode | LeafListNode;

interface NodeBase {
  readonly name: string;
  /** The module whose namespace the node is in. */
  readonly module: ModuleInfo;
  /** undefined for a top-level node. */
  readonly parent: InnerNode | undefined;
  /** config true (intent) or false (state); inherited from the parent unless set. */
  readonly config: boolean;
  readonly description: string | undefined;
  /** Schema node identifier, e.g. /esfc-intent:nodes/node/port/name (for messages). */
  readonly schemaPath: string;
  readonly loc: SourceLocation;
}

export interface ContainerNode extends NodeBase {
  readonly kind: 'container';
  /** A presence container means something by existing; a non-presence one only holds its children. */
  readonly presence: boolean;
  readonly children: readonly DataNode[];
}

export interface ListNode extends NodeBase {
  readonly kind: 'list';
  /** Key leaves, in `key` statement order. */
  readonly keys: readonly LeafNode[];
  readonly children: readonly DataNode[];
  readonly orderedBy: 'system' | 'user';
  readonly minElements: number;
  /** Infinity when unbounded. */
  readonly maxElements: number;
}

/** A leafref resolved at this leaf: its target and the path evaluated from here. */
export interface LeafrefBinding {
  readonly type: LeafrefType;
  readonly target: LeafLike;
}

interface LeafBase extends NodeBase {
  /** The type as declared (possibly a leafref). */
  readonly type: YangType;
  /** The type values are checked against: the declared type, or the leafref target's (followed to the end). */
  readonly valueType: ValueType;
  /** Set when `type` is a leafref. */
  readonly leafref: LeafrefBinding | undefined;
}

export interface LeafNode extends LeafBase {
  readonly kind: 'leaf';
  /** Lexical default (the leaf's own, else its typedef's). */
  readonly default: string | undefined;
  readonly mandatory: boolean;
  readonly isKey: boolean;
}

export interface LeafListNode extends LeafBase {
  readonly kind: 'leaf-list';
  readonly defaults: readonly string[];
  readonly orderedBy: 'system' | 'user';
  readonly minElements: number;
  readonly maxElements: number;
}

/**
 * An operation (YANG `rpc`, RFC 8040 3.6). Its input and output are
 * container-like nodes so the codec treats parameters as it treats data:
 * each is a non-presence ContainerNode without a parent whose children are
 * the parameters. Such a node is named after the rpc, not 'input' or
 * 'output', because in the tree XPath and instance-identifiers see (RFC
 * 7950 6.4.1) the operation's node holds the parameters directly: error
 * paths read /esfc-intent:rekey/chain, and a leafref's '..' from a
 * parameter reaches its sibling parameters, '../..' the data root. Their
 * schemaPath keeps the statement: /esfc-intent:rekey/input. Parameters are
 * not configuration (a `config` statement among them is ignored, as pyang
 * does), so they are config false: leaf-lists may repeat values, leafrefs
 * may point at state, and the codec takes them with allowState.
 */
export interface RpcNode {
  readonly kind: 'rpc';
  readonly name: string;
  readonly module: ModuleInfo;
  readonly description: string | undefined;
  /** Schema node identifier, e.g. /esfc-intent:rekey. */
  readonly schemaPath: string;
  readonly loc: SourceLocation;
  /** undefined when the rpc has no `input` statement: a request then has no body (RFC 8040 3.6.1). */
  readonly input: ContainerNode | undefined;
  /** undefined when the rpc has no `output` statement: a success is then 204 (RFC 8040 3.6.2). */
  readonly output: ContainerNode | undefined;
}

export interface SchemaTree {
  readonly modules: readonly ModuleInfo[];
  /** Top-level data nodes of every module, module by module in file order. */
  readonly roots: readonly DataNode[];
  /** The rpcs of every module, module by module in file order. */
  readonly operations: readonly RpcNode[];
}

/** A child of `parent` (or a top-level node when parent is undefined) by module and name. */
export function findChild(tree: SchemaTree, parent: InnerNode | undefined, module: string, name: string): DataNode | undefined {
  const list = parent ? parent.children : tree.roots;
  return list.find((c) => c.name === name && c.module.name === module);
}

/** An rpc by module and name. */
export function findOperation(tree: SchemaTree, module: string, name: string): RpcNode | undefined {
  return tree.operations.find((o) => o.name === name && o.module.name === module);
}

export function findModule(tree: SchemaTree, name: string): ModuleInfo | undefined {
  return tree.modules.find((m) => m.name === name);
}

/**
 * The RFC 7951 member name of a node: qualified at the top level and where
 * the module changes from the parent's, simple otherwise.
 */
export function memberName(node: DataNode): string {
  return node.parent === undefined || node.parent.module.name !== node.module.name ? `${node.module.name}:${node.name}` : node.name;
}

/** Whether any node at or below `node` is config false (config false is inherited, so it suffices to look down). */
export function hasState(node: DataNode): boolean {
  if (!node.config) return true;
  return (node.kind === 'container' || node.kind === 'list') && node.children.some(hasState);
}
