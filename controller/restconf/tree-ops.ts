/**
 * Edits of the intent datastore (an RFC 7951 document as the YANG codec
 * decodes it) at a RESTCONF target: read, replace (PUT), merge (PATCH),
 * create (POST), delete. Pure: every edit returns a new document and says
 * whether the target existed, so the caller can answer 201/204 or
 * data-exists/data-missing.
 */
import {
  memberName, targetKind, toLexical, type DataNode, type ResourceTarget, type SchemaTree, type TargetStep, type YangObject, type YangValue,
} from '../yang/index.js';
import { isYangObject } from '../yang/yang-value.js';

const clone = <T>(v: T): T => structuredClone(v);

function keyMatches(step: TargetStep, e: YangValue): boolean {
  const n = step.node;
  if (n.kind !== 'list' || !step.keys || !isYangObject(e)) return false;
  return n.keys.every((k, j) => {
    const v = e[memberName(k)];
    return v !== undefined && !isYangObject(v) && !Array.isArray(v) && toLexical(v as never) === step.keys![j];
  });
}

/** Member name of a step inside its parent object (RFC 7951: qualified where the module changes). */
const member = (step: TargetStep, _depth?: number): string => memberName(step.node);

/** The value at the target, or undefined when it does not exist. */
export function getAt(doc: YangObject, t: ResourceTarget): YangValue | undefined {
  let cur: YangValue | undefined = doc;
  for (const [i, step] of t.steps.entries()) {
    if (!isYangObject(cur)) return undefined;
    const v: YangValue | undefined = cur[member(step, i)];
    if (v === undefined) return undefined;
    if (step.node.kind === 'list' && step.keys) {
      cur = (v as YangValue[]).find((e) => keyMatches(step, e));
    } else if (step.node.kind === 'leaf-list' && step.value !== undefined) {
      cur = (v as YangValue[]).find((e) => toLexical(e as never) === step.value);
    } else {
      cur = v;
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

export const exists = (doc: YangObject, t: ResourceTarget): boolean => getAt(doc, t) !== undefined;

/** Whether the parent of the target exists (a PUT may create the target, not its missing ancestors' list entries). */
export function parentExists(doc: YangObject, t: ResourceTarget): boolean {
  // Containers on the way are created on demand; list entries on the way must exist.
  for (let i = 0; i < t.steps.length - 1; i++) {
    const s = t.steps[i]!;
    if (s.node.kind === 'list' && s.keys && !exists(doc, { steps: t.steps.slice(0, i + 1) })) return false;
  }
  return true;
}

/**
 * The object that holds the target's member, created along the way (containers
 * only), inside a document the caller may change.
 */
function holder(doc: YangObject, t: ResourceTarget): YangObject {
  let cur: YangObject = doc;
  for (const [i, step] of t.steps.slice(0, -1).entries()) {
    const name = member(step, i);
    if (step.node.kind === 'list') {
      const entry = (cur[name] as YangValue[] | undefined)?.find((e) => keyMatches(step, e));
      if (!isYangObject(entry)) throw new Error(`no list entry ${name}=${step.keys?.join(',')} (checked by parentExists)`);
      cur = entry;
    } else {
      if (!isYangObject(cur[name])) cur[name] = {};
      cur = cur[name] as YangObject;
    }
  }
  return cur;
}

/** Replace (or create) the target with `value`; returns the new document and whether the target existed. */
export function putAt(doc: YangObject, t: ResourceTarget, value: YangValue): { doc: YangObject; existed: boolean } {
  const existed = exists(doc, t);
  if (t.steps.length === 0) return { doc: clone(value as YangObject), existed: Object.keys(doc).length > 0 };
  const out = clone(doc);
  const last = t.steps[t.steps.length - 1]!;
  const h = holder(out, t);
  const name = member(last, t.steps.length - 1);
  const kind = targetKind(t);
  if (kind === 'list-entry') {
    const list = (h[name] as YangValue[] | undefined) ?? [];
    const at = list.findIndex((e) => keyMatches(last, e));
    if (at >= 0) list[at] = clone(value);
    else list.push(clone(value));
    h[name] = list;
  } else if (kind === 'leaf-list-entry') {
    const list = (h[name] as YangValue[] | undefined) ?? [];
    if (!list.some((e) => toLexical(e as never) === last.value)) list.push(clone(value));
    h[name] = list;
  } else {
    h[name] = clone(value);
  }
  return { doc: out, existed };
}

/** Remove the target; `removed` false when it did not exist (data-missing). Empty containers go too. */
export function deleteAt(doc: YangObject, t: ResourceTarget): { doc: YangObject; removed: boolean } {
  if (!exists(doc, t)) return { doc, removed: false };
  if (t.steps.length === 0) return { doc: {}, removed: true };
  const out = clone(doc);
  const last = t.steps[t.steps.length - 1]!;
  const h = holder(out, t);
  const name = member(last, t.steps.length - 1);
  const kind = targetKind(t);
  if (kind === 'list-entry' || kind === 'leaf-list-entry') {
    const list = (h[name] as YangValue[]).filter((e) => (kind === 'list-entry' ? !keyMatches(last, e) : toLexical(e as never) !== last.value));
    if (list.length) h[name] = list;
    else delete h[name];
  } else {
    delete h[name];
  }
  return { doc: out, removed: true };
}

/**
 * Plain PATCH (RFC 8040 4.6.1, NETCONF merge): containers merge member by
 * member, list entries merge by key (new ones are added), leaf-lists gain the
 * values they lack, leaves are replaced.
 */
export function mergeAt(tree: SchemaTree, doc: YangObject, t: ResourceTarget, value: YangValue): YangObject {
  const current = getAt(doc, t);
  const merged = current === undefined ? value : mergeValues(tree, t.steps[t.steps.length - 1]?.node, current, value, t.steps.length === 0);
  return putAt(doc, t, merged).doc;
}

/** `atRoot`: a and b are datastores, whose members are the schema's top-level nodes. */
function mergeValues(tree: SchemaTree, node: DataNode | undefined, a: YangValue, b: YangValue, atRoot = false): YangValue {
  if (isYangObject(a) && isYangObject(b)) {
    const out: YangObject = { ...a };
    const children = atRoot ? tree.roots : node && (node.kind === 'container' || node.kind === 'list') ? node.children : undefined;
    for (const [k, v] of Object.entries(b)) {
      const child = children?.find((c) => memberName(c) === k || c.name === k);
      out[k] = out[k] === undefined ? v : mergeValues(tree, child, out[k]!, v);
    }
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (node?.kind === 'list') {
      const out = [...a];
      for (const e of b) {
        const at = out.findIndex((x) => isYangObject(x) && isYangObject(e) && node.keys.every((k) => toLexical(x[k.name] as never) === toLexical(e[k.name] as never)));
        if (at >= 0) out[at] = mergeValues(tree, node, out[at]!, e);
        else out.push(e);
      }
      return out;
    }
    const seen = new Set(a.map((x) => toLexical(x as never)));
    return [...a, ...b.filter((x) => !seen.has(toLexical(x as never)))];
  }
  return b;
}

/** The target of a child created by POST: the parent target plus the child's step (with the new entry's keys). */
export function childTarget(parent: ResourceTarget, child: DataNode, entry: YangValue | undefined): ResourceTarget {
  if (child.kind === 'list' && isYangObject(entry)) {
    return { steps: [...parent.steps, { node: child, keys: child.keys.map((k) => toLexical(entry[k.name] as never)) }] };
  }
  return { steps: [...parent.steps, { node: child }] };
}

/** The list entries (top-level entries of esfc-intent's lists) whose content differs between two documents, as resource paths. */
export function changedEntries(before: YangObject, after: YangObject): string[] {
  const out: string[] = [];
  for (const top of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[top];
    const b = after[top];
    for (const listName of new Set([...Object.keys(isYangObject(a) ? a : {}), ...Object.keys(isYangObject(b) ? b : {})])) {
      const ea = (isYangObject(a) ? a[listName] : undefined) as YangObject[] | undefined;
      const eb = (isYangObject(b) ? b[listName] : undefined) as YangObject[] | undefined;
      const byName = (l: YangObject[] | undefined) => new Map((Array.isArray(l) ? l : []).map((e) => [String(e.name), JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))]));
      const ma = byName(ea);
      const mb = byName(eb);
      for (const name of new Set([...ma.keys(), ...mb.keys()])) {
        if (ma.get(name) !== mb.get(name)) out.push(`/${top}/${listName}=${encodeURIComponent(name)}`);
      }
    }
  }
  return out;
}
