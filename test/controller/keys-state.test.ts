/**
 * The AuC over RESTCONF: esfc-state:keys-state (each deployed EF pair, its
 * key-change stage and its key generations by SPI and epoch, never a key;
 * operators only) and the chain's rekey-interval (validated by the model,
 * carried to the pairs). No agent runs here: a key change asked for waits at
 * its first step, which is what lets the test see a pair in the middle of one.
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
import { DESIGN_FLOWS, scenarioIntent } from '../../scenario/intent.js';

const J = 'application/yang-data+json';
const quiet = jsonLogger({}, () => undefined);
const ep = planEncryptedScenario();
const KEYS_STATE = '/restconf/data/esfc-state:keys-state';

interface Reply { status: number; headers: Record<string, string>; text: string; json: () => Record<string, unknown> }
interface Generation { spi: number; epoch: number; created?: string; 'not-after'?: string; 'at-decrypting-end': boolean; 'at-encrypting-end': boolean }
interface Pair {
  'e-spi': number; flow: string; direction: string; stage: string; changing: boolean; 'rekey-interval': number;
  'encrypting-end': { node: string; 'encryption-function': string }; 'decrypting-end': { node: string; 'encryption-function': string };
  generation: Generation[];
}

describe('esfc-state:keys-state and a chain\'s rekey-interval over RESTCONF', () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-keys-state-'));
  let c: Embedded;
  const as: Record<string, Dispatcher> = {};
  // The operator's and the tenant's own signing keys: their data writes are signed.
  const signers: Record<string, GeneratedKey> = { op: generateKey('ed25519'), acme: generateKey('ed25519') };
  const call = async (who: string, method: string, path: string, body?: unknown): Promise<Reply> => {
    const text0 = body === undefined ? undefined : JSON.stringify(body);
    const r = await request(`${c.url}${path}`, {
      method: method as 'GET', dispatcher: as[who]!,
      headers: { ...(text0 !== undefined ? { 'content-type': J } : {}), ...(signers[who] ? signIfWrite(signers[who].signer, method, path, text0) : {}) },
      ...(text0 !== undefined ? { body: text0 } : {}),
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers as Record<string, string>, text, json: () => JSON.parse(text) as Record<string, unknown> };
  };
  const errorOf = (r: Reply): { tag: string; type: string; path?: string; message: string } => {
    const e = (r.json()['ietf-restconf:errors'] as { error: Record<string, string>[] }).error[0]!;
    return { tag: e['error-tag']!, type: e['error-type']!, message: e['error-message']!, ...(e['error-path'] ? { path: e['error-path'] } : {}) };
  };
  const pairs = async (): Promise<Pair[]> => {
    const r = await call('op', 'GET', KEYS_STATE);
    assert.equal(r.status, 200, r.text);
    return (r.json()['esfc-state:keys-state'] as { pair: Pair[] }).pair;
  };
  /** Every key the store holds, as the two agents of each pair would get it (hex: AES key + salt). */
  const allKeys = (): string[] => c.controller.deployedPairs().flatMap((p) => [
    ...c.controller.keys.keysFor(p.espi, 'decrypt'), ...c.controller.keys.keysFor(p.espi, 'encrypt'),
  ].map((k) => k.key));
  const assertNoKey = (text: string, keys: string[]): void => {
    assert.ok(keys.length > 0);
    for (const k of keys) {
      const raw = Buffer.from(k, 'hex');
      for (const form of [k, k.toUpperCase(), k.slice(0, 16), raw.toString('base64'), raw.toString('base64url'), raw.subarray(0, 32).toString('base64')]) {
        assert.ok(!text.includes(form), 'a key in the reply');
      }
    }
  };

  before(async () => {
    c = await startController(dir, quiet, { rekeyIntervalS: 3600, ledgerKeys: [registeredKey(signers.op!, 'operator', 'noc')] });
    for (const [who, kind, name] of [['op', 'operator', 'noc'], ['acme', 'tenant', 'acme'], ['agentA', 'agent', 'node-a']] as const) {
      as[who] = clientDispatcher(readBundle(await c.enroll(kind, name)));
    }
    const doc = scenarioIntent(ep.base, { efs: ep.efs, flows: DESIGN_FLOWS, tenant: 'acme' });
    (doc['esfc-intent:chains'] as { chain: Record<string, unknown>[] }).chain.find((x) => x.name === 'mail-chain')!['rekey-interval'] = 30;
    const put = await call('op', 'PUT', '/restconf/data', { 'ietf-restconf:data': doc });
    assert.equal(put.status, 201, put.text);
    const reg = keyRegistration({ ...signers.acme!, role: 'tenant', name: 'acme' });
    const registered = await call('op', 'PUT', reg.path, reg.body);
    assert.equal(registered.status, 201, registered.text);
    // No agent will acknowledge: each phase gives up waiting at once.
    c.controller.phaseTimeoutMs = 100;
    await c.controller.settled();
  });
  after(async () => {
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('one entry per deployed pair: its flow, direction, ends, interval and stage, and its generations exactly as the key store has them', async () => {
    const got = await pairs();
    const deployed = [...c.controller.deployedPairs()].sort((a, b) => a.espi - b.espi);
    assert.ok(deployed.length >= 6, `${deployed.length} pairs`);
    assert.deepEqual(got.map((p) => p['e-spi']), deployed.map((p) => p.espi));
    for (const [i, p] of deployed.entries()) {
      const g = got[i]!;
      assert.deepEqual(
        { flow: g.flow, direction: g.direction, enc: g['encrypting-end'], dec: g['decrypting-end'] },
        { flow: p.flow, direction: p.direction, enc: { node: p.enc.node, 'encryption-function': p.enc.ef }, dec: { node: p.dec.node, 'encryption-function': p.dec.ef } },
      );
      assert.equal(g['rekey-interval'], p.flow === 'mail' ? 30 : 3600, `pair ${p.espi}: the chain's interval, else the global one`);
      assert.equal(g.stage, 'steady');
      assert.equal(g.changing, false);
      assert.deepEqual(g.generation, c.controller.keys.info(p.espi).map((k) => ({
        spi: k.spi, epoch: k.epoch, created: k.created, 'not-after': k.notAfter, 'at-decrypting-end': k.atDecrypt, 'at-encrypting-end': k.atEncrypt,
      })));
      assert.deepEqual(Object.keys(g).sort(), ['changing', 'decrypting-end', 'direction', 'e-spi', 'encrypting-end', 'flow', 'generation', 'rekey-interval', 'stage']);
      assert.deepEqual(Object.keys(g.generation[0]!).sort(), ['at-decrypting-end', 'at-encrypting-end', 'created', 'epoch', 'not-after', 'spi'], 'no other member (no key)');
    }
    // One pair by its key, as a list entry resource.
    const one = await call('op', 'GET', `${KEYS_STATE}/pair=${deployed[0]!.espi}`);
    assert.equal(one.status, 200, one.text);
    assert.deepEqual((one.json()['esfc-state:pair'] as Pair[])[0], got[0]);
    // The whole datastore and the operational content carry it too, and no key anywhere.
    const all = await call('op', 'GET', '/restconf/data?content=nonconfig');
    assert.ok('esfc-state:keys-state' in (all.json()['ietf-restconf:data'] as Record<string, unknown>));
    for (const text of [all.text, one.text, JSON.stringify(got)]) assertNoKey(text, allKeys());
  });

  test('a pair in the middle of a key change: stage, changing, both generations and which end carries each; still no key', async () => {
    const mail = c.controller.deployedPairs().filter((p) => p.flow === 'mail');
    const r = await call('op', 'POST', '/restconf/operations/esfc-intent:rekey', { 'esfc-intent:input': { flow: 'mail' } });
    assert.equal(r.status, 200, r.text);
    // Step 1 is in the store at once; with no agent to acknowledge it, the change waits there.
    const got = await pairs();
    for (const p of mail) {
      const g = got.find((x) => x['e-spi'] === p.espi)!;
      assert.equal(g.stage, 'inbound-added');
      assert.equal(g.changing, true);
      assert.deepEqual(g.generation.map((x) => [x.epoch, x['at-decrypting-end'], x['at-encrypting-end']]), [[1, true, true], [2, true, false]]);
      const fresh = g.generation[1]!;
      assert.equal(Date.parse(fresh['not-after']!) - Date.parse(fresh.created!), 60_000, 'a 30 s chain\'s new keys live 60 s');
    }
    for (const g of got.filter((x) => x.flow !== 'mail')) assert.equal(g.stage, 'steady');
    assertNoKey(JSON.stringify(got), allKeys());
  });

  test('keys-state is for operators: tenants and agents are refused (403); it is read-only (405)', async () => {
    for (const who of ['acme', 'agentA']) {
      const r = await call(who, 'GET', KEYS_STATE);
      assert.equal(r.status, 403, r.text);
      assert.equal(errorOf(r).tag, 'access-denied');
    }
    const tenantAll = await call('acme', 'GET', '/restconf/data');
    assert.equal(tenantAll.status, 200);
    assert.ok(!('esfc-state:keys-state' in (tenantAll.json()['ietf-restconf:data'] as Record<string, unknown>)), 'not in a tenant\'s view of the datastore');
    const put = await call('op', 'PUT', KEYS_STATE, { 'esfc-state:keys-state': {} });
    assert.equal(put.status, 405);
    assert.equal(errorOf(put).tag, 'operation-not-supported');
  });

  test('a rekey-interval the model does not allow is refused with an RFC 8040 error and changes nothing; a valid one reaches the pairs', async () => {
    const path = '/restconf/data/esfc-intent:chains/chain=mail-chain/rekey-interval';
    for (const [body, what] of [[0, 'zero'], [-5, 'negative'], ['30', 'a string'], [4294967296, 'above uint32']] as const) {
      const rev = c.controller.datastore.revision;
      const before = JSON.stringify(c.controller.datastore.doc);
      const r = await call('acme', 'PUT', path, { 'esfc-intent:rekey-interval': body });
      assert.equal(r.status, 400, `${what}: ${r.text}`);
      assert.equal(r.headers['content-type'], J);
      const e = errorOf(r);
      assert.equal(e.tag, 'invalid-value', r.text);
      assert.equal(e.type, 'application');
      assert.equal(e.path, "/esfc-intent:chains/chain[name='mail-chain']/rekey-interval");
      assert.ok(e.message.length > 10, 'says what is wrong');
      assert.equal(c.controller.datastore.revision, rev);
      assert.equal(JSON.stringify(c.controller.datastore.doc), before);
    }
    // The same inside a whole chain entry.
    const whole = await call('acme', 'PUT', '/restconf/data/esfc-intent:chains/chain=web-chain', {
      'esfc-intent:chain': [{ name: 'web-chain', tenant: 'acme', 'rekey-interval': 0, 'service-function': ['sf1', 'sf2', 'sf3'] }],
    });
    assert.equal(whole.status, 400, whole.text);
    assert.equal(errorOf(whole).tag, 'invalid-value');

    // The tenant owns the chain, so it sets its interval; the pairs follow.
    assert.equal((await call('acme', 'PUT', path, { 'esfc-intent:rekey-interval': 45 })).status, 204);
    assert.deepEqual((await call('acme', 'GET', path)).json(), { 'esfc-intent:rekey-interval': 45 });
    await c.controller.settled();
    const got = await pairs();
    assert.ok(got.filter((p) => p.flow === 'mail').every((p) => p['rekey-interval'] === 45));
    assert.equal((await call('acme', 'DELETE', path)).status, 204);
    await c.controller.settled();
    assert.ok((await pairs()).filter((p) => p.flow === 'mail').every((p) => p['rekey-interval'] === 3600), 'absent: the global interval');
  });
});
