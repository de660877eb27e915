/**
 * GET query parameters of RFC 8040 4.8: `content` (config, nonconfig, all),
 * `depth` (1..65535 or unbounded) and `fields` (a selection of descendants),
 * applied to an RFC 7951 reply with the schema. List keys are always kept, so
 * a pruned entry still says which entry it is. Pure.
 */
import { findChild, type DataNode, type InnerNode, type SchemaTree } from '../yang/index.js';
import { RestconfFailure } from './errors.js';

export interface Query {
  content: 'config' | 'nonconfig' | 'all';
  depth: number | undefined;
  fields: FieldTree | undefined;
}

/** A fields selection: member name -> what is selected below it (empty: everything below). */
export type FieldTree = Map<string, FieldTree>;

const KNOWN = new Set(['content', 'depth', 'fields', 'with-defaults']);

export function parseQuery(params: URLSearchParams, method: string): Query {
  for (const k of params.keys()) {
    if (!KNOWN.has(k)) throw RestconfFailure.of('invalid-value', `unknown query parameter ${JSON.stringify(k)}; this server knows content, depth, fields`, { status: 400 });
    if (params.getAll(k).length > 1) throw RestconfFailure.of('invalid-value', `query parameter ${k} given more than once`);
    if (method !== 'GET' && method !== 'HEAD' && k !== 'with-defaults') throw RestconfFailure.of('invalid-value', `${k} applies to GET only (RFC 8040 4.8)`);
  }
  const content = params.get('content') ?? 'all';
  if (content !== 'config' && content !== 'nonconfig' && content !== 'all') throw RestconfFailure.of('invalid-value', `content=${content}: expected config, nonconfig or all`);
  const d = params.get('depth');
  let depth: number | undefined;
  if (d !== null && d !== 'unbounded') {
    if (!/^\d+$/.test(d) || Number(d) < 1 || Number(d) > 65535) throw RestconfFailure.of('invalid-value', `depth=${d}: expected 1..65535 or unbounded`);
    depth = Number(d);
  }
  const f = params.get('fields');
  return { content, depth, fields: f === null ? undefined : parseFields(f) };
}

/** fields-expr = path "(" fields-expr ")" / path ";" fields-expr / path (RFC 8040 4.8.3) */
export function parseFields(text: string): FieldTree {
  let i = 0;
  const fail = (why: string): never => {
    throw RestconfFailure.of('invalid-value', `fields=${text}: ${why} at character ${i + 1}`);
  };
  const ident = (): string => {
    const m = /^[A-Za-z_][A-Za-z0-9_.-]*(?::[A-Za-z_][A-Za-z0-9_.-]*)?/.exec(text.slice(i));
    if (!m) fail('expected a node name');
    i += m![0].length;
    return m![0];
  };
  const expr = (into: FieldTree): void => {
    for (;;) {
      // path: ident ("/" ident)*
      let at = into;
      let leafTree: FieldTree = into;
      for (;;) {
        const name = ident();
        if (!at.has(name)) at.set(name, new Map());
        leafTree = at.get(name)!;
        at = leafTree;
        if (text[i] !== '/') break;
        i++;
      }
      if (text[i] === '(') {
        i++;
        expr(leafTree);
        if (text[i] !== ')') fail("expected ')'");
        i++;
      }
      if (text[i] === ';') { i++; continue; }
      return;
    }
  };
  const root: FieldTree = new Map();
  expr(root);
  if (i !== text.length) fail('unexpected text');
  return root;
}

type J = unknown;

function childOf(tree: SchemaTree, parent: InnerNode | undefined, memberKey: string): DataNode | undefined {
  const [mod, name] = memberKey.includes(':') ? memberKey.split(':') as [string, string] : [parent?.module.name ?? '', memberKey];
  return findChild(tree, parent, mod, name);
}

/**
 * Apply the query to the members of a reply object whose schema parent is
 * `parent` (undefined: top level). `level` is the depth of these members.
 */
export function applyQuery(tree: SchemaTree, parent: InnerNode | undefined, obj: Record<string, J>, q: Query, level = 1, fields: FieldTree | undefined = q.fields): Record<string, J> {
  const out: Record<string, J> = {};
  for (const [k, v] of Object.entries(obj)) {
    const node = childOf(tree, parent, k);
    const isKey = parent?.kind === 'list' && parent.keys.some((key) => key.name === node?.name);
    if (!isKey) {
      if (fields && !fields.has(k) && !(node && fields.has(node.name))) continue;
      if (node && q.content === 'config' && !node.config) continue;
      if (node && q.content === 'nonconfig' && node.config && node.kind !== 'container' && node.kind !== 'list') continue;
      if (q.depth !== undefined && level > q.depth) continue;
    }
    const sub = fields?.get(k) ?? (node ? fields?.get(node.name) : undefined);
    const below = sub && sub.size ? sub : undefined;
    out[k] = prune(tree, node, v, q, level, below);
  }
  return out;
}

function prune(tree: SchemaTree, node: DataNode | undefined, v: J, q: Query, level: number, fields: FieldTree | undefined): J {
  if (!node || (node.kind !== 'container' && node.kind !== 'list')) return v;
  if (node.kind === 'list' && Array.isArray(v)) return v.map((e) => applyQuery(tree, node, e as Record<string, J>, q, level + 1, fields));
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return applyQuery(tree, node, v as Record<string, J>, q, level + 1, fields);
  return v;
}
