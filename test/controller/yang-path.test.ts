/**
 * RESTCONF data resource paths (RFC 8040 3.5.3) against esfc's schema:
 * keys (one or several, percent-encoded), leaf-list values, the datastore
 * resource; and the paths refused, each with its tag and where it stopped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  instanceIdentifier, loadSchema, parseResourcePath, resourcePath, targetKind, targetNode, type ResourceTarget, type RestconfError,
} from '../../controller/yang/index.js';

const tree = loadSchema();

function parsed(path: string): ResourceTarget {
  const r = parseResourcePath(tree, path);
  if (!r.ok) assert.fail(`${path} refused: ${JSON.stringify(r.errors)}`);
  return r.target;
}

function refused(path: string): RestconfError {
  const r = parseResourcePath(tree, path);
  assert.equal(r.ok, false, `${path} was accepted`);
  assert.equal(r.ok ? 0 : r.errors.length, 1);
  return r.ok ? assert.fail() : r.errors[0]!;
}

const summary = (t: ResourceTarget): unknown[] => t.steps.map((s) => [s.node.schemaPath, s.keys ?? s.value ?? null, s.keyValues ?? null]);

test('paths with keys: one key, several keys, typed key values, leaf-lists, the datastore', () => {
  const chainSf = parsed('/esfc-intent:chains/chain=web/service-function');
  assert.equal(targetKind(chainSf), 'leaf-list');
  assert.equal(targetNode(chainSf)?.schemaPath, '/esfc-intent:chains/chain/service-function');
  assert.deepEqual(summary(chainSf), [
    ['/esfc-intent:chains', null, null],
    ['/esfc-intent:chains/chain', ['web'], ['web']],
    ['/esfc-intent:chains/chain/service-function', null, null],
  ]);
  assert.equal(instanceIdentifier(chainSf.steps), "/esfc-intent:chains/chain[name='web']/service-function");

  const port = parsed('/esfc-intent:nodes/node=node-a/port=sf1a');
  assert.equal(targetKind(port), 'list-entry');
  assert.deepEqual(port.steps.map((s) => s.keys ?? null), [null, ['node-a'], ['sf1a']]);
  assert.equal(resourcePath(port.steps), '/esfc-intent:nodes/node=node-a/port=sf1a');

  const counter = parsed('/esfc-state:nodes-state/node=node-a/counter=sf1a,drop_source');
  assert.deepEqual(counter.steps[2]!.keys, ['sf1a', 'drop_source']);
  assert.equal(instanceIdentifier(counter.steps), "/esfc-state:nodes-state/node[name='node-a']/counter[port='sf1a'][stat='drop_source']");

  const sa = parsed('/esfc-state:nodes-state/node=node-a/encryption-function=ef1/sa=4096,out/packets');
  assert.deepEqual(sa.steps[3]!.keyValues, [4096, 'out'], 'a uint32 key decodes to a number');
  assert.equal(targetKind(sa), 'leaf');
  assert.equal(targetKind(parsed('/esfc-state:nodes-state/node=node-a/encryption-function=ef1/sa=+0004096,out')), 'list-entry');
  assert.deepEqual(parsed('/esfc-state:nodes-state/node=node-a/encryption-function=ef1/sa=+0004096,out').steps[3]!.keys, ['4096', 'out'], 'keys are kept in canonical form');

  const entry = parsed('/esfc-intent:chains/chain=web-chain/service-function=sf2');
  assert.equal(targetKind(entry), 'leaf-list-entry');
  assert.equal(entry.steps[2]!.value, 'sf2');
  assert.equal(instanceIdentifier(entry.steps), "/esfc-intent:chains/chain[name='web-chain']/service-function[.='sf2']");
  assert.equal(resourcePath(entry.steps), '/esfc-intent:chains/chain=web-chain/service-function=sf2');

  assert.equal(targetKind(parsed('/esfc-intent:chains/chain')), 'list');
  assert.equal(targetKind(parsed('/esfc-intent:nodes/node=node-a/underlay')), 'container');
  assert.equal(targetKind(parsed('')), 'datastore');
  assert.equal(targetKind(parsed('/')), 'datastore');
});

test('percent-encoding: keys are split before decoding, and encoded again on the way out', () => {
  assert.deepEqual(parsed('/esfc-intent:chains/chain=web%2Dchain').steps[1]!.keys, ['web-chain']);
  assert.deepEqual(parsed('/esfc-intent%3Achains/chain=web').steps[0]!.node.name, 'chains');
  // An encoded ',' belongs to its key; the stat leaf (any string) may hold it, and a space, and UTF-8.
  const c = parsed('/esfc-state:nodes-state/node=node-a/counter=sf1a,drop%2Cx%20y%C3%A9');
  assert.deepEqual(c.steps[2]!.keys, ['sf1a', 'drop,x yé']);
  assert.equal(resourcePath(c.steps), '/esfc-state:nodes-state/node=node-a/counter=sf1a,drop%2Cx%20y%C3%A9');
  assert.equal(instanceIdentifier(c.steps), "/esfc-state:nodes-state/node[name='node-a']/counter[port='sf1a'][stat='drop,x yé']");
  // Every reserved character is encoded in resource paths (RFC 3986 2.2).
  const quoted = parsed("/esfc-state:nodes-state/node=node-a/counter=sf1a,a!'()*b");
  assert.equal(resourcePath(quoted.steps), '/esfc-state:nodes-state/node=node-a/counter=sf1a,a%21%27%28%29%2Ab');
  assert.equal(instanceIdentifier(quoted.steps), `/esfc-state:nodes-state/node[name='node-a']/counter[port='sf1a'][stat="a!'()*b"]`);
});

test('refused paths: unknown nodes and modules, with where the path stopped', () => {
  const e1 = refused('/esfc-intent:tenants');
  assert.deepEqual([e1.tag, e1.type, e1.path], ['unknown-element', 'protocol', undefined]);
  assert.match(e1.message, /^no 'esfc-intent:tenants' in the datastore; expected one of: esfc-intent:domains, esfc-intent:nodes, esfc-intent:service-functions, esfc-intent:chains, esfc-intent:flows, esfc-intent:signing-keys, esfc-state:nodes-state, esfc-state:keys-state$/);
  const e2 = refused('/acme:chains');
  assert.deepEqual([e2.tag, e2.path], ['unknown-element', undefined]);
  assert.match(e2.message, /no module 'acme'/);
  const e3 = refused('/esfc-intent:chains/chain=web/colour');
  assert.deepEqual([e3.tag, e3.path, e3.resource], ['unknown-element', "/esfc-intent:chains/chain[name='web']", '/esfc-intent:chains/chain=web']);
  assert.equal(e3.message, "no 'colour' in /esfc-intent:chains/chain=web; expected one of: name, tenant, rekey-interval, service-function, description, protection");
  const e4 = refused('/esfc-intent:chains/chain=web/tenant/x');
  assert.deepEqual([e4.tag, e4.path], ['unknown-element', "/esfc-intent:chains/chain[name='web']/tenant"]);
  const e5 = refused('/chains');
  assert.deepEqual([e5.tag, e5.type], ['invalid-value', 'protocol']);
  assert.match(e5.message, /must name its module/);
  const e6 = refused('/esfc-intent:chains/esfc-intent:chain=web');
  assert.deepEqual([e6.tag, e6.path], ['invalid-value', '/esfc-intent:chains']);
  assert.match(e6.message, /write 'chain', not 'esfc-intent:chain'/);
  assert.equal(refused('/esfc-intent:chains/chain name').tag, 'invalid-value');
});

test('refused paths: key counts, keys on the wrong nodes, list steps without keys, empty segments, queries', () => {
  const few = refused('/esfc-state:nodes-state/node=node-a/counter=sf1a');
  assert.deepEqual([few.tag, few.path], ['missing-element', "/esfc-state:nodes-state/node[name='node-a']/counter"]);
  assert.match(few.message, /has 2 keys \(port,stat\); the path gives 1/);
  const many = refused('/esfc-intent:chains/chain=a,b');
  assert.deepEqual([many.tag, many.path], ['invalid-value', '/esfc-intent:chains/chain']);
  assert.match(many.message, /a ',' inside a value must be written %2C/);
  const onContainer = refused('/esfc-intent:chains=x');
  assert.deepEqual([onContainer.tag, onContainer.path], ['invalid-value', '/esfc-intent:chains']);
  const onLeaf = refused('/esfc-intent:chains/chain=web/tenant=acme');
  assert.deepEqual([onLeaf.tag, onLeaf.path], ['invalid-value', "/esfc-intent:chains/chain[name='web']/tenant"]);
  const noKeys = refused('/esfc-intent:chains/chain/name');
  assert.deepEqual([noKeys.tag, noKeys.path], ['missing-element', '/esfc-intent:chains/chain']);
  assert.match(noKeys.message, /needs its key values \(name\) before 'name'/);
  assert.equal(refused('/esfc-intent:chains//chain').tag, 'invalid-value');
  assert.equal(refused('/esfc-intent:chains/').tag, 'invalid-value');
  assert.equal(refused('/esfc-intent:chains?depth=1').tag, 'invalid-value');
  assert.equal(refused('esfc-intent:chains').tag, 'invalid-value');
});

test('refused keys: path escapes, bad encoding, and values their key type refuses', () => {
  const cases: [string, RegExp][] = [
    ['/esfc-intent:chains/chain=..', /key 'name' of 'chain' contains '\.\.'; such key values are refused/],
    ['/esfc-intent:chains/chain=%2E%2E', /contains '\.\.'/],
    ['/esfc-intent:chains/chain=%2e', /is '\.'/],
    ['/esfc-intent:chains/chain=a%2Fb', /contains '\/'/],
    ['/esfc-intent:chains/chain=a%2F..%2Fb', /contains '\/'/],
    ['/esfc-intent:chains/chain=a%00', /contains a control character/],
    ['/esfc-intent:chains/chain=%zz', /is not valid percent-encoded UTF-8/],
    ['/esfc-intent:chains/chain=%C3', /is not valid percent-encoded UTF-8/],
    ['/esfc-intent:chains/chain=Web', /key 'name' of 'chain': "Web" is not a valid esfc:name: it does not match the pattern '\[a-z0-9\]\[a-z0-9-\]\{0,62\}'/],
    ['/esfc-intent:chains/chain=', /"" has 0 characters; esfc:name allows 1\.\.63/],
    ['/esfc-state:nodes-state/node=node-a/counter=sf1a,x%2F..', /contains '\/'/],
    ['/esfc-state:nodes-state/node=node-a/encryption-function=ef1/sa=-1,out', /key 'spi' of 'sa': -1 is out of range for uint32/],
    ['/esfc-state:nodes-state/node=node-a/encryption-function=ef1/sa=0x10,out', /"0x10" is not uint32: not a decimal integer/],
    ['/esfc-state:nodes-state/node=node-a/encryption-function=ef1/sa=1,sideways', /key 'direction' of 'sa': "sideways" is not one of in, out/],
    ['/esfc-intent:chains/chain=web/service-function=SF1', /the value of leaf-list 'service-function': "SF1" is not a valid esfc:name/],
  ];
  for (const [path, message] of cases) {
    const e = refused(path);
    assert.deepEqual([e.tag, e.type], ['invalid-value', 'protocol'], path);
    assert.match(e.message, message, path);
  }
  assert.equal(refused('/esfc-intent:chains/chain=a%2Fb').path, '/esfc-intent:chains/chain', 'the error stops at the list: the key cannot name an entry');
});
