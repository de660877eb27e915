/**
 * The write path through the orchestration log, over real mutual TLS with a
 * real controller: a write needs its signer's request; the log holds each
 * request and the controller's response; every refusal names its reason and
 * changes nothing; the exported log verifies, and a reopened controller
 * continues it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { jsonLogger } from '../../agent/log.js';
import { startController, type Embedded } from '../../controller/embedded.js';
import { signedWrite } from '../../controller/ledger-client.js';
import { decodeTransaction, generateKey, registeredKey, signTransaction, newRequest, verifyLog, type GeneratedKey, type Method, type Request } from '../../controller/ledger/index.js';
import { keysRegisteredBy, RESPONSE_ID_HEADER, SIGNED_REQUEST_HEADER, TX_ID_HEADER } from '../../controller/orchestration-log.js';
import { clientDispatcher, readBundle } from '../../controller/pki/index.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { CLI } from '../../scenario/net.js';
import { DESIGN_FLOWS, scenarioIntent } from '../../scenario/intent.js';

const J = 'application/yang-data+json';
const run = promisify(execFile);
const quiet = jsonLogger({}, () => undefined);
const ep = planEncryptedScenario();
const intent = scenarioIntent(ep.base, { efs: ep.efs, nsOf: (e) => `ns-${e}`, flows: DESIGN_FLOWS });

interface Reply { status: number; headers: Record<string, string>; text: string }

describe('writes through the orchestration log (embedded)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-ledger-write-'));
  let c: Embedded;
  const as: Record<string, Dispatcher> = {};
  const op = generateKey('ed25519');
  const acme = generateKey('ed25519');
  const globex = generateKey('rsa-pss-2048');
  const stranger = generateKey('ed25519');

  const send = async (who: string, method: Method, path: string, body: string | undefined, headers: Record<string, string> = {}): Promise<Reply> => {
    const r = await request(`${c.url}${path}`, {
      method, dispatcher: as[who]!, headers: { ...(body !== undefined ? { 'content-type': J } : {}), ...headers }, ...(body !== undefined ? { body } : {}),
    });
    return { status: r.statusCode, headers: r.headers as Record<string, string>, text: await r.body.text() };
  };
  const signed = (who: string, key: GeneratedKey, method: Method, path: string, body?: unknown): Promise<Reply> => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return send(who, method, path, text, signedWrite(key.signer, method, path, text).headers);
  };
  const appTag = (r: Reply): string | undefined => (JSON.parse(r.text) as { 'ietf-restconf:errors': { error: { 'error-app-tag'?: string }[] } })['ietf-restconf:errors'].error[0]!['error-app-tag'];
  const chain = (name: string, tenant: string): unknown => ({ 'esfc-intent:chain': [{ name, tenant, 'service-function': ['sf1'] }] });

  before(async () => {
    c = await startController(dir, quiet, { ledgerKeys: [registeredKey(op, 'operator', 'alice')] });
    for (const [who, kind, name] of [['op', 'operator', 'alice'], ['acme', 'tenant', 'acme'], ['globex', 'tenant', 'globex']] as const) {
      as[who] = clientDispatcher(readBundle(await c.enroll(kind, name)));
    }
  });
  after(async () => {
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a write without a signed request is refused (403, esfc-ledger:unsigned) and changes nothing', async () => {
    const rev = c.controller.datastore.revision;
    const r = await send('op', 'PUT', '/restconf/data', JSON.stringify({ 'ietf-restconf:data': intent }));
    assert.equal(r.status, 403);
    assert.equal(appTag(r), 'esfc-ledger:unsigned');
    assert.equal(c.controller.datastore.revision, rev);
  });

  test('an operator\'s signed write is committed, executed and answered: the reply names the request and the response', async () => {
    const r = await signed('op', op, 'PUT', '/restconf/data', { 'ietf-restconf:data': intent });
    assert.ok(r.status === 201 || r.status === 204, `${r.status} ${r.text}`);
    assert.match(r.headers[TX_ID_HEADER] ?? '', /^[0-9a-f]{64}$/);
    assert.match(r.headers[RESPONSE_ID_HEADER] ?? '', /^[0-9a-f]{64}$/);
    const req = c.server.embeddedLog.store.transaction(r.headers[TX_ID_HEADER]!);
    const res = c.server.embeddedLog.store.transaction(r.headers[RESPONSE_ID_HEADER]!);
    assert.equal(req?.status, 'committed');
    assert.equal(res?.status, 'committed');
    assert.ok(res.tx.type === 'response' && res.tx.outcome === 'ok' && res.tx.requestId.toString('hex') === r.headers[TX_ID_HEADER]);
    assert.deepEqual(JSON.parse(res.tx.result), { revision: c.controller.datastore.revision }, 'the response records the revision the write made');
  });

  test('tenants: registered by an operator\'s signed write, each writes its own chains only (Ed25519 and RSA-PSS)', async () => {
    for (const [k, name] of [[acme, 'acme'], [globex, 'globex']] as const) {
      const reg = await signed('op', op, 'PUT', `/restconf/data/esfc-intent:signing-keys/key=${k.keyId}`, {
        'esfc-intent:key': [{ 'key-id': k.keyId, algorithm: k.alg, role: 'tenant', name, 'public-key': k.publicKey }],
      });
      assert.equal(reg.status, 201, reg.text);
    }
    const own = await signed('acme', acme, 'PUT', '/restconf/data/esfc-intent:chains/chain=acme-web', chain('acme-web', 'acme'));
    assert.equal(own.status, 201, own.text);
    const own2 = await signed('globex', globex, 'PUT', '/restconf/data/esfc-intent:chains/chain=globex-web', chain('globex-web', 'globex'));
    assert.equal(own2.status, 201, own2.text);
    const rev = c.controller.datastore.revision;
    // acme's key on globex's chain: the TLS client is acme too, so only the ledger's rule stands between them.
    const foreign = await signed('acme', acme, 'DELETE', '/restconf/data/esfc-intent:chains/chain=globex-web');
    assert.equal(foreign.status, 403);
    assert.equal(appTag(foreign), 'esfc-ledger:not-authorised');
    assert.equal(c.controller.datastore.revision, rev);
  });

  test('refusals name their reason and change nothing: replay, forged signature, unknown key, body not the signed one, someone else\'s key', async () => {
    const rev = c.controller.datastore.revision;
    const path = '/restconf/data/esfc-intent:chains/chain=acme-db';
    const body = JSON.stringify(chain('acme-db', 'acme'));
    const s = signedWrite(acme.signer, 'PUT', path, body);
    const first = await send('acme', 'PUT', path, body, s.headers);
    assert.equal(first.status, 201, first.text);
    const replay = await send('acme', 'PUT', path, body, s.headers);
    assert.equal(replay.status, 409);
    assert.equal(appTag(replay), 'esfc-ledger:duplicate');
    const after1 = c.controller.datastore.revision;
    assert.equal(after1, rev + 1);

    const bytes = Buffer.from(signedWrite(acme.signer, 'DELETE', path, undefined).headers[SIGNED_REQUEST_HEADER]!, 'base64');
    bytes[bytes.length - 5] ^= 0x01;
    const forged = await send('acme', 'DELETE', path, undefined, { [SIGNED_REQUEST_HEADER]: bytes.toString('base64') });
    assert.equal(forged.status, 403);
    assert.equal(appTag(forged), 'esfc-ledger:bad-signature');

    const unknown = await signed('acme', stranger, 'DELETE', path);
    assert.equal(appTag(unknown), 'esfc-ledger:unknown-key');

    const other = JSON.stringify(chain('acme-db', 'globex'));
    const mismatch = await send('acme', 'PUT', path, other, signedWrite(acme.signer, 'PUT', path, body).headers);
    assert.equal(mismatch.status, 400);
    assert.equal(appTag(mismatch), 'esfc-ledger:mismatch');

    // globex's TLS client presenting acme's signed request.
    const stolen = await send('globex', 'DELETE', path, undefined, signedWrite(acme.signer, 'DELETE', path, undefined).headers);
    assert.equal(stolen.status, 403);
    assert.equal(appTag(stolen), 'esfc-ledger:not-authorised');

    const skewed = signTransaction(newRequest(acme.signer, { method: 'DELETE', path, timestamp: Date.now() - 120_000 }), acme.signer);
    const stale = await send('acme', 'DELETE', path, undefined, { [SIGNED_REQUEST_HEADER]: skewed.bytes.toString('base64') });
    assert.equal(appTag(stale), 'esfc-ledger:stale-timestamp');
    assert.equal(c.controller.datastore.revision, after1);
  });

  test('a request valid on the model but failing when executed (a stale If-Match) is committed and answered with an error response', async () => {
    const path = '/restconf/data/esfc-intent:chains/chain=acme-web';
    const body = JSON.stringify(chain('acme-web', 'acme'));
    const r = await send('acme', 'PUT', path, body, { ...signedWrite(acme.signer, 'PUT', path, body).headers, 'if-match': '"not-the-current-etag"' });
    assert.equal(r.status, 412, r.text);
    assert.match(r.headers[TX_ID_HEADER] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(c.server.embeddedLog.store.transaction(r.headers[TX_ID_HEADER]!)?.status, 'committed');
    const res = c.server.embeddedLog.store.transaction(r.headers[RESPONSE_ID_HEADER]!);
    assert.ok(res?.tx.type === 'response' && res.tx.outcome === 'error');
  });

  test('a request the model refuses is not committed (invalid-instruction), and is answered with the model\'s own error', async () => {
    const r = await signed('acme', acme, 'POST', '/restconf/data/esfc-intent:chains', chain('acme-web', 'acme'));
    assert.equal(r.status, 409, r.text);
    const e = (JSON.parse(r.text) as { 'ietf-restconf:errors': { error: Record<string, string>[] } })['ietf-restconf:errors'].error[0]!;
    assert.equal(e['error-tag'], 'data-exists');
    assert.equal(appTag(r), 'esfc-ledger:invalid-instruction');
    assert.equal(r.headers[TX_ID_HEADER], undefined);
  });

  test('read-only over HTTPS: operators export the log, tenants read their own history only; esfc audit verify checks the export and the live log, and names a tampered block', async () => {
    const exp = await request(`${c.url}/esfc-ledger/v1/export`, { dispatcher: as['op']! });
    assert.equal(exp.statusCode, 200);
    const bytes = Buffer.from(await exp.body.arrayBuffer());
    assert.ok(verifyLog(bytes, { keysRegisteredBy }).ok);
    const denied = await request(`${c.url}/esfc-ledger/v1/export`, { dispatcher: as['acme']! });
    assert.equal(denied.statusCode, 403);
    await denied.body.text();
    const hist = async (who: string, q = ''): Promise<{ status: number; rows: { tenant?: string; transaction: { type: string } }[] }> => {
      const r = await request(`${c.url}/esfc-ledger/v1/history${q}`, { dispatcher: as[who]! });
      const text = await r.body.text();
      return { status: r.statusCode, rows: r.statusCode === 200 ? (JSON.parse(text) as { 'esfc-ledger:history': { tenant?: string; transaction: { type: string } }[] })['esfc-ledger:history'] : [] };
    };
    const all = await hist('op');
    assert.ok(all.rows.some((r) => r.tenant === 'globex') && all.rows.some((r) => r.tenant === 'acme'));
    const mine = await hist('acme');
    assert.ok(mine.rows.length >= 4 && mine.rows.every((r) => r.tenant === 'acme'), 'a tenant sees its own requests and their responses');
    assert.ok(mine.rows.some((r) => r.transaction.type === 'response'));
    assert.equal((await hist('acme', '?tenant=globex')).status, 403);

    const file = join(dir, 'export.log');
    writeFileSync(file, bytes);
    const cli = (args: string[]): { status: number | null; out: string } => {
      const r = spawnSync(process.execPath, [CLI, 'audit', ...args], { encoding: 'utf8', env: { ...process.env, ESFC_CERT: join(dir, 'clients', 'operator-alice.pem') } });
      return { status: r.status, out: r.stdout + r.stderr };
    };
    const ok = cli(['verify', file]);
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, /^ok: \d+ blocks, \d+ transactions/);
    // The controller runs in this process: the CLI must not block it (spawnSync would).
    const live = await run(process.execPath, [CLI, 'audit', 'verify', c.url], { env: { ...process.env, ESFC_CERT: join(dir, 'clients', 'operator-alice.pem') } });
    assert.match(live.stdout, /^ok: /);
    // One byte of the last block's signed transactions changed.
    bytes[bytes.length - 40] ^= 0x20;
    writeFileSync(file, bytes);
    const bad = cli(['verify', file]);
    assert.equal(bad.status, 1);
    assert.match(bad.out, new RegExp(`^FAILED at block ${c.server.embeddedLog.store.height}: `));
  });

  test('an audit learns the keys a request registers, however the write is shaped (one entry, the container, a POST to it)', () => {
    const entry = { 'key-id': acme.keyId, algorithm: acme.alg, role: 'tenant', name: 'acme', 'public-key': acme.publicKey };
    const req = (method: Method, path: string, body: object): Request => {
      const tx = decodeTransaction(signTransaction(newRequest(op.signer, { method, path, body }), op.signer).bytes);
      assert.equal(tx.type, 'request');
      return tx as Request;
    };
    const want = [{ keyId: acme.keyId, alg: acme.alg, role: 'tenant', name: 'acme', publicKey: acme.publicKey }];
    assert.deepEqual(keysRegisteredBy(req('PUT', `/restconf/data/esfc-intent:signing-keys/key=${acme.keyId}`, { 'esfc-intent:key': [entry] })), want);
    assert.deepEqual(keysRegisteredBy(req('PUT', '/restconf/data/esfc-intent:signing-keys', { 'esfc-intent:signing-keys': { key: [entry] } })), want);
    assert.deepEqual(keysRegisteredBy(req('POST', '/restconf/data/esfc-intent:signing-keys', { 'esfc-intent:key': [entry] })), want);
    assert.deepEqual(keysRegisteredBy(req('PUT', '/restconf/data/esfc-intent:chains/chain=x', chain('x', 'acme') as object)), []);
  });

  test('the exported log verifies; history by tenant and by chain; a restarted controller continues the same log', async () => {
    const exported = c.server.embeddedLog.store.exportBytes();
    const v = verifyLog(exported, { keysRegisteredBy });
    assert.ok(v.ok, JSON.stringify(v));
    const acmeTx = c.server.embeddedLog.store.history({ tenant: 'acme' });
    assert.ok(acmeTx.length >= 4 && acmeTx.every((h) => h.meta.tenant === 'acme'));
    assert.ok(c.server.embeddedLog.store.history({ chain: 'globex-web' }).length >= 2);
    const height = c.server.embeddedLog.store.height;
    await c.close();
    // The state has a log: its genesis stands, a key given now is ignored (and the log says so).
    const lines: string[] = [];
    const late = generateKey('ed25519');
    c = await startController(dir, jsonLogger({}, (l) => lines.push(l)), { ledgerKeys: [registeredKey(op, 'operator', 'alice'), registeredKey(late, 'operator', 'alice')] });
    const ignored = lines.map((l) => JSON.parse(l) as { event: string; keys?: string[] }).find((l) => l.event === 'ledger_keys_ignored');
    assert.deepEqual(ignored?.keys, [`operator:alice:${late.keyId}`]);
    for (const [who, kind, name] of [['op', 'operator', 'alice'], ['acme', 'tenant', 'acme']] as const) as[who] = clientDispatcher(readBundle(await c.enroll(kind, name)));
    assert.equal(c.server.embeddedLog.store.height, height);
    assert.equal(appTag(await signed('op', late, 'DELETE', '/restconf/data/esfc-intent:chains/chain=acme-db')), 'esfc-ledger:unknown-key');
    const r = await signed('acme', acme, 'DELETE', '/restconf/data/esfc-intent:chains/chain=acme-db');
    assert.equal(r.status, 204, r.text);
    assert.ok(c.server.embeddedLog.store.height > height);
  });
});
