/**
 * The RFC 7951 codec driven by esfc's YANG modules: DESIGN.md's three-ISP
 * scenario written as intent decodes and encodes back to itself; state with
 * 64-bit counters travels as strings; each kind of broken body is refused
 * with the RESTCONF error tag and the exact error-path; bodies for one
 * resource (PUT targets); leafrefs across the datastore.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decode, encode, errorsDocument, httpStatus, loadSchema, parseJsonText, parseResourcePath, selectTarget, validateReferences,
  YangEncodeError, type ResourceTarget, type RestconfError, type YangObject,
} from '../../controller/yang/index.js';

const tree = loadSchema();
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/**
 * DESIGN.md's scenario as an intent document: ISP-A trusted, ISP-B untrusted
 * in the middle, ISP-C trusted; SF1 vCPE at node-a, SF2 cache at node-b, SF3
 * firewall at node-c; e-mail (25, 110) through SF1 and SF3, web through all
 * three, video like web but not sensitive. Member order is schema order.
 */
function scenario(): Record<string, unknown> {
  const sfPorts = (sf: string, mac: number) => [
    { name: `${sf}a`, interface: `${sf}a`, kind: 'sf-proxy', 'peer-mac': `02:00:21:00:00:0${mac}` },
    { name: `${sf}b`, interface: `${sf}b`, kind: 'sf-proxy', 'peer-mac': `02:00:22:00:00:0${mac}` },
  ];
  const efPort = (ef: string, i: number) => ({ name: ef, interface: ef, kind: 'ef', 'peer-mac': `02:00:00:00:e${i}:02` });
  const efSlot = (ef: string, i: number) => ({ name: ef, netns: `ns-${ef}`, interface: 'eth0', address: `10.200.0.${i}`, port: ef });
  const endpoints = (): Record<string, unknown> => ({ ingress: { node: 'node-a', port: 'client' }, egress: { node: 'node-c', port: 'server' } });
  const prefixes = { 'source-prefix': '172.16.1.0/24', 'destination-prefix': '172.16.2.0/24' };
  return {
    'esfc-intent:domains': {
      domain: [
        { name: 'isp-a', trust: 'trusted', description: 'ISP-A: sells the chain', neighbours: ['isp-b'] },
        { name: 'isp-b', trust: 'untrusted', description: 'ISP-B: transit and the video cache', neighbours: ['isp-a', 'isp-c'] },
        { name: 'isp-c', trust: 'trusted', neighbours: ['isp-b'] },
      ],
    },
    'esfc-intent:nodes': {
      node: [
        {
          name: 'node-a', domain: 'isp-a',
          underlay: { interface: 'ul0', address: '10.250.0.1', mac: '02:00:0a:fa:00:01', hook: 'xdp' },
          'nsh-ttl': 63, 'md3-type': 3,
          port: [{ name: 'client', interface: 'edge-c', kind: 'edge', 'peer-mac': '02:00:00:00:0c:01' }, ...sfPorts('sf1', 1), efPort('ef1', 1), efPort('ef3', 3)],
          'encryption-function': [efSlot('ef1', 1), efSlot('ef3', 3)],
        },
        {
          name: 'node-b', domain: 'isp-b',
          underlay: { interface: 'ul0', address: '10.250.0.2' },
          port: [...sfPorts('sf2', 2), efPort('ef4', 4), efPort('ef5', 5)],
          'encryption-function': [efSlot('ef4', 4), efSlot('ef5', 5)],
        },
        {
          name: 'node-c', domain: 'isp-c',
          underlay: { interface: 'ul0', address: '10.250.0.3', mac: '02:00:0a:fa:00:03' },
          'md3-type': 15,
          port: [
            { name: 'server', interface: 'edge-s', kind: 'edge', 'peer-mac': '02:00:00:00:0d:01', hook: 'tc', 'forward-oam': true },
            ...sfPorts('sf3', 3), efPort('ef2', 2), efPort('ef6', 6),
          ],
          'encryption-function': [efSlot('ef2', 2), efSlot('ef6', 6)],
        },
      ],
    },
    'esfc-intent:service-functions': {
      'service-function': [
        { name: 'sf1', kind: 'vcpe', node: 'node-a', 'ingress-port': 'sf1a', 'egress-port': 'sf1b' },
        { name: 'sf2', kind: 'cache', node: 'node-b', 'nsh-aware': false, 'ingress-port': 'sf2a', 'egress-port': 'sf2b' },
        { name: 'sf3', kind: 'firewall', node: 'node-c', 'ingress-port': 'sf3a', 'egress-port': 'sf3b' },
      ],
    },
    'esfc-intent:chains': {
      chain: [
        { name: 'mail-chain', tenant: 'acme', 'service-function': ['sf1', 'sf3'], description: 'vCPE then firewall' },
        { name: 'web-chain', tenant: 'acme', 'service-function': ['sf1', 'sf2', 'sf3'] },
      ],
    },
    'esfc-intent:flows': {
      flow: [
        { name: 'mail-smtp', tenant: 'acme', chain: 'mail-chain', sensitive: true, ...endpoints(), match: [{ id: 1, protocol: 'tcp', ...prefixes, 'destination-ports': { from: 25, to: 25 } }] },
        { name: 'mail-pop3', tenant: 'acme', chain: 'mail-chain', ...endpoints(), match: [{ id: 1, protocol: 6, ...prefixes, 'destination-ports': { from: 110, to: 110 } }] },
        { name: 'web', tenant: 'acme', chain: 'web-chain', ...endpoints(), match: [{ id: 1, protocol: 'tcp', ...prefixes, 'destination-ports': { from: 443, to: 443 } }], bidirectional: true },
        { name: 'video', tenant: 'acme', chain: 'web-chain', sensitive: false, ...endpoints(), match: [{ id: 1, protocol: 'udp', ...prefixes, 'source-ports': { from: 1024, to: 65535 }, 'destination-ports': { from: 5004, to: 5005 } }], bidirectional: false },
      ],
    },
  };
}

/** A node's state as its agent reports it: 64-bit counters beyond 2^53. */
function state(): Record<string, unknown> {
  return {
    'esfc-state:nodes-state': {
      node: [{
        name: 'node-a', connected: true, 'desired-generation': '18446744073709551615', 'applied-generation': '9007199254740993',
        'last-report': '2026-12-03T13:37:00.5Z',
        hook: [
          { ifname: 'ul0', hook: 'xdp', mechanism: 'xdp-link', 'program-id': 4294967295 },
          { ifname: 'sf1a', hook: 'tc', port: 'sf1a', mechanism: 'tcx', 'program-id': 42 },
        ],
        counter: [
          { port: 'sf1a', stat: 'fwd_local', drop: false, packets: '12345678901234567890', bytes: '0' },
          { port: 'sf1a', stat: 'drop_source', drop: true, packets: '3', bytes: '180' },
        ],
        'encryption-function': [{ name: 'ef1', sa: [{ spi: 4096, direction: 'out', 'e-spi': 1000, packets: '10', bytes: '14000', 'replay-errors': 0, 'integrity-failures': 0 }] }],
      }],
    },
  };
}

function ok(r: ReturnType<typeof decode>): YangObject {
  if (!r.ok) assert.fail(`decode refused: ${JSON.stringify(r.errors, null, 2)}`);
  return r.value as YangObject;
}

function target(path: string): ResourceTarget {
  const p = parseResourcePath(tree, path);
  if (!p.ok) assert.fail(`path refused: ${JSON.stringify(p.errors)}`);
  return p.target;
}

/** Errors reduced to tag, type and error-path (sorted), for exact comparison. */
const tagsAndPaths = (errors: readonly RestconfError[]): [string, string, string | undefined][] =>
  errors.map((e): [string, string, string | undefined] => [e.tag, e.type, e.path]);

function refused(r: ReturnType<typeof decode>): RestconfError[] {
  assert.equal(r.ok, false, 'decode accepted a broken body');
  return r.ok ? [] : r.errors;
}

test('the three-ISP scenario round-trips: encode(decode(x)) is x, member order and all', () => {
  const doc = scenario();
  const decoded = ok(decode(tree, doc));
  assert.deepEqual(encode(tree, decoded), doc);
  assert.equal(JSON.stringify(encode(tree, decoded)), JSON.stringify(doc));
  // The same through the text parser, as the server receives it.
  const text = JSON.stringify(doc, null, 2);
  const parsed = parseJsonText(text);
  assert.ok(parsed.ok);
  assert.equal(JSON.stringify(encode(tree, ok(decode(tree, parsed.value))), null, 2), text);
  assert.deepEqual(validateReferences(tree, decoded), [], 'every leafref of the scenario resolves');
});

test('decoded values are typed: numbers for uint8/uint16, strings for enums, the union keeps name or number', () => {
  const d = ok(decode(tree, scenario()));
  const flows = (d['esfc-intent:flows'] as YangObject).flow as YangObject[];
  assert.equal(((flows[0]!.match as YangObject[])[0] as YangObject).protocol, 'tcp');
  assert.equal(((flows[1]!.match as YangObject[])[0] as YangObject).protocol, 6);
  assert.equal((((flows[3]!.match as YangObject[])[0] as YangObject)['source-ports'] as YangObject).to, 65535);
  const node = ((d['esfc-intent:nodes'] as YangObject).node as YangObject[])[0]!;
  assert.equal(node['nsh-ttl'], 63);
  assert.deepEqual(node.underlay, { interface: 'ul0', address: '10.250.0.1', mac: '02:00:0a:fa:00:01', hook: 'xdp' });
});

test('defaults are filled only when asked (what the compiler sees), and then everywhere they apply', () => {
  const d = ok(decode(tree, scenario(), { withDefaults: true }));
  const nodeB = ((d['esfc-intent:nodes'] as YangObject).node as YangObject[])[1]!;
  assert.equal(nodeB['nsh-ttl'], 63);
  assert.equal(nodeB['md3-type'], 3);
  assert.equal((nodeB.underlay as YangObject).hook, 'auto');
  const port = (nodeB.port as YangObject[])[0]!;
  assert.deepEqual([port.hook, port['forward-oam']], ['auto', false]);
  const flows = (d['esfc-intent:flows'] as YangObject).flow as YangObject[];
  assert.deepEqual(flows.map((f) => [f.name, f.sensitive, f.bidirectional]), [
    ['mail-smtp', true, true], ['mail-pop3', true, true], ['web', true, true], ['video', false, false],
  ]);
  const sfs = (d['esfc-intent:service-functions'] as YangObject)['service-function'] as YangObject[];
  assert.deepEqual(sfs.map((s) => s['nsh-aware']), [false, false, false]);
  // Filled defaults encode like any value; the explicit form is the default reply.
  const withDefaults = encode(tree, ok(decode(tree, scenario())), { withDefaults: true }) as YangObject;
  assert.deepEqual(withDefaults, encode(tree, d));
});

test('state: 64-bit integers are JSON strings both ways, 32-bit ones numbers; state needs allowState', () => {
  const doc = state();
  const d = ok(decode(tree, doc, { allowState: true }));
  const node = ((d['esfc-state:nodes-state'] as YangObject).node as YangObject[])[0]!;
  assert.equal(node['desired-generation'], 18446744073709551615n);
  assert.equal(node['applied-generation'], 9007199254740993n, 'no precision lost past 2^53');
  assert.equal(((node.counter as YangObject[])[0]!).packets, 12345678901234567890n);
  assert.equal(((node.hook as YangObject[])[0]!)['program-id'], 4294967295);
  assert.deepEqual(encode(tree, d), doc);
  // The controller may hold counters as numbers or bigints; both encode as strings.
  const fromAgent = clone(doc) as { 'esfc-state:nodes-state': { node: { 'desired-generation': unknown }[] } };
  const n = ok(decode(tree, fromAgent, { allowState: true }));
  (((n['esfc-state:nodes-state'] as YangObject).node as YangObject[])[0]!)['desired-generation'] = 7;
  assert.equal(((encode(tree, n)['esfc-state:nodes-state'] as YangObject).node as YangObject[])[0]!['desired-generation'], '7');

  const asNumber = clone(doc) as { 'esfc-state:nodes-state': { node: Record<string, unknown>[] } };
  asNumber['esfc-state:nodes-state'].node[0]!['desired-generation'] = 5;
  assert.deepEqual(tagsAndPaths(refused(decode(tree, asNumber, { allowState: true }))), [
    ['invalid-value', 'application', "/esfc-state:nodes-state/node[name='node-a']/desired-generation"],
  ]);
  assert.match(refused(decode(tree, asNumber, { allowState: true }))[0]!.message, /expected uint64 as a JSON string \(RFC 7951: 64-bit integers are strings\), got the number 5/);
  // Written by a client, state is refused: it is not configuration.
  assert.deepEqual(tagsAndPaths(refused(decode(tree, doc))), [['bad-element', 'application', '/esfc-state:nodes-state']]);
});

test('every error tag on a broken intent body, each with its exact error-path', () => {
  const doc = scenario() as Record<string, Record<string, Record<string, unknown>[]>>;
  const node = doc['esfc-intent:nodes']!.node!;
  // unknown-element: a member the schema does not have.
  (node[0]!.underlay as Record<string, unknown>).mtu = 1500;
  // missing-element: a mandatory leaf, and a list key.
  delete (node[1]!.underlay as Record<string, unknown>).address;
  delete doc['esfc-intent:domains']!.domain![2]!.trust;
  doc['esfc-intent:chains']!.chain!.push({ tenant: 'acme', 'service-function': ['sf1'] });
  // invalid-value: range, pattern, enum, union, JSON kind.
  node[0]!['nsh-ttl'] = 64;
  (node[0]!.port as Record<string, unknown>[])[1]!['peer-mac'] = '02:00:21:00:00';
  (node[2]!.port as Record<string, unknown>[])[0]!.kind = 'server';
  const flows = doc['esfc-intent:flows']!.flow!;
  ((flows[2]!.match as Record<string, unknown>[])[0]!).protocol = 'sctp';
  flows[3]!.sensitive = 'no';
  // malformed-message: the wrong JSON shape.
  doc['esfc-intent:service-functions']!['service-function']![0]!.node = ['node-a'];
  flows[0]!.ingress = 'node-a/client' as unknown as Record<string, unknown>;
  // bad-element: a second entry with the same key; a value twice in a leaf-list.
  doc['esfc-intent:domains']!.domain!.push({ name: 'isp-a', trust: 'trusted' });
  doc['esfc-intent:chains']!.chain![1]!['service-function'] = ['sf1', 'sf2', 'sf1'];
  // operation-failed (too-few-elements): a chain without SFs.
  doc['esfc-intent:chains']!.chain![0]!['service-function'] = [];

  const errors = refused(decode(tree, doc));
  assert.deepEqual(tagsAndPaths(errors), [
    ['missing-element', 'application', "/esfc-intent:domains/domain[name='isp-c']/trust"],
    ['bad-element', 'application', "/esfc-intent:domains/domain[name='isp-a']"],
    ['unknown-element', 'application', "/esfc-intent:nodes/node[name='node-a']/underlay"],
    ['invalid-value', 'application', "/esfc-intent:nodes/node[name='node-a']/nsh-ttl"],
    ['invalid-value', 'application', "/esfc-intent:nodes/node[name='node-a']/port[name='sf1a']/peer-mac"],
    ['missing-element', 'application', "/esfc-intent:nodes/node[name='node-b']/underlay/address"],
    ['invalid-value', 'application', "/esfc-intent:nodes/node[name='node-c']/port[name='server']/kind"],
    ['malformed-message', 'rpc', "/esfc-intent:service-functions/service-function[name='sf1']/node"],
    ['operation-failed', 'application', "/esfc-intent:chains/chain[name='mail-chain']/service-function"],
    ['bad-element', 'application', "/esfc-intent:chains/chain[name='web-chain']/service-function"],
    ['missing-element', 'application', '/esfc-intent:chains/chain'],
    ['malformed-message', 'rpc', "/esfc-intent:flows/flow[name='mail-smtp']/ingress"],
    ['invalid-value', 'application', "/esfc-intent:flows/flow[name='web']/match[id='1']/protocol"],
    ['invalid-value', 'application', "/esfc-intent:flows/flow[name='video']/sensitive"],
  ]);
  const byPath = (p: string): RestconfError => errors.find((e) => e.path === p)!;
  assert.equal(byPath("/esfc-intent:domains/domain[name='isp-c']/trust").message, "mandatory leaf 'trust' is missing from /esfc-intent:domains/domain=isp-c (type esfc:trust)");
  assert.equal(byPath("/esfc-intent:domains/domain[name='isp-c']/trust").resource, '/esfc-intent:domains/domain=isp-c/trust');
  assert.equal(byPath("/esfc-intent:nodes/node[name='node-a']/nsh-ttl").message, "leaf 'nsh-ttl': 64 is out of range for uint8 in 2..63");
  assert.match(byPath("/esfc-intent:nodes/node[name='node-a']/underlay").message, /^no "mtu" in \/esfc-intent:nodes\/node=node-a\/underlay; expected one of: interface, address, mac, hook$/);
  assert.match(byPath("/esfc-intent:nodes/node[name='node-a']/port[name='sf1a']/peer-mac").message, /"02:00:21:00:00" is not a valid yang:mac-address: it does not match the pattern/);
  assert.equal(byPath("/esfc-intent:nodes/node[name='node-c']/port[name='server']/kind").message, `leaf 'kind': "server" is not esfc:port-kind: one of edge, sf, sf-proxy, ef, punt`);
  assert.match(byPath("/esfc-intent:flows/flow[name='web']/match[id='1']/protocol").message, /"sctp" is not one of tcp, udp, icmp or uint8/);
  assert.equal(byPath("/esfc-intent:flows/flow[name='video']/sensitive").message, `leaf 'sensitive': expected a boolean as true or false, got the string "no"`);
  assert.match(byPath("/esfc-intent:service-functions/service-function[name='sf1']/node").message, /takes a single value \(a leafref to \/esfc-intent:nodes\/node\/name\), got an array/);
  assert.match(byPath('/esfc-intent:chains/chain').message, /entry #3 of list 'chain' has no key leaf 'name'/);
  assert.equal(byPath("/esfc-intent:chains/chain[name='mail-chain']/service-function").appTag, 'too-few-elements');
  assert.match(byPath("/esfc-intent:chains/chain[name='web-chain']/service-function").message, /holds "sf1" twice/);
  assert.equal(httpStatus(errors), 400);
  const body = errorsDocument(errors);
  assert.deepEqual(body['ietf-restconf:errors'].error[0], {
    'error-type': 'application', 'error-tag': 'missing-element',
    'error-path': "/esfc-intent:domains/domain[name='isp-c']/trust",
    'error-message': "mandatory leaf 'trust' is missing from /esfc-intent:domains/domain=isp-c (type esfc:trust)",
  });
  assert.equal(body['ietf-restconf:errors'].error[8]!['error-app-tag'], 'too-few-elements');
});

test('member names: qualified at the top level, simple below, unknown modules refused', () => {
  const errs = (doc: unknown) => tagsAndPaths(refused(decode(tree, doc)));
  assert.deepEqual(errs({ domains: {} }), [['malformed-message', 'rpc', undefined]]);
  assert.deepEqual(errs({ 'esfc-intent:chains': { 'esfc-intent:chain': [] } }), [['malformed-message', 'rpc', '/esfc-intent:chains']]);
  assert.deepEqual(errs({ 'acme:chains': {} }), [['unknown-element', 'application', undefined]]);
  assert.deepEqual(errs({ 'esfc-intent:tenants': {} }), [['unknown-element', 'application', undefined]]);
  assert.match(refused(decode(tree, { 'esfc-intent:tenants': {} }))[0]!.message, /no "esfc-intent:tenants" in the data root; expected one of: esfc-intent:domains, esfc-intent:nodes, .*esfc-state:nodes-state/);
  assert.deepEqual(errs([]), [['malformed-message', 'rpc', undefined]]);
  assert.deepEqual(errs({ 'esfc-intent:chains': [] }), [['malformed-message', 'rpc', '/esfc-intent:chains']]);
  assert.deepEqual(errs({ 'esfc-intent:chains': { chain: {} } }), [['malformed-message', 'rpc', '/esfc-intent:chains/chain']]);
  assert.deepEqual(errs({ 'esfc-intent:chains': { chain: ['web'] } }), [['malformed-message', 'rpc', '/esfc-intent:chains/chain']]);
  assert.deepEqual(errs({ 'esfc-intent:chains': { chain: [{ name: 'web', tenant: 'acme', 'service-function': 'sf1' }] } }), [
    ['malformed-message', 'rpc', "/esfc-intent:chains/chain[name='web']/service-function"],
  ]);
  // A key of the wrong type: the entry cannot be named, so the path stops at the list.
  assert.deepEqual(errs({ 'esfc-intent:chains': { chain: [{ name: 'Web', tenant: 'acme', 'service-function': ['sf1'] }] } }), [
    ['invalid-value', 'application', '/esfc-intent:chains/chain'],
  ]);
});

test('the strict JSON reader refuses duplicate members and broken text with line and column', () => {
  const dup = parseJsonText('{\n  "esfc-intent:domains": {\n    "domain": [{"name": "isp-a", "trust": "trusted", "trust": "untrusted"}]\n  }\n}');
  assert.ok(!dup.ok);
  assert.deepEqual(tagsAndPaths(dup.errors), [['malformed-message', 'rpc', undefined]]);
  assert.equal(dup.errors[0]!.message, 'the body is not valid JSON: line 3 column 54: member "trust" appears twice in one object (RFC 7493 2.3)');
  const broken = parseJsonText('{"esfc-intent:chains": {"chain": [}}');
  assert.ok(!broken.ok && /line 1 column 35: unexpected character "}"/.test(broken.errors[0]!.message));
  const deep = parseJsonText('['.repeat(100) + ']'.repeat(100));
  assert.ok(!deep.ok && /nesting deeper than 64 levels/.test(deep.errors[0]!.message));
  const lone = parseJsonText('"\\ud800"');
  assert.ok(!lone.ok && /lone surrogate/.test(lone.errors[0]!.message));
  const proto = parseJsonText('{"__proto__": {"x": 1}}');
  assert.ok(proto.ok);
  assert.deepEqual(Object.keys(proto.value as object), ['__proto__'], '__proto__ is a member, not the prototype');
  assert.deepEqual(tagsAndPaths(refused(decode(tree, proto.value))), [['malformed-message', 'rpc', undefined]]);
  const same = parseJsonText(JSON.stringify(scenario()));
  assert.ok(same.ok);
  assert.deepEqual(same.value, JSON.parse(JSON.stringify(scenario())));
});

test('PUT bodies for one resource: list entry, container, leaf, leaf-list entry, datastore', () => {
  const chain = { name: 'web-chain', tenant: 'acme', 'service-function': ['sf1', 'sf2', 'sf3'] };
  const t = target('/esfc-intent:chains/chain=web-chain');
  const entry = ok(decode(tree, { 'esfc-intent:chain': [chain] }, { target: t }));
  assert.deepEqual(entry, chain);
  assert.deepEqual(encode(tree, entry, { target: t }), { 'esfc-intent:chain': [chain] });

  // The key in the body contradicts the URI.
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-intent:chain': [{ ...chain, name: 'other' }] }, { target: t }))), [
    ['invalid-value', 'application', "/esfc-intent:chains/chain[name='web-chain']/name"],
  ]);
  // Not the target's member, unqualified, more than one entry, more than one member.
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-intent:flow': [chain] }, { target: t }))), [['bad-element', 'application', "/esfc-intent:chains/chain[name='web-chain']"]]);
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { chain: [chain] }, { target: t }))), [['malformed-message', 'rpc', undefined]]);
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-intent:chain': [chain, chain] }, { target: t }))), [['malformed-message', 'rpc', "/esfc-intent:chains/chain[name='web-chain']"]]);
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-intent:chain': chain }, { target: t }))), [['malformed-message', 'rpc', "/esfc-intent:chains/chain[name='web-chain']"]]);
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-intent:chain': [chain], x: 1 }, { target: t }))), [['malformed-message', 'rpc', undefined]]);

  const ul = target('/esfc-intent:nodes/node=node-b/underlay');
  assert.deepEqual(ok(decode(tree, { 'esfc-intent:underlay': { interface: 'ul0', address: '10.250.0.2' } }, { target: ul })), { interface: 'ul0', address: '10.250.0.2' });
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-intent:underlay': { interface: 'ul0' } }, { target: ul }))), [
    ['missing-element', 'application', "/esfc-intent:nodes/node[name='node-b']/underlay/address"],
  ]);
  const ttl = target('/esfc-intent:nodes/node=node-b/nsh-ttl');
  assert.equal(ok(decode(tree, { 'esfc-intent:nsh-ttl': 32 }, { target: ttl })) as unknown, 32);
  assert.deepEqual(encode(tree, 32, { target: ttl }), { 'esfc-intent:nsh-ttl': 32 });
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-intent:nsh-ttl': 1 }, { target: ttl }))), [['invalid-value', 'application', "/esfc-intent:nodes/node[name='node-b']/nsh-ttl"]]);

  const sf = target('/esfc-intent:chains/chain=web-chain/service-function=sf2');
  assert.equal(ok(decode(tree, { 'esfc-intent:service-function': ['sf2'] }, { target: sf })) as unknown, 'sf2');
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-intent:service-function': ['sf3'] }, { target: sf }))), [
    ['invalid-value', 'application', "/esfc-intent:chains/chain[name='web-chain']/service-function[.='sf2']"],
  ]);
  const sfs = target('/esfc-intent:chains/chain=web-chain/service-function');
  assert.deepEqual(ok(decode(tree, { 'esfc-intent:service-function': ['sf3', 'sf1'] }, { target: sfs })) as unknown, ['sf3', 'sf1']);

  // The datastore resource wraps the document in ietf-restconf:data.
  const ds = target('/');
  const doc = ok(decode(tree, { 'ietf-restconf:data': scenario() }, { target: ds }));
  assert.deepEqual(encode(tree, doc, { target: ds }), { 'ietf-restconf:data': scenario() });
  assert.deepEqual(tagsAndPaths(refused(decode(tree, scenario(), { target: ds }))), [['malformed-message', 'rpc', undefined]]);

  // A config false target cannot be written.
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-state:node': [{ name: 'node-a' }] }, { target: target('/esfc-state:nodes-state/node=node-a') }))), [
    ['bad-element', 'application', "/esfc-state:nodes-state/node[name='node-a']"],
  ]);
});

test('PATCH-style partial bodies skip mandatory checks; types are still checked', () => {
  const t = target('/esfc-intent:nodes/node=node-a');
  const patch = { 'esfc-intent:node': [{ name: 'node-a', 'nsh-ttl': 32 }] };
  assert.deepEqual(tagsAndPaths(refused(decode(tree, patch, { target: t }))), [
    ['missing-element', 'application', "/esfc-intent:nodes/node[name='node-a']/domain"],
    ['missing-element', 'application', "/esfc-intent:nodes/node[name='node-a']/underlay/interface"],
    ['missing-element', 'application', "/esfc-intent:nodes/node[name='node-a']/underlay/address"],
  ]);
  assert.deepEqual(ok(decode(tree, patch, { target: t, partial: true })), { name: 'node-a', 'nsh-ttl': 32 });
  assert.deepEqual(tagsAndPaths(refused(decode(tree, { 'esfc-intent:node': [{ name: 'node-a', 'nsh-ttl': 99 }] }, { target: t, partial: true }))), [
    ['invalid-value', 'application', "/esfc-intent:nodes/node[name='node-a']/nsh-ttl"],
  ]);
});

test('GET replies: select the target in the datastore and encode it; content filters', () => {
  const data = ok(decode(tree, { ...scenario(), ...state() }, { allowState: true }));
  const t = target('/esfc-intent:nodes/node=node-c/port=server');
  const port = selectTarget(data, t);
  assert.deepEqual(encode(tree, port!, { target: t }), {
    'esfc-intent:port': [{ name: 'server', interface: 'edge-s', kind: 'edge', 'peer-mac': '02:00:00:00:0d:01', hook: 'tc', 'forward-oam': true }],
  });
  assert.equal(selectTarget(data, target('/esfc-intent:nodes/node=node-x')), undefined);
  assert.equal(selectTarget(data, target('/esfc-state:nodes-state/node=node-a/counter=sf1a,drop_source/packets')), 3n);
  assert.deepEqual(Object.keys(encode(tree, data, { content: 'config' })), ['esfc-intent:domains', 'esfc-intent:nodes', 'esfc-intent:service-functions', 'esfc-intent:chains', 'esfc-intent:flows']);
  assert.deepEqual(encode(tree, data, { content: 'nonconfig' }), state());
});

test('encode refuses data that does not fit the schema (a controller bug), naming where', () => {
  const d = ok(decode(tree, scenario()));
  const nodes = (d['esfc-intent:nodes'] as YangObject).node as YangObject[];
  nodes[0]!['nsh-ttl'] = 99;
  assert.throws(() => encode(tree, d), (e: unknown) => e instanceof YangEncodeError && e.path === "/esfc-intent:nodes/node[name='node-a']/nsh-ttl" && /99 is out of range for uint8 in 2..63/.test(e.message));
  nodes[0]!['nsh-ttl'] = 63;
  nodes[1]!.colour = 'red';
  assert.throws(() => encode(tree, d), (e: unknown) => e instanceof YangEncodeError && e.path === "/esfc-intent:nodes/node[name='node-b']" && /"colour" is not a member here/.test(e.message));
});

test('validateReferences: every dangling leafref, with what exists instead', () => {
  const doc = scenario() as Record<string, Record<string, Record<string, unknown>[]>>;
  doc['esfc-intent:flows']!.flow![2]!.chain = 'www-chain';
  doc['esfc-intent:service-functions']!['service-function']![1]!.node = 'node-z';
  doc['esfc-intent:service-functions']!['service-function']![2]!['egress-port'] = 'sf1b';
  doc['esfc-intent:domains']!.domain![0]!.neighbours = ['isp-b', 'isp-q'];
  ((doc['esfc-intent:nodes']!.node![0]!['encryption-function'] as Record<string, unknown>[])[1]!).port = 'ef4';
  doc['esfc-intent:chains']!.chain![0]!['service-function'] = ['sf1', 'sf9'];
  (doc['esfc-intent:flows']!.flow![0]!.egress as Record<string, unknown>).port = 'client';
  const errors = validateReferences(tree, ok(decode(tree, doc)));
  assert.deepEqual(errors.map((e) => [e.tag, e.appTag, e.path, e.message]), [
    ['data-missing', 'instance-required', "/esfc-intent:domains/domain[name='isp-a']/neighbours[.='isp-q']",
      'neighbours "isp-q" does not exist: it must be one of /esfc-intent:domains/domain/name (existing: isp-a, isp-b, isp-c)'],
    ['data-missing', 'instance-required', "/esfc-intent:nodes/node[name='node-a']/encryption-function[name='ef3']/port",
      `port "ef4" does not exist: it must be one of /esfc-intent:nodes/node[name='node-a']/port/name (existing: client, sf1a, sf1b, ef1, ef3)`],
    ['data-missing', 'instance-required', "/esfc-intent:service-functions/service-function[name='sf2']/node",
      'node "node-z" does not exist: it must be one of /esfc-intent:nodes/node/name (existing: node-a, node-b, node-c)'],
    ['data-missing', 'instance-required', "/esfc-intent:service-functions/service-function[name='sf2']/ingress-port",
      `ingress-port "sf2a" does not exist: it must be one of /esfc-intent:nodes/node[name='node-z']/port/name (there are none)`],
    ['data-missing', 'instance-required', "/esfc-intent:service-functions/service-function[name='sf2']/egress-port",
      `egress-port "sf2b" does not exist: it must be one of /esfc-intent:nodes/node[name='node-z']/port/name (there are none)`],
    ['data-missing', 'instance-required', "/esfc-intent:service-functions/service-function[name='sf3']/egress-port",
      `egress-port "sf1b" does not exist: it must be one of /esfc-intent:nodes/node[name='node-c']/port/name (existing: server, sf3a, sf3b, ef2, ef6)`],
    ['data-missing', 'instance-required', "/esfc-intent:chains/chain[name='mail-chain']/service-function[.='sf9']",
      'service-function "sf9" does not exist: it must be one of /esfc-intent:service-functions/service-function/name (existing: sf1, sf2, sf3)'],
    ['data-missing', 'instance-required', "/esfc-intent:flows/flow[name='mail-smtp']/egress/port",
      `port "client" does not exist: it must be one of /esfc-intent:nodes/node[name='node-c']/port/name (existing: server, sf3a, sf3b, ef2, ef6)`],
    ['data-missing', 'instance-required', "/esfc-intent:flows/flow[name='web']/chain",
      'chain "www-chain" does not exist: it must be one of /esfc-intent:chains/chain/name (existing: mail-chain, web-chain)'],
  ]);
  assert.equal(httpStatus(errors), 409);
});
