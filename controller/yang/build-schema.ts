/**
 * Statements of a set of YANG modules -> the typed schema tree (schema.ts).
 *
 * Supports the subset esfc's modules and the IETF type modules they import
 * use: module, import, namespace, prefix, revision, typedef (at any level,
 * resolved across imports), grouping/uses, container (with presence),
 * list (key, ordered-by, min/max-elements), leaf (default, mandatory),
 * leaf-list, config, top-level rpc with input and output (holding the same
 * data definitions), and the types int*, uint*, string (length, pattern
 * with invert-match), boolean, empty, enumeration, union and leafref (path
 * with [key = current()/...] predicates, require-instance). Anything else
 * (must, when, choice, augment, unique, action, notification, identityref,
 * decimal64, ...) is refused with its file and line instead of being
 * silently ignored: a constraint this code did not enforce would make the
 * validator lie.
 */
import { LeafrefPathError, parseLeafrefPath } from './leafref-path.js';
import { compileXsdPattern, XsdPatternError } from './xsd-regex.js';
import type {
  ContainerNode, DataNode, InnerNode, IntegerBase, Interval, LeafLike, LeafListNode, LeafNode, LeafrefBinding, LeafrefPath,
  LeafrefPredicate, LeafrefType, ListNode, ModuleInfo, Pattern, RpcNode, SchemaTree, ValueType, YangType,
} from './schema.js';
import { findChild } from './schema.js';
import { parseStatements, sub, subs, type SourceLocation, type Statement } from './statements.js';
import { fromLexical, INTEGER_BOUNDS } from './values.js';

export class YangSchemaError extends Error {
  readonly code = 'ESFC_YANG_SCHEMA';
  constructor(readonly loc: SourceLocation, readonly problem: string) {
    super(`${loc.file}:${loc.line}:${loc.column}: ${problem}`);
  }
}

export interface ModuleSource {
  /** Where the text came from (for messages and the YANG library). */
  readonly file: string;
  readonly text: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function fail(s: Statement, problem: string): never {
  throw new YangSchemaError(s.loc, problem);
}

const COMMON = ['description', 'reference', 'status'];
const DATA_DEFS = ['container', 'list', 'leaf', 'leaf-list', 'uses'];
const ALLOWED: Record<string, readonly string[]> = {
  module: [...COMMON, 'yang-version', 'namespace', 'prefix', 'import', 'organization', 'contact', 'revision', 'typedef', 'grouping', 'rpc', ...DATA_DEFS],
  import: ['prefix', 'revision-date', 'description', 'reference'],
  revision: ['description', 'reference'],
  typedef: [...COMMON, 'type', 'default', 'units'],
  grouping: [...COMMON, 'typedef', 'grouping', ...DATA_DEFS],
  rpc: [...COMMON, 'typedef', 'grouping', 'input', 'output'],
  input: ['typedef', 'grouping', ...DATA_DEFS],
  output: ['typedef', 'grouping', ...DATA_DEFS],
  uses: COMMON,
  container: [...COMMON, 'config', 'presence', 'typedef', 'grouping', ...DATA_DEFS],
  list: [...COMMON, 'config', 'key', 'ordered-by', 'min-elements', 'max-elements', 'typedef', 'grouping', ...DATA_DEFS],
  leaf: [...COMMON, 'config', 'type', 'default', 'mandatory', 'units'],
  'leaf-list': [...COMMON, 'config', 'type', 'default', 'ordered-by', 'min-elements', 'max-elements', 'units'],
  type: ['type', 'range', 'length', 'pattern', 'enum', 'path', 'require-instance'],
  pattern: ['modifier', 'error-message', 'error-app-tag', 'description', 'reference'],
  range: ['description', 'reference'],
  length: ['description', 'reference'],
  enum: [...COMMON, 'value'],
};

/** Refuses substatements outside the supported subset, naming them. */
function checkSubstatements(s: Statement): void {
  const allowed = ALLOWED[s.keyword];
  if (!allowed) return;
  for (const c of s.children) {
    if (!allowed.includes(c.keyword)) {
      fail(c, `'${c.keyword}' under '${s.keyword}' is not supported by controller/yang (it supports the subset esfc's modules use; see build-schema.ts)`);
    }
  }
}

const BUILTIN_INTEGERS = new Set<string>(['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64']);
const BUILTINS = new Set<string>([...BUILTIN_INTEGERS, 'string', 'boolean', 'empty', 'enumeration', 'union', 'leafref']);
const UNSUPPORTED_BUILTINS = new Set(['decimal64', 'bits', 'binary', 'identityref', 'instance-identifier']);
/** Lengths have no upper bound of their own; 2^64 - 1 stands for 'max'. */
const LENGTH_BOUNDS: Interval = { min: 0n, max: 18446744073709551615n };

interface ModCtx {
  readonly info: ModuleInfo;
  readonly stmt: Statement;
}

/** Lexical scope for typedef and grouping names: the statement and its ancestors up to the module. */
interface Scope {
  readonly mod: ModCtx;
  readonly stmt: Statement;
  readonly parent: Scope | undefined;
}

interface PendingLeaf {
  readonly leaf: Mutable<LeafNode> | Mutable<LeafListNode>;
  /** Where the leaf's default statement is, if it has one (for errors). */
  readonly defaultStmts: readonly Statement[];
}

const argOf = (s: Statement): string => s.arg ?? fail(s, `'${s.keyword}' needs an argument`);

function splitName(qname: string): { prefix: string | undefined; name: string } {
  const i = qname.indexOf(':');
  return i < 0 ? { prefix: undefined, name: qname } : { prefix: qname.slice(0, i), name: qname.slice(i + 1) };
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

class Builder {
  private readonly mods = new Map<string, ModCtx>();
  private readonly typedefCache = new Map<Statement, YangType>();
  private readonly typedefInProgress = new Set<Statement>();
  private readonly pending: PendingLeaf[] = [];
  private readonly usesInProgress = new Set<Statement>();
  private readonly roots: DataNode[] = [];
  private readonly operations: RpcNode[] = [];
  /** Set while an rpc's input or output is built: config means nothing there (see base()). */
  private inParameters = false;
  private readonly tree: SchemaTree;

  constructor(sources: readonly ModuleSource[]) {
    const infos: ModuleInfo[] = [];
    for (const src of sources) {
      const stmt = parseStatements(src.text, src.file);
      const info = this.moduleInfo(stmt, src);
      if (this.mods.has(info.name)) fail(stmt, `module ${info.name} is loaded twice (also from ${this.mods.get(info.name)!.info.file})`);
      this.mods.set(info.name, { info, stmt });
      infos.push(info);
    }
    this.tree = { modules: infos, roots: this.roots, operations: this.operations };
  }

  build(): SchemaTree {
    for (const m of this.mods.values()) this.checkImports(m);
    for (const m of this.mods.values()) {
      const scope: Scope = { mod: m, stmt: m.stmt, parent: undefined };
      this.roots.push(...this.dataDefs(m.stmt, scope, undefined, m.info, true));
    }
    for (const m of this.mods.values()) {
      for (const s of subs(m.stmt, 'rpc')) this.operations.push(this.rpc(s, m));
    }
    // Every typedef compiles, used or not: a broken one is found at load, not on first use.
    for (const m of this.mods.values()) this.compileAllTypedefs(m.stmt, { mod: m, stmt: m.stmt, parent: undefined });
    for (const p of this.pending) this.resolveLeafref(p.leaf, []);
    for (const p of this.pending) this.checkDefaults(p);
    return this.tree;
  }

  private moduleInfo(stmt: Statement, src: ModuleSource): ModuleInfo {
    if (stmt.keyword !== 'module') fail(stmt, `expected a module, found '${stmt.keyword}' (submodules are not supported)`);
    checkSubstatements(stmt);
    const name = argOf(stmt);
    const one = (kw: string): Statement => sub(stmt, kw) ?? fail(stmt, `module ${name} has no '${kw}'`);
    const version = sub(stmt, 'yang-version')?.arg ?? '1';
    if (version !== '1' && version !== '1.1') fail(stmt, `yang-version ${version} is not 1 or 1.1`);
    const imports = new Map<string, string>();
    for (const imp of subs(stmt, 'import')) {
      checkSubstatements(imp);
      const p = sub(imp, 'prefix') ?? fail(imp, `import ${imp.arg} has no prefix`);
      imports.set(argOf(p), argOf(imp));
    }
    const revisions = subs(stmt, 'revision').map((r) => {
      checkSubstatements(r);
      return argOf(r);
    }).sort();
    return {
      name,
      prefix: argOf(one('prefix')),
      namespace: argOf(one('namespace')),
      revision: revisions[revisions.length - 1],
      yangVersion: version as '1' | '1.1',
      imports,
      file: src.file,
      source: src.text,
    };
  }

  private checkImports(m: ModCtx): void {
    for (const imp of subs(m.stmt, 'import')) {
      const target = this.mods.get(argOf(imp));
      if (!target) fail(imp, `module ${m.info.name} imports ${imp.arg}, which is not loaded (put its .yang file beside the others)`);
      const rd = sub(imp, 'revision-date')?.arg;
      if (rd !== undefined && rd !== target.info.revision) fail(imp, `import ${imp.arg} asks for revision ${rd}; the loaded file has ${target.info.revision ?? 'none'}`);
    }
  }

  /** The module a prefix names, seen from module `m`. */
  private modByPrefix(m: ModCtx, prefix: string | undefined, at: Statement): ModCtx {
    if (prefix === undefined || prefix === m.info.prefix) return m;
    const name = m.info.imports.get(prefix) ?? fail(at, `unknown prefix '${prefix}' in module ${m.info.name}`);
    return this.mods.get(name)!;
  }

  // ---- data definitions ----

  private dataDefs(parentStmt: Statement, scope: Scope, parent: InnerNode | undefined, ns: ModuleInfo, config: boolean): DataNode[] {
    const out: DataNode[] = [];
    for (const s of parentStmt.children) {
      switch (s.keyword) {
        case 'container': out.push(this.container(s, scope, parent, ns, config)); break;
        case 'list': out.push(this.list(s, scope, parent, ns, config)); break;
        case 'leaf': out.push(this.leaf(s, scope, parent, ns, config)); break;
        case 'leaf-list': out.push(this.leafList(s, scope, parent, ns, config)); break;
        case 'uses': out.push(...this.uses(s, scope, parent, ns, config)); break;
        default: break;
      }
    }
    const seen = new Set<string>();
    for (const n of out) {
      if (seen.has(n.name)) throw new YangSchemaError(n.loc, `a second data node named '${n.name}' under '${parentStmt.keyword} ${parentStmt.arg ?? ''}'`);
      seen.add(n.name);
    }
    return out;
  }

  private uses(s: Statement, scope: Scope, parent: InnerNode | undefined, ns: ModuleInfo, config: boolean): DataNode[] {
    checkSubstatements(s);
    const found = this.findDefinition('grouping', argOf(s), scope, s);
    if (this.usesInProgress.has(found.stmt)) fail(s, `grouping ${s.arg} uses itself`);
    this.usesInProgress.add(found.stmt);
    try {
      checkSubstatements(found.stmt);
      // Names inside a grouping resolve where the grouping is written; its nodes land in the namespace of the uses.
      return this.dataDefs(found.stmt, { mod: found.scope.mod, stmt: found.stmt, parent: found.scope }, parent, ns, config);
    } finally {
      this.usesInProgress.delete(found.stmt);
    }
  }

  /** A typedef or grouping by (possibly prefixed) name: nested scopes first, then the module, or another module's top level. */
  private findDefinition(kind: 'typedef' | 'grouping', qname: string, scope: Scope, at: Statement): { stmt: Statement; scope: Scope } {
    const { prefix, name } = splitName(qname);
    const target = this.modByPrefix(scope.mod, prefix, at);
    if (target !== scope.mod) {
      const d = subs(target.stmt, kind).find((d) => d.arg === name);
      if (!d) fail(at, `${kind} ${qname}: module ${target.info.name} has no top-level ${kind} '${name}'`);
      return { stmt: d, scope: { mod: target, stmt: target.stmt, parent: undefined } };
    }
    for (let sc: Scope | undefined = scope; sc; sc = sc.parent) {
      const d = subs(sc.stmt, kind).find((d) => d.arg === name);
      if (d) return { stmt: d, scope: sc };
    }
    return fail(at, `no ${kind} '${qname}' in scope`);
  }

  private base(s: Statement, parent: InnerNode | undefined, ns: ModuleInfo, parentConfig: boolean): Mutable<Omit<ContainerNode, 'kind' | 'presence' | 'children'>> {
    checkSubstatements(s);
    const name = argOf(s);
    if (!IDENTIFIER.test(name)) fail(s, `'${name}' is not a YANG identifier`);
    const cfg = sub(s, 'config')?.arg;
    if (cfg !== undefined && cfg !== 'true' && cfg !== 'false') fail(s, `config must be true or false, not '${cfg}'`);
    // Parameters are not configuration: a config statement among them is ignored (pyang warns CONFIG_IGNORED), not refused.
    const config = this.inParameters ? false : cfg === undefined ? parentConfig : cfg === 'true';
    if (config && !parentConfig) fail(s, `'${name}' is config true under a config false node`);
    const parentPath = parent ? parent.schemaPath : '';
    const qualified = !parent || parent.module.name !== ns.name;
    return {
      name,
      module: ns,
      parent,
      config,
      description: sub(s, 'description')?.arg,
      schemaPath: `${parentPath}/${qualified ? `${ns.name}:` : ''}${name}`,
      loc: s.loc,
    };
  }

  private container(s: Statement, scope: Scope, parent: InnerNode | undefined, ns: ModuleInfo, config: boolean): ContainerNode {
    const node: Mutable<ContainerNode> = { ...this.base(s, parent, ns, config), kind: 'container', presence: sub(s, 'presence') !== undefined, children: [] };
    node.children = this.dataDefs(s, { mod: scope.mod, stmt: s, parent: scope }, node, ns, node.config);
    return node;
  }

  private list(s: Statement, scope: Scope, parent: InnerNode | undefined, ns: ModuleInfo, config: boolean): ListNode {
    const node: Mutable<ListNode> = {
      ...this.base(s, parent, ns, config),
      kind: 'list',
      keys: [],
      children: [],
      orderedBy: this.orderedBy(s),
      ...this.elementBounds(s),
    };
    node.children = this.dataDefs(s, { mod: scope.mod, stmt: s, parent: scope }, node, ns, node.config);
    const keyStmt = sub(s, 'key');
    if (!keyStmt) {
      // RFC 7950 7.8.2: only state lists may do without keys. Keyless lists cannot be addressed in RESTCONF paths.
      fail(s, `list ${node.name} has no key (keyless lists are not supported)`);
    }
    node.keys = argOf(keyStmt).trim().split(/\s+/).map((k) => {
      const leaf = node.children.find((c) => c.name === splitName(k).name);
      if (!leaf || leaf.kind !== 'leaf') return fail(keyStmt, `key '${k}' of list ${node.name} is not one of its leaves`);
      // RFC 7950 7.8.2: keys have no default (a typedef's default does not apply to them) and are never empty.
      if (leaf.default !== undefined && leaf.default !== leaf.type.default) fail(keyStmt, `key leaf '${k}' has a default`);
      if (leaf.type.kind === 'empty') fail(keyStmt, `key leaf '${k}' is of type empty`);
      const key = leaf as Mutable<LeafNode>;
      key.isKey = true;
      key.mandatory = true;
      key.default = undefined;
      return leaf;
    });
    return node;
  }

  /** A top-level rpc: its input and output become container nodes named after it (schema.ts, RpcNode). */
  private rpc(s: Statement, m: ModCtx): RpcNode {
    checkSubstatements(s);
    const name = argOf(s);
    if (!IDENTIFIER.test(name)) fail(s, `'${name}' is not a YANG identifier`);
    // RFC 7950 6.2.1: rpcs and top-level data nodes of a module share one identifier namespace.
    if (this.roots.some((r) => r.module === m.info && r.name === name)) fail(s, `rpc ${name}: module ${m.info.name} already has a top-level data node named '${name}'`);
    if (this.operations.some((o) => o.module === m.info && o.name === name)) fail(s, `a second rpc named '${name}' in module ${m.info.name}`);
    const schemaPath = `/${m.info.name}:${name}`;
    const scope: Scope = { mod: m, stmt: s, parent: { mod: m, stmt: m.stmt, parent: undefined } };
    const parameters = (keyword: 'input' | 'output'): ContainerNode | undefined => {
      const all = subs(s, keyword);
      if (all.length > 1) fail(all[1]!, `rpc ${name} has a second '${keyword}'`);
      const st = all[0];
      if (!st) return undefined;
      if (st.arg !== undefined) fail(st, `'${keyword}' takes no argument`);
      checkSubstatements(st);
      const node: Mutable<ContainerNode> = {
        kind: 'container', name, module: m.info, parent: undefined, config: false, presence: false, children: [],
        description: undefined, schemaPath: `${schemaPath}/${keyword}`, loc: st.loc,
      };
      this.inParameters = true;
      try {
        node.children = this.dataDefs(st, { mod: m, stmt: st, parent: scope }, node, m.info, false);
      } finally {
        this.inParameters = false;
      }
      return node;
    };
    return {
      kind: 'rpc', name, module: m.info, description: sub(s, 'description')?.arg, schemaPath, loc: s.loc,
      input: parameters('input'), output: parameters('output'),
    };
  }

  private orderedBy(s: Statement): 'system' | 'user' {
    const o = sub(s, 'ordered-by')?.arg ?? 'system';
    if (o !== 'system' && o !== 'user') fail(s, `ordered-by must be system or user, not '${o}'`);
    return o as 'system' | 'user';
  }

  private elementBounds(s: Statement): { minElements: number; maxElements: number } {
    const min = sub(s, 'min-elements');
    const max = sub(s, 'max-elements');
    const minElements = min ? Number(argOf(min)) : 0;
    const maxElements = max ? (argOf(max) === 'unbounded' ? Infinity : Number(argOf(max))) : Infinity;
    if (!Number.isSafeInteger(minElements) || minElements < 0) fail(min!, `min-elements '${min!.arg}' is not a non-negative integer`);
    if (maxElements !== Infinity && (!Number.isSafeInteger(maxElements) || maxElements < 1)) fail(max!, `max-elements '${max!.arg}' is not a positive integer or unbounded`);
    if (minElements > maxElements) fail(s, `min-elements ${minElements} exceeds max-elements ${maxElements}`);
    return { minElements, maxElements };
  }

  private leafCommon(s: Statement, scope: Scope, parent: InnerNode | undefined, ns: ModuleInfo, config: boolean) {
    const base = this.base(s, parent, ns, config);
    const typeStmt = sub(s, 'type') ?? fail(s, `${s.keyword} ${s.arg} has no type`);
    const type = this.resolveType(typeStmt, { mod: scope.mod, stmt: s, parent: scope });
    // A leafref's value type is its target's, known only once every module is built (resolveLeafref).
    const valueType = type.kind === 'leafref' ? (undefined as unknown as ValueType) : type;
    return { ...base, type, valueType, leafref: undefined as LeafrefBinding | undefined };
  }

  private leaf(s: Statement, scope: Scope, parent: InnerNode | undefined, ns: ModuleInfo, config: boolean): LeafNode {
    const mand = sub(s, 'mandatory')?.arg;
    if (mand !== undefined && mand !== 'true' && mand !== 'false') fail(s, `mandatory must be true or false, not '${mand}'`);
    const node: Mutable<LeafNode> = {
      ...this.leafCommon(s, scope, parent, ns, config),
      kind: 'leaf',
      default: undefined,
      mandatory: mand === 'true',
      isKey: false,
    };
    const def = sub(s, 'default');
    node.default = def ? argOf(def) : node.type.default;
    if (def && node.mandatory) fail(def, `leaf ${node.name} is mandatory and has a default`);
    this.pending.push({ leaf: node, defaultStmts: def ? [def] : [] });
    return node;
  }

  private leafList(s: Statement, scope: Scope, parent: InnerNode | undefined, ns: ModuleInfo, config: boolean): LeafListNode {
    const defs = subs(s, 'default');
    const node: Mutable<LeafListNode> = {
      ...this.leafCommon(s, scope, parent, ns, config),
      kind: 'leaf-list',
      defaults: [],
      orderedBy: this.orderedBy(s),
      ...this.elementBounds(s),
    };
    node.defaults = defs.length ? defs.map(argOf) : node.type.default !== undefined ? [node.type.default] : [];
    if (node.defaults.length && node.minElements > 0) fail(s, `leaf-list ${node.name} has min-elements and defaults`);
    this.pending.push({ leaf: node, defaultStmts: defs });
    return node;
  }

  // ---- types ----

  private compileAllTypedefs(s: Statement, scope: Scope): void {
    for (const c of s.children) {
      if (c.keyword === 'typedef') this.typedefType(c, scope);
      if (['container', 'list', 'grouping', 'rpc', 'input', 'output'].includes(c.keyword)) this.compileAllTypedefs(c, { mod: scope.mod, stmt: c, parent: scope });
    }
  }

  private typedefType(td: Statement, scope: Scope): YangType {
    const cached = this.typedefCache.get(td);
    if (cached) return cached;
    if (this.typedefInProgress.has(td)) fail(td, `typedef ${td.arg} refers to itself`);
    this.typedefInProgress.add(td);
    try {
      checkSubstatements(td);
      const name = argOf(td);
      if (BUILTINS.has(name) || UNSUPPORTED_BUILTINS.has(name)) fail(td, `typedef ${name} shadows a built-in type`);
      const typeStmt = sub(td, 'type') ?? fail(td, `typedef ${name} has no type`);
      const inner = this.resolveType(typeStmt, scope);
      const t: YangType = { ...inner, name: `${scope.mod.info.prefix}:${name}`, default: sub(td, 'default')?.arg ?? inner.default };
      if (t.kind !== 'leafref' && t.default !== undefined) {
        const r = fromLexical(t, t.default);
        if (!r.ok) fail(sub(td, 'default') ?? td, `default of typedef ${name}: ${r.problem}`);
      }
      this.typedefCache.set(td, t);
      return t;
    } finally {
      this.typedefInProgress.delete(td);
    }
  }

  private resolveType(s: Statement, scope: Scope): YangType {
    const qname = argOf(s);
    const { prefix, name } = splitName(qname);
    if (prefix === undefined && UNSUPPORTED_BUILTINS.has(name)) fail(s, `type ${name} is not supported by controller/yang`);
    checkSubstatements(s);
    if (prefix === undefined && BUILTINS.has(name)) return this.builtin(s, name, scope);
    const found = this.findDefinition('typedef', qname, scope, s);
    const base = this.typedefType(found.stmt, found.scope);
    return this.restrict(base, s, scope);
  }

  private builtin(s: Statement, name: string, scope: Scope): YangType {
    const plain = { name, default: undefined };
    if (BUILTIN_INTEGERS.has(name)) return this.restrict({ ...plain, kind: 'integer', base: name as IntegerBase, ranges: [] }, s, scope);
    switch (name) {
      case 'string': return this.restrict({ ...plain, kind: 'string', lengths: [], patterns: [] }, s, scope);
      case 'boolean': return this.restrict({ ...plain, kind: 'boolean' }, s, scope);
      case 'empty': return this.restrict({ ...plain, kind: 'empty' }, s, scope);
      case 'enumeration': return { ...plain, kind: 'enumeration', enums: this.enums(s) };
      case 'union': {
        const members = subs(s, 'type').map((m) => {
          const t = this.resolveType(m, scope);
          if (t.kind === 'leafref') fail(m, 'a leafref inside a union is not supported');
          return t as ValueType;
        });
        if (!members.length) fail(s, 'a union needs member types');
        this.onlyAllowed(s, ['type']);
        return { ...plain, kind: 'union', members };
      }
      case 'leafref': {
        this.onlyAllowed(s, ['path', 'require-instance']);
        const p = sub(s, 'path') ?? fail(s, 'a leafref needs a path');
        const ri = sub(s, 'require-instance')?.arg ?? 'true';
        if (ri !== 'true' && ri !== 'false') fail(s, `require-instance must be true or false, not '${ri}'`);
        return { ...plain, kind: 'leafref', path: this.leafrefPath(p, scope.mod), requireInstance: ri === 'true' };
      }
    }
    return fail(s, `type ${name} is not supported`);
  }

  private onlyAllowed(s: Statement, kws: string[]): void {
    for (const c of s.children) if (!kws.includes(c.keyword)) fail(c, `'${c.keyword}' does not apply to type ${s.arg}`);
  }

  private enums(s: Statement): { name: string; value: number }[] {
    this.onlyAllowed(s, ['enum']);
    const out: { name: string; value: number }[] = [];
    let next = 0;
    for (const e of subs(s, 'enum')) {
      checkSubstatements(e);
      const name = argOf(e);
      if (name === '' || name.trim() !== name) fail(e, `enum name '${name}' is empty or has leading/trailing white space`);
      const v = sub(e, 'value');
      const value = v ? Number(argOf(v)) : next;
      if (!Number.isSafeInteger(value) || value < -2147483648 || value > 2147483647) fail(e, `enum ${name}: value ${v?.arg ?? value} is not an int32`);
      if (out.some((o) => o.name === name)) fail(e, `enum ${name} appears twice`);
      if (out.some((o) => o.value === value)) fail(e, `enum ${name}: value ${value} is already used`);
      out.push({ name, value });
      next = Math.max(next, value + 1);
    }
    if (!out.length) fail(s, 'an enumeration needs at least one enum');
    return out;
  }

  /** Applies a `type` statement's own restrictions (range, length, pattern) on top of `base`. */
  private restrict(base: YangType, s: Statement, scope: Scope): YangType {
    const range = sub(s, 'range');
    const length = sub(s, 'length');
    const patterns = subs(s, 'pattern');
    const others = s.children.filter((c) => !['range', 'length', 'pattern'].includes(c.keyword));
    if (others.length) fail(others[0]!, `'${others[0]!.keyword}' cannot restrict type ${base.name}`);
    if (base.kind === 'integer') {
      if (length || patterns.length) fail(s, `type ${base.name} is an integer: only range applies`);
      if (!range) return base;
      const last = base.ranges[base.ranges.length - 1];
      const bounds = last ? { min: last[0]!.min, max: last[last.length - 1]!.max } : INTEGER_BOUNDS[base.base];
      return { ...base, ranges: [...base.ranges, this.intervals(range, bounds, last ?? [INTEGER_BOUNDS[base.base]])] };
    }
    if (base.kind === 'string') {
      if (range) fail(range, `type ${base.name} is a string: range does not apply (length does)`);
      let lengths = base.lengths;
      if (length) {
        const last = lengths[lengths.length - 1];
        const bounds = last ? { min: last[0]!.min, max: last[last.length - 1]!.max } : LENGTH_BOUNDS;
        lengths = [...lengths, this.intervals(length, bounds, last ?? [LENGTH_BOUNDS])];
      }
      return { ...base, lengths, patterns: [...base.patterns, ...patterns.map((p) => this.pattern(p, scope))] };
    }
    if (range || length || patterns.length) fail(s, `type ${base.name} cannot be restricted here`);
    return base;
  }

  private pattern(p: Statement, scope: Scope): Pattern {
    checkSubstatements(p);
    const source = argOf(p);
    const modifier = sub(p, 'modifier')?.arg;
    if (modifier !== undefined && modifier !== 'invert-match') fail(p, `unknown pattern modifier '${modifier}'`);
    if (modifier !== undefined && scope.mod.info.yangVersion !== '1.1') fail(p, 'modifier needs yang-version 1.1');
    try {
      return {
        source,
        regex: compileXsdPattern(source),
        invert: modifier === 'invert-match',
        errorMessage: sub(p, 'error-message')?.arg,
        errorAppTag: sub(p, 'error-app-tag')?.arg,
      };
    } catch (e) {
      if (e instanceof XsdPatternError) return fail(p, e.message);
      throw e;
    }
  }

  /** A range or length argument: 'a..b | c | min..max', each part inside the parent's intervals. */
  private intervals(s: Statement, bounds: Interval, parent: readonly Interval[]): Interval[] {
    const bound = (t: string): bigint => {
      if (t === 'min') return bounds.min;
      if (t === 'max') return bounds.max;
      if (!/^[+-]?[0-9]+$/.test(t)) fail(s, `'${t}' in ${s.keyword} '${s.arg}' is not an integer, min or max`);
      return BigInt(t);
    };
    const out = argOf(s).split('|').map((part) => {
      const ends = part.trim().split('..').map((x) => x.trim());
      if (ends.length > 2 || ends.some((x) => x === '')) fail(s, `'${part.trim()}' in ${s.keyword} '${s.arg}' is not 'a' or 'a..b'`);
      const min = bound(ends[0]!);
      const max = ends.length === 2 ? bound(ends[1]!) : min;
      if (max < min) fail(s, `${s.keyword} part '${part.trim()}' is reversed`);
      if (!parent.some((r) => min >= r.min && max <= r.max)) fail(s, `${s.keyword} part '${part.trim()}' is not within the type's ${s.keyword} (${parent.map((r) => `${r.min}..${r.max}`).join(' | ')})`);
      return { min, max };
    });
    for (let i = 1; i < out.length; i++) {
      if (out[i]!.min <= out[i - 1]!.max) fail(s, `${s.keyword} '${s.arg}' is not in ascending, disjoint order`);
    }
    return out;
  }

  // ---- leafrefs ----

  private leafrefPath(s: Statement, m: ModCtx): LeafrefPath {
    try {
      return parseLeafrefPath(argOf(s), (prefix) => this.modByPrefix(m, prefix, s).info.name);
    } catch (e) {
      if (e instanceof LeafrefPathError) return fail(s, e.message);
      throw e;
    }
  }

  /** Sets the leaf's leafref target and value type (following leafrefs to leafrefs), checking the path against the tree. */
  private resolveLeafref(leaf: Mutable<LeafNode> | Mutable<LeafListNode>, chain: LeafLike[]): ValueType {
    if (leaf.valueType) return leaf.valueType;
    const type = leaf.type as LeafrefType;
    if (chain.includes(leaf)) return fail(sourceStmt(leaf), `leafref ${leaf.schemaPath} leads back to itself`);
    const at = sourceStmt(leaf);
    let cur: InnerNode | 'root';
    const path = type.path;
    if (path.absolute) {
      cur = 'root';
    } else {
      cur = leaf.parent ?? 'root';
      for (let k = 1; k < path.up; k++) {
        if (cur === 'root') return fail(at, `leafref path '${path.text}' goes above the data root`);
        cur = cur.parent ?? 'root';
      }
    }
    let target: DataNode | undefined;
    path.steps.forEach((st, k) => {
      if (cur !== 'root' && cur.kind !== 'container' && cur.kind !== 'list') fail(at, `leafref path '${path.text}': '${st.name}' is below a leaf`);
      const next = findChild(this.tree, cur === 'root' ? undefined : cur, st.module, st.name);
      if (!next) fail(at, `leafref path '${path.text}': no node '${st.module}:${st.name}' under ${cur === 'root' ? 'the data root' : cur.schemaPath}`);
      if (st.predicates.length) {
        if (next!.kind !== 'list') fail(at, `leafref path '${path.text}': predicates need a list, '${st.name}' is a ${next!.kind}`);
        for (const pr of st.predicates) this.checkPredicate(leaf, next as ListNode, pr, at, path.text);
      }
      if (k < path.steps.length - 1) {
        if (next!.kind !== 'container' && next!.kind !== 'list') fail(at, `leafref path '${path.text}': '${st.name}' is a ${next!.kind}, not a container or list`);
        cur = next as InnerNode;
      }
      target = next;
    });
    if (!target || (target.kind !== 'leaf' && target.kind !== 'leaf-list')) return fail(at, `leafref path '${path.text}' does not end at a leaf or leaf-list`);
    if (leaf.config && type.requireInstance && !target.config) fail(at, `leafref ${leaf.schemaPath} is config true but its target ${target.schemaPath} is config false`);
    const valueType = target.type.kind === 'leafref' ? this.resolveLeafref(target as Mutable<LeafNode>, [...chain, leaf]) : target.valueType;
    leaf.leafref = { type, target };
    leaf.valueType = valueType;
    return valueType;
  }

  private checkPredicate(leaf: LeafLike, list: ListNode, pr: LeafrefPredicate, at: Statement, text: string): void {
    const key = list.children.find((c) => c.name === pr.key.name && c.module.name === pr.key.module);
    if (!key || key.kind !== 'leaf') fail(at, `leafref path '${text}': list ${list.name} has no leaf '${pr.key.name}'`);
    // current() is the leaf itself; each '..' climbs one level.
    let cur: DataNode | undefined = leaf;
    for (let k = 0; k < pr.up; k++) cur = cur?.parent;
    if (!cur) return fail(at, `leafref path '${text}': current()/.. goes above the data root`);
    let node: DataNode = cur;
    for (const d of pr.down) {
      const next = node.kind === 'container' || node.kind === 'list' ? node.children.find((c) => c.name === d.name && c.module.name === d.module) : undefined;
      if (!next) return fail(at, `leafref path '${text}': no '${d.name}' under ${node.schemaPath}`);
      node = next;
    }
    if (node.kind !== 'leaf') fail(at, `leafref path '${text}': current()/... must end at a leaf, ${node.schemaPath} is a ${node.kind}`);
  }

  private checkDefaults(p: PendingLeaf): void {
    const leaf = p.leaf;
    const values = leaf.kind === 'leaf' ? (leaf.default === undefined ? [] : [leaf.default]) : leaf.defaults;
    values.forEach((v, k) => {
      const r = fromLexical(leaf.valueType, v);
      if (!r.ok) fail(p.defaultStmts[k] ?? sourceStmt(leaf), `default of ${leaf.schemaPath}: ${r.problem}`);
    });
  }
}

/** A stand-in statement locating a node in its source, for errors raised after building. */
function sourceStmt(n: DataNode): Statement {
  return { keyword: n.kind, arg: n.name, children: [], loc: n.loc };
}

/** Builds the schema tree of a set of modules (every import must be among them). */
export function buildSchema(sources: readonly ModuleSource[]): SchemaTree {
  return new Builder(sources).build();
}
