/**
 * Four domains' controllers on the replicated orchestration log, through
 * RESTCONF over real mutual TLS: each controller is its CometBFT v0.38
 * validator's application (isp-a, isp-b and isp-c run the scenario's three
 * nodes; a fourth, audit, validates and answers nothing). A write to any
 * controller is committed by the validators, applied by every controller in
 * the same order, and answered by the domains whose nodes it targets; a
 * refused write changes nothing anywhere; a killed validator's controller
 * catches up, and a restarted controller rebuilds the same intent from the
 * ledger.
 *
 * Skipped when cometbft is not installed. Controllers, validators and the
 * temp dir are removed in after(), also on failure.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request, type Dispatcher } from 'undici';
import { jsonLogger } from '../../agent/log.js';
import { createLocalNetwork, findCometbft, type CometNode } from '../../controller/abci/index.js';
import { startController, type Embedded } from '../../controller/embedded.js';
import { keyRegistration, signedWrite } from '../../controller/ledger-client.js';
import { generateKey, genesisValidator, parseGenesis, registeredKey, verifyLog, type GeneratedKey, type Genesis, type Method } from '../../controller/ledger/index.js';
import { keysRegisteredBy, RESPONSE_ID_HEADER, TX_ID_HEADER } from '../../controller/orchestration-log.js';
import { clientDispatcher, readBundle } from '../../controller/pki/index.js';
import { readCometValidatorSigner, verifyCometCommit, type CometValidatorSigner } from '../../controller/replicated/index.js';
import type { ReplicatedControllerLog } from '../../controller/replicated-orchestration.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent } from '../../scenario/intent.js';
import { CLI } from '../../scenario/net.js';

const binary = findCometbft();
const CHAIN = 'esfc-controllers-test';
const DOMAINS = ['isp-a', 'isp-b', 'isp-c', 'audit'] as const;
const ANSWERING = ['isp-a', 'isp-b', 'isp-c'];
const J = 'application/yang-data+json';
const run = promisify(execFile);
const quiet = jsonLogger({}, () => undefined);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ep = planEncryptedScenario();
const intent = scenarioIntent(ep.base, { efs: ep.efs, nsOf: (e) => `ns-${e}`, flows: DESIGN_FLOWS });

async function waitUntil(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

interface Reply { status: number; headers: Record<string, string>; text: string }

describe('four domains\' controllers on the replicated log, through RESTCONF', { skip: binary ? false : 'cometbft is not installed (scripts/cometbft-setup.sh)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-controllers-'));
  let nodes: CometNode[] = [];
  let validators: CometValidatorSigner[] = [];
  let genesis: Genesis;
  const controllers: (Embedded | undefined)[] = [];
  const orchestrators = new Map<string, GeneratedKey>();
  const op = generateKey('ed25519');
  const acme = generateKey('ed25519');
  const globex = generateKey('ed25519');
  const clients = new Map<string, Dispatcher>();
  let failed = false;

  const sock = (i: number): string => join(dir, `v${i}.sock`);
  const ctl = (i: number): Embedded => controllers[i]!;
  const log = (i: number): ReplicatedControllerLog => ctl(i).server.ledger as ReplicatedControllerLog;
  const docOf = (i: number): string => JSON.stringify(ctl(i).controller.datastore.doc);
  const revisions = (): number[] => controllers.map((c) => c?.controller.datastore.revision ?? -1);

  async function bringUp(i: number): Promise<void> {
    const domain = DOMAINS[i]!;
    const orchestrator = orchestrators.get(domain)?.signer;
    controllers[i] = await startController(join(dir, `state-${domain}`), quiet, {
      create: true,
      replicated: {
        dir: join(dir, `ledger-${domain}`), genesis, validator: validators[i]!.signer, domain, abciAddress: `unix://${sock(i)}`, rpc: nodes[i]!.rpc,
        ...(orchestrator ? { orchestrator } : {}), timeoutMs: 20_000,
      },
    });
  }

  /** A client of controller i (each domain's controller has its own CA). */
  async function client(i: number, kind: 'operator' | 'tenant', name: string): Promise<Dispatcher> {
    const k = `${i}/${kind}/${name}`;
    let d = clients.get(k);
    if (!d) {
      d = clientDispatcher(readBundle(await ctl(i).enroll(kind, name)));
      clients.set(k, d);
    }
    return d;
  }

  async function send(i: number, who: { kind: 'operator' | 'tenant'; name: string; key?: GeneratedKey }, method: Method, path: string, body?: unknown): Promise<Reply> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers = who.key ? signedWrite(who.key.signer, method, path, text).headers : {};
    const r = await request(`${ctl(i).url}${path}`, {
      method, dispatcher: await client(i, who.kind, who.name), headers: { ...(text !== undefined ? { 'content-type': J } : {}), ...headers }, ...(text !== undefined ? { body: text } : {}),
    });
    return { status: r.statusCode, headers: r.headers as Record<string, string>, text: await r.body.text() };
  }
  const appTag = (r: Reply): string | undefined => (JSON.parse(r.text) as { 'ietf-restconf:errors': { error: { 'error-app-tag'?: string }[] } })['ietf-restconf:errors'].error[0]!['error-app-tag'];

  /** Which domains have a committed response to a request, as validator i's ledger says. */
  const answeredBy = (i: number, id: string): string[] => DOMAINS.filter((d) => log(i).app.responseOf(id, d) !== undefined);
  const allApplied = (revision: number, which = [0, 1, 2, 3]): boolean => which.every((i) => controllers[i]?.controller.datastore.revision === revision);

  const step = (name: string, fn: () => Promise<void>): void => {
    test(name, async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      }
    });
  };

  before(async () => {
    nodes = await createLocalNetwork({
      binary: binary!, baseDir: dir, chainId: CHAIN,
      validators: DOMAINS.map((d, i) => ({ name: `v-${d}`, abciAddress: `unix://${sock(i)}` })),
      createEmptyBlocks: { intervalMs: 3000 },
      timeouts: { commitMs: 300 },
    });
    validators = nodes.map((n) => readCometValidatorSigner(n.home));
    for (const d of ANSWERING) orchestrators.set(d, generateKey('ed25519'));
    genesis = parseGenesis({
      chainId: CHAIN, time: Date.now(), timestampWindowMs: 30_000,
      validators: validators.map((v, i) => genesisValidator(v, `v-${DOMAINS[i]}`, DOMAINS[i]!)),
      keys: [
        registeredKey(op, 'operator', 'alice'), registeredKey(acme, 'tenant', 'acme'),
        ...[...orchestrators].map(([d, k]) => registeredKey(k, 'orchestrator', `orchestrator-${d}`, d)),
      ],
    });
    for (let i = 0; i < DOMAINS.length; i++) await bringUp(i);
    await Promise.all(nodes.map((n) => n.start()));
    await Promise.all(nodes.map((n) => n.waitForHeight(1, 30_000)));
  });

  after(async () => {
    if (failed) {
      for (const [i, n] of nodes.entries()) {
        const app = controllers[i] ? log(i).app : undefined;
        console.error(`---- ${n.name} (${n.running ? `pid ${n.pid}` : n.exitReason ?? 'not started'}) revision ${controllers[i]?.controller.datastore.revision} app: ${JSON.stringify(app?.stats)} rejection: ${app?.lastRejection} seal: ${app?.lastSealError}\n${n.logTail(1500)}`);
      }
    }
    for (const d of clients.values()) await d.close().catch(() => undefined);
    await Promise.all(nodes.map((n) => n.kill().catch(() => undefined)));
    for (const c of controllers) await c?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const alice = { kind: 'operator' as const, name: 'alice', key: op };
  const acmeT = { kind: 'tenant' as const, name: 'acme', key: acme };
  const chainPath = '/restconf/data/esfc-intent:chains/chain=mail-chain';
  const mailChain = (): Record<string, unknown> => {
    const chains = (intent['esfc-intent:chains'] as { chain: Record<string, unknown>[] }).chain;
    return chains.find((c) => c['name'] === 'mail-chain')!;
  };

  step('an operator\'s write to isp-a\'s controller is committed, applied by all four and answered by the three domains it targets', async () => {
    const r = await send(0, alice, 'PUT', '/restconf/data', { 'ietf-restconf:data': intent });
    assert.ok(r.status === 201 || r.status === 204, `${r.status} ${r.text}`);
    const id = r.headers[TX_ID_HEADER]!;
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(r.headers[RESPONSE_ID_HEADER] ?? '', /^[0-9a-f]{64}$/, 'isp-a is a target: its response is committed before the reply');
    assert.equal(ctl(0).controller.datastore.revision, 1);
    await waitUntil('every controller applied it', () => allApplied(1));
    for (const i of [1, 2, 3]) assert.equal(docOf(i), docOf(0), `controller ${DOMAINS[i]}'s intent`);
    await waitUntil('the three domains answered', () => [0, 1, 2, 3].every((i) => answeredBy(i, id).length === 3));
    assert.deepEqual(answeredBy(3, id), ANSWERING);
    // Each domain's controller compiled its own nodes' state from the same intent.
    assert.deepEqual([...ctl(1).controller.nodes()].sort(), [...ctl(0).controller.nodes()].sort());
  });

  step('a tenant\'s write of its own chain at isp-c is answered only by the domains of that chain\'s nodes', async () => {
    const r = await send(2, acmeT, 'PUT', chainPath, { 'esfc-intent:chain': [{ ...mailChain(), 'rekey-interval': 600 }] });
    assert.equal(r.status, 204, r.text);
    const id = r.headers[TX_ID_HEADER]!;
    await waitUntil('every controller applied it', () => allApplied(2));
    for (const i of [0, 1, 3]) assert.equal(docOf(i), docOf(2));
    // mail: SF1 (isp-a) -> SF3 (isp-c), its flow from isp-a to isp-c; isp-b carries none of it.
    await waitUntil('isp-a and isp-c answered', () => answeredBy(0, id).length === 2);
    await sleep(1500);
    assert.deepEqual(answeredBy(0, id), ['isp-a', 'isp-c']);
    assert.deepEqual(answeredBy(1, id), ['isp-a', 'isp-c']);
  });

  step('refused writes change nothing on any controller: unsigned, another tenant\'s chain, a replay', async () => {
    const before = revisions();
    const unsigned = await send(1, { kind: 'operator', name: 'alice' }, 'PUT', chainPath, { 'esfc-intent:chain': [mailChain()] });
    assert.equal(unsigned.status, 403);
    assert.equal(appTag(unsigned), 'esfc-ledger:unsigned');
    // globex is not registered yet: an operator registers it through isp-b, and every validator learns the key.
    const registration = keyRegistration({ ...globex, role: 'tenant', name: 'globex' });
    const reg = await send(1, alice, 'PUT', registration.path, registration.body);
    assert.ok(reg.status === 201 || reg.status === 204, `${reg.status} ${reg.text}`);
    await waitUntil('every controller applied the key', () => allApplied(before[0]! + 1));
    const theirs = await send(3, { kind: 'tenant', name: 'globex', key: globex }, 'PUT', chainPath, { 'esfc-intent:chain': [{ ...mailChain(), tenant: 'globex' }] });
    assert.equal(theirs.status, 403, theirs.text);
    assert.equal(appTag(theirs), 'esfc-ledger:not-authorised');
    const text = JSON.stringify({ 'esfc-intent:chain': [{ ...mailChain(), 'rekey-interval': 900 }] });
    const signed = signedWrite(acme.signer, 'PUT', chainPath, text).headers;
    const first = await request(`${ctl(2).url}${chainPath}`, { method: 'PUT', dispatcher: await client(2, 'tenant', 'acme'), headers: { 'content-type': J, ...signed }, body: text });
    assert.equal(first.statusCode, 204, await first.body.text());
    const replay = await request(`${ctl(0).url}${chainPath}`, { method: 'PUT', dispatcher: await client(0, 'tenant', 'acme'), headers: { 'content-type': J, ...signed }, body: text });
    const replayText = await replay.body.text();
    assert.equal(replay.statusCode, 409, replayText);
    assert.equal(appTag({ status: 409, headers: {}, text: replayText }), 'esfc-ledger:duplicate');
    await waitUntil('every controller applied exactly the two accepted writes', () => allApplied(before[0]! + 2));
    await sleep(1000);
    assert.deepEqual(revisions(), before.map((r) => r + 2));
  });

  step('a tenant\'s key change at the audit domain is logged and run by the domains of its flow only; another tenant\'s is refused everywhere', async () => {
    const REKEY = '/restconf/operations/esfc-intent:rekey';
    const pairs = ctl(0).controller.deployedPairs().filter((p) => p.flow === 'mail').map((p) => p.espi).sort((a, b) => a - b);
    assert.ok(pairs.length > 0, 'mail crosses ISP-B encrypted: it has EF pairs');
    const rev = revisions();
    const theirs = await send(3, { kind: 'tenant', name: 'globex', key: globex }, 'POST', REKEY, { 'esfc-intent:input': { flow: 'mail' } });
    assert.equal(theirs.status, 403, theirs.text);
    assert.equal(appTag(theirs), 'esfc-ledger:not-authorised');
    // audit runs no node of mail: its controller answers from isp-a's committed response.
    const r = await send(3, acmeT, 'POST', REKEY, { 'esfc-intent:input': { flow: 'mail' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), { 'esfc-intent:output': { pairs: pairs.length, 'e-spi': pairs } });
    const id = r.headers[TX_ID_HEADER]!;
    assert.match(r.headers[RESPONSE_ID_HEADER] ?? '', /^[0-9a-f]{64}$/);
    await waitUntil('isp-a and isp-c answered', () => answeredBy(3, id).length === 2);
    await sleep(1000);
    assert.deepEqual(answeredBy(3, id), ['isp-a', 'isp-c']);
    const changing = (i: number): boolean[] => pairs.map((e) => ctl(i).auc.isChanging(e));
    assert.deepEqual(changing(0), pairs.map(() => true), 'isp-a changes the keys it holds');
    assert.deepEqual(changing(2), pairs.map(() => true), 'isp-c changes the keys it holds');
    assert.deepEqual(changing(1), pairs.map(() => false), 'isp-b does not run it');
    assert.deepEqual(changing(3), pairs.map(() => false), 'audit does not run it');
    assert.deepEqual(revisions(), rev, 'an invocation is not a datastore write');
  });

  step('with isp-b\'s validator killed, writes still commit; isp-b\'s controller catches up and answers when it returns', async () => {
    await nodes[1]!.kill();
    const rev = ctl(0).controller.datastore.revision;
    const r = await send(0, acmeT, 'PUT', chainPath.replace('mail-chain', 'web-chain'), {
      'esfc-intent:chain': [{ ...(intent['esfc-intent:chains'] as { chain: Record<string, unknown>[] }).chain.find((c) => c['name'] === 'web-chain')!, 'rekey-interval': 1200 }],
    });
    assert.equal(r.status, 204, r.text);
    const id = r.headers[TX_ID_HEADER]!;
    await waitUntil('the three live controllers applied it', () => allApplied(rev + 1, [0, 2, 3]));
    assert.equal(ctl(1).controller.datastore.revision, rev, 'isp-b\'s validator is down: its controller has not applied it');
    await waitUntil('isp-a and isp-c answered', () => answeredBy(0, id).includes('isp-a') && answeredBy(0, id).includes('isp-c'));
    assert.ok(!answeredBy(0, id).includes('isp-b'), 'web runs through SF2 at isp-b, which cannot answer yet');
    await nodes[1]!.start();
    await waitUntil('isp-b caught up', () => allApplied(rev + 1), 60_000);
    assert.equal(docOf(1), docOf(0));
    await waitUntil('isp-b answered', () => [0, 1, 2, 3].every((i) => answeredBy(i, id).length === 3), 60_000);
  });

  step('a restarted controller rebuilds the same intent from the ledger, and every validator\'s log is the same and verifies', async () => {
    const rev = ctl(0).controller.datastore.revision;
    await nodes[2]!.kill();
    await ctl(2).close();
    controllers[2] = undefined;
    clients.delete('2/tenant/acme');
    await bringUp(2);
    await nodes[2]!.start();
    await waitUntil('isp-c rebuilt', () => allApplied(rev));
    assert.equal(docOf(2), docOf(0));
    // Each validator seals a block once the next carries its commit: wait until all four hold the same durable head.
    const head = (i: number): string => log(i).app.sealedHead.hash.toString('hex');
    await waitUntil('the same durable head everywhere', () => log(0).app.unsealedCount === 0 && [1, 2, 3].every((i) => head(i) === head(0) && log(i).app.unsealedCount === 0), 60_000);
    const exports = [0, 1, 2, 3].map((i) => log(i).exportBytes());
    for (const e of exports.slice(1)) assert.ok(e.equals(exports[0]!), 'every validator stored the same bytes');
    // What an auditor runs: the export, live over mutual TLS from isp-b's controller, commit signatures and all.
    const live = await run(process.execPath, [CLI, 'audit', 'verify', ctl(1).url], { env: { ...process.env, ESFC_CERT: join(dir, 'state-isp-b', 'clients', 'operator-alice.pem') } });
    assert.match(live.stdout, /^ok: \d+ blocks, \d+ transactions/);
    const tampered = Buffer.from(exports[0]!);
    tampered[tampered.length - 200] ^= 0x01;
    const bad = verifyLog(tampered, { verifyCommit: verifyCometCommit, keysRegisteredBy });
    assert.equal(bad.ok, false, 'a flipped bit in the last block is found');
  });
});
