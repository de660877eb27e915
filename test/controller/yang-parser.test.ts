/**
 * The pieces under the schema: YANG's string syntax (RFC 7950 6.1), XSD
 * patterns as JS regexes (RFC 7950 9.4.5), and the schema builder's rules,
 * on small modules written here. Anything outside the supported subset is
 * refused with file and line, never ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildSchema, compileXsdPattern, decode, decodeInput, encodeOutput, fromLexical, parseStatements, validateParameterReferences, XsdPatternError,
  YangEncodeError, YangSchemaError, YangSyntaxError, type LeafNode, type ModuleSource, type SchemaTree,
} from '../../controller/yang/index.js';

const argOf = (text: string, keyword: string): string | undefined => {
  const m = parseStatements(text, 't.yang');
  const find = (s: typeof m): string | undefined => (s.keyword === keyword ? s.arg : s.children.map(find).find((x) => x !== undefined));
  return find(m);
};

test('statement syntax: quoting, concatenation, escapes, comments, layout stripping', () => {
  assert.equal(argOf("module m { pattern '[a-z]+\\d'; }", 'pattern'), '[a-z]+\\d', 'single quotes are literal');
  assert.equal(argOf('module m { pattern [a-z]+; }', 'pattern'), '[a-z]+', "an unquoted '+' is text");
  assert.equal(argOf(`module m { pattern '(a|b)'\n    + "c"\n    + 'd'; }`, 'pattern'), '(a|b)cd');
  assert.equal(argOf('module m { description "tab\\there \\"q\\" back\\\\slash\\nline"; }', 'description'), 'tab\there "q" back\\slash\nline');
  assert.equal(argOf('module m { // comment\n  /* block\n comment */ leaf x; }', 'leaf'), 'x');
  assert.equal(argOf('module m { leaf x/*c*/; }', 'leaf'), 'x');
  // RFC 7950 6.1.3: indentation up to the opening quote's column and trailing blanks go; the text's own indentation stays.
  const text = 'module m {\n  description\n    "first line   \n     second\n       indented\n\tafter a tab";\n}';
  assert.equal(argOf(text, 'description'), 'first line\nsecond\n  indented\n   after a tab', 'a tab is 8 columns: 3 are left past the quote');
  const m = parseStatements('module m {\n  container c {\n    presence "p";\n  }\n}\n', 'm.yang');
  assert.deepEqual([m.children[0]!.keyword, m.children[0]!.arg, m.children[0]!.loc], ['container', 'c', { file: 'm.yang', line: 2, column: 3 }]);
  assert.equal(parseStatements('\uFEFFmodule m;', 'bom.yang').keyword, 'module');
});

test('statement syntax errors name file, line and column', () => {
  const cases: [string, string][] = [
    ['module m {\n  leaf x {\n', "m.yang:3:1: 'leaf' at line 2 is not closed with '}'"],
    ['module m {\n  leaf "x\n}', 'm.yang:2:8: unterminated double-quoted string'],
    ['module m {\n  description "bad \\d escape";\n}', "m.yang:2:20: invalid escape '\\d' in a double-quoted string (YANG 1.1 allows \\n \\t \\\" \\\\)"],
    ['module m {\n  leaf x\n}', "m.yang:3:1: expected ';' or '{' after 'leaf x', found '}'"],
    ["module m {\n  pattern 'a' + ;\n}", "m.yang:2:17: expected a quoted string after '+', found ';'"],
    ['module m { } leaf x;', 'm.yang:1:14: text after the end of the module: \'leaf\''],
    ['module m { /* open', 'm.yang:1:12: unterminated /* comment'],
    ['module m {\n  leaf x\u0000;\n}', 'm.yang:2:9: NUL character in the module text'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseStatements(text, 'm.yang'), (e: unknown) => e instanceof YangSyntaxError && e.message === message, message);
  }
});

test('XSD patterns: whole-value match, literal ^ and $, Unicode \\d and \\p, class subtraction, . without newlines', () => {
  const re = (p: string): RegExp => compileXsdPattern(p);
  assert.ok(re('[a-z]+').test('abc') && !re('[a-z]+').test('abc1') && !re('[a-z]+').test('1abc'));
  assert.ok(re('a^b$').test('a^b$'), '^ and $ are ordinary characters in XSD');
  assert.ok(re('\\d{2}').test('42') && re('\\d{2}').test('\u0663\u0664'), '\\d is any Unicode decimal digit');
  assert.ok(re('[a-z-[aeiou]]+').test('bcd') && !re('[a-z-[aeiou]]+').test('bad'));
  assert.ok(re('.').test('x') && !re('.').test('\n'));
  assert.ok(re('[\\p{N}\\p{L}]+').test('eth0\u00e9'));
  assert.ok(re('[\\-+]').test('-') && re('[\\-+]').test('+') && re('[-a]').test('-'));
  assert.ok(re('\\s').test(' ') && !re('\\s').test('\u00a0'), '\\s is XSD white space only');
  assert.ok(re('x{2,}').test('xxx') && !re('x{2,}').test('x'));
  assert.ok(re('/|\\.').test('/') && re('/|\\.').test('.') && !re('/|\\.').test('x'));
  for (const bad of ['\\i', '\\p{IsBasicLatin}', 'a{2,1}', '[z-a]', '(', 'a]', '[a', 'x{', '\\q']) {
    assert.throws(() => compileXsdPattern(bad), XsdPatternError, bad);
  }
});

const mod = (name: string, body: string, extra = ''): ModuleSource => ({
  file: `/m/${name}.yang`,
  text: `module ${name} {\n  yang-version 1.1;\n  namespace "urn:t:${name}";\n  prefix ${name};\n${extra}${body}\n}\n`,
});

const build = (...mods: ModuleSource[]): SchemaTree => buildSchema(mods);

test('schema builder: typedef chains narrow, groupings across modules, enums numbered, defaults typed', () => {
  const types = mod('types', `
  typedef small { type uint8 { range "1..100"; } default "10"; }
  typedef id { type string { length "1..8"; pattern '[a-z]+'; } }
  grouping named { leaf name { type id; } leaf size { type small { range "2..50"; } } }`);
  const app = mod('app', `
  container box {
    uses t:named;
    leaf colour { type enumeration { enum red; enum green { value 5; } enum blue; } }
    leaf shade { type t:id { pattern '.*e.*' { modifier invert-match; } } }
  }`, '  import types { prefix t; }\n');
  const tree = build(types, app);
  const box = tree.roots[0]!;
  assert.ok(box.kind === 'container');
  assert.deepEqual(box.children.map((c) => [c.name, c.module.name]), [['name', 'app'], ['size', 'app'], ['colour', 'app'], ['shade', 'app']]);
  const size = box.children[1] as LeafNode;
  assert.equal(size.default, '10', "the typedef's default");
  assert.deepEqual(fromLexical(size.valueType, '50'), { ok: true, value: 50 });
  assert.deepEqual(fromLexical(size.valueType, '51'), { ok: false, problem: '51 is out of range for types:small (uint8 in 2..50)' });
  const colour = (box.children[2] as LeafNode).valueType;
  assert.deepEqual(colour.kind === 'enumeration' && colour.enums, [{ name: 'red', value: 0 }, { name: 'green', value: 5 }, { name: 'blue', value: 6 }]);
  const shade = (box.children[3] as LeafNode).valueType;
  assert.ok(fromLexical(shade, 'dark').ok);
  assert.deepEqual(fromLexical(shade, 'red'), { ok: false, problem: `"red" is not a valid types:id: it matches the pattern '.*e.*'` });
  assert.ok(!fromLexical(shade, 'abcdefghi').ok, 'length from the typedef still applies');
  assert.ok(decode(tree, { 'app:box': { name: 'x', size: 2 } }).ok);
});

test('schema builder refuses what it does not support or what is wrong, with file and line', () => {
  const cases: [ModuleSource[], RegExp][] = [
    [[mod('a', '  container c { must "x"; }')], /\/m\/a\.yang:5:17: 'must' under 'container' is not supported by controller\/yang/],
    [[mod('a', '  choice c { leaf x { type string; } }')], /'choice' under 'module' is not supported/],
    [[mod('a', '  leaf x { type uint8 { range "2..63"; } default "64"; }')], /\/m\/a\.yang:5:42: default of \/a:x: 64 is out of range for uint8 in 2\.\.63/],
    [[mod('a', '  leaf x { type uint8 { range "0..300"; } }')], /range part '0\.\.300' is not within the type's range \(0\.\.255\)/],
    [[mod('a', '  leaf x { type leafref { path "/a:nowhere"; } }')], /leafref path '\/a:nowhere': no node 'a:nowhere' under the data root/],
    [[mod('a', '  leaf x { type leafref { path "a:y"; } } leaf y { type string; }')], /leafref path 'a:y': it must start with '\/' or '\.\.\/'/],
    [[mod('a', '  leaf x { type leafref { path "/a:l[a:k = ../a:y]/a:k"; } } leaf y { type string; } list l { key k; leaf k { type string; } }')], /leafref path '\/a:l\[a:k = \.\.\/a:y\]\/a:k': expected 'current\(\)' at offset 11/],
    [[mod('a', '  leaf x { type leafref { path "/z:y"; } } leaf y { type string; }')], /unknown prefix 'z' in module a/],
    [[mod('a', '  leaf x { type q:thing; }', '  import q { prefix q; }\n')], /module a imports q, which is not loaded/],
    [[mod('a', '  container c { config false; leaf x { type string; config true; } }')], /'x' is config true under a config false node/],
    [[mod('a', '  list l { key "k"; leaf x { type string; } }')], /key 'k' of list l is not one of its leaves/],
    [[mod('a', '  list l { leaf x { type string; } }')], /list l has no key/],
    [[mod('a', '  leaf x { type decimal64 { fraction-digits 2; } }')], /type decimal64 is not supported/],
    [[mod('a', '  leaf x { type union { type leafref { path "/a:y"; } type string; } } leaf y { type string; }')], /a leafref inside a union is not supported/],
    [[mod('a', '  leaf x { type string { pattern \'\\i+\'; } }')], /pattern '\\i\+' at offset 0: \\i \(XML name characters\) is not supported/],
    [[mod('a', '  leaf x { type string; mandatory true; default "a"; }')], /leaf x is mandatory and has a default/],
    [[mod('a', '  leaf x { type string; } leaf x { type string; }')], /\/m\/a\.yang:5:27: a second data node named 'x'/],
    [[mod('a', '  leaf x { type nosuch; }')], /no typedef 'nosuch' in scope/],
    [[mod('a', '  typedef t { type uint8 { range "1..9"; } default "0"; }')], /\/m\/a\.yang:5:44: default of typedef t: 0 is out of range for a:t \(uint8 in 1\.\.9\)/],
  ];
  for (const [mods, message] of cases) {
    assert.throws(() => build(...mods), (e: unknown) => e instanceof YangSchemaError && message.test(e.message), String(message));
  }
  assert.throws(() => build({ file: '/m/s.yang', text: 'submodule s { belongs-to a { prefix a; } }' }), /submodules are not supported/);
});

const ops = mod('ops', `
  container things { list thing { key name; leaf name { type string; } } }
  grouping window { leaf from { type uint8; } leaf to { type uint8; } }
  rpc start {
    description "Starts things.";
    typedef level { type uint8 { range "1..3"; } }
    input {
      leaf thing { type leafref { path "/ops:things/ops:thing/ops:name"; } mandatory true; }
      leaf also { type leafref { path "../thing"; } }
      leaf level { type level; default "2"; }
      leaf-list tag { type string; config true; }
      container when { uses window; }
      list step { key id; leaf id { type uint16; } leaf wait { type uint32; } }
    }
    output {
      leaf count { type uint64; }
      leaf-list ids { type uint32; }
      leaf done { type empty; }
    }
  }
  rpc ping;`);

test('rpc: input and output hold data definitions (uses, typedefs in the rpc, config ignored), named and located like data', () => {
  const tree = build(ops);
  assert.deepEqual(tree.roots.map((r) => r.name), ['things'], 'rpcs are not data');
  assert.deepEqual(tree.operations.map((o) => [o.name, o.schemaPath, o.description, o.input === undefined, o.output === undefined]), [
    ['start', '/ops:start', 'Starts things.', false, false], ['ping', '/ops:ping', undefined, true, true],
  ]);
  const start = tree.operations[0]!;
  assert.deepEqual(start.loc, { file: '/m/ops.yang', line: 8, column: 3 });
  const input = start.input!;
  assert.deepEqual([input.kind, input.name, input.schemaPath, input.parent, input.config, input.presence], ['container', 'start', '/ops:start/input', undefined, false, false]);
  assert.deepEqual(input.children.map((c) => [c.kind, c.name, c.schemaPath, c.config]), [
    ['leaf', 'thing', '/ops:start/input/thing', false], ['leaf', 'also', '/ops:start/input/also', false], ['leaf', 'level', '/ops:start/input/level', false],
    ['leaf-list', 'tag', '/ops:start/input/tag', false], ['container', 'when', '/ops:start/input/when', false], ['list', 'step', '/ops:start/input/step', false],
  ]);
  const [thing, also, level] = input.children as LeafNode[];
  assert.equal(thing!.mandatory, true);
  assert.equal(thing!.leafref?.target.schemaPath, '/ops:things/thing/name');
  assert.equal(also!.leafref?.target, thing, "'..' from a parameter reaches its sibling parameters");
  assert.equal(level!.valueType.name, 'ops:level', "the rpc's own typedef");
  assert.deepEqual(start.output!.children.map((c) => [c.name, c.schemaPath, (c as LeafNode).valueType.name]), [
    ['count', '/ops:start/output/count', 'uint64'], ['ids', '/ops:start/output/ids', 'uint32'], ['done', '/ops:start/output/done', 'empty'],
  ]);
});

test('rpc input decodes like data (defaults filled, errors with the path below the operation); leafrefs against a datastore; output encodes per RFC 7951', () => {
  const tree = build(ops);
  const start = tree.operations[0]!;
  const d = decodeInput(tree, start, { 'ops:input': { thing: 'a', tag: ['x', 'x'], when: { from: 1 }, step: [{ id: 1, wait: 5 }] } });
  assert.deepEqual(d, { ok: true, value: { thing: 'a', level: 2, tag: ['x', 'x'], when: { from: 1 }, step: [{ id: 1, wait: 5 }] } }, 'level defaults; a parameter leaf-list may repeat');
  const bad = decodeInput(tree, start, { 'ops:input': { thing: 7, colour: 'red', level: 4, step: [{ wait: 1 }] } });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors.map((e) => [e.type, e.tag, e.path]), [
    ['application', 'invalid-value', '/ops:start/thing'],
    ['application', 'unknown-element', '/ops:start'],
    ['application', 'invalid-value', '/ops:start/level'],
    ['application', 'missing-element', '/ops:start/step'],
  ]);
  assert.match(bad.errors[1]!.message, /no "colour" in \/ops:start; expected one of: thing, also, level, tag, when, step/);
  const missing = decodeInput(tree, start, undefined);
  assert.ok(!missing.ok && missing.errors[0]!.tag === 'missing-element' && /mandatory leaf 'thing'/.test(missing.errors[0]!.message), 'no body: a mandatory parameter is missing');
  for (const body of [{ input: {} }, { 'ops:input': {}, 'ops:output': {} }, { 'ops:input': [] }, []]) {
    const r = decodeInput(tree, start, body);
    assert.ok(!r.ok && r.errors[0]!.tag === 'malformed-message' && r.errors[0]!.type === 'rpc', JSON.stringify(body));
  }
  assert.deepEqual(decodeInput(tree, tree.operations[1]!, undefined), { ok: true, value: {} });
  assert.ok(!decodeInput(tree, tree.operations[1]!, { 'ops:input': {} }).ok, 'an rpc without input takes no body');

  const data = { 'ops:things': { thing: [{ name: 'a' }] } };
  assert.deepEqual(validateParameterReferences(tree, start.input!, { thing: 'a', also: 'a' }, data), []);
  const refs = validateParameterReferences(tree, start.input!, { thing: 'b', also: 'a' }, data);
  assert.deepEqual(refs.map((e) => [e.type, e.tag, e.appTag, e.path]), [
    ['application', 'invalid-value', 'instance-required', '/ops:start/thing'], ['application', 'invalid-value', 'instance-required', '/ops:start/also'],
  ]);
  assert.match(refs[0]!.message, /thing "b" does not exist: it must be one of \/ops:things\/thing\/name \(existing: a\)/);

  assert.deepEqual(encodeOutput(tree, start, { count: 2n ** 60n, ids: [1, 2], done: null }), { 'ops:output': { count: '1152921504606846976', ids: [1, 2], done: [null] } });
  assert.deepEqual(encodeOutput(tree, start, { ids: [3], count: 1 }), { 'ops:output': { count: '1', ids: [3] } }, 'schema order; number or bigint for uint64');
  assert.throws(() => encodeOutput(tree, start, { count: -1 }), (e: unknown) => e instanceof YangEncodeError && /\/ops:start\/count/.test(e.message));
  assert.throws(() => encodeOutput(tree, start, { extra: 1 }), YangEncodeError);
  assert.throws(() => encodeOutput(tree, tree.operations[1]!, {}), /the rpc has no output/);
});

test('rpc: what the builder does not support or what is wrong is refused with file and line', () => {
  const cases: [string, RegExp][] = [
    ['  rpc r { input { must "x"; } }', /\/m\/a\.yang:5:19: 'must' under 'input' is not supported by controller\/yang/],
    ['  rpc r { input { leaf x { type string; } } input { leaf y { type string; } } }', /\/m\/a\.yang:5:45: rpc r has a second 'input'/],
    ['  rpc r { output x { leaf y { type string; } } }', /\/m\/a\.yang:5:11: 'output' takes no argument/],
    ['  rpc r { if-feature f; }', /'if-feature' under 'rpc' is not supported/],
    ['  rpc r { input { leaf x { type string; } leaf x { type string; } } }', /a second data node named 'x'/],
    ['  container r; rpc r;', /\/m\/a\.yang:5:16: rpc r: module a already has a top-level data node named 'r'/],
    ['  rpc r; rpc r;', /\/m\/a\.yang:5:10: a second rpc named 'r' in module a/],
    ['  rpc r { input { leaf x { type leafref { path "../nowhere"; } } } }', /leafref path '\.\.\/nowhere': no node 'a:nowhere' under \/a:r\/input/],
    ['  container c { action go; }', /'action' under 'container' is not supported/],
    ['  notification n;', /'notification' under 'module' is not supported/],
  ];
  for (const [body, message] of cases) {
    assert.throws(() => build(mod('a', body)), (e: unknown) => e instanceof YangSchemaError && message.test(e.message), String(message));
  }
});
