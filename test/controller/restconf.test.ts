/**
 * The RESTCONF server over real TLS (no root needed): discovery, RFC 7951
 * encoding, every method with its status codes and RFC 8040 errors,
 * conditional requests, refused input that changes nothing, who may do what,
 * the agent channel and the event stream.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { jsonLogger } from '../../agent/log.js';
import { startController, type Embedded } from '../../controller/embedded.js';
import { keyRegistration, signIfWrite } from '../../controller/ledger-client.js';
import { generateKey, registeredKey, type GeneratedKey } from '../../controller/ledger/index.js';
import { clientDispatcher, readBundle } from '../../controller/pki/index.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent, VIDEO_FLOW } from '../../scenario/intent.js';

const J = 'application/yang-data+json';
const quiet = jsonLogger({}, () => undefined);
const ep = planEncryptedScenario();
const intent = scenarioIntent(ep.base, { efs: ep.efs, nsOf: (e) => `ns-${e}`, flows: [...DESIGN_FLOWS, VIDEO_FLOW] });

interface Reply { status: number; headers: Record<string, string>; text: string; json: () => Record<string, unknown> }

describe('RESTCONF (RFC 8040) over mutual TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-restconf-'));
  let c: Embedded;
  const as: Record<string, Dispatcher> = {};
  // Each operator and tenant signs its data writes with its own key (the orchestration log refuses unsigned ones).
  const signers: Record<string, GeneratedKey> = { op: generateKey('ed25519'), acme: generateKey('ed25519'), mallory: generateKey('rsa-pss-2048') };
  const call = async (who: string, method: string, path: string, o: { body?: unknown; headers?: Record<string, string>; unsigned?: boolean } = {}): Promise<Reply> => {
    const body = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    const r = await request(`${c.url}${path}`, {
      method: method as 'GET', dispatcher: as[who]!,
      headers: { ...(body !== undefined ? { 'content-type': J } : {}), ...(signers[who] && !o.unsigned ? signIfWrite(signers[who].signer, method, path, body) : {}), ...o.headers },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers as Record<string, string>, text, json: () => JSON.parse(text) as Record<string, unknown> };
  };
  const errorOf = (r: Reply): { tag: string; type: string; path?: string; message: string } => {
    const e = (r.json()['ietf-restconf:errors'] as { error: Record<string, string>[] }).error[0]!;
    return { tag: e['error-tag']!, type: e['error-type']!, message: e['error-message']!, ...(e['error-path'] ? { path: e['error-path'] } : {}) };
  };
  const revision = (): number => c.controller.datastore.revision;

  before(async () => {
    c = await startController(dir, quiet, { ledgerKeys: [registeredKey(signers.op!, 'operator', 'alice')] });
    for (const [who, kind, name] of [['op', 'operator', 'alice'], ['acme', 'tenant', 'acme'], ['mallory', 'tenant', 'mallory'], ['agentA', 'agent', 'node-a'], ['agentB', 'agent', 'node-b']] as const) {
      as[who] = clientDispatcher(readBundle(await c.enroll(kind, name)));
    }
  });
  after(async () => {
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('discovery: host-meta, the API root, operations, the YANG library with fetchable sources, the event streams', async () => {
    const hm = await call('op', 'GET', '/.well-known/host-meta');
    assert.equal(hm.status, 200);
    assert.match(hm.text, /<Link rel="restconf" href="\/restconf"\/>/);
    assert.deepEqual((await call('op', 'GET', '/restconf')).json(), { 'ietf-restconf:restconf': { data: {}, operations: {}, 'yang-library-version': '2019-01-04' } });
    assert.deepEqual((await call('op', 'GET', '/restconf/operations')).json(), { 'ietf-restconf:operations': { 'esfc-intent:rekey': [null] } });
    const lib = (await call('op', 'GET', '/restconf/data/ietf-yang-library:yang-library')).json()['ietf-yang-library:yang-library'] as { 'module-set': { module: { name: string; location: string[] }[]; 'import-only-module': { name: string }[] }[] };
    const set = lib['module-set'][0]!;
    assert.deepEqual(set.module.map((m) => m.name).sort(), ['esfc-intent', 'esfc-state', 'ietf-netconf-notifications', 'ietf-restconf', 'ietf-restconf-monitoring', 'ietf-yang-library']);
    assert.ok(set['import-only-module'].some((m) => m.name === 'ietf-inet-types'));
    const src = await call('op', 'GET', new URL(set.module.find((m) => m.name === 'esfc-intent')!.location[0]!).pathname);
    assert.equal(src.status, 200);
    assert.match(src.text, /^module esfc-intent \{/);
    const streams = (await call('op', 'GET', '/restconf/data/ietf-restconf-monitoring:restconf-state')).json();
    assert.match(JSON.stringify(streams), /\/restconf\/streams\/esfc-datastore\/json/);
  });

  test('PUT of the whole datastore creates it (201); GET returns it in RFC 7951 form, module-qualified, 64-bit numbers as strings', async () => {
    const r = await call('op', 'PUT', '/restconf/data', { body: { 'ietf-restconf:data': intent } });
    assert.equal(r.status, 201, r.text);
    assert.ok(r.headers.etag && r.headers['last-modified']);
    const got = (await call('op', 'GET', '/restconf/data?content=config')).json()['ietf-restconf:data'] as Record<string, unknown>;
    assert.deepEqual(got, intent, 'what was written comes back unchanged (round trip)');
    assert.ok(Object.keys(got).every((k) => k.startsWith('esfc-intent:')), 'top-level members are module-qualified');
    const state = (await call('op', 'GET', '/restconf/data/esfc-state:nodes-state')).json();
    const nodeA = (state['esfc-state:nodes-state'] as { node: Record<string, unknown>[] }).node.find((n) => n.name === 'node-a')!;
    assert.equal(nodeA['desired-generation'], '1', 'uint64 is a JSON string (RFC 7951 6.1)');
    // The tenants' signing keys, registered by the operator now that the datastore is there (the PUT above replaced it whole).
    for (const [who, name] of [['acme', 'acme'], ['mallory', 'mallory']] as const) {
      const reg = keyRegistration({ ...signers[who]!, role: 'tenant', name });
      const rr = await call('op', 'PUT', reg.path, { body: reg.body });
      assert.equal(rr.status, 201, rr.text);
    }
  });

  test('POST creates a child (201 + Location), again is data-exists (409); PUT replaces (204) or creates (201); PATCH merges; DELETE (204), again data-missing (409)', async () => {
    const chain = { 'esfc-intent:chain': [{ name: 'lab', tenant: 'acme', 'service-function': ['sf1', 'sf3'] }] };
    const created = await call('op', 'POST', '/restconf/data/esfc-intent:chains', { body: chain });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.location, '/restconf/data/esfc-intent:chains/chain=lab');
    const again = await call('op', 'POST', '/restconf/data/esfc-intent:chains', { body: chain });
    assert.equal(again.status, 409);
    assert.equal(errorOf(again).tag, 'data-exists');
    assert.equal((await call('op', 'PUT', '/restconf/data/esfc-intent:chains/chain=lab', { body: { 'esfc-intent:chain': [{ name: 'lab', tenant: 'acme', 'service-function': ['sf1'] }] } })).status, 204);
    assert.equal((await call('op', 'PUT', '/restconf/data/esfc-intent:chains/chain=lab2', { body: { 'esfc-intent:chain': [{ name: 'lab2', tenant: 'acme', 'service-function': ['sf2'] }] } })).status, 201);
    const p = await call('op', 'PATCH', '/restconf/data/esfc-intent:chains/chain=lab', { body: { 'esfc-intent:chain': [{ name: 'lab', description: 'merged in' }] } });
    assert.equal(p.status, 204, p.text);
    const lab = (await call('op', 'GET', '/restconf/data/esfc-intent:chains/chain=lab')).json()['esfc-intent:chain'] as Record<string, unknown>[];
    assert.deepEqual(lab[0], { name: 'lab', tenant: 'acme', 'service-function': ['sf1'], description: 'merged in' });
    for (const n of ['lab', 'lab2']) assert.equal((await call('op', 'DELETE', `/restconf/data/esfc-intent:chains/chain=${n}`)).status, 204);
    const gone = await call('op', 'DELETE', '/restconf/data/esfc-intent:chains/chain=lab');
    assert.equal(gone.status, 409);
    assert.equal(errorOf(gone).tag, 'data-missing');
    assert.equal((await call('op', 'GET', '/restconf/data/esfc-intent:chains/chain=lab')).status, 404);
  });

  test('PATCH of the datastore merges list entries by key: one leaf of one node changes, nothing else', async () => {
    const before = (await call('op', 'GET', '/restconf/data/esfc-intent:nodes')).json()['esfc-intent:nodes'] as { node: Record<string, unknown>[] };
    const r = await call('op', 'PATCH', '/restconf/data', { body: { 'ietf-restconf:data': { 'esfc-intent:nodes': { node: [{ name: 'node-a', 'nsh-ttl': 61 }] } } } });
    assert.equal(r.status, 204, r.text);
    const after = (await call('op', 'GET', '/restconf/data/esfc-intent:nodes')).json()['esfc-intent:nodes'] as { node: Record<string, unknown>[] };
    assert.deepEqual(after.node.map((n) => n.name), before.node.map((n) => n.name));
    assert.deepEqual(after.node[0], { ...before.node[0], 'nsh-ttl': 61 });
    assert.deepEqual(after.node.slice(1), before.node.slice(1));
    assert.equal((await call('op', 'PATCH', '/restconf/data', { body: { 'ietf-restconf:data': { 'esfc-intent:nodes': { node: [{ name: 'node-a', 'nsh-ttl': 63 }] } } } })).status, 204);
  });

  test('ETag and Last-Modified on every resource; conditional requests give 304 and 412', async () => {
    for (const path of ['', '/esfc-intent:chains', '/esfc-intent:chains/chain=web-chain', '/esfc-intent:chains/chain=web-chain/tenant', '/esfc-intent:nodes/node=node-a/port=client']) {
      const r = await call('op', 'GET', `/restconf/data${path}`);
      assert.equal(r.status, 200, path);
      assert.match(r.headers.etag ?? '', /^"[A-Za-z0-9_-]+"$/, `${path} has an ETag`);
      assert.ok(!Number.isNaN(Date.parse(r.headers['last-modified'] ?? '')), `${path} has Last-Modified`);
      assert.equal((await call('op', 'GET', `/restconf/data${path}`, { headers: { 'if-none-match': r.headers.etag! } })).status, 304);
      assert.equal((await call('op', 'HEAD', `/restconf/data${path}`)).headers.etag, r.headers.etag, 'HEAD agrees');
    }
    const r = await call('op', 'GET', '/restconf/data/esfc-intent:chains/chain=web-chain');
    assert.equal((await call('op', 'GET', '/restconf/data/esfc-intent:chains/chain=web-chain', { headers: { 'if-modified-since': r.headers['last-modified']! } })).status, 304);
    const exists = await call('op', 'PUT', '/restconf/data/esfc-intent:chains/chain=web-chain', { body: { 'esfc-intent:chain': [{ name: 'web-chain', tenant: 'acme', 'service-function': ['sf1', 'sf2', 'sf3'] }] }, headers: { 'if-none-match': '*' } });
    assert.equal(exists.status, 412);
    assert.equal((await call('op', 'PUT', '/restconf/data/esfc-intent:chains/chain=nope', { body: { 'esfc-intent:chain': [{ name: 'nope', tenant: 'acme', 'service-function': ['sf1'] }] }, headers: { 'if-match': '*' } })).status, 412, 'If-Match on a resource that does not exist');
  });

  test('two writers with If-Match never lose an update: the second, holding a stale ETag, gets 412 and nothing changes', async () => {
    const path = '/restconf/data/esfc-intent:chains/chain=mail-chain/description';
    await call('op', 'PUT', path, { body: { 'esfc-intent:description': 'v0' } });
    const a = await call('op', 'GET', path);
    const b = await call('acme', 'GET', path);
    assert.equal(a.headers.etag, b.headers.etag);
    assert.equal((await call('op', 'PUT', path, { body: { 'esfc-intent:description': 'from A' }, headers: { 'if-match': a.headers.etag! } })).status, 204);
    const rev = revision();
    const lost = await call('acme', 'PUT', path, { body: { 'esfc-intent:description': 'from B' }, headers: { 'if-match': b.headers.etag! } });
    assert.equal(lost.status, 412);
    assert.equal(revision(), rev);
    assert.equal((await call('op', 'GET', path)).json()['esfc-intent:description'], 'from A');
  });

  const refusals: { name: string; method: string; path: string; body?: unknown; raw?: string; status: number; tag: string; errorPath?: string }[] = [
    { name: 'malformed JSON', method: 'PUT', path: '/esfc-intent:chains/chain=x', raw: '{"esfc-intent:chain": [', status: 400, tag: 'malformed-message' },
    { name: 'an unknown leaf', method: 'PUT', path: '/esfc-intent:chains/chain=x', body: { 'esfc-intent:chain': [{ name: 'x', tenant: 'acme', 'service-function': ['sf1'], colour: 'red' }] }, status: 400, tag: 'unknown-element', errorPath: "/esfc-intent:chains/chain[name='x']" },
    { name: 'a wrong type', method: 'PUT', path: '/esfc-intent:nodes/node=node-a/nsh-ttl', body: { 'esfc-intent:nsh-ttl': 'sixty' }, status: 400, tag: 'invalid-value', errorPath: "/esfc-intent:nodes/node[name='node-a']/nsh-ttl" },
    { name: 'a value out of range', method: 'PUT', path: '/esfc-intent:nodes/node=node-a/nsh-ttl', body: { 'esfc-intent:nsh-ttl': 64 }, status: 400, tag: 'invalid-value' },
    { name: 'a key with /', method: 'GET', path: '/esfc-intent:chains/chain=a%2Fb', status: 400, tag: 'invalid-value' },
    { name: 'a key with ..', method: 'PUT', path: '/esfc-intent:chains/chain=..', body: { 'esfc-intent:chain': [{ name: '..', tenant: 'acme', 'service-function': ['sf1'] }] }, status: 400, tag: 'invalid-value' },
    { name: 'a body key that is not the URI key', method: 'PUT', path: '/esfc-intent:chains/chain=x', body: { 'esfc-intent:chain': [{ name: 'y', tenant: 'acme', 'service-function': ['sf1'] }] }, status: 400, tag: 'invalid-value' },
    { name: 'a missing mandatory leaf', method: 'PUT', path: '/esfc-intent:chains/chain=x', body: { 'esfc-intent:chain': [{ name: 'x', 'service-function': ['sf1'] }] }, status: 400, tag: 'missing-element' },
    { name: 'a dangling reference (chain of an unknown SF)', method: 'PUT', path: '/esfc-intent:chains/chain=x', body: { 'esfc-intent:chain': [{ name: 'x', tenant: 'acme', 'service-function': ['sf9'] }] }, status: 409, tag: 'data-missing' },
    { name: 'intent that breaks an invariant (a sensitive flow across ISP-B with no EF slot there)', method: 'DELETE', path: '/esfc-intent:nodes/node=node-b/encryption-function', status: 400, tag: 'invalid-value', errorPath: "/esfc-intent:nodes/node[name='node-b']/encryption-function" },
    { name: 'a write to operational state', method: 'PUT', path: '/esfc-state:nodes-state', body: { 'esfc-state:nodes-state': {} }, status: 405, tag: 'operation-not-supported' },
    { name: 'an unknown query parameter', method: 'GET', path: '/esfc-intent:chains?colour=red', status: 400, tag: 'invalid-value' },
    { name: 'an unknown top-level node', method: 'GET', path: '/esfc-intent:widgets', status: 400, tag: 'unknown-element' },
  ];
  for (const r of refusals) {
    test(`refused with an RFC 8040 error, nothing changed: ${r.name}`, async () => {
      const rev = revision();
      const before = JSON.stringify(c.controller.datastore.doc);
      const reply = await call('op', r.method, `/restconf/data${r.path}`, { ...(r.raw !== undefined ? { body: r.raw } : r.body !== undefined ? { body: r.body } : {}) });
      assert.equal(reply.status, r.status, reply.text);
      assert.equal(reply.headers['content-type'], J);
      const e = errorOf(reply);
      assert.equal(e.tag, r.tag, reply.text);
      assert.ok(e.message.length > 10, 'says what is wrong');
      if (r.errorPath) assert.equal(e.path, r.errorPath);
      assert.equal(revision(), rev);
      assert.equal(JSON.stringify(c.controller.datastore.doc), before);
    });
  }

  test('an oversized body is too-big (413), a wrong content type 415, an Accept the server cannot answer 406', async () => {
    // Unsigned: its signed request would carry the body again, past the header limit; the size is refused first.
    const big = await call('op', 'PUT', '/restconf/data/esfc-intent:chains/chain=x', { body: JSON.stringify({ x: 'y'.repeat(2 << 20) }), unsigned: true });
    assert.equal(big.status, 413);
    assert.equal(errorOf(big).tag, 'too-big');
    const r = await request(`${c.url}/restconf/data/esfc-intent:chains/chain=x`, { method: 'PUT', dispatcher: as.op!, headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(r.statusCode, 415);
    await r.body.text();
    assert.equal((await call('op', 'GET', '/restconf/data/esfc-intent:chains', { headers: { accept: 'application/xml' } })).status, 406);
  });

  test('GET with depth, fields and content', async () => {
    const d1 = (await call('op', 'GET', '/restconf/data/esfc-intent:chains?depth=1')).json();
    assert.deepEqual(d1, { 'esfc-intent:chains': {} });
    const d2 = (await call('op', 'GET', '/restconf/data/esfc-intent:chains?depth=2')).json()['esfc-intent:chains'] as { chain: Record<string, unknown>[] };
    assert.ok(d2.chain.every((x) => Object.keys(x).join() === 'name'), 'only the keys of entries at depth 2');
    const f = (await call('op', 'GET', '/restconf/data/esfc-intent:flows?fields=flow(name;sensitive)')).json()['esfc-intent:flows'] as { flow: Record<string, unknown>[] };
    assert.deepEqual(f.flow.map((x) => Object.keys(x).sort().join()), f.flow.map(() => 'name,sensitive'));
    assert.deepEqual(f.flow.map((x) => x.sensitive), [true, true, false]);
    const cfg = (await call('op', 'GET', '/restconf/data?content=config')).json()['ietf-restconf:data'] as Record<string, unknown>;
    assert.ok(!('esfc-state:nodes-state' in cfg));
    const st = (await call('op', 'GET', '/restconf/data?content=nonconfig')).json()['ietf-restconf:data'] as Record<string, unknown>;
    assert.ok('esfc-state:nodes-state' in st);
    assert.equal((await call('op', 'GET', '/restconf/data?depth=0')).status, 400);
    assert.equal((await call('op', 'GET', '/restconf/data?fields=flow(')).status, 400);
  });

  test('a tenant reads and writes only its own chains and flows; everything else is access-denied (403)', async () => {
    const mine = { 'esfc-intent:chain': [{ name: 'mal', tenant: 'mallory', 'service-function': ['sf1'] }] };
    assert.equal((await call('mallory', 'PUT', '/restconf/data/esfc-intent:chains/chain=mal', { body: mine })).status, 201);
    const seen = (await call('mallory', 'GET', '/restconf/data/esfc-intent:chains')).json()['esfc-intent:chains'] as { chain: { name: string }[] };
    assert.deepEqual(seen.chain.map((x) => x.name), ['mal'], 'other tenants\' chains are not shown');
    const denied: [string, string, unknown?][] = [
      ['GET', '/esfc-intent:chains/chain=web-chain'],
      ['PUT', '/esfc-intent:chains/chain=web-chain', { 'esfc-intent:chain': [{ name: 'web-chain', tenant: 'mallory', 'service-function': ['sf1'] }] }],
      ['DELETE', '/esfc-intent:flows/flow=mail'],
      ['PUT', '/esfc-intent:chains/chain=steal', { 'esfc-intent:chain': [{ name: 'steal', tenant: 'acme', 'service-function': ['sf1'] }] }],
      ['PUT', '/esfc-intent:chains/chain=mal/tenant', { 'esfc-intent:tenant': 'acme' }],
      ['GET', '/esfc-intent:nodes'],
      ['PUT', '/esfc-intent:nodes/node=node-a/nsh-ttl', { 'esfc-intent:nsh-ttl': 10 }],
      ['GET', '/esfc-state:nodes-state'],
      ['PUT', '/esfc-intent:chains', { 'esfc-intent:chains': { chain: [] } }],
    ];
    for (const [m, path, body] of denied) {
      const rev = revision();
      const r = await call('mallory', m, `/restconf/data${path}`, body === undefined ? {} : { body });
      assert.equal(r.status, 403, `${m} ${path}: ${r.text}`);
      assert.equal(errorOf(r).tag, 'access-denied');
      assert.equal(revision(), rev);
    }
    assert.equal((await call('acme', 'GET', '/restconf/data/esfc-intent:chains/chain=web-chain')).status, 200, 'the owner reads its chain');
    assert.equal((await call('mallory', 'DELETE', '/restconf/data/esfc-intent:chains/chain=mal')).status, 204);
  });

  test('agents: only their own node\'s desired state (with its keys) and report; no RESTCONF data', async () => {
    assert.equal((await call('agentA', 'GET', '/restconf/data')).status, 403);
    assert.equal((await call('agentA', 'GET', '/esfc-agent/v1/nodes/node-b/desired')).status, 403);
    assert.equal((await call('op', 'GET', '/esfc-agent/v1/nodes/node-a/desired')).status, 403, 'an operator does not read keys either');
    const d = await call('agentA', 'GET', '/esfc-agent/v1/nodes/node-a/desired');
    assert.equal(d.status, 200);
    const body = d.json() as { generation: number; config: { node: { name: string }; encryptedHops: { keys: { key: string }[] }[] } };
    assert.equal(body.config.node.name, 'node-a');
    assert.ok(body.config.encryptedHops.length > 0 && body.config.encryptedHops.every((h) => /^[0-9a-f]{72}$/.test(h.keys[0]!.key)), 'keys go to the agent');
    const key = body.config.encryptedHops[0]!.keys[0]!.key;
    // The keys appear nowhere else: not in RESTCONF data, state or the instruction log.
    const all = (await call('op', 'GET', '/restconf/data')).text;
    assert.ok(!all.includes(key.slice(0, 16)));
    const log = JSON.stringify(c.db.prepare('SELECT * FROM instructions').all());
    assert.ok(!log.includes(key.slice(0, 16)));
    // Nothing changed: a long poll with the current generation comes back 304 after the wait.
    const t0 = Date.now();
    const same = await call('agentA', 'GET', '/esfc-agent/v1/nodes/node-a/desired?wait=1', { headers: { 'if-none-match': d.headers.etag! } });
    assert.equal(same.status, 304);
    assert.ok(Date.now() - t0 >= 900, 'held for the wait');
    // A change wakes the poll at once.
    const waiting = call('agentA', 'GET', '/esfc-agent/v1/nodes/node-a/desired?wait=20', { headers: { 'if-none-match': d.headers.etag! } });
    await call('op', 'PUT', '/restconf/data/esfc-intent:nodes/node=node-a/nsh-ttl', { body: { 'esfc-intent:nsh-ttl': 60 } });
    const woke = await waiting;
    assert.equal(woke.status, 200);
    assert.equal((woke.json() as { generation: number }).generation, body.generation + 1);
    const rep = await call('agentA', 'POST', '/esfc-agent/v1/nodes/node-a/report', { body: { desiredGeneration: body.generation + 1, appliedGeneration: body.generation + 1, status: { hooks: [{ ifname: 'ul0', hook: 'tc', mechanism: 'tcx', programId: 7 }], counters: [{ port: 'client', stat: 'classified', drop: false, packets: 12, bytes: 1200 }] } } });
    assert.equal(rep.status, 204);
    const st = (await call('op', 'GET', '/restconf/data/esfc-state:nodes-state/node=node-a')).json()['esfc-state:node'] as Record<string, unknown>[];
    assert.equal(st[0]!['applied-generation'], String(body.generation + 1));
    assert.equal(st[0]!.connected, true);
    assert.deepEqual(st[0]!.counter, [{ port: 'client', stat: 'classified', drop: false, packets: '12', bytes: '1200' }]);
    assert.equal((await call('agentB', 'POST', '/esfc-agent/v1/nodes/node-a/report', { body: {} })).status, 403, 'an agent reports only for its node');
  });

  test('the event stream tells subscribers about every write', async () => {
    const res = await request(`${c.url}/restconf/streams/esfc-datastore/json`, { dispatcher: as.op!, headers: { accept: 'text/event-stream' } });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    const got = new Promise<string>((resolve) => {
      let buf = '';
      res.body.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /^data: (.*)$/m.exec(buf);
        if (m) resolve(m[1]!);
      });
    });
    await call('op', 'PUT', '/restconf/data/esfc-intent:chains/chain=mail-chain/description', { body: { 'esfc-intent:description': 'streamed' } });
    const n = JSON.parse(await got) as Record<string, Record<string, unknown>>;
    const change = n['ietf-restconf:notification']!['ietf-netconf-notifications:netconf-config-change'] as { 'changed-by': { username: string }; edit: { target: string; operation: string }[] };
    assert.equal(change['changed-by'].username, 'operator:alice');
    assert.deepEqual(change.edit, [{ target: '/esfc-intent:chains/chain=mail-chain/description', operation: 'replace' }]);
    res.body.destroy();
  });

  test('an unknown CA, an expired certificate and no certificate are refused at the handshake; a revoked one gets 403', async () => {
    const other = mkdtempSync(join(tmpdir(), 'esfc-other-ca-'));
    try {
      const foreign = await startController(other, quiet);
      const fb = readBundle(await foreign.enroll('operator', 'alice'));
      await foreign.close();
      // Trust our server, present a certificate of another CA.
      const fd = clientDispatcher({ key: fb.key, cert: fb.cert, ca: fb.ca }, { ca: c.ca.certPem });
      await assert.rejects(request(`${c.url}/restconf`, { dispatcher: fd }));
      const expired = clientDispatcher(readBundle(await c.enroll('operator', 'old', { notBefore: new Date(Date.now() - 3 * 86400_000), notAfter: new Date(Date.now() - 86400_000) })));
      await assert.rejects(request(`${c.url}/restconf`, { dispatcher: expired }));
      const revokedPath = await c.enroll('operator', 'bob');
      const bob = clientDispatcher(readBundle(revokedPath));
      assert.equal((await request(`${c.url}/restconf`, { dispatcher: bob })).statusCode, 200);
      c.revoke(revokedPath);
      const r = await request(`${c.url}/restconf`, { dispatcher: clientDispatcher(readBundle(revokedPath)) });
      assert.equal(r.statusCode, 403);
      assert.match(await r.body.text(), /revoked/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
