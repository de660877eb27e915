/**
 * RESTCONF data resource paths (RFC 8040 3.5.3) -> schema steps with typed
 * key values, e.g. /esfc-intent:nodes/node=node-a/port=sf1a, or
 * /esfc-intent:nodes-state/node=node-a/counter=sf1a,drop_source for a list
 * with two keys. The input is the part after {+restconf}/data, still
 * percent-encoded, without the query.
 *
 * Each path segment is split on '=' and its keys on ',' BEFORE
 * percent-decoding, so an encoded '/' or ',' stays inside its key, as the
 * RFC says. Decoded key values holding '/', '..', or control characters
 * are refused all the same: key values end up in file names, log lines
 * and the nodes' configurations, and a key that reads like a path is never
 * what an operator meant. Every other check is the key leaf's own type.
 */
import type { DataPath, PathStep } from './data-path.js';
import { resourcePath } from './data-path.js';
import { restconfError, type RestconfError } from './errors.js';
import type { DataNode, SchemaTree } from './schema.js';
import { findChild, findModule, memberName } from './schema.js';
import { fromLexical, toLexical, type YangScalar } from './values.js';
import { isYangObject, type YangObject, type YangValue } from './yang-value.js';

export interface TargetStep extends PathStep {
  /** The key values (list) or the value (leaf-list entry), decoded with the key leaf's type. */
  readonly keyValues?: readonly YangScalar[];
}

/** What a request addresses. No steps: the datastore resource itself ({+restconf}/data). */
export interface ResourceTarget {
  readonly steps: readonly TargetStep[];
}

export type TargetKind = 'datastore' | 'container' | 'list' | 'list-entry' | 'leaf' | 'leaf-list' | 'leaf-list-entry';

export type PathResult = { ok: true; target: ResourceTarget } | { ok: false; errors: RestconfError[] };

export const DATASTORE: ResourceTarget = { steps: [] };

export function targetKind(t: ResourceTarget): TargetKind {
  const last = t.steps[t.steps.length - 1];
  if (!last) return 'datastore';
  switch (last.node.kind) {
    case 'container': return 'container';
    case 'leaf': return 'leaf';
    case 'list': return last.keys ? 'list-entry' : 'list';
    case 'leaf-list': return last.value !== undefined ? 'leaf-list-entry' : 'leaf-list';
  }
}

/** The schema node a target addresses; undefined for the datastore. */
export function targetNode(t: ResourceTarget): DataNode | undefined {
  return t.steps[t.steps.length - 1]?.node;
}

const API_IDENTIFIER = /^(?:([A-Za-z_][A-Za-z0-9_.-]*):)?([A-Za-z_][A-Za-z0-9_.-]*)$/;

/** Why a decoded key value is refused before its type is even looked at, if it is. */
function unsafeKey(v: string): string | undefined {
  if (v.includes('/')) return "contains '/'";
  if (v.includes('..')) return "contains '..'";
  if (v === '.') return "is '.'";
  if (/[\u0000-\u001f\u007f]/.test(v)) return 'contains a control character';
  return undefined;
}

function percentDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

const childNames = (n: DataNode | undefined, tree: SchemaTree): string =>
  (n && (n.kind === 'container' || n.kind === 'list') ? n.children : tree.roots).map(memberName).join(', ');

/** Parses a data resource path against the schema; every refusal names the step and what was expected. */
export function parseResourcePath(tree: SchemaTree, path: string): PathResult {
  const steps: TargetStep[] = [];
  const err = (tag: 'invalid-value' | 'unknown-element' | 'missing-element', message: string, at: DataPath = steps): PathResult =>
    ({ ok: false, errors: [restconfError(tag, 'protocol', message, at)] });

  if (path === '' || path === '/') return { ok: true, target: DATASTORE };
  if (!path.startsWith('/')) return err('invalid-value', `the resource path ${JSON.stringify(path)} does not start with '/'`);
  if (/[?#]/.test(path)) return err('invalid-value', 'the resource path holds a query or fragment; pass only the path');
  const segments = path.slice(1).split('/');
  let parent: DataNode | undefined;
  for (const [i, seg] of segments.entries()) {
    const here = resourcePath(steps) === '/' ? 'the datastore' : resourcePath(steps);
    if (seg === '') return err('invalid-value', `empty path segment after ${here}`);
    const eq = seg.indexOf('=');
    const rawId = eq < 0 ? seg : seg.slice(0, eq);
    const rawKeys = eq < 0 ? undefined : seg.slice(eq + 1);
    const id = percentDecode(rawId);
    const m = id === undefined ? null : API_IDENTIFIER.exec(id);
    if (!m) return err('invalid-value', `${JSON.stringify(rawId)} after ${here} is not a node name ([module:]identifier)`);
    const [, moduleName, name] = m as unknown as [string, string | undefined, string];

    if (parent && parent.kind !== 'container' && parent.kind !== 'list') {
      return err('unknown-element', `${here} is a ${parent.kind}: it has no child '${name}'`);
    }
    const prev = steps[steps.length - 1];
    if (prev && prev.node.kind === 'list' && !prev.keys) {
      return err('missing-element', `list ${here} needs its key values (${prev.node.keys.map((k) => k.name).join(',')}) before '${name}': write ${here}=...`);
    }
    const parentModule = parent?.module.name;
    if (i === 0 && moduleName === undefined) return err('invalid-value', `the first step '${name}' must name its module (module:${name})`);
    if (moduleName !== undefined && moduleName === parentModule) {
      return err('invalid-value', `write '${name}', not '${moduleName}:${name}': a name is qualified only where the module changes (RFC 8040 3.5.3)`);
    }
    const mod = moduleName ?? parentModule!;
    if (!findModule(tree, mod)) return err('unknown-element', `no module '${mod}' (step '${id}' after ${here})`);
    const node = findChild(tree, parent && (parent.kind === 'container' || parent.kind === 'list') ? parent : undefined, mod, name);
    if (!node) return err('unknown-element', `no '${id}' in ${here}; expected one of: ${childNames(parent, tree)}`);

    if (rawKeys === undefined) {
      steps.push({ node });
      parent = node;
      continue;
    }
    if (node.kind !== 'list' && node.kind !== 'leaf-list') {
      return err('invalid-value', `'${name}' is a ${node.kind}: '=' (key values) applies only to lists and leaf-lists`, [...steps, { node }]);
    }
    const keyLeaves = node.kind === 'list' ? node.keys : [node];
    const raw = rawKeys.split(',');
    const where = [...steps, { node }];
    if (raw.length < keyLeaves.length) {
      return err('missing-element', `list '${name}' has ${keyLeaves.length} keys (${keyLeaves.map((k) => k.name).join(',')}); the path gives ${raw.length}`, where);
    }
    if (raw.length > keyLeaves.length) {
      return err('invalid-value', `'${name}' takes ${keyLeaves.length} key value${keyLeaves.length > 1 ? 's' : ''} (${keyLeaves.map((k) => k.name).join(',')}); the path gives ${raw.length} (a ',' inside a value must be written %2C)`, where);
    }
    const values: YangScalar[] = [];
    const texts: string[] = [];
    for (const [k, leaf] of keyLeaves.entries()) {
      const what = node.kind === 'list' ? `key '${leaf.name}' of '${name}'` : `the value of leaf-list '${name}'`;
      const v = percentDecode(raw[k]!);
      if (v === undefined) return err('invalid-value', `${what} is not valid percent-encoded UTF-8`, where);
      const unsafe = unsafeKey(v);
      if (unsafe) return err('invalid-value', `${what} ${unsafe}; such key values are refused`, where);
      const r = fromLexical(leaf.valueType, v);
      if (!r.ok) return err('invalid-value', `${what}: ${r.problem}`, where);
      values.push(r.value);
      texts.push(toLexical(r.value));
    }
    steps.push(node.kind === 'list' ? { node, keys: texts, keyValues: values } : { node, value: texts[0]!, keyValues: values });
    parent = node;
  }
  return { ok: true, target: { steps } };
}

/** The entry of a decoded list whose keys have these canonical lexical values. */
export function findEntry(step: PathStep, entries: readonly YangValue[]): YangObject | undefined {
  const list = step.node;
  if (list.kind !== 'list' || !step.keys) return undefined;
  return entries.find((e): e is YangObject => isYangObject(e)
    && list.keys.every((k, j) => {
      const v = e[memberName(k)];
      return v !== undefined && !isYangObject(v) && !Array.isArray(v) && toLexical(v) === step.keys![j];
    }));
}

/**
 * What a target addresses inside a decoded datastore (a bare document as
 * decode() returns it with no target), or undefined when it does not exist
 * (the RESTCONF 404).
 */
export function selectTarget(data: YangObject, target: ResourceTarget): YangValue | undefined {
  let cur: YangValue | undefined = data;
  for (const step of target.steps) {
    if (!isYangObject(cur)) return undefined;
    const v: YangValue | undefined = cur[memberName(step.node)];
    if (v === undefined) return undefined;
    if (step.node.kind === 'list' && step.keys) {
      cur = Array.isArray(v) ? findEntry(step, v) : undefined;
    } else if (step.node.kind === 'leaf-list' && step.value !== undefined) {
      cur = Array.isArray(v) ? v.find((x) => !isYangObject(x) && !Array.isArray(x) && toLexical(x) === step.value) : undefined;
    } else {
      cur = v;
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}
