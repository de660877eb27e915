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
import { generateKey, registeredKey } from '../../controller/ledger/index.js';
import { clientDispatcher, readBundle } from '../../controller/pki/index.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent } from '../../scenario/intent.js';

const dir = mkdtempSync(join(tmpdir(), 'esfc-rekey-op-'));
let c: Embedded;
const who = new Map<string, Dispatcher>();
/** The operator's signing key: it writes the intent (the rekey operation itself is not a data write). */
const noc = generateKey('ed25519');

async function call(as: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await request(`${c.url}/restconf/operations/esfc-intent:rekey`, {
    method: 'POST', dispatcher: who.get(as)!, headers: { 'content-type': 'application/yang-data+json' }, body: JSON.stringify(body),
  });
  const text = await r.body.text();
  return { status: r.statusCode, json: text ? JSON.parse(text) as Record<string, unknown> : {} };
}

before(async () => {
  c = await startController(dir, jsonLogger({}, () => undefined), { ledgerKeys: [registeredKey(noc, 'operator', 'noc')] });
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
  const r = await call('operator:noc', { 'esfc-intent:input': { flow: 'mail' } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json, { 'esfc-intent:output': { pairs: 2, 'e-spi': pairs } });
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
  const foreign = await call('tenant:globex', { 'esfc-intent:input': { flow: 'mail' } });
  assert.equal(foreign.status, 403, JSON.stringify(foreign.json));
  assert.equal((foreign.json['ietf-restconf:errors'] as { error: { 'error-tag': string }[] }).error[0]!['error-tag'], 'access-denied');
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
