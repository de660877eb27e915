/**
 * The data resource, /restconf/data (RFC 8040 3.3, 4): GET and HEAD with
 * content/depth/fields, POST (create a child, 201 + Location, data-exists),
 * PUT (create or replace, 201/204), plain PATCH (merge), DELETE
 * (data-missing), ETag and Last-Modified on every resource, If-Match /
 * If-None-Match / If-(Un)Modified-Since (412, 304). Every write takes the one
 * path: authorise -> validate against the model -> compile -> log -> apply ->
 * notify (the last three in Controller.commit).
 */
import { createHash } from 'node:crypto';
import {
  decode, encode, findChild, instanceIdentifier, memberName, parseJsonText, parseResourcePath, resourcePath, targetKind, targetNode,
  validateReferences, DATASTORE_MEMBER, type DataNode, type InnerNode, type ResourceTarget, type SchemaTree, type YangObject, type YangValue,
} from '../yang/index.js';
import { isYangObject } from '../yang/yang-value.js';
import type { Controller } from '../controller.js';
import { IntentError } from '../intent/compile.js';
import { checkAccess, denied, isTenantOwnedTop, tenantOwns } from './access.js';
import { RestconfFailure } from './errors.js';
import { principalId, type Principal } from './principal.js';
import { applyQuery, parseQuery } from './query.js';
import { keysState, type KeyChanges } from './keys-state.js';
import { nodesState } from './state.js';
import { changedEntries, childTarget, deleteAt, getAt, mergeAt, putAt } from './tree-ops.js';

export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  /** Text, or bytes (the orchestration log's export). */
  body?: string | Buffer;
}

export const YANG_JSON = 'application/yang-data+json';

/** A write checked against everything and not applied yet (DataApi.prepare). */
export interface PreparedWrite {
  principal: Principal;
  method: string;
  path: string;
  body?: string;
  /** The datastore it was checked against, and what it makes of it. */
  doc: YangObject;
  next: YangObject;
  status: number;
  written: ResourceTarget;
  location?: string;
}

const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
const etagOf = (text: string): string => `"${createHash('sha256').update(text).digest('base64url').slice(0, 22)}"`;
const httpDate = (iso: string): string => new Date(iso).toUTCString();

export class DataApi {
  constructor(
    private readonly tree: SchemaTree,
    private readonly c: Controller,
    private readonly lastSeen: (node: string) => number | undefined,
    /** Without it (no AuC in this process) there is no keys-state. */
    private readonly keyChanges?: KeyChanges,
  ) {}

  private target(path: string): ResourceTarget {
    const p = parseResourcePath(this.tree, path);
    if (!p.ok) throw RestconfFailure.fromYang(p.errors);
    return p.target;
  }

  /** The datastore as this principal may see it: intent (tenants: only what is theirs) and node and key state (`stateTop`: only that one). */
  private view(p: Principal, withState: boolean, stateTop?: string): YangObject {
    const doc = structuredClone(this.c.datastore.doc) as YangObject;
    if (p.kind === 'tenant') {
      for (const top of Object.keys(doc)) {
        try {
          checkAccess(p, 'read', top, `/${top}`);
        } catch {
          delete doc[top];
          continue;
        }
        if (isTenantOwnedTop(top)) {
          const holder = doc[top] as YangObject;
          for (const [k, list] of Object.entries(holder)) {
            if (Array.isArray(list)) holder[k] = list.filter((e) => isYangObject(e) && tenantOwns(p, e));
          }
        }
      }
    }
    // Operators only: access.ts gives tenants no esfc-state node (keys-state could be filtered to their flows' pairs if it did).
    const wanted = (top: string): boolean => withState && p.kind === 'operator' && (stateTop === undefined || stateTop === top);
    if (wanted('esfc-state:nodes-state')) Object.assign(doc, nodesState(this.c, this.lastSeen));
    if (wanted('esfc-state:keys-state') && this.keyChanges) Object.assign(doc, keysState(this.c, this.keyChanges));
    return doc;
  }

  private lastModified(t: ResourceTarget): string {
    if (t.steps[0] && !t.steps[0].node.config) return new Date().toISOString();
    const entry = t.steps.findIndex((s) => s.node.kind === 'list' && s.keys);
    if (entry >= 0) return this.c.entryTime(resourcePath(t.steps.slice(0, entry + 1))) ?? this.c.datastore.modified;
    return this.c.datastore.modified;
  }

  /** The reply body of a resource, as GET would send it (before query parameters). */
  private representation(view: YangObject, t: ResourceTarget): Record<string, unknown> | undefined {
    const value = getAt(view, t);
    if (value === undefined) return undefined;
    if (t.steps.length === 0) return { [DATASTORE_MEMBER]: encode(this.tree, value) };
    return encode(this.tree, value, { target: t });
  }

  get(p: Principal, path: string, query: URLSearchParams, headers: Record<string, string | undefined>, head: boolean): HttpReply {
    const t = this.target(path);
    const top = t.steps[0] ? memberName(t.steps[0].node) : undefined;
    checkAccess(p, 'read', top, path || '/');
    const q = parseQuery(query, 'GET');
    const entry = t.steps.find((s) => s.node.kind === 'list' && s.keys);
    const view = this.view(p, top === undefined || (t.steps[0] !== undefined && !t.steps[0].node.config), top);
    if (p.kind === 'tenant' && entry && isTenantOwnedTop(top) && getAt(this.c.datastore.doc as YangObject, { steps: t.steps.slice(0, t.steps.indexOf(entry) + 1) }) !== undefined
      && getAt(view, { steps: t.steps.slice(0, t.steps.indexOf(entry) + 1) }) === undefined) {
      throw denied(p, `read another tenant's ${entry.node.name}`, path);
    }
    const rep = this.representation(view, t);
    if (!rep) throw RestconfFailure.of('invalid-value', `no data at ${path}`, { path: instanceIdentifier(t.steps), status: 404 });
    const text = json(rep);
    const etag = etagOf(text);
    const modified = this.lastModified(t);
    const base = { etag, 'last-modified': httpDate(modified), 'content-type': YANG_JSON, 'cache-control': 'no-cache' };
    if (matches(headers['if-none-match'], etag) || (headers['if-modified-since'] && !modifiedSince(modified, headers['if-modified-since']))) {
      return { status: 304, headers: { etag, 'last-modified': base['last-modified'] } };
    }
    let out: Record<string, unknown> = rep;
    if (q.depth !== undefined || q.fields || q.content !== 'all') {
      if (t.steps.length === 0) {
        out = { [DATASTORE_MEMBER]: applyQuery(this.tree, undefined, rep[DATASTORE_MEMBER] as Record<string, unknown>, q, 2) };
      } else {
        const node = targetNode(t)!;
        // The target is the one member of the reply; its schema parent decides how its name reads.
        out = applyQuery(this.tree, node.parent as InnerNode | undefined, rep, { ...q, fields: undefined }, 1, undefined);
        if (q.fields) out = { [Object.keys(rep)[0]!]: pruneFields(this.tree, node, rep[Object.keys(rep)[0]!], q) };
      }
    }
    const body = json(out);
    return { status: 200, headers: { ...base, 'content-length': String(Buffer.byteLength(body)) }, ...(head ? {} : { body }) };
  }

  /** A write: method is POST, PUT, PATCH or DELETE. */
  write(p: Principal, method: string, path: string, query: URLSearchParams, headers: Record<string, string | undefined>, body: string | undefined): HttpReply {
    return this.commit(this.prepare(p, method, path, query, headers, body));
  }

  /**
   * Everything a write checks (access, model, ownership, references,
   * preconditions), without changing anything: what it would make the
   * datastore. The orchestration log checks instructions with it before
   * they are committed.
   */
  prepare(p: Principal, method: string, path: string, query: URLSearchParams, headers: Record<string, string | undefined>, body: string | undefined): PreparedWrite {
    parseQuery(query, method);
    const t = this.target(path);
    const top = t.steps[0] ? memberName(t.steps[0].node) : undefined;
    checkAccess(p, 'write', top, path || '/');
    if (t.steps.some((s) => !s.node.config)) {
      throw RestconfFailure.of('operation-not-supported', `${path} is operational state (config false): it is read-only`, { path: instanceIdentifier(t.steps), status: 405 });
    }
    if (p.kind === 'tenant' && !t.steps.some((s) => s.node.kind === 'list' && s.keys) && method !== 'POST') {
      throw denied(p, `${method} a whole ${top} (other tenants' entries are in it): write your entries one by one`, path);
    }
    const doc = this.c.datastore.doc as YangObject;
    const current = this.representation(doc, t);
    this.preconditions(headers, current ? etagOf(json(current)) : undefined, current ? this.lastModified(t) : undefined, path);

    const parsed = body === undefined || body === '' ? undefined : parseJsonText(body);
    if (parsed && !parsed.ok) throw RestconfFailure.fromYang(parsed.errors);
    const needBody = method !== 'DELETE';
    if (needBody && !parsed) throw RestconfFailure.of('malformed-message', `${method} needs a body (${YANG_JSON})`, { type: 'rpc' });
    if (!needBody && parsed) throw RestconfFailure.of('malformed-message', 'DELETE takes no body', { type: 'rpc' });

    let next: YangObject;
    let status = 204;
    let location: string | undefined;
    let written = t;
    switch (method) {
      case 'PUT': {
        const d = decode(this.tree, parsed!.value, { target: t });
        if (!d.ok) throw RestconfFailure.fromYang(d.errors);
        this.checkOwnership(p, t, d.value, doc);
        if (!parentReady(doc, t)) throw RestconfFailure.of('data-missing', `the parent of ${path} does not exist: create it first`, { path: instanceIdentifier(t.steps.slice(0, -1)), type: 'application' });
        const r = putAt(doc, t, t.steps.length === 0 ? (d.value as YangObject) : d.value);
        next = r.doc;
        status = r.existed ? 204 : 201;
        break;
      }
      case 'POST': {
        const v = parsed!.value;
        const members = isYangObject(v as YangValue) ? Object.keys(v as object) : [];
        if (members.length !== 1) throw RestconfFailure.of('malformed-message', 'a POST body holds exactly one member: the child resource to create', { type: 'rpc' });
        const child = this.childNode(t, members[0]!);
        const entryJson = (v as Record<string, unknown>)[members[0]!];
        const firstEntry = child.kind === 'list' && Array.isArray(entryJson) && entryJson.length === 1 ? entryJson[0] : undefined;
        if (child.kind === 'list' && firstEntry === undefined) throw RestconfFailure.of('malformed-message', `to create a ${child.name} entry, POST {"${members[0]}": [{...one entry...}]}`, { type: 'rpc' });
        const keyProbe = decode(this.tree, v, { target: { steps: [...t.steps, { node: child }] }, partial: true });
        const ct = childTarget(t, child, child.kind === 'list' && keyProbe.ok ? (keyProbe.value as YangValue[])[0] : undefined);
        if (child.kind === 'list' && ct.steps[ct.steps.length - 1]!.keys!.some((k) => k === 'undefined')) {
          throw RestconfFailure.of('missing-element', `the new ${child.name} entry lacks its key (${child.keys.map((k) => k.name).join(',')})`, { type: 'application' });
        }
        const d = decode(this.tree, v, { target: ct });
        if (!d.ok) throw RestconfFailure.fromYang(d.errors);
        this.checkOwnership(p, ct, d.value, doc);
        if (t.steps.length && getAt(doc, t) === undefined && t.steps.some((s) => s.node.kind === 'list' && s.keys)) {
          throw RestconfFailure.of('data-missing', `${path} does not exist: create it first`, { path: instanceIdentifier(t.steps), type: 'application' });
        }
        if (getAt(doc, ct) !== undefined) throw RestconfFailure.of('data-exists', `${resourcePath(ct.steps)} already exists (PUT replaces, PATCH merges)`, { path: instanceIdentifier(ct.steps), type: 'application' });
        next = putAt(doc, ct, d.value).doc;
        status = 201;
        location = `/restconf/data${resourcePath(ct.steps)}`;
        written = ct;
        break;
      }
      case 'PATCH': {
        if (!current) throw RestconfFailure.of('data-missing', `${path} does not exist: PATCH merges into an existing resource (PUT or POST creates)`, { path: instanceIdentifier(t.steps), type: 'application' });
        const d = decode(this.tree, parsed!.value, { target: t, partial: true });
        if (!d.ok) throw RestconfFailure.fromYang(d.errors);
        next = mergeAt(this.tree, doc, t, d.value);
        this.checkOwnership(p, t, getAt(next, t)!, doc);
        break;
      }
      case 'DELETE': {
        if (!current) throw RestconfFailure.of('data-missing', `${path} does not exist`, { path: instanceIdentifier(t.steps), type: 'application' });
        this.checkOwnership(p, t, undefined, doc);
        next = deleteAt(doc, t).doc;
        break;
      }
      default:
        throw RestconfFailure.of('operation-not-supported', `${method} is not a RESTCONF data method here (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)`, { status: 405 });
    }

    const refs = validateReferences(this.tree, next);
    if (refs.length) throw RestconfFailure.fromYang(refs);
    return { principal: p, method, path, ...(body ? { body } : {}), doc, next, status, written, ...(location ? { location } : {}) };
  }

  /** Applies a prepared write (compile, log, apply, notify: Controller.commit). */
  commit(w: PreparedWrite): HttpReply {
    try {
      this.c.commit({ principal: principalId(w.principal), method: w.method, path: w.path || '/', ...(w.body ? { body: w.body } : {}) }, w.next, changedEntries(w.doc, w.next));
    } catch (e) {
      if (e instanceof IntentError) throw this.intentFailure(e);
      throw e;
    }
    const after = w.method === 'DELETE' ? undefined : this.representation(w.next, w.written);
    return {
      status: w.status,
      headers: {
        ...(after ? { etag: etagOf(json(after)) } : {}),
        'last-modified': httpDate(this.c.datastore.modified),
        ...(w.location ? { location: w.location } : {}),
      },
    };
  }

  /** A tenant may create, change or delete only chains and flows that are its own, and may not give them away. */
  private checkOwnership(p: Principal, t: ResourceTarget, value: YangValue | undefined, doc: YangObject): void {
    if (p.kind !== 'tenant') return;
    const at = t.steps.findIndex((s) => s.node.kind === 'list' && s.keys);
    const entryTarget: ResourceTarget = { steps: t.steps.slice(0, at + 1) };
    const existing = getAt(doc, entryTarget);
    const path = resourcePath(entryTarget.steps);
    if (existing !== undefined && isYangObject(existing) && !tenantOwns(p, existing)) throw denied(p, `change another tenant's ${t.steps[at]!.node.name}`, path);
    if (value !== undefined && at === t.steps.length - 1 && isYangObject(value) && value.tenant !== p.name) {
      throw denied(p, `write a ${t.steps[at]!.node.name} whose tenant is ${String(value.tenant)}`, path);
    }
    if (value !== undefined && t.steps[t.steps.length - 1]!.node.name === 'tenant' && value !== p.name) {
      throw denied(p, `give a ${t.steps[at]!.node.name} to tenant ${String(value)}`, path);
    }
  }

  private childNode(t: ResourceTarget, member: string): DataNode {
    const parent = targetNode(t);
    if (parent && parent.kind !== 'container' && parent.kind !== 'list') {
      throw RestconfFailure.of('invalid-value', `POST creates children of containers, lists entries or the datastore; ${resourcePath(t.steps)} is a ${parent.kind}`);
    }
    if (parent && parent.kind === 'list' && targetKind(t) === 'list') {
      throw RestconfFailure.of('invalid-value', `POST a new ${parent.name} entry to its parent (${resourcePath(t.steps.slice(0, -1)) || '/'}), not to the list`);
    }
    const [mod, name] = member.includes(':') ? member.split(':') as [string, string] : [parent?.module.name ?? '', member];
    const child = findChild(this.tree, parent as InnerNode | undefined, mod, name);
    if (!child) throw RestconfFailure.of('unknown-element', `${member} is not a child of ${resourcePath(t.steps) || 'the datastore'}`, { type: 'application' });
    if (!child.config) throw RestconfFailure.of('operation-not-supported', `${member} is operational state: read-only`, { status: 405 });
    return child;
  }

  private preconditions(h: Record<string, string | undefined>, etag: string | undefined, modified: string | undefined, path: string): void {
    const failed = (why: string): never => {
      throw RestconfFailure.of('operation-failed', `precondition failed: ${why} (reload ${path} and try again)`, { status: 412 });
    };
    const im = h['if-match'];
    if (im !== undefined && (etag === undefined || !matches(im, etag))) failed(etag === undefined ? 'If-Match on a resource that does not exist' : `If-Match ${im} is not the current entity tag ${etag}`);
    const inm = h['if-none-match'];
    if (inm !== undefined && etag !== undefined && matches(inm, etag)) failed(`If-None-Match ${inm}: the resource exists`);
    const ius = h['if-unmodified-since'];
    if (ius !== undefined && modified !== undefined && modifiedSince(modified, ius)) failed(`changed since ${ius}`);
  }

  private intentFailure(e: IntentError): RestconfFailure {
    return new RestconfFailure(e.problems.map((x) => {
      const p = parseResourcePath(this.tree, x.path);
      return { type: 'application' as const, tag: 'invalid-value' as const, message: `${x.problem} (fix: ${x.fix})`, path: p.ok ? instanceIdentifier(p.target.steps) : x.path };
    }), 400);
  }
}

function parentReady(doc: YangObject, t: ResourceTarget): boolean {
  for (let i = 0; i < t.steps.length - 1; i++) {
    const s = t.steps[i]!;
    if (s.node.kind === 'list' && s.keys && getAt(doc, { steps: t.steps.slice(0, i + 1) }) === undefined) return false;
  }
  return true;
}

/** An If-Match / If-None-Match header against an entity tag ("*" matches any existing one). */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').map((s) => s.trim().replace(/^W\//, '')).some((x) => x === '*' || x === etag);
}

/** HTTP dates have second resolution. */
function modifiedSince(modifiedIso: string, since: string): boolean {
  const s = Date.parse(since);
  if (Number.isNaN(s)) return true;
  return Math.floor(Date.parse(modifiedIso) / 1000) > Math.floor(s / 1000);
}

/** fields= inside the target: select within the encoded value of the target node. */
function pruneFields(tree: SchemaTree, node: DataNode, value: unknown, q: ReturnType<typeof parseQuery>): unknown {
  if (node.kind === 'list' && Array.isArray(value)) return value.map((e) => applyQuery(tree, node, e as Record<string, unknown>, q, 2));
  if (node.kind === 'container' && typeof value === 'object' && value !== null) return applyQuery(tree, node, value as Record<string, unknown>, q, 2);
  return value;
}
