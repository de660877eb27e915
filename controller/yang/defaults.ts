/**
 * Schema defaults filled into decoded data (RFC 7950 7.6.1): what the
 * intent compiler needs to see (a port without 'hook' is hook auto), kept
 * apart from decode/encode so that a body decoded and encoded again comes
 * back as it was sent (RFC 8040 'explicit' with-defaults basic mode).
 *
 * A default applies when the leaf's closest ancestor that is not a
 * non-presence container exists: so defaults inside an absent non-presence
 * container are filled (the container appears), inside an absent presence
 * container or list entry they are not.
 */
import type { DataNode, InnerNode, SchemaTree } from './schema.js';
import { memberName } from './schema.js';
import { fromLexical } from './values.js';
import { isYangObject, type YangObject, type YangValue } from './yang-value.js';

function lexicalDefault(node: DataNode): YangValue | undefined {
  if (node.kind === 'leaf' && node.default !== undefined) {
    const r = fromLexical(node.valueType, node.default);
    // build-schema.ts already checked every default against its type.
    return r.ok ? r.value : undefined;
  }
  if (node.kind === 'leaf-list' && node.defaults.length) {
    return node.defaults.flatMap((d) => {
      const r = fromLexical(node.valueType, d);
      return r.ok ? [r.value] : [];
    });
  }
  return undefined;
}

/** The members of a container, list entry or the root (parent undefined), with defaults added; a new object. */
function fillMembers(tree: SchemaTree, parent: InnerNode | undefined, obj: YangObject, state: boolean): YangObject {
  const children = parent ? parent.children : tree.roots;
  const out: YangObject = {};
  for (const child of children) {
    const name = memberName(child);
    const v = obj[name];
    if (v === undefined) {
      if (!child.config && !state) continue;
      const d = child.kind === 'container' && !child.presence ? fillMembers(tree, child, {}, state) : lexicalDefault(child);
      if (d !== undefined && !(isYangObject(d) && Object.keys(d).length === 0)) out[name] = d;
      continue;
    }
    out[name] = fillNode(tree, child, v, state);
  }
  // Members the schema does not know are not this function's business; keep them (decode has refused them already).
  for (const [k, v] of Object.entries(obj)) if (!(k in out)) out[k] = v;
  return out;
}

/** `value` as the data of `node` (a list: the array of entries), with defaults added below it. */
export function fillNode(tree: SchemaTree, node: DataNode, value: YangValue, state = true): YangValue {
  switch (node.kind) {
    case 'container':
      return isYangObject(value) ? fillMembers(tree, node, value, state) : value;
    case 'list':
      return Array.isArray(value) ? value.map((e) => (isYangObject(e) ? fillMembers(tree, node, e, state) : e)) : value;
    default:
      return value;
  }
}

/** A list entry with defaults added. */
export function fillEntry(tree: SchemaTree, list: InnerNode, entry: YangObject, state = true): YangObject {
  return fillMembers(tree, list, entry, state);
}

/** A whole document (top-level members qualified) with defaults added. */
export function fillDocument(tree: SchemaTree, doc: YangObject, state = true): YangObject {
  return fillMembers(tree, undefined, doc, state);
}
