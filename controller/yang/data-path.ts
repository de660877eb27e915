/**
 * A location in the data tree (schema nodes plus the key values that pick
 * list entries), and its two textual forms:
 * - instance-identifier (RFC 7950 9.13, JSON form RFC 7951 6.11), what RFC
 *   8040's error-path carries: /esfc-intent:chains/chain[name='web']/tenant
 * - RESTCONF data resource identifier (RFC 8040 3.5.3), the URI path form:
 *   /esfc-intent:chains/chain=web/tenant
 * Module names are written on the first step and wherever the module
 * changes, as both RFCs require.
 */
import type { DataNode } from './schema.js';

export interface PathStep {
  readonly node: DataNode;
  /** A list entry: its key values in canonical lexical form, in key order. */
  readonly keys?: readonly string[];
  /** A leaf-list entry: its value in canonical lexical form. */
  readonly value?: string;
}

export type DataPath = readonly PathStep[];

const qualified = (step: PathStep, prev: PathStep | undefined): string =>
  !prev || prev.node.module.name !== step.node.module.name ? `${step.node.module.name}:${step.node.name}` : step.node.name;

/** An XPath string literal; YANG values here never hold both quote kinds (names are restricted by pattern). */
const literal = (v: string): string => (v.includes("'") ? `"${v}"` : `'${v}'`);

export function instanceIdentifier(path: DataPath): string {
  if (path.length === 0) return '/';
  return path.map((step, i) => {
    let s = `/${qualified(step, path[i - 1])}`;
    if (step.keys && step.node.kind === 'list') {
      step.node.keys.forEach((k, j) => {
        const name = k.module.name === step.node.module.name ? k.name : `${k.module.name}:${k.name}`;
        s += `[${name}=${literal(step.keys![j] ?? '')}]`;
      });
    } else if (step.value !== undefined) {
      s += `[.=${literal(step.value)}]`;
    }
    return s;
  }).join('');
}

/** RFC 8040 3.5.3: key values are percent-encoded, every reserved character (RFC 3986 2.2) included. */
export function encodeKey(v: string): string {
  return encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function resourcePath(path: DataPath): string {
  if (path.length === 0) return '/';
  return path.map((step, i) => {
    let s = `/${qualified(step, path[i - 1])}`;
    if (step.keys && step.node.kind === 'list') s += `=${step.keys.map(encodeKey).join(',')}`;
    else if (step.value !== undefined) s += `=${encodeKey(step.value)}`;
    return s;
  }).join('');
}
