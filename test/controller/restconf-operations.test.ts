/**
 * RESTCONF operations (RFC 8040 3.3.2, 3.6) over real TLS with certificates
 * from the controller's CA: the listing, invoking esfc-intent:rekey with a
 * handler map the test supplies and watches (what it receives, that it is
 * not called when the input is refused), the RFC 7951 output, and every
 * refusal as an RFC 8040 error: bad input, unknown operation, wrong method,
 * no handler, who may not invoke. An invocation is an orchestration
 * operation: signed by its invoker, committed to the log with its outcome,
 * run once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { jsonLogger } from '../../agent/log.js';
import { Controller } from '../../controller/controller.js';
import { Kek } from '../../controller/keys/kek.js';
import { KeyStore } from '../../controller/keys/key-store.js';
import { generateKey, registeredKey } from '../../controller/ledger/index.js';
import { signIfWrite, signedWrite } from '../../controller/ledger-client.js';
import { ensureControllerLedger } from '../../controller/ledger-setup.js';
import { CertificateAuthority, clientDispatcher, readBundle, writeBundle } from '../../controller/pki/index.js';
import { RestconfFailure } from '../../controller/restconf/errors.js';
import { UnknownOperationHandlerError, type OperationHandler } from '../../controller/restconf/operations.js';
import type { Principal } from '../../controller/restconf/principal.js';
import { RestconfServer, type ServerOptions } from '../../controller/restconf/server.js';
import { openDb, type Db } from '../../controller/store/db.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent, VIDEO_FLOW } from '../../scenario/intent.js';

const J = 'application/yang-data+json';
const REKEY = '/restconf/operations/esfc-intent:rekey';
const quiet = jsonLogger({}, () => undefined);
const ep = planEncryptedScenario();
const intent = scenarioIntent(ep.base, { efs: ep.efs, nsOf: (e) => `ns-${e}`, flows: [...DESIGN_FLOWS, VIDEO_FLOW] });

interface Reply { status: number; headers: Record<string, string>; text: string; json: () => Record<string, unknown> }
interface Call { who: string; input: Record<string, unknown> }

describe('RESTCONF operations (RFC 8040 3.6) over mutual TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-operations-'));
  let db: Db;
  let controller: Controller;
  let server: RestconfServer;
  /** The same controller served without any operation handler. */
  let bare: RestconfServer;
  const urls: Record<'server' | 'bare', string> = { server: '', bare: '' };
  let common: Omit<ServerOptions, 'operations' | 'ledger'>;
  const as: Record<string, Dispatcher> = {};
  /** Signing keys: data writes and invocations go through the orchestration log. */
  const opKey = generateKey('ed25519');
  const signers: Record<string, ReturnType<typeof generateKey>> = { op: opKey, acme: generateKey('ed25519'), mallory: generateKey('ed25519') };

  // What the handler received, and what it does next (the tests set it).
  const calls: Call[] = [];
  let respond: (input: Record<string, unknown>) => Promise<Record<string, unknown> | undefined> = () => Promise.resolve(undefined);
  const rekey: OperationHandler = {
    // This handler reaches no tenant's data: whether a tenant may name a chain is left to it (it does not check).
    scope: () => ({ tenants: [], flows: [] }),
    invoke: async (p: Principal, input) => {
      calls.push({ who: `${p.kind}:${p.name}`, input });
      return respond(input);
    },
  };

  const call = async (who: string, method: string, path: string, o: { body?: unknown; headers?: Record<string, string>; at?: 'server' | 'bare'; unsigned?: true } = {}): Promise<Reply> => {
    const body = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    const key = o.unsigned ? undefined : signers[who];
    const r = await request(`${urls[o.at ?? 'server']}${path}`, {
      method: method as 'GET', dispatcher: as[who]!,
      headers: { ...(body !== undefined ? { 'content-type': J } : {}), ...(key ? signIfWrite(key.signer, method, path, body) : {}), ...o.headers },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers as Record<string, string>, text, json: () => JSON.parse(text) as Record<string, unknown> };
  };
  const errorsOf = (r: Reply): { tag: string; type: string; path?: string; appTag?: string; message: string }[] =>
    (r.json()['ietf-restconf:errors'] as { error: Record<string, string>[] }).error.map((e) => ({
      tag: e['error-tag']!, type: e['error-type']!, message: e['error-message']!,
      ...(e['error-path'] ? { path: e['error-path'] } : {}), ...(e['error-app-tag'] ? { appTag: e['error-app-tag'] } : {}),
    }));

  before(async () => {
    // As controller/embedded.ts sets a controller up, but with servers whose operation handlers the test chooses.
    const ca = await CertificateAuthority.create(join(dir, 'ca'));
    writeBundle(join(dir, 'server.pem'), await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }));
    Kek.create(join(dir, 'kek'));
    db = openDb(join(dir, 'controller.db'));
    const kek = Kek.load(join(dir, 'kek'));
    controller = new Controller(db, new KeyStore(db, kek), quiet);
    common = { controller, trust: ca.trust, credential: readBundle(join(dir, 'server.pem')), log: quiet, isRevoked: () => false };
    // Each server has its own orchestration log (one writer per log file); both know the operator's key.
    const ledgerOf = (sub: string): ServerOptions['ledger'] => {
      const l = ensureControllerLedger(join(dir, sub), kek, [
        registeredKey(opKey, 'operator', 'alice'), registeredKey(signers.acme!, 'tenant', 'acme'), registeredKey(signers.mallory!, 'tenant', 'mallory'),
      ]);
      return { dir: l.dir, genesis: l.genesis, orchestrator: l.orchestrator, domain: l.domain, log: quiet };
    };
    server = new RestconfServer({ ...common, ledger: ledgerOf('server'), operations: new Map([['esfc-intent:rekey', rekey]]) });
    urls.server = `https://127.0.0.1:${await server.listen(0, '127.0.0.1')}`;
    bare = new RestconfServer({ ...common, ledger: ledgerOf('bare') });
    urls.bare = `https://127.0.0.1:${await bare.listen(0, '127.0.0.1')}`;
    mkdirSync(join(dir, 'clients'), { mode: 0o700 });
    for (const [who, kind, name] of [['op', 'operator', 'alice'], ['acme', 'tenant', 'acme'], ['mallory', 'tenant', 'mallory'], ['agentA', 'agent', 'node-a']] as const) {
      const path = join(dir, 'clients', `${who}.pem`);
      writeBundle(path, await ca.issueClient({ kind, name }));
      as[who] = clientDispatcher(readBundle(path));
    }
    const data = JSON.stringify({ 'ietf-restconf:data': intent });
    const put = await call('op', 'PUT', '/restconf/data', { body: data, headers: signedWrite(opKey.signer, 'PUT', '/restconf/data', data).headers });
    assert.equal(put.status, 201, put.text);
  });
  after(async () => {
    await server?.close();
    await bare?.close();
    controller?.close();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('GET /restconf/operations lists every rpc of the schema (RFC 8040 3.3.2); the API root and the YANG library are as before', async () => {
    for (const at of ['server', 'bare'] as const) {
      const r = await call('op', 'GET', '/restconf/operations', { at });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], J);
      assert.equal(r.text, '{"ietf-restconf:operations":{"esfc-intent:rekey":[null]}}', 'with or without handlers: the schema\'s rpcs');
    }
    const head = await call('op', 'HEAD', '/restconf/operations');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    const post = await call('op', 'POST', '/restconf/operations', { body: {} });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD, OPTIONS');
    assert.equal(errorsOf(post)[0]!.tag, 'operation-not-supported');
    assert.deepEqual((await call('op', 'GET', '/restconf')).json(), { 'ietf-restconf:restconf': { data: {}, operations: {}, 'yang-library-version': '2019-01-04' } });
    const lib = (await call('op', 'GET', '/restconf/data/ietf-yang-library:yang-library')).json()['ietf-yang-library:yang-library'] as { 'module-set': { module: { name: string; revision: string; location: string[] }[] }[] };
    const intentModule = lib['module-set'][0]!.module.find((m) => m.name === 'esfc-intent')!;
    assert.equal(intentModule.revision, '2026-12-03');
    const src = await call('op', 'GET', new URL(intentModule.location[0]!).pathname);
    assert.equal(src.status, 200);
    assert.match(src.text, /^ {2}rpc rekey \{$/m, 'the served module source holds the rpc');
  });

  test('POST with input: the handler gets the decoded input and the principal; its output comes back in RFC 7951 form (200)', async () => {
    calls.length = 0;
    respond = () => Promise.resolve({ pairs: 2, 'e-spi': [4096, 4097] });
    const r = await call('op', 'POST', REKEY, { body: { 'esfc-intent:input': { chain: 'web-chain' } } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], J);
    assert.equal(r.text, '{"esfc-intent:output":{"pairs":2,"e-spi":[4096,4097]}}', 'uint32 as JSON numbers, members in schema order');
    assert.deepEqual(calls, [{ who: 'operator:alice', input: { chain: 'web-chain' } }]);

    calls.length = 0;
    respond = () => Promise.resolve({ 'e-spi': [7], pairs: 1 });
    const both = await call('op', 'POST', REKEY, { body: { 'esfc-intent:input': { chain: 'mail-chain', flow: 'mail' } } });
    assert.equal(both.text, '{"esfc-intent:output":{"pairs":1,"e-spi":[7]}}');
    assert.deepEqual(calls, [{ who: 'operator:alice', input: { chain: 'mail-chain', flow: 'mail' } }]);
  });

  test('an invocation is signed, logged with its outcome and run once: unsigned or replayed, the handler never runs', async () => {
    calls.length = 0;
    respond = () => Promise.resolve({ pairs: 1, 'e-spi': [9] });
    const input = { 'esfc-intent:input': { chain: 'mail-chain' } };
    const unsigned = await call('op', 'POST', REKEY, { body: input, unsigned: true });
    assert.equal(unsigned.status, 403, unsigned.text);
    assert.equal(errorsOf(unsigned)[0]!.appTag, 'esfc-ledger:unsigned');
    assert.deepEqual(calls, [], 'nothing ran');

    const text = JSON.stringify(input);
    const signed = signedWrite(opKey.signer, 'POST', REKEY, text);
    const r = await call('op', 'POST', REKEY, { body: text, headers: signed.headers });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['esfc-transaction-id'], signed.id);
    assert.match(r.headers['esfc-response-id'] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(calls.length, 1);
    // The log holds the request and the response with the operation's output, under the chain it names.
    const history = (await call('op', 'GET', '/esfc-ledger/v1/history?chain=mail-chain')).json()['esfc-ledger:history'] as { transaction: Record<string, unknown> }[];
    const req = history.find((h) => h.transaction['id'] === signed.id)?.transaction;
    assert.deepEqual([req?.['method'], req?.['path']], ['POST', REKEY]);
    const res = history.find((h) => h.transaction['requestId'] === signed.id)?.transaction;
    assert.equal(res?.['outcome'], 'ok');
    assert.deepEqual((res?.['result'] as { output: unknown }).output, { 'esfc-intent:output': { pairs: 1, 'e-spi': [9] } });

    const replay = await call('op', 'POST', REKEY, { body: text, headers: signed.headers });
    assert.equal(replay.status, 409, replay.text);
    assert.equal(errorsOf(replay)[0]!.appTag, 'esfc-ledger:duplicate');
    // Signed for another input: the controller refuses the mismatch.
    const other = await call('op', 'POST', REKEY, { body: { 'esfc-intent:input': { chain: 'web-chain' } }, headers: signed.headers });
    assert.equal(other.status, 400, other.text);
    assert.equal(errorsOf(other)[0]!.appTag, 'esfc-ledger:mismatch');
    assert.equal(calls.length, 1, 'run once');
  });

  test('POST without a body: every parameter absent (rekey every pair); a handler returning nothing is 204', async () => {
    calls.length = 0;
    respond = () => Promise.resolve(undefined);
    const r = await call('op', 'POST', REKEY);
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    assert.deepEqual(calls, [{ who: 'operator:alice', input: {} }]);
    respond = () => Promise.resolve({});
    assert.equal((await call('op', 'POST', REKEY, { body: { 'esfc-intent:input': {} } })).status, 204, 'output without members: no body either');
  });

  const refusals: { name: string; body: unknown; tag: string; type: string; path?: string; appTag?: string; message: RegExp }[] = [
    { name: 'an unknown member', body: { 'esfc-intent:input': { chain: 'web-chain', colour: 'red' } }, tag: 'unknown-element', type: 'application', path: '/esfc-intent:rekey', message: /no "colour" in \/esfc-intent:rekey; expected one of: chain, flow/ },
    { name: 'a wrong type', body: { 'esfc-intent:input': { chain: 5 } }, tag: 'invalid-value', type: 'application', path: '/esfc-intent:rekey/chain', message: /leaf 'chain': expected esfc:name .* as a JSON string, got the number 5/ },
    { name: 'a value its type refuses', body: { 'esfc-intent:input': { flow: 'Web Flow' } }, tag: 'invalid-value', type: 'application', path: '/esfc-intent:rekey/flow', message: /does not match the pattern/ },
    { name: 'a chain that does not exist', body: { 'esfc-intent:input': { chain: 'no-such-chain' } }, tag: 'invalid-value', type: 'application', path: '/esfc-intent:rekey/chain', appTag: 'instance-required', message: /chain "no-such-chain" does not exist: it must be one of \/esfc-intent:chains\/chain\/name \(existing: .*web-chain/ },
    { name: 'a flow that does not exist', body: { 'esfc-intent:input': { chain: 'web-chain', flow: 'nope' } }, tag: 'invalid-value', type: 'application', path: '/esfc-intent:rekey/flow', appTag: 'instance-required', message: /flow "nope" does not exist/ },
    { name: 'parameters not wrapped in input', body: { chain: 'web-chain' }, tag: 'malformed-message', type: 'rpc', message: /\{"esfc-intent:input": \{\.\.\.\}\}/ },
    { name: 'an unqualified input member', body: { input: { chain: 'web-chain' } }, tag: 'malformed-message', type: 'rpc', message: /"input"/ },
    { name: 'a qualified parameter', body: { 'esfc-intent:input': { 'esfc-intent:chain': 'web-chain' } }, tag: 'malformed-message', type: 'rpc', path: '/esfc-intent:rekey', message: /must be written "chain"/ },
    // Not JSON: the signed request that carries it is refused as malformed before the model sees it.
    { name: 'malformed JSON', body: '{"esfc-intent:input": {', tag: 'malformed-message', type: 'rpc', appTag: 'esfc-ledger:malformed', message: /body is not JSON/ },
    { name: 'a duplicate member', body: '{"esfc-intent:input": {"chain": "web-chain", "chain": "mail-chain"}}', tag: 'malformed-message', type: 'rpc', message: /./ },
  ];
  for (const r of refusals) {
    test(`bad input is refused (400, RFC 8040 error) and the handler is not called: ${r.name}`, async () => {
      calls.length = 0;
      const reply = await call('op', 'POST', REKEY, { body: r.body });
      assert.equal(reply.status, 400, reply.text);
      assert.equal(reply.headers['content-type'], J);
      const e = errorsOf(reply)[0]!;
      assert.equal(e.tag, r.tag, reply.text);
      assert.equal(e.type, r.type, reply.text);
      assert.equal(e.path, r.path, reply.text);
      // The log's refusal keeps the model's tags; where the model had no app tag, it says the log refused the instruction.
      assert.equal(e.appTag, r.appTag ?? 'esfc-ledger:invalid-instruction', reply.text);
      assert.match(e.message, r.message);
      assert.deepEqual(calls, [], 'the handler never saw it');
    });
  }

  test('every problem of the input is reported, not only the first', async () => {
    const r = await call('op', 'POST', REKEY, { body: { 'esfc-intent:input': { chain: 5, flow: 6, colour: 'red' } } });
    assert.equal(r.status, 400);
    assert.deepEqual(errorsOf(r).map((e) => [e.tag, e.path]), [
      ['invalid-value', '/esfc-intent:rekey/chain'], ['invalid-value', '/esfc-intent:rekey/flow'], ['unknown-element', '/esfc-intent:rekey'],
    ]);
  });

  test('an unknown operation is 404; the operation itself takes only POST (405 with Allow); OPTIONS says so', async () => {
    for (const path of ['/restconf/operations/esfc-intent:reboot', '/restconf/operations/esfc-nothing:rekey', '/restconf/operations/rekey', '/restconf/operations/esfc-intent:rekey/more', '/restconf/operations/%E0%A4%A']) {
      const r = await call('op', 'POST', path, { body: { 'esfc-intent:input': {} } });
      assert.equal(r.status, 404, `${path}: ${r.text}`);
      const e = errorsOf(r)[0]!;
      assert.deepEqual([e.tag, e.type], ['invalid-value', 'protocol'], path);
      assert.match(e.message, /esfc-intent:rekey/, `${path}: says what exists`);
    }
    assert.match(errorsOf(await call('op', 'POST', '/restconf/operations/rekey'))[0]!.message, /operations are named module:rpc, e\.g\. esfc-intent:rekey/);
    calls.length = 0;
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      const r = await call('op', method, REKEY);
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'OPTIONS, POST', method);
      const e = errorsOf(r)[0]!;
      assert.deepEqual([e.tag, e.type], ['operation-not-supported', 'protocol'], method);
    }
    const head = await call('op', 'HEAD', REKEY);
    assert.equal(head.status, 405);
    const options = await call('op', 'OPTIONS', REKEY);
    assert.equal(options.status, 200);
    assert.equal(options.headers.allow, 'OPTIONS, POST');
    assert.deepEqual(calls, []);
  });

  test('an rpc of the schema without a handler is 501 operation-not-supported', async () => {
    const r = await call('op', 'POST', REKEY, { at: 'bare', body: { 'esfc-intent:input': { chain: 'web-chain' } } });
    assert.equal(r.status, 501, r.text);
    const e = errorsOf(r)[0]!;
    assert.deepEqual([e.tag, e.type], ['operation-not-supported', 'application']);
    assert.match(e.message, /esfc-intent:rekey .*does not implement it/);
  });

  test('the handler\'s RestconfFailure is the error reply; output that does not fit the rpc is a 500, never sent', async () => {
    calls.length = 0;
    respond = () => Promise.reject(RestconfFailure.of('in-use', 'a key change of these pairs is already under way', { type: 'application' }));
    const busy = await call('op', 'POST', REKEY, { body: { 'esfc-intent:input': { flow: 'web' } } });
    assert.equal(busy.status, 409, busy.text);
    assert.deepEqual(errorsOf(busy), [{ tag: 'in-use', type: 'application', message: 'a key change of these pairs is already under way' }]);
    assert.equal(calls.length, 1);
    for (const out of [{ pairs: -1 }, { pairs: 1, spi: [1] }, { 'e-spi': 7 }, { pairs: '2' }]) {
      respond = () => Promise.resolve(out);
      const r = await call('op', 'POST', REKEY);
      assert.equal(r.status, 500, JSON.stringify(out));
      assert.equal(errorsOf(r)[0]!.tag, 'operation-failed');
      assert.doesNotMatch(r.text, /esfc-intent:output/);
    }
  });

  test('a body needs the YANG JSON media type (415); agents may not invoke (403); tenants reach the handler, and refusals list only their names', async () => {
    calls.length = 0;
    respond = () => Promise.resolve({ pairs: 0 });
    const typed = await call('op', 'POST', REKEY, { body: '{"esfc-intent:input": {}}', headers: { 'content-type': 'text/plain' } });
    assert.equal(typed.status, 415, typed.text);
    assert.equal((await call('op', 'POST', REKEY, { headers: { accept: 'application/xml' } })).status, 406);
    const agent = await call('agentA', 'POST', REKEY, { body: { 'esfc-intent:input': {} } });
    assert.equal(agent.status, 403, agent.text);
    assert.equal(errorsOf(agent)[0]!.tag, 'access-denied');
    assert.deepEqual(calls, []);
    // A chain that exists nowhere: mallory is told so, without a list of acme's chains.
    const missing = await call('mallory', 'POST', REKEY, { body: { 'esfc-intent:input': { chain: 'no-such-chain', flow: 'web' } } });
    assert.equal(missing.status, 400, missing.text);
    assert.deepEqual(errorsOf(missing).map((e) => [e.tag, e.path]), [['invalid-value', '/esfc-intent:rekey/chain']], 'acme\'s flow web exists: only the chain is refused');
    assert.match(errorsOf(missing)[0]!.message, /chain "no-such-chain" does not exist: .*\(there are none\)/);
    assert.doesNotMatch(missing.text, /web-chain|mail-chain|video-chain/);
    assert.deepEqual(calls, []);
    // acme's chain exists: whether mallory may touch it is the handler's call (this one does not check), as for data.
    const foreign = await call('mallory', 'POST', REKEY, { body: { 'esfc-intent:input': { chain: 'web-chain' } } });
    assert.equal(foreign.status, 200, foreign.text);
    const own = await call('acme', 'POST', REKEY, { body: { 'esfc-intent:input': { chain: 'web-chain' } } });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.text, '{"esfc-intent:output":{"pairs":0}}');
    assert.deepEqual(calls, [{ who: 'tenant:mallory', input: { chain: 'web-chain' } }, { who: 'tenant:acme', input: { chain: 'web-chain' } }]);
  });

  test('a handler for something that is not an rpc of the schema is refused when the server is made', () => {
    assert.throws(() => new RestconfServer({ ...common, ledger: { dir: join(dir, 'refused', 'ledger'), orchestrator: generateKey('ed25519').signer, domain: 'controller', log: quiet }, operations: new Map([['esfc-intent:reboot', rekey]]) }),
      (e: unknown) => e instanceof UnknownOperationHandlerError && e.operation === 'esfc-intent:reboot' && /rpcs: esfc-intent:rekey/.test(e.message));
  });
});
