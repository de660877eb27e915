/**
 * Leafref integrity over a whole datastore (RFC 7950 9.9, require-instance):
 * every leafref value must name something that exists, e.g. a flow's chain,
 * an SF's node, a port of the SF's own node ([name = current()/../node]).
 * decode() cannot see this from one body; the server runs this on the
 * datastore as it would be after a write, and refuses the write if any
 * reference dangles (data-missing, app-tag instance-required, RFC 7950 15.5).
 * An operation's input is checked the same way against the datastore it
 * runs on (validateParameterReferences).
 */
import { instanceIdentifier, type DataPath, type PathStep } from './data-path.js';
import { restconfError, type RestconfError } from './errors.js';
import type { ContainerNode, DataNode, InnerNode, LeafLike, LeafrefPath, SchemaTree } from './schema.js';
import { findChild, memberName } from './schema.js';
import { toLexical } from './values.js';
import { isYangObject, type YangObject, type YangValue } from './yang-value.js';

/** An instance on the way down: the root (node undefined), a container or a list entry. */
interface Frame {
  readonly node: InnerNode | undefined;
  readonly value: YangObject;
  readonly at: DataPath;
}

const isScalar = (v: YangValue | undefined): v is string | number | bigint | boolean | null =>
  v !== undefined && !Array.isArray(v) && !isYangObject(v);

const MAX_LISTED = 12;

class ReferenceChecker {
  readonly errors: RestconfError[] = [];
  /** Target values of absolute paths without predicates: the same for every leaf that uses them. */
  private readonly cache = new Map<LeafrefPath, { values: Set<string>; shown: string }>();

  constructor(private readonly tree: SchemaTree, private readonly tag: 'data-missing' | 'invalid-value' = 'data-missing') {}

  walk(frames: readonly Frame[]): void {
    const top = frames[frames.length - 1]!;
    const children = top.node ? top.node.children : this.tree.roots;
    for (const child of children) {
      const v = top.value[memberName(child)];
      if (v === undefined) continue;
      const here: PathStep[] = [...top.at, { node: child }];
      switch (child.kind) {
        case 'container':
          if (isYangObject(v)) this.walk([...frames, { node: child, value: v, at: here }]);
          break;
        case 'list':
          if (!Array.isArray(v)) break;
          for (const e of v) {
            if (!isYangObject(e)) continue;
            const keys = child.keys.map((k) => {
              const kv = e[memberName(k)];
              return isScalar(kv) ? toLexical(kv) : '';
            });
            this.walk([...frames, { node: child, value: e, at: [...top.at, { node: child, keys }] }]);
          }
          break;
        case 'leaf':
          if (isScalar(v)) this.check(child, v, frames, here);
          break;
        case 'leaf-list':
          if (Array.isArray(v)) for (const x of v) if (isScalar(x)) this.check(child, x, frames, [...top.at, { node: child, value: toLexical(x) }]);
          break;
      }
    }
  }

  private check(leaf: LeafLike, v: YangValue, frames: readonly Frame[], at: DataPath): void {
    const ref = leaf.leafref;
    if (!ref || !ref.type.requireInstance) return;
    const { values, shown } = this.targets(leaf, frames);
    const text = toLexical(v as string);
    if (values.has(text)) return;
    const existing = [...values];
    const list = existing.length === 0 ? 'there are none' : `existing: ${existing.slice(0, MAX_LISTED).join(', ')}${existing.length > MAX_LISTED ? `, ... (${existing.length} in all)` : ''}`;
    this.errors.push(restconfError(this.tag, 'application',
      `${leaf.name} ${JSON.stringify(text)} does not exist: it must be one of ${shown} (${list})`, at, 'instance-required'));
  }

  /** The values the leaf's path reaches from where the leaf is, and how to name that set in a message. */
  private targets(leaf: LeafLike, frames: readonly Frame[]): { values: Set<string>; shown: string } {
    const path = leaf.leafref!.type.path;
    const cacheable = path.absolute && path.steps.every((s) => s.predicates.length === 0);
    const cached = cacheable ? this.cache.get(path) : undefined;
    if (cached) return cached;
    // Relative: the first '..' is the leaf's parent, i.e. the innermost frame.
    const start = path.absolute ? frames[0]! : frames[frames.length - path.up];
    let shown = start ? instanceIdentifier(start.at) : '?';
    if (shown === '/') shown = '';
    let current: YangValue[] = start ? [start.value] : [];
    // The schema walk is separate from the instances: with no instance left, messages still name the path.
    let schemaParent: InnerNode | undefined = start?.node;
    for (const step of path.steps) {
      const next: YangValue[] = [];
      const child = findChild(this.tree, schemaParent, step.module, step.name);
      // build-schema.ts resolved every leafref path against the schema already.
      if (!child) throw new Error(`leafref path ${path.text} no longer matches the schema`);
      const qualified = !schemaParent || schemaParent.module.name !== child.module.name;
      shown += `/${qualified ? `${child.module.name}:` : ''}${child.name}`;
      const wanted = step.predicates.map((p) => {
        const keyLeaf = child.kind === 'list' ? child.children.find((c) => c.name === p.key.name && c.module.name === p.key.module) : undefined;
        const value = this.currentValue(p.up, p.down, frames);
        shown += `[${p.key.name}=${value === undefined ? '(none)' : `'${value}'`}]`;
        return { member: keyLeaf ? memberName(keyLeaf) : p.key.name, value };
      });
      for (const inst of current) {
        if (!isYangObject(inst)) continue;
        const v = inst[memberName(child)];
        if (v === undefined) continue;
        if (child.kind === 'list' && Array.isArray(v)) {
          for (const e of v) {
            if (!isYangObject(e)) continue;
            if (wanted.every((w) => w.value !== undefined && isScalar(e[w.member]) && toLexical(e[w.member] as string) === w.value)) next.push(e);
          }
        } else if (child.kind === 'leaf-list' && Array.isArray(v)) {
          next.push(...v);
        } else {
          next.push(v);
        }
      }
      current = next;
      schemaParent = child.kind === 'container' || child.kind === 'list' ? child : undefined;
    }
    const values = new Set(current.filter(isScalar).map((x) => toLexical(x)));
    const result = { values, shown };
    if (cacheable) this.cache.set(path, result);
    return result;
  }

  /** current()/../.../name: from the leaf, `up` levels (the first is the leaf's parent), then down to a leaf value. */
  private currentValue(up: number, down: readonly { module: string; name: string }[], frames: readonly Frame[]): string | undefined {
    const start = frames[frames.length - up];
    if (!start) return undefined;
    let node: DataNode | undefined = start.node;
    let value: YangValue | undefined = start.value;
    for (const d of down) {
      if (!isYangObject(value)) return undefined;
      const parent = node && (node.kind === 'container' || node.kind === 'list') ? node : undefined;
      const child = findChild(this.tree, parent, d.module, d.name);
      if (!child) return undefined;
      value = value[memberName(child)];
      node = child;
    }
    return isScalar(value) ? toLexical(value) : undefined;
  }
}

/**
 * Every dangling leafref in a datastore (a bare document, as decode()
 * returns it without a target). Empty when all references resolve.
 */
export function validateReferences(tree: SchemaTree, data: YangObject): RestconfError[] {
  const c = new ReferenceChecker(tree);
  c.walk([{ node: undefined, value: data, at: [] }]);
  return c.errors;
}

/**
 * Every leafref among an operation's input parameters (`io` is the rpc's
 * input, `params` what decodeInput returned) that names nothing in `data`,
 * the datastore the operation runs on. Refused as invalid-value (400) with
 * app-tag instance-required: RFC 7950 15.5's data-missing (409) is about
 * configuration a write would leave dangling, while here the datastore is
 * fine and only the request's value is wrong.
 */
export function validateParameterReferences(tree: SchemaTree, io: ContainerNode, params: YangObject, data: YangObject): RestconfError[] {
  const c = new ReferenceChecker(tree, 'invalid-value');
  // The parameters hang below the data root, as the operation's node does in RFC 7950 6.4.1's tree: '..' from one reaches its siblings, '../..' the root.
  c.walk([{ node: undefined, value: data, at: [] }, { node: io, value: params, at: [{ node: io }] }]);
  return c.errors;
}
