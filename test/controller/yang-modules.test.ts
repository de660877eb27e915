/**
 * esfc's YANG modules: pyang --strict accepts them (CI's check: pyang must be
 * installed, so a missing pyang fails here instead of skipping), our parser
 * reads the same tree pyang does, and the typedefs from the IETF modules
 * behave as their patterns and ranges say.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  describeType, fromJson, fromLexical, loadSchema, memberName, modulesDir, type DataNode, type LeafNode, type ListNode, type SchemaTree,
} from '../../controller/yang/index.js';

/** Where scripts/setup.sh installs pyang (a venv, so Debian's python stays untouched). */
const SETUP_PYANG = '/var/cache/esfc-tools/venv/bin/pyang';
const SETUP_HINT = `pyang 2.7.1 is required (CI runs pyang --strict on controller/yang/modules). Install it with scripts/setup.sh, i.e.
  /usr/bin/python3 -m venv /var/cache/esfc-tools/venv && /var/cache/esfc-tools/venv/bin/pip install pyang==2.7.1
or point ESFC_PYANG at a pyang binary.`;

const isExecutable = (p: string): boolean => {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** ESFC_PYANG, else pyang on PATH, else the venv scripts/setup.sh makes. */
function findPyang(): string {
  const env = process.env.ESFC_PYANG;
  if (env) {
    assert.ok(isExecutable(env), `ESFC_PYANG=${env} is not an executable file. ${SETUP_HINT}`);
    return env;
  }
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    if (isExecutable(join(dir, 'pyang'))) return join(dir, 'pyang');
  }
  if (isExecutable(SETUP_PYANG)) return SETUP_PYANG;
  assert.fail(`pyang not found (not in ESFC_PYANG, PATH or ${SETUP_PYANG}). ${SETUP_HINT}`);
}

const dir = modulesDir();
const yangFiles = (): string[] => readdirSync(dir).filter((f) => f.endsWith('.yang')).sort().map((f) => join(dir, f));

test('the modules directory is found from dist/controller/yang and holds our modules and the IETF ones they import', () => {
  const repo = fileURLToPath(new URL('../../../', import.meta.url));
  assert.equal(dir, join(repo, 'controller/yang/modules/'));
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.yang')).sort(), ['esfc-intent.yang', 'esfc-state.yang', 'ietf-inet-types.yang', 'ietf-yang-types.yang']);
});

test('pyang --strict compiles every module with no error and no warning', () => {
  const pyang = findPyang();
  const version = spawnSync(pyang, ['--version'], { encoding: 'utf8' });
  assert.equal(version.status, 0, `${pyang} --version failed: ${version.stderr}`);
  const r = spawnSync(pyang, ['--strict', '-p', dir, ...yangFiles()], { encoding: 'utf8' });
  assert.equal(r.error, undefined, `${pyang} did not run: ${r.error?.message}`);
  assert.equal(`${r.stdout}${r.stderr}`, '', `${version.stdout.trim()} --strict reported:\n${r.stdout}${r.stderr}`);
  assert.equal(r.status, 0);
});

/**
 * One line of `pyang -f tree`, reduced to what both sides know: depth, access (rw/ro for data; in the rpcs
 * section x for an rpc, w for its input, ro for its output), name, flags, keys, type.
 */
type Access = 'rw' | 'ro' | 'x' | 'w';
interface TreeLine { depth: number; access: Access; name: string; flag: string; keys: string; type: string }

/** The data nodes and the rpcs section of pyang's tree, each with depth 0 at its top level. */
function pyangTree(pyang: string, module: string): { data: TreeLine[]; rpcs: TreeLine[] } {
  const r = spawnSync(pyang, ['-f', 'tree', '--tree-line-length', '250', '-p', dir, join(dir, `${module}.yang`)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = { data: [] as TreeLine[], rpcs: [] as TreeLine[] };
  let section: TreeLine[] = out.data;
  // Data lines are indented by 2 before the first '+', the rpcs section's by 4.
  let indent = 2;
  for (const line of r.stdout.split('\n')) {
    if (/^ {2}rpcs:$/.test(line)) {
      section = out.rpcs;
      indent = 4;
      continue;
    }
    assert.ok(!/^ {2}[a-z-]+:$/.test(line), `a tree section this test does not compare: ${line}`);
    const m = /^([ |]*)\+--(rw|ro|-x|-w) ([A-Za-z0-9_.-]+)([*!?]?)(?: \[([^\]]*)\])?\s*(.*)$/.exec(line);
    if (!m) continue;
    section.push({ depth: (m[1]!.length - indent) / 3, access: m[2]!.replace('-', '') as Access, name: m[3]!, flag: m[4]!, keys: m[5] ?? '', type: m[6]!.trim() });
  }
  return out;
}

function ourTree(tree: SchemaTree, module: string): { data: TreeLine[]; rpcs: TreeLine[] } {
  const out: TreeLine[] = [];
  const visit = (n: DataNode, depth: number, access?: Access): void => {
    let flag = '';
    let keys = '';
    let type = '';
    if (n.kind === 'container') flag = n.presence ? '!' : '';
    if (n.kind === 'list') {
      flag = '*';
      keys = n.keys.map((k) => k.name).join(' ');
    }
    if (n.kind === 'leaf' || n.kind === 'leaf-list') {
      if (n.kind === 'leaf-list') flag = '*';
      else if (!n.mandatory && !n.isKey) flag = '?';
      // pyang writes typedefs of the module itself without prefix and a plain leafref as '-> path'.
      type = n.type.kind === 'leafref' && n.type.name === 'leafref' ? '->' : n.type.name.replace(new RegExp(`^${n.module.prefix}:`), '');
    }
    out.push({ depth, access: access ?? (n.config ? 'rw' : 'ro'), name: n.name, flag, keys, type });
    if (n.kind === 'container' || n.kind === 'list') for (const c of n.children) visit(c, depth + 1, access);
  };
  for (const r of tree.roots.filter((r) => r.module.name === module)) visit(r, 0);
  const data = out.splice(0);
  for (const op of tree.operations.filter((o) => o.module.name === module)) {
    out.push({ depth: 0, access: 'x', name: op.name, flag: '', keys: '', type: '' });
    for (const [io, access] of [[op.input, 'w'], [op.output, 'ro']] as const) {
      if (!io) continue;
      out.push({ depth: 1, access, name: access === 'w' ? 'input' : 'output', flag: '', keys: '', type: '' });
      for (const c of io.children) visit(c, 2, access);
    }
  }
  return { data, rpcs: out };
}

test('our parser reads the same tree as pyang: nesting, config, optional/mandatory, keys, types', () => {
  const pyang = findPyang();
  const tree = loadSchema();
  for (const module of ['esfc-intent', 'esfc-state']) {
    const t = pyangTree(pyang, module);
    const plain = (lines: TreeLine[]): TreeLine[] => lines.map((l) => ({ ...l, type: l.type.startsWith('->') ? '->' : l.type }));
    assert.ok(t.data.length > 20, `pyang printed a tree for ${module}`);
    const ours = ourTree(tree, module);
    assert.deepEqual(ours.data, plain(t.data));
    assert.deepEqual(ours.rpcs, plain(t.rpcs));
    if (module === 'esfc-intent') assert.ok(t.rpcs.length >= 7, 'pyang printed the rpcs');
  }
});

const walk = (tree: SchemaTree): DataNode[] => {
  const all: DataNode[] = [];
  const visit = (n: DataNode): void => {
    all.push(n);
    if (n.kind === 'container' || n.kind === 'list') n.children.forEach(visit);
  };
  tree.roots.forEach(visit);
  return all;
};

const byPath = (tree: SchemaTree, path: string): DataNode => {
  const n = walk(tree).find((x) => x.schemaPath === path);
  assert.ok(n, `no schema node ${path}`);
  return n;
};

test('the parser reads every module: modules, node counts, keys, defaults, mandatory leaves', () => {
  const tree = loadSchema();
  assert.deepEqual(tree.modules.map((m) => [m.name, m.prefix, m.namespace, m.revision, m.yangVersion]), [
    ['esfc-intent', 'esfc', 'urn:esfc:yang:esfc-intent', '2026-12-03', '1.1'],
    ['esfc-state', 'esfc-st', 'urn:esfc:yang:esfc-state', '2026-12-03', '1.1'],
    ['ietf-inet-types', 'inet', 'urn:ietf:params:xml:ns:yang:ietf-inet-types', '2013-07-15', '1'],
    ['ietf-yang-types', 'yang', 'urn:ietf:params:xml:ns:yang:ietf-yang-types', '2013-07-15', '1'],
  ]);
  assert.deepEqual([...tree.modules[1]!.imports], [['yang', 'ietf-yang-types'], ['esfc', 'esfc-intent']]);
  assert.ok(tree.modules[2]!.source.startsWith('module ietf-inet-types {'), 'the YANG library can serve the text');
  assert.deepEqual(tree.roots.map(memberName), [
    'esfc-intent:domains', 'esfc-intent:nodes', 'esfc-intent:service-functions', 'esfc-intent:chains', 'esfc-intent:flows', 'esfc-intent:signing-keys', 'esfc-state:nodes-state',
    'esfc-state:keys-state',
  ]);

  const count = (module: string, kind: DataNode['kind']): number => walk(tree).filter((n) => n.module.name === module && n.kind === kind).length;
  assert.deepEqual(['container', 'list', 'leaf', 'leaf-list'].map((k) => count('esfc-intent', k as DataNode['kind'])), [12, 10, 61, 2]);
  assert.deepEqual(['container', 'list', 'leaf', 'leaf-list'].map((k) => count('esfc-state', k as DataNode['kind'])), [4, 8, 44, 0]);
  assert.ok(walk(tree).filter((n) => n.module.name === 'esfc-state').every((n) => !n.config), 'esfc-state is all config false');
  assert.ok(walk(tree).filter((n) => n.module.name === 'esfc-intent').every((n) => n.config), 'esfc-intent is all config true');

  const keysOf = (p: string): string[] => (byPath(tree, p) as ListNode).keys.map((k) => k.name);
  assert.deepEqual(keysOf('/esfc-intent:nodes/node/port'), ['name']);
  assert.deepEqual(keysOf('/esfc-state:nodes-state/node/counter'), ['port', 'stat']);
  assert.deepEqual(keysOf('/esfc-state:nodes-state/node/encryption-function/sa'), ['spi', 'direction']);
  assert.deepEqual(keysOf('/esfc-state:keys-state/pair'), ['e-spi']);
  assert.deepEqual(keysOf('/esfc-state:keys-state/pair/generation'), ['spi']);

  const leaf = (p: string): LeafNode => byPath(tree, p) as LeafNode;
  assert.equal(leaf('/esfc-intent:nodes/node/nsh-ttl').default, '63');
  assert.equal(leaf('/esfc-intent:nodes/node/md3-type').default, '3');
  assert.equal(leaf('/esfc-intent:nodes/node/port/hook').default, 'auto');
  assert.equal(leaf('/esfc-intent:nodes/node/port/forward-oam').default, 'false');
  assert.equal(leaf('/esfc-intent:flows/flow/sensitive').default, 'true');
  assert.equal(leaf('/esfc-intent:flows/flow/bidirectional').default, 'true');
  assert.equal(leaf('/esfc-intent:domains/domain/trust').mandatory, true);
  assert.equal(leaf('/esfc-intent:nodes/node/underlay/address').mandatory, true);
  assert.equal(leaf('/esfc-intent:nodes/node/underlay/mac').mandatory, false);
  assert.equal(leaf('/esfc-intent:flows/flow/match/destination-ports/from').mandatory, true);
  assert.equal((byPath(tree, '/esfc-intent:flows/flow/match/destination-ports') as { presence: boolean }).presence, true);

  // The one rpc: its parameters are container children named after it, not configuration, leafrefs resolved into the data.
  assert.deepEqual(tree.operations.map((o) => [o.module.name, o.name, o.schemaPath]), [['esfc-intent', 'rekey', '/esfc-intent:rekey']]);
  const rekey = tree.operations[0]!;
  assert.deepEqual(rekey.input?.children.map((c) => [c.kind, c.name, c.schemaPath, c.config]), [
    ['leaf', 'chain', '/esfc-intent:rekey/input/chain', false], ['leaf', 'flow', '/esfc-intent:rekey/input/flow', false],
  ]);
  assert.deepEqual(rekey.input?.children.map((c) => (c as LeafNode).leafref?.target.schemaPath), ['/esfc-intent:chains/chain/name', '/esfc-intent:flows/flow/name']);
  assert.deepEqual(rekey.output?.children.map((c) => [c.kind, c.name, (c as LeafNode).valueType.name]), [['leaf', 'pairs', 'uint32'], ['leaf-list', 'e-spi', 'uint32']]);

  const chainSfs = byPath(tree, '/esfc-intent:chains/chain/service-function');
  assert.ok(chainSfs.kind === 'leaf-list' && chainSfs.orderedBy === 'user' && chainSfs.minElements === 1);
  // Leafrefs resolve to their targets and take their types.
  const port = leaf('/esfc-intent:service-functions/service-function/ingress-port');
  assert.equal(port.leafref?.target.schemaPath, '/esfc-intent:nodes/node/port/name');
  assert.deepEqual(port.leafref?.type.path.steps[1]?.predicates[0], { key: { module: 'esfc-intent', name: 'name' }, up: 1, down: [{ module: 'esfc-intent', name: 'node' }] });
  assert.equal(port.valueType.name, 'esfc:name');
  assert.equal(leaf('/esfc-intent:nodes/node/encryption-function/port').leafref?.type.path.up, 2);
  assert.equal(leaf('/esfc-intent:flows/flow/ingress/node').type.name, 'esfc:node-ref');

  // Types across modules, with their restrictions.
  assert.equal(describeType(leaf('/esfc-intent:nodes/node/nsh-ttl').valueType), 'uint8 in 2..63');
  assert.equal(describeType(leaf('/esfc-intent:flows/flow/match/source-ports/from').valueType), 'inet:port-number (uint16 in 0..65535)');
  assert.equal(describeType(leaf('/esfc-intent:flows/flow/match/protocol').valueType), 'one of tcp, udp, icmp or uint8');
  assert.equal(describeType(leaf('/esfc-intent:domains/domain/name').valueType), "esfc:name (a string of 1..63 characters, matching '[a-z0-9][a-z0-9-]{0,62}')");
  assert.equal(leaf('/esfc-intent:nodes/node/underlay/address').valueType.name, 'inet:ipv4-address-no-zone');
  const addr = leaf('/esfc-intent:nodes/node/underlay/address').valueType;
  assert.ok(addr.kind === 'string' && addr.patterns.length === 2, 'no-zone keeps ipv4-address\'s pattern and adds its own');
  assert.equal(leaf('/esfc-state:nodes-state/node/last-report').valueType.name, 'yang:date-and-time');
  assert.equal(leaf('/esfc-state:nodes-state/node/desired-generation').valueType.name, 'uint64');
  assert.equal(describeType(leaf('/esfc-intent:chains/chain/rekey-interval').valueType), 'uint32 in 1..4294967295');
  assert.equal(leaf('/esfc-intent:chains/chain/rekey-interval').default, undefined, 'absent means the global interval');
  const proto = leaf('/esfc-intent:flows/flow/match/protocol').valueType;
  assert.ok(proto.kind === 'union' && proto.members[0]!.kind === 'enumeration');
  assert.deepEqual(proto.members[0]!.kind === 'enumeration' && proto.members[0]!.enums, [{ name: 'tcp', value: 6 }, { name: 'udp', value: 17 }, { name: 'icmp', value: 1 }]);
});

test('IETF typedefs resolve with their patterns and ranges', () => {
  const tree = loadSchema();
  const t = (p: string) => (byPath(tree, p) as LeafNode).valueType;
  const accepts = (p: string, v: unknown): boolean => fromJson(t(p), v).ok;
  const addr = '/esfc-intent:nodes/node/underlay/address';
  assert.ok(accepts(addr, '10.250.0.1'));
  assert.ok(!accepts(addr, '10.250.0.256'));
  assert.ok(!accepts(addr, '10.250.0.1%eth0'), 'ipv4-address-no-zone refuses a zone');
  assert.ok(!accepts(addr, ' 10.250.0.1'), 'patterns match the whole value');
  const prefix = '/esfc-intent:flows/flow/match/source-prefix';
  assert.ok(accepts(prefix, '172.16.1.0/24'));
  assert.ok(!accepts(prefix, '172.16.1.0/33'));
  assert.ok(!accepts(prefix, '172.16.1.0'));
  const mac = '/esfc-intent:nodes/node/port/peer-mac';
  assert.ok(accepts(mac, '02:00:00:00:0c:01'));
  assert.ok(accepts(mac, '02:00:00:00:0C:01'));
  assert.ok(!accepts(mac, '02:00:00:00:0c'));
  const port = '/esfc-intent:flows/flow/match/destination-ports/to';
  assert.ok(accepts(port, 65535));
  assert.ok(!accepts(port, 65536));
  assert.ok(!accepts(port, '443'), 'a uint16 is a JSON number');
  const when = '/esfc-state:nodes-state/node/last-report';
  assert.ok(accepts(when, '2026-12-03T13:37:00Z'));
  assert.ok(accepts(when, '2026-12-03T13:37:00.25+01:00'));
  assert.ok(!accepts(when, '2026-12-03 13:37:00'));
  // Every other typedef of the IETF modules compiled too (build-schema compiles all, used or not).
  assert.ok(fromLexical(t('/esfc-intent:nodes/node/nsh-ttl'), '63').ok);
  assert.ok(existsSync(join(dir, 'ietf-yang-types.yang')));
});
