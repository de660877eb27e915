/**
 * `esfc-intent:rekey` over RESTCONF: who may ask for a key change, of which
 * pairs, and what the answer says (the key change itself: auc.test.ts, and
 * under traffic in the kernel lab).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { jsonLogger } from '../../agent/log.js';
import { startController, type Embedded } from '../../controller/embedded.js';
import { signedWrite } from '../../controller/ledger-client.js';
import { generateKey, registeredKey, type Signer } from '../../controller/ledger/index.js';
import { TX_ID_HEADER } from '../../controller/orchestration-log.js';
import { clientDispatcher, readBundle } from '../../controller/pki/index.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent } from '../../scenario/intent.js';

const dir = mkdtempSync(join(tmpdir(), 'esfc-rekey-op-'));
let c: Embedded;
const who = new Map<string, Dispatcher>();
/** Signing keys: an invocation is an orchestration operation, signed by whoever asks for it. */
const noc = generateKey('ed25519');
const tenantKeys = { acme: generateKey('ed25519'), globex: generateKey('ed25519') };
const signers: Record<string, Signer> = { 'operator:noc': noc.signer, 'tenant:acme': tenantKeys.acme.signer, 'tenant:globex': tenantKeys.globex.signer };
const REKEY = '/restconf/operations/esfc-intent:rekey';

async function call(as: string, body: unknown, o: { unsigned?: boolean } = {}): Promise<{ status: number; json: Record<string, unknown>; txId: string | undefined }> {
  const text = JSON.stringify(body);
  const signer = o.unsigned ? undefined : signers[as];
  const r = await request(`${c.url}${REKEY}`, {
    method: 'POST', dispatcher: who.get(as)!, body: text,
    headers: { 'content-type': 'application/yang-data+json', ...(signer ? signedWrite(signer, 'POST', REKEY, text).headers : {}) },
  });
  const reply = await r.body.text();
  const txId = r.headers[TX_ID_HEADER];
  return { status: r.statusCode, json: reply ? JSON.parse(reply) as Record<string, unknown> : {}, txId: typeof txId === 'string' ? txId : undefined };
}

const appTagOf = (json: Record<string, unknown>): string | undefined => (json['ietf-restconf:errors'] as { error: { 'error-app-tag'?: string }[] }).error[0]!['error-app-tag'];

before(async () => {
  c = await startController(dir, jsonLogger({}, () => undefined), {
    ledgerKeys: [registeredKey(noc, 'operator', 'noc'), ...(['acme', 'globex'] as const).map((t) => registeredKey(tenantKeys[t], 'tenant', t))],
  });
  for (const [kind, name] of [['operator', 'noc'], ['tenant', 'acme'], ['tenant', 'globex'], ['agent', 'node-a']] as const) {
    who.set(`${kind}:${name}`, clientDispatcher(readBundle(await c.enroll(kind, name))));
  }
  const ep = planEncryptedScenario();
  const body = JSON.stringify({ 'ietf-restconf:data': scenarioIntent(ep.base, { efs: ep.efs, flows: DESIGN_FLOWS, tenant: 'acme' }) });
  const put = await request(`${c.url}/restconf/data`, {
    method: 'PUT', dispatcher: who.get('operator:noc')!, headers: { 'content-type': 'application/yang-data+json', ...signedWrite(noc.signer, 'PUT', '/restconf/data', body).headers }, body,
  });
  assert.equal(put.statusCode, 201, await put.body.text());
  c.controller.phaseTimeoutMs = 100;
  await c.controller.settled();
});

after(async () => {
  await c?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('an operator changes the keys of one flow\'s pairs; the answer names them (E-SPIs, never a key)', async () => {
  const pairs = c.controller.deployedPairs().filter((p) => p.flow === 'mail').map((p) => p.espi).sort((a, b) => a - b);
  assert.equal(pairs.length, 2);
  const unsigned = await call('operator:noc', { 'esfc-intent:input': { flow: 'mail' } }, { unsigned: true });
  assert.equal(unsigned.status, 403, JSON.stringify(unsigned.json));
  assert.equal(appTagOf(unsigned.json), 'esfc-ledger:unsigned');
  for (const e of pairs) assert.equal(c.auc.isChanging(e), false, 'an unsigned invocation changes nothing');
  const r = await call('operator:noc', { 'esfc-intent:input': { flow: 'mail' } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json, { 'esfc-intent:output': { pairs: 2, 'e-spi': pairs } });
  assert.match(r.txId ?? '', /^[0-9a-f]{64}$/, 'the reply names the logged request');
  // No agent is connected: each pair waits at step 1, the new key at the decrypting end only.
  for (const e of pairs) {
    assert.equal(c.auc.isChanging(e), true);
    assert.deepEqual(c.controller.keys.info(e).map((k) => [k.epoch, k.atDecrypt, k.atEncrypt]), [[1, true, true], [2, true, false]]);
  }
});

test('a tenant may change the keys of its own chains and flows only; an agent of none', async () => {
  const own = await call('tenant:acme', { 'esfc-intent:input': { chain: 'web-chain' } });
  assert.equal(own.status, 200, JSON.stringify(own.json));
  assert.ok(((own.json['esfc-intent:output'] as { pairs: number }).pairs) >= 2);
  const changing = c.controller.deployedPairs().filter((p) => c.auc.isChanging(p.espi)).length;
  const foreign = await call('tenant:globex', { 'esfc-intent:input': { flow: 'mail' } });
  assert.equal(foreign.status, 403, JSON.stringify(foreign.json));
  assert.equal((foreign.json['ietf-restconf:errors'] as { error: { 'error-tag': string }[] }).error[0]!['error-tag'], 'access-denied');
  // The log refuses it from the operation's scope before anything runs.
  assert.equal(appTagOf(foreign.json), 'esfc-ledger:not-authorised');
  assert.equal(c.controller.deployedPairs().filter((p) => c.auc.isChanging(p.espi)).length, changing);
  // Without a filter a tenant reaches only its own pairs: globex has none.
  const none = await call('tenant:globex', { 'esfc-intent:input': {} });
  assert.deepEqual(none.json, { 'esfc-intent:output': { pairs: 0, 'e-spi': [] } });
  const agent = await call('agent:node-a', { 'esfc-intent:input': {} });
  assert.equal(agent.status, 403, JSON.stringify(agent.json));
});

test('a flow that does not exist is refused by the model before anything happens', async () => {
  const r = await call('operator:noc', { 'esfc-intent:input': { flow: 'nope' } });
  assert.equal(r.status, 400, JSON.stringify(r.json));
});
